"""Small pieces of music the music tests build themselves with mido, each named for the odd case it holds."""

from __future__ import annotations

import random
from pathlib import Path

import mido
from helpers import SHARED

NOTTINGHAM = SHARED / "nottingham"
METHENY = SHARED / "metheny.mid"


def track(events: list[tuple[int, mido.Message]], name: str | None = None) -> mido.MidiTrack:
    """A track from (absolute tick, message) pairs, in the given order for equal ticks."""
    out, now = mido.MidiTrack(), 0
    if name is not None:
        out.append(mido.MetaMessage("track_name", name=name, time=0))
    for tick, msg in sorted(events, key=lambda e: e[0]):
        out.append(msg.copy(time=tick - now))
        now = tick
    return out


def notes(spec: list[tuple[int, int, int]], channel: int = 0, velocity: int = 90, program: int | None = None) -> list:
    """(start tick, end tick, pitch) notes as note_on / note_off events."""
    ev: list = []
    if program is not None:
        ev.append((0, mido.Message("program_change", channel=channel, program=program)))
    for start, end, pitch in spec:
        ev.append((start, mido.Message("note_on", channel=channel, note=pitch, velocity=velocity)))
        ev.append((end, mido.Message("note_off", channel=channel, note=pitch, velocity=0)))
    return ev


def write(path: Path, tracks: list[mido.MidiTrack], tpq: int = 480, fmt: int = 1) -> Path:
    mid = mido.MidiFile(type=fmt, ticks_per_beat=tpq)
    mid.tracks.extend(tracks)
    mid.save(path)
    return path


Q = 480  # ticks per quarter in the pieces below


def band_piece(path: Path) -> Path:
    """Three tracks and a conductor: chords, a rest, triplets, a same-pitch overlap, a tempo change, drums."""
    conductor = track([
        (0, mido.MetaMessage("set_tempo", tempo=500000)),
        (0, mido.MetaMessage("time_signature", numerator=4, denominator=4)),
        (4 * Q, mido.MetaMessage("set_tempo", tempo=400000)),
    ], "conductor")
    lead = notes([
        (0, Q, 72), (Q, 2 * Q, 74),  # two quarters
        (3 * Q, 3 * Q + Q // 3, 76), (3 * Q + Q // 3, 3 * Q + 2 * Q // 3, 77), (3 * Q + 2 * Q // 3, 4 * Q, 79),  # a triplet after a rest
        (4 * Q, 6 * Q, 72), (5 * Q, 6 * Q, 72),  # the same pitch again while it still sounds
        (6 * Q, 8 * Q, 84),
    ], channel=0, program=73)
    chords = notes([(0, 2 * Q, p) for p in (48, 52, 55)] + [(2 * Q, 4 * Q, p) for p in (50, 53, 57)] + [(4 * Q, 8 * Q, p) for p in (48, 52, 55)], channel=1, program=0)
    drums = notes([(i * Q, i * Q + Q // 4, 36 if i % 2 == 0 else 38) for i in range(8)], channel=9)
    return write(path, [conductor, track(lead, "Lead"), track(chords, "Chords"), track(drums, "Drums")])


def tune(path: Path, pitches: list[int], beats: list[int] | None = None, tpq: int = Q, name: str = "Melody") -> Path:
    """A one-track melody: pitch i lasts beats[i] eighths (default all eighths)."""
    beats = beats or [1] * len(pitches)
    spec, t = [], 0
    for p, b in zip(pitches, beats):
        spec.append((t, t + b * tpq // 2, p))
        t += b * tpq // 2
    return write(path, [track(notes(spec), name)], tpq=tpq)


def make_tunes(folder: Path, n: int = 24, seed: int = 0) -> Path:
    """A made-up folk corpus: n short tunes in G, eighth notes with some quarters, plus a broken and an empty file."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    scale = [55, 57, 59, 60, 62, 64, 66, 67, 69, 71, 72, 74]
    for i in range(n):
        pitches, beats, pos = [], [], rng.randrange(len(scale))
        for _ in range(32):
            pos = max(0, min(len(scale) - 1, pos + rng.choice([-2, -1, -1, 1, 1, 2])))
            pitches.append(scale[pos])
            beats.append(rng.choice([1, 1, 1, 2]))
        tune(folder / f"tune{i:02d}.mid", pitches, beats)
    (folder / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\x00\x00\x10\x00\x00\x90")
    (folder / "empty.mid").write_bytes(b"")
    return folder


def duet(path: Path, seed: int = 0, names: tuple[str, str] = ("Melody", "Chords"), programs: tuple[int, int] = (73, 24), bars: int = 8) -> Path:
    """Two named tracks in G, as Nottingham has them: a melody of eighths and quarters above a chord a half bar long."""
    rng = random.Random(seed)
    scale = [67, 69, 71, 72, 74, 76, 78, 79]
    triads = [(55, 59, 62), (48, 52, 55), (50, 54, 57)]  # G, C, D
    tune_spec, t, pos = [], 0, rng.randrange(len(scale))
    while t < bars * 4 * Q:
        length = rng.choice([Q // 2, Q // 2, Q])
        pos = max(0, min(len(scale) - 1, pos + rng.choice([-1, 1, 2, -2])))
        tune_spec.append((t, t + length, scale[pos]))
        t += length
    chord_spec = [(h * 2 * Q, (h + 1) * 2 * Q, p) for h in range(bars * 2) for p in rng.choice(triads)]
    return write(path, [track(notes(tune_spec, channel=0, program=programs[0]), names[0]),
                        track(notes(chord_spec, channel=1, program=programs[1]), names[1])])
