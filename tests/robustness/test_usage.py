"""Bad command lines: zero, negative, huge, non-numeric and non-finite values, unknown choices and conflicting options
of prepare, train, sample and eval. Each exits 2 with one line naming the option, before any work is done."""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import one_error_line, tiny_corpus

HUGE = str(10**12)

PREPARE = [
    (["--val", "-0.1"], "--val must be a fraction in [0, 1)"),
    (["--val", "1.5"], "--val must be a fraction in [0, 1)"),
    (["--val", "nan"], "--val must be a fraction in [0, 1)"),
    (["--val", "abc"], "Invalid value for '--val'"),
    (["--test", "1"], "--test must be a fraction in [0, 1)"),
    (["--val", "0.6", "--test", "0.5"], "--val + --test must leave data for training"),
    (["--level", "byte"], "--level must be char or word for text, not 'byte'"),
    (["--kind", "video"], "--kind must be text or music, not 'video'"),
    (["--min-freq", "0"], "--min-freq must be at least 1, got 0"),
    (["--min-freq", "-3"], "--min-freq must be at least 1, got -3"),
    (["--max-vocab", "2"], "--max-vocab must be at least 3, got 2"),
    (["--max-vocab", "many"], "Invalid value for '--max-vocab'"),
    (["--encoding", "klingon"], "unknown --encoding 'klingon'"),
    (["--glob", ""], "--glob '' is not a file pattern"),  # the source is a folder here
    (["--no-such-option"], "No such option: --no-such-option"),
]

TRAIN = [
    (["--cell", "transformer"], "--cell must be one of lstm, gru, rnn, not 'transformer'"),
    (["--layers", "0"], "--layers must be at least 1, got 0"),
    (["--layers", "-1"], "--layers must be at least 1, got -1"),
    (["--layers", "two"], "Invalid value for '--layers'"),
    (["--layers", HUGE], "--layers must be at most"),
    (["--hidden", "0"], "--hidden must be at least 1, got 0"),
    (["--hidden", HUGE], "--hidden must be at most"),
    (["--embed", "-5"], "--embed must be at least 1, got -5"),
    (["--embed", HUGE], "--embed must be at most"),
    (["--hidden", "60000", "--layers", "60"], "the model would have"),
    (["--dropout", "1"], "--dropout must be in [0, 1), got 1.0"),
    (["--dropout", "-0.1"], "--dropout must be in [0, 1), got -0.1"),
    (["--dropout", "nan"], "--dropout must be in [0, 1), got nan"),
    (["--batch", "0"], "--batch must be at least 1, got 0"),
    (["--batch", HUGE], "too few for --batch"),
    (["--seq-len", "-1"], "--seq-len must be at least 1, got -1"),
    (["--seq-len", HUGE], "too few for --batch"),
    (["--lr", "0"], "--lr must be a positive number, got 0.0"),
    (["--lr", "-1e-3"], "--lr must be a positive number, got -0.001"),
    (["--lr", "nan"], "--lr must be a positive number, got nan"),
    (["--lr", "inf"], "--lr must be a positive number, got inf"),
    (["--lr", "fast"], "Invalid value for '--lr'"),
    (["--schedule", "linear"], "--schedule must be one of cosine, step, constant"),
    (["--warmup", "-1"], "--warmup must be 0 or more, got -1"),
    (["--optimizer", "sgd"], "--optimizer must be adam or adamw"),
    (["--weight-decay", "-0.1"], "--weight-decay must be 0 or more, got -0.1"),
    (["--weight-decay", "inf"], "--weight-decay must be 0 or more, got inf"),
    (["--clip", "-1"], "--clip must be 0 (off) or positive, got -1.0"),
    (["--clip", "nan"], "--clip must be 0 (off) or positive, got nan"),
    (["--clip-mode", "max"], "--clip-mode must be one of norm, value"),
    (["--max-steps", "0"], "--max-steps must be at least 1, got 0"),
    (["--max-steps", "-5"], "--max-steps must be at least 1, got -5"),
    (["--max-steps", "1.5"], "Invalid value for '--max-steps'"),
    (["--epochs", "0"], "--epochs must be a positive number, got 0.0"),
    (["--epochs", "inf"], "--epochs must be a positive number, got inf"),
    (["--time-limit", "0"], "--time-limit must be positive, got '0'"),
    (["--time-limit", "-5m"], "--time-limit '-5m' is not a duration"),
    (["--time-limit", "soon"], "--time-limit 'soon' is not a duration"),
    (["--eval-every", "0"], "--eval-every must be at least 1, got 0"),
    (["--log-every", "-2"], "--log-every must be at least 1, got -2"),
    (["--patience", "0"], "--patience must be at least 1, got 0"),
    (["--seed", "-1"], "--seed must be between 0 and 2**63 - 1, got -1"),
    (["--seed", str(2**64)], "--seed must be between 0 and 2**63 - 1"),
    (["--threads", "0"], "--threads must be at least 1, got 0"),
    (["--threads", HUGE], "--threads must be at most"),
    (["--device", "tpu"], "--device must be auto, cpu, cuda or mps, not 'tpu'"),
    (["--tie-weights", "--embed", "16", "--hidden", "32"], "--tie-weights needs --embed equal to --hidden (got 16 and 32)"),
]

