"""Bad command lines: zero, negative, huge, non-numeric and non-finite values, unknown choices and conflicting options
of prepare, train, sample and eval. Each exits 2 with one line naming the option, before any work is done."""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import one_error_line, tiny_corpus

HUGE = str(10**12)
# Out-of-range numbers and unknown choices are refused by the parser itself (so --help shows the ranges and choices);
# NaN passes some versions' range checks and is then refused by seqgen's own check: either line names the option.
PARSER = "Invalid value for '{}'"

PREPARE = [
    (["--val", "-0.1"], PARSER.format("--val")),
    (["--val", "1.5"], PARSER.format("--val")),
    (["--val", "nan"], (PARSER.format("--val"), "--val must be a fraction in [0, 1)")),
    (["--val", "abc"], "Invalid value for '--val'"),
    (["--test", "1"], "--test must be a fraction in [0, 1)"),
    (["--val", "0.6", "--test", "0.5"], "--val + --test must leave data for training"),
    (["--level", "byte"], PARSER.format("--level")),
    (["--kind", "video"], PARSER.format("--kind")),
    (["--min-freq", "0"], PARSER.format("--min-freq")),
    (["--min-freq", "-3"], PARSER.format("--min-freq")),
    (["--max-vocab", "2"], PARSER.format("--max-vocab")),
    (["--max-vocab", "many"], "Invalid value for '--max-vocab'"),
    (["--encoding", "klingon"], "unknown --encoding 'klingon'"),
    (["--glob", ""], "--glob '' is not a file pattern"),  # the source is a folder here
    (["--no-such-option"], "No such option: --no-such-option"),
]

TRAIN = [
    (["--cell", "transformer"], PARSER.format("--cell")),
    (["--layers", "0"], PARSER.format("--layers")),
    (["--layers", "-1"], PARSER.format("--layers")),
    (["--layers", "two"], "Invalid value for '--layers'"),
    (["--layers", HUGE], PARSER.format("--layers")),
    (["--hidden", "0"], PARSER.format("--hidden")),
    (["--hidden", HUGE], PARSER.format("--hidden")),
    (["--embed", "-5"], PARSER.format("--embed")),
    (["--embed", HUGE], PARSER.format("--embed")),
    (["--hidden", "60000", "--layers", "60"], "the model would have"),
    (["--dropout", "1"], "--dropout must be in [0, 1), got 1.0"),
    (["--dropout", "-0.1"], PARSER.format("--dropout")),
    (["--dropout", "nan"], (PARSER.format("--dropout"), "--dropout must be in [0, 1), got nan")),
    (["--batch", "0"], PARSER.format("--batch")),
    (["--batch", HUGE], "too few for --batch"),
    (["--seq-len", "-1"], PARSER.format("--seq-len")),
    (["--seq-len", HUGE], "too few for --batch"),
    (["--lr", "0"], "--lr must be a positive number, got 0.0"),
    (["--lr", "-1e-3"], PARSER.format("--lr")),
    (["--lr", "nan"], (PARSER.format("--lr"), "--lr must be a positive number, got nan")),
    (["--lr", "inf"], "--lr must be a positive number, got inf"),
    (["--lr", "fast"], "Invalid value for '--lr'"),
    (["--schedule", "linear"], PARSER.format("--schedule")),
    (["--warmup", "-1"], PARSER.format("--warmup")),
    (["--optimizer", "sgd"], PARSER.format("--optimizer")),
    (["--weight-decay", "-0.1"], PARSER.format("--weight-decay")),
    (["--weight-decay", "inf"], "--weight-decay must be 0 or more, got inf"),
    (["--clip", "-1"], PARSER.format("--clip")),
    (["--clip", "nan"], (PARSER.format("--clip"), "--clip must be 0 (off) or positive, got nan")),
    (["--clip-mode", "max"], PARSER.format("--clip-mode")),
    (["--max-steps", "0"], PARSER.format("--max-steps")),
    (["--max-steps", "-5"], PARSER.format("--max-steps")),
    (["--max-steps", "1.5"], "Invalid value for '--max-steps'"),
    (["--epochs", "0"], "--epochs must be a positive number, got 0.0"),
    (["--epochs", "inf"], "--epochs must be a positive number, got inf"),
    (["--time-limit", "0"], "--time-limit must be positive, got '0'"),
    (["--time-limit", "-5m"], "--time-limit '-5m' is not a duration"),
    (["--time-limit", "soon"], "--time-limit 'soon' is not a duration"),
    (["--eval-every", "0"], PARSER.format("--eval-every")),
    (["--log-every", "-2"], PARSER.format("--log-every")),
    (["--patience", "0"], PARSER.format("--patience")),
    (["--seed", "-1"], PARSER.format("--seed")),
    (["--seed", str(2**64)], PARSER.format("--seed")),
    (["--threads", "0"], PARSER.format("--threads")),
    (["--threads", HUGE], PARSER.format("--threads")),
    (["--device", "tpu"], PARSER.format("--device")),
    (["--tie-weights", "--embed", "16", "--hidden", "32"], "--tie-weights needs --embed equal to --hidden (got 16 and 32)"),
]

