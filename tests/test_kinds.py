"""Each kind of data declares its options, and the verbs act on those declarations alone: `--help` shows the common
options first and then a panel per kind, an option a kind does not take is refused in one generated line naming the
kinds that do take it, and a new kind is a module and a registration."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from music_pieces import make_tunes

from seqgen.errors import UsageError
from seqgen.kinds import registry
from seqgen.kinds.base import VERBS, WEIGHTS, Kind, Option, Values, in_panel
from seqgen.kinds.common import PREPARE_NAMES, TRAIN_NAMES
from seqgen.kinds.frames import FRAMES, GRIDS
from seqgen.kinds.pairs import PAIRS, SIDE_LEVELS
from seqgen.kinds.registry import KINDS, options, refuse
from seqgen.kinds.text import TEXT


def command_line(verb: str, **given: object) -> Values:
    """Every option of `verb` at its default, and those `given`: what the CLI hands a verb."""
    return Values(**{**{o.name: o.default for o in options(verb)}, **given})


def test_every_declared_option_is_taken_by_some_kind_and_every_taken_name_is_declared():
    for verb in VERBS:
        declared = {o.name for o in options(verb)}
        taken = set().union(*(kind.accepts(verb) for kind in KINDS))
        assert declared - TRAIN_NAMES <= taken, (verb, declared - taken)  # nothing declared that no kind uses
        if verb != "train":  # train's are the architectures' settings, some of them not options (vocabulary sizes)
            for kind in KINDS:
                assert kind.accepts(verb) <= declared, (verb, kind.name, kind.accepts(verb) - declared)  # a typo in `takes`


def test_choices_kept_here_for_a_fast_start_match_the_modules_that_define_them():
    from seqgen.data.pairs import SIDE_LEVELS as DATA_SIDE_LEVELS
    from seqgen.music.pianoroll import GRIDS as PIANOROLL_GRIDS
    from seqgen.training.checkpoint import BEST, LAST

    assert SIDE_LEVELS == DATA_SIDE_LEVELS and GRIDS == tuple(PIANOROLL_GRIDS) and WEIGHTS == {"best": BEST, "last": LAST}


def test_seqgen_starts_without_loading_torch_numpy_or_music21():
    """--help and --version read the declarations only: the kinds import what they work with inside their verbs."""
    loaded = subprocess.run([sys.executable, "-c", "import sys, seqgen.cli; print([m for m in ('torch', 'numpy', 'music21', 'mido') if m in sys.modules])"],
                            capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


@pytest.mark.parametrize("verb, panels, owned", [
    ("prepare", ["Text", "Music", "Encoder–decoder", "Melody → chords", "Piano roll"],
     {"Text": "--glob", "Music": "--drums", "Encoder–decoder": "--shared-vocab", "Melody → chords": "--segment-bars", "Piano roll": "--frame"}),
    ("sample", ["Music", "Encoder–decoder", "Melody → chords"], {"Music": "--bars", "Encoder–decoder": "--input-file", "Melody → chords": "--input-midi"}),
    ("train", ["Model", "Training", "Encoder–decoder", "Piano roll"], {"Model": "--hidden", "Training": "--seq-len", "Encoder–decoder": "--attention", "Piano roll": "--head-size"}),
    ("eval", ["Text and music"], {"Text and music": "--bleu"}),
])
def test_help_shows_the_common_options_first_then_a_panel_per_kind(cli, verb, panels, owned):
    res = cli(verb, "--help")
    assert res.code == 0
    titles = ["Options", *(f"{p} options" for p in panels)]
    starts = [res.out.index(f"\n{title}:\n") for title in titles]
    assert starts == sorted(starts), titles
    ends = dict(zip(titles, starts[1:] + [len(res.out)]))
    for panel, flag in owned.items():
        title = f"{panel} options"
        assert f"  {flag} " in res.out[res.out.index(f"\n{title}:\n") : ends[title]], (panel, flag)
    assert "--out " in res.out[starts[0] : starts[1]]  # a common option, in the first section


def test_train_help_shows_each_architectures_default():
    defaults = {o.name: o.default_help for o in options("train")}
    assert defaults["hidden"] == "text and music: chosen for the corpus and budget, else 512; pairs: 128; frames: 256"
    assert defaults["seq_len"] == "text and music: chosen for the corpus and budget, else 64"  # frames and pairs have no use for it
    assert defaults["batch"] == "text and music: chosen for the corpus and budget, else 16; pairs: 64; frames: 8"
    assert defaults["tie_weights"] == "no-tie-weights" and defaults["attention"] == "luong; melody -> chords: beats" and defaults["output"] == "bernoulli"


def test_levels_and_kinds_of_prepare_come_from_the_kinds():
    level, kind = (next(o for o in options("prepare") if o.name == name) for name in ("level", "kind"))
    assert level.choices == ("char", "word", "subword", "melody", "notes", "voices", "frames")
    assert kind.choices == ("text", "music", "pairs", "frames")
    assert "char, word or subword (sentencepiece, learnt from the training split) for text" in level.help and "frames: a piano roll" in level.help


def test_a_refusal_names_the_kinds_that_take_the_option_and_says_what_this_one_is():
    with pytest.raises(UsageError) as caught:
        refuse(FRAMES, "sample", command_line("sample", prime="C4"), "run")
    assert caught.value.message == "--prime is for text and music runs; run is a piano-roll run"
    assert caught.value.hint == FRAMES.hints["sample"]
    with pytest.raises(UsageError) as caught:  # when every other kind takes it, that goes without saying
        refuse(FRAMES, "sample", command_line("sample", top_k=5), "run")
    assert caught.value.message == "--top-k does not apply here: run is a piano-roll run"
    with pytest.raises(UsageError) as caught:  # prepare: how to ask for the closest kind that takes it
        refuse(PAIRS, "prepare", command_line("prepare", transpose="2"), "d")
    assert caught.value.hint == "leave --transpose out, or pass --pairs melody:chords"
    refuse(TEXT, "sample", command_line("sample", velocity=80, top_k=5), "r")  # a default is not "given"


def test_the_kind_comes_from_the_sources_and_options(tmp_path):
    tsv, bench = tmp_path / "p.tsv", tmp_path / "jsb.json"
    tsv.write_text("a\tb\n")
    bench.write_text("{}")
    cases = [
        ([str(tsv)], {}, "text"),
        ([str(tsv)], {"pairs": "text"}, "encoder-decoder"),
        ([str(tsv)], {"kind": "pairs"}, "encoder-decoder"),
        (["addition"], {}, "encoder-decoder"),
        ([str(tmp_path)], {"pairs": "melody:chords"}, "melody -> chords"),
        ([str(tmp_path)], {"level": "notes"}, "music"),
        ([str(tmp_path)], {"kind": "music", "level": "frames"}, "piano-roll"),
        ([str(bench)], {}, "piano-roll benchmark"),
        ([str(bench)], {"kind": "text"}, "text"),
    ]
    for sources, given, noun in cases:
        assert registry.for_sources(sources, command_line("prepare", **given)).noun == noun, (sources, given)


def test_prepare_kind_pairs_and_frames_ask_for_those_kinds(cli, tmp_path):
    tsv = tmp_path / "p.tsv"
    tsv.write_text("".join(f"{i}+{i}\t{2 * i}\n" for i in range(200)))
    assert cli("prepare", tsv, "--kind", "pairs", "--out", tmp_path / "pairs").code == 0
    assert json.loads((tmp_path / "pairs" / "meta.json").read_text())["kind"] == "pairs"
    tunes = make_tunes(tmp_path / "tunes")
    res = cli("prepare", tunes, "--kind", "frames", "--out", tmp_path / "frames", "--val", "0.2", "--test", "0.2")
    assert res.code == 0, res.err
    assert json.loads((tmp_path / "frames" / "meta.json").read_text())["kind"] == "frames"


class Lines(Kind):
    """A kind that is not seqgen's: one option of its own in its own panel, and --glob borrowed from text."""

    name = noun = "lines"
    model = "rnn_lm"
    options = {"prepare": in_panel("Lines", Option("separator", str, "\n", "What ends a line."))}
    takes = {"prepare": PREPARE_NAMES | {"glob"}}
    ask = "pass --kind lines"

    def claims(self, sources: list[str], o: Values) -> bool:
        return o.kind == "lines"


def test_a_new_kind_is_its_module_and_a_registration(monkeypatch):
    monkeypatch.setattr(registry, "KINDS", (*KINDS, Lines()))
    registry.options.cache_clear()
    try:
        separator = next(o for o in options("prepare") if o.name == "separator")
        assert separator.panel == "Lines" and "lines" in next(o for o in options("prepare") if o.name == "kind").choices
        assert registry.for_sources(["notes.txt"], command_line("prepare", kind="lines")).name == "lines"
        with pytest.raises(UsageError) as caught:  # its option, refused for text with no list kept by hand
            refuse(TEXT, "prepare", command_line("prepare", separator=";"), "d")
        assert str(caught.value) == "--separator is for lines datasets; d would be a text dataset (leave --separator out, or pass --kind lines)"
        with pytest.raises(UsageError, match="--drums is for music datasets"):  # and the others' options, refused for it
            refuse(registry.KINDS[-1], "prepare", command_line("prepare", drums=True), "d")
    finally:
        registry.options.cache_clear()
