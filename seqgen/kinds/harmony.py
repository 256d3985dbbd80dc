"""Melody -> chords: an encoder-decoder that harmonizes a tune. Its pairs are a segment's melody tokens and one chord
per beat (`seqgen.music.harmony`); `sample --input-midi` writes the tune back with a chord track."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqgen.errors import UsageError
from seqgen.kinds.base import Log, Option, Values, in_panel
from seqgen.kinds.common import PREPARE_NAMES
from seqgen.kinds.pairs import SAMPLE_TAKES, PairsKind, decode, sides

if TYPE_CHECKING:
    from seqgen.config import SampleConfig
    from seqgen.data.pairs import PairsReport
    from seqgen.training.checkpoint import Run

PREPARE = in_panel("Melody → chords", Option("segment_bars", int, 8, "--pairs melody:chords: bars per pair.", min=1, max=64))
SAMPLE = in_panel(
    "Melody → chords",
    Option("input_midi", Path, help="Melody -> chords runs: harmonize the melody of this MIDI file or score (--out FILE.mid writes it with a chord track; without --out the chords are printed)."),
    Option("chord_program", int, 0, "Melody -> chords runs: General MIDI program of the chord track (0 is acoustic grand piano).", min=0, max=127),
)


class HarmonyKind(PairsKind):
    noun, article = "melody -> chords", "a"
    levels = ()
    level_help = ""
    options = {"prepare": PREPARE, "sample": SAMPLE, "eval": PairsKind.options["eval"]}
    takes = {
        "prepare": (PREPARE_NAMES - {"level"}) | {"pairs", "tracks", "steps_per_quarter", "transpose", "max_length"},
        "sample": SAMPLE_TAKES | {"input", "input_file", "length_penalty", "max_length"},
        "eval": PairsKind.takes["eval"],
    }
    hints = {"sample": "give --input-midi FILE, or --input with melody tokens", "eval": PairsKind.hints["eval"]}
    ask = "pass --pairs melody:chords"

    def owns(self, meta: dict) -> bool:
        return meta.get("kind") == "pairs" and "harmony" in meta

    def claims(self, sources: list[str], o: Values) -> bool:
        return o.pairs == "melody:chords"

    def prepare(self, sources: list[str], o: Values) -> PairsReport:
        from seqgen.data.pairs import PairsReport
        from seqgen.music.harmony import prepare_harmony
        from seqgen.music.prepare import parse_transpose

        val, test = self.fractions(sources, o)
        return prepare_harmony(sources, Path(o.out), PairsReport(), val, test, o.force, o.tracks, o.segment_bars, o.steps_per_quarter or 12,
                               o.max_length, parse_transpose(o.transpose))

    def output_lengths(self, run: Run, sources: list[list[int]]) -> list[int] | None:
        """One chord per beat of each segment's melody, counted from the source (an early <eos> once left the last
        chord held to the segment's end)."""
        from seqgen.music.harmony import segment_beats

        source, _ = sides(run)
        spq = int(run.dataset_meta["harmony"]["steps_per_quarter"])
        return [segment_beats(source.decode(ids).split(), spq) for ids in sources]

    def as_source(self, run: Run, line: str) -> str:
        """Melody tokens given without the beat marks the run's dataset has get them, as `prepare` writes them."""
        from seqgen.music.harmony import has_beat_marks, with_marks

        if not has_beat_marks(run.dataset_meta) or not line.strip():
            return line
        return " ".join(with_marks(line.split(), int(run.dataset_meta["harmony"]["steps_per_quarter"])))

    def answer(self, run: Run, model: Any, device: Any, cfg: SampleConfig, o: Values, warn: Log) -> list[str]:
        """--input-midi: its melody harmonized; else, as any encoder-decoder, the chords of melody-token lines."""
        if o.input_midi is None:
            return super().answer(run, model, device, cfg, o, warn)
        return _harmonize(run, model, device, cfg, o, warn)


def _harmonize(run: Run, model: Any, device: Any, cfg: SampleConfig, o: Values, warn: Log) -> list[str]:
    """A melody (MIDI file or score) -> one chord per beat -> the melody and a chord track as MIDI (or the chords as text)."""
    from seqgen.files import atomic_write_bytes
    from seqgen.music.harmony import NO_CHORD, harmonized_song, has_beat_marks, melody_segments, segment_beats
    from seqgen.music.midi_io import song_to_midi_bytes
    from seqgen.music.tokens import read_songs

    if not Path(o.input_midi).is_file():
        raise UsageError(f"no such file: {o.input_midi}")
    if o.out is not None and Path(o.out).suffix.lower() not in (".mid", ".midi"):
        raise UsageError(f"--out {o.out} must be a MIDI file (.mid) for a harmonized melody")
    source, _ = sides(run)
    harmony = run.dataset_meta["harmony"]
    spq, bars = int(harmony["steps_per_quarter"]), int(harmony["segment_bars"])
    song = read_songs(Path(o.input_midi))[0]
    piece, segments = melody_segments(song, spq, bars, has_beat_marks(run.dataset_meta))
    encoded = [source.encode(" ".join(tokens)) for tokens in segments]
    if sum(u for _, u in encoded):
        warn(f"warning: {sum(u for _, u in encoded)} melody token(s) are not in the run's vocabulary and read as <unk>")
    beats = [segment_beats(tokens, spq) for tokens in segments]
    decoded = decode(run, model, device, [ids for ids, _ in encoded], cfg, o.max_length, o.length_penalty, warn, beats)
    # one chord per beat (with a --max-length under the beats, the last chord is held to the segment's end)
    firsts = (decoded.texts[i * cfg.num].split() for i in range(len(beats)))
    chords = [(c + [c[-1] if c else NO_CHORD] * n)[:n] for c, n in zip(firsts, beats)]
    texts = [" ".join(c) for c in chords]
    if o.out is None:
        sys.stdout.write("".join(t + "\n" for t in texts))
        return texts
    Path(o.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(Path(o.out), song_to_midi_bytes(harmonized_song(song, chords, piece, spq, bars, o.chord_program)))
    warn(f"wrote {o.out} ({len(segments)} segment(s) of {bars} bars harmonized, {sum(len(c) for c in chords)} beats)")
    return texts


HARMONY = HarmonyKind()
