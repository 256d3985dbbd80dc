"""Statistics of melodies and note lists, to set generated pieces beside held-out ones.

Pure functions over a simple note list: (pitch, onset in quarters, duration in quarters, part). They know
nothing of tokens or MIDI; `seqgen.evaluation.report` turns a run's ids into these lists. A piece is
(notes, bar length in quarters, beat length in quarters).
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, NamedTuple, Sequence


class Tone(NamedTuple):
    pitch: int  # MIDI pitch 0-127
    onset: float  # in quarter notes from the piece's start
    dur: float  # in quarter notes, > 0
    part: int = 0  # index in the run's parts table (0 without parts)


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


Piece = tuple[Sequence[Tone], float, float]  # (notes, bar length, beat length), lengths in quarters; compare() takes (notes, bar) too


def beat_length(ts: tuple[int, int]) -> float:
    """A beat in quarters: a dotted quarter in 6/8, 9/8 and 12/8, else the denominator's note (3/4: 1, 2/2: 2)."""
    num, den = ts
    return 3 * 4 / den if den >= 8 and num % 3 == 0 and num > 3 else 4 / den


def piece_set_stats(pieces: Sequence[Piece]) -> dict:
    """Statistics of a set of pieces; per-piece figures are averaged over pieces with notes."""
    played = [(notes, bar) for notes, bar, *_ in pieces if notes]
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


def compare(generated: Sequence[Piece], held_out: Sequence[Piece]) -> dict:
    """Generated and held-out statistics side by side, with the pitch-class histogram distance between them."""
    gen, ref = piece_set_stats(generated), piece_set_stats(held_out)
    distance = total_variation(gen["pitch_class_histogram"], ref["pitch_class_histogram"]) if gen["notes"] and ref["notes"] else None
    return {"generated": gen, "held_out": ref, "pitch_class_distance": distance}


# ---------------------------------------------------------------- parts


