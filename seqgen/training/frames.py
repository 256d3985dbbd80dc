"""The piano-roll task: batches of whole pieces, padded and masked, each piece read from an empty state.

That is the protocol the metric defines (`seqgen.evaluation.frames`), so training optimises exactly what is scored.
Each epoch draws a fresh order of the training pieces from (seed, epoch) alone, then groups pieces of similar length
(less padding): a resumed run reads exactly the batches a straight run reads, and nothing is carried between batches.
A dataset prepared with `--transpose` also moves each training piece by a shift drawn afresh each epoch from the same
seed (validation and test are never moved): more music to learn from, in every key.
Under torchrun each rank takes its rows of every batch (the trainer weights each rank's mean loss by its share of the
frames, so the ranks' averaged gradient is the one-process gradient of the batch's mean frame loss).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from seqgen.config import TrainConfig
from seqgen.data.frames import KEYS, FramesDataset
from seqgen.errors import UsageError
from seqgen.evaluation.frames import score_frames
from seqgen.evaluation.likelihood import Likelihood
from seqgen.models.frames import padded
from seqgen.training.distributed import ProcessGroup
from seqgen.training.task import Task

BUCKET = 8  # batches whose pieces are sorted by length together: less padding, the order still drawn afresh


def check_pieces(pieces: int, cfg: TrainConfig) -> None:
    if pieces < cfg.batch:
        raise UsageError(
            f"the training split has {pieces:,} pieces, too few for --batch {cfg.batch} (a batch holds whole pieces)",
            f"lower --batch (e.g. --batch {max(1, pieces)}) or add more music",
        )


class FramesTask(Task):
    """Next-frame prediction over whole pieces; the loss is the mean negative log-likelihood per frame (nats)."""

    diverged_above = 2 * KEYS * math.log(2) + 10  # far worse than a coin per key

    def __init__(self, dataset: FramesDataset, cfg: TrainConfig, group: ProcessGroup):
        self.cfg, self.group = cfg, group
        self.train, self.val = dataset.split("train"), dataset.split("val")
        check_pieces(len(self.train), cfg)
        self.rows = group.shard(cfg.batch)  # this rank's pieces of every batch
        self.lengths = self.train.lengths()
        self._steps = len(self.train) // cfg.batch  # whole batches: a different few pieces sit out each epoch
        self._epoch: tuple[int, list[np.ndarray], np.ndarray] | None = None
        self.shifts = np.asarray(sorted(set(dataset.meta.get("transpose") or []) | {0}), dtype=np.int64)  # semitones (prepare --transpose)
        if len(self.shifts) > 1:  # the shifts that keep each piece on the keyboard: (pieces, shifts)
            sounding = [np.flatnonzero(self.train.piece(i).any(0)) for i in range(len(self.train))]
            low = np.array([k[0] if len(k) else 0 for k in sounding])
            high = np.array([k[-1] if len(k) else KEYS - 1 for k in sounding])
            self.fits = (low[:, None] + self.shifts >= 0) & (high[:, None] + self.shifts < KEYS)

    @property
    def steps_per_epoch(self) -> int:
        return self._steps

    def batches_in(self, epoch: int) -> int:
        return self._steps

    def order(self, epoch: int) -> tuple[list[np.ndarray], np.ndarray]:
        """The epoch's batches, as piece indices: a permutation drawn from (seed, epoch), sorted by length within
        windows of BUCKET batches, the batches then shuffled; and each piece's transposition this epoch (semitones)."""
        if self._epoch is None or self._epoch[0] != epoch:
            rng = np.random.default_rng([self.cfg.seed, epoch])
            perm = rng.permutation(len(self.train))[: self._steps * self.cfg.batch]
            window = BUCKET * self.cfg.batch
            for start in range(0, len(perm), window):
                chunk = perm[start : start + window]
                perm[start : start + window] = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches = perm.reshape(self._steps, self.cfg.batch)  # (steps, batch)
            self._epoch = (epoch, list(batches[rng.permutation(self._steps)]), self.transpositions(epoch))
        return self._epoch[1], self._epoch[2]

    def transpositions(self, epoch: int) -> np.ndarray:
        """(pieces,) each training piece's shift this epoch: drawn evenly from the prepared shifts that keep it on the keys."""
        if len(self.shifts) == 1:
            return np.zeros(len(self.train), dtype=np.int64)
        u = np.random.default_rng([self.cfg.seed, epoch, 1]).random(len(self.train))  # its own stream: the order is unchanged
        choice = (u * self.fits.sum(1)).astype(np.int64)  # the choice-th fitting shift
        return self.shifts[np.argmax(np.cumsum(self.fits, axis=1) > choice[:, None], axis=1)]

    def batch(self, epoch: int, index: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
        if index >= self._steps:
            return None
        batches, shifts = self.order(epoch)
        rolls = [np.roll(self.train.piece(int(i)), shifts[i], axis=1) for i in batches[index][self.rows]]  # no key wraps round: the shift fits
        return padded(rolls, device)  # (inputs, frames, mask)

    def loss(self, net: torch.nn.Module, batch: tuple) -> tuple[torch.Tensor, int]:
        nll = net(*batch)  # (this rank's frames,)
        return nll.mean(), nll.numel()  # under torchrun the trainer weights each rank's mean by its share of the frames

    def validate(self, model: torch.nn.Module, device: torch.device, should_stop: Callable[[], bool]) -> Likelihood | None:
        return score_frames(model, self.val, device, should_stop)  # type: ignore[arg-type]

    @property
    def has_validation(self) -> bool:
        return len(self.val) > 0
