"""What a kind of model brings to the one training loop: its batches, its loss and its validation score.

The trainer (`seqgen.training.trainer`) does everything else the same way for every model: optimizer, schedule,
clipping, budgets, validation cadence and patience, best-weights keeping, checkpoints, exact resume, signals,
torchrun and metrics rows. A new kind of model adds a Task, not a second loop.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable

import torch

from seqgen.evaluation.likelihood import Likelihood


class Task(ABC):
    """Batches of one dataset for one model, the loss on a batch, and the score on the validation split.

    Batches are addressed by (epoch, index) and depend only on those and the seed, so a resumed run reads exactly the
    batches a straight run reads. Under torchrun each rank's Task yields that rank's share of every batch."""

    diverged_above: float = float("inf")  # a training loss above this (far worse than guessing) is divergence

    @property
    @abstractmethod
    def steps_per_epoch(self) -> int:
        """Optimizer steps in one pass over the training split (what --epochs counts)."""

    @abstractmethod
    def batch(self, epoch: int, index: int, device: torch.device) -> Any | None:
        """The `index`-th batch of `epoch` on `device`, or None once the epoch has no more."""

    def new_epoch(self) -> None:
        """Called before an epoch's first batch (a language model forgets the state it carried)."""

    @abstractmethod
    def loss(self, net: torch.nn.Module, batch: Any) -> tuple[torch.Tensor, int]:
        """The mean loss over the batch's predictions (nats) and how many predictions it made (tokens, frames)."""

    @abstractmethod
    def validate(self, model: torch.nn.Module, device: torch.device, should_stop: Callable[[], bool]) -> Likelihood | None:
        """The model's likelihood of the validation split (None if `should_stop` cut the pass short)."""

    @property
    def has_validation(self) -> bool:
        return True

    def carried(self) -> list[torch.Tensor]:
        """State carried from one batch to the next (all ranks' rows), for checkpoints; most tasks carry none."""
        return []

    def restore_carried(self, tensors: list[torch.Tensor], device: torch.device) -> None:
        """Take back what `carried` saved (this rank's rows)."""