SAMPLE = [
    (["--length", "0"], "--length must be at least 1, got 0"),
    (["--length", "-3"], "--length must be at least 1, got -3"),
    (["--length", "x"], "Invalid value for '--length'"),
    (["--temperature", "0"], "--temperature must be greater than 0, got 0.0"),
    (["--temperature", "-1"], "--temperature must be greater than 0, got -1.0"),
    (["--temperature", "nan"], "--temperature must be greater than 0, got nan"),
    (["--temperature", "inf"], "--temperature must be a finite number, got inf"),
    (["--top-k", "0"], "--top-k must be at least 1, got 0"),
    (["--top-p", "0"], "--top-p must be in (0, 1], got 0.0"),
    (["--top-p", "1.5"], "--top-p must be in (0, 1], got 1.5"),
    (["--top-p", "nan"], "--top-p must be in (0, 1], got nan"),
    (["--num", "0"], "--num must be at least 1, got 0"),
    (["--num", HUGE], "--num must be at most"),
    (["--seed", "-1"], "--seed must be between 0 and 2**63 - 1, got -1"),
    (["--seed", str(2**64)], "--seed must be between 0 and 2**63 - 1"),
    (["--weights", "worst"], "--weights must be best or last, not 'worst'"),
    (["--device", "tpu"], "--device must be auto, cpu, cuda or mps, not 'tpu'"),
    (["--prime", "a", "--prime-file", "{src}"], "give --prime or --prime-file, not both"),
    (["--prime-file", "{missing}"], "no such file: {missing}"),
    (["--greedy", "--top-k", "5"], "--top-k does not apply to --greedy"),
    (["--greedy", "--top-p", "0.5"], "--top-p does not apply to --greedy"),
    (["--beam", "0"], "--beam must be at least 1, got 0"),
    (["--beam", "2", "--greedy"], "--greedy does not apply to --beam"),
    (["--out", "{src}"], "{src} already exists"),
]

EVAL = [
    (["--split", "dev"], "--split must be train, val or test, not 'dev'"),
    (["--weights", "worst"], "--weights must be best or last, not 'worst'"),
    (["--file", "{missing}"], "no such file: {missing}"),
    (["--file", "{src}", "--encoding", "klingon"], "unknown --encoding 'klingon'"),
    (["--file", "{src}", "--split", "test"], "give --split or --file, not both"),
    (["--device", "tpu"], "--device must be auto, cpu, cuda or mps, not 'tpu'"),
    (["--ngram", "-1"], "--ngram must be 0 (off) or an order of at least 1, got -1"),
    (["--bleu", "--bleu-samples", "0"], "--bleu-samples must be at least 1, got 0"),
    (["--seed", "-1"], "--seed must be between 0 and 2**63 - 1, got -1"),
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
    assert message.format(**paths) in one_error_line(res.err), argv
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
        (["train", "--resume", "{run}", "--max-steps", "0"], "--max-steps must be at least 1, got 0"),
        (["train", "--resume", "{missing}"], "{missing} is not a run folder"),
        (["prepare", "--out", "{out}"], "Missing argument"),
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
