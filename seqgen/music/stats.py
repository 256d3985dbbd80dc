"""Statistics of melodies and note lists, to set generated pieces beside held-out ones.

Pure functions over a simple note list: (pitch, onset in quarters, duration in quarters). They know
nothing of tokens or MIDI; `seqgen.evaluation.report` turns a run's ids into these lists.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, NamedTuple, Sequence


class Tone(NamedTuple):
    pitch: int  # MIDI pitch 0-127
    onset: float  # in quarter notes from the piece's start
    dur: float  # in quarter notes, > 0


MAJOR = (0, 2, 4, 5, 7, 9, 11)
HARMONIC_MINOR = (0, 2, 3, 5, 7, 8, 11)  # natural minor's pitch classes are a major scale's; this one differs
# named duration bins, in quarters; anything else is "other"
DURATIONS = {"1/16": 0.25, "1/8 triplet": 1 / 3, "1/8": 0.5, "dotted 1/8": 0.75, "1/4 triplet": 2 / 3, "1/4": 1.0,
             "dotted 1/4": 1.5, "1/2": 2.0, "dotted 1/2": 3.0, "whole": 4.0}
PHRASE = 4  # notes in a phrase for the repeated-phrase rate


def pitch_class_histogram(notes: Sequence[Tone]) -> list[float]:
    """Share of notes on each pitch class C, C#, …, B (sums to 1; all zeros for no notes)."""
    counts = [0] * 12
    for n in notes:
        counts[n.pitch % 12] += 1
    total = sum(counts)
    return [c / total for c in counts] if total else [0.0] * 12


def total_variation(p: Sequence[float], q: Sequence[float]) -> float:
    """Half the L1 distance between two distributions: the share of mass that must move, 0 (same) to 1."""
    return 0.5 * sum(abs(a - b) for a, b in zip(p, q))


def pitch_range(notes: Sequence[Tone]) -> int:
    """Highest minus lowest pitch, in semitones (0 for no notes)."""
    return max(n.pitch for n in notes) - min(n.pitch for n in notes) if notes else 0


def notes_per_bar(notes: Sequence[Tone], bar_quarters: float = 4.0) -> float:
    """Notes per bar over the bars from the first bar line to the end of the last note."""
    if not notes:
        return 0.0
    end = max(n.onset + n.dur for n in notes)
    bars = max(1, -int(-end // bar_quarters))  # ceil
    return len(notes) / bars


def duration_label(dur: float, tolerance: float = 0.02) -> str:
    for label, quarters in DURATIONS.items():
        if abs(dur - quarters) <= tolerance:
            return label
    return "other"


def duration_histogram(notes: Sequence[Tone]) -> dict[str, float]:
    """Share of notes in each named duration (keys in DURATIONS' order, then "other")."""
    counts = Counter(duration_label(n.dur) for n in notes)
    total = sum(counts.values())
    return {label: (counts[label] / total if total else 0.0) for label in [*DURATIONS, "other"]}


def scale_consistency(notes: Sequence[Tone]) -> float:
    """Share of notes inside the best-fitting key's scale (major, or harmonic minor), as in Mogren (2016).

    The key is the one of the 24 scales that holds the most notes, so this is also how tonal a piece is.
    """
    if not notes:
        return 0.0
    pcs = Counter(n.pitch % 12 for n in notes)
    best = 0
    for tonic in range(12):
        for scale in (MAJOR, HARMONIC_MINOR):
            best = max(best, sum(pcs[(tonic + s) % 12] for s in scale))
    return best / len(notes)


def repeated_phrase_rate(notes: Sequence[Tone], size: int = PHRASE) -> float:
    """Share of `size`-note phrases (pitches and durations) that already occurred earlier in the piece.

    Folk tunes repeat whole sections (AABB), so a good share is expected; a model stuck in a loop scores near 1.
    """
    ordered = sorted(notes, key=lambda n: (n.onset, n.pitch))
    phrases = [tuple((n.pitch, round(n.dur, 3)) for n in ordered[i : i + size]) for i in range(len(ordered) - size + 1)]
    if not phrases:
        return 0.0
    seen: set = set()
    repeats = 0
    for ph in phrases:
        repeats += ph in seen
        seen.add(ph)
    return repeats / len(phrases)


def _mean(values: Iterable[float]) -> float | None:
    vals = list(values)
    return sum(vals) / len(vals) if vals else None


def piece_set_stats(pieces: Sequence[tuple[Sequence[Tone], float]]) -> dict:
    """Statistics of a set of (notes, bar length in quarters) pieces; per-piece figures are averaged over pieces with notes."""
    played = [(notes, bar) for notes, bar in pieces if notes]
    everything = [n for notes, _ in played for n in notes]
    return {
        "pieces": len(played),
        "notes": len(everything),
        "pitch_class_histogram": pitch_class_histogram(everything),
        "pitch_range": _mean(pitch_range(notes) for notes, _ in played),
        "lowest_pitch": min((n.pitch for n in everything), default=None),
        "highest_pitch": max((n.pitch for n in everything), default=None),
        "notes_per_bar": _mean(notes_per_bar(notes, bar) for notes, bar in played),
        "duration_histogram": duration_histogram(everything),
        "in_key": _mean(scale_consistency(notes) for notes, _ in played),
        "repeated_phrases": _mean(repeated_phrase_rate(notes) for notes, _ in played),
    }


def compare(generated: Sequence[tuple[Sequence[Tone], float]], held_out: Sequence[tuple[Sequence[Tone], float]]) -> dict:
    """Generated and held-out statistics side by side, with the pitch-class histogram distance between them."""
    gen, ref = piece_set_stats(generated), piece_set_stats(held_out)
    distance = total_variation(gen["pitch_class_histogram"], ref["pitch_class_histogram"]) if gen["notes"] and ref["notes"] else None
    return {"generated": gen, "held_out": ref, "pitch_class_distance": distance}
