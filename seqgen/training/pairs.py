"""The encoder–decoder task: batches of (source, target) pairs, teacher-forced cross-entropy on the target side.

Each epoch visits every training pair once, in an order fixed by (seed, epoch): the pairs are shuffled, cut into
pools of 64 batches, each pool sorted by length so a batch pads little, and the batches shuffled again. Batch i of
epoch e is therefore the same in a straight run and a resumed one; under torchrun each rank takes its rows of it.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from torch.nn import functional as F

from seqgen.config import TrainConfig
from seqgen.data.pairs import PairsDataset, PairSplit
from seqgen.errors import UsageError
from seqgen.evaluation.likelihood import Likelihood
from seqgen.models.seq2seq import BOS, EOS, PAD
from seqgen.training.distributed import ProcessGroup
from seqgen.training.task import Task

POOL = 64  # batches sorted together by length


def pad_batch(split: PairSplit, rows: np.ndarray, device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pairs `rows` of a split -> src (B, S), lengths (B,), tgt_in (B, T) = <bos> y, tgt_out (B, T) = y <eos>; 0 pads."""
    sources = [split.source(int(i)) for i in rows]
    targets = [split.target(int(i)) for i in rows]
    S, T = max(len(s) for s in sources), max(len(t) for t in targets) + 1
    src = np.zeros((len(rows), S), dtype=np.int64)
    tgt_in = np.zeros((len(rows), T), dtype=np.int64)
    tgt_out = np.zeros((len(rows), T), dtype=np.int64)
    for r, (s, t) in enumerate(zip(sources, targets)):
        src[r, : len(s)] = s
        tgt_in[r, 0], tgt_in[r, 1 : len(t) + 1] = BOS, t
        tgt_out[r, : len(t)], tgt_out[r, len(t)] = t, EOS
    lengths = torch.tensor([len(s) for s in sources], dtype=torch.long)
    return torch.from_numpy(src).to(device), lengths, torch.from_numpy(tgt_in).to(device), torch.from_numpy(tgt_out).to(device)


def target_nll(net: torch.nn.Module, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, int]:
    """Summed cross-entropy (nats) of the batch's target tokens, <eos> included and padding left out, and their count."""
    src, lengths, tgt_in, tgt_out = batch
    logits = net(src, lengths, tgt_in)  # (B, T, V)
    loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), tgt_out.reshape(-1), ignore_index=PAD, reduction="sum")
    return loss, int((tgt_out != PAD).sum())


@torch.no_grad()
def score_pairs(model: torch.nn.Module, split: PairSplit, batch: int, device: torch.device | str,
                should_stop: Callable[[], bool] | None = None) -> Likelihood | None:
    """Teacher-forced likelihood of every target token of a split (None if stopped early); batches by length."""
    was_training = model.training
    model.eval()
    order = np.argsort(split.lengths("src") + split.lengths("tgt"), kind="stable")
    total, count = 0.0, 0
    try:
        for start in range(0, len(order), batch):
            if should_stop and should_stop():
                return None
            loss, n = target_nll(model, pad_batch(split, order[start : start + batch], device))
            total, count = total + float(loss), count + n
    finally:
        model.train(was_training)
    return Likelihood(total, count)


class PairsTask(Task):
    def __init__(self, dataset: PairsDataset, cfg: TrainConfig, group: ProcessGroup):
        self.cfg, self.group = cfg, group
        self.train, self.val = dataset.split("train"), dataset.split("val")
        if len(self.train) < cfg.batch:
            raise UsageError(f"the training split has {len(self.train):,} pairs, fewer than --batch {cfg.batch}", f"lower --batch (e.g. --batch {max(1, len(self.train))}) or add pairs")
        self.rows = group.shard(cfg.batch)  # this rank's rows of every batch
        self.lengths = self.train.lengths("src") + self.train.lengths("tgt")
        self.diverged_above = 2 * math.log(len(dataset.target.vocab)) + 10
        self._epoch: tuple[int, np.ndarray] | None = None  # (epoch, (batches, batch) pair indices)

    @property
    def steps_per_epoch(self) -> int:
        return len(self.train) // self.cfg.batch  # the last, partial batch is left for the next epoch's shuffle

    def _batches(self, epoch: int) -> np.ndarray:
        """(steps_per_epoch, batch) pair indices of an epoch, computed once per epoch."""
        if self._epoch is None or self._epoch[0] != epoch:
            rng = np.random.default_rng([self.cfg.seed, epoch])
            B, n = self.cfg.batch, self.steps_per_epoch * self.cfg.batch
            order = rng.permutation(len(self.train))[:n]
            pools = [order[i : i + POOL * B] for i in range(0, n, POOL * B)]
            order = np.concatenate([p[np.argsort(self.lengths[p], kind="stable")] for p in pools])
            batches = order.reshape(-1, B)
            self._epoch = (epoch, batches[rng.permutation(len(batches))])
        return self._epoch[1]

    def batch(self, epoch: int, index: int, device: torch.device):
        batches = self._batches(epoch)
        if index >= len(batches):
            return None
        return pad_batch(self.train, batches[index][self.rows], device)

    def loss(self, net: torch.nn.Module, batch) -> tuple[torch.Tensor, int]:
        total, count = target_nll(net, batch)
        return total / max(1, count), count

    def validate(self, model: torch.nn.Module, device: torch.device, should_stop: Callable[[], bool]) -> Likelihood | None:
        return score_pairs(model, self.val, max(self.cfg.batch, 64), device, should_stop)

    @property
    def has_validation(self) -> bool:
        return len(self.val) > 0
