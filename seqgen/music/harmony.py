"""Melody -> chords: pairs for an encoder–decoder that harmonizes a tune, and harmonized MIDI out.

A piece with a melody track and a chord track (Nottingham's files have both; `--tracks MELODY CHORDS` picks them
elsewhere) is cut into segments of `--segment-bars` bars. The source is the segment's melody in the `melody`
token scheme (`ts:4/4 E5 d6 rest d3 …`, padded with a rest to the segment's end so its length says how many beats
there are); the target is one chord token per beat: the root and quality music21's chord tools name for the
chord-track notes sounding in that beat (`C`, `Am`, `G7`, `Dm7`, `Bdim`, `Faug`, `Cmaj7`; `N` for no chord).

A beat is a quarter note in x/4 and x/2, a dotted quarter in compound x/8 (6/8, 9/8, 12/8), else an eighth.

The source marks where each beat starts, `bar` on a bar's first beat and `beat` on the others, before the first note
(or rest) that starts in it: `ts:3/4 bar E5 d6 D5 d6 beat C5 d12 beat … bar …`. Why: without them the decoder had to
add up durations to find the melody under its k-th chord, and it mostly held one chord (0.18 changes a bar against
Nottingham's 1.10); with them the k-th chord can attend to the k-th mark. Datasets made before the marks
(`meta.json` without `harmony.beat_marks`) keep reading and writing sources without them.
"""

from __future__ import annotations

import math
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Sequence

from seqgen.data.pairs import PairsReport, prepare_pairs
from seqgen.errors import InputError, UsageError
from seqgen.music.events import Song, Track
from seqgen.music.tokens import BOS, NAMES, OUT_TPQ, REST, MelodyTokenizer, Note, Piece, bar_steps, melody_line, parse_pitch

NO_CHORD = "N"
BAR_MARK, BEAT_MARK = "bar", "beat"  # in a source: where a bar's first beat, or another beat, starts
_SEVENTHS = {"dominant seventh chord": "7", "major seventh chord": "maj7", "minor seventh chord": "m7",
             "half-diminished seventh chord": "m7b5", "diminished seventh chord": "dim7"}
_TRIADS = {"major": "", "minor": "m", "diminished": "dim", "augmented": "aug"}
# chord tones above the root, for writing a chord back as notes
_INTERVALS = {"": (0, 4, 7), "m": (0, 3, 7), "dim": (0, 3, 6), "aug": (0, 4, 8), "7": (0, 4, 7, 10), "maj7": (0, 4, 7, 11),
              "m7": (0, 3, 7, 10), "m7b5": (0, 3, 6, 10), "dim7": (0, 3, 6, 9)}


@lru_cache(maxsize=4096)
def chord_name(pitches: tuple[int, ...]) -> str:
    """A chord symbol for sounding MIDI pitches, by music21's root finding: `C`, `Am`, `G7`, … or `N` for none."""
    if not pitches:
        return NO_CHORD
    from music21 import chord

    c = chord.Chord(sorted(set(pitches)))
    root = NAMES[c.root().pitchClass]
    if c.commonName in _SEVENTHS:
        return root + _SEVENTHS[c.commonName]
    return root + _TRIADS.get(c.quality, "")  # a single note, a fifth or an unnamed set: the root alone


def chord_tones(symbol: str, low: int = 48) -> list[int]:
    """MIDI pitches of a chord symbol, root position from the root's first octave at or above `low`."""
    if symbol == NO_CHORD:
        return []
    root = symbol[:2] if symbol[1:2] == "#" else symbol[:1]
    quality = symbol[len(root):]
    if root not in NAMES or quality not in _INTERVALS:
        return []
    base = low + (NAMES.index(root) - low) % 12
    return [base + i for i in _INTERVALS[quality]]


