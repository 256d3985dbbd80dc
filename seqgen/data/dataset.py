"""The dataset folder: meta.json plus flat token-id files, and batches for truncated BPTT.

Ids are read through numpy.memmap, so memory does not grow with the corpus.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator

import numpy as np

from seqgen import __version__
from seqgen.data.tokenizers import Tokenizer
from seqgen.data.vocab import Vocabulary
from seqgen.errors import RunError, SeqgenError, UsageError
from seqgen.files import atomic_write_json, fsync_dir, read_description

FORMAT = "seqgen-dataset"
FORMAT_VERSION = 1
SPLITS = ("train", "val", "test")


def seqgen_folder_kind(path: Path) -> str | None:
    """"dataset" or "run" for a folder seqgen wrote (recognised by its meta.json or config.json), else None."""
    for name, kind in (("meta.json", "dataset"), ("config.json", "run")):
        try:
            data = json.loads((path / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("format") == f"seqgen-{kind}":
            return kind
    return None


def check_output_folder(out: Path, force: bool, what: str) -> None:
    """Refuse to overwrite: an existing folder is replaced only with --force, and only if seqgen made it as a `what`."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} exists and is not a folder", "choose another --out")
    if out.is_dir() and any(p.name != ".lock" for p in out.iterdir()):
        if not force:
            raise UsageError(f"{out} already exists", f"pass --force to replace the {what}, or choose another --out")
        kind = seqgen_folder_kind(out)
        if kind is None:
            raise UsageError(f"{out} is not a folder seqgen made; refusing to replace it", "choose another --out")
        if kind != what:
            raise UsageError(f"{out} is a seqgen {kind} folder, not a {what}; refusing to replace it", "choose another --out")


class FolderWriter:
    """A dataset folder written under a hidden name beside `out` and renamed into place only when complete, so a crash
    or a full disk never leaves half a dataset (and the old one, replaced with --force, stands until the rename)."""

    def __init__(self, out: Path, force: bool = False):
        self.out = Path(out)
        check_output_folder(self.out, force, "dataset")
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.out.parent / f".{self.out.name}.tmp-{os.getpid()}"
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir()
        self.files: dict[str, BinaryIO] = {}

    def file(self, name: str) -> BinaryIO:
        """The open file `name` inside the folder being written."""
        if name not in self.files:
            self.files[name] = open(self.tmp / name, "wb")
        return self.files[name]

    def commit(self, meta: dict) -> Path:
        for fh in self.files.values():
            fh.flush()
            os.fsync(fh.fileno())
            fh.close()
        atomic_write_json(self.tmp / "meta.json", {"format": FORMAT, "format_version": FORMAT_VERSION, "seqgen_version": __version__, **meta})
        old = self.out.parent / f".{self.out.name}.old-{os.getpid()}"
        if self.out.exists():
            os.replace(self.out, old)
        os.replace(self.tmp, self.out)
        fsync_dir(self.out.parent)
        shutil.rmtree(old, ignore_errors=True)
        return self.out

    def abort(self) -> None:
        for fh in self.files.values():
            fh.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> "FolderWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()


class DatasetWriter(FolderWriter):
    """A token-stream dataset: each split's ids, flat, in `{split}.bin`."""

    def __init__(self, out: Path, vocab: Vocabulary, force: bool = False):
        super().__init__(out, force)
        self.vocab = vocab
        self.dtype = vocab.dtype
        self.counts = {s: 0 for s in SPLITS}
        for split in SPLITS:
            self.file(f"{split}.bin")

    def write(self, split: str, ids: np.ndarray) -> None:
        if len(ids):
            self.file(f"{split}.bin").write(np.asarray(ids).astype(self.dtype, copy=False).tobytes())
            self.counts[split] += len(ids)

    def commit(self, meta: dict) -> Path:
        return super().commit({**meta, "vocab": self.vocab.to_meta(), "dtype": self.dtype.str, "splits": dict(self.counts)})


def write_dataset(out: Path, tokenizer: Tokenizer, force: bool, fill: Callable[[DatasetWriter], None],
                  sources: list[dict], skipped: list[tuple[str, str]], stats: dict) -> dict[str, int]:
    """Write a whole dataset folder: `fill(writer)` writes the ids, then meta.json commits it; returns the split sizes.

    Every prepare (text, music) ends here, so they describe their datasets alike and a full disk or a folder that
    cannot be written is one line, with any previous dataset in `out` left as it was."""
    try:
        with DatasetWriter(Path(out), tokenizer.vocab, force) as writer:
            fill(writer)
            writer.commit({
                "kind": tokenizer.kind,
                "level": tokenizer.level,
                "tokenizer": tokenizer.settings,
                "sources": sources,
                "skipped": [{"name": n, "reason": r} for n, r in skipped],
                "stats": stats,
            })
            return dict(writer.counts)
    except OSError as exc:
        raise SeqgenError(f"cannot write the dataset to {out}: {exc.strerror or exc}", "check free space and permissions") from None


