"""Sampling: the distribution it draws from, its filters, priming, seeds and the CLI."""


import pytest
import torch

from seqgen.config import ModelConfig, SampleConfig
from seqgen.models.generate import filter_logits, generate, next_token_probs
from seqgen.models.rnn_lm import RNNLanguageModel

LOGITS = torch.tensor([[2.0, 1.0, 0.0, -1.0]])


@pytest.mark.parametrize("temperature", [0.25, 0.5, 1.0, 2.0])
def test_distribution_at_temperature_is_softmax_of_scaled_logits(temperature):
    probs = next_token_probs(LOGITS, SampleConfig(temperature=temperature))
    assert torch.allclose(probs, torch.softmax(LOGITS / temperature, dim=-1))


def test_empirical_frequencies_match_the_distribution():
    from seqgen.models.generate import choose

    cfg = SampleConfig(temperature=0.7)
    gen = torch.Generator().manual_seed(0)
    draws = torch.cat([choose(LOGITS.expand(1000, -1), cfg, gen) for _ in range(20)])
    freq = torch.bincount(draws, minlength=4).float() / len(draws)
    expected = torch.softmax(LOGITS[0] / 0.7, dim=-1)
    assert torch.allclose(freq, expected, atol=0.01)  # 20,000 draws: standard error < 0.004


def test_each_row_draws_from_its_own_distribution_and_never_a_zero_probability_token():
    from seqgen.models.generate import draw

    probs = torch.tensor([[0.0, 0.5, 0.0, 0.5, 0.0], [0.1, 0.0, 0.0, 0.0, 0.9], [0.0, 0.0, 0.0, 0.0, 1.0]])
    gen = torch.Generator().manual_seed(1)
    draws = torch.stack([draw(probs, gen) for _ in range(20000)])  # (draws, rows)
    for row in range(3):
        freq = torch.bincount(draws[:, row], minlength=5).double() / len(draws)
        assert freq[probs[row] == 0].sum() == 0
        assert torch.allclose(freq, probs[row].double(), atol=0.01)


@pytest.mark.parametrize(
    "top_k, top_p, kept",
    [
        (1, None, [0]),
        (2, None, [0, 1]),
        (4, None, [0, 1, 2, 3]),
        (None, 0.5, [0]),  # p(0) = 0.644 already holds half
        (None, 0.7, [0, 1]),  # 0.644 < 0.7 <= 0.644 + 0.237
        (None, 0.95, [0, 1, 2]),
        (None, 1.0, [0, 1, 2, 3]),
        (3, 0.7, [0, 1]),
        (1, 1.0, [0]),
    ],
)
def test_top_k_and_top_p_masks(top_k, top_p, kept):
    out = filter_logits(LOGITS, top_k, top_p)
    assert torch.isfinite(out[0]).nonzero().flatten().tolist() == kept
    assert torch.equal(out[0, kept], LOGITS[0, kept])  # survivors keep their logits


def test_top_p_works_per_row_on_unsorted_logits():
    logits = torch.tensor([[0.0, 3.0, 1.0], [5.0, 0.0, 5.0]])
    out = filter_logits(logits, top_p=0.6)
    assert torch.isfinite(out).tolist() == [[False, True, False], [True, False, True]]


def test_generation_carries_state_instead_of_rerunning_the_prefix(monkeypatch):
    from seqgen.models.stepper import Stepper

    model = RNNLanguageModel(ModelConfig(vocab_size=7, hidden=8, embed=4))
    lengths = []
    forward, step = model.forward, Stepper.__call__
    model.forward = lambda tokens, state=None: (lengths.append(tokens.shape[1]), forward(tokens, state))[1]
    monkeypatch.setattr(Stepper, "__call__", lambda self, ids, state: (lengths.append(tuple(ids.shape)), step(self, ids, state))[1])
    out = generate(model, [1, 2, 3], SampleConfig(length=20, num=3, seed=0))
    assert [len(o) for o in out] == [20, 20, 20]
    assert lengths == [3] + [(3,)] * 19  # the primer once, then one step of 3 samples per token


