"""A grade for style: how far a piece in parts is from a reference set (Bach's chorales), feature by feature.

Why: likelihood says how well a model predicts held-out chorales, not whether what it writes sounds like one. "Bach
or Mock?" (Fang et al., 2020) graded a chorale on interpretable features (pitch and rhythm histograms against Bach's,
melodic intervals per voice, parallel fifths and octaves, voice crossing and range, repetition, harmonic quality) and
told generated chorales from Bach's better than human experts. This is a close variant, documented here:

- each histogram feature is the total variation distance between the piece's histogram and the reference set's
  pooled one (0: the same, 1: nothing in common); pitch classes are counted from the piece's own key's tonic;
- each error feature is the piece's rate above the reference set's median rate (as many errors as a typical
  reference piece, or fewer, is 0): parallel fifths and octaves per chord change; crossings per sonority plus notes
  outside the voice's reference range per note; repetition is the distance of the piece's repeated-phrase rate to
  the reference median either way;
- the grade is the mean over features of the distance divided by that feature's scale: its median distance over an
  anchor set of real pieces graded against the same reference. A typical real piece grades about 1; lower is closer.

`grade_sets` grades generated pieces and, as the scale's anchor, one half of the held-out pieces against the other
half, cut to the generated pieces' length, so a sample of 8 bars is set beside real excerpts of 8 bars.
"""

from __future__ import annotations

from collections import Counter
from statistics import median
from typing import Sequence

import numpy as np

from seqgen.music.keys import key_of
from seqgen.music.stats import Piece, Tone, duration_label, repeated_phrase_rate, sonorities, total_variation, voice_leading

INTERVAL_CLIP = 12  # melodic intervals beyond an octave are counted as an octave
HISTOGRAMS = ("pitch", "rhythm", "harmony")  # and one "intervals <voice>" per voice
RATES = ("parallels", "crossings and range")
CHORDS = {  # pitch-class sets above their root (every inversion names the same chord)
    frozenset({0, 4, 7}): "major", frozenset({0, 3, 7}): "minor", frozenset({0, 3, 6}): "diminished",
    frozenset({0, 4, 8}): "augmented", frozenset({0, 4, 7, 10}): "dominant seventh", frozenset({0, 3, 7, 10}): "minor seventh",
    frozenset({0, 3, 6, 10}): "half-diminished seventh", frozenset({0, 3, 6, 9}): "diminished seventh",
    frozenset({0, 4, 7, 11}): "major seventh",
}


def chord_kind(pitch_classes: set[int]) -> str:
    """The kind of chord a set of pitch classes spells ("major", "dominant seventh"), "open fifth/octave" for one or
    two with a fifth, else "other"."""
    if len(pitch_classes) == 1:
        return "unison"
    for root in pitch_classes:
        found = CHORDS.get(frozenset((pc - root) % 12 for pc in pitch_classes))
        if found:
            return found
    if len(pitch_classes) == 2 and any((a - b) % 12 in (5, 7) for a in pitch_classes for b in pitch_classes):
        return "open fifth"
    return "other"


def voice_lines(notes: Sequence[Tone], order: Sequence[int]) -> dict[int, list[Tone]]:
    """Each voice's notes in time, its highest at an onset where it has several."""
    lines: dict[int, list[Tone]] = {}
    for part in order:
        starts: dict[float, Tone] = {}
        for n in notes:
            if n.part == part and (n.onset not in starts or n.pitch > starts[n.onset].pitch):
                starts[n.onset] = n
        lines[part] = [starts[t] for t in sorted(starts)]
    return lines


def piece_features(piece: Piece, order: Sequence[int], ranges: dict[int, tuple[int, int]]) -> dict:
    """The raw features of one piece: histograms (Counter) and rates (float). `order`: its voices top to bottom;
    `ranges`: each voice's reference range."""
    notes, _, _ = piece
    pcs = np.zeros(12)
    for n in notes:
        pcs[n.pitch % 12] += n.dur
    tonic, _ = key_of(pcs)
    heard = sonorities(notes)
    pitch: Counter = Counter()
    for n in notes:
        pitch[(n.pitch - tonic) % 12] += n.dur  # by time sounding, from the key's tonic
    out: dict = {
        "pitch": pitch,
        "rhythm": Counter(duration_label(n.dur) for n in notes),
        "harmony": Counter(chord_kind({p % 12 for ps in sounding.values() for p in ps}) for _, sounding in heard if sounding),
    }
    for part, line in voice_lines(notes, order).items():
        out[f"intervals {part}"] = Counter(max(-INTERVAL_CLIP, min(INTERVAL_CLIP, b.pitch - a.pitch)) for a, b in zip(line, line[1:]))
    lead = voice_leading(notes, order)
    out["parallels"] = (lead["fifths"] + lead["octaves"]) / lead["changes"] if lead["changes"] else 0.0
    soundings = max(1, len(heard))
    outside = sum(not ranges[n.part][0] <= n.pitch <= ranges[n.part][1] for n in notes if n.part in ranges)
    out["crossings and range"] = lead["crossings"] / soundings + outside / max(1, len(notes))
    out["repetition"] = repeated_phrase_rate(notes)
    return out


