"""`seqgen eval`: likelihood on a split or a file, the unknown-token warning, refusing a corrupt run."""

import json
import math
import shutil

import pytest

from seqgen.evaluation.likelihood import Likelihood


@pytest.mark.parametrize("nll, n, nats, bits, ppl", [(0.0, 10, 0.0, 0.0, 1.0), (10 * math.log(2), 10, math.log(2), 1.0, 2.0), (4 * math.log(65), 4, math.log(65), math.log2(65), 65.0)])
def test_likelihood_figures(nll, n, nats, bits, ppl):
    lik = Likelihood(nll, n)
    assert lik.nats == pytest.approx(nats) and lik.bits == pytest.approx(bits) and lik.perplexity == pytest.approx(ppl)


def test_eval_on_splits_and_json(cli, char_run):
    res = cli("eval", char_run, "--json")
    assert res.code == 0, res.err
    report = json.loads(res.out)
    assert report["data"] == "val split" and report["level"] == "char"
    assert report["perplexity"] == pytest.approx(math.exp(report["nats_per_token"]))
    assert report["bits_per_token"] == pytest.approx(report["nats_per_token"] / math.log(2))
    assert report["nats_per_token"] < math.log(40)  # learned something beyond uniform guessing
    assert "bits per character" in res.err
    test = json.loads(cli("eval", char_run, "--split", "test", "--json").out)
    assert test["data"] == "test split" and test["tokens"] > 0


def test_eval_on_a_file_counts_unknown_characters(cli, char_run, tmp_path):
    path = tmp_path / "other.txt"
    path.write_text("ROMEO:\nThe night is sweet €€.\n" * 5)
    res = cli("eval", char_run, "--file", path, "--json")
    report = json.loads(res.out)
    assert report["unknown"] == 10
    assert report["tokens"] == len(path.read_text()) - 10 - 1
    assert report["unknown_rate"] == pytest.approx(10 / len(path.read_text()))
    # 6.7% unknown (10 of 150 characters): the table says loudly that this perplexity is not comparable with a clean text's
    assert "warning: 6.7% of the tokens (10) are outside the run's vocabulary and were left out of the score" in " ".join(res.err.split())


def test_eval_on_a_clean_file_says_nothing_loud(cli, char_run, tmp_path):
    clean = tmp_path / "clean.txt"
    clean.write_text("ROMEO:\nThe night is sweet.\n" * 5)
    res = cli("eval", char_run, "--file", clean)
    assert res.code == 0 and "warning:" not in res.err
    # under 1% (one unknown character in 217): a note in the caption, no warning
    clean.write_text("ROMEO:\nThe night is sweet.\n" * 8 + "€")
    res = cli("eval", char_run, "--file", clean)
    assert res.code == 0 and "warning:" not in res.err and "unknown tokens 1 (0.46%)" in res.err


def test_eval_refuses_a_corrupt_run(cli, char_run, tmp_path):
    run = tmp_path / "copy"
    shutil.copytree(char_run, run)
    data = bytearray((run / "model.safetensors").read_bytes())
    data[-5] ^= 0x01  # one flipped bit
    (run / "model.safetensors").write_bytes(bytes(data))
    res = cli("eval", run)
    assert res.code == 1 and "does not match the digest" in res.err
    (run / "config.json").unlink()
    res = cli("sample", run)
    assert res.code == 1 and "config.json" in res.err
    res = cli("eval", tmp_path / "nowhere")
    assert res.code == 2 and "not a run folder" in res.err