def split_of(key: str, val: float, test: float) -> str:
    """The split of the item (a piece, a pair) with this key, whatever the other items are: a fixed threshold on its
    hash, so adding items never moves one between train, validation and test."""
    u = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64  # uniform in [0, 1)
    return "val" if u < val else "test" if u >= 1 - test else "train"


def split_sizes(total: int, val: float, test: float) -> dict[str, int]:
    """Contiguous split sizes: train first, then validation, then test at the end."""
    n_val, n_test = int(round(total * val)), int(round(total * test))
    return {"train": total - n_val - n_test, "val": n_val, "test": n_test}


def duplicate_reason(seen: dict[str, str], digest: str, name: str) -> str | None:
    """None the first time a content (its SHA-256) is met, remembering `name`; after that the skip reason naming it.

    A folder of licences or documentation often holds the same text as a file, a symbolic link and a copy; read
    every time, it would weigh double in training and could sit in training and validation at once."""
    if digest in seen:
        return "listed twice" if seen[digest] == name else f"duplicate (same content as {seen[digest]})"
    seen[digest] = name
    return None


def check_inputs_outside(out: Path | str, inputs: Iterable[Path]) -> None:
    """Refuse an input that lies inside --out: writing the dataset replaces that folder and would delete it."""
    root = Path(out).resolve()
    for path in inputs:
        if root in path.resolve().parents:
            raise UsageError(f"{path} is inside --out {out}; replacing that folder would delete it", "choose another --out")


def check_split_fractions(val: float, test: float) -> None:
    for name, frac in (("--val", val), ("--test", test)):
        if not 0 <= frac < 1:
            raise UsageError(f"{name} must be a fraction in [0, 1), got {frac}")
    if val + test >= 1:
        raise UsageError(f"--val + --test must leave data for training (got {val} + {test})")


@dataclass
class Dataset:
    path: Path
    meta: dict
    vocab: Vocabulary

    @staticmethod
    def read_meta(path: Path, kind: str | None = None, what: str = "") -> dict:
        """A dataset folder's meta.json, checked (a folder of any kind: token streams, pairs, frames); with `kind`,
        a folder of another kind is refused as not `what`."""
        if not (Path(path) / "meta.json").is_file():
            raise UsageError(f"{path} is not a dataset folder (no meta.json)", "make one with `seqgen prepare`")
        meta = read_description(Path(path), "meta.json", FORMAT, FORMAT_VERSION, "dataset")
        if kind is not None and meta.get("kind") != kind:
            raise UsageError(f"{path} holds a {meta.get('kind')!r} dataset, not {what or kind}")
        return meta

    @classmethod
    def open(cls, path: Path) -> "Dataset":
        path = Path(path)
        meta = cls.read_meta(path)
        for split in SPLITS:
            expected = int(meta["splits"][split]) * np.dtype(meta["dtype"]).itemsize
            file = path / f"{split}.bin"
            if not file.is_file() or file.stat().st_size != expected:
                raise RunError(f"{file} is missing or has the wrong size; the dataset is incomplete", "run `seqgen prepare` again")
        return cls(path, meta, Vocabulary.from_meta(meta["vocab"]))

    def split(self, name: str) -> np.ndarray:
        """A split's ids, memory-mapped read-only (an empty array for an empty split)."""
        if self.meta["splits"][name] == 0:
            return np.zeros(0, dtype=self.meta["dtype"])
        return np.memmap(self.path / f"{name}.bin", dtype=self.meta["dtype"], mode="r")


# ---------------------------------------------------------------- batches for truncated BPTT


def stream_view(ids: np.ndarray, batch: int) -> np.ndarray:
    """Lay a flat id sequence out as `batch` parallel streams, without copying.

    ids:  a b c d e f g h i j k l m      (13 ids, batch 3 -> 4 per stream, +1 overlap for targets)
    view: [a b c d e]
          [e f g h i]
          [i j k l m]                     shape (batch, per_stream + 1)
    """
    per_stream = (len(ids) - 1) // batch
    if per_stream < 1:
        return np.zeros((batch, 0), dtype=ids.dtype)
    stride = ids.strides[0]
    return np.lib.stride_tricks.as_strided(ids, shape=(batch, per_stream + 1), strides=(per_stream * stride, stride), writeable=False)


def batches(view: np.ndarray, seq_len: int, start: int = 0, partial: bool = False) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Consecutive (inputs, targets) windows of the streams, each (batch, seq_len); the state carries across them.

    partial=True also yields a shorter final window, so evaluation scores every token.
    """
    length = view.shape[1] - 1
    pos = start
    while pos + seq_len <= length or (partial and pos < length):
        end = min(pos + seq_len, length)
        window = view[:, pos : end + 1].astype(np.int64)  # a writable copy torch can wrap
        yield window[:, :-1], window[:, 1:]
        pos = end


def steps_per_epoch(n_tokens: int, batch: int, seq_len: int, offset: int = 0) -> int:
    return max(0, ((n_tokens - 1) // batch - offset) // seq_len)
