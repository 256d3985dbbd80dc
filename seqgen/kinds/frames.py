"""Piano-roll frames: music as 88-key frames on a fixed grid (the polyphonic-music benchmarks), modelled by the
frames network (a Bernoulli or NADE output per frame), sampled frame by frame into MIDI, a score, audio or a text roll.

Temperature divides every key's logit before its draw (each of the 88 independent sigmoids, or each conditional of
the autoregressive head); as it goes to 0 the draw becomes deterministic, and `--greedy` takes that limit.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from seqgen.config import OUTPUTS
from seqgen.errors import InputError, UsageError
from seqgen.kinds.base import WEIGHTS, Kind, Log, Option, Values, in_panel, load_model, need_sources, output_paths, refuse_existing, sample_config, warning
from seqgen.kinds.common import PREPARE_NAMES
from seqgen.kinds.music import SAMPLE_OPTIONS as MUSIC_SAMPLE
from seqgen.kinds.music import music_options
from seqgen.music.parts import parse_programs

if TYPE_CHECKING:
    import numpy as np

    from seqgen.music.output import MusicOptions
    from seqgen.music.prepare_frames import FramesReport
    from seqgen.training.checkpoint import Run

GRIDS = ("1/4", "1/8", "1/16")  # seqgen.music.pianoroll.GRIDS, without loading numpy for --help

GREEDY_TEMPERATURE = 1e-9  # --greedy: every probability 0 or 1, so each key is on exactly when its logit is positive

PREPARE = in_panel(
    "Piano roll",
    Option("frame", choices=GRIDS, help="Frames: the grid, a frame per 1/4 (JSB Chorales' protocol), 1/8 (Nottingham, MuseData, Piano-midi.de) or 1/16 note.",
           default_help="1/8; a benchmark file's from its name: 1/4 for JSB"),
)
TRAIN = in_panel(
    "Piano roll",
    Option("output", choices=OUTPUTS, help="Frames: a frame's distribution: bernoulli (88 independent keys) or autoregressive (the keys one after another, low to high, each given those below: a NADE, so chords are modelled)."),
    Option("head_size", int, min=1, max=2**16, help="Frames, autoregressive output: hidden units of the NADE."),
)


class FramesKind(Kind):
    name = "frames"
    noun = "piano-roll"
    model = "frames"
    levels = ("frames",)
    level_help = "frames: a piano roll (the default for a .json/.pickle benchmark file)"
    options = {"prepare": PREPARE, "train": TRAIN}
    takes = {
        "prepare": PREPARE_NAMES | {"tracks", "transpose"},
        # frames are drawn key by key: no top-k, top-p, beam or text primer; a MIDI primer and the music options
        "sample": frozenset(("run", "length", "temperature", "greedy", "prime_file", "num", "seed", "out", "weights", "device", "threads", "force")) | (MUSIC_SAMPLE - {"harmonize"}),
        "eval": frozenset(("run", "split", "weights", "as_json", "device", "threads", "seed", "out", "force")),
    }
    ask = "pass --level frames"
    hints = {
        "sample": "frames are drawn key by key; prime with --prime-midi FILE",
        "eval": "a piano-roll run is scored on a split of its dataset, beside per-key frequencies and the repeated previous frame",
    }

    def claims(self, sources: list[str], o: Values) -> bool:
        if o.kind not in (None, "music", "frames"):  # --kind music --level frames: frames are music too
            return False
        return o.kind == "frames" or o.level == "frames"

    def prepare(self, sources: list[str], o: Values) -> FramesReport:
        from seqgen.music.prepare_frames import prepare_frames

        need_sources(sources)
        return prepare_frames(sources, o.out, o.frame, o.val, o.test, o.force, o.tracks, o.transpose)

    def summary(self, report: FramesReport, seconds: float) -> list:
        how = "its own split" if report.benchmark else "split by piece"
        table = Table(title=f"dataset {report.out} (frames of {report.grid} from {report.grid_from}, {how}, {seconds:.1f} s)", show_header=False)
        table.add_row("files read", f"{report.files:,}")
        if len(report.shifts) > 1:
            table.add_row("transposed in training", f"{min(report.shifts):+d} to {max(report.shifts):+d} semitones, drawn afresh each epoch")
        for split in ("train", "val", "test"):
            table.add_row(f"{split}", f"{report.pieces.get(split, 0):,} pieces, {report.frames.get(split, 0):,} frames")
        for reason, n in report.dropped.most_common():
            table.add_row(f"notes dropped: {reason}", f"{n:,}")
        return [table, *(f"skipped {name}: {reason}" for name, reason in report.skipped),
                *(warning(f"no piece fell in the {'validation' if s == 'val' else s} split: pass more pieces or a larger --{s}") for s in report.empty_splits)]

    def sample(self, run: Run, o: Values, warn: Log) -> list[str]:
        """Draw --num pieces and write them (MIDI files, scores, audio, or text rolls); returns a one-line summary of each."""
        import numpy as np
        import torch

        from seqgen.models.frames import generate_frames
        from seqgen.models.generate import cpu_generator
        from seqgen.music.midi_io import MIDI_SUFFIXES
        from seqgen.music.output import DEFAULT_BARS, SongWriter
        from seqgen.music.pianoroll import GRIDS as PER_QUARTER
        from seqgen.music.pianoroll import roll_lines, roll_to_song
        from seqgen.music.scores import SCORE_SUFFIXES
        from seqgen.music.tokens import parse_time_signature

        cfg = sample_config(o)
        cfg.check()
        if o.prime_file is not None and Path(o.prime_file).suffix.lower() not in MIDI_SUFFIXES + SCORE_SUFFIXES:
            raise UsageError("--prime-file must be a MIDI file or score for a piano-roll run", self.hints["sample"])
        paths = output_paths(o.out, cfg.num)
        refuse_existing(paths, o.force)
        device, model = load_model(run, o.weights, o.device)
        meta = run.dataset_meta
        opts = music_options(o)
        writer = SongWriter(opts, paths, cfg.num, "chorale.mid")
        programs = parse_programs(opts.program) if opts.program is not None else {None: 0}
        if set(programs) != {None}:
            raise UsageError("a piano roll has no parts, so --program takes one program for all notes", "e.g. --program 19")
        per_quarter = PER_QUARTER[meta["grid"]]
        ts = parse_time_signature(opts.time_signature) if opts.time_signature else tuple(meta.get("time_signature") or (4, 4))
        bar = max(1, round(ts[0] * 4 / ts[1] * per_quarter))  # frames per bar
        length = cfg.length if opts.length_given and opts.bars is None else (opts.bars or DEFAULT_BARS) * bar
        primer = _primer(opts, o.prime_file, per_quarter, bar)
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

    def evaluate(self, run: Run, o: Values, log: Log) -> dict:
        """NLL per frame on a split beside the marginal and repeat baselines (seqgen.evaluation.frames)."""
        from seqgen.evaluation.frames import frames_report

        device, model = load_model(run, o.weights, o.device)
        ds = self.dataset_of(run, "prepare it again at that path")
        return frames_report(run, model, ds, o.split or "val", device, WEIGHTS[o.weights], o.seed)


class BenchmarkKind(FramesKind):
    """A published piano-roll benchmark file (JSB Chorales, Nottingham, MuseData, Piano-midi.de in the .json or .pickle
    of Boulanger-Lewandowski et al.), prepared on its own with the file's own split: a kind of source, whose datasets
    are piano rolls like any other (the frames kind trains, samples and scores them)."""

    noun, family = "piano-roll benchmark", "piano-roll"
    levels = ()
    level_help = ""
    options = {}
    takes = {"prepare": (PREPARE_NAMES - {"val", "test"}) | {"frame", "transpose"}}
    hints = {"prepare": "a benchmark file keeps its own train/valid/test split and frames"}
    ask = "pass a benchmark .json or .pickle file on its own"
    verbs = ("prepare",)

    def owns(self, meta: dict) -> bool:
        return False

    def claims(self, sources: list[str], o: Values) -> bool:
        from seqgen.music.pianoroll import is_benchmark_file

        return o.kind in (None, "music", "frames") and o.level in (None, "frames") and any(is_benchmark_file(s) for s in sources)

    def prepare(self, sources: list[str], o: Values) -> FramesReport:
        from seqgen.music.prepare_frames import prepare_benchmark

        return prepare_benchmark(sources, o.out, o.frame, o.force, o.transpose)


def _primer(opts: MusicOptions, prime_file: Path | None, per_quarter: int, bar: int) -> np.ndarray | None:
    """The frames of --prime-midi (or a MIDI or score --prime-file), cut to --prime-bars; None without one."""
    from seqgen.music.pianoroll import song_to_roll
    from seqgen.music.tokens import read_songs

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


FRAMES = FramesKind()
BENCHMARK = BenchmarkKind()
