"""Learning-rate schedules as pure functions of training progress (0 -> 1) and step."""

from __future__ import annotations

import math

from seqgen.config import TrainConfig


def lr_at(cfg: TrainConfig, step: int, progress: float) -> float:
    """Linear warm-up over `cfg.warmup` steps, then cosine, step or constant decay by progress."""
    warm = min(1.0, (step + 1) / cfg.warmup) if cfg.warmup else 1.0
    progress = min(max(progress, 0.0), 1.0)
    if cfg.schedule == "cosine":
        decay = cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    elif cfg.schedule == "step":
        decay = cfg.step_gamma ** math.floor(progress / cfg.step_every) if cfg.step_every > 0 else 1.0
    else:
        decay = 1.0
    return cfg.lr * warm * decay
