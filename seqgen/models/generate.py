"""Sampling: temperature, top-k, top-p, greedy, priming, many samples as one batch.

The recurrent state is carried between steps, so each new token costs one step of the network,
never a re-run of the prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Protocol, Sequence

import torch

from seqgen.config import SampleConfig
from seqgen.models import search
from seqgen.models.rnn_lm import RNNLanguageModel, State
from seqgen.models.stepper import step_function


def filter_logits(logits: torch.Tensor, top_k: int | None = None, top_p: float | None = None) -> torch.Tensor:
    """Mask (to -inf) all but the top-k tokens and/or the smallest set holding top-p of the probability.

    logits: (N, V). The most likely token always survives, so a distribution is never empty.
    """
    if (top_k is None or top_k >= logits.size(-1)) and (top_p is None or top_p >= 1.0):
        return logits  # nothing to mask: no copy (batch-1 sampling pays per operation)
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
    if cfg.temperature == 1.0:
        scaled = logits
    else:
        scaled = logits / cfg.temperature
        if cfg.temperature < 1.0 and not torch.isfinite(scaled).all():  # a tiny temperature overflowed: shift by the maximum first (same softmax)
            scaled = (logits - logits.max(dim=-1, keepdim=True).values) / cfg.temperature
    return torch.softmax(filter_logits(scaled, cfg.top_k, cfg.top_p), dim=-1)


def choose(logits: torch.Tensor, cfg: SampleConfig, generator: torch.Generator | None) -> torch.Tensor:
    """(N, V) logits -> (N,) token ids."""
    if cfg.greedy:
        return logits.argmax(dim=-1)
    return draw(next_token_probs(logits.float(), cfg), generator)


def draw(probs: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One index per row of (N, V) `probs`, by inverse CDF: one uniform number per row.

    Why not torch.multinomial: on the CPU it costs about 90 µs a step for 32 rows, a tenth of a 2×256
    model's whole step. Here a token of probability 0 (filtered by top-k/top-p) is never drawn: its
    CDF equals its predecessor's, and u stays strictly below the total.
    """
    cdf = probs.double().cumsum(dim=-1)  # (N, V)
    total = cdf[:, -1:]
    u = torch.rand(total.shape, generator=generator, dtype=torch.float64, device=cdf.device) * total
    u = torch.minimum(u, torch.nextafter(total, torch.zeros_like(total)))
    return torch.searchsorted(cdf, u, right=True).squeeze(-1)


def cpu_generator(seed: int | None) -> torch.Generator:
    """The generator every draw uses: on the CPU, so the same seed gives the same output on any device."""
    generator = torch.Generator(device="cpu")
    if seed is not None:
        generator.manual_seed(seed)
    else:
        generator.seed()
    return generator


class Rule(Protocol):
    """What a row may not write next, from what it has written: a sampler's constraint that a kind of data brings
    (the voices level: no parallel fifths or octaves). `feed` gets one new id per row, the primer's ids first."""

    def feed(self, ids: Sequence[int]) -> None: ...

    def banned(self) -> torch.Tensor | None:
        """(rows, V) bool, True where a row may not write that token next; None when no row has one."""
        ...


@dataclass
class Guide:
    """Generation held to a skeleton and a rule. At step k, `forced[k]` (an id) is written instead of a draw; where it
    is None the draw is from the tokens `allowed` marks (a (V,) bool mask) only, and past the skeleton's end generation
    stops; without a skeleton (`forced` None) every step is drawn. A `rule` bans tokens per row as the rows grow.
    Why: to harmonize a melody, its part's tokens and the frame and bar marks are given, and the model writes only
    the other parts' tokens around them; a chorale's parts may not move in parallel fifths, whatever the model says."""

    forced: Sequence[int | None] | None = None
    allowed: torch.Tensor | None = None
    rule: Rule | None = None


@torch.no_grad()
def _draw_steps(
    model: RNNLanguageModel,
    primes: Sequence[Sequence[int]],
    copies: int,
    cfg: SampleConfig,
    device: torch.device | str,
    eos_id: int | None,
    guide: Guide | None = None,
) -> Iterator[list[int | None]]:
    """The one sampling loop: primers (all of one length) read once as a batch, each repeated `copies`
    times, then one `Stepper` step per new token; yields one id per row (None once a row has ended)."""
    model.eval()
    generator = cpu_generator(cfg.seed)
    logits, state = model(torch.tensor([list(p) for p in primes], dtype=torch.long, device=device))  # (B, P, V)
    rows = torch.arange(len(primes), device=device).repeat_interleave(copies)  # (B·copies,)
    state = select_state(state, rows)
    last = logits[:, -1, :].index_select(0, rows)  # (B·copies, V)
    step = step_function(model)
    done = [False] * len(rows)
    forced = guide.forced if guide is not None else None
    rule = guide.rule if guide is not None else None
    length = min(cfg.length, len(forced)) if forced is not None else cfg.length
    for produced in range(1, length + 1):
        if forced is not None and forced[produced - 1] is not None:
            ids = torch.full((len(rows),), int(forced[produced - 1]), dtype=torch.long)  # type: ignore[arg-type]
        else:
            scores = last.cpu()
            if guide is not None and guide.allowed is not None:
                scores = scores.masked_fill(~guide.allowed, float("-inf"))
            if rule is not None and (banned := rule.banned()) is not None:
                scores = scores.masked_fill(banned, float("-inf"))
            ids = choose(scores, cfg, generator)  # drawn on the CPU: same seed, same output on any device
        new = ids.tolist()
        if rule is not None:
            rule.feed(new)
        yield [None if d else t for d, t in zip(done, new)]
        if cfg.stop_at_eos and eos_id is not None:
            done = [d or t == eos_id for d, t in zip(done, new)]
            if all(done):
                return
        if produced < length:  # no step after the last token
            last, state = step(ids.to(device), state)  # (rows, V)


