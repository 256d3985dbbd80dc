"""The network mixed with the n-gram: λ fitted by EM, a mixture that is a distribution, `eval` reporting all three,
and `sample` drawing from the mixture unless told --no-mix."""

import json
import math
import shutil

import numpy as np
import pytest
import torch

from seqgen.config import ModelConfig
from seqgen.evaluation.ngram import KneserNey, dataset_ngram
from seqgen.models.mixture import MixedLM, fit_weight, mixed_nll
from seqgen.models.rnn_lm import RNNLanguageModel
from seqgen.models.stepper import step_function


def test_the_mixture_loss_is_the_hand_computed_one_and_em_finds_its_minimum():
    p_net = np.array([0.5, 0.2, 0.05, 0.6])
    p_ngram = np.array([0.1, 0.4, 0.3, 0.2])
    by_hand = -(math.log(0.3 * 0.5 + 0.7 * 0.1) + math.log(0.3 * 0.2 + 0.7 * 0.4) + math.log(0.3 * 0.05 + 0.7 * 0.3) + math.log(0.3 * 0.6 + 0.7 * 0.2))
    assert mixed_nll(p_net, p_ngram, 0.3) == pytest.approx(by_hand, rel=1e-12)
    grid = np.linspace(0, 1, 100_001)
    best = grid[np.argmin([mixed_nll(p_net, p_ngram, w) for w in grid])]
    assert fit_weight(p_net, p_ngram) == pytest.approx(best, abs=1e-4)
    assert fit_weight(np.full(5, 0.9), np.full(5, 0.1)) > 0.99  # one model always better: all the weight goes to it
    assert fit_weight(np.full(5, 0.1), np.full(5, 0.9)) < 0.01


def small_models(V=7, order=3):
    rng = np.random.default_rng(0)
    ids = rng.integers(0, V, 400)
    torch.manual_seed(0)
    net = RNNLanguageModel(ModelConfig(vocab_size=V, layers=2, hidden=12, embed=6, dropout=0.0)).eval()
    return net, KneserNey(order, V).fit(ids), ids


def test_the_mixture_is_a_distribution_that_mixes_what_each_model_says():
    net, kn, _ = small_models()
    mixed = MixedLM(net, kn, 0.3)
    x = torch.tensor([[1, 2, 3, 4], [2, 2, 1, 0]])
    with torch.no_grad():
        logp, state = mixed(x)
        net_logits, _ = net(x)
    assert torch.allclose(logp.exp().sum(-1), torch.ones(2, 4), atol=1e-5)
    for b in range(2):
        for t in range(4):
            expected = 0.3 * torch.softmax(net_logits[b, t], -1) + 0.7 * torch.from_numpy(kn.distribution(x[b, : t + 1].tolist())).float()
            assert torch.allclose(logp[b, t].exp(), expected, atol=1e-6)
    # one step with the carried state continues exactly as reading the token in one pass
    step = step_function(mixed)
    nxt = torch.tensor([5, 6])
    stepped, _ = step(nxt, state)
    with torch.no_grad():
        whole, _ = mixed(torch.cat([x, nxt.view(-1, 1)], dim=1))
    assert torch.allclose(stepped, whole[:, -1], atol=1e-5)


def test_stepping_the_mixture_reuses_the_ngram_for_a_history_it_has_seen():
    net, kn, _ = small_models()
    mixed = MixedLM(net, kn, 0.4)
    step = step_function(mixed)
    calls = []
    original = kn.distributions
    kn.distributions = lambda histories: calls.append(len(histories)) or original(histories)
    text = torch.tensor([[1, 2, 1, 2, 1, 2, 1, 2]])  # histories (1, 2) and (2, 1) come back again and again
    with torch.no_grad():
        first, state = mixed(text[:, :1])  # the primer goes through in one pass, as in `sample`
    stepped = [first[:, 0]]
    for t in range(1, text.shape[1]):
        out, state = step(text[:, t], state)
        stepped.append(out)
    with torch.no_grad():
        whole, _ = mixed(text)
    assert torch.allclose(torch.stack(stepped, dim=1), whole, atol=1e-5)  # the same distributions as one pass
    assert sum(calls[:-1]) <= 4  # ... and after the first few steps the n-gram is not asked again


