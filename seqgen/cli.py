"""The command-line app: parses options, prints with rich, maps errors to exit codes. No logic of its own."""

from __future__ import annotations

import json
import os
import sys
import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from seqgen import __version__
from seqgen.config import (
    ATTENTIONS,
    CELLS,
    CLIP_MODES,
    DEVICES,
    MAX_SAMPLES,
    MAX_SEED,
    MAX_THREADS,
    OPTIMIZERS,
    OUTPUTS,
    SCHEDULES,
    FramesConfig,
    ModelConfig,
    Seq2SeqConfig,
    TrainConfig,
)

app = typer.Typer(
    name="seqgen",
    help="Learn from text or music with recurrent networks and write new text or music.\n\n"
    "prepare → train → sample → eval. Add --debug anywhere to see tracebacks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts are plain: "[default: 2]" is text, not a rich markup tag
    context_settings={"help_option_names": ["-h", "--help"]},
)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def choices(name: str, values: tuple[str, ...]) -> type[Enum]:
    """An option's allowed values as an Enum, so --help lists them ([a|b|c]) and the shell completes them."""
    return Enum(name, {v: v for v in values}, type=str)  # type: ignore[return-value]


def default(help: str, value: object) -> str:
    """Help text that names the default of an option whose Python default is None ("not given")."""
    return f"{help} [default: {value}]"


Cell, Schedule, ClipMode, Optimizer, Device = (choices(n, v) for n, v in (
    ("Cell", CELLS), ("Schedule", SCHEDULES), ("ClipMode", CLIP_MODES), ("Optimizer", OPTIMIZERS), ("Device", DEVICES)))
Kind = choices("Kind", ("text", "music"))
Level = choices("Level", ("char", "word", "melody", "notes", "frames"))
FrameGrid = choices("FrameGrid", ("1/4", "1/8", "1/16"))  # seqgen.music.pianoroll.GRIDS
Output = choices("Output", OUTPUTS)
Weights = choices("Weights", ("best", "last"))
Split = choices("Split", ("train", "val", "test"))
Format = choices("Format", ("midi", "tokens"))
Parts = choices("Parts", ("program", "track", "none"))  # seqgen.music.parts.PART_MODES, without importing music here
BleuTokenizer = choices("BleuTokenizer", ("13a", "none", "intl", "char", "zh"))
PairsOf = choices("PairsOf", ("text", "melody:chords"))
SideLevel = choices("SideLevel", ("char", "word", "tokens"))
Attention = choices("Attention", ATTENTIONS)
DEVICE_HELP = "auto (CUDA, then Apple MPS, then the CPU), cpu, cuda or mps; pick a GPU with CUDA_VISIBLE_DEVICES."


def program_spec(text: str) -> str:
    """--program's value checked as the parser reads it, so a bad one is the parser's own "Invalid value" line."""
    from seqgen.errors import UsageError
    from seqgen.music.parts import parse_programs

    try:
        parse_programs(text)
    except UsageError as exc:
        raise typer.BadParameter(exc.message) from None
    return text


def value(choice: Enum | None) -> str | None:
    """The plain string of a choice (None stays None)."""
    return None if choice is None else str(choice.value)


