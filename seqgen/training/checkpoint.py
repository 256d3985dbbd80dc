"""Reading and writing run folders safely.

A checkpoint spans several files (weights, optimizer state, config.json with their digests), so it is
committed like a small journal: new files are written and fsynced under pending names, config.json is
replaced atomically with their digests (the commit point), then the pending files are renamed into place.
`kill -9` at any moment leaves either the old checkpoint or the new one, never a mix: a trainer that opens the
run (holding its lock) finishes the renames (roll forward) or deletes uncommitted leftovers, and a reader that
finds a pending file matching config.json's digest reads that one. Readers never change the folder, so
`sample` or `eval` beside a running `train` cannot disturb its checkpoint.
Nothing is unpickled: weights are safetensors, state.pt is read with `weights_only=True`.
"""

from __future__ import annotations

import copy
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from filelock import FileLock, Timeout
from safetensors.torch import load_model, save_model

from seqgen import __version__
from seqgen.config import MODEL_CONFIGS, TrainConfig, from_dict, to_dict
from seqgen.data.dataset import check_output_folder
from seqgen.errors import RunError, SeqgenError, UsageError
from seqgen.files import atomic_write_json, fsync_dir, read_description, replace, sha256_file

FORMAT = "seqgen-run"
FORMAT_VERSION = 2  # 2: config.json names its model ("arch"); version-1 runs are language models
BEST, LAST, STATE, CONFIG, METRICS = "model.safetensors", "last.safetensors", "state.pt", "config.json", "metrics.jsonl"


def _pending(run: Path, name: str) -> Path:
    return run / f".{name}.pending"


@dataclass
class Run:
    path: Path
    config: dict

    @property
    def arch(self) -> str:
        """The kind of model the run trains (runs from before encoder-decoders say nothing: a language model)."""
        return self.config.get("arch", "rnn_lm")

    @property
    def model_config(self) -> Any:
        if self.arch not in MODEL_CONFIGS:
            raise RunError(f"{self.path / CONFIG} names an unknown model {self.arch!r}", "upgrade seqgen")
        return self._section(MODEL_CONFIGS[self.arch], "model")

    @property
    def train_config(self) -> TrainConfig:
        return self._section(TrainConfig, "train")

    def _section(self, cls: type, key: str) -> Any:
        what = f"{self.path / CONFIG} [{key}]"
        cfg = from_dict(cls, self.config[key], what)
        try:
            cfg.check()
        except UsageError as exc:  # a setting out of range in a file, not on the command line: exit 1
            raise RunError(f"{what}: {exc.message}; the run is corrupt") from None
        return cfg

    @property
    def dataset_meta(self) -> dict:
        return self.config["dataset"]

    def has_weights(self, name: str = BEST) -> bool:
        return name in self.config.get("digests", {})


def new_config(model_cfg: Any, train_cfg: TrainConfig, dataset_path: Path, dataset_meta: dict) -> dict:
    arch = next(name for name, cls in MODEL_CONFIGS.items() if isinstance(model_cfg, cls))
    return {
        "format": FORMAT,
        "format_version": 1 if arch == "rnn_lm" else FORMAT_VERSION,  # a seqgen that knows only language models refuses the others
        "seqgen_version": __version__,
        "arch": arch,
        "model": to_dict(model_cfg),
        "train": to_dict(train_cfg),
        "dataset_path": str(dataset_path),
        "dataset": dataset_meta,
        "digests": {},
    }


def open_run(path: Path, recover: bool = False) -> Run:
    """Read a run folder's config.json; with `recover` (only under the RunLock), finish or undo an interrupted commit."""
    path = Path(path)
    cfg_path = path / CONFIG
    if not path.is_dir():
        raise UsageError(f"{path} is not a run folder", "train one with `seqgen train DATASET --out RUN`")
    if not cfg_path.is_file():
        raise RunError(f"{path} has no {CONFIG}; it is not a complete run folder", "train one with `seqgen train`")
    config = read_description(path, CONFIG, FORMAT, FORMAT_VERSION, "run")
    for key in ("model", "train", "dataset", "digests"):
        if not isinstance(config.get(key), dict):
            raise RunError(f"{cfg_path} lacks its {key!r} section; the run is corrupt")
    run = Run(path, config)
    run.model_config, run.train_config  # refuse wrong types and impossible values now, not deep inside a verb
    if recover:
        try:
            _roll_forward(path, config["digests"])
        except OSError as exc:
            raise SeqgenError(f"cannot repair the run folder {path}: {exc.strerror or exc}", "check its permissions") from None
    return run


