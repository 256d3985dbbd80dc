"""Music as a piano roll: frames of sounding pitches on a fixed grid, from and to MIDI, and the benchmark files.

A frame is the set of the 88 piano keys (MIDI 21-108) sounding at one grid point: `--frame 1/4` (a frame per
quarter note, the protocol of JSB Chorales), `1/8` (Nottingham, MuseData, Piano-midi.de) or `1/16`. A piece is a
(frames, 88) boolean matrix, column 0 = A0 (MIDI 21). A note is on from its onset to its end, both moved to the
nearest grid point (half up); a note shorter than a frame is kept for one frame when it sounds at a grid point (a 16th
note on the beat at 1/4) and dropped, counted, when it sounds at none (a 16th off the beat): a frame holds the pitches
heard at its grid point, the published files' protocol. Notes of different tracks are merged. A held note and a
re-struck note are the same in a piano roll: two repeated quarter notes become one half note. Frames -> MIDI -> frames
is exact (a MIDI file ends with its last note, so silent frames after it are not kept).

The benchmark files of Boulanger-Lewandowski et al. (2012) are read as published: a JSON or pickle object
{"train", "valid", "test"}, each a list of pieces, each a list of frames, each a list of MIDI pitches. A pickle is
read by `SafeUnpickler`, which builds only built-in containers, numbers and strings: its `find_class` refuses every
global, so no pickle can call a function (which is how a pickle runs code). Nothing here calls `pickle.load`.
"""

from __future__ import annotations

import io
import json
import pickle
from collections import Counter
from itertools import chain
from pathlib import Path

import numpy as np

from seqgen.data.frames import KEYS
from seqgen.errors import InputError, UsageError
from seqgen.music.events import Song, Track
from seqgen.music.guards import read_capped
from seqgen.music.midi_io import OUT_TPQ

LOWEST, HIGHEST = 21, 108  # A0 and C8, the piano's keys: KEYS (88) columns per frame
GRIDS = {"1/4": 1, "1/8": 2, "1/16": 4}  # --frame -> frames per quarter note
DEFAULT_GRID = "1/8"  # the protocol of Nottingham, MuseData and Piano-midi.de (JSB Chorales: 1/4)
BENCHMARK_SUFFIXES = (".json", ".pickle", ".pkl")
BENCHMARK_SPLITS = {"train": "train", "valid": "val", "test": "test"}  # the files' names -> seqgen's split names
MAX_BENCHMARK_BYTES = 256 << 20  # the four published files are 0.4-10 MB
MAX_PITCH_ENTRIES = 20_000_000  # the published files hold ~2M; a pickle can share one list many times: stops an expansion bomb
_NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]

Roll = np.ndarray  # (frames, 88) bool


def check_grid(grid: str) -> int:
    """Frames per quarter note of a --frame value."""
    if grid not in GRIDS:
        raise UsageError(f"--frame must be one of {', '.join(GRIDS)}, not {grid!r}")
    return GRIDS[grid]


def key_name(column: int) -> str:
    """The note name of a frame's column: 0 -> A0, 39 -> C4, 87 -> C8."""
    pitch = column + LOWEST
    return f"{_NAMES[pitch % 12]}{pitch // 12 - 1}"


# ---------------------------------------------------------------- MIDI and scores <-> frames


def song_to_roll(song: Song, per_quarter: int, dropped: Counter | None = None) -> Roll:
    """A song's pitched notes (drum tracks left out) on a grid of `per_quarter` frames per quarter note.

    Onsets and ends go to the nearest grid point, half up, in integers; a note that then has no frame is kept for one
    when it sounds at the grid point of its onset; notes sounding at no grid point, and pitches outside the 88 keys,
    are left out and counted."""
    tpq = song.ticks_per_quarter
    spans: list[tuple[int, int, int]] = []
    for track in song.tracks:
        if track.is_drum:
            continue
        for start, end, pitch, _velocity in track.notes:
            first = (start * per_quarter * 2 + tpq) // (2 * tpq)  # the nearest grid point, half up
            stop = (end * per_quarter * 2 + tpq) // (2 * tpq)
            if stop <= first and start * per_quarter <= first * tpq < end * per_quarter:
                stop = first + 1  # shorter than a frame, but sounding at a grid point: heard there (a 16th on the beat)
            if not LOWEST <= pitch <= HIGHEST:
                _count(dropped, "outside the 88 piano keys")
            elif stop <= first:
                _count(dropped, "sounding at no grid point")
            else:
                spans.append((first, stop, pitch - LOWEST))
    roll = np.zeros((max((s for _, s, _ in spans), default=0), KEYS), dtype=bool)
    for first, stop, column in spans:
        roll[first:stop, column] = True
    return roll


def _count(counter: Counter | None, reason: str) -> None:
    if counter is not None:
        counter[reason] += 1


def roll_to_song(roll: Roll, per_quarter: int, program: int = 0, tempo: float = 120.0, velocity: int = 80,
                 time_signature: tuple[int, int] = (4, 4), name: str = "seqgen") -> Song:
    """A piano roll as one track at 480 ticks per quarter: every run of frames a key is on becomes one note."""
    ticks = OUT_TPQ // per_quarter  # per frame; every grid divides 480
    padded = np.zeros((roll.shape[0] + 2, KEYS), dtype=np.int8)
    padded[1:-1] = roll
    edges = np.diff(padded, axis=0)  # (frames + 1, 88): +1 where a run starts, -1 one past where it ends
    notes = []
    for column in range(KEYS):
        starts, stops = np.flatnonzero(edges[:, column] == 1), np.flatnonzero(edges[:, column] == -1)
        notes += [(int(a) * ticks, int(b) * ticks, column + LOWEST, velocity) for a, b in zip(starts, stops)]
    notes.sort()
    return Song(name, OUT_TPQ, [Track(name, 0, 0, program, notes)], tempo, time_signature)


