"""The command-line app: parses options, prints with rich, maps errors to exit codes. No logic of its own.

`prepare`, `train`, `sample` and `eval` take the options the kinds of data declare (`seqgen.kinds`): each verb's
common ones, then a help panel per kind; the verb's work (`seqgen.session`) finds the kind and hands it the rest."""

from __future__ import annotations

import inspect
import json
import os
import sys
import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperCommand

from seqgen import __version__
from seqgen.kinds.base import Option, Values

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


BleuTokenizer = choices("BleuTokenizer", ("13a", "none", "intl", "char", "zh"))


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


# ---------------------------------------------------------------- the four verbs, built from the kinds' declarations


class PanelledCommand(TyperCommand):
    """Plain-text help with a section per panel: the verb's common options first, then one per kind of data."""

    def format_options(self, ctx, formatter) -> None:  # noqa: ANN001  (the parser's own context and formatter)
        sections: dict[str, list] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                title = "Arguments" if param.param_type_name == "argument" else getattr(param, "rich_help_panel", None) or "Options"
                sections.setdefault(title, []).append(record)
        for title, rows in sections.items():
            with formatter.section(title if title in ("Arguments", "Options") else f"{title} options"):
                formatter.write_dl(rows)


def _parameter(option: Option) -> inspect.Parameter:
    """A declared option as the parameter typer reads: its type, flags, help, range and panel."""
    kind: object = list[str] if option.type is list else option.type
    initial = option.default
    if option.choices:
        kind = choices(option.name.title().replace("_", ""), option.choices)
        initial = None if initial is None else kind(initial)  # type: ignore[operator]
    help_text = default(option.help, option.default_help) if option.default_help else option.help
    if option.argument:
        info = typer.Argument(help=help_text, show_default=False)
    else:
        extra = {"parser": _parser(option), "metavar": option.metavar} if option.check else {}
        info = typer.Option(*option.flags, help=help_text, show_default=option.default_help is None and initial is not None,
                            min=option.min, max=option.max, rich_help_panel=option.panel, **extra)
    if option.required:
        return inspect.Parameter(option.name, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[kind, info])
    annotation = Annotated[kind if initial is not None else Optional[kind], info]  # type: ignore[valid-type]
    return inspect.Parameter(option.name, inspect.Parameter.KEYWORD_ONLY, default=initial, annotation=annotation)


def _parser(option: Option):
    """An option's own check run as the parser reads it, so a bad value is the parser's "Invalid value" line."""

    def parse(text: str) -> str:
        from seqgen.errors import UsageError

        try:
            option.check(text)  # type: ignore[misc]
        except UsageError as exc:
            raise typer.BadParameter(exc.message) from None
        return text

    return parse


def verb(name: str, doc: str) -> Callable[[Callable[[Values], None]], Callable[[Values], None]]:
    """Register `work` as the command `name`, taking every option the kinds declare for it as one Values."""
    from seqgen.kinds.registry import options

    def register(work: Callable[[Values], None]) -> Callable[[Values], None]:
        def command(**values: Any) -> None:
            work(Values(**{k: value(v) if isinstance(v, Enum) else v for k, v in values.items()}))

        command.__signature__ = inspect.Signature([_parameter(o) for o in options(name)])  # type: ignore[attr-defined]
        command.__doc__ = doc
        app.command(name, cls=PanelledCommand)(command)
        return work

    return register


@verb("prepare", "Tokenize text, music or pairs into a dataset folder (meta.json + train/val/test ids).")
def prepare(o: Values) -> None:
    from seqgen import session

    start = time.perf_counter()
    kind, report = session.prepare(o)
    for shown in kind.summary(report, time.perf_counter() - start):
        err.print(shown)


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


@verb("train", "Train a recurrent model on a dataset (a language model, an encoder-decoder or a piano-roll model, as the dataset's kind calls for); writes a run folder.")
def train(o: Values) -> None:
    from seqgen import session

    log = (lambda msg: None) if o.quiet else (lambda msg: err.print(msg))
    result = session.train(o, log, interactive(o.quiet))
    if not o.quiet:
        best = f"{result.best_val:.4f}" if result.best_val is not None else "n/a"
        err.print(
            f"trained {result.steps:,} steps, {result.tokens:,} tokens in {result.elapsed / 60:.1f} min "
            f"({result.reason}); best validation loss {best} nats/token"
        )


@verb("sample", "Generate new text, or music as MIDI files, scores (.musicxml) or audio (.wav), from a trained run; or answer inputs with an encoder-decoder run.")
def sample(o: Values) -> None:
    from seqgen import session

    session.sample(o, warn=lambda msg: err.print(msg))


@verb("eval", "Perplexity, bits per token and baselines of a run on a split or a file; with --bleu, BLEU, self-BLEU, novelty and music statistics.")
def evaluate(o: Values) -> None:
    from seqgen import session
    from seqgen.files import atomic_write_json
    from seqgen.tables import eval_tables

    report = session.evaluate(o, log=lambda msg: err.print(msg))
    for table in eval_tables(report):
        err.print(table)
    if o.out is not None:
        atomic_write_json(o.out, report)
        err.print(f"wrote {o.out}")
    if o.as_json:
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
    from seqgen.session import plot

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