def _roll_forward(path: Path, digests: dict[str, str]) -> None:
    for name, digest in digests.items():
        pending = _pending(path, name)
        if pending.exists():
            if (path / name).exists() and sha256_file(path / name) == digest:
                pending.unlink(missing_ok=True)  # commit had finished; a stale leftover
            elif sha256_file(pending) == digest:
                replace(pending, path / name)
    for leftover in [*path.glob(".*.pending"), *path.glob(".*.tmp")]:
        leftover.unlink(missing_ok=True)  # written but never committed: the old checkpoint stands
    fsync_dir(path)


def _disk_digests(path: Path) -> dict | None:
    try:
        return json.loads((path / CONFIG).read_text(encoding="utf-8")).get("digests")
    except (OSError, ValueError, AttributeError):
        return None


def verified(run: Run, name: str) -> Path:
    """Path of a weights/state file whose SHA-256 matches config.json; a clear error otherwise.

    A trainer may be checkpointing meanwhile: its committed-but-not-yet-renamed pending file is accepted, and
    config.json is read again when the file has moved on since we read it.
    """
    file = run.path / name
    for _ in range(5):
        digest = run.config["digests"].get(name)
        if digest is None:
            break
        for candidate in (file, _pending(run.path, name), file):
            try:
                if sha256_file(candidate) == digest:
                    return candidate
            except OSError:
                continue
        fresh = _disk_digests(run.path)
        if not fresh or fresh == run.config["digests"]:
            break
        run.config = {**run.config, "digests": fresh}
    if run.config["digests"].get(name) is None:
        raise RunError(f"{run.path} has no {name} yet", f"train longer, or continue it with `seqgen train --resume {run.path}`")
    if not file.is_file():
        raise RunError(f"{file} is missing", "the run folder is incomplete; copy it again or retrain")
    raise RunError(
        f"{file} does not match the digest in {CONFIG} (truncated, corrupted or from another run)",
        "copy the run folder again or retrain; it was not loaded",
    )


def load_weights(run: Run, model: torch.nn.Module, name: str = BEST, device: torch.device | str = "cpu") -> torch.nn.Module:
    """`model` (built from the run's settings) with the weights file `name`, verified against its digest first."""
    for attempt in range(3):
        file = verified(run, name)
        try:
            missing, unexpected = load_model(model, str(file), strict=False, device=str(device))
            break
        except Exception as exc:  # safetensors raises several types for a bad header or shape
            if not file.exists() and attempt < 2:
                continue  # a trainer beside us renamed its new checkpoint into place meanwhile: look again
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


class _Sink:
    """The file torch.save writes through: keeps the OSError that torch would turn into a vague RuntimeError."""

    def __init__(self, fh: Any):
        self.fh, self.error = fh, None

    def write(self, data: bytes) -> int:
        try:
            return self.fh.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def flush(self) -> None:
        self.fh.flush()


def _save_state(state: dict[str, Any], path: Path) -> None:
    with open(path, "wb") as fh:
        sink = _Sink(fh)
        try:
            torch.save(state, sink)
        except RuntimeError:
            if sink.error is not None:
                raise sink.error from None
            raise


def _owns_storage(t: torch.Tensor) -> bool:
    return t.untyped_storage().nbytes() == t.numel() * t.element_size()


def saveable(model: torch.nn.Module) -> torch.nn.Module:
    """`model`, or a CPU copy whose every parameter owns its storage: on a GPU, cuDNN keeps an RNN's weights as views
    of one flat buffer, and safetensors refuses to save a tensor that covers only part of its storage."""
    if all(_owns_storage(p) for p in model.parameters()):
        return model
    clone = copy.deepcopy(model).cpu()  # .cpu() copies each GPU view on its own; views on the CPU are cut loose below
    with torch.no_grad():
        for module in clone.modules():
            for name, p in module._parameters.items():
                if p is not None and not _owns_storage(p):
                    module._parameters[name] = torch.nn.Parameter(p.detach().clone(), requires_grad=p.requires_grad)
    return clone


