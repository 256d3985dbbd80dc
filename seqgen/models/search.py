"""Decoding loops shared by every model that steps one token at a time: batched beam search, and greedy or
sampled decoding to an end token.

A model plugs in with two functions: `step(ids (N,), state) -> (logits (N, V), state)` and
`select(state, rows (N',)) -> state` (the state's rows, for a beam search that keeps some hypotheses and copies
others), and may bring a cheaper `reorder` for the rows a beam search moves only among one input's hypotheses (an
encoder–decoder's encoder states are the same for all of them, so only the decoder's need moving). The language model's state is its (L, N, H) recurrent state; the encoder–decoder's a `DecoderState`.
"""

from __future__ import annotations

from typing import Any, Callable

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
    length: int,
    eos_id: int | None = None,
    alpha: float = 1.0,
    keep: int = 1,
    reorder: Select | None = None,
) -> list[list[tuple[list[int], float]]]:
    """The `keep` best continuations of each of B rows, with their scores, best first.

    `logp` (B, V) are the log-probabilities of the first new token and `state` the matching state of B rows. All
    rows' beams run as one batch of B·K rows. A hypothesis's score is its summed log-probability divided by its
    length ** alpha (length normalisation: without it, search favours hypotheses that end early). With `eos_id`, a
    hypothesis that picks it is finished (ending with it); otherwise every hypothesis has `length` ids. Beam 1 is
    greedy decoding. A row stops once it holds K finished hypotheses and its best live one scores no better than the
    K-th of them (the stopping rule of Hugging Face's BeamHypotheses.is_done); the search stops when every row has.
    """
    if beam < 1 or not 1 <= keep <= beam:
        raise ValueError("need beam >= 1 and 1 <= keep <= beam")
    device = logp.device
    B, K = logp.size(0), beam
    logp = logp.float().repeat_interleave(K, dim=0)  # (B·K, V)
    V = logp.size(-1)
    state = select(state, torch.arange(B, device=device).repeat_interleave(K))
    scores = torch.full((B, K), float("-inf"), device=device)
    scores[:, 0] = 0.0  # all K beams start equal: expand only the first, so the first step has no duplicates
    seqs = torch.zeros(B * K, 0, dtype=torch.long, device=device)
    finished: list[list[tuple[list[int], float]]] = [[] for _ in range(B)]
    width = min(2 * K, K * V) if eos_id is not None else K  # spare candidates replace beams that end
    for t in range(length):
        if t > 0:
            logits, state = step(seqs[:, -1], state)  # (B·K, V)
            logp = torch.log_softmax(logits.float(), dim=-1)
        cand = (scores.view(-1, 1) + logp).view(B, K * V)  # (B, K·V)
        top, index = cand.topk(width, dim=1)  # (B, width)
        origin, token = index // V, index % V
        if eos_id is not None:
            top, origin, token = _set_aside_finished(top, origin, token, seqs, K, eos_id, t + 1, alpha, finished)
        flat = (torch.arange(B, device=device).view(-1, 1) * K + origin).view(-1)  # (B·K,) rows to extend
        seqs = torch.cat([seqs.index_select(0, flat), token.reshape(-1, 1)], dim=1)
        state = (reorder or select)(state, flat)  # each row's hypotheses come from the same row
        scores = top
        if bool((scores == float("-inf")).all()):
            break  # every hypothesis has ended
    results = []
    live = seqs.view(B, K, -1).tolist()
    norm = (scores / max(1, seqs.size(1)) ** alpha).tolist()
    for b in range(B):
        pool = finished[b] + [(ids, s) for ids, s in zip(live[b], norm[b]) if s != float("-inf")]
        pool.sort(key=lambda item: -item[1])
        results.append(pool[:keep])
    return results


def _set_aside_finished(top, origin, token, seqs, K, eos_id, length, alpha, finished):
    """Move hypotheses that just produced `eos_id` to `finished`; keep the K best others alive (-inf pads).

    A row whose search is over (K finished, none of its live hypotheses better than the K-th) keeps none alive."""
    B, inf = top.size(0), float("-inf")
    keep_top, keep_origin, keep_token = [[inf] * K for _ in range(B)], [[0] * K for _ in range(B)], [[0] * K for _ in range(B)]
    top_l, origin_l, token_l = top.tolist(), origin.tolist(), token.tolist()
    for b in range(B):
        j = 0
        for score, o, tok in zip(top_l[b], origin_l[b], token_l[b]):
            if score == inf or j == K:
                break
            if tok == eos_id:
                finished[b].append((seqs[b * K + o].tolist() + [tok], score / length**alpha))
            else:
                keep_top[b][j], keep_origin[b][j], keep_token[b][j] = score, o, tok
                j += 1
        if len(finished[b]) >= K and keep_top[b][0] / length**alpha <= sorted(s for _, s in finished[b])[-K]:
            keep_top[b] = [inf] * K  # done: nothing alive can still enter its K best
    as_tensor = lambda rows, dtype: torch.tensor(rows, dtype=dtype, device=top.device)  # noqa: E731
    return as_tensor(keep_top, torch.float32), as_tensor(keep_origin, torch.long), as_tensor(keep_token, torch.long)


@torch.no_grad()
def decode_to_end(logits: torch.Tensor, state: Any, step: Step, choose: Choose, length: int, eos_id: int) -> list[list[int]]:
    """Greedy or sampled decoding of N rows at once, each until its `eos_id` (kept) or `length` ids.

    `logits` (N, V) score the first new token; `choose` turns logits into ids (argmax, or a draw). Rows that have
    ended still ride along in the batch (their ids are ignored), so the batch keeps one shape."""
    out: list[list[int]] = [[] for _ in range(logits.size(0))]
    done = [False] * logits.size(0)
    for t in range(length):
        ids = choose(logits)
        for row, tok in enumerate(ids.tolist()):
            if not done[row]:
                out[row].append(tok)
                done[row] = tok == eos_id
        if all(done) or t == length - 1:
            break
        logits, state = step(ids.to(logits.device), state)
    return out
