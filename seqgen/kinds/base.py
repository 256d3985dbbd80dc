"""What a kind of data declares, and the little the verbs share around it.

A kind (text, music, encoder-decoder pairs, melody -> chords, piano-roll frames) is the unit of extension. It declares
the options it brings to each verb (`options`, shown in its own `--help` panel) and every option it takes (`takes`),
claims the sources `prepare` is given, builds its dataset, names the architecture `train` fits, and writes `sample`'s
output and `eval`'s report for its runs. The verbs find the kind once, from the sources or the run folder, and an
option the kind does not take is refused from these declarations (`seqgen.kinds.registry.refuse`), never from a list
kept by hand beside the code that ignores it.

`--help` reads the declarations, so the kinds' modules import only light modules at the top (settings, errors, these
declarations) and what their verbs work with (torch, music21, the data folders) inside the methods: `seqgen --help`
and `--version` start without torch.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Callable, Iterable

from rich.text import Text

from seqgen.config import MODEL_CONFIGS, SampleConfig, TrainConfig
from seqgen.errors import RunError, UsageError

if TYPE_CHECKING:
    import torch

    from seqgen.architectures import Architecture
    from seqgen.training.checkpoint import Run

Log = Callable[[str], None]
Values = SimpleNamespace  # one command line's options by name: `o.min_freq`; every declared option is there
WEIGHTS = {"best": "model.safetensors", "last": "last.safetensors"}  # seqgen.training.checkpoint.BEST, LAST
VERBS = ("prepare", "train", "sample", "eval")


@dataclass(frozen=True)
class Option:
    """A command-line option as data; the app (`seqgen.cli`) turns it into the parser's option."""

    name: str  # the Python name; the flag is --name with dashes unless `flags` says otherwise
    type: type = str  # str, int, float, bool, Path or list (of str, repeatable)
    default: Any = None  # None: not given, the kind decides (say what it decides in `default_help`)
    help: str = ""
    default_help: str | None = None  # shown as "[default: ...]" when the default is None or depends on the kind
    choices: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    flags: tuple[str, ...] = ()  # ("--out", "-o"), ("--greedy/--sample",); default ("--name",)
    metavar: str | None = None
    check: Callable[[Any], None] | None = None  # raises UsageError for a bad value, as the parser reads it
    argument: bool = False  # a positional argument
    required: bool = False  # the command cannot run without it
    panel: str | None = None  # the help panel; None: the verb's common options

    @property
    def flag(self) -> str:
        return self.flags[0].split("/")[0] if self.flags else "--" + self.name.replace("_", "-")

    def given(self, value: Any) -> bool:
        """Whether a command line set this option: a value other than its default."""
        return value is not None and value != self.default and value != []


def in_panel(panel: str, *options: Option) -> tuple[Option, ...]:
    """The options a kind brings, shown together under its panel in --help."""
    return tuple(replace(option, panel=panel) for option in options)


class Kind:
    """One kind of data. Subclasses set the class attributes and the methods their verbs use."""

    name: str = ""  # what meta.json's "kind" records for its datasets; `prepare --kind NAME` asks for it
    noun: str = ""  # in messages: "a text run", "music datasets"
    article: str = "a"
    family: str = ""  # the noun it is listed under among the kinds an option is for, when not its own ("piano-roll")
    model: str = ""  # the architecture its datasets train (seqgen.architectures), as config.json's "arch" names it
    levels: tuple[str, ...] = ()  # the --level values it prepares
    level_help: str = ""  # what those levels are, for --level's help
    options: dict[str, tuple[Option, ...]] = {}  # verb -> the options this kind brings (its --help panel)
    takes: dict[str, frozenset[str]] = {}  # verb -> every option it uses besides its own (common ones, another kind's)
    hints: dict[str, str] = {}  # verb -> what to do instead, after an option it does not take
    ask: str = ""  # how `prepare` is asked for this kind: "pass --kind music for MIDI files and scores"
    verbs: tuple[str, ...] = VERBS  # the verbs it serves (a kind of source only prepares, its datasets are another kind's)
    sized: bool = False  # `train` sizes its runs by the rule (seqgen.training.sizing) when no model size is given

    @property
    def architecture(self) -> Architecture:
        from seqgen.architectures import ARCHITECTURES

        return ARCHITECTURES[self.model]

    def accepts(self, verb: str) -> frozenset[str]:
        """Every option of `verb` this kind uses. For `train`, the model's settings and the training ones it uses."""
        own = {o.name for o in self.options.get(verb, ())}
        if verb not in self.verbs:
            return frozenset()
        if verb == "train":
            config = MODEL_CONFIGS[self.model]
            settings = {f.name for f in fields(config)} | {f.name for f in fields(TrainConfig)}
            return frozenset((settings - set(config.UNUSED_TRAIN)) | own | self.takes.get(verb, frozenset()))
        return frozenset(own | self.takes.get(verb, frozenset()))

    def after_training(self, run_path: Path, ds: Any, device: torch.device, log: Log) -> None:
        """What a finished `train` adds to the run folder besides the weights (a language model: its mixture)."""

    def owns(self, meta: dict) -> bool:
        """Whether a dataset's (or a run's) meta.json is of this kind."""
        return meta.get("kind") == self.name

    def claims(self, sources: list[str], o: Values) -> bool:
        """Whether `prepare` of these sources with these options makes a dataset of this kind."""
        raise NotImplementedError

    def prepare(self, sources: list[str], o: Values) -> Any:
        """Sources -> a dataset folder at o.out; returns the report `summary` shows."""
        raise NotImplementedError

    def summary(self, report: Any, seconds: float) -> list:
        """What `prepare` prints: rich tables and lines."""
        raise NotImplementedError

    def sample(self, run: Run, o: Values, warn: Log) -> list[str]:
        """Generate from a run of this kind and write it (stdout or o.out); returns the outputs."""
        raise NotImplementedError

    def evaluate(self, run: Run, o: Values, log: Log) -> dict:
        """`eval`'s JSON-ready report of a run of this kind."""
        raise NotImplementedError

    def dataset_of(self, run: Run, hint: str) -> Any:
        """The run's dataset, opened by its architecture, checked to be the one it was trained on."""
        path = Path(run.config.get("dataset_path", ""))
        if not (path / "meta.json").is_file():
            raise RunError(f"the run's dataset {path} is gone", hint)
        ds = self.architecture.open_dataset(path)
        check_same_vocab(ds, run, f"it was replaced since training; {hint}")
        return ds


