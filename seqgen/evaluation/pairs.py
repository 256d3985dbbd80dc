"""What `seqgen eval` reports for an encoder–decoder run: the target side's likelihood under teacher forcing, and
on decoded outputs sacrebleu's corpus BLEU and chrF, exact match (and, for harmonization, chord accuracy per beat),
beside the baselines a reader needs: copying the source (text), or the most frequent chord for the beat's melody
(harmonization). Exact match is also given by source length, the table that shows what attention buys.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from seqgen.config import SampleConfig
from seqgen.data.pairs import PairSplit, Side
from seqgen.models.translate import translate
from seqgen.training.pairs import score_pairs

Log = Callable[[str], None]
LENGTH_BUCKETS = (10, 20, 30, 40, 60, 80, 120)  # source lengths (tokens) at which the by-length table is cut


@dataclass
class PairsEvalOptions:
    beam: int | None = None  # beam search of this width; None: greedy
    length_penalty: float = 1.0
    max_length: int | None = None  # longest output; default from the data
    batch: int = 64
    seed: int = 1234


def chrf(hyps: Sequence[str], refs: Sequence[str]) -> dict:
    from sacrebleu.metrics import CHRF

    metric = CHRF()
    score = metric.corpus_score(list(hyps), [list(refs)])
    return {"score": float(score.score), "signature": str(metric.get_signature())}


def exact_match(hyps: Sequence[str], refs: Sequence[str]) -> float:
    return float(np.mean([h == r for h, r in zip(hyps, refs)])) if refs else 0.0


def text_figures(hyps: Sequence[str], refs: Sequence[str], tokenize: str) -> dict:
    """BLEU (sacrebleu's corpus BLEU, 13a words for text, tokens for music), chrF and exact match of outputs."""
    from seqgen.evaluation.bleu import corpus_bleu

    bleu = corpus_bleu(list(hyps), [list(refs)], tokenize).to_dict()
    if bleu["hyp_len"] and bleu["hyp_ngrams"][-1] == 0:
        # no output has four tokens (a sum, a chord name): the 4-gram precision is 0/0 and BLEU a meaningless 0
        bleu["score"] = None
    return {"bleu": bleu, "chrf": chrf(hyps, refs), "exact_match": exact_match(hyps, refs)}


def by_length(lengths: Sequence[int], hits: Sequence[bool]) -> list[dict]:
    """Exact match per bucket of source length, for the buckets that hold pairs."""
    rows: dict[str, list[bool]] = defaultdict(list)
    edges = [0, *LENGTH_BUCKETS, 10**9]
    for n, hit in zip(lengths, hits):
        lo = max(e for e in edges if e < n) if n > 0 else 0
        hi = min(e for e in edges if e >= n)
        rows[f"{lo + 1}-{hi}" if hi < 10**9 else f">{lo}"].append(hit)
    order = sorted(rows, key=lambda k: int(k.lstrip(">").split("-")[0]))
    return [{"source_tokens": k, "pairs": len(rows[k]), "exact_match": float(np.mean(rows[k]))} for k in order]


def chord_accuracy(hyps: Sequence[Sequence[str]], refs: Sequence[Sequence[str]]) -> float:
    """Share of reference beats whose chord the output names at the same beat (a missing beat counts as wrong)."""
    hits = sum(sum(1 for h, r in zip(hyp, ref) if h == r) for hyp, ref in zip(hyps, refs))
    total = sum(len(ref) for ref in refs)
    return hits / total if total else 0.0


def most_frequent_chord(train_sources: Sequence[Sequence[str]], train_targets: Sequence[Sequence[str]],
                        sources: Sequence[Sequence[str]], spq: int) -> list[list[str]]:
    """The harmonization baseline: for each beat, the chord the training split most often puts under the same set of
    melody pitch classes (the corpus's commonest chord for a set it never saw)."""
    from seqgen.music.harmony import beat_pitch_classes, segment_beats

    table: dict[frozenset, Counter] = defaultdict(Counter)
    overall: Counter = Counter()
    for src, tgt in zip(train_sources, train_targets):
        for classes, chord in zip(beat_pitch_classes(src, len(tgt), spq), tgt):
            table[classes][chord] += 1
            overall[chord] += 1
    fallback = overall.most_common(1)[0][0] if overall else "N"
    out = []
    for src in sources:
        classes = beat_pitch_classes(src, segment_beats(src, spq), spq)
        out.append([table[c].most_common(1)[0][0] if table.get(c) else fallback for c in classes])
    return out


def evaluate_pairs(model: torch.nn.Module, split: PairSplit, source: Side, target: Side, opts: PairsEvalOptions,
                   device: torch.device, harmony: dict | None, train: PairSplit | None, log: Log) -> dict:
    """Every figure of a pairs run on one split (the keys under README, "eval output", pairs runs); `harmony`: the
    dataset's harmony settings (steps per quarter, segment bars) for melody -> chords runs."""
    lik = score_pairs(model, split, opts.batch, device)
    assert lik is not None
    sources = [split.source(i).astype(np.int64).tolist() for i in range(len(split))]
    refs_ids = [split.target(i).astype(np.int64).tolist() for i in range(len(split))]
    longest = int(max((len(r) for r in refs_ids), default=1))
    max_length = opts.max_length or max(20, 2 * longest)
    cfg = SampleConfig(greedy=opts.beam is None, beam=opts.beam, seed=opts.seed, length=max_length)
    log(f"decoding {len(sources):,} inputs ({'beam ' + str(opts.beam) if opts.beam else 'greedy'}) …")
    outputs = translate(model, sources, cfg, device, max_length, opts.length_penalty, opts.batch)
    hyps = [target.decode(out[0]) for out in outputs]
    refs = [target.decode(r) for r in refs_ids]
    tokenize = "none" if target.level == "tokens" else "13a"
    report = {
        "pairs": len(split),
        **lik.figures(),
        "decoding": {"method": "beam" if opts.beam else "greedy", "beam": opts.beam, "length_penalty": opts.length_penalty, "max_length": max_length},
        **text_figures(hyps, refs, tokenize),
    }
    report["by_length"] = by_length([len(s) for s in sources], [h == r for h, r in zip(hyps, refs)])
    src_texts = [source.decode(s) for s in sources]
    if harmony:
        hyp_chords, ref_chords = [h.split() for h in hyps], [r.split() for r in refs]
        report["chord_accuracy"] = chord_accuracy(hyp_chords, ref_chords)
        baseline: dict = {}
        if train is not None:  # fitted on the tunes as written: transposed copies would blur a table keyed by pitch class
            originals = len(train) - harmony.get("copies", 0)
            tr_src = [source.decode(train.source(i)).split() for i in range(originals)]
            tr_tgt = [target.decode(train.target(i)).split() for i in range(originals)]
            guess = most_frequent_chord(tr_src, tr_tgt, [s.split() for s in src_texts], harmony["steps_per_quarter"])
            baseline = {"chord_accuracy": chord_accuracy(guess, ref_chords), **text_figures([" ".join(g) for g in guess], refs, tokenize)}
        report["baselines"] = {"most_frequent_chord": baseline or None}
    else:
        report["baselines"] = {"copy_source": text_figures(src_texts, refs, tokenize)}
    report["examples"] = [{"source": s, "output": h, "reference": r} for s, h, r in list(zip(src_texts, hyps, refs))[:5]]
    return report
