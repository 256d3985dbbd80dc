"""Reading and writing run folders safely.

A checkpoint spans several files (weights, optimizer state, config.json with their digests), so it is
committed like a small journal: new files are written and fsynced under pending names, config.json is
replaced atomically with their digests (the commit point), then the pending files are renamed into place.
A reader that finds a pending file matching config.json's digest finishes the renames (roll forward), so
`kill -9` at any moment leaves either the old checkpoint or the new one, never a mix.
Nothing is unpickled: weights are safetensors, state.pt is read with `weights_only=True`.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_model, save_model

from seqgen import __version__
from seqgen.config import ModelConfig, TrainConfig, from_dict, to_dict
from seqgen.dataset import check_output_folder
from seqgen.errors import RunError, SeqgenError, UsageError
from seqgen.files import atomic_write_json, fsync_dir, sha256_file
from seqgen.model import RNNLanguageModel
from seqgen.tokenizers import Tokenizer, tokenizer_from_meta

FORMAT = "seqgen-run"
FORMAT_VERSION = 1
BEST, LAST, STATE, CONFIG, METRICS = "model.safetensors", "last.safetensors", "state.pt", "config.json", "metrics.jsonl"


def _pending(run: Path, name: str) -> Path:
    return run / f".{name}.pending"


@dataclass
class Run:
    path: Path
    config: dict

    @property
    def model_config(self) -> ModelConfig:
        return from_dict(ModelConfig, self.config["model"], f"{self.path / CONFIG} [model]")

    @property
    def train_config(self) -> TrainConfig:
        return from_dict(TrainConfig, self.config["train"], f"{self.path / CONFIG} [train]")

    @property
    def dataset_meta(self) -> dict:
        return self.config["dataset"]

    def tokenizer(self) -> Tokenizer:
        return tokenizer_from_meta(self.config["dataset"])

    def has_weights(self, name: str = BEST) -> bool:
        return name in self.config.get("digests", {})


def new_config(model_cfg: ModelConfig, train_cfg: TrainConfig, dataset_path: Path, dataset_meta: dict) -> dict:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "seqgen_version": __version__,
        "model": to_dict(model_cfg),
        "train": to_dict(train_cfg),
        "dataset_path": str(dataset_path),
        "dataset": dataset_meta,
        "digests": {},
    }


def open_run(path: Path) -> Run:
    """Read a run folder's config.json, finishing an interrupted checkpoint commit if there is one."""
    path = Path(path)
    cfg_path = path / CONFIG
    if not path.is_dir():
        raise UsageError(f"{path} is not a run folder", "train one with `seqgen train DATASET --out RUN`")
    if not cfg_path.is_file():
        raise RunError(f"{path} has no {CONFIG}; it is not a complete run folder", "train one with `seqgen train`")
    try:
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunError(f"{cfg_path} is corrupt ({exc})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise RunError(f"{cfg_path} is not a seqgen run description")
    version = config.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise RunError(
            f"{path} was written by a newer seqgen ({config.get('seqgen_version', '?')}, run format {version})",
            f"upgrade seqgen; this is {__version__}, which reads run format {FORMAT_VERSION}",
        )
    for key in ("model", "train", "dataset", "digests"):
        if key not in config:
            raise RunError(f"{cfg_path} lacks its {key!r} section; the run is corrupt")
    _roll_forward(path, config["digests"])
    return Run(path, config)


def _roll_forward(path: Path, digests: dict[str, str]) -> None:
    for name, digest in digests.items():
        pending = _pending(path, name)
        if pending.exists():
            if (path / name).exists() and sha256_file(path / name) == digest:
                pending.unlink(missing_ok=True)  # commit had finished; a stale leftover
            elif sha256_file(pending) == digest:
                os.replace(pending, path / name)
    for leftover in path.glob(".*.pending"):
        leftover.unlink(missing_ok=True)  # written but never committed: the old checkpoint stands


def verified(run: Run, name: str) -> Path:
    """Path of a weights/state file whose SHA-256 matches config.json; a clear error otherwise."""
    file = run.path / name
    digest = run.config["digests"].get(name)
    if digest is None:
        raise RunError(f"{run.path} has no {name} yet", "train longer, or resume the run")
    if not file.is_file():
        raise RunError(f"{file} is missing", "the run folder is incomplete; copy it again or retrain")
    if sha256_file(file) != digest:
        raise RunError(
            f"{file} does not match the digest in {CONFIG} (truncated, corrupted or from another run)",
            "copy the run folder again or retrain; it was not loaded",
        )
    return file


def load_model_from(run: Run, name: str = BEST, device: torch.device | str = "cpu") -> RNNLanguageModel:
    file = verified(run, name)
    model = RNNLanguageModel(run.model_config)
    try:
        missing, unexpected = load_model(model, str(file), strict=False, device=str(device))
    except Exception as exc:  # safetensors raises several types for a bad header or shape
        raise RunError(f"{file} cannot be loaded as this run's model: {exc}") from None
    if missing or unexpected:
        raise RunError(f"{file} does not fit this run's model (missing {sorted(missing)}, unexpected {sorted(unexpected)})")
    return model.to(device)


def load_state(run: Run) -> dict[str, Any]:
    file = verified(run, STATE)
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # an UnpicklingError for anything but tensors and plain values
        raise RunError(f"{file} cannot be read safely ({type(exc).__name__}); it was not loaded", "retrain or copy the run again") from None


def save_checkpoint(run: Run, model: torch.nn.Module, state: dict[str, Any], best: bool) -> None:
    """Commit last weights + state (and best weights when `best`) as one unit; see the module docstring."""
    files: dict[str, Path] = {}
    try:
        files[LAST] = _pending(run.path, LAST)
        save_model(model, str(files[LAST]))
        if best:
            files[BEST] = _pending(run.path, BEST)
            save_model(model, str(files[BEST]))
        files[STATE] = _pending(run.path, STATE)
        torch.save(state, files[STATE])
        for file in files.values():
            with open(file, "rb+") as fh:
                os.fsync(fh.fileno())
        digests = dict(run.config["digests"])
        digests.update({name: sha256_file(file) for name, file in files.items()})
        new_config = {**run.config, "digests": digests}
        atomic_write_json(run.path / CONFIG, new_config)  # the commit point
    except OSError as exc:
        for file in files.values():
            file.unlink(missing_ok=True)
        raise SeqgenError(
            f"cannot write a checkpoint in {run.path}: {exc.strerror or exc}",
            "free disk space or fix permissions; the previous checkpoint is intact",
        ) from None
    except BaseException:
        for file in files.values():
            file.unlink(missing_ok=True)
        raise
    run.config = new_config
    for name, file in files.items():
        os.replace(file, run.path / name)
    fsync_dir(run.path)


def create_run(path: Path, config: dict, force: bool) -> Run:
    path = Path(path)
    check_output_folder(path, force, "run")
    path.mkdir(parents=True, exist_ok=True)
    for name in (BEST, LAST, STATE, METRICS):
        (path / name).unlink(missing_ok=True)
    atomic_write_json(path / CONFIG, config)
    return Run(path, config)


class RunLock:
    """An advisory lock on the run folder: a second `train` refuses; the OS drops it if we crash."""

    def __init__(self, path: Path):
        self.file = Path(path) / ".lock"
        self.fh = None

    def __enter__(self) -> "RunLock":
        self.fh = open(self.file, "a+")
        try:
            fcntl.flock(self.fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.fh.close()
            raise UsageError(f"another seqgen process is training in {self.file.parent}", "wait for it to finish or stop it first") from None
        self.fh.seek(0)
        self.fh.truncate()
        self.fh.write(f"{os.getpid()}\n")
        self.fh.flush()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fh:
            fcntl.flock(self.fh.fileno(), fcntl.LOCK_UN)
            self.fh.close()