def _save_weights(model: torch.nn.Module, path: Path) -> None:
    try:
        save_model(saveable(model), str(path))
    except Exception as exc:  # safetensors reports I/O failures as SafetensorError("... (os error 28)")
        code = re.search(r"os error (\d+)", str(exc))
        if code is None:
            raise
        raise OSError(int(code.group(1)), os.strerror(int(code.group(1)))) from None


def save_checkpoint(run: Run, model: torch.nn.Module, state: dict[str, Any], best: bool) -> None:
    """Commit last weights + state (and best weights when `best`) as one unit; see the module docstring."""
    files: dict[str, Path] = {}
    committing: dict | None = None
    try:
        files[LAST] = _pending(run.path, LAST)
        _save_weights(model, files[LAST])
        if best:
            files[BEST] = _pending(run.path, BEST)
            _save_weights(model, files[BEST])
        files[STATE] = _pending(run.path, STATE)
        _save_state(state, files[STATE])
        for file in files.values():
            with open(file, "rb+") as fh:
                os.fsync(fh.fileno())
        digests = dict(run.config["digests"])
        digests.update({name: sha256_file(file) for name, file in files.items()})
        committing = {**run.config, "digests": digests}
        atomic_write_json(run.path / CONFIG, committing)  # the commit point
    except BaseException as exc:
        if committing is not None and _disk_digests(run.path) == committing["digests"]:
            # Stopped (a second Ctrl-C) after config.json was replaced: the pending files ARE the checkpoint now;
            # the next `train --resume` renames them and readers accept them meanwhile. Deleting them would lose it.
            run.config = committing
            raise
        for file in files.values():
            file.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise SeqgenError(
                f"cannot write a checkpoint in {run.path}: {exc.strerror or exc}",
                "free disk space or fix permissions; the previous checkpoint is intact",
            ) from None
        raise
    run.config = committing
    for name, file in files.items():
        replace(file, run.path / name)
    fsync_dir(run.path)


def create_run(path: Path, config: dict, force: bool) -> Run:
    path = Path(path)
    check_output_folder(path, force, "run")
    path.mkdir(parents=True, exist_ok=True)
    for name in (BEST, LAST, STATE, METRICS):
        (path / name).unlink(missing_ok=True)
    for leftover in [*path.glob(".*.pending"), *path.glob(".*.tmp")]:
        leftover.unlink(missing_ok=True)  # an older run's interrupted checkpoint
    atomic_write_json(path / CONFIG, config)
    return Run(path, config)


class RunLock:
    """An advisory lock on the run folder: a second `train` refuses; the OS drops it if we crash.

    filelock takes an flock on POSIX and a LockFileEx lock on Windows, both released by the operating system when
    the process dies. On release the POSIX lock leaves `.lock` in place and the Windows one deletes it; either way
    the folder is still a run folder to `check_output_folder`, which ignores `.lock`.
    """

    def __init__(self, path: Path):
        self.file = Path(path) / ".lock"
        self.lock = FileLock(self.file, timeout=0)  # one attempt: a second trainer is refused, not kept waiting

    def __enter__(self) -> "RunLock":
        hint = "training needs a run folder it can write; copy the run somewhere writable"
        if self.file.parent.is_dir() and not os.access(self.file.parent, os.W_OK | os.X_OK):
            raise SeqgenError(f"cannot train in {self.file.parent}: the folder is not writable", hint)
        try:
            self.lock.acquire()
        except Timeout:  # before OSError: filelock's Timeout is a TimeoutError
            raise UsageError(f"another seqgen process is training in {self.file.parent}", "wait for it to finish or stop it first") from None
        except OSError as exc:
            raise SeqgenError(f"cannot train in {self.file.parent}: {exc.strerror or exc}", hint) from None
        return self

    def __exit__(self, *exc: object) -> None:
        self.lock.release()
