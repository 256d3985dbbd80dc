"""`seqgen prepare --level frames`: music as piano-roll frames -> a frames dataset folder (`seqgen.data.frames`).

Two kinds of source:
- a published benchmark file (.json, .pickle, .pkl; `seqgen.music.pianoroll.read_benchmark`), prepared on its own and
  keeping its own train/valid/test split, the split the literature's figures are measured on (`prepare_benchmark`);
- MIDI files, scores and built-in music corpora, read as the note levels read them (`seqgen.music.prepare`), each
  piece made into frames on the `--frame` grid and split by the same per-piece hash, so a piece keeps its split
  whatever else is prepared with it (`prepare_frames`).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seqgen.data.dataset import SPLITS, check_inputs_outside, check_split_fractions, split_of
from seqgen.data.frames import write_frames
from seqgen.errors import InputError, UsageError
from seqgen.music.events import Song
from seqgen.music.pianoroll import (
    DEFAULT_GRID,
    GRIDS,
    HIGHEST,
    KEYS,
    LOWEST,
    check_grid,
    grid_of_benchmark,
    is_benchmark_file,
    key_name,
    read_benchmark,
    song_to_roll,
)
from seqgen.music.prepare import collect_music_files, parse_transpose, read_files
from seqgen.music.tokens import match_tracks

SPLIT_DEFAULT = 0.05  # --val and --test of MIDI sources when not given (a benchmark file keeps its own split)


@dataclass
class FramesReport:
    """What prepare did, for the summary table and for meta.json."""

    out: Path
    grid: str
    grid_from: str  # "--frame", "the file name" or "default"
    benchmark: bool  # a published file with its own split
    files: int = 0
    sources: list[dict] = field(default_factory=list)  # name, sha256
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file or piece, reason)
    pieces: dict[str, int] = field(default_factory=dict)
    frames: dict[str, int] = field(default_factory=dict)
    dropped: Counter = field(default_factory=Counter)  # notes left out, by reason
    empty_splits: list[str] = field(default_factory=list)
    shifts: list[int] = field(default_factory=lambda: [0])  # --transpose: semitones a training piece may move by


def prepare_frames(specs: list[str], out: Path, grid: str | None = None, val: float | None = None, test: float | None = None,
                   force: bool = False, tracks: list[str] | None = None, transpose: str | None = None, jobs: int | None = None) -> FramesReport:
    """MIDI files, scores and music corpora -> frames, each piece with its split -> a frames dataset folder.

    `transpose` (all, N, A..B or a list, as for the note levels) stores the shifts; training moves each training piece
    by one of them drawn afresh each epoch (`seqgen.training.frames`), so the folder holds each piece once."""
    if grid is not None:
        check_grid(grid)
    val, test = SPLIT_DEFAULT if val is None else val, SPLIT_DEFAULT if test is None else test
    check_split_fractions(val, test)
    return _prepare_music(specs, Path(out), grid, val, test, force, tracks, jobs, parse_transpose(transpose))


def prepare_benchmark(specs: list[str], out: Path, grid: str | None = None, force: bool = False, transpose: str | None = None) -> FramesReport:
    """A published benchmark file -> a frames dataset folder that keeps the file's own train/valid/test split."""
    if grid is not None:
        check_grid(grid)
    shifts = parse_transpose(transpose)
    if len(specs) != 1 or not is_benchmark_file(specs[0]):
        raise UsageError("a benchmark file is prepared on its own: it carries its own train/valid/test split", "pass one .json or .pickle file")
    return _prepare_benchmark(Path(specs[0]), Path(out), grid, force, shifts)


def _prepare_benchmark(path: Path, out: Path, grid: str | None, force: bool, shifts: list[int]) -> FramesReport:
    check_inputs_outside(out, [path])
    report = FramesReport(out, grid or grid_of_benchmark(path), "--frame" if grid else "the file name", benchmark=True, files=1)
    rolls = read_benchmark(path)
    report.sources.append({"name": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()})
    pieces = [(split, roll) for split in SPLITS for roll in rolls[split] if len(roll)]
    report.skipped += [(f"{path.name} [{split}] piece {i}", "no frames") for split in SPLITS for i, roll in enumerate(rolls[split]) if not len(roll)]
    return _write(report, pieces, force, {"transpose": shifts}, {})


