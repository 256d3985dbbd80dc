"""Keys: which one a piece is in, its name as MIDI and MusicXML write it, and how its pitches are spelled.

Why here: a MIDI pitch number says nothing of spelling, so a score written from it needs the key to print G♯ rather
than A♭ in A major and no natural sign on notes the key signature already gives; and a sampled .mid carries its key
as a key-signature event only if something estimates it.
"""

from __future__ import annotations

import numpy as np

from seqgen.music.events import Song


def key_of(hist: np.ndarray) -> tuple[int, str]:
    """(tonic pitch class, mode) whose Krumhansl–Kessler profile correlates best with a 12-bin pitch-class histogram."""
    major = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
    minor = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
    if not hist.any():
        return 0, "major"
    best = (-2.0, 0, "major")
    for mode, profile in (("major", major), ("minor", minor)):
        for tonic in range(12):
            r = float(np.corrcoef(hist, np.roll(profile, tonic))[0, 1])
            if r > best[0]:
                best = (r, tonic, mode)
    return best[1], best[2]


def key_name(tonic: int, mode: str) -> str:
    """mido's name of a key ("A", "F#m", "Bb"), spelled with at most six sharps or five flats."""
    major_tonic = (tonic + 3) % 12 if mode == "minor" else tonic
    fifths = major_tonic * 7 % 12
    sharps = fifths if fifths <= 6 else fifths - 12
    return (MINOR_KEYS if mode == "minor" else MAJOR_KEYS)[sharps]


# mido's key_signature names by number of sharps (negative: flats)
MAJOR_KEYS = {-7: "Cb", -6: "Gb", -5: "Db", -4: "Ab", -3: "Eb", -2: "Bb", -1: "F", 0: "C", 1: "G", 2: "D", 3: "A", 4: "E", 5: "B", 6: "F#", 7: "C#"}
MINOR_KEYS = {-7: "Abm", -6: "Ebm", -5: "Bbm", -4: "Fm", -3: "Cm", -2: "Gm", -1: "Dm", 0: "Am", 1: "Em", 2: "Bm", 3: "F#m", 4: "C#m", 5: "G#m", 6: "D#m", 7: "A#m"}


def song_key(song: Song) -> str | None:
    """The song's declared key, else one estimated from its notes' duration-weighted pitch classes (None: no notes)."""
    if song.key:
        return song.key
    hist = np.zeros(12)
    for track in song.tracks:
        if not track.is_drum:
            for start, end, pitch, _ in track.notes:
                hist[pitch % 12] += end - start
    return key_name(*key_of(hist)) if hist.any() else None


def sharps_of(name: str) -> int:
    """Sharps (negative: flats) in the signature of a mido key name."""
    table = MINOR_KEYS if name.endswith("m") else MAJOR_KEYS
    return next(sharps for sharps, known in table.items() if known == name)


SHARP_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
FLAT_NAMES = ("C", "D-", "D", "E-", "E", "F", "G-", "G", "A-", "A", "B-", "B")
SHARP_ORDER = "FCGDAEB"  # the order sharps enter a key signature; flats enter in reverse


def signature(sharps: int) -> dict[str, int]:
    """The steps a key signature of `sharps` sharps (negative: flats) alters, and by how much (+1 or −1)."""
    steps = SHARP_ORDER[:sharps] if sharps >= 0 else SHARP_ORDER[::-1][:-sharps]
    return {step: 1 if sharps > 0 else -1 for step in steps}


def spelling(name: str) -> list[str]:
    """The music21 pitch name of each pitch class in a key: the key signature's own notes as it spells them, a minor
    key's leading note raised (G♯ in A minor, C♯ in D minor), the others with sharps in a sharp key (or C, A minor)
    and flats in a flat key."""
    sharps = sharps_of(name)
    names = list(SHARP_NAMES if sharps >= 0 else FLAT_NAMES)
    altered = signature(sharps)
    for step in "CDEFGAB":
        alter = altered.get(step, 0)
        names[(_NATURAL[step] + alter) % 12] = _named(step, alter)
    if name.endswith("m"):
        tonic = name[0]
        tonic_pc = (_NATURAL[tonic] + (1 if "#" in name else -1 if "b" in name[1:] else 0)) % 12
        step = "CDEFGAB"["CDEFGAB".index(tonic) - 1]
        alter = ((tonic_pc - 1 - _NATURAL[step]) + 6) % 12 - 6
        names[(tonic_pc - 1) % 12] = _named(step, alter)
    return names


_NATURAL = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def _named(step: str, alter: int) -> str:
    return step + ("#" * alter if alter > 0 else "-" * -alter)