# ---------------------------------------------------------------- what several kinds' verbs share


def load_model(run: Run, weights: str, device_name: str) -> tuple[torch.device, torch.nn.Module]:
    """The device, and the run's network with the weights asked for (best or last) on it."""
    from seqgen.architectures import load_model_from
    from seqgen.devices import resolve_device

    if weights not in WEIGHTS:
        raise UsageError(f"--weights must be best or last, not {weights!r}")
    device = resolve_device(device_name)
    return device, load_model_from(run, WEIGHTS[weights], device)


def vocabularies(meta: dict) -> tuple:
    """What must not change between a dataset and a run trained on it: the level and every vocabulary."""
    sides = tuple(meta[side]["vocab"] for side in ("source", "target") if side in meta)
    return meta.get("level"), meta.get("vocab"), sides


def check_same_vocab(ds: Any, run: Run, hint: str) -> None:
    if vocabularies(ds.meta) != vocabularies(run.dataset_meta) or ds.meta.get("grid") != run.dataset_meta.get("grid"):
        raise RunError(f"the dataset {ds.path} has a different vocabulary than the run {run.path}", hint)


def sample_config(o: Values, greedy: bool = False) -> SampleConfig:
    """`sample`'s decoding settings. Without --greedy or --sample, `greedy` decides, unless a sampling option
    (--temperature, --top-k, --top-p) asks for sampling."""
    chosen = o.greedy
    if chosen is None:
        chosen = False if (o.temperature is not None or o.top_k is not None or o.top_p is not None) else greedy and o.beam is None
    return SampleConfig(length=500 if o.length is None else o.length, temperature=1.0 if o.temperature is None else o.temperature,
                        top_k=o.top_k, top_p=o.top_p, greedy=chosen, num=o.num, seed=o.seed, stop_at_eos=o.stop_at_eos, beam=o.beam)


def output_paths(out: Path | None, num: int) -> list[Path]:
    """--out FILE for one sample; FILE-1, FILE-2, ... for --num N."""
    if out is None:
        return []
    out = Path(out)
    return [out] if num == 1 else [out.with_name(f"{out.stem}-{i}{out.suffix}") for i in range(1, num + 1)]


def refuse_existing(paths: Iterable[Path], force: bool) -> None:
    existing = [p for p in paths if Path(p).exists()]
    if existing and not force:
        raise UsageError(f"{existing[0]} already exists", "pass --force to overwrite it, or choose another --out")


def write_text(path: Path, text: str) -> None:
    """A text output, written whole or not at all."""
    from seqgen.files import atomic_write_bytes

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, text.encode("utf-8"))


def line_end(text: str) -> str:
    """Text output ends with exactly one line break (a sample ended by <eos> has one already)."""
    return "" if text.endswith("\n") else "\n"


def need_sources(sources: list[str]) -> None:
    if not sources:
        raise UsageError("prepare needs SOURCE files, folders or a corpus name", "see `seqgen prepare --help`")


def warning(message: str) -> Text:
    """A warning line among what `prepare` prints."""
    return Text.assemble(("warning:", "bold yellow"), " ", message)