def _prepare_music(specs: list[str], out: Path, grid: str | None, val: float, test: float, force: bool,
                   tracks: list[str] | None, jobs: int | None, shifts: list[int]) -> FramesReport:
    files = collect_music_files(specs)
    check_inputs_outside(out, files)
    report = FramesReport(out, grid or DEFAULT_GRID, "--frame" if grid else "default", benchmark=False)
    per_quarter = GRIDS[report.grid]
    pieces: list[tuple[str, np.ndarray]] = []
    signatures: Counter = Counter()
    tempos: Counter = Counter()
    for name, digest, songs in read_files(files, report, jobs):
        for place, song in enumerate(songs):
            label = name if song.name == Path(name).name else f"{Path(name).parent / song.name}"
            roll = _song_roll(song, per_quarter, tracks, report.dropped)
            if isinstance(roll, str):
                report.skipped.append((label, roll))
                continue
            pieces.append((split_of(f"{digest}:{place}", val, test), roll))
            signatures[song.time_signature or (4, 4)] += 1
            if song.tempo:
                tempos[round(song.tempo)] += 1
    if not pieces:
        reasons = "; ".join(f"{Path(n).name}: {r}" for n, r in report.skipped[:3])
        raise InputError(f"no usable music in the input ({reasons or 'nothing given'})", "pass MIDI files or scores with notes")
    if not any(split == "train" for split, _ in pieces):
        raise InputError(f"none of the {len(pieces)} piece(s) fell in the training split; each piece's split is fixed by a hash of its file",
                         "pass more pieces or lower --val/--test")
    report.empty_splits = [s for s, frac in (("val", val), ("test", test)) if frac > 0 and not any(p == s for p, _ in pieces)]
    # what `sample` writes when not told: the corpus's commonest time signature and tempo
    defaults = {"time_signature": list(signatures.most_common(1)[0][0]), "tempo": float(tempos.most_common(1)[0][0] if tempos else 120),
                "transpose": shifts}
    order = {s: i for i, s in enumerate(SPLITS)}
    pieces.sort(key=lambda p: order[p[0]])  # stable: each split keeps reading order
    return _write(report, pieces, force, defaults, {"split_fractions": {"val": val, "test": test}})


def _song_roll(song: Song, per_quarter: int, tracks: list[str] | None, dropped: Counter) -> np.ndarray | str:
    """The frames of a song's chosen tracks (all but drums without --tracks), its leading silence kept modulo one bar;
    or the reason it has none."""
    chosen = [t for t in song.tracks if t.notes and not t.is_drum]
    if tracks:
        chosen = match_tracks(chosen, tracks)
        if not chosen:
            return f"no track matches --tracks {' '.join(tracks)}"
    roll = song_to_roll(Song(song.name, song.ticks_per_quarter, chosen), per_quarter, dropped)
    sounding = np.flatnonzero(roll.any(axis=1))
    if not len(sounding):
        return "no notes on the piano's 88 keys"
    num, den = song.time_signature or (4, 4)
    bar = max(1, round(num * 4 / den * per_quarter))
    return roll[sounding[0] - sounding[0] % bar :]


def _write(report: FramesReport, pieces: list[tuple[str, np.ndarray]], force: bool, defaults: dict, stats: dict) -> FramesReport:
    report.pieces = {s: sum(1 for p, _ in pieces if p == s) for s in SPLITS}
    report.shifts = defaults["transpose"]
    meta = {
        "grid": report.grid, "steps_per_quarter": GRIDS[report.grid], "pitch_range": [LOWEST, HIGHEST], **defaults,
        "sources": report.sources, "skipped": [{"name": n, "reason": r} for n, r in report.skipped],
        "stats": {"files": report.files, "benchmark": report.benchmark, "dropped": dict(report.dropped), "empty_splits": report.empty_splits, **stats},
    }
    report.frames = write_frames(report.out, [key_name(c) for c in range(KEYS)], pieces, meta, force)
    return report
