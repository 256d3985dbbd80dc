"""Decoding an encoder–decoder for many inputs: greedy, sampled or by beam search, in length-sorted batches.

Inputs are sorted by length so a batch pads little, decoded a batch at a time, and returned in input order.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from seqgen.config import SampleConfig
from seqgen.models import search
from seqgen.models.generate import choose, cpu_generator
from seqgen.models.seq2seq import BOS, EOS, DecoderState, Seq2Seq

BATCH = 64  # inputs decoded together


def source_batch(sources: Sequence[Sequence[int]], device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor]:
    """src (B, S) padded with 0 and lengths (B,); an empty source reads as one <eos> so the encoder has a step."""
    rows = [list(s) or [EOS] for s in sources]
    src = np.zeros((len(rows), max(len(r) for r in rows)), dtype=np.int64)
    for i, r in enumerate(rows):
        src[i, : len(r)] = r
    return torch.from_numpy(src).to(device), torch.tensor([len(r) for r in rows])


@torch.no_grad()
def translate(
    model: Seq2Seq,
    sources: Sequence[Sequence[int]],
    cfg: SampleConfig,
    device: torch.device | str = "cpu",
    max_length: int | Sequence[int] = 100,
    length_penalty: float = 1.0,
    batch: int = BATCH,
    exact_length: Sequence[int] | None = None,
) -> list[list[list[int]]]:
    """For each source, `cfg.num` outputs (ids, each ending at its <eos> when it produced one), best first for beams;
    `max_length` caps every output, or each source's own (one per source). An output without <eos> hit its cap.
    `exact_length` (one per source): its outputs hold that many ids, then <eos> (the cap must leave room for it).

    Decoding: `cfg.beam` (beam search, length-normalised with exponent `length_penalty`), else `cfg.greedy`, else
    sampling at `cfg.temperature` with `cfg.top_k`/`cfg.top_p`, all draws from `cfg.seed`."""
    model.eval()
    generator = cpu_generator(cfg.seed)
    caps = [max_length] * len(sources) if isinstance(max_length, int) else list(max_length)
    order = np.argsort([len(s) for s in sources], kind="stable")
    results: list[list[list[int]]] = [[] for _ in sources]
    for start in range(0, len(order), batch):
        rows = order[start : start + batch]
        src, lengths = source_batch([sources[i] for i in rows], device)
        state = model.encode(src, lengths)
        bos = torch.full((len(rows),), BOS, dtype=torch.long, device=device)
        logits, state = model.step(bos, state)  # (B, V): the first token's scores
        exact = [exact_length[i] for i in rows] if exact_length is not None else None
        if cfg.beam:
            found = search.beam_search(torch.log_softmax(logits.float(), dim=-1), state, model.step, DecoderState.select,
                                       cfg.beam, [caps[i] for i in rows], EOS, length_penalty, keep=cfg.num, reorder=DecoderState.reorder,
                                       exact_length=exact)
            outputs = [[ids for ids, _ in hyps] for hyps in found]
        else:
            copies = torch.arange(len(rows), device=device).repeat_interleave(cfg.num)
            draw = lambda lg: choose(lg.cpu(), cfg, generator)  # noqa: E731  (drawn on the CPU: the same seed, the same output anywhere)
            flat = search.decode_to_end(logits.index_select(0, copies), state.select(copies), model.step, draw, [caps[i] for i in rows for _ in range(cfg.num)], EOS,
                                        [n for n in exact for _ in range(cfg.num)] if exact is not None else None)
            outputs = [flat[i * cfg.num : (i + 1) * cfg.num] for i in range(len(rows))]
        for i, out in zip(rows, outputs):
            results[i] = out
    return results


@torch.no_grad()
def attention_weights(model: Seq2Seq, source: Sequence[int], output: Sequence[int], device: torch.device | str = "cpu") -> np.ndarray:
    """The decoder's attention while it writes `output` (teacher-forced) for `source`: (len(output), len(source))."""
    model.eval()
    src, lengths = source_batch([source], device)
    state = model.encode(src, lengths)
    rows = []
    for y in [BOS, *output[:-1]]:
        _, state = model.step(torch.tensor([y], device=device), state)
        if state.weights is None:
            raise ValueError("this model has no attention")
        rows.append(state.weights[0, : len(source)].cpu().numpy())
    return np.stack(rows)
