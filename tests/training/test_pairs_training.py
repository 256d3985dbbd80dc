"""Encoder-decoders train with the one trainer: prepare → train → sample → eval, exact resume, torchrun."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from seqgen.cli import main
from seqgen.training.trainer import Trainer

TINY = ["--hidden", "32", "--embed", "16", "--layers", "1", "--batch", "16", "--eval-every", "5", "--log-every", "2",
        "--teacher-forcing", "0.8", "--schedule", "constant", "--threads", "1", "--device", "cpu", "--quiet"]
TIMING = {"tokens_per_s", "elapsed_s"}


@pytest.fixture(scope="module")
def addition(tmp_path_factory):
    out = tmp_path_factory.mktemp("pairs") / "add"
    assert main(["prepare", "addition", "--out", str(out), "--count", "600", "--digits", "2"]) == 0
    return out


def rows(run):
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in (run / "metrics.jsonl").read_text().splitlines()]


def weights(run):
    return {name: (run / name).read_bytes() for name in ("model.safetensors", "last.safetensors")}


def test_prepare_train_sample_eval(cli, addition, tmp_path):
    run = tmp_path / "run"
    res = cli("train", addition, "--out", run, "--max-steps", "12", *TINY)
    assert res.code == 0, res.err
    config = json.loads((run / "config.json").read_text())
    assert config["arch"] == "seq2seq" and config["model"]["attention"] == "luong" and config["model"]["bidirectional"] is True
    assert config["train"]["batch"] == 16 and config["train"]["lr"] == 2e-3  # the pairs default learning rate
    res = cli("sample", run, "--input", "12+34\n7+8", "--seed", "1")
    assert res.code == 0, res.err
    assert len(res.out.splitlines()) == 2  # one output line per input line, in order
    res = cli("sample", run, "--input", "12+34", "--beam", "3", "--num", "2")
    assert res.code == 0 and len(res.out.splitlines()) == 2
    report = json.loads(cli("eval", run, "--split", "test", "--json").out)
    assert report["kind"] == "pairs" and report["data"] == "test split" and report["pairs"] > 0
    for key in ("nats_per_token", "perplexity", "bleu", "chrf", "exact_match", "by_length", "baselines", "decoding", "provenance"):
        assert key in report
    assert report["bleu"]["signature"].startswith("nrefs:1") and report["baselines"]["copy_source"]["exact_match"] == 0.0
    assert sum(row["pairs"] for row in report["by_length"]) == report["pairs"]
    beam = json.loads(cli("eval", run, "--split", "test", "--beam", "2", "--json").out)
    assert beam["decoding"] == {"method": "beam", "beam": 2, "length_penalty": 1.0, "max_length": None, "length_cap": beam["decoding"]["length_cap"],
                                "at_length_cap": beam["decoding"]["at_length_cap"], "at_length_cap_rate": beam["decoding"]["at_length_cap_rate"]}
    (tmp_path / "sums.tsv").write_bytes("12+34\t46\n7+8\t15\n".encode("utf-16"))  # --file in the encoding --encoding names
    report = json.loads(cli("eval", run, "--file", tmp_path / "sums.tsv", "--encoding", "utf-16", "--json").out)
    assert report["data"] == str(tmp_path / "sums.tsv") and report["pairs"] == 2 and report["unknown"] == 0


def test_language_model_options_are_refused_for_pairs(cli, addition, tmp_path):
    res = cli("train", addition, "--out", tmp_path / "r", "--max-steps", "2", "--tie-weights", *TINY)
    assert res.code == 2 and "--tie-weights needs --embed equal to --hidden" in res.err
    run = tmp_path / "ok"
    assert cli("train", addition, "--out", run, "--max-steps", "2", *TINY).code == 0
    for argv, message in ((["--prime", "1+1"], "--prime is for text and music runs"), (["--bars", "4"], "--bars is for music and piano-roll runs"),
                          (["--length", "5"], "--length is for text, music and piano-roll runs")):
        res = cli("sample", run, *argv)
        assert res.code == 2 and message in res.err and f"{run} is an encoder-decoder run (give --input or --input-file; --max-length" in res.err
    res = cli("train", addition, "--out", tmp_path / "r", "--max-steps", "2", "--seq-len", "8", *TINY)  # a batch holds whole pairs
    assert res.code == 2 and f"--seq-len is for text and music datasets; {addition} is an encoder-decoder dataset" in res.err


def test_language_models_refuse_encoder_decoder_options(cli, char_dataset, char_run, tmp_path):
    res = cli("train", char_dataset, "--out", tmp_path / "r", "--attention", "bahdanau", "--max-steps", "2")
    assert res.code == 2 and f"--attention is for encoder-decoder and melody -> chords datasets; {char_dataset} is a text dataset" in res.err
    res = cli("sample", char_run, "--input", "hello")
    assert res.code == 2 and f"--input is for encoder-decoder and melody -> chords runs; {char_run} is a text run" in res.err


def test_an_interrupted_run_resumes_bit_for_bit(addition, tmp_path, monkeypatch):
    """Stopped by a budget at step 5 (a validation step), then by Ctrl-C at step 9, and resumed to step 14, a run with
    dropout and scheduled sampling ends where a straight run ends: the same weights and the same metrics."""
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    assert main(["train", str(addition), "--out", str(straight), "--max-steps", "14", *TINY]) == 0
    assert main(["train", str(addition), "--out", str(stopped), "--max-steps", "5", *TINY]) == 0

    original = Trainer._train_step

    def interrupt(self, batch, lr):
        result = original(self, batch, lr)
        if self.pos.step + 1 == 9:
            os.kill(os.getpid(), signal.SIGINT)
        return result

    with monkeypatch.context() as m:
        m.setattr(Trainer, "_train_step", interrupt)
        assert main(["train", "--resume", str(stopped), "--max-steps", "14", "--quiet"]) == 130
    assert main(["train", "--resume", str(stopped), "--quiet"]) == 0
    assert weights(stopped) == weights(straight)
    assert rows(stopped) == rows(straight)


@pytest.mark.skipif(sys.platform == "win32", reason="torchrun's gloo launcher")
def test_two_processes_train_an_encoder_decoder(tmp_path):
    """Two processes under torchrun take the rows of each batch; with no dropout and full teacher forcing they take
    the steps one process takes, to float rounding, though their rows hold different numbers of target tokens
    (every pair here has its own length, and a batch is sorted by length: one rank gets the short rows)."""
    (tmp_path / "p.tsv").write_text("".join(f"{'ab' * i}\t{'xy' * i}\n" for i in range(1, 41)) * 2)
    data = tmp_path / "data"
    assert main(["prepare", str(tmp_path / "p.tsv"), "--pairs", "--level", "char", "--out", str(data), "--val", "0.2", "--test", "0"]) == 0
    single, multi = tmp_path / "single", tmp_path / "multi"
    args = ["--max-steps", "6", *TINY, "--dropout", "0", "--teacher-forcing", "1"]
    assert main(["train", str(data), "--out", str(single), *args]) == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "seqgen",
           "train", str(data), "--out", str(multi), *args]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    one, two = rows(single), rows(multi)
    assert [(r["step"], r["tokens"]) for r in one] == [(r["step"], r["tokens"]) for r in two]
    for a, b in zip(one, two):
        key = "val_loss" if "val_loss" in a else "train_loss"
        assert b[key] == pytest.approx(a[key], rel=1e-4)


def test_inputs_come_from_a_file_or_standard_input_in_order(cli, addition, tmp_path, monkeypatch):
    import io

    run = tmp_path / "run"
    assert cli("train", addition, "--out", run, "--max-steps", "4", *TINY).code == 0
    (tmp_path / "in.txt").write_text("1+2\n\n30+4\n")
    from_file = cli("sample", run, "--input-file", tmp_path / "in.txt")
    assert from_file.code == 0 and len(from_file.out.split("\n")) == 4 and from_file.out.split("\n")[1] == ""  # an empty input, an empty line
    monkeypatch.setattr("sys.stdin", io.StringIO("1+2\n\n30+4\n"))
    assert cli("sample", run).out == from_file.out  # greedy: the same lines
    res = cli("sample", run, "--input-file", tmp_path / "in.txt", "--out", tmp_path / "out.txt")
    assert res.code == 0 and (tmp_path / "out.txt").read_text() == from_file.out


def test_the_attention_heat_map(cli, addition, tmp_path):
    pytest.importorskip("matplotlib")
    from seqgen.kinds.pairs import attention_map

    run = tmp_path / "run"
    assert cli("train", addition, "--out", run, "--max-steps", "4", *TINY).code == 0
    res = cli("plot", run, "--attention", "--input", "12+34", "--out", tmp_path / "att.png")
    assert res.code == 0, res.err
    assert (tmp_path / "att.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    drawn = attention_map(run, "12+34", tmp_path / "again.png")
    assert all(len(row) == 5 and sum(row) == pytest.approx(1.0) for row in drawn["weights"])  # 5 source characters
    res = cli("plot", run, "--attention")
    assert res.code == 2 and "--attention and --input go together" in res.err
