"""`seqgen train`: model, clipping, carried state, schedule, budgets, checkpoints and resume."""

import json
import math

import pytest
import torch

from seqgen.architectures import load_model_from
from seqgen.config import FramesConfig, ModelConfig, Seq2SeqConfig, TrainConfig
from seqgen.models.rnn_lm import RNNLanguageModel
from seqgen.training.checkpoint import open_run
from seqgen.training.distributed import SingleProcess
from seqgen.training.schedule import lr_at
from seqgen.training.streams import StreamTask


def rows(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


TINY = ["--hidden", "32", "--embed", "16", "--batch", "8", "--seq-len", "16", "--quiet"]


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_each_cell_trains_and_lowers_the_loss(cli, tmp_path, char_dataset, cell):
    res = cli("train", char_dataset, "--out", tmp_path / cell, "--cell", cell, "--max-steps", "40", "--eval-every", "20", "--lr", "1e-2", *TINY)
    assert res.code == 0, res.err
    history = rows(tmp_path / cell)
    train_losses = [r["train_loss"] for r in history if "train_loss" in r]
    assert train_losses[-1] < train_losses[0] < math.log(40)
    assert {"step", "tokens", "train_loss", "lr", "grad_norm", "tokens_per_s"} <= set(history[0])
    assert [r["step"] for r in history if "val_loss" in r] == [20, 40]
    for name in ("config.json", "model.safetensors", "last.safetensors", "state.pt", "metrics.jsonl"):
        assert (tmp_path / cell / name).is_file()
    assert open_run(tmp_path / cell).model_config.cell == cell


def test_model_shapes_and_tied_weights():
    model = RNNLanguageModel(ModelConfig(vocab_size=11, cell="gru", layers=3, hidden=24, embed=24, tie_weights=True))
    logits, state = model(torch.zeros(2, 5, dtype=torch.long))
    assert logits.shape == (2, 5, 11) and state.shape == (3, 2, 24)
    assert model.head.weight.data_ptr() == model.embed.weight.data_ptr()


def test_tie_weights_needs_equal_sizes(cli, tmp_path, char_dataset):
    res = cli("train", char_dataset, "--out", tmp_path / "r", "--tie-weights", "--max-steps", "2", *TINY)
    assert res.code == 2 and "--tie-weights needs --embed equal to --hidden" in res.err


def test_clipping_bounds_the_norm_and_logs_the_norm_before_clipping(char_dataset, tmp_path):
    from seqgen.data.dataset import Dataset
    from seqgen.training.checkpoint import create_run, new_config
    from seqgen.training.trainer import Trainer

    ds = Dataset.open(char_dataset)
    mcfg = ModelConfig(vocab_size=len(ds.vocab), hidden=32, embed=16)
    for mode, clip in (("norm", 0.05), ("value", 0.001)):
        tcfg = TrainConfig(batch=8, seq_len=16, max_steps=5, clip=clip, clip_mode=mode)
        model = RNNLanguageModel(mcfg)
        run = create_run(tmp_path / mode, new_config(mcfg, tcfg, char_dataset, ds.meta), force=False)
        trainer = Trainer(run, StreamTask(ds, tcfg, SingleProcess()), model, tcfg, torch.device("cpu"))
        seen = []
        original_step = trainer.optimizer.step

        def spy(*a, **k):
            grads = [p.grad for p in model.parameters() if p.grad is not None]
            seen.append((torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item(), max(g.abs().max().item() for g in grads)))
            return original_step(*a, **k)

        trainer.optimizer.step = spy
        _, reported, _ = trainer._train_step(trainer._next_batch(), 1e-3)
        norm_after, max_after = seen[0]
        if mode == "norm":
            assert norm_after <= clip * 1.0001 < reported  # clipped, and the log shows the norm before
        else:
            assert max_after <= clip + 1e-9 < reported


def test_state_is_carried_across_batches_and_reset_each_epoch(char_dataset, tmp_path):
    from seqgen.data.dataset import Dataset
    from seqgen.training.checkpoint import create_run, new_config
    from seqgen.training.trainer import Trainer

    ds = Dataset.open(char_dataset)
    mcfg = ModelConfig(vocab_size=len(ds.vocab), hidden=16, embed=8)
    tcfg = TrainConfig(batch=16, seq_len=64, max_steps=100)
    model = RNNLanguageModel(mcfg)
    run = create_run(tmp_path / "r", new_config(mcfg, tcfg, char_dataset, ds.meta), False)
    trainer = Trainer(run, StreamTask(ds, tcfg, SingleProcess()), model, tcfg, torch.device("cpu"))
    calls = []
    forward = model.forward

    def spy(tokens, state=None):
        logits, new_state = forward(tokens, state)
        calls.append((state, new_state, trainer.pos.epoch))
        return logits, new_state

    model.forward = spy
    per_epoch = trainer.task.steps_per_epoch
    for _ in range(per_epoch + 2):
        trainer._train_step(trainer._next_batch(), 1e-3)
        trainer.pos.batch_in_epoch += 1
    assert calls[0][0] is None
    assert torch.equal(calls[1][0][0], calls[0][1][0].detach())  # batch 2 starts from batch 1's final state
    assert not calls[1][0][0].requires_grad  # ... detached: truncated backpropagation
    first_of_epoch_1 = next(i for i, c in enumerate(calls) if c[2] == 1)
    assert calls[first_of_epoch_1][0] is None  # a new epoch starts afresh


@pytest.mark.parametrize("schedule", ["cosine", "step", "constant"])
def test_schedules_warm_up_then_decay(schedule):
    cfg = TrainConfig(lr=1.0, warmup=10, schedule=schedule, min_lr_ratio=0.1, step_gamma=0.5, step_every=0.5)
    assert lr_at(cfg, 0, 0.0) == pytest.approx(0.1)
    assert lr_at(cfg, 9, 0.0) == pytest.approx(1.0)
    end = {"cosine": 0.1, "step": 0.25, "constant": 1.0}[schedule]
    assert lr_at(cfg, 1000, 1.0) == pytest.approx(end)


def test_resume_continues_from_the_saved_step(cli, tmp_path, char_dataset):
    run = tmp_path / "r"
    assert cli("train", char_dataset, "--out", run, "--max-steps", "20", "--eval-every", "10", "--log-every", "5", *TINY).code == 0
    res = cli("train", "--resume", run, "--max-steps", "30")
    assert res.code == 0, res.err
    history = rows(run)
    assert [r["step"] for r in history if "train_loss" in r] == [5, 10, 15, 20, 25, 30]
    assert [r["step"] for r in history if "val_loss" in r] == [10, 20, 30]
    assert history[-1]["tokens"] == 30 * 8 * 16
    res = cli("train", "--resume", run)
    assert res.code == 0 and "budget is used up" in res.err


def test_resume_refuses_to_change_the_model(cli, tmp_path, char_dataset):
    run = tmp_path / "r"
    assert cli("train", char_dataset, "--out", run, "--max-steps", "4", *TINY).code == 0
    res = cli("train", "--resume", run, "--hidden", "64")
    assert res.code == 2 and "--hidden cannot change when resuming" in res.err


def test_budgets_epochs_and_time(cli, tmp_path, char_dataset):
    res = cli("train", char_dataset, "--out", tmp_path / "e", "--epochs", "1", *TINY)
    assert res.code == 0
    from seqgen.data.dataset import Dataset, steps_per_epoch

    n_train = Dataset.open(char_dataset).meta["splits"]["train"]
    assert rows(tmp_path / "e")[-1]["step"] == steps_per_epoch(n_train, 8, 16)
    res = cli("train", char_dataset, "--out", tmp_path / "t", "--time-limit", "2s", *TINY)
    assert res.code == 0  # it ends on the time budget: with no --max-steps or --epochs nothing else would stop it
    assert open_run(tmp_path / "t").config["train"]["time_limit"] == 2.0


def test_patience_stops_when_validation_stops_improving(cli, tmp_path, char_dataset, monkeypatch):
    from seqgen.evaluation.likelihood import Likelihood
    from seqgen.training import streams as train_module

    losses = iter([3.0, 2.0, 2.5, 2.6, 2.7, 2.8, 2.9])
    monkeypatch.setattr(train_module, "score_ids", lambda *a, **k: Likelihood(next(losses), 1))
    res = cli("train", char_dataset, "--out", tmp_path / "p", "--max-steps", "100", "--eval-every", "2", "--patience", "2", *TINY)
    assert res.code == 0
    assert [r["val_loss"] for r in rows(tmp_path / "p") if "val_loss" in r] == [3.0, 2.0, 2.5, 2.6]


def test_model_safetensors_keeps_the_weights_of_the_lowest_validation_loss(cli, tmp_path):
    """The validation text disagrees with the training text, so the best weights come well before the last:
    the validation loss falls while the model learns that only `a` and `b` occur, then rises as it learns
    that they alternate (in the validation text `a` follows `a`)."""
    src = tmp_path / "ab.txt"
    src.write_text("ab" * 1900 + "a" * 200)  # train: abab…; validation (the last 5 %): aaaa…
    assert cli("prepare", src, "--out", tmp_path / "d", "--val", "0.05", "--test", "0").code == 0
    run = tmp_path / "r"
    res = cli("train", tmp_path / "d", "--out", run, "--hidden", "16", "--embed", "8", "--batch", "8", "--seq-len", "16",
              "--max-steps", "24", "--eval-every", "3", "--warmup", "1", "--lr", "3e-2", "--quiet")
    assert res.code == 0, res.err
    val = {r["step"]: r["val_loss"] for r in rows(run) if "val_loss" in r}
    best, last = min(val, key=val.get), max(val)
    assert val[best] < val[last] - 0.1, val  # the case this test is about: the last weights are not the best
    for weights, step in (("best", best), ("last", last)):
        report = json.loads(cli("eval", run, "--weights", weights, "--ngram", "0", "--json").out)
        assert report["nats_per_token"] == pytest.approx(val[step], rel=1e-6), weights


def test_same_seed_same_weights(cli, tmp_path, char_dataset):
    for name in ("a", "b"):
        assert cli("train", char_dataset, "--out", tmp_path / name, "--max-steps", "6", "--seed", "7", *TINY).code == 0
    a = load_model_from(open_run(tmp_path / "a")).state_dict()
    b = load_model_from(open_run(tmp_path / "b")).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_corpus_too_small_says_what_to_change(cli, tmp_path):
    src = tmp_path / "small.txt"
    src.write_text("tiny corpus of text\n" * 5)
    assert cli("prepare", src, "--out", tmp_path / "d").code == 0
    res = cli("train", tmp_path / "d", "--out", tmp_path / "r", "--max-steps", "2")
    assert res.code == 2
    assert f"too few for --batch {TrainConfig.batch} × --seq-len {TrainConfig.seq_len}" in res.err and "lower --batch" in res.err
    assert not (tmp_path / "r").exists()


def test_options_left_out_take_the_defaults_help_shows(cli, tmp_path):
    """One source of defaults: the config dataclasses feed both `--help` and the run's config.json."""
    src = tmp_path / "text.txt"
    src.write_text("the quick brown fox jumps over the lazy dog\n" * 2000)
    assert cli("prepare", src, "--out", tmp_path / "d").code == 0
    assert cli("train", tmp_path / "d", "--out", tmp_path / "r", "--max-steps", "1", "--quiet").code == 0
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    chosen = config["sizing"]["settings"]  # no size given: the sizing rule's, the rest the dataclasses' defaults
    for section, cls, names in (("model", ModelConfig, ["cell", "layers", "hidden", "embed", "dropout"]),
                                ("train", TrainConfig, ["batch", "seq_len", "lr", "warmup", "eval_every", "schedule"])):
        assert {n: config[section][n] for n in names} == {n: chosen.get(n, getattr(cls, n)) for n in names}
    help_text = " ".join(cli("train", "--help").out.replace("│", " ").split())
    hidden_option = help_text[help_text.index("--hidden") : help_text.index("--embed")]
    assert (f"[default: text and music: chosen for the corpus and budget, else {ModelConfig.hidden}; pairs: {Seq2SeqConfig.hidden}; "
            f"frames: {FramesConfig.hidden}]") in hidden_option


def test_divergence_stops_with_a_clear_message(cli, tmp_path, char_dataset, monkeypatch):
    from seqgen.training import streams as train_module

    monkeypatch.setattr(train_module.F, "cross_entropy", lambda *a, **k: torch.tensor(float("nan"), requires_grad=True))
    res = cli("train", char_dataset, "--out", tmp_path / "r", "--max-steps", "5", *TINY)
    assert res.code == 1 and "diverged" in res.err and "--lr" in res.err


def test_existing_run_needs_force(cli, tmp_path, char_dataset):
    assert cli("train", char_dataset, "--out", tmp_path / "r", "--max-steps", "2", *TINY).code == 0
    res = cli("train", char_dataset, "--out", tmp_path / "r", "--max-steps", "2", *TINY)
    assert res.code == 2 and "--force" in res.err
    assert cli("train", char_dataset, "--out", tmp_path / "r", "--max-steps", "2", "--force", *TINY).code == 0


def test_weights_that_are_views_of_one_buffer_are_saved_and_load_back(tmp_path):
    """A GPU RNN's weights are views of one flat cuDNN buffer; safetensors refuses such tensors, so they are saved
    from a copy that owns each one (here the views are made by hand on the CPU)."""
    from safetensors.torch import load_model

    from seqgen.training.checkpoint import _save_weights

    model = torch.nn.LSTM(4, 3)
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    with torch.no_grad():
        offset = 0
        for name, p in list(model.named_parameters()):
            view = flat[offset : offset + p.numel()].view_as(p)
            setattr(model, name, torch.nn.Parameter(view))
            offset += p.numel()
    assert model.weight_ih_l0.untyped_storage().nbytes() > model.weight_ih_l0.numel() * 4
    _save_weights(model, tmp_path / "w.safetensors")
    fresh = torch.nn.LSTM(4, 3)
    load_model(fresh, str(tmp_path / "w.safetensors"))
    assert all(torch.equal(a, b) for a, b in zip(fresh.parameters(), model.parameters()))
