"""Sampling: temperature, top-k, top-p, greedy, priming, many samples as one batch.

The recurrent state is carried between steps, so each new token costs one step of the network,
never a re-run of the prefix.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import torch

from seqgen.config import SampleConfig
from seqgen.model import RNNLanguageModel, State


def filter_logits(logits: torch.Tensor, top_k: int | None = None, top_p: float | None = None) -> torch.Tensor:
    """Mask (to -inf) all but the top-k tokens and/or the smallest set holding top-p of the probability.

    logits: (N, V). The most likely token always survives, so a distribution is never empty.
    """
    out = logits.clone()
    if top_k is not None and top_k < out.size(-1):
        kth = torch.topk(out, top_k, dim=-1).values[..., -1:]  # (N, 1)
        out[out < kth] = float("-inf")
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(out, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        before = torch.cumsum(probs, dim=-1) - probs  # probability of the tokens ranked above each one
        drop_sorted = before >= top_p  # keep a token while the ones above it hold less than top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        out[drop] = float("-inf")
    return out


def next_token_probs(logits: torch.Tensor, cfg: SampleConfig) -> torch.Tensor:
    """The distribution one step samples from: softmax(filter(logits / T))."""
    return torch.softmax(filter_logits(logits / cfg.temperature, cfg.top_k, cfg.top_p), dim=-1)


def choose(logits: torch.Tensor, cfg: SampleConfig, generator: torch.Generator | None) -> torch.Tensor:
    """(N, V) logits -> (N,) token ids."""
    if cfg.greedy:
        return logits.argmax(dim=-1)
    probs = next_token_probs(logits.float(), cfg)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def expand_state(state: State, n: int) -> State:
    """Repeat a batch-1 state for n samples: (L, 1, H) -> (L, n, H)."""
    if isinstance(state, tuple):
        return tuple(s.expand(-1, n, -1).contiguous() for s in state)  # type: ignore[return-value]
    return state.expand(-1, n, -1).contiguous()


@torch.no_grad()
def stream(
    model: RNNLanguageModel,
    prime: Sequence[int],
    cfg: SampleConfig,
    device: torch.device | str = "cpu",
    eos_id: int | None = None,
) -> Iterator[list[int | None]]:
    """Yield, step by step, one new id per sample (None for a sample that has already ended).

    `prime` (at least one id) is read once as one sequence; then each step feeds only the newest
    ids with the carried state. With `cfg.stop_at_eos`, a sample ends after its first `eos_id`.
    """
    if not prime:
        raise ValueError("generation needs at least one primer id")
    model.eval()
    generator = torch.Generator(device="cpu")
    if cfg.seed is not None:
        generator.manual_seed(cfg.seed)
    else:
        generator.seed()
    prime_t = torch.tensor([list(prime)], dtype=torch.long, device=device)  # (1, P)
    logits, state = model(prime_t)
    state = expand_state(state, cfg.num)
    last = logits[:, -1, :].expand(cfg.num, -1)  # (N, V)
    done = [False] * cfg.num
    for _ in range(cfg.length):
        ids = choose(last.cpu(), cfg, generator)  # drawn on the CPU: same seed, same output on any device
        new = ids.tolist()
        yield [None if d else t for d, t in zip(done, new)]
        if cfg.stop_at_eos and eos_id is not None:
            done = [d or t == eos_id for d, t in zip(done, new)]
            if all(done):
                return
        logits, state = model(ids.view(-1, 1).to(device), state)  # (N, 1, V)
        last = logits[:, -1, :]


def generate(
    model: RNNLanguageModel,
    prime: Sequence[int],
    cfg: SampleConfig,
    device: torch.device | str = "cpu",
    eos_id: int | None = None,
) -> list[list[int]]:
    """`cfg.num` continuations of `prime`, each at most `cfg.length` ids."""
    outputs: list[list[int]] = [[] for _ in range(cfg.num)]
    for step in stream(model, prime, cfg, device, eos_id):
        for out, tok in zip(outputs, step):
            if tok is not None:
                out.append(tok)
    return outputs
