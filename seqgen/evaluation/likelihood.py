"""Likelihood figures: a pure core on summed log-loss and counts, and model scoring over a split."""

from __future__ import annotations

import itertools
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
    if len(ids) < 2:
        return Likelihood(0.0, 0)
    batch = max(1, min(batch, (len(ids) - 1) // max(1, seq_len)))
    view = stream_view(ids, batch)
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    state: State | None = None
    covered = batch * (view.shape[1] - 1)  # the streams predict ids[1 : covered + 1]
    tail = np.asarray(ids[covered:], dtype=np.int64)  # the rest, scored as one more short stream
    windows = itertools.chain(batches(view, seq_len, partial=True), [(None, None)], batches(tail.reshape(1, -1), seq_len, partial=True))
    try:
        for x, y in windows:
            if should_stop and should_stop():
                return None
            if x is None:
                state = None  # the tail stream starts afresh
                continue
            logits, state = model(torch.from_numpy(x).to(device), state)
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), torch.from_numpy(y).to(device).reshape(-1), reduction="sum")
            total += float(loss)
            count += y.size
    finally:
        model.train(was_training)
    return Likelihood(total, count)
