"""What a music sample starts from and becomes, without the model: `sample`'s music options, the primer read from a
MIDI file or score, the parts a sample is written as, and the writer for what the output's extension asks for:
`.mid` a Standard MIDI File (one track per part), `.musicxml`/`.xml`/`.mxl` a score (one staff per part, via
music21), `.wav` audio (fluidsynth). The loop that draws ids from a model is the music kind's (`seqgen.kinds.music`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from seqgen.errors import InputError, UsageError
from seqgen.files import atomic_write_bytes
from seqgen.music.events import Song
from seqgen.music.keys import song_key
from seqgen.music.midi_io import MIDI_SUFFIXES, song_to_midi_bytes
from seqgen.music.parts import Part, apply_programs, parse_programs
from seqgen.music.scores import MUSICXML_SUFFIXES, SCORE_SUFFIXES
from seqgen.music.tokens import EOS, MusicTokenizer, Piece, bar_steps, melody_line, parse_time_signature, read_songs

DEFAULT_BARS = 16
TOKENS_PER_BAR_CAP = 256  # a safety bound on generation when only --bars bounds it


@dataclass
class MusicOptions:
    bars: int | None = None  # bars to generate after the primer (default 16 unless --length is given)
    length_given: bool = False  # --length was passed: it bounds the tokens
    tempo: float | None = None  # quarter notes per minute (default: the primer's, else the corpus's)
    program: str | None = None  # General MIDI program(s): "40" for every part, "Soprano=52,Bass=32" (default: each part's own)
    soundfont: Path | None = None  # .wav output: this General MIDI soundfont (default: the first found)
    time_signature: str | None = None  # e.g. "3/4"; default: the tokens', else the corpus's
    velocity: int = 80  # note-on velocity when the tokens carry none
    prime_midi: Path | None = None  # continue this MIDI file or score
    prime_bars: int | None = None  # use only this many bars of the primer
    format: str | None = None  # midi | tokens; default by --out's extension (midi, musicxml, wav), else tokens
    harmonize: Path | None = None  # voices runs: write the other parts around this melody

    def check(self) -> None:
        if self.bars is not None and not 1 <= self.bars <= 10_000:
            raise UsageError(f"--bars must be between 1 and 10000, got {self.bars}")
        if self.tempo is not None and not 1 <= self.tempo <= 1000:
            raise UsageError(f"--tempo must be between 1 and 1000 quarter notes per minute, got {self.tempo:g}")
        if self.program is not None:
            parse_programs(self.program)
        if not 1 <= self.velocity <= 127:
            raise UsageError(f"--velocity must be between 1 and 127, got {self.velocity}")
        if self.prime_bars is not None and self.prime_bars < 1:
            raise UsageError(f"--prime-bars must be at least 1, got {self.prime_bars}")
        if self.format not in (None, "midi", "tokens"):
            raise UsageError(f"--format must be midi or tokens, not {self.format!r}")
        if self.time_signature is not None:
            parse_time_signature(self.time_signature)
        if self.harmonize is not None:
            if self.prime_midi is not None:
                raise UsageError("give --harmonize or --prime-midi, not both")
            if not self.harmonize.is_file():
                raise UsageError(f"--harmonize: no such file: {self.harmonize}")

    def output(self, paths: list[Path]) -> str:
        """What to write: midi, musicxml, wav or tokens; --format, else by the extension of --out."""
        suffix = paths[0].suffix.lower() if paths else ""
        if self.format == "midi" and suffix in MUSICXML_SUFFIXES + (".wav",):
            raise UsageError(f"--format midi cannot write a {suffix} file", "leave --format out: the extension of --out chooses")
        fmt = self.format or ("midi" if suffix in MIDI_SUFFIXES else "musicxml" if suffix in MUSICXML_SUFFIXES else "wav" if suffix == ".wav" else "tokens")
        if self.soundfont is not None and fmt != "wav":
            raise UsageError("--soundfont is for .wav output", "pass --out FILE.wav")
        return fmt


def read_primer(tokenizer: MusicTokenizer, opts: MusicOptions, prime: str | None, prime_file: Path | None,
                warn: Callable[[str], None]) -> tuple[list[int], float | None, dict[int, Part]]:
    """Primer ids (without the closing <eos>), the primer's tempo, and its own name and program for each part it plays."""
    music_file = opts.prime_midi
    if music_file is None and prime_file is not None and Path(prime_file).suffix.lower() in MIDI_SUFFIXES + SCORE_SUFFIXES:
        music_file = Path(prime_file)
    if music_file is not None:
        if not Path(music_file).is_file():
            raise UsageError(f"no such file: {music_file}")
        songs = read_songs(Path(music_file))
        ex = tokenizer.extract(songs[0], fallback=True)
        piece, own = ex.piece, ex.own_parts
        if not piece.notes:
            raise InputError(f"{music_file} has no notes this run can read")
        for track, part in ex.moved:
            warn(f"note: the primer's part {track!r} is not one of this run's; the run continues it as its part {part!r}")
        if opts.prime_bars:
            piece = cut(piece, opts.prime_bars * bar_steps(piece.time_signature, tokenizer.spq))
        tokens, tempo = tokenizer.encode_piece(piece), piece.tempo
    elif prime or prime_file:
        text = prime if prime is not None else Path(prime_file).read_text(encoding="utf-8", errors="replace")  # type: ignore[arg-type]
        tokens, tempo, own = text.split(), None, {}
    else:
        return [], None, {}
    while tokens and tokens[-1] == EOS:
        tokens.pop()
    ids, unknown = tokenizer.ids_of(tokens)
    if unknown:
        warn(f"warning: {unknown} primer token(s) are outside this run's vocabulary and were left out")
    if not ids:
        raise InputError("nothing of the primer is in this run's vocabulary", "prime with music like the training data")
    return ids, tempo, own


