"""`seqgen sample` for a music run: ids from the shared sampler -> notes -> a MIDI file, a score or audio (or tokens).

The sampler (`seqgen.models.generate`) only sees ids; this module primes it with a MIDI file's opening, stops
each sample once it has `--bars` bars (a decoder follows the time the tokens have reached), and writes what the
output's extension asks for: `.mid` a Standard MIDI File (one track per part), `.musicxml`/`.xml`/`.mxl` a score
(one staff per part, via music21), `.wav` audio (fluidsynth).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from seqgen.config import SampleConfig
from seqgen.errors import InputError, UsageError
from seqgen.files import atomic_write_bytes
from seqgen.models.generate import beam_steps, sample_steps
from seqgen.music.events import Song
from seqgen.music.midi_io import MIDI_SUFFIXES, song_to_midi_bytes
from seqgen.music.parts import Part, apply_programs, parse_programs
from seqgen.music.scores import MUSICXML_SUFFIXES, SCORE_SUFFIXES
from seqgen.music.tokens import EOS, MusicTokenizer, Piece, bar_steps, parse_time_signature, read_songs

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

    def given(self) -> list[str]:
        """The music-only options set on the command line (an error for a text run)."""
        names = {"--bars": self.bars is not None, "--tempo": self.tempo is not None, "--program": self.program is not None,
                 "--time-signature": self.time_signature is not None, "--velocity": self.velocity != 80,
                 "--prime-midi": self.prime_midi is not None, "--prime-bars": self.prime_bars is not None,
                 "--format": self.format not in (None, "tokens"), "--soundfont": self.soundfont is not None}
        return [k for k, v in names.items() if v]

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

    def output(self, paths: list[Path]) -> str:
        """What to write: midi, musicxml, wav or tokens; --format, else by the extension of --out."""
        suffix = paths[0].suffix.lower() if paths else ""
        if self.format == "midi" and suffix in MUSICXML_SUFFIXES + (".wav",):
            raise UsageError(f"--format midi cannot write a {suffix} file", "leave --format out: the extension of --out chooses")
        fmt = self.format or ("midi" if suffix in MIDI_SUFFIXES else "musicxml" if suffix in MUSICXML_SUFFIXES else "wav" if suffix == ".wav" else "tokens")
        if self.soundfont is not None and fmt != "wav":
            raise UsageError("--soundfont is for .wav output", "pass --out FILE.wav")
        return fmt


def _primer(tokenizer: MusicTokenizer, opts: MusicOptions, prime: str | None, prime_file: Path | None,
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


def cut(piece: Piece, limit: int) -> Piece:
    """The piece up to `limit` steps: later notes left out, notes sounding past it shortened."""
    notes = [n._replace(dur=min(n.dur, limit - n.start)) for n in piece.notes if n.start < limit]
    return Piece(piece.name, notes, piece.time_signature, piece.tempo, piece.key)


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
        """Write `song` to `path` (stdout for MIDI without one); returns ", N.N s of audio" for a .wav, else ""."""
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


def sample_music(model, tokenizer: MusicTokenizer, cfg: SampleConfig, opts: MusicOptions | None, prime: str | None,
                 prime_file: Path | None, paths: list[Path], device, warn: Callable[[str], None]) -> list[str]:
    opts = opts or MusicOptions()
    opts.check()
    writer = SongWriter(opts, paths, cfg.num)
    fmt = writer.format
    ts_override = parse_time_signature(opts.time_signature) if opts.time_signature else None
    bars = opts.bars if opts.bars is not None else (None if opts.length_given else DEFAULT_BARS)
    if bars is not None and not opts.length_given:
        cfg.length = bars * TOKENS_PER_BAR_CAP + 64

    prime_ids, prime_tempo, primer_parts = _primer(tokenizer, opts, prime, prime_file, warn)
    parts = output_parts(tokenizer, opts, primer_parts)
    context = prime_ids or tokenizer.start_ids()
    clocks = []
    for _ in range(cfg.num):
        clock = tokenizer.clock()
        if ts_override:
            clock.piece.time_signature, clock.seen_ts = ts_override, True
        for i in context:
            clock.feed(tokenizer.vocab.tokens[i])
        clock.start_cursor = max(clock.cursor, clock.piece.end())  # generation continues from here
        clocks.append(clock)
    outputs: list[list[int]] = [[] for _ in range(cfg.num)]
    limits: list[int | None] = [None] * cfg.num
    done = [False] * cfg.num
    eos = tokenizer.vocab.id_of("eos")
    steps = (beam_steps if getattr(cfg, "beam", None) else sample_steps)(model, context, cfg, device, eos)
    for step in steps:
        for i, tok in enumerate(step):
            if tok is None or done[i]:
                done[i] = done[i] or tok is None
                continue
            outputs[i].append(tok)
            clock = clocks[i]
            clock.feed(tokenizer.vocab.tokens[tok])
            if bars is not None:
                if limits[i] is None and (clock.seen_ts or clock.piece.notes or clock.cursor):
                    start = -(-max(clock.start_cursor, 0) // clock.bar()) * clock.bar()
                    limits[i] = start + bars * clock.bar()
                if limits[i] is not None and clock.cursor >= limits[i]:  # type: ignore[operator]
                    done[i] = True
        if all(done):
            break

    results = []
    for i, (ids, clock) in enumerate(zip(outputs, clocks)):
        piece = clock.piece if limits[i] is None else cut(clock.piece, limits[i])  # type: ignore[arg-type]
        song = tokenizer.to_song(piece, tempo=opts.tempo or prime_tempo, velocity=opts.velocity, time_signature=ts_override, parts=parts)
        written = sum(len(t.notes) for t in song.tracks)  # duplicates within a part are written once
        sound = ""
        if fmt == "tokens":
            text = "".join(tokenizer.render(prime_ids + ids)).rstrip("\n") + "\n"
            results.append(text)
            writer.write_text(text, paths[i] if paths else None, i, cfg.num)
        else:
            results.append(f"{written} notes")
            sound = writer.write(song, paths[i] if paths else None)
        if paths:
            bar = clock.bar()
            names = [t.name for t in song.tracks if t.notes]
            voices = f" in {len(names)} parts ({', '.join(names)})" if tokenizer.table is not None else ""
            warn(f"wrote {paths[i]}: {written} notes{voices}, {-(-piece.end() // bar)} bars of "
                 f"{piece.time_signature[0]}/{piece.time_signature[1]}{sound}")
    return results