def beat_steps(ts: tuple[int, int], spq: int) -> int:
    num, den = ts
    if den <= 4:
        return spq * 4 // den
    if den == 8 and num % 3 == 0 and num > 3:
        return spq * 3 // 2  # compound meter: a dotted quarter
    return max(1, spq * 4 // den)


# ---------------------------------------------------------------- pieces -> pairs


def pick_tracks(song: Song, tracks: list[str] | None) -> tuple[Track, Track]:
    """(melody, chords): the tracks named by --tracks, else the highest and the lowest melodic track by mean pitch."""
    from seqgen.music.tokens import match_tracks

    usable = [t for t in song.tracks if t.notes and not t.is_drum]
    if tracks:
        if len(tracks) != 2:
            raise UsageError("--pairs melody:chords takes two --tracks: the melody's, then the chords'")
        chosen = [match_tracks(usable, [spec]) for spec in tracks]
        if not all(chosen):
            raise InputError(f"no track matches --tracks {' '.join(tracks)}")
        return chosen[0][0], chosen[1][0]
    if len(usable) < 2:
        raise InputError("fewer than two melodic tracks: no chord track to learn from")
    by_pitch = sorted(usable, key=lambda t: -sum(n[2] for n in t.notes) / len(t.notes))
    return by_pitch[0], by_pitch[-1]


def _melody_tokenizer(spq: int) -> MelodyTokenizer:
    return MelodyTokenizer.untrained(MelodyTokenizer.make_settings(spq))


def melody_segments(song: Song, spq: int, segment_bars: int, marks: bool = True) -> tuple[Piece, list[list[str]]]:
    """A tune to harmonize: its melody line (the highest-pitched melodic track) and each segment's source tokens
    (with beat marks unless the run's dataset was made without them)."""
    tok = _melody_tokenizer(spq)
    piece = melody_line(song, spq)
    if not piece.notes:
        raise InputError(f"{song.name} has no melody to harmonize")
    length = segment_bars * bar_steps(piece.time_signature, spq)
    sources = []
    for start in range(0, piece.end(), length):
        stop = min(start + length, piece.end())
        notes = [n._replace(start=n.start - start, dur=min(n.dur, stop - n.start)) for n in piece.notes if start <= n.start < stop]
        if notes:
            sources.append(melody_source(tok, Piece(piece.name, notes, piece.time_signature), stop - start, marks))
    return piece, sources


def melody_and_chords(song: Song, tracks: list[str] | None, spq: int) -> tuple[Piece, list[tuple[int, int, int]], int]:
    """The melody line as a piece, the chord track's notes (start, end, pitch) in the same steps, and the beat."""
    melody_track, chord_track = pick_tracks(song, tracks)
    tok = _melody_tokenizer(spq)
    first = min(n[0] for n in melody_track.notes)
    ex = tok.extract(Song(song.name, song.ticks_per_quarter, [melody_track], song.tempo, song.time_signature, song.key))
    piece = ex.piece
    bar = bar_steps(piece.time_signature, spq)
    step = lambda tick: (tick * spq * 2 + song.ticks_per_quarter) // (2 * song.ticks_per_quarter)  # noqa: E731  (as extract rounds)
    lead = step(first) - step(first) % bar  # what extract took off the melody's start
    chords = [(step(a) - lead, step(b) - lead, p) for a, b, p, _ in chord_track.notes if step(b) - lead > 0]
    return piece, chords, beat_steps(piece.time_signature, spq)


def segments(piece: Piece, chords: list[tuple[int, int, int]], beat: int, segment_bars: int, spq: int) -> list[tuple[list[str], list[str]]]:
    """(melody tokens, chord per beat) per segment of `segment_bars` bars with a melody note in it."""
    tok = _melody_tokenizer(spq)
    length = segment_bars * bar_steps(piece.time_signature, spq)
    end = max(piece.end(), max((b for _, b, _ in chords), default=0))
    out = []
    for start in range(0, end, length):
        stop = min(start + length, end)
        notes = [n._replace(start=n.start - start, dur=min(n.dur, stop - n.start)) for n in piece.notes if start <= n.start < stop]
        if not notes:
            continue
        source = melody_source(tok, Piece(piece.name, notes, piece.time_signature), stop - start)
        beats = math.ceil((stop - start) / beat)
        target = []
        for b in range(beats):
            lo, hi = start + b * beat, start + (b + 1) * beat
            target.append(chord_name(tuple(sorted({p for a, z, p in chords if a < hi and z > lo}))))
        out.append((source, target))
    return out


def melody_source(tok: MelodyTokenizer, piece: Piece, length: int, marks: bool = True) -> list[str]:
    """A segment's melody tokens, without <bos>/<eos>, with a closing rest out to `length` steps; with `marks`, a
    `bar` or `beat` mark where each beat starts, before the first note or rest starting in it (so there are exactly
    as many marks as beats, and as chords in the target)."""
    tokens = tok.encode_piece(piece)[1:-1]
    last = max((n.start + n.dur for n in piece.notes), default=0)
    tokens += tok.silence(length - last) if length > last else []
    if not marks:
        return tokens
    beat, bar = beat_steps(piece.time_signature, tok.spq), bar_steps(piece.time_signature, tok.spq)
    beats = math.ceil(length / beat)
    clock = tok.clock()
    clock.feed(BOS)
    out, marked = [], 0
    for token in tokens:
        if token == REST or parse_pitch(token) is not None:  # an event starts at the clock's time
            while marked < beats and marked * beat <= clock.cursor:
                out.append(BAR_MARK if (marked * beat) % bar == 0 else BEAT_MARK)
                marked += 1
        out.append(token)
        clock.feed(token)
    return out + [BAR_MARK if (b * beat) % bar == 0 else BEAT_MARK for b in range(marked, beats)]


def source_time_signature(source: Sequence[str]) -> tuple[int, int]:
    """A segment's time signature, from its `ts:N/D` token (4/4 without one)."""
    return next((tuple(int(x) for x in t[3:].split("/")) for t in source if t.startswith("ts:")), (4, 4))  # type: ignore[return-value]


def has_beat_marks(meta: dict) -> bool:
    """Whether a melody -> chords dataset's (or run's) sources mark each beat; those made before the marks do not."""
    return bool(meta.get("harmony", {}).get("beat_marks"))


def without_marks(source: Sequence[str]) -> list[str]:
    return [t for t in source if t not in (BAR_MARK, BEAT_MARK)]


def with_marks(source: Sequence[str], spq: int) -> list[str]:
    """Melody tokens as `melody_source` writes them with beat marks (tokens that have marks are kept as they are)."""
    if any(t in (BAR_MARK, BEAT_MARK) for t in source):
        return list(source)
    ts = source_time_signature(source)
    notes, length = _notes_of(source, spq)
    return melody_source(_melody_tokenizer(spq), Piece("input", notes, ts), length)


def transpose_song(song: Song, shift: int) -> Song | None:
    """The song with every note `shift` semitones away, or None when a note would leave MIDI's 0-127."""
    tracks = []
    for t in song.tracks:
        moved = [(a, b, p + shift, v) for a, b, p, v in t.notes]
        if any(not 0 <= p <= 127 for _, _, p, _ in moved):
            return None
        tracks.append(replace(t, notes=moved))
    return replace(song, tracks=tracks)


def prepare_harmony(specs: list[str], out: Path, report: PairsReport, val: float, test: float, force: bool,
                    tracks: list[str] | None, segment_bars: int, spq: int, max_length: int, shifts: Sequence[int] = (0,)) -> PairsReport:
    """`seqgen prepare SOURCES --pairs melody:chords`: every segment of every tune with a melody and a chord track;
    with `shifts` (--transpose) also each training tune moved by each shift, melody and chords alike (a tune in
    twelve keys teaches that a chord is a function of the melody's key, not of one key's pitches)."""
    from seqgen.data.dataset import check_inputs_outside, duplicate_reason
    from seqgen.music.prepare import collect_music_files, load_all
    from seqgen.music.tokens import check_steps_per_quarter

    check_steps_per_quarter(spq)
    files = collect_music_files(specs)
    check_inputs_outside(out, files)
    pairs: list[tuple] = []  # (source, target, where, piece key)
    copies: list[tuple] = []  # the same with True: a transposed copy, for training tunes only
    seen: dict[str, str] = {}
    for name, digest, songs, reason in load_all(files):
        if songs is None:
            report.skip(reason or "unreadable", name)
            continue
        if duplicate_reason(seen, digest, name):
            report.skip("duplicate file", name)
            continue
        report.sources.append({"name": name, "sha256": digest})
        for place, song in enumerate(songs):
            report.lines += 1
            try:
                piece, chords, beat = melody_and_chords(song, tracks, spq)
            except InputError as exc:
                report.skip(exc.message, name)
                continue
            for i, (source, target) in enumerate(segments(piece, chords, beat, segment_bars, spq)):
                # split by piece, as music datasets are: all of a tune's segments in one split
                pairs.append((" ".join(source), " ".join(target), f"{song.name} segment {i + 1}", f"{digest}:{place}"))
            for shift in (s for s in shifts if s):  # copies that prepare_pairs keeps for training tunes only
                moved = transpose_song(song, shift)
                if moved is None:
                    continue
                piece, chords, beat = melody_and_chords(moved, tracks, spq)
                for i, (source, target) in enumerate(segments(piece, chords, beat, segment_bars, spq)):
                    copies.append((" ".join(source), " ".join(target), f"{song.name} segment {i + 1} {shift:+d}", f"{digest}:{place}", True))
    if not pairs:
        raise InputError("no tune with both a melody and a chord track", "pass MIDI files with two melodic tracks, or name them with --tracks")
    # every tune's own segments before any copy: a copy never displaces a real segment as a duplicate (the splits are
    # those of the plain dataset), and the copies end the training split, where the baseline leaves them out
    return prepare_pairs(pairs + copies, out, report, "tokens", "tokens", val, test, force, max_length=max_length,
                         extra_meta={"pairs_of": "melody:chords", "harmony": {"steps_per_quarter": spq, "segment_bars": segment_bars,
                                                                              "transpose": sorted(set(shifts) | {0}), "beat_marks": True}})


# ---------------------------------------------------------------- what the baseline reads of a source


def _notes_of(source: Sequence[str], spq: int) -> tuple[list[Note], int]:
    """A segment's melody notes from its tokens, and the segment's length in steps."""
    tok = _melody_tokenizer(spq)
    dec = tok.clock()
    for t in without_marks(source):
        dec.feed(t)
    return dec.piece.notes, dec.cursor


def beat_pitch_classes(source: Sequence[str], beats: int, spq: int = 12) -> list[frozenset]:
    """The melody's pitch classes sounding in each of `beats` beats of a segment."""
    ts = source_time_signature(source)
    beat = beat_steps(ts, spq)
    notes, _ = _notes_of(source, spq)
    return [frozenset(n.pitch % 12 for n in notes if n.start < (b + 1) * beat and n.start + n.dur > b * beat) for b in range(beats)]


def segment_beats(source: Sequence[str], spq: int = 12) -> int:
    """Beats in a segment, from its tokens (the closing rest makes its length explicit)."""
    ts = source_time_signature(source)
    _, length = _notes_of(source, spq)
    return max(1, math.ceil(length / beat_steps(ts, spq)))


# ---------------------------------------------------------------- harmonizing a MIDI file


def harmonized_song(song: Song, chords_per_segment: list[list[str]], piece: Piece, spq: int, segment_bars: int,
                    program: int = 0, velocity: int = 70) -> Song:
    """The melody and a chord track (block chords, one per beat, a held chord where it repeats) at 480 ticks per quarter."""
    k = OUT_TPQ // spq
    beat = beat_steps(piece.time_signature, spq)
    length = segment_bars * bar_steps(piece.time_signature, spq)
    starts = [s for s in range(0, piece.end(), length) if any(s <= n.start < s + length for n in piece.notes)]
    spans: list[tuple[int, int, str]] = []  # (start step, end step, chord)
    for start, chords in zip(starts, chords_per_segment):
        for b, symbol in enumerate(chords):
            lo = start + b * beat
            if lo >= min(start + length, piece.end()):
                break
            if spans and spans[-1][2] == symbol and spans[-1][1] == lo:
                spans[-1] = (spans[-1][0], lo + beat, symbol)
            else:
                spans.append((lo, lo + beat, symbol))
    chord_notes = sorted((a * k, b * k, p, velocity) for a, b, s in spans for p in chord_tones(s))
    melody = Track("Melody", 0, 0, 0, [(n.start * k, (n.start + n.dur) * k, n.pitch, n.velocity) for n in piece.notes])
    chords = Track("Chords", 1, 1, program, chord_notes)
    return Song(song.name, OUT_TPQ, [melody, chords], song.tempo or 120.0, piece.time_signature, song.key)