def read_melody(tokenizer: MusicTokenizer, path: Path, bars: int | None) -> Piece:
    """The tune of a MIDI file or score on the run's grid, for --harmonize: its highest melodic part, one note at a
    time (the highest at an onset), its first `bars` bars when given."""
    songs = read_songs(Path(path))
    line = melody_line(songs[0], tokenizer.spq)
    if not line.notes:
        raise InputError(f"{path} has no melody to harmonize", "pass a MIDI file or score with notes")
    return cut(line, bars * bar_steps(line.time_signature, tokenizer.spq)) if bars else line


def cut(piece: Piece, limit: int) -> Piece:
    """The piece up to `limit` steps: later notes left out, notes sounding past it shortened."""
    notes = [n._replace(dur=min(n.dur, limit - n.start)) for n in piece.notes if n.start < limit]
    return Piece(piece.name, notes, piece.time_signature, piece.tempo, piece.key, [t for t in piece.fermatas if t < limit])


def output_parts(tokenizer: MusicTokenizer, opts: MusicOptions, primer: dict[int, Part]) -> list[Part]:
    """The tracks a sample is written as, in the run's order: each part of the run, named and voiced as the primer
    names it where it plays it, then with --program applied."""
    programs = parse_programs(opts.program) if opts.program is not None else {}
    if tokenizer.table is None and any(name is not None for name in programs):
        raise UsageError("this run has no parts (it was prepared without them), so --program takes one program for all notes")
    run = tokenizer.output_parts(programs.get(None, 0))
    parts = [Part(own.name, own.program, p.channel, p.drum, p.pitch) if (own := primer.get(i)) else p for i, p in enumerate(run)]
    return apply_programs(parts, programs, run) if programs else parts


class SongWriter:
    """Writes a sampled Song as --out's extension asks (MIDI, a score, audio), or MIDI to a pipe: one writer for
    every kind of music run, checked before sampling so a missing fluidsynth or a terminal costs no work."""

    def __init__(self, opts: MusicOptions, paths: list[Path], num: int, example: str = "tune.mid"):
        self.format = opts.output(paths)
        self.synth = self.soundfont = None
        if self.format == "wav":
            from seqgen.music.audio import find_fluidsynth, find_soundfont

            self.synth, self.soundfont = find_fluidsynth(), find_soundfont(opts.soundfont)
        if self.format == "midi" and not paths:
            if num > 1:
                raise UsageError("--num with MIDI output needs --out FILE.mid (writes FILE-1.mid, …)")
            if sys.stdout.isatty():
                raise UsageError("refusing to write MIDI data to a terminal", f"pass --out {example}, or pipe the output")

    def write_text(self, text: str, path: Path | None, index: int, num: int) -> None:
        """A sample as text (tokens, or a piano roll's lines): to `path`, else to stdout under a header when there are several."""
        if path is None:
            sys.stdout.write((f"--- sample {index + 1} ---\n" if num > 1 else "") + text)
            sys.stdout.flush()
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, text.encode("utf-8"))

    def write(self, song: Song, path: Path | None) -> str:
        """Write `song` to `path` (stdout for MIDI without one); returns ", N.N s of audio" for a .wav, else "".
        A song without a key gets the one its notes suggest, so a DAW and a score show its key signature."""
        song.key = song_key(song)
        if self.format == "musicxml":
            from seqgen.music.scores import song_to_musicxml

            song.name = path.stem  # type: ignore[union-attr]  # the score's title
            data = song_to_musicxml(song, compressed=path.suffix.lower() == ".mxl")  # type: ignore[union-attr]
        else:
            data = song_to_midi_bytes(song)
        if path is None:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
            return ""
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.format == "wav":
            from seqgen.music.audio import render_wav

            return f", {render_wav(data, path, self.synth, self.soundfont):.1f} s of audio"
        atomic_write_bytes(path, data)
        return ""
