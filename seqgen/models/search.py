"""Decoding loops shared by every model that steps one token at a time: batched beam search, and greedy or
sampled decoding to an end token.

A model plugs in with two functions: `step(ids (N,), state) -> (logits (N, V), state)` and
`select(state, rows (N',)) -> state` (the state's rows, for a beam search that keeps some hypotheses and copies
others), and may bring a cheaper `reorder` for the rows a beam search moves only among one input's hypotheses: the
copy of each input to its K hypotheses (rows b·K … b·K + K - 1 for input b), then each step's choice (an
encoder–decoder's encoder states are the same for all of an input's hypotheses, so it keeps them once per input and
moves only the decoder's). The language model's state is its (L, N, H) recurrent state; the encoder–decoder's a
`DecoderState`.
"""

from __future__ import annotations

import bisect
from typing import Any, Callable, Sequence

import torch

Step = Callable[[torch.Tensor, Any], tuple[torch.Tensor, Any]]
Select = Callable[[Any, torch.Tensor], Any]
Choose = Callable[[torch.Tensor], torch.Tensor]  # (N, V) logits -> (N,) ids


@torch.no_grad()
def beam_search(
    logp: torch.Tensor,
    state: Any,
    step: Step,
    select: Select,
    beam: int,
    length: int | Sequence[int],
    eos_id: int | None = None,
    alpha: float = 1.0,
    keep: int = 1,
    reorder: Select | None = None,
    exact_length: int | Sequence[int] | None = None,
) -> list[list[tuple[list[int], float]]]:
    """The `keep` best continuations of each of B rows, with their scores, best first.

    `logp` (B, V) are the log-probabilities of the first new token and `state` the matching state of B rows. All
    rows' beams run as one batch of B·K rows. A hypothesis's score is its summed log-probability divided by its
    length ** alpha (length normalisation: without it, search favours hypotheses that end early). With `eos_id`, a
    hypothesis that picks it is finished (ending with it); otherwise every hypothesis has `length` ids. Beam 1 is
    greedy decoding. A row stops once it holds K finished hypotheses and its best live one scores no better than the
    K-th of them (the stopping rule of Hugging Face's BeamHypotheses.is_done); the search stops when every row has.
    `length` may be one per row: a row's live hypotheses end where its own length is reached. `exact_length` (one,
    or one per row): every hypothesis holds that many ids, then `eos_id` (its row's `length` must leave room for it).
    """
    if beam < 1 or not 1 <= keep <= beam:
        raise ValueError("need beam >= 1 and 1 <= keep <= beam")
    device = logp.device
    B, K = logp.size(0), beam
    logp = logp.float().repeat_interleave(K, dim=0)  # (B·K, V)
    V = logp.size(-1)
    base = torch.arange(B, device=device).view(-1, 1) * K  # (B, 1): each row's first hypothesis
    state = (reorder or select)(state, torch.arange(B, device=device).repeat_interleave(K))  # input b's K copies, side by side
    scores = torch.full((B, K), float("-inf"), device=device)
    scores[:, 0] = 0.0  # all K beams start equal: expand only the first, so the first step has no duplicates
    seqs = torch.zeros(B * K, 0, dtype=torch.long, device=device)
    ended = _Ended(B, K)
    width = min(2 * K, K * V) if eos_id is not None else K  # spare candidates replace beams that end
    caps = [length] * B if isinstance(length, int) else list(length)
    if len(caps) != B or min(caps, default=1) < 1:
        raise ValueError(f"need one length >= 1 per row, got {caps}")
    rows_ending: dict[int, list[int]] = {}  # step -> the rows whose length it reaches
    for b, cap in enumerate(caps):
        rows_ending.setdefault(cap - 1, []).append(b)
    for t in range(max(caps, default=0)):
        if t > 0:
            logits, state = step(seqs[:, -1], state)  # (B·K, V)
            logp = torch.log_softmax(logits.float(), dim=-1)
        if eos_id is not None and exact_length is not None:
            logp = _to_length(logp.view(B, K, V), t, exact_length, eos_id).view(B * K, V)
        cand = (scores.unsqueeze(2) + logp.view(B, K, V)).view(B, K * V)  # (B, K·V)
        top, index = cand.topk(width, dim=1)  # (B, width), best first
        if eos_id is not None:
            top, index = ended.set_aside(top, index, seqs, V, eos_id, (t + 1) ** alpha)
        flat = (base + index // V).view(-1)  # (B·K,) rows to extend
        seqs = torch.cat([seqs.index_select(0, flat), (index % V).view(-1, 1)], dim=1)
        state = (reorder or select)(state, flat)  # each row's hypotheses come from the same row
        scores = top
        if t in rows_ending:
            ended.cut_short(rows_ending[t], scores, seqs, (t + 1) ** alpha)
        if bool(scores[:, 0].eq(float("-inf")).all()):
            break  # every hypothesis has ended (each row's scores are best first)
    # every row's live hypotheses were ended at its length, so all of them are in `ended`
    return [sorted(hyps, key=lambda item: -item[1])[:keep] for hyps in ended.hyps]


def _to_length(scores: torch.Tensor, produced: int, lengths: int | Sequence[int], eos_id: int) -> torch.Tensor:
    """`scores` (B, …, V) of the next id once `produced` ids are out, held to each row's exact length: `eos_id` ruled
    out (-inf) for a row short of it, everything but `eos_id` for a row that has reached it."""
    wanted = [lengths] * scores.size(0) if isinstance(lengths, int) else list(lengths)
    short = [b for b, n in enumerate(wanted) if produced < n]
    there = [b for b, n in enumerate(wanted) if produced == n]
    if not short and not there:
        return scores
    scores = scores.clone()
    scores[short, ..., eos_id] = float("-inf")
    if there:
        end = scores[there, ..., eos_id].clone()
        scores[there] = float("-inf")
        scores[there, ..., eos_id] = end
    return scores


class _Ended:
    """The hypotheses of B rows that have produced the end id (or reached their row's length), and each row's K best
    scores among them.

    Candidates are sifted with tensor operations over all rows at once; Python touches only the hypotheses that
    end (a few per row, near the end of the search), not every row at every step."""

    def __init__(self, rows: int, beam: int):
        self.K = beam
        self.hyps: list[list[tuple[list[int], float]]] = [[] for _ in range(rows)]
        self.best: list[list[float]] = [[] for _ in range(rows)]  # per row, its K best ended scores, best first
        self.full: list[int] = []  # rows with K ended hypotheses: they may be done

    def cut_short(self, rows: list[int], scores: torch.Tensor, seqs: torch.Tensor, norm: float) -> None:
        """Rows that reached their length: their live hypotheses end as they are, and the rows take no more."""
        K, inf = self.K, float("-inf")
        for b in rows:
            row = scores[b].tolist()
            for k in (k for k in range(K) if row[k] != inf):
                self.hyps[b].append((seqs[b * K + k].tolist(), row[k] / norm))
        scores[rows] = inf

    def set_aside(self, top: torch.Tensor, index: torch.Tensor, seqs: torch.Tensor, V: int, eos_id: int,
                  norm: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Candidates `top`/`index` (B, W) of each row, best first (`index` into the row's K·V) -> the K best that
        go on (-inf pads, index 0), after setting aside those that end (ids + [eos_id], score / `norm`).

        As a loop over each row's candidates would: stop at the first -inf or once K go on; a row whose search is
        over (K ended, none going on better than the K-th) keeps none alive."""
        K, inf = self.K, float("-inf")
        ends = index % V == eos_id
        goes_on = ~ends
        rank = goes_on.cumsum(dim=1)  # candidates going on, up to and including each
        seen = (top != inf) & (rank - goes_on.long() < K)  # reached before the loop would stop
        kept = seen & goes_on
        stop = seen & ends
        if bool(stop.any()):
            rows, cols = stop.nonzero(as_tuple=True)  # row by row, best first within a row
            origin = index[rows, cols] // V
            ids = seqs.index_select(0, rows * self.K + origin).tolist()
            for b, path, score in zip(rows.tolist(), ids, top[rows, cols].tolist()):
                score /= norm
                self.hyps[b].append((path + [eos_id], score))
                best = self.best[b]
                if len(best) < K or score > best[-1]:
                    bisect.insort(best, score, key=lambda s: -s)
                    if len(best) > K:
                        best.pop()
                    elif len(best) == K:
                        self.full.append(b)
        slot = torch.where(kept, rank - 1, K)  # where each candidate that goes on lands; K: nowhere
        keep_top = top.new_full((top.size(0), K + 1), inf).scatter_(1, slot, top)[:, :K]
        keep_index = index.new_zeros((index.size(0), K + 1)).scatter_(1, slot, index)[:, :K]
        if self.full:
            first = keep_top[:, 0].tolist()
            done = [b for b in self.full if first[b] / norm <= self.best[b][-1]]
            if done:
                keep_top[done] = inf  # done: nothing alive can still enter its K best
        return keep_top, keep_index


@torch.no_grad()
def decode_to_end(logits: torch.Tensor, state: Any, step: Step, choose: Choose, length: int | Sequence[int], eos_id: int,
                  exact_length: int | Sequence[int] | None = None) -> list[list[int]]:
    """Greedy or sampled decoding of N rows at once, each until its `eos_id` (kept) or `length` ids (one per row, or
    one for all); with `exact_length` (one per row, or one for all), every row holds that many ids, then `eos_id`.

    `logits` (N, V) score the first new token; `choose` turns logits into ids (argmax, or a draw). Rows that have
    ended still ride along in the batch (their ids are ignored), so the batch keeps one shape: a row's output does
    not depend on the other rows' lengths."""
    n = logits.size(0)
    caps = [length] * n if isinstance(length, int) else list(length)
    out: list[list[int]] = [[] for _ in range(n)]
    done = [cap < 1 for cap in caps]
    produced = 0  # ids out so far in every row still going (ended rows ride along)
    while not all(done):
        if exact_length is not None:
            logits = _to_length(logits, produced, exact_length, eos_id)
        ids = choose(logits)
        produced += 1
        for row, tok in enumerate(ids.tolist()):
            if not done[row]:
                out[row].append(tok)
                done[row] = tok == eos_id or len(out[row]) >= caps[row]
        if all(done):
            break
        logits, state = step(ids.to(logits.device), state)
    return out
