"""The sampling step: the same logits and states as the fused model, and the same samples as before it."""

import pytest
import torch

from seqgen.config import ModelConfig, SampleConfig
from seqgen.models import stepper as stepper_module
from seqgen.models.generate import choose, cpu_generator, generate, select_state
from seqgen.models.rnn_lm import RNNLanguageModel
from seqgen.models.stepper import Stepper


def random_model(cell: str, layers: int, vocab: int = 13, seed: int = 0) -> RNNLanguageModel:
    torch.manual_seed(seed)
    model = RNNLanguageModel(ModelConfig(vocab_size=vocab, cell=cell, layers=layers, hidden=24, embed=10, dropout=0.3))
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-0.5, 0.5)  # biases too, so a bias in the wrong place shows
    return model.eval()


def random_state(model: RNNLanguageModel, n: int):
    state = model.initial_state(n)
    return tuple(torch.randn_like(s) for s in state) if isinstance(state, tuple) else torch.randn_like(state)


def as_list(state):
    return list(state) if isinstance(state, tuple) else [state]


@pytest.mark.parametrize("table", [True, False], ids=["token-table", "per-step-input"])
@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_steps_match_the_fused_model(cell, layers, table, monkeypatch):
    if not table:
        monkeypatch.setattr(stepper_module, "TABLE_BYTES", 0)
    model = random_model(cell, layers)
    step = Stepper(model)
    assert (step.table is not None) == table
    ids = torch.randint(0, 13, (5, 12))  # (N, T)
    state = random_state(model, 5)
    with torch.no_grad():
        expected, expected_state = model(ids, state)  # one fused call over all 12 steps
        for t in range(ids.size(1)):
            logits, state = step(ids[:, t], state)
            assert torch.allclose(logits, expected[:, t], atol=1e-5, rtol=0)
    for got, want in zip(as_list(state), as_list(expected_state)):
        assert got.shape == want.shape and torch.allclose(got, want, atol=1e-5, rtol=0)


def old_stream(model, prime, cfg):
    """The sampling loop before the Stepper: one fused `model(...)` call per token (the reference)."""
    generator = cpu_generator(cfg.seed)
    with torch.no_grad():
        logits, state = model(torch.tensor([prime]))
        state = select_state(state, torch.zeros(cfg.num, dtype=torch.long))  # the primer's state, once per sample
        last = logits[:, -1, :].expand(cfg.num, -1)
        out = []
        for _ in range(cfg.length):
            ids = choose(last, cfg, generator)
            out.append(ids.tolist())
            logits, state = model(ids.view(-1, 1), state)
            last = logits[:, -1, :]
    return [list(s) for s in zip(*out)]


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("cfg", [SampleConfig(length=60, num=1, seed=3), SampleConfig(length=40, num=4, seed=5, temperature=0.7, top_k=5), SampleConfig(length=30, greedy=True)])
def test_sampling_output_is_unchanged(cell, cfg):
    model = random_model(cell, 2, seed=1)
    assert generate(model, [1, 2, 3], cfg) == old_stream(model, [1, 2, 3], cfg)
