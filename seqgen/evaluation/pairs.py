"""What `seqgen eval` reports for an encoder–decoder run: the target side's likelihood under teacher forcing, and
on the outputs (decoded by the caller exactly as `sample` decodes) sacrebleu's corpus BLEU and chrF against the
references as written, exact match (and, for harmonization, chord accuracy per beat) and how many outputs ran to
their length cap, beside the baselines a reader needs: copying the source (text), or the most frequent chord for
the beat's melody (harmonization). Exact match is also given by source length, the table that shows what attention
buys.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from seqgen.data.pairs import PairSplit
from seqgen.training.pairs import score_pairs

LENGTH_BUCKETS = (10, 20, 30, 40, 60, 80, 120)  # source lengths (tokens) at which the by-length table is cut


@dataclass
class Decoded:
    """An encoder-decoder's outputs for a list of sources, as `sample` prints them (one per source here)."""

    texts: list[str]
    at_cap: list[bool]  # the output stopped at its length cap, not at <eos>
    source_tokens: list[int]  # each source's length in tokens
    settings: dict  # method, beam, length_penalty, max_length (how the cap was set)


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


def evaluate_pairs(model: torch.nn.Module, split: PairSplit, decoded: Decoded, sources: Sequence[str], refs: Sequence[str],
                   target_level: str, batch: int, device: torch.device, harmony: dict | None,
                   train: tuple[list[str], list[str]] | None) -> dict:
    """Every figure of a pairs run on one split (the keys under README, "eval output", pairs runs), from the outputs
    `decoded` for `sources` (decoded as `sample` decodes them), scored against `refs`. `harmony`: the dataset's
    harmony settings (steps per quarter, segment bars) for melody -> chords runs, with `train` its training texts."""
    lik = score_pairs(model, split, batch, device)
    assert lik is not None
    hyps = decoded.texts
    tokenize = "none" if target_level == "tokens" else "13a"
    report = {
        "pairs": len(split),
        **lik.figures(),
        "decoding": {**decoded.settings, "at_length_cap": sum(decoded.at_cap), "at_length_cap_rate": float(np.mean(decoded.at_cap)) if hyps else 0.0},
        **text_figures(hyps, refs, tokenize),
    }
    report["by_length"] = by_length(decoded.source_tokens, [h == r for h, r in zip(hyps, refs)])
    if harmony:
        hyp_chords, ref_chords = [h.split() for h in hyps], [r.split() for r in refs]
        report["chord_accuracy"] = chord_accuracy(hyp_chords, ref_chords)
        baseline: dict = {}
        if train is not None:  # fitted on the tunes as written: transposed copies would blur a table keyed by pitch class
            split = lambda texts: [t.split() for t in texts]  # noqa: E731
            guess = most_frequent_chord(split(train[0]), split(train[1]), split(sources), harmony["steps_per_quarter"])
            baseline = {"chord_accuracy": chord_accuracy(guess, ref_chords), **text_figures([" ".join(g) for g in guess], refs, tokenize)}
        report["baselines"] = {"most_frequent_chord": baseline or None}
    else:
        report["baselines"] = {"copy_source": text_figures(list(sources), refs, tokenize)}
    report["examples"] = [{"source": s, "output": h, "reference": r} for s, h, r in list(zip(sources, hyps, refs))[:5]]
    return report
