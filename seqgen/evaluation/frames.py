"""Frame-level likelihood, measured as the polyphonic-music literature measures it, and its two baselines.

The figure: the negative log-likelihood of each frame in nats, summed over its 88 keys, averaged over every frame
of the split with each frame counted equally (a longer piece weighs more), frame t + 1 predicted from frames up to
t and the first frame of every piece from an empty state (Boulanger-Lewandowski et al. 2012; Chung et al. 2014;
Bai et al. 2018). The baselines are fitted on the training split and scored on the same frames:
- `marginal`: each key on with its frequency over the training frames (add-one smoothing), frames independent;
- `repeat`: the previous frame again, smoothed: a key sounding in the previous frame is on with P(on | on before),
  another with P(on | off before), both per key, counted over the training frames with add-one smoothing; a piece's
  first frame (no previous one) is scored by `marginal`.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from seqgen.data.frames import KEYS, FramesDataset, FrameSplit
from seqgen.errors import InputError
from seqgen.evaluation.likelihood import Likelihood
from seqgen.models.frames import FramesModel, padded
from seqgen.training.checkpoint import Run

SCORE_BATCH = 32  # pieces per forward pass when scoring


@torch.no_grad()
def score_frames(model: FramesModel, split: FrameSplit, device: torch.device | str = "cpu",
                 should_stop: Callable[[], bool] | None = None, batch: int = SCORE_BATCH) -> Likelihood | None:
    """The model's negative log-likelihood of every frame of every piece (see the module docstring); None if stopped.

    Pieces of similar length are scored together (less padding); the order changes nothing but float rounding."""
    order = np.argsort(split.lengths(), kind="stable")
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        for i in range(0, len(order), batch):
            if should_stop and should_stop():
                return None
            rolls = [split.piece(int(j)) for j in order[i : i + batch]]
            nll = model(*padded(rolls, device))  # (frames in these pieces,)
            total += float(nll.double().sum())
            count += nll.numel()
    finally:
        model.train(was_training)
    return Likelihood(total, count)


def _bernoulli_nll(p: np.ndarray, frames: np.ndarray) -> float:
    """Summed -log p of (F, K) boolean frames under per-key probabilities p (K,) or (F, K)."""
    return float(-(np.where(frames, np.log(p), np.log1p(-p))).sum())


def marginal_probs(train: FrameSplit) -> np.ndarray:
    """(K,) each key's frequency over the training frames, add-one smoothed."""
    on = np.zeros(KEYS, dtype=np.int64)
    for i in range(len(train)):
        on += train.piece(i).sum(0)
    return (on + 1) / (train.frames + 2)


def repeat_probs(train: FrameSplit) -> tuple[np.ndarray, np.ndarray]:
    """(P(on | on before), P(on | off before)), each (K,), counted over consecutive training frames, add-one smoothed."""
    kept = was_on = added = was_off = 0
    for i in range(len(train)):
        roll = train.piece(i)
        before, now = roll[:-1], roll[1:]
        kept, was_on = kept + (before & now).sum(0), was_on + before.sum(0)
        added, was_off = added + (~before & now).sum(0), was_off + (~before).sum(0)
    return (kept + 1) / (was_on + 2), (added + 1) / (was_off + 2)


def baselines(train: FrameSplit, data: FrameSplit) -> dict[str, Likelihood]:
    """The two baselines of the module docstring, fitted on `train` and scored on every frame of `data`."""
    marginal = marginal_probs(train)
    on_on, on_off = repeat_probs(train)
    m_total = r_total = 0.0
    for i in range(len(data)):
        roll = data.piece(i)
        m_total += _bernoulli_nll(marginal, roll)
        r_total += _bernoulli_nll(marginal, roll[:1]) + _bernoulli_nll(np.where(roll[:-1], on_on, on_off), roll[1:])
    return {"marginal": Likelihood(m_total, data.frames), "repeat": Likelihood(r_total, data.frames)}


def figures(lik: Likelihood) -> dict:
    """A frame likelihood as the report's keys."""
    return {"frames": lik.tokens, "nats_per_frame": lik.nats, "bits_per_frame": lik.bits}


def frames_report(run: Run, model: FramesModel, ds: FramesDataset, split: str, device: torch.device, weights: str, seed: int) -> dict:
    """`seqgen eval` of a frames run on a split: the network beside both baselines (keys: README, "eval output")."""
    from seqgen import __version__
    from seqgen.evaluation.report import provenance, vocab_digest

    data = ds.split(split)
    if data.frames == 0:
        raise InputError(f"the {split} split of {ds.path} has no frames to score", "evaluate another --split")
    lik = score_frames(model, data, device)
    assert lik is not None
    return {
        "run": str(run.path), "data": f"{split} split", "level": "frames", "kind": "frames", "grid": ds.grid,
        "output": run.model_config.output, "pieces": len(data), **figures(lik),
        "weights": weights, "weights_sha256": run.config["digests"][weights], "seqgen_version": __version__,
        "baselines": {name: figures(fig) for name, fig in baselines(ds.split("train"), data).items()},
        "provenance": provenance(run, device, seed, ds.path, vocab_digest(ds.meta["vocab"])),
    }