# ---------------------------------------------------------------- the published benchmark files


class SafeUnpickler(pickle.Unpickler):
    """Reads a pickle that holds only built-in containers, numbers and strings; refuses everything else.

    A pickle runs code by naming a global (a function or class) and calling it; every global goes through
    `find_class`, which here refuses them all, so nothing is ever called or imported."""

    def find_class(self, module: str, name: str):  # noqa: ANN201 (never returns)
        raise pickle.UnpicklingError(f"it names {module}.{name}, and a benchmark file holds only lists of numbers")


def is_benchmark_file(spec: str) -> bool:
    """True for a .json, .pickle or .pkl file: a piano-roll benchmark in the published format."""
    return Path(spec).suffix.lower() in BENCHMARK_SUFFIXES and Path(spec).is_file()


def grid_of_benchmark(path: Path) -> str:
    """The grid a published file was made on, from its name: JSB Chorales and `*quarter*` files are 1/4 (their
    protocol), `*16th*` 1/16, anything else 1/8 (Nottingham, MuseData and Piano-midi.de)."""
    name = Path(path).name.lower()
    if "quarter" in name or "jsb" in name:
        return "1/4"
    return "1/16" if "16th" in name else "1/8"


def read_benchmark(path: Path) -> dict[str, list[Roll]]:
    """A published benchmark file as {"train", "val", "test"} -> its pieces as (frames, 88) rolls, in file order.

    The file's own split is kept as it is (its "valid" is seqgen's "val"). Anything but that structure of MIDI
    pitches 21-108 is refused with one line naming the place."""
    path = Path(path)
    data = read_capped(path, MAX_BENCHMARK_BYTES, "a benchmark file")
    try:
        if path.suffix.lower() == ".json":
            obj = json.loads(data.decode("utf-8"))
        else:
            obj = SafeUnpickler(io.BytesIO(data), encoding="latin1").load()  # latin1: the 2012 files are Python 2 pickles
    except pickle.UnpicklingError as exc:
        raise InputError(f"{path.name} is refused: {exc}") from None
    except Exception as exc:  # noqa: BLE001  (json and pickle raise many types for a damaged file)
        raise InputError(f"{path.name} cannot be read ({type(exc).__name__}: {str(exc)[:100]})") from None
    return _benchmark_rolls(obj, path.name)


def _benchmark_rolls(obj: object, name: str) -> dict[str, list[Roll]]:
    if not isinstance(obj, dict) or "train" not in obj:
        raise InputError(f"{name} is not a piano-roll benchmark: expected an object with train, valid and test lists",
                         "pass --kind text to prepare a JSON file as text")
    unknown = sorted(str(k) for k in obj if k not in BENCHMARK_SPLITS)
    if unknown:
        raise InputError(f"{name} has an unknown split {unknown[0]!r} (expected train, valid and test)")
    budget = [MAX_PITCH_ENTRIES]
    return {ours: _pieces(obj.get(theirs, []), f"{name} [{theirs}]", budget) for theirs, ours in BENCHMARK_SPLITS.items()}


def _pieces(pieces: object, where: str, budget: list[int]) -> list[Roll]:
    """Each piece's frames as a roll; the checks run at C speed over the flattened pitches (a big file takes seconds)."""
    if not isinstance(pieces, (list, tuple)):
        raise InputError(f"{where} is not a list of pieces")
    rolls = []
    for p, piece in enumerate(pieces):
        if not isinstance(piece, (list, tuple)):
            raise InputError(f"{where} piece {p} is not a list of frames")
        bad = next((f for f, frame in enumerate(piece) if not isinstance(frame, (list, tuple, set, frozenset))), None)
        if bad is not None:
            raise InputError(f"{where} piece {p} frame {bad} is not a list of MIDI pitches")
        lengths = np.fromiter(map(len, piece), dtype=np.int64, count=len(piece))
        budget[0] -= int(lengths.sum()) + len(piece)
        if budget[0] < 0:
            raise InputError(f"{where} holds more than {MAX_PITCH_ENTRIES:,} pitches; refusing it as a decompression bomb")
        flat = list(chain.from_iterable(piece))
        first = _first_wrong(flat)
        if first is not None:
            frame = int(np.searchsorted(np.cumsum(lengths), first, side="right"))
            raise InputError(f"{where} piece {p} frame {frame} holds {flat[first]!r}, not a piano key (MIDI {LOWEST}-{HIGHEST})")
        pitches = np.array(flat, dtype=np.int64)
        roll = np.zeros((len(piece), KEYS), dtype=bool)
        roll[np.repeat(np.arange(len(piece)), lengths), pitches - LOWEST] = True
        rolls.append(roll)
    return rolls


def _first_wrong(flat: list) -> int | None:
    """The index of the first entry that is not an int (bool is not) from 21 to 108, or None."""
    if set(map(type, flat)) <= {int} and all(LOWEST <= x <= HIGHEST for x in (min(flat, default=LOWEST), max(flat, default=LOWEST))):
        return None
    return next(i for i, x in enumerate(flat) if type(x) is not int or not LOWEST <= x <= HIGHEST)


def roll_lines(roll: Roll) -> list[str]:
    """A piano roll as text, one line per frame: the sounding keys low to high (`C4 E4 G4`), `-` for silence."""
    return [" ".join(key_name(int(c)) for c in np.flatnonzero(frame)) or "-" for frame in roll]

