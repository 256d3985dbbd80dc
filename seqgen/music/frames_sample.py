"""`seqgen sample` for a frames run: frames drawn one at a time (`seqgen.models.frames`) -> a MIDI file for a DAW,
a score or audio (by --out's extension, as for every music run), or the piano roll as text (one line per frame, the sounding keys low to high).

Temperature divides every key's logit before its draw (each of the 88 independent sigmoids, or each conditional of
the autoregressive head); as it goes to 0 the draw becomes deterministic, and `--greedy` takes that limit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch

from seqgen.config import SampleConfig
from seqgen.errors import InputError, UsageError
from seqgen.models.frames import FramesModel, generate_frames
from seqgen.models.generate import cpu_generator
from seqgen.music.midi_io import MIDI_SUFFIXES
from seqgen.music.parts import parse_programs
from seqgen.music.pianoroll import GRIDS, roll_lines, roll_to_song, song_to_roll
from seqgen.music.sample import DEFAULT_BARS, MusicOptions, SongWriter
from seqgen.music.scores import SCORE_SUFFIXES
from seqgen.music.tokens import parse_time_signature, read_songs

GREEDY_TEMPERATURE = 1e-9  # --greedy: every probability 0 or 1, so each key is on exactly when its logit is positive


def refuse_options(cfg: SampleConfig, prime: str | None, prime_file: Path | None) -> None:
    """One line naming the first sampling option a frames run has no use for."""
    unused = {"--beam": cfg.beam is not None, "--top-k": cfg.top_k is not None, "--top-p": cfg.top_p is not None,
              "--stop-at-eos": cfg.stop_at_eos, "--prime": prime is not None,
              "--prime-file": prime_file is not None and Path(prime_file).suffix.lower() not in MIDI_SUFFIXES + SCORE_SUFFIXES}
    for name, given in unused.items():
        if given:
            raise UsageError(f"{name} does not apply to a frames run", "frames are drawn key by key; prime with --prime-midi FILE")


def _primer(opts: MusicOptions, prime_file: Path | None, per_quarter: int, bar: int) -> np.ndarray | None:
    """The frames of --prime-midi (or a MIDI or score --prime-file), cut to --prime-bars; None without one."""
    path = opts.prime_midi or prime_file
    if path is None:
        return None
    if not Path(path).is_file():
        raise UsageError(f"no such file: {path}")
    roll = song_to_roll(read_songs(Path(path))[0], per_quarter)
    if opts.prime_bars:
        roll = roll[: opts.prime_bars * bar]
    if not roll.any():
        raise InputError(f"{path} has no notes on the piano's 88 keys")
    return roll


def sample_frames(model: FramesModel, meta: dict, cfg: SampleConfig, opts: MusicOptions | None, prime: str | None,
                  prime_file: Path | None, paths: list[Path], device: torch.device, warn: Callable[[str], None]) -> list[str]:
    """Draw --num pieces and write them (MIDI files, or text rolls); returns a one-line summary of each."""
    opts = opts or MusicOptions()
    opts.check()
    refuse_options(cfg, prime, prime_file)
    writer = SongWriter(opts, paths, cfg.num, "chorale.mid")
    programs = parse_programs(opts.program) if opts.program is not None else {None: 0}
    if set(programs) != {None}:
        raise UsageError("a piano roll has no parts, so --program takes one program for all notes", "e.g. --program 19")
    per_quarter = GRIDS[meta["grid"]]
    ts = parse_time_signature(opts.time_signature) if opts.time_signature else tuple(meta.get("time_signature") or (4, 4))
    bar = max(1, round(ts[0] * 4 / ts[1] * per_quarter))  # frames per bar
    length = cfg.length if opts.length_given and opts.bars is None else (opts.bars or DEFAULT_BARS) * bar
    primer = _primer(opts, prime_file, per_quarter, bar)
    temperature = GREEDY_TEMPERATURE if cfg.greedy else cfg.temperature
    prime_t = None if primer is None else torch.from_numpy(primer.astype(np.float32)).to(device)
    drawn = generate_frames(model, length, cfg.num, temperature, cpu_generator(cfg.seed), prime_t).cpu().numpy() > 0.5
    tempo = opts.tempo or float(meta.get("tempo") or 120.0)
    results = []
    for i, roll in enumerate(drawn):
        piece = roll if primer is None else np.concatenate([primer, roll])
        notes = int((np.diff(np.vstack([np.zeros((1, piece.shape[1]), bool), piece]).astype(np.int8), axis=0) == 1).sum())
        sound = ""
        if writer.format == "tokens":
            writer.write_text("\n".join(roll_lines(piece)) + "\n", paths[i] if paths else None, i, cfg.num)
        else:
            song = roll_to_song(piece, per_quarter, programs[None], tempo, opts.velocity, ts)
            sound = writer.write(song, paths[i] if paths else None)
        if paths:
            warn(f"wrote {paths[i]}: {notes} notes, {len(piece)} frames of {meta['grid']} ({-(-len(piece) // bar)} bars of {ts[0]}/{ts[1]}){sound}")
        results.append(f"{notes} notes")
    return results
