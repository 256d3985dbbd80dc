"""BLEU through sacrebleu, with the checks its Python API leaves to the caller.

Corpus BLEU here is sacrebleu's own computation with its defaults (tokenizer 13a, exponential
smoothing, max order 4, closest reference length), so a score matches `sacrebleu` to the digit and
carries its signature. What this module adds: line-aligned files are refused when their line counts
differ (sacrebleu's API would quietly score a subset), per-line scores, and self-BLEU.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

from seqgen.errors import InputError, UsageError

TOKENIZERS = ("13a", "none", "intl", "char", "zh")  # sacrebleu's tokenizers that need no extra packages


@dataclass
class BleuScore:
    score: float  # BLEU, 0..100
    precisions: list[float]  # modified n-gram precisions for n = 1..4, in percent
    brevity_penalty: float
    ratio: float  # hypothesis length / reference length
    hyp_len: int  # tokens in the hypotheses
    ref_len: int  # tokens in the closest references
    signature: str  # sacrebleu's signature: how the score was made
    hyp_ngrams: list[int] = field(default_factory=list)  # n-grams in the hypotheses for n = 1..4 (a 0 makes BLEU 0)

    def to_dict(self) -> dict:
        return asdict(self)


def _metric(tokenize: str, sentence: bool = False):
    from sacrebleu.metrics import BLEU

    if tokenize not in TOKENIZERS:
        raise UsageError(f"--tokenize must be one of {', '.join(TOKENIZERS)}, not {tokenize!r}")
    # per-line BLEU uses effective order, as the sacrebleu command does, so short lines are not all zero
    return BLEU(tokenize=tokenize, effective_order=sentence)


def _score(metric, result) -> BleuScore:
    return BleuScore(
        score=float(result.score),
        precisions=[float(p) for p in result.precisions],
        brevity_penalty=float(result.bp),
        ratio=float(result.ratio),
        hyp_len=int(result.sys_len),
        ref_len=int(result.ref_len),
        signature=str(metric.get_signature()),
        hyp_ngrams=[int(t) for t in result.totals],
    )


def check_aligned(hyps: Sequence[str], refs: Sequence[Sequence[str]], names: Sequence[str] | None = None) -> None:
    """Refuse reference streams whose length differs from the hypotheses'."""
    if not refs:
        raise UsageError("BLEU needs at least one reference")
    for i, ref in enumerate(refs):
        if len(ref) != len(hyps):
            what = names[i + 1] if names else f"reference {i + 1}"
            hyp = names[0] if names else "the hypotheses"
            raise InputError(
                f"{what} has {len(ref):,} lines but {hyp} has {len(hyps):,}",
                "BLEU compares line i of the hypotheses with line i of each reference; align the files",
            )


def corpus_bleu(hyps: Sequence[str], refs: Sequence[Sequence[str]], tokenize: str = "13a") -> BleuScore:
    """Corpus BLEU of `hyps` against one or more line-aligned reference streams."""
    check_aligned(hyps, refs)
    metric = _metric(tokenize)
    return _score(metric, metric.corpus_score(list(hyps), [list(r) for r in refs]))


def sentence_bleu(hyps: Sequence[str], refs: Sequence[Sequence[str]], tokenize: str = "13a") -> list[BleuScore]:
    """BLEU of each line against its references (effective order, as `sacrebleu --sentence-level`)."""
    check_aligned(hyps, refs)
    metric = _metric(tokenize, sentence=True)
    return [_score(metric, metric.sentence_score(h, [r[i] for r in refs])) for i, h in enumerate(hyps)]


def self_bleu(samples: Sequence[str], tokenize: str = "13a") -> float | None:
    """Mean BLEU of each sample against all the others (Zhu et al., 2018): high means the samples repeat each other.

    None for fewer than two samples. Per-sample BLEU uses effective order, like sentence BLEU.
    """
    if len(samples) < 2:
        return None
    metric = _metric(tokenize, sentence=True)
    scores = [metric.sentence_score(s, [o for j, o in enumerate(samples) if j != i]).score for i, s in enumerate(samples)]
    return float(sum(scores) / len(scores))


def read_lines(path: Path) -> list[str]:
    """A file's lines without their line ends (UTF-8; a final newline does not add an empty line)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path} is not UTF-8 text", "convert it to UTF-8 first") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    return text.splitlines() if text else []


def bleu_files(hyp: Path, refs: Sequence[Path], tokenize: str = "13a", sentence: bool = False) -> dict:
    """`seqgen bleu`: corpus BLEU (and per-line scores) of a hypothesis file against reference files."""
    if not refs:
        raise UsageError("give at least one reference file after the hypothesis file")
    hyps = read_lines(hyp)
    ref_lines = [read_lines(r) for r in refs]
    check_aligned(hyps, ref_lines, [str(hyp)] + [str(r) for r in refs])
    import sacrebleu

    report = {
        "hypothesis": str(hyp),
        "references": [str(r) for r in refs],
        "lines": len(hyps),
        **corpus_bleu(hyps, ref_lines, tokenize).to_dict(),
        "sacrebleu_version": sacrebleu.__version__,
    }
    if sentence:
        report["sentences"] = [{"score": s.score, "precisions": s.precisions, "brevity_penalty": s.brevity_penalty} for s in sentence_bleu(hyps, ref_lines, tokenize)]
    return report
