"""The network interpolated with a count-based n-gram: p(w | h) = λ·p_net(w | h) + (1 − λ)·p_ngram(w | h).

Why: Mikolov's RNNLM toolkit never reported a network alone; it interpolated it with a Kneser–Ney n-gram, which
lowered perplexity in every published setting. On little data or few minutes the n-gram knows what the network has
not learnt yet, and the two err on different tokens. λ is fitted on held-out tokens by EM, so on them the mixture is
never worse than the better of the two.

The n-gram is any object with `order`, `vocab_size` and `distributions(histories (N, order-1)) -> (N, V)`
(`seqgen.evaluation.ngram.KneserNey`); this module knows nothing of how it was fitted.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from seqgen.models.rnn_lm import RNNLanguageModel, State
from seqgen.models.stepper import Stepper


def fit_weight(p_net: np.ndarray, p_ngram: np.ndarray, iterations: int = 500, tol: float = 1e-10) -> float:
    """The network's share λ that maximises Σ log(λ·p_net + (1 − λ)·p_ngram) over held-out tokens.

    Each argument holds the probability each model gave the token that came. EM: λ ← mean of the network's
    posterior share of each token; the log-likelihood is concave in λ, so this climbs to its maximum."""
    p_net, p_ngram = np.asarray(p_net, dtype=np.float64), np.asarray(p_ngram, dtype=np.float64)
    if len(p_net) == 0:
        return 1.0
    weight = 0.5
    for _ in range(iterations):
        new = float(np.mean(weight * p_net / (weight * p_net + (1.0 - weight) * p_ngram)))
        done = abs(new - weight) < tol
        weight = new
        if done:
            break
    return weight


def mixed_nll(p_net: np.ndarray, p_ngram: np.ndarray, weight: float) -> float:
    """Summed negative log-likelihood (nats) of the mixture over tokens whose two probabilities are given."""
    return float(-np.log(weight * np.asarray(p_net, dtype=np.float64) + (1.0 - weight) * np.asarray(p_ngram, dtype=np.float64)).sum())


class MixedLM(torch.nn.Module):
    """A language model and an n-gram as one model for generation.

    `forward` and the per-token step return log p_mix in place of logits, so temperature, top-k, top-p, greedy
    decoding and beam search (all of which read logits through softmax or log_softmax) work on it unchanged. The state
    is the network's own, then the n-gram's history as a (1, N, order-1) tensor: batch on dim 1, like the network's
    (L, N, H), so reordering rows (beam search, --num copies) reorders both."""

    def __init__(self, net: RNNLanguageModel, ngram: Any, weight: float):
        super().__init__()
        if ngram.order < 2:
            raise ValueError("the mixture needs an n-gram of order 2 or more")
        self.net, self.ngram, self.weight = net, ngram, float(weight)
        self.k = ngram.order - 1  # tokens of history the n-gram reads

    def split_state(self, state: tuple | None, rows: int, device: torch.device) -> tuple[State | None, torch.Tensor]:
        """(the network's state, the history (rows, k)) from a mixture state; no history yet is all -1."""
        if state is None:
            return None, torch.full((rows, self.k), -1, dtype=torch.long, device=device)
        parts, history = state[:-1], state[-1][0]
        return (parts if len(parts) == 2 else parts[0]), history

    @staticmethod
    def join_state(net_state: State, history: torch.Tensor) -> tuple:
        parts = net_state if isinstance(net_state, tuple) else (net_state,)
        return (*parts, history.unsqueeze(0))

    def mix(self, logits: torch.Tensor, p_ngram: np.ndarray) -> torch.Tensor:
        """log(λ·softmax(logits) + (1 − λ)·p_ngram) for (M, V) logits and the n-gram's (M, V) distributions."""
        p_ngram = torch.from_numpy(p_ngram).to(device=logits.device, dtype=torch.float32)
        p_net = torch.softmax(logits.float(), dim=-1)
        return torch.log(self.weight * p_net + (1.0 - self.weight) * p_ngram)

    def forward(self, ids: torch.Tensor, state: tuple | None = None) -> tuple[torch.Tensor, tuple]:
        """ids (N, T) -> (log p_mix (N, T, V), state)."""
        N, T = ids.shape
        net_state, history = self.split_state(state, N, ids.device)
        logits, net_state = self.net(ids, net_state)
        full = torch.cat([history, ids], dim=1)  # (N, k + T): position t's history ends at ids[:, t]
        windows = full.unfold(1, self.k, 1)[:, 1:, :]  # (N, T, k)
        out = self.mix(logits.reshape(N * T, -1), self.ngram.distributions(windows.reshape(N * T, self.k).cpu().numpy())).view(N, T, -1)
        return out, self.join_state(net_state, full[:, -self.k :])

    def step_function(self) -> "MixedStepper":
        return MixedStepper(self)


class MixedStepper:
    """One step of a `MixedLM` for N sequences: the network's fast `Stepper`, then the mix with the n-gram.

    The n-gram's distribution for a history is kept once computed: generated text revisits its contexts (a
    character model's 4-character histories above all), and looking one up costs far less than the back-off
    through five orders (benchmarks/sizing.md, "Sampling from the mixture")."""

    CACHED_HISTORIES = 20_000  # at most this many distributions kept (20,000 × V floats: 8 MB for 100 characters)

    def __init__(self, mixed: MixedLM):
        self.mixed, self.step = mixed, Stepper(mixed.net)
        self.known: dict[bytes, np.ndarray] = {}

    def ngram_distributions(self, history: torch.Tensor) -> np.ndarray:
        """The n-gram's (N, V) distributions for (N, k) histories, from the cache where it has them."""
        rows = history.cpu().numpy()
        keys = [row.tobytes() for row in rows]
        found = [self.known.get(key) for key in keys]
        missing = [i for i, hit in enumerate(found) if hit is None]
        if missing:
            fresh = self.mixed.ngram.distributions(rows[missing])
            for i, dist in zip(missing, fresh):
                found[i] = dist
                if len(self.known) < self.CACHED_HISTORIES:
                    self.known[keys[i]] = dist
        return np.stack(found)

    @torch.no_grad()
    def __call__(self, ids: torch.Tensor, state: tuple) -> tuple[torch.Tensor, tuple]:
        net_state, history = self.mixed.split_state(state, len(ids), ids.device)
        logits, net_state = self.step(ids, net_state)
        history = torch.cat([history[:, 1:], ids.view(-1, 1)], dim=1)
        return self.mixed.mix(logits, self.ngram_distributions(history)), self.mixed.join_state(net_state, history)
