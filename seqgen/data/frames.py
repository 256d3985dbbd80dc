"""The frames dataset folder: per split, a piano roll stored as a memory-mapped bit matrix plus piece offsets.

    meta.json        kind "frames", the grid, the pitch range, split sizes (frames, and pieces in stats), sources
    train.bin        (frames, 11) uint8: each frame's 88 keys packed 8 to a byte (np.packbits, A0 first)
    train.offsets    (pieces + 1,) little-endian int64: piece i is frames offsets[i] to offsets[i + 1]
    val.* test.*     the same

Written by the same `FolderWriter` as token datasets (a hidden folder renamed into place when complete), so a
frames folder is a seqgen dataset to `--force` and to `Dataset.read_meta`; its "vocabulary" is the 88 key names
in column order, and its "dtype" that of the stored bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqgen.config import KEYS
from seqgen.data.dataset import SPLITS, Dataset, FolderWriter
from seqgen.data.vocab import Vocabulary
from seqgen.errors import RunError, SeqgenError

PACKED = (KEYS + 7) // 8  # bytes per stored frame of 88 keys


class FramesWriter(FolderWriter):
    """Per split, packed frames in `{split}.bin` and each piece's end in `{split}.offsets`."""

    def __init__(self, out: Path, key_names: list[str], force: bool = False):
        super().__init__(out, force)
        self.vocab = Vocabulary(list(key_names))
        self.counts = {s: 0 for s in SPLITS}
        self.offsets: dict[str, list[int]] = {s: [0] for s in SPLITS}
        for split in SPLITS:
            self.file(f"{split}.bin")

    def write_piece(self, split: str, roll: np.ndarray) -> None:
        """One piece, a (frames, 88) boolean roll."""
        self.file(f"{split}.bin").write(np.packbits(roll, axis=1).tobytes())  # (frames, 11) bytes
        self.counts[split] += len(roll)
        self.offsets[split].append(self.counts[split])

    def commit(self, meta: dict) -> Path:
        for split, offsets in self.offsets.items():
            self.file(f"{split}.offsets").write(np.asarray(offsets, dtype="<i8").tobytes())
        pieces = {s: len(o) - 1 for s, o in self.offsets.items()}
        return super().commit({**meta, "stats": {**meta.get("stats", {}), "pieces": pieces}, "vocab": self.vocab.to_meta(),
                               "dtype": "|u1", "splits": dict(self.counts)})


def write_frames(out: Path, key_names: list[str], pieces: list[tuple[str, np.ndarray]], meta: dict, force: bool) -> dict[str, int]:
    """A whole frames dataset from (split, roll) pairs in order; returns the frames per split."""
    try:
        with FramesWriter(Path(out), key_names, force) as writer:
            for split, roll in pieces:
                writer.write_piece(split, roll)
            writer.commit({"kind": "frames", "level": "frames", **meta})
            return dict(writer.counts)
    except OSError as exc:
        raise SeqgenError(f"cannot write the dataset to {out}: {exc.strerror or exc}", "check free space and permissions") from None


@dataclass
class FrameSplit:
    """One split: packed frames (memory-mapped) and where each piece starts."""

    bits: np.ndarray  # (frames, 11) uint8
    offsets: np.ndarray  # (pieces + 1,) int64

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def frames(self) -> int:
        return int(self.offsets[-1])

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def piece(self, i: int) -> np.ndarray:
        """Piece i as a (frames, 88) boolean roll."""
        packed = np.asarray(self.bits[self.offsets[i] : self.offsets[i + 1]])
        return np.unpackbits(packed, axis=1, count=KEYS).astype(bool)

    def rolls(self) -> list[np.ndarray]:
        return [self.piece(i) for i in range(len(self))]


@dataclass
class FramesDataset:
    path: Path
    meta: dict

    @classmethod
    def open(cls, path: Path) -> "FramesDataset":
        path = Path(path)
        meta = Dataset.read_meta(path, "frames", "piano-roll frames")
        for split in SPLITS:
            frames, pieces = int(meta["splits"][split]), int(meta["stats"]["pieces"][split])
            for name, size in ((f"{split}.bin", frames * PACKED), (f"{split}.offsets", (pieces + 1) * 8)):
                file = path / name
                if not file.is_file() or file.stat().st_size != size:
                    raise RunError(f"{file} is missing or has the wrong size; the dataset is incomplete", "run `seqgen prepare` again")
        return cls(path, meta)

    @property
    def grid(self) -> str:
        return self.meta["grid"]

    def split(self, name: str) -> FrameSplit:
        offsets = np.fromfile(self.path / f"{name}.offsets", dtype="<i8")
        if offsets[0] != 0 or (np.diff(offsets) < 0).any() or offsets[-1] != int(self.meta["splits"][name]):
            raise RunError(f"{self.path / (name + '.offsets')} is corrupt", "run `seqgen prepare` again")
        if offsets[-1] == 0:
            return FrameSplit(np.zeros((0, PACKED), dtype=np.uint8), offsets)
        bits = np.memmap(self.path / f"{name}.bin", dtype=np.uint8, mode="r", shape=(int(offsets[-1]), PACKED))
        return FrameSplit(bits, offsets)