def test_the_ngram_gives_every_history_at_once_as_it_scores_a_stream():
    _, kn, ids = small_models(order=4)
    probs = kn.stream_probs(ids[:50])
    padded = [-1] * 3 + ids[:50].tolist()  # no history before the start
    histories = np.array([padded[i : i + 3] for i in range(1, 50)])  # the 3 tokens before position i
    rows = kn.distributions(histories)
    assert np.allclose(rows.sum(1), 1.0)
    assert np.allclose(rows[np.arange(49), ids[1:50]], probs)


def test_the_ngram_is_fitted_once_per_dataset_and_refitted_when_the_data_change(tmp_path):
    ids = np.random.default_rng(1).integers(0, 9, 500)
    first = dataset_ngram(tmp_path, ids, 9, 3)
    assert (tmp_path / "ngram-3.safetensors").is_file()
    again = dataset_ngram(tmp_path, ids, 9, 3)
    assert np.array_equal(again.stream_probs(ids), first.stream_probs(ids))
    other = ids[::-1].copy()
    assert np.array_equal(dataset_ngram(tmp_path, other, 9, 3).stream_probs(ids), KneserNey(3, 9).fit(other).stream_probs(ids))


@pytest.fixture
def mixed_run(tmp_path, char_run):
    """A copy of the shared tiny run (its `train` fitted the mixture as it ended)."""
    run = tmp_path / "run"
    shutil.copytree(char_run, run)
    return run


def test_train_fits_the_mixture_and_eval_reports_network_ngram_and_mixture(cli, mixed_run):
    fit = json.loads((mixed_run / "mixture.json").read_text())
    assert fit["order"] == 5 and 0.0 <= fit["weight"] <= 1.0 and fit["mixture"] <= min(fit["network"], fit["ngram"]) + 1e-9
    res = cli("eval", mixed_run, "--json")
    assert res.code == 0, res.err
    report = json.loads(res.out)
    mixture, ngram = report["mixture"], report["baselines"]["ngram"]
    assert mixture["weight"] == fit["weight"] and mixture["tokens"] == report["tokens"] == ngram["tokens"]
    # λ was fitted on this very split (all of it: it is small), so the mixture is at most the better of the two
    assert mixture["nats_per_token"] <= min(report["nats_per_token"], ngram["nats_per_token"]) + 1e-9
    assert mixture["sample_draws_from"] == ("mixture" if fit["mixture"] < fit["network"] - 1e-3 else "network")
    assert "mixture (λ" in res.err


def test_sample_no_mix_draws_from_the_network_alone(cli, mixed_run, tmp_path):
    args = ("sample", mixed_run, "--length", "200", "--seed", "7")
    no_mix = cli(*args, "--no-mix").out
    mixed = cli(*args, "--mix").out
    alone = tmp_path / "alone"
    shutil.copytree(mixed_run, alone)
    (alone / "mixture.json").unlink()  # a run with no mixture at all: the network alone
    assert cli("sample", alone, "--length", "200", "--seed", "7").out == no_mix
    assert mixed != no_mix
    default = cli(*args).out
    better = json.loads((mixed_run / "mixture.json").read_text())
    assert default == (mixed if better["mixture"] < better["network"] - 1e-3 else no_mix)
    res = cli("sample", alone, "--mix", "--length", "5")
    assert res.code == 1 and "--mix: the run has no mixture" in res.err


def test_a_mixture_fitted_for_other_weights_is_not_used(cli, mixed_run):
    fit = json.loads((mixed_run / "mixture.json").read_text())
    fit["weights_sha256"] = "0" * 64
    (mixed_run / "mixture.json").write_text(json.dumps(fit))
    report = json.loads(cli("eval", mixed_run, "--json").out)
    assert report["mixture"] is None and "other weights" in report["mixture_note"]
    assert cli("sample", mixed_run, "--length", "50", "--seed", "1").out == cli("sample", mixed_run, "--length", "50", "--seed", "1", "--no-mix").out


def test_a_mixture_that_cannot_be_fitted_never_fails_the_training(cli, tmp_path, char_dataset, monkeypatch):
    from seqgen.evaluation import mixture

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(mixture, "fit_run_mixture", full_disk)
    res = cli("train", char_dataset, "--out", tmp_path / "r", "--max-steps", "3", "--hidden", "16", "--embed", "8")
    assert res.code == 0, res.err
    assert "the run is trained, but fitting its mixture with the n-gram failed" in res.err and "seqgen train --resume" in res.err
    assert (tmp_path / "r" / "model.safetensors").is_file() and not (tmp_path / "r" / "mixture.json").exists()
    assert cli("sample", tmp_path / "r", "--length", "5").code == 0