SAMPLE = [
    (["--length", "0"], PARSER.format("--length")),
    (["--length", "-3"], PARSER.format("--length")),
    (["--length", "x"], "Invalid value for '--length'"),
    (["--temperature", "0"], "--temperature must be greater than 0, got 0.0"),
    (["--temperature", "-1"], PARSER.format("--temperature")),
    (["--temperature", "nan"], (PARSER.format("--temperature"), "--temperature must be greater than 0, got nan")),
    (["--temperature", "inf"], "--temperature must be a finite number, got inf"),
    (["--top-k", "0"], PARSER.format("--top-k")),
    (["--top-p", "0"], "--top-p must be in (0, 1], got 0.0"),
    (["--top-p", "1.5"], PARSER.format("--top-p")),
    (["--top-p", "nan"], (PARSER.format("--top-p"), "--top-p must be in (0, 1], got nan")),
    (["--num", "0"], PARSER.format("--num")),
    (["--num", HUGE], PARSER.format("--num")),
    (["--seed", "-1"], PARSER.format("--seed")),
    (["--seed", str(2**64)], PARSER.format("--seed")),
    (["--weights", "worst"], PARSER.format("--weights")),
    (["--device", "tpu"], PARSER.format("--device")),
    (["--prime", "a", "--prime-file", "{src}"], "give --prime or --prime-file, not both"),
    (["--prime-file", "{missing}"], "no such file: {missing}"),
    (["--greedy", "--top-k", "5"], "--top-k does not apply to --greedy"),
    (["--greedy", "--top-p", "0.5"], "--top-p does not apply to --greedy"),
    (["--beam", "0"], PARSER.format("--beam")),
    (["--beam", "2", "--greedy"], "--greedy does not apply to --beam"),
    (["--out", "{src}"], "{src} already exists"),
]

EVAL = [
    (["--split", "dev"], PARSER.format("--split")),
    (["--weights", "worst"], PARSER.format("--weights")),
    (["--file", "{missing}"], "no such file: {missing}"),
    (["--file", "{src}", "--encoding", "klingon"], "unknown --encoding 'klingon'"),
    (["--file", "{src}", "--split", "test"], "give --split or --file, not both"),
    (["--device", "tpu"], PARSER.format("--device")),
    (["--ngram", "-1"], PARSER.format("--ngram")),
    (["--bleu", "--bleu-samples", "0"], PARSER.format("--bleu-samples")),
    (["--seed", "-1"], PARSER.format("--seed")),
]


@pytest.fixture
def paths(tmp_path):
    (tmp_path / "texts").mkdir()
    src = tmp_path / "texts" / "in.txt"
    src.write_text(tiny_corpus(lines=20))
    return {"src": str(src), "folder": str(src.parent), "missing": str(tmp_path / "missing.txt"), "out": str(tmp_path / "out")}


def check(cli, paths, argv, message):
    argv = [str(a).format(**paths) for a in argv]
    res = cli(*argv)
    assert res.code == 2, (argv, res.err)
    line = one_error_line(res.err)
    assert any(m.format(**paths) in line for m in ((message,) if isinstance(message, str) else message)), (argv, line)
    assert not (res.out.strip()), argv  # nothing on stdout for a pipeline to mistake for data


@pytest.mark.parametrize("extra, message", PREPARE, ids=[" ".join(a) for a, _ in PREPARE])
def test_prepare(cli, paths, extra, message):
    check(cli, paths, ["prepare", "{folder}", "--out", "{out}", *extra], message)


@pytest.mark.parametrize("extra, message", TRAIN, ids=[" ".join(a) for a, _ in TRAIN])
def test_train(cli, paths, tiny_dataset, extra, message):
    check(cli, paths, ["train", tiny_dataset, "--out", "{out}", "--max-steps", "5", "--batch", "4", "--seq-len", "16", *extra], message)
    assert not Path(paths["out"]).exists()  # refused before making the run folder


@pytest.mark.parametrize("extra, message", SAMPLE, ids=[" ".join(a) for a, _ in SAMPLE])
def test_sample(cli, paths, reference_run, extra, message):
    check(cli, paths, ["sample", reference_run, "--length", "5", *extra], message)


@pytest.mark.parametrize("extra, message", EVAL, ids=[" ".join(a) for a, _ in EVAL])
def test_eval(cli, paths, reference_run, extra, message):
    check(cli, paths, ["eval", reference_run, *extra], message)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train"], "train needs a DATASET and --out RUN (or --resume RUN)"),
        (["train", "--resume", "{run}", "--cell", "gru"], "--cell cannot change when resuming"),
        (["train", "--resume", "{run}", "--out", "{out}"], "--out cannot change when resuming"),
        (["train", "--resume", "{run}", "--max-steps", "0"], PARSER.format("--max-steps")),
        (["train", "--resume", "{missing}"], "{missing} is not a run folder"),
        (["prepare", "--out", "{out}"], "prepare needs SOURCE files, folders or a corpus name"),
        (["prepare", "{folder}"], "Missing option '--out'"),
        (["prepare", "{missing}", "--out", "{out}"], "no such file, folder or built-in corpus: {missing}"),
        (["sample"], "Missing argument"),
        (["frobnicate"], "No such command 'frobnicate'"),
    ],
)
def test_missing_and_conflicting(cli, paths, reference_run, argv, message):
    check(cli, {**paths, "run": str(reference_run)}, argv, message)


def test_a_bad_value_stops_before_the_run_folder_changes(cli, trained_run):
    before = {p.name: p.read_bytes() for p in trained_run.iterdir() if p.is_file()}
    for argv in (["train", "--resume", trained_run, "--max-steps", "-1"], ["train", "--resume", trained_run, "--threads", "0"]):
        assert cli(*argv).code == 2
    assert {p.name: p.read_bytes() for p in trained_run.iterdir() if p.is_file()} == before


def test_extreme_but_valid_sampling_values_work(cli, reference_run):
    """Values at the edges are not errors: a tiny temperature is greedy in effect, not a division by zero."""
    for extra in (["--temperature", "1e-30"], ["--temperature", "1e6"], ["--top-k", HUGE], ["--top-p", "1e-9"]):
        res = cli("sample", reference_run, "--length", "20", "--seed", "1", *extra)
        assert res.code == 0, (extra, res.err)
        assert len(res.out) >= 20
