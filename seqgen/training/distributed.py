"""Training in several processes under `torchrun` (DistributedDataParallel): who this process is, and
the few collective operations the trainer needs.

Each rank trains its share of the `--batch` parallel streams; DDP averages the gradients, so N ranks
with B/N streams each take the same steps as one process with B streams (to float rounding). Rank 0
alone writes the run folder. A single process (no torchrun) gets `SingleProcess`, whose methods cost nothing.

Random streams: every rank seeds torch with `--seed` and so draws the same initial weights (DDP would copy rank 0's
anyway). From the first step each rank draws its own dropout masks, as the streams of one process's batch would:
rank 0 keeps the stream one process would have, so a single process is unchanged, and every other rank switches to
a stream seeded from the seed and its rank. The data order does not use torch's generator, so it is not affected.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from datetime import timedelta

import numpy as np
import torch
from torch import distributed as dist

from seqgen.errors import UsageError
from seqgen.models.rnn_lm import State


class ProcessGroup(ABC):
    """The processes a run trains in, as the trainer sees them: this process's rank among `world`, the share of the
    `--batch` streams it trains, and the few collectives it needs. `SingleProcess` or `DistributedGroup`."""

    def __init__(self, rank: int = 0, world: int = 1, local_rank: int = 0):
        self.rank, self.world, self.local_rank = rank, world, local_rank

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes the run folder."""
        return self.rank == 0

    def shard(self, batch: int) -> slice:
        """The streams (rows of the (batch, ...) stream view) this rank trains."""
        if batch % self.world:
            raise UsageError(
                f"--batch {batch} does not split evenly over {self.world} processes",
                f"use a multiple of {self.world}, e.g. --batch {batch - batch % self.world or self.world}",
            )
        per = batch // self.world
        return slice(self.rank * per, (self.rank + 1) * per)

    def own_random_stream(self, seed: int, step: int = 0) -> None:
        """From here on, draw dropout masks from this rank's own stream (see the module docstring); rank 0 keeps its.

        `step` is where the stream starts: a rank that joins a resumed run at step N gets a stream no rank used before.
        """
        if self.rank:
            torch.manual_seed(rank_seed(seed, self.rank, step))  # the CPU and every GPU generator

    def gather_state(self, state: State | None) -> State | None:
        """All ranks' recurrent states joined along the batch: (L, B/N, H) each -> (L, B, H)."""
        if state is None or self.world == 1:
            return state
        parts = list(state) if isinstance(state, tuple) else [state]
        joined = [torch.cat(self.gather(part), dim=1) for part in parts]  # (L, B, H), rank order = stream order
        return tuple(joined) if isinstance(state, tuple) else joined[0]

    @abstractmethod
    def wrap(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        """The module the training step calls: the model, or DDP around it."""

    @abstractmethod
    def agree(self, values: list[float]) -> list[float]:
        """The maximum of each value over all ranks (stop flags, budget used), so all ranks decide alike."""

    @abstractmethod
    def mean(self, values: list[float]) -> list[float]:
        """The mean of each value over all ranks."""

    @abstractmethod
    def gather(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        """Every rank's `tensor` (the same shape on each), in rank order."""

    @abstractmethod
    def barrier(self) -> None:
        """Wait until every rank is here."""

    @abstractmethod
    def close(self) -> None:
        """Leave the group."""


class SingleProcess(ProcessGroup):
    """One process (no torchrun): rank 0 of 1; every collective is the identity and costs nothing."""

    def wrap(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        return model

    def agree(self, values: list[float]) -> list[float]:
        return values

    def mean(self, values: list[float]) -> list[float]:
        return values

    def gather(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        return [tensor]

    def barrier(self) -> None:
        pass

    def close(self) -> None:
        pass


class DistributedGroup(ProcessGroup):
    """One of several processes started by torchrun; gloo on the CPU, NCCL on CUDA."""

    def __init__(self, rank: int, world: int, local_rank: int, device: torch.device):
        super().__init__(rank, world, local_rank)
        self.device = device
        if not dist.is_initialized():
            backend = "nccl" if device.type == "cuda" else "gloo"
            dist.init_process_group(backend, rank=rank, world_size=world, timeout=timedelta(minutes=60))

    def wrap(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def _reduce(self, values: list[float], op) -> list[float]:
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t, op=op)
        return t.tolist()

    def agree(self, values: list[float]) -> list[float]:
        return self._reduce(values, dist.ReduceOp.MAX)

    def mean(self, values: list[float]) -> list[float]:
        return [v / self.world for v in self._reduce(values, dist.ReduceOp.SUM)]

    def gather(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        tensor = tensor.to(self.device).contiguous()  # NCCL gathers only GPU tensors
        pieces = [torch.empty_like(tensor) for _ in range(self.world)]
        dist.all_gather(pieces, tensor)
        return pieces

    def barrier(self) -> None:
        dist.barrier()

    def close(self) -> None:
        if dist.is_initialized():
            dist.destroy_process_group()


def rank_seed(seed: int, rank: int, step: int = 0) -> int:
    """The seed of a rank's own random stream: independent of every other (seed, rank, step) (numpy's SeedSequence)."""
    return int(np.random.SeedSequence(seed, spawn_key=(rank, step)).generate_state(1, np.uint64)[0])


def launched() -> tuple[int, int, int] | None:
    """(rank, world size, local rank) when torchrun started this process with more than one rank."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return None
    return int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0"))


def local_device(device: torch.device, local_rank: int) -> torch.device:
    """One GPU per process on a machine: rank i on cuda:i (when --device names no index)."""
    if device.type == "cuda" and device.index is None:
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return device


def setup(device: torch.device) -> tuple[ProcessGroup, torch.device]:
    """The process group for this process (SingleProcess outside torchrun) and the device it trains on."""
    found = launched()
    if found is None:
        return SingleProcess(), device
    rank, world, local_rank = found
    device = local_device(device, local_rank)
    return DistributedGroup(rank, world, local_rank, device), device


def is_main_process() -> bool:
    """True outside torchrun and on rank 0: the one process that writes the run folder."""
    found = launched()
    return found is None or found[0] == 0
