"""Every kind of data seqgen knows, and what the verbs ask of them all: which kind a command is about, the options
each verb has (common ones first, then each kind's panel), and the one line refusing an option the kind does not take.

A new kind is a module in `seqgen/kinds/` (its options, `claims`, `prepare`, `sample`, `evaluate`, and the
architecture it trains) registered in `KINDS`; nothing else lists what applies to it.
"""

from __future__ import annotations

from dataclasses import MISSING, fields, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from seqgen.config import MODEL_CONFIGS, TrainConfig
from seqgen.errors import UsageError
from seqgen.kinds.base import Kind, Option, Values
from seqgen.kinds.common import COMMON
from seqgen.kinds.frames import BENCHMARK, FRAMES
from seqgen.kinds.harmony import HARMONY
from seqgen.kinds.music import MUSIC
from seqgen.kinds.pairs import PAIRS
from seqgen.kinds.text import TEXT
from seqgen.training.sizing import CHOSEN

if TYPE_CHECKING:
    from seqgen.training.checkpoint import Run

# `--help` shows their panels in this order; `prepare` asks the later, more specific kinds first, and text takes the rest
KINDS: tuple[Kind, ...] = (TEXT, MUSIC, PAIRS, HARMONY, FRAMES, BENCHMARK)
WHAT = {"prepare": "datasets", "train": "datasets", "sample": "runs", "eval": "runs"}


def for_sources(sources: list[str], o: Values) -> Kind:
    """The kind `prepare` makes of these sources and options (--kind, --level, --pairs, the files themselves)."""
    return next(kind for kind in reversed(KINDS) if kind.claims(sources, o))


def for_meta(meta: dict, what: str) -> Kind:
    """The kind of a dataset's or run's meta.json; `what` names the folder in the error."""
    for kind in KINDS:
        if kind.owns(meta):
            return kind
    raise UsageError(f"{what} holds a {meta.get('kind')!r} dataset, which this seqgen cannot use", "upgrade seqgen")


def for_run(run: Run) -> Kind:
    return for_meta(run.dataset_meta, str(run.path))


@lru_cache(maxsize=None)
def options(verb: str) -> tuple[Option, ...]:
    """The options of `verb` in --help's order: the common ones, then each kind's own, each declared once."""
    found: dict[str, Option] = {}
    for option in (*COMMON[verb], *(o for kind in KINDS for o in kind.options.get(verb, ()))):
        if found.setdefault(option.name, option) is not option:
            raise AssertionError(f"{verb} --{option.name} is declared twice")
    return tuple(_completed(verb, option) for option in found.values())


def _completed(verb: str, option: Option) -> Option:
    """--level and --kind take their values from the kinds; a model or training setting shows each architecture's default."""
    if verb == "prepare" and option.name == "level":
        levels = tuple(dict.fromkeys(level for kind in KINDS for level in kind.levels))
        return replace(option, choices=levels, help=f"{option.help} " + "; ".join(k.level_help for k in KINDS if k.level_help) + ".")
    if verb == "prepare" and option.name == "kind":
        names = tuple(dict.fromkeys(kind.name for kind in KINDS))
        return replace(option, choices=names, help=f"{option.help} Default: from the sources and options (MIDI files, scores and music "
                       "corpora are music; --pairs, --source/--target and built-in tasks pairs; --level frames and benchmark files frames; "
                       "else text).")
    if verb == "train" and option.default_help is None and not option.argument and (shown := _train_default(option.name)) is not None:
        return replace(option, default_help=shown)
    return option


def _train_default(name: str) -> str | None:
    """A setting's default, and where an architecture's differs, that one named by its kind: "512; pairs: 128; frames: 256"."""
    values: list[tuple[str, Any]] = []
    train = {f.name: f.default for f in fields(TrainConfig)}
    for kind in KINDS:
        if name not in kind.accepts("train") or any(kind.model == k.model for k in KINDS[: KINDS.index(kind)]):
            continue
        config = MODEL_CONFIGS[kind.model]
        settings = {f.name: f.default for f in fields(config) if f.default is not MISSING}
        value = settings[name] if name in settings else config.TRAIN_DEFAULTS.get(name, train.get(name))
        values.append((kind.name, value))
    if not values or values[0][1] is None:
        return None
    first = values[0][1]
    shown = f"text and music: chosen for the corpus and budget, else {_shown(name, first)}" if name in CHOSEN and values[0][0] == "text" else _shown(name, first)
    return "; ".join([shown, *(f"{kind}: {_shown(name, v)}" for kind, v in values[1:] if v != first)])


def _shown(name: str, value: Any) -> str:
    if isinstance(value, bool):  # a flag pair: the one that gives this value
        return name.replace("_", "-") if value else "no-" + name.replace("_", "-")
    return str(value)


def refuse(kind: Kind, verb: str, o: Values, where: object) -> None:
    """One line naming the first option given that `kind` does not take, the kinds that do, and what `where` (the
    dataset or run folder) is; the hint says what to do instead."""
    takes = kind.accepts(verb)
    for option in options(verb):
        if option.name in takes or not option.given(getattr(o, option.name, None)):
            continue
        subject = f"{where} {'would be' if verb == 'prepare' else 'is'} {kind.article} {kind.noun} {WHAT[verb][:-1]}"
        owners = [k for k in KINDS if option.name in k.accepts(verb)]
        nouns = list(dict.fromkeys(k.family or k.noun for k in owners))
        if set(nouns) == {k.family or k.noun for k in KINDS if verb in k.verbs and k is not kind}:  # every other kind takes it
            message = f"{option.flag} does not apply here: {subject}"
        else:
            message = f"{option.flag} is for {nouns[0] if len(nouns) == 1 else ', '.join(nouns[:-1]) + ' and ' + nouns[-1]} {WHAT[verb]}; {subject}"
        hint = kind.hints.get(verb)
        if verb == "prepare":  # what to do instead: this kind's own reason, or how to ask for the closest kind that takes it
            owner = next((k for k in owners if k.name == kind.name), owners[0])
            hint = f"leave {option.flag} out: {hint}" if hint else f"leave {option.flag} out, or {owner.ask}"
        raise UsageError(message, hint)