def interactive(quiet: bool = False) -> bool:
    """Progress bars only for a person at a terminal: not when quiet, piped or under CI."""
    return not quiet and sys.stderr.isatty() and not os.environ.get("CI")


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"seqgen {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool, typer.Option("--version", callback=version_callback, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    """Learn from text or music with recurrent networks and write new text or music."""


# ---------------------------------------------------------------- prepare


@app.command()
def prepare(
    sources: Annotated[Optional[list[str]], typer.Argument(help="Text files, folders, '-' for stdin, MIDI files and scores, TSV files of pairs, or a built-in corpus or task name (see `seqgen corpora`).", show_default=False)] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Dataset folder to write.", show_default=False)] = Path(""),
    level: Annotated[Optional[Level], typer.Option(help="Token level: char or word for text (default char); melody or notes for music (default melody); frames: a piano roll (the default for a .json/.pickle benchmark file).", show_default=False)] = None,
    frame: Annotated[Optional[FrameGrid], typer.Option(help="Frames: the grid, a frame per 1/4 (JSB Chorales' protocol), 1/8 (Nottingham, MuseData, Piano-midi.de) or 1/16 note. [default: 1/8; a benchmark file's from its name: 1/4 for JSB]", show_default=False)] = None,
    kind: Annotated[Optional[Kind], typer.Option(help="Default: inferred from the sources (.mid/.xml/.abc/... files, music corpora).", show_default=False)] = None,
    val: Annotated[Optional[float], typer.Option(min=0.0, max=1.0, help=default("Fraction for validation, in [0, 1): of the tokens for text (contiguous, after train); for music and pairs, each piece's or pair's chance, drawn from its hash.", "0.05; built-in pair tasks: 5,000 of --count"), show_default=False)] = None,
    test: Annotated[Optional[float], typer.Option(min=0.0, max=1.0, help=default("Fraction for test, in [0, 1): of the tokens for text (contiguous, at the end); for music and pairs, each piece's or pair's chance, drawn from its hash.", "0.05; built-in pair tasks: 5,000 of --count"), show_default=False)] = None,
    glob: Annotated[str, typer.Option(help="File pattern inside folders.")] = "*.txt",
    encoding: Annotated[Optional[str], typer.Option(help="Text encoding (default: UTF-8, or the byte-order mark's).", show_default=False)] = None,
    lowercase: Annotated[bool, typer.Option(help="Word level: lowercase all words.")] = False,
    min_freq: Annotated[int, typer.Option(min=1, help="Word level: rarer words become <unk>.")] = 1,
    max_vocab: Annotated[Optional[int], typer.Option(min=3, help="Word level: keep at most this many tokens.", show_default=False)] = None,
    tracks: Annotated[Optional[list[str]], typer.Option(help="Music: tracks/parts to read, by name, program:N or index:N (repeatable; default: all but drums; melody: the highest-pitched track).", show_default=False)] = None,
    steps_per_quarter: Annotated[int, typer.Option(min=1, max=480, help="Music: time grid, steps per quarter note (must divide 480; 12 holds 16ths and triplets).")] = 12,
    transpose: Annotated[Optional[str], typer.Option(help="Music: add transposed copies of the training pieces: all (12 keys), N (±N semitones), A..B or a list -2,0,2 (frames: each training piece moved by one of these, drawn afresh each epoch).", show_default=False)] = None,
    key_normalize: Annotated[bool, typer.Option(help="Music: move every piece to C major / A minor (estimated key).")] = False,
    velocity_bins: Annotated[int, typer.Option(min=0, max=127, help="Music: keep dynamics as this many velocity levels (0: none).")] = 0,
    drums: Annotated[bool, typer.Option(help="Music, notes level: include drum tracks (MIDI channel 10).")] = False,
    pairs: Annotated[Optional[PairsOf], typer.Option(help="Make (source, target) pairs for an encoder-decoder: text (TSV lines source<TAB>target; --pairs alone means this) or melody:chords (music: a melody track and its chords, one chord per beat).", show_default=False)] = None,
    source: Annotated[Optional[Path], typer.Option(help="Pairs: the source side, one per line (with --target, line-aligned).", show_default=False)] = None,
    target: Annotated[Optional[Path], typer.Option(help="Pairs: the target side, line i pairs with line i of --source.", show_default=False)] = None,
    source_level: Annotated[Optional[SideLevel], typer.Option(help=default("Pairs: how the source side is cut into tokens.", "--level, else char"), show_default=False)] = None,
    target_level: Annotated[Optional[SideLevel], typer.Option(help=default("Pairs: how the target side is cut into tokens.", "--level, else char"), show_default=False)] = None,
    shared_vocab: Annotated[bool, typer.Option(help="Pairs: one vocabulary for both sides (needs the same level on both).")] = False,
    max_length: Annotated[int, typer.Option(min=1, max=10_000, help="Pairs: a pair with a side longer than this many tokens is skipped and counted.")] = 200,
    count: Annotated[int, typer.Option(min=10, help="Built-in pair tasks (addition, dates): distinct pairs to generate, all splits together.")] = 60_000,
    digits: Annotated[int, typer.Option(min=1, max=30, help="Built-in task addition: digits per operand.")] = 3,
    segment_bars: Annotated[int, typer.Option(min=1, max=64, help="--pairs melody:chords: bars per pair.")] = 8,
    parts: Annotated[Optional[Parts], typer.Option(help=default(
        "Music, notes level: keep each note's part: by track (track or part name), by General MIDI program, or none (one stream).",
        "track when a source has more than one melodic track or part, else none"), show_default=False)] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing dataset folder.")] = False,
) -> None:
    """Tokenize text, music or pairs into a dataset folder (meta.json + train/val/test ids)."""
    from seqgen.data.prepare import prepare_text
    from seqgen.errors import UsageError

    if out == Path(""):
        raise UsageError("Missing option '--out'", "name the dataset folder to write: --out DATASET")
    start = time.perf_counter()
    kind, level, sources = value(kind), value(level), list(sources or [])
    if pairs is not None or source is not None or target is not None or _is_pair_task(sources):
        from seqgen.session import prepare_pairs_from

        report = prepare_pairs_from(sources, out, value(pairs) or "text", source, target, level, value(source_level), value(target_level),
                                    val, test, force, shared_vocab, lowercase, min_freq, max_vocab, max_length, count, digits,
                                    tracks, segment_bars, steps_per_quarter, transpose)
        _print_pairs_report(report, time.perf_counter() - start)
        return
    pair_only = {"--shared-vocab": shared_vocab, "--source-level": source_level, "--target-level": target_level, "--max-length": max_length != 200,
                 "--count": count != 60_000, "--digits": digits != 3, "--segment-bars": segment_bars != 8}
    if any(pair_only.values()):
        raise UsageError(f"{next(n for n, v in pair_only.items() if v)} is an option of pairs datasets", "pass --pairs, or --source and --target")
    if not sources:
        raise UsageError("prepare needs SOURCE files, folders or a corpus name", "see `seqgen prepare --help`")
    from seqgen.music.pianoroll import is_benchmark_file

    if level == "frames" or (level is None and kind != "text" and any(is_benchmark_file(s) for s in sources)):
        from seqgen.music.prepare_frames import prepare_frames

        not_frames = {"--kind text": kind == "text", "--key-normalize": key_normalize, "--velocity-bins": velocity_bins,
                      "--drums": drums, "--steps-per-quarter": steps_per_quarter != 12}
        if any(not_frames.values()):
            raise UsageError(f"{next(n for n, v in not_frames.items() if v)} does not apply to frames", "a frames dataset is a piano roll on the --frame grid")
        _print_frames_report(prepare_frames(sources, out, value(frame), val, test, force, tracks, transpose), time.perf_counter() - start)
        return
    if frame is not None:
        raise UsageError("--frame is for piano-roll frames", "pass --level frames, or a benchmark .json or .pickle file")
    val, test = 0.05 if val is None else val, 0.05 if test is None else test
    if kind is None:
        from seqgen.music.prepare import infer_kind

        kind = "music" if level in ("melody", "notes") else infer_kind(sources)
    if kind == "music":
        from seqgen.music.prepare import prepare_music

        mreport = prepare_music(sources, out, level, val, test, force, tracks, steps_per_quarter, transpose, key_normalize, velocity_bins, drums,
                                parts=value(parts))
        _print_music_report(mreport, time.perf_counter() - start)
        return
    music_only = {"--tracks": tracks, "--transpose": transpose, "--key-normalize": key_normalize, "--velocity-bins": velocity_bins, "--drums": drums,
                  "--parts": parts}
    given = [name for name, value in music_only.items() if value]
    if given or steps_per_quarter != 12:
        raise UsageError(f"{(given or ['--steps-per-quarter'])[0]} is a music option", "pass --kind music for MIDI files and scores")
    level = level or "char"
    report = prepare_text(sources, out, level, val, test, force, glob, encoding, lowercase, min_freq, max_vocab)
    table = Table(title=f"dataset {out} ({level} level, {time.perf_counter() - start:.1f} s)", show_header=False)
    table.add_row("sources", f"{len(report.sources):,}")
    if report.skipped:
        table.add_row("skipped", f"{len(report.skipped):,}")
    table.add_row("characters", f"{report.characters:,}")
    for split, n in report.splits.items():
        table.add_row(f"{split} tokens", f"{n:,}")
    table.add_row("vocabulary", f"{report.vocab_size:,}")
    if level == "word":
        table.add_row("<unk> rate", f"{report.unk_rate():.2%}")
    err.print(table)
    for name, reason in report.skipped:
        err.print(f"skipped {name}: {reason}")


def _is_pair_task(sources: list[str]) -> bool:
    """A built-in pair task (addition, dates) among the sources: they need no --pairs."""
    from seqgen.data import corpora

    return any(not Path(s).exists() and (c := corpora.find(s)) is not None and c.kind == "pairs" for s in sources)


def _print_pairs_report(report, seconds: float) -> None:
    table = Table(title=f"pairs dataset {report.out} ({seconds:.1f} s)", show_header=False)
    table.add_row("lines read", f"{report.lines:,}")
    for reason, n in report.skipped.most_common():
        table.add_row(f"skipped: {reason}", f"{n:,}" + (f" (first: {report.examples[reason]})" if report.examples.get(reason) else ""))
    if report.duplicates:
        table.add_row("duplicate pairs (kept once)", f"{report.duplicates:,}")
    table.add_row("pairs", ", ".join(f"{report.pairs.get(s, 0):,} {s}" for s in ("train", "val", "test")))
    if report.transposed:
        table.add_row("transposed copies", f"{report.transposed:,} (in train)")
    for split in ("train", "val", "test"):
        tokens = report.tokens.get(split, {})
        table.add_row(f"{split} tokens", f"{tokens.get('source', 0):,} source, {tokens.get('target', 0):,} target")
    table.add_row("vocabulary", f"{report.vocab_sizes['source']:,} source, {report.vocab_sizes['target']:,} target")
    unknown = sum(report.unknown.get(s, 0) for s in ("val", "test"))
    if unknown:
        table.add_row("held-out target tokens outside the vocabulary", f"{unknown:,} (read as <unk>)")
    err.print(table)


def _print_music_report(report, seconds: float) -> None:
    table = Table(title=f"dataset {report.out} ({report.level} level, {seconds:.1f} s)", show_header=False)
    table.add_row("files read", f"{report.files:,}")
    for reason, n in report.skip_kinds().most_common():
        table.add_row(f"skipped: {reason}", f"{n:,}")
    table.add_row("pieces", ", ".join(f"{report.pieces.get(s, 0):,} {s}" for s in ("train", "val", "test")))
    if report.transposed:
        table.add_row("transposed copies", f"{report.transposed:,} (in train)")
    table.add_row("notes", f"{report.notes:,}")
    if report.parts_mode is not None:
        shown = ", ".join(f"{name} ({report.part_notes[name]:,} notes)" for name in report.parts) or "none"
        table.add_row(f"parts (by {report.parts_mode})" if report.parts else "parts", shown if report.parts else "none: one stream (--parts none)")
    if report.parts_merged:
        table.add_row("tracks read as another part", f"{sum(report.parts_merged.values()):,} (a part in under 5% of the pieces, or beyond 15 melodic ones, is not kept)")
    for reason, n in report.dropped.most_common():
        table.add_row(f"dropped: {reason}", f"{n:,}")
    for reason, n in report.shortened.most_common():
        table.add_row(f"shortened: {reason}", f"{n:,}")
    for split, n in report.splits.items():
        table.add_row(f"{split} tokens", f"{n:,}")
    table.add_row("vocabulary", f"{report.vocab_size:,}")
    err.print(table)
    for name, reason in report.skipped:
        err.print(f"skipped {name}: {reason}")
    for i, (merge, n) in enumerate(sorted(report.parts_merged.items(), key=lambda kv: -kv[1])):
        if i == 10:
            err.print(f"… and {len(report.parts_merged) - 10:,} more (meta.json: stats.parts.merged)")
            break
        err.print(f"read track {merge.replace(' -> ', ' as part ')} (in {n:,} of {report.parts_pieces:,} pieces)")
    pieces = sum(report.pieces.values()) - report.transposed
    for split in report.empty_splits:
        option = f"--{split} {report.fractions[split]:g}"
        what = "validation" if split == "val" else split
        _print_error(f"no piece fell in the {what} split ({option} of {pieces:,} pieces; a piece's split is fixed by a hash "
                     f"of its file, never rebalanced): pass more pieces or a larger --{split}", "warning")


def _print_frames_report(report, seconds: float) -> None:
    how = "its own split" if report.benchmark else "split by piece"
    table = Table(title=f"dataset {report.out} (frames of {report.grid} from {report.grid_from}, {how}, {seconds:.1f} s)", show_header=False)
    table.add_row("files read", f"{report.files:,}")
    if len(report.shifts) > 1:
        table.add_row("transposed in training", f"{min(report.shifts):+d} to {max(report.shifts):+d} semitones, drawn afresh each epoch")
    for split in ("train", "val", "test"):
        table.add_row(f"{split}", f"{report.pieces.get(split, 0):,} pieces, {report.frames.get(split, 0):,} frames")
    for reason, n in report.dropped.most_common():
        table.add_row(f"notes dropped: {reason}", f"{n:,}")
    err.print(table)
    for name, reason in report.skipped:
        err.print(f"skipped {name}: {reason}")
    for split in report.empty_splits:
        _print_error(f"no piece fell in the {'validation' if split == 'val' else split} split: pass more pieces or a larger --{split}", "warning")


@app.command("corpora")
def list_corpora() -> None:
    """List the built-in corpora with their licences."""
    from seqgen.data.corpora import manifests

    table = Table(title="built-in corpora")
    for col in ("name", "kind", "level", "licence", "availability", "description"):
        table.add_column(col)
    for c in manifests().values():
        table.add_row(c.name, c.kind, c.default_level, c.licence, "offline" if c.offline else "downloaded once", c.description)
    Console(highlight=False).print(table)


# ---------------------------------------------------------------- train

# Options a resumed run may change; every other training option is fixed by the run's config.json.
RESUMABLE = ("max_steps", "epochs", "time_limit", "eval_every", "log_every", "patience", "device", "threads")
M, S, T, F = ModelConfig, Seq2SeqConfig, TrainConfig, FramesConfig  # their defaults are the options' defaults


@app.command()
def train(
    dataset: Annotated[Optional[Path], typer.Argument(help="Dataset folder from `seqgen prepare`.", show_default=False)] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Run folder to write.", show_default=False)] = None,
    resume: Annotated[Optional[Path], typer.Option(help="Continue this run folder from its last checkpoint.", show_default=False)] = None,
    # Every option below defaults to None, meaning "not given": a fresh run takes the config's default (named in the
    # help), and --resume refuses the ones a run cannot change and keeps its own values for the rest.
    cell: Annotated[Optional[Cell], typer.Option(help=default("Recurrent cell (rnn is tanh).", M.cell), show_default=False)] = None,
    layers: Annotated[Optional[int], typer.Option(min=1, max=256, help=default("Stacked recurrent layers.", f"{M.layers}; pairs: {S.layers}; frames: {F.layers}"), show_default=False)] = None,
    hidden: Annotated[Optional[int], typer.Option(min=1, max=2**16, help=default("Units per layer.", f"{M.hidden}; pairs: {S.hidden}; frames: {F.hidden}"), show_default=False)] = None,
    embed: Annotated[Optional[int], typer.Option(min=1, max=2**16, help=default("Embedding width.", M.embed), show_default=False)] = None,
    dropout: Annotated[Optional[float], typer.Option(min=0.0, max=1.0, help=default("Dropout between layers and before the output, in [0, 1).", f"{M.dropout}; pairs: {S.dropout}; frames: {F.dropout}"), show_default=False)] = None,
    tie_weights: Annotated[Optional[bool], typer.Option("--tie-weights/--no-tie-weights", help=default("Share input and output embeddings (needs --embed = --hidden).", "no-tie-weights"), show_default=False)] = None,
    bidirectional: Annotated[Optional[bool], typer.Option("--bidirectional/--no-bidirectional", help=default("Pairs: the encoder reads the source both ways.", "bidirectional"), show_default=False)] = None,
    attention: Annotated[Optional[Attention], typer.Option(help=default("Pairs: bahdanau (additive), luong (general, input feeding) or none (final state only).", S.attention), show_default=False)] = None,
    teacher_forcing: Annotated[Optional[float], typer.Option(min=0.0, max=1.0, help=default("Pairs: share of decoder inputs taken from the reference in training; below 1, scheduled sampling.", S.teacher_forcing), show_default=False)] = None,
    output: Annotated[Optional[Output], typer.Option(help=default("Frames: a frame's distribution: bernoulli (88 independent keys) or autoregressive (the keys one after another, low to high, each given those below: a NADE, so chords are modelled).", F.output), show_default=False)] = None,
    head_size: Annotated[Optional[int], typer.Option(min=1, max=2**16, help=default("Frames, autoregressive output: hidden units of the NADE.", F.head_size), show_default=False)] = None,
    batch: Annotated[Optional[int], typer.Option(min=1, help=default("Parallel streams (language models), pairs or pieces (frames) per batch.", f"{T.batch}; pairs: 64; frames: 8"), show_default=False)] = None,
    seq_len: Annotated[Optional[int], typer.Option(min=1, help=default("Steps of truncated backpropagation through time.", T.seq_len), show_default=False)] = None,
    lr: Annotated[Optional[float], typer.Option(min=0.0, help=default("Peak learning rate, > 0.", f"{T.lr}; pairs: 2e-3"), show_default=False)] = None,
    schedule: Annotated[Optional[Schedule], typer.Option(help=default("Learning rate after warm-up.", T.schedule), show_default=False)] = None,
    warmup: Annotated[Optional[int], typer.Option(min=0, help=default("Warm-up steps.", T.warmup), show_default=False)] = None,
    optimizer: Annotated[Optional[Optimizer], typer.Option(help=default("Adam, or AdamW with decoupled --weight-decay.", T.optimizer), show_default=False)] = None,
    weight_decay: Annotated[Optional[float], typer.Option(min=0.0, help=default("AdamW's decoupled weight decay (0: plain Adam).", T.weight_decay), show_default=False)] = None,
    clip: Annotated[Optional[float], typer.Option(min=0.0, help=default("Gradient clipping threshold; 0 disables.", T.clip), show_default=False)] = None,
    clip_mode: Annotated[Optional[ClipMode], typer.Option(help=default("norm (global L2 norm) or value (element-wise).", T.clip_mode), show_default=False)] = None,
    max_steps: Annotated[Optional[int], typer.Option(min=1, help="Stop after this many steps in total.", show_default=False)] = None,
    epochs: Annotated[Optional[float], typer.Option(min=0.0, help="Stop after this many passes over the training split.", show_default=False)] = None,
    time_limit: Annotated[Optional[str], typer.Option(help="Stop after this much training time in total: 15m, 90s, 1h30 (90 minutes), 1.5h, 5400. Default 15m when no budget is given.", show_default=False)] = None,
    eval_every: Annotated[Optional[int], typer.Option(min=1, help=default("Steps between validation passes.", f"{T.eval_every}; pairs and frames: 250"), show_default=False)] = None,
    log_every: Annotated[Optional[int], typer.Option(min=1, help=default("Steps between metrics rows.", T.log_every), show_default=False)] = None,
    patience: Annotated[Optional[int], typer.Option(min=1, help="Stop after this many validations without improvement.", show_default=False)] = None,
    seed: Annotated[Optional[int], typer.Option(min=0, max=MAX_SEED, help=default("Random seed (weights, dropout, data order).", T.seed), show_default=False)] = None,
    device: Annotated[Optional[Device], typer.Option(help=default(DEVICE_HELP, T.device), show_default=False)] = None,
    threads: Annotated[Optional[int], typer.Option(min=1, max=MAX_THREADS, help="CPU threads for torch (default: the physical cores this process may use; 1 per process under torchrun).", show_default=False)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")] = False,
    force: Annotated[bool, typer.Option(help="Replace an existing run folder.")] = False,
) -> None:
    """Train a recurrent language model on a dataset; writes a run folder."""
    from seqgen.config import parse_duration
    from seqgen.errors import UsageError
    from seqgen.session import resume_training, start_training

    limit = parse_duration(time_limit) if time_limit is not None else None
    log = (lambda msg: None) if quiet else (lambda msg: err.print(msg))
    bar = interactive(quiet)
    model_opts = {"cell": value(cell), "layers": layers, "hidden": hidden, "embed": embed, "dropout": dropout, "tie_weights": tie_weights,
                  "bidirectional": bidirectional, "attention": value(attention), "teacher_forcing": teacher_forcing,
                  "output": value(output), "head_size": head_size}
    train_opts = {
        "batch": batch, "seq_len": seq_len, "lr": lr, "optimizer": value(optimizer), "weight_decay": weight_decay,
        "schedule": value(schedule), "warmup": warmup, "clip": clip, "clip_mode": value(clip_mode), "max_steps": max_steps,
        "epochs": epochs, "time_limit": limit, "eval_every": eval_every, "log_every": log_every, "patience": patience,
        "seed": seed, "device": value(device), "threads": threads,
    }
    if resume is not None:
        fixed = [name for name, v in {**model_opts, **train_opts, "out": out, "force": force or None}.items() if v is not None and name not in RESUMABLE]
        if fixed:
            raise UsageError(
                f"{', '.join('--' + n.replace('_', '-') for n in fixed)} cannot change when resuming",
                "only the budget (--max-steps, --epochs, --time-limit), --eval-every, --log-every, --patience, --device and --threads can",
            )
        overrides = {name: train_opts[name] for name in RESUMABLE if train_opts[name] is not None}
        result = resume_training(resume, dataset, overrides, log, bar)
    else:
        if dataset is None or out is None:
            raise UsageError("train needs a DATASET and --out RUN (or --resume RUN)", "see `seqgen train --help`")
        if max_steps is None and epochs is None and limit is None:
            train_opts["time_limit"] = 15 * 60.0
            log("no budget given: training for 15 minutes (set --max-steps, --epochs or --time-limit)")
        given = lambda opts: {k: v for k, v in opts.items() if v is not None}  # noqa: E731
        result = start_training(dataset, out, given(model_opts), given(train_opts), force, log, bar)
    if not quiet:
        best = f"{result.best_val:.4f}" if result.best_val is not None else "n/a"
        err.print(
            f"trained {result.steps:,} steps, {result.tokens:,} tokens in {result.elapsed / 60:.1f} min "
            f"({result.reason}); best validation loss {best} nats/token"
        )


# ---------------------------------------------------------------- sample


@app.command()
def sample(
    run: Annotated[Path, typer.Argument(help="Run folder from `seqgen train`.", show_default=False)],
    length: Annotated[Optional[int], typer.Option(min=1, help="Tokens to generate per sample (default 500; music: as many as --bars needs).", show_default=False)] = None,
    temperature: Annotated[Optional[float], typer.Option(min=0.0, help=default("Sampling temperature, > 0; lower is safer, higher is wilder.", 1.0), show_default=False)] = None,
    top_k: Annotated[Optional[int], typer.Option(min=1, help="Sample only from the k most likely tokens.", show_default=False)] = None,
    top_p: Annotated[Optional[float], typer.Option(min=0.0, max=1.0, help="Sample only from the smallest set with this much probability, in (0, 1].", show_default=False)] = None,
    greedy: Annotated[Optional[bool], typer.Option("--greedy/--sample", help=default("Always take the most likely token, or draw from the distribution.", "--sample; encoder-decoders: --greedy unless --temperature, --top-k or --top-p is given"), show_default=False)] = None,
    prime: Annotated[Optional[str], typer.Option(help="Text to start from (printed before the continuation).", show_default=False)] = None,
    prime_file: Annotated[Optional[Path], typer.Option(help="Read the primer from this file.", show_default=False)] = None,
    num: Annotated[int, typer.Option(min=1, max=MAX_SAMPLES, help="Number of samples, drawn as one batch.")] = 1,
    seed: Annotated[Optional[int], typer.Option(min=0, max=MAX_SEED, help="Random seed; the same seed gives the same output.", show_default=False)] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write to this file (FILE-1, FILE-2, … with --num).", show_default=False)] = None,
    stop_at_eos: Annotated[bool, typer.Option(help="End a sample at its first end-of-sequence token.")] = False,
    weights: Annotated[Weights, typer.Option(help="best (lowest validation loss) or last.")] = Weights.best,
    device: Annotated[Device, typer.Option(help=DEVICE_HELP)] = Device.auto,
    force: Annotated[bool, typer.Option(help="Overwrite existing output files.")] = False,
    beam: Annotated[Optional[int], typer.Option(min=1, help="Beam search of this width for the most likely continuation (length-normalised); --num gives the best N beams.", show_default=False)] = None,
    bars: Annotated[Optional[int], typer.Option(min=1, max=10_000, help="Music: bars to generate after the primer (default 16 unless --length is given).", show_default=False)] = None,
    tempo: Annotated[Optional[float], typer.Option(help="Music: tempo in quarter notes per minute (default: the primer's, else the corpus's, else 120).", show_default=False)] = None,
    program: Annotated[Optional[str], typer.Option(parser=program_spec, metavar="N|PART=N,...", help=default(
        "Music: General MIDI program 0-127 for every part (0 is acoustic grand piano), or per part: Soprano=52,Bass=32.",
        "each part's own program from the corpus; 0 for a run without parts"), show_default=False)] = None,
    time_signature: Annotated[Optional[str], typer.Option(help="Music: time signature such as 3/4 (default: the generated one, else the corpus's).", show_default=False)] = None,
    velocity: Annotated[int, typer.Option(min=1, max=127, help="Music: note velocity 1-127 when the run has no velocity tokens.")] = 80,
    prime_midi: Annotated[Optional[Path], typer.Option(help="Music: continue this MIDI file (or score), tokenized with the run's scheme.", show_default=False)] = None,
    prime_bars: Annotated[Optional[int], typer.Option(min=1, help="Music: use only the first N bars of --prime-midi.", show_default=False)] = None,
    fmt: Annotated[Optional[Format], typer.Option("--format", help=default("Music: midi or tokens.", "by the extension of --out: .mid MIDI, .musicxml/.xml/.mxl a score, .wav audio; else tokens"), show_default=False)] = None,
    soundfont: Annotated[Optional[Path], typer.Option(help=default("Music, --out FILE.wav: the General MIDI soundfont fluidsynth plays.", "the first found in /usr/share/sounds/sf2, /usr/share/soundfonts, Homebrew's share/soundfonts"), show_default=False)] = None,
    input: Annotated[Optional[str], typer.Option(help="Encoder-decoder runs: the input to answer, translate or harmonize (one per line).", show_default=False)] = None,
    input_file: Annotated[Optional[Path], typer.Option(help="Encoder-decoder runs: inputs, one per line ('-': standard input, as when neither is given).", show_default=False)] = None,
    length_penalty: Annotated[float, typer.Option(min=0.0, max=10.0, help="Beam search: a hypothesis's log-probability is divided by its length to this power.")] = 1.0,
    max_length: Annotated[Optional[int], typer.Option(min=1, max=10_000, help="Encoder-decoder runs: longest output in tokens (default: twice the longest training target, at least 20).", show_default=False)] = None,
    input_midi: Annotated[Optional[Path], typer.Option(help="Melody -> chords runs: harmonize the melody of this MIDI file or score (--out FILE.mid writes it with a chord track; without --out the chords are printed).", show_default=False)] = None,
    chord_program: Annotated[int, typer.Option(min=0, max=127, help="Melody -> chords runs: General MIDI program of the chord track (0 is acoustic grand piano).")] = 0,
) -> None:
    """Generate new text, or music as MIDI files, scores (.musicxml) or audio (.wav), from a trained run; or answer inputs with an encoder-decoder run."""
    from seqgen.config import SampleConfig
    from seqgen.music.sample import MusicOptions
    from seqgen.session import PairsOptions, sample_run

    if greedy is None and (temperature is not None or top_k is not None or top_p is not None):
        greedy = False  # a sampling option asks for sampling
    pairs = PairsOptions(input=input, input_file=input_file, length_penalty=length_penalty, max_length=max_length,
                         input_midi=input_midi, chord_program=chord_program)
    music = MusicOptions(bars=bars, length_given=length is not None, tempo=tempo, program=program, time_signature=time_signature,
                         velocity=velocity, prime_midi=prime_midi, prime_bars=prime_bars, format=value(fmt), soundfont=soundfont)
    length = 500 if length is None else length
    cfg = SampleConfig(length=length, temperature=1.0 if temperature is None else temperature, top_k=top_k, top_p=top_p, greedy=greedy,
                       num=num, seed=seed, stop_at_eos=stop_at_eos, beam=beam)
    sample_run(run, cfg, prime, prime_file, out, value(weights), value(device), force, warn=lambda msg: err.print(msg), music=music, pairs=pairs)


# ---------------------------------------------------------------- eval


@app.command("eval")
def evaluate(
    run: Annotated[Path, typer.Argument(help="Run folder from `seqgen train`.", show_default=False)],
    split: Annotated[Optional[Split], typer.Option(help=default("Dataset split to score (a benchmark file's valid split is val).", "val"), show_default=False)] = None,
    file: Annotated[Optional[Path], typer.Option(help="Score this file instead of a split: text, or a MIDI file or score for a music run.", show_default=False)] = None,
    encoding: Annotated[Optional[str], typer.Option(help="Encoding of --file.", show_default=False)] = None,
    weights: Annotated[Weights, typer.Option(help="best (lowest validation loss) or last.")] = Weights.best,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout (keys: README, \"eval output\").")] = False,
    device: Annotated[Device, typer.Option(help=DEVICE_HELP)] = Device.auto,
    ngram: Annotated[int, typer.Option(min=0, help="Order of the Kneser–Ney n-gram baseline fitted on the train split; 0 leaves it out.")] = 5,
    bleu: Annotated[bool, typer.Option("--bleu", help="Also generate: continuation BLEU on held-out segments, self-BLEU and novelty of free samples, music statistics.")] = False,
    bleu_samples: Annotated[int, typer.Option(min=1, help="--bleu: held-out segments (from the test split, else validation).")] = 100,
    prompt_len: Annotated[int, typer.Option(min=1, help="--bleu: tokens of each segment the model reads.")] = 100,
    cont_len: Annotated[int, typer.Option(min=1, help="--bleu: tokens it writes, scored against the true continuation.")] = 100,
    num: Annotated[int, typer.Option(min=1, max=MAX_SAMPLES, help="--bleu: free samples for self-BLEU, novelty and music statistics.")] = 10,
    length: Annotated[int, typer.Option(min=1, help="--bleu: tokens per free sample.")] = 300,
    temperature: Annotated[float, typer.Option(min=0.0, help="--bleu: sampling temperature for continuations and free samples.")] = 1.0,
    greedy: Annotated[bool, typer.Option(help="--bleu: continuations take the most likely token.")] = False,
    beam: Annotated[Optional[int], typer.Option(min=1, help="--bleu: continuations by beam search of this width.", show_default=False)] = None,
    novelty_n: Annotated[Optional[int], typer.Option(min=1, help="--bleu: n-gram length for novelty (default 8 characters, 4 words, 8 music tokens).", show_default=False)] = None,
    seed: Annotated[int, typer.Option(min=0, max=MAX_SEED, help="Random seed for every draw.")] = 1234,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Also write the JSON report to this file.", show_default=False)] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing --out file.")] = False,
) -> None:
    """Perplexity, bits per token and baselines of a run on a split or a file; with --bleu, BLEU, self-BLEU, novelty and music statistics."""
    from seqgen.errors import UsageError
    from seqgen.evaluation.report import EvalOptions
    from seqgen.files import atomic_write_json
    from seqgen.session import evaluate_run
    from seqgen.tables import eval_tables

    if out is not None and out.exists() and not force:
        raise UsageError(f"{out} already exists", "pass --force to overwrite it, or choose another --out")
    options = EvalOptions(ngram=ngram, bleu=bleu, bleu_samples=bleu_samples, prompt_len=prompt_len, cont_len=cont_len, num=num, length=length,
                          temperature=temperature, greedy=greedy, beam=beam, seed=seed, novelty_n=novelty_n)
    options.check()
    if file is not None and split is not None:
        raise UsageError("give --split or --file, not both")
    report = evaluate_run(run, value(split) or "val", file, encoding, value(weights), value(device), options, log=lambda msg: err.print(msg))
    for table in eval_tables(report):
        err.print(table)
    if out is not None:
        atomic_write_json(out, report)
        err.print(f"wrote {out}")
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False))


# ---------------------------------------------------------------- bleu and plot


@app.command("bleu")
def bleu_command(
    hypothesis: Annotated[Path, typer.Argument(help="Hypothesis file, one segment per line.", show_default=False)],
    references: Annotated[list[Path], typer.Argument(help="One or more reference files, line-aligned with the hypothesis.", show_default=False)],
    tokenize: Annotated[BleuTokenizer, typer.Option(help="sacrebleu tokenizer (none: pre-tokenized, e.g. music tokens).")] = BleuTokenizer("13a"),
    sentence: Annotated[bool, typer.Option("--sentence", help="Also score each line (effective order, as sacrebleu --sentence-level).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout instead of the table.")] = False,
) -> None:
    """Corpus BLEU of line-aligned files, computed by sacrebleu (13a, exponential smoothing, max order 4, closest reference length)."""
    from seqgen.evaluation.bleu import bleu_files
    from seqgen.tables import bleu_lines

    report = bleu_files(hypothesis, references, value(tokenize), sentence)
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False))
    else:
        for line in bleu_lines(report):
            typer.echo(line)


@app.command("plot")
def plot_command(
    target: Annotated[Path, typer.Argument(help="A run folder (loss curves from metrics.jsonl) or a MIDI file or score (piano roll, a colour per part).", show_default=False)],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="PNG to write (default: RUN/loss.png, or the music file's name with .png).", show_default=False)] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing PNG.")] = False,
    attention: Annotated[bool, typer.Option("--attention", help="Encoder-decoder runs: draw the attention while the run answers --input (default --out attention.png).")] = False,
    input: Annotated[Optional[str], typer.Option(help="With --attention: the input to answer.", show_default=False)] = None,
) -> None:
    """Draw a run's training and validation loss, an encoder-decoder's attention, or a MIDI file's or score's piano roll, as a PNG (needs matplotlib)."""
    from seqgen.errors import UsageError
    from seqgen.evaluation.plot import plot

    if attention != (input is not None):
        raise UsageError("--attention and --input go together", "seqgen plot RUN --attention --input TEXT")
    result = plot(target, out, force, input)
    if result.get("skipped_lines"):
        err.print(f"warning: skipped {result['skipped_lines']} unreadable line(s) of metrics.jsonl")
    err.print(f"wrote {result['out']}")


# ---------------------------------------------------------------- entry point


def _print_error(message: str, label: str = "error") -> None:
    colour = "red" if label == "error" else "yellow"
    err.print(f"[bold {colour}]{label}:[/] {message}", markup=True, highlight=False, soft_wrap=True)


def _bare_pairs(args: list[str]) -> list[str]:
    """`--pairs` with no value means `--pairs text` (the parser needs a value; people write the bare flag)."""
    out = []
    for i, arg in enumerate(args):
        out.append(arg)
        if arg == "--pairs" and (i + 1 == len(args) or args[i + 1].startswith("-")):
            out.append("text")
    return out


def _parser_error(exc: Exception) -> bool:
    """An error of the command-line parser (an unknown option, a bad value): it carries an exit code and a message.

    Checked by that interface rather than by class, because the class lives in click or, since typer 0.26, in
    typer's private copy of it; neither is ours to import."""
    return isinstance(getattr(exc, "exit_code", None), int) and callable(getattr(exc, "format_message", None))


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 failure, 2 bad usage, 128+N on signal N)."""
    from seqgen.errors import SeqgenError

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or bool(os.environ.get("SEQGEN_DEBUG"))
    args = [a for a in args if a != "--debug"]
    args = _bare_pairs(args)
    command = typer.main.get_command(app)
    try:
        code = command.main(args=args, prog_name="seqgen", standalone_mode=False)
        if code == 130:  # typer >= 0.26 turns Ctrl-C into a returned exit code 130, not an exception
            _print_error("interrupted")
        return code if isinstance(code, int) else 0
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        _print_error("aborted")
        return 130
    except SeqgenError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        _print_error(str(exc).replace("[", "\\["), exc.label)
        return exc.exit_code
    except KeyboardInterrupt:
        _print_error("interrupted")
        return 130
    except BrokenPipeError:
        return 1
    except Exception as exc:
        if _parser_error(exc):
            message = exc.format_message()  # type: ignore[attr-defined]
            if not message:
                return 2  # no_args_is_help: the help was the message
            ctx = getattr(exc, "ctx", None)
            where = f"{ctx.command_path} --help" if ctx is not None and ctx.parent is not None else "seqgen --help"
            _print_error(f"{message} (see `{where}`)".replace("[", "\\["))
            return exc.exit_code  # type: ignore[attr-defined]
        if debug:  # a bug: one line unless --debug
            raise
        _print_error(f"unexpected {type(exc).__name__}: {exc} (run again with --debug for the traceback)".replace("[", "\\["))
        return 1
