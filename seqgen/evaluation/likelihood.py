"""Likelihood figures: a pure core on summed log-loss and counts, and model scoring over a split."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch.nn import functional as F

from seqgen.data.dataset import batches, stream_view
from seqgen.models.rnn_lm import RNNLanguageModel, State

LN2 = math.log(2.0)


@dataclass
class Likelihood:
    nll_sum: float  # summed negative log-likelihood, nats
    tokens: int  # tokens scored

    @property
    def nats(self) -> float:
        """Cross-entropy in nats per token."""
        return self.nll_sum / self.tokens if self.tokens else float("nan")

    @property
    def bits(self) -> float:
        return self.nats / LN2

    @property
    def perplexity(self) -> float:
        return math.exp(self.nats) if self.tokens else float("nan")

    def figures(self) -> dict:
        """The keys every eval report gives a likelihood."""
        return {"tokens": self.tokens, "nats_per_token": self.nats, "bits_per_token": self.bits, "perplexity": self.perplexity}


@torch.no_grad()
def score_ids(
    model: RNNLanguageModel,
    ids: np.ndarray,
    batch: int,
    seq_len: int,
    device: torch.device | str = "cpu",
    should_stop: Callable[[], bool] | None = None,
) -> Likelihood | None:
    """Score every predictable token of `ids`, state carried across windows; None if stopped early.

    The ids are laid out as parallel streams (fewer when the text is short) so that a long split is
    scored quickly; each stream's first token has no context, as in training. Every token after the
    first is scored exactly once.
    """
    nll = token_nll(model, ids, batch, seq_len, device, should_stop)
    return None if nll is None else Likelihood(float(nll.sum()), len(nll))


@torch.no_grad()
def token_nll(
    model: RNNLanguageModel,
    ids: np.ndarray,
    batch: int,
    seq_len: int,
    device: torch.device | str = "cpu",
    should_stop: Callable[[], bool] | None = None,
) -> np.ndarray | None:
    """−log p(ids[i] | what came before) for i = 1..len−1 (float64, in order), scored as `score_ids` scores them;
    None if stopped early. What mixing with an n-gram needs: each token's probability, not only the sum."""
    if len(ids) < 2:
        return np.zeros(0)
    batch = max(1, min(batch, (len(ids) - 1) // max(1, seq_len)))
    view = stream_view(ids, batch)
    per_stream = view.shape[1] - 1
    was_training = model.training
    model.eval()
    out = np.empty(len(ids) - 1)
    covered = batch * per_stream  # the streams predict ids[1 : covered + 1]
    tail = np.asarray(ids[covered:], dtype=np.int64)  # the rest, scored as one more short stream, from a fresh state
    # each group of streams beside the rows of `out` its targets fill: stream b's are ids[b·per_stream + 1 …]
    groups = [(view, out[:covered].reshape(batch, per_stream)), (tail.reshape(1, -1), out[covered:].reshape(1, -1))]
    try:
        for streams, rows in groups:
            state: State | None = None
            pos = 0
            for x, y in batches(streams, seq_len, partial=True):
                if should_stop and should_stop():
                    return None
                logits, state = model(torch.from_numpy(x).to(device), state)
                nll = F.cross_entropy(logits.reshape(-1, logits.size(-1)), torch.from_numpy(y).to(device).reshape(-1), reduction="none")
                rows[:, pos : pos + y.shape[1]] = nll.view(y.shape).double().cpu().numpy()
                pos += y.shape[1]
    finally:
        model.train(was_training)
    return out
