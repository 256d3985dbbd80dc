"""`seqgen sample` for a music run: ids from the shared sampler -> notes -> a MIDI file for a DAW (or tokens).

The sampler (`seqgen.models.generate`) only sees ids; this module primes it with a MIDI file's opening, stops
each sample once it has `--bars` bars (a decoder follows the time the tokens have reached), and writes
Standard MIDI Files.
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
from seqgen.music.midi_io import MIDI_SUFFIXES
from seqgen.music.scores import SCORE_SUFFIXES
from seqgen.music.tokens import EOS, MusicTokenizer, Note, Piece, bar_steps, parse_time_signature, read_songs

DEFAULT_BARS = 16
TOKENS_PER_BAR_CAP = 256  # a safety bound on generation when only --bars bounds it


@dataclass
class MusicOptions:
    bars: int | None = None  # bars to generate after the primer (default 16 unless --length is given)
    length_given: bool = False  # --length was passed: it bounds the tokens
    tempo: float | None = None  # quarter notes per minute (default: the primer's, else the corpus's)
    program: int = 0  # General MIDI program 0-127 (0: acoustic grand piano)
    time_signature: str | None = None  # e.g. "3/4"; default: the tokens', else the corpus's
    velocity: int = 80  # note-on velocity when the tokens carry none
    prime_midi: Path | None = None  # continue this MIDI file or score
    prime_bars: int | None = None  # use only this many bars of the primer
    format: str | None = None  # midi | tokens; default midi for --out *.mid, else tokens

    def given(self) -> list[str]:
        """The music-only options set on the command line (an error for a text run)."""
        names = {"--bars": self.bars is not None, "--tempo": self.tempo is not None, "--program": self.program != 0,
                 "--time-signature": self.time_signature is not None, "--velocity": self.velocity != 80,
                 "--prime-midi": self.prime_midi is not None, "--prime-bars": self.prime_bars is not None,
                 "--format": self.format not in (None, "tokens")}
        return [k for k, v in names.items() if v]

    def check(self) -> None:
        if self.bars is not None and not 1 <= self.bars <= 10_000:
            raise UsageError(f"--bars must be between 1 and 10000, got {self.bars}")
        if self.tempo is not None and not 1 <= self.tempo <= 1000:
            raise UsageError(f"--tempo must be between 1 and 1000 quarter notes per minute, got {self.tempo:g}")
        if not 0 <= self.program <= 127:
            raise UsageError(f"--program must be a General MIDI program 0-127 (0 is piano), got {self.program}")
        if not 1 <= self.velocity <= 127:
            raise UsageError(f"--velocity must be between 1 and 127, got {self.velocity}")
        if self.prime_bars is not None and self.prime_bars < 1:
            raise UsageError(f"--prime-bars must be at least 1, got {self.prime_bars}")
        if self.format not in (None, "midi", "tokens"):
            raise UsageError(f"--format must be midi or tokens, not {self.format!r}")
        if self.time_signature is not None:
            parse_time_signature(self.time_signature)


def _primer(tokenizer: MusicTokenizer, opts: MusicOptions, prime: str | None, prime_file: Path | None, warn: Callable[[str], None]) -> tuple[list[int], float | None]:
    """Primer ids (without the closing <eos>) and the primer's tempo."""
    music_file = opts.prime_midi
    if music_file is None and prime_file is not None and Path(prime_file).suffix.lower() in MIDI_SUFFIXES + SCORE_SUFFIXES:
        music_file = Path(prime_file)
    if music_file is not None:
        if not Path(music_file).is_file():
            raise UsageError(f"no such file: {music_file}")
        songs = read_songs(Path(music_file))
        ex = tokenizer.extract(songs[0], fallback=True)
        piece = ex.piece
        if not piece.notes:
            raise InputError(f"{music_file} has no notes this run can read")
        if opts.prime_bars:
            piece = cut(piece, opts.prime_bars * bar_steps(piece.time_signature, tokenizer.spq))
        tokens, tempo = tokenizer.encode_piece(piece), piece.tempo
    elif prime or prime_file:
        text = prime if prime is not None else Path(prime_file).read_text(encoding="utf-8", errors="replace")  # type: ignore[arg-type]
        tokens, tempo = text.split(), None
    else:
        return [], None
    while tokens and tokens[-1] == EOS:
        tokens.pop()
    ids, unknown = tokenizer.ids_of(tokens)
    if unknown:
        warn(f"warning: {unknown} primer token(s) are outside this run's vocabulary and were left out")
    if not ids:
        raise InputError("nothing of the primer is in this run's vocabulary", "prime with music like the training data")
    return ids, tempo


def cut(piece: Piece, limit: int) -> Piece:
    """The piece up to `limit` steps: later notes left out, notes sounding past it shortened."""
    notes = [Note(n.start, min(n.dur, limit - n.start), n.pitch, n.velocity, n.drum) for n in piece.notes if n.start < limit]
    return Piece(piece.name, notes, piece.time_signature, piece.tempo, piece.key)


def sample_music(model, tokenizer: MusicTokenizer, cfg: SampleConfig, opts: MusicOptions | None, prime: str | None,
                 prime_file: Path | None, paths: list[Path], device, warn: Callable[[str], None]) -> list[str]:
    opts = opts or MusicOptions()
    opts.check()
    fmt = opts.format or ("midi" if paths and paths[0].suffix.lower() in MIDI_SUFFIXES else "tokens")
    if fmt == "midi" and not paths:
        if cfg.num > 1:
            raise UsageError("--num with MIDI output needs --out FILE.mid (writes FILE-1.mid, …)")
        if sys.stdout.isatty():
            raise UsageError("refusing to write MIDI data to a terminal", "pass --out tune.mid, or pipe the output")
    ts_override = parse_time_signature(opts.time_signature) if opts.time_signature else None
    bars = opts.bars if opts.bars is not None else (None if opts.length_given else DEFAULT_BARS)
    if bars is not None and not opts.length_given:
        cfg.length = bars * TOKENS_PER_BAR_CAP + 64

    prime_ids, prime_tempo = _primer(tokenizer, opts, prime, prime_file, warn)
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
        if fmt == "midi":
            data = tokenizer.to_midi_bytes(piece, program=opts.program, tempo=opts.tempo or prime_tempo, velocity=opts.velocity, time_signature=ts_override)
            results.append(f"{len(piece.notes)} notes")
        else:
            text = "".join(tokenizer.render(prime_ids + ids)).rstrip("\n") + "\n"
            data = text.encode("utf-8")
            results.append(text)
        if paths:
            paths[i].parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(paths[i], data)
            bar = clock.bar()
            warn(f"wrote {paths[i]}: {len(piece.notes)} notes, {-(-piece.end() // bar)} bars of {piece.time_signature[0]}/{piece.time_signature[1]}")
        elif fmt == "midi":
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        else:
            sys.stdout.write((f"--- sample {i + 1} ---\n" if cfg.num > 1 else "") + text)
            sys.stdout.flush()
    return results
