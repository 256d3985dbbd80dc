"""The command-line app: parses options, prints with rich, maps errors to exit codes. No logic of its own."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import click
import typer
from click.core import ParameterSource
from rich.console import Console
from rich.table import Table

from seqgen import __version__

app = typer.Typer(
    name="seqgen",
    help="Learn from text or music with recurrent networks and write new text or music.\n\n"
    "prepare → train → sample → eval. Add --debug anywhere to see tracebacks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
err = Console(stderr=True, highlight=False, soft_wrap=True)


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
    sources: Annotated[list[str], typer.Argument(help="Text files, folders, '-' for stdin, or a built-in corpus name (see `seqgen corpora`).", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Dataset folder to write.", show_default=False)],
    level: Annotated[str, typer.Option(help="Token level: char or word.")] = "char",
    val: Annotated[float, typer.Option(help="Fraction of tokens for validation (contiguous, after train).")] = 0.05,
    test: Annotated[float, typer.Option(help="Fraction of tokens for test (contiguous, at the end).")] = 0.05,
    glob: Annotated[str, typer.Option(help="File pattern inside folders.")] = "*.txt",
    encoding: Annotated[Optional[str], typer.Option(help="Text encoding (default: UTF-8, or the byte-order mark's).", show_default=False)] = None,
    lowercase: Annotated[bool, typer.Option(help="Word level: lowercase all words.")] = False,
    min_freq: Annotated[int, typer.Option(help="Word level: rarer words become <unk>.")] = 1,
    max_vocab: Annotated[Optional[int], typer.Option(help="Word level: keep at most this many tokens.", show_default=False)] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing dataset folder.")] = False,
) -> None:
    """Tokenize text into a dataset folder (meta.json + train/val/test token ids)."""
    from seqgen.prepare import prepare_text

    start = time.perf_counter()
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


@app.command("corpora")
def list_corpora() -> None:
    """List the built-in corpora with their licences."""
    from seqgen.corpora import manifests

    table = Table(title="built-in corpora")
    for col in ("name", "kind", "level", "licence", "availability", "description"):
        table.add_column(col)
    for c in manifests().values():
        table.add_row(c.name, c.kind, c.default_level, c.licence, "offline" if c.offline else "downloaded once", c.description)
    Console(highlight=False).print(table)


# ---------------------------------------------------------------- train

RESUMABLE = {"resume", "dataset", "max_steps", "epochs", "time_limit", "eval_every", "patience", "quiet", "device", "threads", "log_every"}


@app.command()
def train(
    ctx: typer.Context,
    dataset: Annotated[Optional[Path], typer.Argument(help="Dataset folder from `seqgen prepare`.", show_default=False)] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Run folder to write.", show_default=False)] = None,
    resume: Annotated[Optional[Path], typer.Option(help="Continue this run folder from its last checkpoint.", show_default=False)] = None,
    cell: Annotated[str, typer.Option(help="Recurrent cell: lstm, gru or rnn (tanh).")] = "lstm",
    layers: Annotated[int, typer.Option(help="Stacked recurrent layers.")] = 2,
    hidden: Annotated[int, typer.Option(help="Units per layer.")] = 256,
    embed: Annotated[int, typer.Option(help="Embedding width.")] = 128,
    dropout: Annotated[float, typer.Option(help="Dropout between layers and before the output.")] = 0.2,
    tie_weights: Annotated[bool, typer.Option(help="Share input and output embeddings (needs --embed = --hidden).")] = False,
    batch: Annotated[int, typer.Option(help="Parallel streams per batch.")] = 64,
    seq_len: Annotated[int, typer.Option(help="Steps of truncated backpropagation through time.")] = 64,
    lr: Annotated[float, typer.Option(help="Peak learning rate.")] = 2e-3,
    schedule: Annotated[str, typer.Option(help="After warm-up: cosine, step or constant.")] = "cosine",
    warmup: Annotated[int, typer.Option(help="Warm-up steps.")] = 100,
    optimizer: Annotated[str, typer.Option(help="adam or adamw.")] = "adamw",
    weight_decay: Annotated[float, typer.Option(help="AdamW weight decay.")] = 0.0,
    clip: Annotated[float, typer.Option(help="Gradient clipping threshold; 0 disables.")] = 5.0,
    clip_mode: Annotated[str, typer.Option(help="norm (global L2 norm) or value (element-wise).")] = "norm",
    max_steps: Annotated[Optional[int], typer.Option(help="Stop after this many steps in total.", show_default=False)] = None,
    epochs: Annotated[Optional[float], typer.Option(help="Stop after this many passes over the training split.", show_default=False)] = None,
    time_limit: Annotated[Optional[str], typer.Option(help="Stop after this much training time in total, e.g. 15m, 90s, 1h. Default 15m when no budget is given.", show_default=False)] = None,
    eval_every: Annotated[int, typer.Option(help="Steps between validation passes.")] = 200,
    log_every: Annotated[int, typer.Option(help="Steps between metrics rows.")] = 20,
    patience: Annotated[Optional[int], typer.Option(help="Stop after this many validations without improvement.", show_default=False)] = None,
    seed: Annotated[int, typer.Option(help="Random seed (weights, dropout, data order).")] = 1337,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or mps.")] = "auto",
    threads: Annotated[Optional[int], typer.Option(help="CPU threads for torch (default: torch's choice).", show_default=False)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")] = False,
    force: Annotated[bool, typer.Option(help="Replace an existing run folder.")] = False,
) -> None:
    """Train a recurrent language model on a dataset; writes a run folder."""
    from seqgen.config import ModelConfig, TrainConfig, parse_duration
    from seqgen.errors import UsageError
    from seqgen.session import resume_training, start_training

    limit = parse_duration(time_limit) if time_limit is not None else None
    log = (lambda msg: None) if quiet else (lambda msg: err.print(msg))
    bar = interactive(quiet)
    if resume is not None:
        fixed = [p.name for p in ctx.command.params if ctx.get_parameter_source(p.name) == ParameterSource.COMMANDLINE and p.name not in RESUMABLE]
        if fixed or out is not None:
            names = ", ".join("--" + n.replace("_", "-") for n in fixed + (["out"] if out is not None else []))
            raise UsageError(f"{names} cannot change when resuming", "only the budget (--max-steps, --epochs, --time-limit), --eval-every, --patience, --device and --threads can")
        overrides = {k: v for k, v in {"max_steps": max_steps, "epochs": epochs, "time_limit": limit, "patience": patience, "threads": threads}.items() if v is not None}
        for name in ("eval_every", "log_every", "device"):
            if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE:
                overrides[name] = locals()[name]
        result = resume_training(resume, dataset, overrides, log, bar)
    else:
        if dataset is None or out is None:
            raise UsageError("train needs a DATASET and --out RUN (or --resume RUN)", "see `seqgen train --help`")
        if max_steps is None and epochs is None and limit is None:
            limit = 15 * 60.0
            log("no budget given: training for 15 minutes (set --max-steps, --epochs or --time-limit)")
        tcfg = TrainConfig(
            batch=batch, seq_len=seq_len, lr=lr, optimizer=optimizer, weight_decay=weight_decay, schedule=schedule,
            warmup=warmup, clip=clip, clip_mode=clip_mode, max_steps=max_steps, epochs=epochs, time_limit=limit,
            eval_every=eval_every, log_every=log_every, patience=patience, seed=seed, device=device, threads=threads,
        )
        mcfg = ModelConfig(vocab_size=1, cell=cell, layers=layers, hidden=hidden, embed=embed, dropout=dropout, tie_weights=tie_weights)
        result = start_training(dataset, out, mcfg, tcfg, force, log, bar)
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
    length: Annotated[int, typer.Option(help="Tokens to generate per sample.")] = 500,
    temperature: Annotated[float, typer.Option(help="Sampling temperature, > 0; lower is safer, higher is wilder.")] = 1.0,
    top_k: Annotated[Optional[int], typer.Option(help="Sample only from the k most likely tokens.", show_default=False)] = None,
    top_p: Annotated[Optional[float], typer.Option(help="Sample only from the smallest set with this much probability, in (0, 1].", show_default=False)] = None,
    greedy: Annotated[bool, typer.Option(help="Always take the most likely token.")] = False,
    prime: Annotated[Optional[str], typer.Option(help="Text to start from (printed before the continuation).", show_default=False)] = None,
    prime_file: Annotated[Optional[Path], typer.Option(help="Read the primer from this file.", show_default=False)] = None,
    num: Annotated[int, typer.Option(help="Number of samples, drawn as one batch.")] = 1,
    seed: Annotated[Optional[int], typer.Option(help="Random seed; the same seed gives the same output.", show_default=False)] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write to this file (FILE-1, FILE-2, … with --num).", show_default=False)] = None,
    stop_at_eos: Annotated[bool, typer.Option(help="End a sample at its first end-of-sequence token.")] = False,
    weights: Annotated[str, typer.Option(help="best (lowest validation loss) or last.")] = "best",
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or mps.")] = "cpu",
    force: Annotated[bool, typer.Option(help="Overwrite existing output files.")] = False,
) -> None:
    """Generate new text from a trained run."""
    from seqgen.config import SampleConfig
    from seqgen.session import sample_run

    cfg = SampleConfig(length=length, temperature=temperature, top_k=top_k, top_p=top_p, greedy=greedy, num=num, seed=seed, stop_at_eos=stop_at_eos)
    sample_run(run, cfg, prime, prime_file, out, weights, device, force, warn=lambda msg: err.print(msg))


# ---------------------------------------------------------------- eval


@app.command("eval")
def evaluate(
    run: Annotated[Path, typer.Argument(help="Run folder from `seqgen train`.", show_default=False)],
    split: Annotated[str, typer.Option(help="Dataset split to score: train, val or test.")] = "val",
    file: Annotated[Optional[Path], typer.Option(help="Score this text file instead of a split.", show_default=False)] = None,
    encoding: Annotated[Optional[str], typer.Option(help="Encoding of --file.", show_default=False)] = None,
    weights: Annotated[str, typer.Option(help="best or last.")] = "best",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or mps.")] = "auto",
) -> None:
    """Perplexity, cross-entropy and bits per token of a run on a split or a file."""
    from seqgen.session import evaluate_run

    report = evaluate_run(run, split, file, encoding, weights, device)
    table = Table(title=f"{report['run']} on {report['data']}", show_header=False)
    unit = "character" if report["level"] == "char" else "token"
    table.add_row("tokens scored", f"{report['tokens']:,}")
    table.add_row("unknown tokens", f"{report['unknown']:,} ({report['unknown_rate']:.2%})")
    table.add_row("cross-entropy", f"{report['nats_per_token']:.4f} nats/{unit}")
    table.add_row(f"bits per {unit}", f"{report['bits_per_token']:.4f}")
    table.add_row("perplexity", f"{report['perplexity']:.3f}")
    table.add_row("weights", f"{report['weights']} sha256 {report['weights_sha256'][:12]}")
    err.print(table)
    if as_json:
        typer.echo(json.dumps(report))


# ---------------------------------------------------------------- entry point


def _print_error(message: str) -> None:
    err.print(f"[bold red]error:[/] {message}", markup=True, highlight=False, soft_wrap=True)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 failure, 2 bad usage, 128+N on signal N)."""
    from seqgen.errors import SeqgenError

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or bool(os.environ.get("SEQGEN_DEBUG"))
    args = [a for a in args if a != "--debug"]
    command = typer.main.get_command(app)
    try:
        command.main(args=args, prog_name="seqgen", standalone_mode=False)
        return 0
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.UsageError as exc:
        where = f"seqgen {exc.ctx.info_name} --help" if exc.ctx and exc.ctx.parent else "seqgen --help"
        if exc.ctx and exc.ctx.parent:
            where = f"{exc.ctx.command_path} --help"
        _print_error(f"{exc.format_message()} (see `{where}`)".replace("[", "\\["))
        return 2
    except click.exceptions.Abort:
        _print_error("aborted")
        return 130
    except SeqgenError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        _print_error(str(exc).replace("[", "\\["))
        return exc.exit_code
    except KeyboardInterrupt:
        _print_error("interrupted")
        return 130
    except BrokenPipeError:
        return 1
    except Exception as exc:  # a bug: one line unless --debug
        if debug:
            raise
        _print_error(f"unexpected {type(exc).__name__}: {exc} (run again with --debug for the traceback)".replace("[", "\\["))
        return 1