def _share(counts: Counter) -> dict:
    total = sum(counts.values())
    return {k: v / total for k, v in counts.items()} if total else {}


class Reference:
    """A reference set's pooled histograms and median rates, and the ranges and order of its voices."""

    def __init__(self, pieces: Sequence[Piece], parts: Sequence[int]):
        notes = [n for piece, _, _ in pieces for n in piece]
        self.ranges = {p: (min(n.pitch for n in notes if n.part == p), max(n.pitch for n in notes if n.part == p))
                       for p in parts if any(n.part == p for n in notes)}
        means = {p: np.mean([n.pitch for n in notes if n.part == p]) for p in self.ranges}
        self.order = sorted(self.ranges, key=lambda p: -means[p])
        raw = [piece_features(piece, self.order, self.ranges) for piece in pieces if piece[0]]
        self.histograms = {f: _share(sum((r[f] for r in raw), Counter())) for f in raw[0] if isinstance(raw[0][f], Counter)} if raw else {}
        self.medians = {f: median(r[f] for r in raw) for f in (*RATES, "repetition")} if raw else {}

    def distances(self, piece: Piece) -> dict[str, float]:
        """Each feature's distance from this reference (see the module's docstring)."""
        raw = piece_features(piece, self.order, self.ranges)
        out = {}
        for feature, pooled in self.histograms.items():
            mine = _share(raw[feature])
            keys = set(mine) | set(pooled)
            out[feature] = total_variation([mine.get(k, 0.0) for k in keys], [pooled.get(k, 0.0) for k in keys]) if mine else 1.0
        for feature in RATES:
            out[feature] = max(0.0, raw[feature] - self.medians[feature])
        out["repetition"] = abs(raw["repetition"] - self.medians["repetition"])
        return out


def cut(piece: Piece, bars: int) -> Piece:
    """The piece's first `bars` bars (notes sounding past the end shortened)."""
    notes, bar, beat = piece
    end = bars * bar
    return [n._replace(dur=min(n.dur, end - n.onset)) for n in notes if n.onset < end], bar, beat


def grade_sets(generated: Sequence[Piece], held_out: Sequence[Piece], names: dict[int, str]) -> dict | None:
    """The grade of generated pieces beside held-out ones (see the module's docstring); None with fewer than four
    held-out pieces or no generated notes. `names`: part index -> name of the voices to grade."""
    generated = [p for p in generated if p[0]]
    real = [p for p in held_out if p[0]]
    if len(real) < 4 or not generated:
        return None
    bars = max(1, int(median(-(-max(n.onset + n.dur for n in notes) // bar) for notes, bar, _ in generated)))
    reference = Reference(real[1::2], list(names))
    anchor = [cut(p, bars) for p in real[0::2]]
    anchor_d = [reference.distances(p) for p in anchor]
    generated_d = [reference.distances(p) for p in generated]
    features = list(anchor_d[0])
    scale = {f: median(d[f] for d in anchor_d) or (sum(d[f] for d in anchor_d) / len(anchor_d)) or 1.0 for f in features}

    def grade(d: dict[str, float]) -> float:
        return sum(d[f] / scale[f] for f in features) / len(features)

    real_grades, gen_grades = sorted(grade(d) for d in anchor_d), [grade(d) for d in generated_d]
    spread = (float(np.percentile(real_grades, 10)), float(np.percentile(real_grades, 90)))

    def label(feature: str) -> str:
        return f"intervals {names[int(feature.split()[1])]}" if feature.startswith("intervals ") else feature

    return {
        "bars": bars,
        "reference_pieces": len(real[1::2]),
        "anchor_pieces": len(anchor),
        "features": [{"feature": label(f), "generated": median(d[f] for d in generated_d), "held_out": median(d[f] for d in anchor_d),
                      "scale": scale[f]} for f in features],
        "grade": {"generated_median": median(gen_grades), "held_out_median": median(real_grades), "held_out_spread": list(spread),
                  "generated_within_spread": sum(g <= spread[1] for g in gen_grades) / len(gen_grades)},
    }
