"""A run's mixture of its network with the 5-gram of its training split: fitted when `train` ends, read by `sample`
and `eval`.

`train` fits λ on the first FIT_TOKENS of the validation split with the best weights and writes, in the run
folder, `mixture.json` (λ, the three figures on those tokens, and whether the mixture beat the network there) and
`ngram.safetensors` (the n-gram's tables, so sampling never refits it and the run needs no dataset). The n-gram
itself is fitted once per dataset and kept beside it (`seqgen.evaluation.ngram.dataset_ngram`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from seqgen.data.dataset import Dataset
from seqgen.evaluation.likelihood import token_nll
from seqgen.evaluation.ngram import KneserNey, dataset_ngram, load_ngram, save_ngram
from seqgen.files import atomic_write_bytes, sha256_file
from seqgen.models.mixture import fit_weight, mixed_nll
from seqgen.training.checkpoint import BEST, Run

MIXTURE = "mixture.json"
NGRAM = "ngram.safetensors"
ORDER = 5  # the n-gram `eval` reports as the baseline
FIT_TOKENS = 50_000  # validation tokens λ is fitted on: one number, known to ±0.01 from this many; a pass of 2×512 on one thread takes ~4 s
MIN_GAIN = 1e-3  # nats per token the mixture must gain on the fit tokens for `sample` to draw from it

Log = Callable[[str], None]


@dataclass
class MixtureFit:
    order: int
    weight: float  # λ, the network's share
    tokens: int  # validation tokens λ was fitted on
    network: float  # nats per token on those tokens, of the network alone
    ngram: float  # ... of the n-gram alone
    mixture: float  # ... of the mixture
    weights_sha256: str  # the weights it was fitted with: a resumed run that changes them must fit again
    ngram_sha256: str

    @property
    def better(self) -> bool:
        """Whether `sample` draws from the mixture: it beat the network alone on validation."""
        return self.mixture < self.network - MIN_GAIN


def fit_run_mixture(run: Run, ds: Dataset, model: torch.nn.Module, device: torch.device, log: Log) -> MixtureFit | None:
    """Fit λ for the run's best weights (`model`) on its validation split and write the run's mixture files."""
    val = np.asarray(ds.split("val"))
    if len(val) < 2:
        log("note: no validation split, so no mixture with the n-gram (sample draws from the network)")
        return None
    train = np.asarray(ds.split("train"))
    if not (Path(ds.path) / f"ngram-{ORDER}.safetensors").is_file() and len(train) > 2_000_000:
        log(f"fitting the {ORDER}-gram of {len(train):,} training tokens for the mixture (once per dataset, about {len(train) / 500_000:.0f} s)")
    kn = dataset_ngram(ds.path, train, len(ds.vocab), ORDER)
    held = val[: FIT_TOKENS + 1]
    nll = token_nll(model, held, run.train_config.batch, run.train_config.seq_len, device)
    assert nll is not None
    p_net, p_ngram = np.exp(-nll), kn.stream_probs(held)
    weight = fit_weight(p_net, p_ngram)
    n = len(nll)
    ngram_path = run.path / NGRAM
    if not save_ngram(kn, ngram_path, train):  # the tables in memory, so the run needs no dataset to sample
        raise OSError(f"cannot write {ngram_path}")
    fit = MixtureFit(ORDER, weight, n, float(nll.sum()) / n, float(-np.log(p_ngram).sum()) / n, mixed_nll(p_net, p_ngram, weight) / n,
                     sha256_file(run.path / "model.safetensors"), sha256_file(ngram_path))
    atomic_write_bytes(run.path / MIXTURE, (json.dumps(asdict(fit), indent=2) + "\n").encode("utf-8"))
    return fit


def load_run_mixture(run: Run, weights: str) -> tuple[MixtureFit, KneserNey] | str:
    """The run's fitted mixture and n-gram, or why there is none to use (a line for the user)."""
    path = run.path / MIXTURE
    if not path.is_file():
        return "the run has no mixture (trained before seqgen fitted one, or stopped before the end)"
    try:
        fit = MixtureFit(**json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError):
        return f"{path} is unreadable"
    if weights != BEST or fit.weights_sha256 != run.config.get("digests", {}).get(BEST):
        return "the mixture was fitted for other weights (the best ones of the finished run)"
    kn = load_ngram(run.path / NGRAM) if (run.path / NGRAM).is_file() else None
    if kn is None or sha256_file(run.path / NGRAM) != fit.ngram_sha256:
        return f"{run.path / NGRAM} is missing or changed"
    return fit, kn
