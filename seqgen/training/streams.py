"""The language-model task: truncated backpropagation through time over parallel streams, as char-rnn does.

The training split is laid out as `--batch` parallel streams (`stream_view`); each step reads the next `--seq-len`
tokens of every stream and carries the recurrent state (detached) to the next step. Each epoch starts the streams
at a fresh offset, so windows do not always begin at the same tokens, and starts every stream's state afresh.
"""

from __future__ import annotations

import math
import random
from typing import Callable

import numpy as np
import torch
from torch.nn import functional as F

from seqgen.config import TrainConfig
from seqgen.data.dataset import Dataset, steps_per_epoch, stream_view
from seqgen.errors import UsageError
from seqgen.evaluation.likelihood import Likelihood, score_ids
from seqgen.models.rnn_lm import State, detach_state
from seqgen.training.distributed import ProcessGroup
from seqgen.training.task import Task


def check_corpus_size(n_tokens: int, cfg: TrainConfig) -> None:
    need = cfg.batch * cfg.seq_len + 1
    if n_tokens < need:
        raise UsageError(
            f"the training split has {n_tokens:,} tokens, too few for --batch {cfg.batch} × --seq-len {cfg.seq_len} (needs {need:,})",
            f"lower --batch or --seq-len (e.g. --batch {max(1, (n_tokens - 1) // cfg.seq_len)}) or add more text",
        )


def epoch_offset(seed: int, epoch: int, slack: int) -> int:
    """A fresh start offset each epoch, so windows do not always begin at the same tokens."""
    return random.Random(f"{seed}:{epoch}").randrange(slack + 1) if slack > 0 else 0


class StreamTask(Task):
    """Next-token prediction over parallel streams with the recurrent state carried between steps."""

    def __init__(self, dataset: Dataset, cfg: TrainConfig, group: ProcessGroup):
        self.cfg, self.group = cfg, group
        self.train_ids, self.val_ids = dataset.split("train"), dataset.split("val")
        check_corpus_size(len(self.train_ids), cfg)
        self.view = stream_view(self.train_ids, cfg.batch)[group.shard(cfg.batch)]  # (B / ranks, per_stream + 1), no copy
        self.per_stream = self.view.shape[1] - 1
        self._steps = steps_per_epoch(len(self.train_ids), cfg.batch, cfg.seq_len)
        self.diverged_above = 2 * math.log(len(dataset.vocab)) + 10  # far worse than guessing uniformly
        self.state: State | None = None

    @property
    def steps_per_epoch(self) -> int:
        return self._steps

    def offset(self, epoch: int) -> int:
        return epoch_offset(self.cfg.seed, epoch, self.per_stream - self._steps * self.cfg.seq_len)

    def batches_in(self, epoch: int) -> int:
        """Steps in `epoch`: the steps that fit after its offset (the first epoch may hold one more than later ones)."""
        return (self.per_stream - self.offset(epoch)) // self.cfg.seq_len

    def batch(self, epoch: int, index: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor] | None:
        if index >= self.batches_in(epoch):
            return None
        start = self.offset(epoch) + index * self.cfg.seq_len
        window = torch.from_numpy(np.asarray(self.view[:, start : start + self.cfg.seq_len + 1], dtype=np.int64)).to(device)
        return window[:, :-1], window[:, 1:]  # (B, T) inputs, (B, T) targets

    def new_epoch(self) -> None:
        self.state = None  # a new epoch starts every stream afresh

    def loss(self, net: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, int]:
        x, y = batch
        logits, state = net(x, self.state)  # (B, T, V)
        self.state = detach_state(state)  # truncated backpropagation: the values carry on, the graph does not
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1)), y.numel()

    def validate(self, model: torch.nn.Module, device: torch.device, should_stop: Callable[[], bool]) -> Likelihood | None:
        return score_ids(model, self.val_ids, self.cfg.batch, self.cfg.seq_len, device, should_stop)

    @property
    def has_validation(self) -> bool:
        return len(self.val_ids) >= 2

    def carried(self) -> list[torch.Tensor]:
        state = self.group.gather_state(self.state)  # all streams, so any number of ranks can resume
        hidden = [] if state is None else list(state) if isinstance(state, tuple) else [state]
        return [h.detach().cpu() for h in hidden]

    def restore_carried(self, tensors: list[torch.Tensor], device: torch.device) -> None:
        hidden = [h[:, self.group.shard(self.cfg.batch)].to(device) for h in tensors]  # this rank's streams
        self.state = None if not hidden else tuple(hidden) if len(hidden) == 2 else hidden[0]