def _bars(notes: Sequence[Tone], bar: float) -> int:
    return max(1, -int(-max(n.onset + n.dur for n in notes) // bar)) if notes else 0


def sonorities(notes: Sequence[Tone]) -> list[tuple[float, dict[int, list[int]]]]:
    """(onset, {part: its sounding pitches, ascending}) at every onset of a piece, by one sweep over the notes."""
    ordered = sorted(notes, key=lambda n: n.onset)
    out: list[tuple[float, dict[int, list[int]]]] = []
    active: list[Tone] = []
    i = 0
    for onset in sorted({n.onset for n in notes}):
        while i < len(ordered) and ordered[i].onset <= onset:
            active.append(ordered[i])
            i += 1
        active = [n for n in active if n.onset + n.dur > onset + 1e-9]
        sounding: dict[int, list[int]] = {}
        for n in active:
            sounding.setdefault(n.part, []).append(n.pitch)
        out.append((onset, {part: sorted(ps) for part, ps in sounding.items()}))
    return out


def voice_leading(notes: Sequence[Tone], order: Sequence[int]) -> Counter:
    """Counts over one piece, each part's voice being its highest sounding note:
    - `crossings`: (onset, two parts adjacent in `order`, top to bottom) where the upper part's lowest sounding note
      is below the lower part's highest;
    - `changes`: moves from one onset to the next where some part's voice changes (a chord change);
    - `fifths`, `octaves`: over those changes, pairs of parts that both move, in the same direction, from a perfect
      fifth to a perfect fifth, or from an octave (or unison) to an octave, counting compound intervals alike."""
    counts: Counter = Counter()
    previous: dict[int, int] | None = None
    for _, sounding in sonorities(notes):
        for upper, lower in zip(order, order[1:]):
            if upper in sounding and lower in sounding and sounding[upper][0] < sounding[lower][-1]:
                counts["crossings"] += 1
        voices = {part: pitches[-1] for part, pitches in sounding.items()}
        if previous is not None and voices != previous:
            counts["changes"] += 1
            both = sorted(set(voices) & set(previous))
            for k, a in enumerate(both):
                for b in both[k + 1 :]:
                    da, db = voices[a] - previous[a], voices[b] - previous[b]
                    if da == 0 or db == 0 or (da > 0) != (db > 0):
                        continue
                    before, after = abs(previous[a] - previous[b]) % 12, abs(voices[a] - voices[b]) % 12
                    counts["fifths"] += before == after == 7
                    counts["octaves"] += before == after == 0
        previous = voices
    return counts


def part_rhythm(notes: Sequence[Tone], part: int, beat: float) -> tuple[int, int]:
    """(changes, changes on a beat) of one part: onsets where the set of its notes starting differs from the set that
    started at its onset before (a new chord of a chord part, a new note of a melody)."""
    starts: dict[float, set[int]] = {}
    for n in notes:
        if n.part == part:
            starts.setdefault(n.onset, set()).add(n.pitch)
    changes = on_beat = 0
    before: set[int] | None = None
    for onset in sorted(starts):
        if starts[onset] != before:
            changes += 1
            on_beat += abs(onset / beat - round(onset / beat)) < 1e-6
        before = starts[onset]
    return changes, on_beat


def _ratio(a: float, b: float, scale: float = 1.0) -> float | None:
    return scale * a / b if b else None


def part_set_stats(pieces: Sequence[Piece], parts: Sequence[int], order: Sequence[int], ranges: dict[int, tuple[int, int]]) -> dict:
    """Per part (`parts`): notes, share inside `ranges` (the held-out range), changes per bar and their share on a
    beat; and the voice leading of the set: crossings per bar, parallel fifths and octaves per 100 chord changes."""
    played = [(notes, bar, beat) for notes, bar, beat in pieces if notes]
    bars = sum(_bars(notes, bar) for notes, bar, _ in played)
    per_part = {}
    for part in parts:
        mine = [n for notes, _, _ in played for n in notes if n.part == part]
        lo, hi = ranges.get(part, (None, None))
        rhythm = [part_rhythm(notes, part, beat) for notes, _, beat in played]
        changes, on_beat = sum(c for c, _ in rhythm), sum(b for _, b in rhythm)
        per_part[part] = {
            "notes": len(mine),
            "in_range": _ratio(sum(lo <= n.pitch <= hi for n in mine), len(mine)) if lo is not None else None,
            "changes_per_bar": _ratio(changes, bars),
            "on_beat": _ratio(on_beat, changes),
        }
    totals: Counter = Counter()
    for notes, _, _ in played:
        totals.update(voice_leading(notes, order))
    leading = {
        "bars": bars,
        "chord_changes": totals["changes"],
        "voice_crossings_per_bar": _ratio(totals["crossings"], bars),
        "parallel_fifths_per_100_changes": _ratio(totals["fifths"], totals["changes"], 100.0),
        "parallel_octaves_per_100_changes": _ratio(totals["octaves"], totals["changes"], 100.0),
    }
    return {"parts": per_part, "voice_leading": leading}


def compare_parts(generated: Sequence[Piece], held_out: Sequence[Piece], names: dict[int, str]) -> dict:
    """Generated and held-out pieces part by part (`names`: part index -> name, for the parts to compare). A part's range is its
    lowest to highest held-out note; the voices' order, top to bottom, is by their mean held-out pitch."""
    held_notes = [n for notes, _, _ in held_out for n in notes]
    ranges: dict[int, tuple[int, int]] = {}
    pitch_sums: Counter = Counter()
    counts: Counter = Counter()
    for n in held_notes:
        lo, hi = ranges.get(n.part, (n.pitch, n.pitch))
        ranges[n.part] = (min(lo, n.pitch), max(hi, n.pitch))
        pitch_sums[n.part] += n.pitch
        counts[n.part] += 1
    order = sorted((part for part in counts if part in names), key=lambda part: -pitch_sums[part] / counts[part])
    parts = list(names)
    gen, ref = part_set_stats(generated, parts, order, ranges), part_set_stats(held_out, parts, order, ranges)
    return {
        "parts": [{"part": names[i], "held_out_range": list(ranges[i]) if i in ranges else None,
                   "generated": gen["parts"][i], "held_out": ref["parts"][i]} for i in parts],
        "voice_leading": {"order": [names[i] for i in order], "generated": gen["voice_leading"], "held_out": ref["voice_leading"]},
    }