def test_stop_at_eos_ends_each_sample_at_its_eos():
    model = RNNLanguageModel(ModelConfig(vocab_size=3, hidden=8, embed=4))
    with torch.no_grad():
        model.head.bias.copy_(torch.tensor([0.0, 0.0, 5.0]))  # eos (id 2) is very likely
    out = generate(model, [0], SampleConfig(length=50, num=4, seed=1, stop_at_eos=True), eos_id=2)
    assert all(o[-1] == 2 and 2 not in o[:-1] for o in out)


def test_same_seed_same_sample_and_different_seed_differs(cli, char_run):
    a = cli("sample", char_run, "--length", "80", "--seed", "3")
    b = cli("sample", char_run, "--length", "80", "--seed", "3")
    c = cli("sample", char_run, "--length", "80", "--seed", "4")
    assert a.code == 0 and a.out == b.out != c.out
    assert a.out.endswith("\n") and len(a.out) in (80, 81)  # 80 characters, ending with one line break


def test_prime_is_printed_then_continued(cli, char_run):
    res = cli("sample", char_run, "--prime", "ROMEO:", "--length", "30", "--seed", "1")
    assert res.code == 0 and res.out.startswith("ROMEO:") and len(res.out) in (len("ROMEO:") + 30, len("ROMEO:") + 31)


def test_prime_file_greedy_and_filters(cli, char_run, tmp_path):
    prime = tmp_path / "p.txt"
    prime.write_text("JULIET:\n")
    g1 = cli("sample", char_run, "--prime-file", prime, "--greedy", "--length", "40")
    g2 = cli("sample", char_run, "--prime-file", prime, "--greedy", "--length", "40", "--seed", "99")
    assert g1.code == 0 and g1.out == g2.out  # greedy needs no seed
    assert cli("sample", char_run, "--top-k", "3", "--top-p", "0.9", "--temperature", "0.5", "--length", "20", "--seed", "0").code == 0


def test_num_samples_to_stdout_and_files(cli, char_run, tmp_path):
    res = cli("sample", char_run, "--num", "3", "--length", "20", "--seed", "0")
    assert res.code == 0 and res.out.count("--- sample") == 3
    res = cli("sample", char_run, "--num", "2", "--length", "20", "--seed", "0", "--out", tmp_path / "s.txt")
    assert res.code == 0 and res.out == ""
    assert (tmp_path / "s-1.txt").read_text() != (tmp_path / "s-2.txt").read_text()
    res = cli("sample", char_run, "--num", "2", "--length", "20", "--out", tmp_path / "s.txt")
    assert res.code == 2 and "--force" in res.err


@pytest.mark.parametrize(
    "args, words",
    [
        (["--temperature", "0"], "--temperature must be greater than 0"),
        (["--temperature", "-1"], "Invalid value for '--temperature'"),
        (["--top-p", "0"], "--top-p must be in (0, 1]"),
        (["--top-p", "1.5"], "Invalid value for '--top-p'"),
        (["--top-k", "0"], "Invalid value for '--top-k'"),
        (["--length", "0"], "Invalid value for '--length'"),
        (["--num", "0"], "Invalid value for '--num'"),
        (["--prime", "ROMEO €"], "the primer has characters this run never saw: '€'"),
        (["--length", "ten"], "Invalid value for '--length'"),
    ],
)
def test_bad_sampling_options_exit_2_with_one_line(cli, char_run, args, words):
    res = cli("sample", char_run, *args)
    assert res.code == 2
    assert words in res.err
    assert len(res.err.strip().splitlines()) == 1


def test_word_level_sampling_stops_at_eos(cli, tmp_path, corpus_file):
    assert cli("prepare", corpus_file, "--out", tmp_path / "w", "--level", "word").code == 0
    assert cli("train", tmp_path / "w", "--out", tmp_path / "r", "--hidden", "32", "--embed", "16", "--batch", "4", "--seq-len", "16", "--max-steps", "30", "--lr", "1e-2", "--quiet").code == 0
    res = cli("sample", tmp_path / "r", "--length", "200", "--stop-at-eos", "--seed", "2")
    assert res.code == 0
    assert res.out.count("\n") == 1  # one line, ended by <eos>
    res = cli("sample", tmp_path / "r", "--prime", "Zyzzyva love", "--length", "5", "--seed", "2")
    assert res.code == 0 and "<unk>" in res.err