def sample_steps(
    model: RNNLanguageModel,
    prime: Sequence[int],
    cfg: SampleConfig,
    device: torch.device | str = "cpu",
    eos_id: int | None = None,
    guide: Guide | None = None,
) -> Iterator[list[int | None]]:
    """Yield, step by step, one new id per sample (None for a sample that has already ended).

    `prime` (at least one id) is read once; then each step feeds only the newest ids with the carried
    state (through a `Stepper`). With `cfg.stop_at_eos`, a sample ends after its first `eos_id`; with a
    `guide`, it follows the guide's skeleton.
    """
    if not prime:
        raise ValueError("generation needs at least one primer id")
    return _draw_steps(model, [prime], cfg.num, cfg, device, eos_id, guide)


def generate(
    model: RNNLanguageModel,
    prime: Sequence[int],
    cfg: SampleConfig,
    device: torch.device | str = "cpu",
    eos_id: int | None = None,
    guide: Guide | None = None,
) -> list[list[int]]:
    """`cfg.num` continuations of `prime`, each at most `cfg.length` ids."""
    outputs: list[list[int]] = [[] for _ in range(cfg.num)]
    for step in sample_steps(model, prime, cfg, device, eos_id, guide):
        for out, tok in zip(outputs, step):
            if tok is not None:
                out.append(tok)
    return outputs


def continue_batch(
    model: RNNLanguageModel,
    primes: Sequence[Sequence[int]],
    cfg: SampleConfig,
    device: torch.device | str = "cpu",
) -> list[list[int]]:
    """`cfg.length` ids after each of several primers of one length, drawn as one batch (temperature or greedy)."""
    outputs: list[list[int]] = [[] for _ in primes]
    for step in _draw_steps(model, primes, 1, cfg, device, eos_id=None):
        for out, tok in zip(outputs, step):
            out.append(tok)  # type: ignore[arg-type]  (never None without an eos)
    return outputs


def select_state(state: State, index: torch.Tensor) -> State:
    """Rows `index` of a batched state: (L, B, H) -> (L, len(index), H)."""
    if isinstance(state, tuple):
        return tuple(s.index_select(1, index) for s in state)  # type: ignore[return-value]
    return state.index_select(1, index)


@torch.no_grad()
def beam_search(
    model: RNNLanguageModel,
    primes: Sequence[Sequence[int]],
    beam: int,
    length: int,
    device: torch.device | str = "cpu",
    eos_id: int | None = None,
    alpha: float = 1.0,
    keep: int = 1,
) -> list[list[tuple[list[int], float]]]:
    """The `keep` best continuations of each primer (all primers of one length), with their scores.

    The primers are read as one batch; then `seqgen.models.search.beam_search` runs every primer's beams as one
    batch, one `Stepper` step per new token (length-normalised scores; beam 1 is greedy decoding)."""
    model.eval()
    logits, state = model(torch.tensor([list(p) for p in primes], dtype=torch.long, device=device))  # (B, P, V)
    logp = torch.log_softmax(logits[:, -1, :].float(), dim=-1)  # (B, V)
    return search.beam_search(logp, state, step_function(model), select_state, beam, length, eos_id, alpha, keep)


def beam_steps(
    model: RNNLanguageModel,
    prime: Sequence[int],
    cfg: SampleConfig,
    device: torch.device | str = "cpu",
    eos_id: int | None = None,
) -> Iterator[list[int | None]]:
    """Beam search in `sample_steps`'s shape: the `cfg.num` best hypotheses, step by step (None once one has ended)."""
    if not prime:
        raise ValueError("generation needs at least one primer id")
    best = beam_search(model, [prime], cfg.beam or 1, cfg.length, device, eos_id if cfg.stop_at_eos else None, keep=cfg.num)[0]
    seqs = [ids for ids, _ in best]
    for t in range(max((len(s) for s in seqs), default=0)):
        yield [s[t] if t < len(s) else None for s in seqs]
