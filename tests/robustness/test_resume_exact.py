"""Exact resume: a run stopped several times (mid-epoch, on an epoch boundary, during validation, right before
validation) ends bit for bit where an uninterrupted run with the same seed ends, with the same metrics."""

from __future__ import annotations

import signal

import pytest
from harness import (
    TINY,
    assert_run_intact,
    last_batch_of_epoch,
    metric_rows,
    run_files,
    saved_position,
    signal_after_step,
    signal_during_validation,
    train_args,
)

from seqgen.cli import main

SIGINT, SIGTERM = signal.SIGINT, signal.SIGTERM


def resume(run, monkeypatch, arm=None) -> int:
    """One more `seqgen train --resume RUN`, with a signal armed for this segment only."""
    with monkeypatch.context() as m:
        if arm:
            arm(m)
        return main(["train", "--resume", str(run), "--quiet"])


def test_four_interruptions_end_bit_identical(tmp_path, tiny_dataset, reference_run, monkeypatch, capsys):
    run = tmp_path / "run"

    # 1. Ctrl-C in the middle of the first epoch, between two metrics rows
    with monkeypatch.context() as m:
        signal_after_step(m, SIGINT, lambda t, k: k == 7)
        code = main(train_args(tiny_dataset, run))
    err = capsys.readouterr().err
    assert code == 130
    assert f"stopped: SIGINT at step 7; checkpoint saved (continue with: seqgen train --resume {run})" in err
    position = saved_position(run)
    assert position["step"] == 7 and position["epoch"] == 0 and position["batch_in_epoch"] == 7

    # 2. SIGTERM during the validation at step 15 (after 2 of its batches): abandoned, redone on resume
    assert resume(run, monkeypatch, lambda m: signal_during_validation(m, SIGTERM, after_batches=2)) == 143
    assert "stopped: SIGTERM at step 15" in capsys.readouterr().err
    assert saved_position(run)["last_eval_step"] == -1
    assert not [r for r in metric_rows(run) if "val_loss" in r]

    # 3. Ctrl-C on the last batch of the first epoch: the checkpoint sits exactly on the epoch boundary
    assert resume(run, monkeypatch, lambda m: signal_after_step(m, SIGINT, last_batch_of_epoch)) == 130
    position = saved_position(run)
    assert position["epoch"] == 0 and position["step"] > 15

    # 4. SIGTERM during step 45, the step right before a validation (and a metrics row)
    assert resume(run, monkeypatch, lambda m: signal_after_step(m, SIGTERM, lambda t, k: k == 45)) == 143
    assert saved_position(run)["step"] == 45 and saved_position(run)["last_eval_step"] == 30

    # 5. to the end of the budget
    assert resume(run, monkeypatch) == 0
    assert_run_intact(run)
    assert run_files(run) == run_files(reference_run)  # best and last weights, bit for bit
    assert metric_rows(run) == metric_rows(reference_run)  # every loss, lr and grad-norm value, no row twice
    final, expected = saved_position(run), saved_position(reference_run)
    assert {k: v for k, v in final.items() if k != "elapsed"} == {k: v for k, v in expected.items() if k != "elapsed"}


@pytest.mark.parametrize("cell", ["gru", "rnn"])
def test_other_cells_resume_bit_identical(tmp_path, tiny_dataset, monkeypatch, cell):
    """GRU and tanh-RNN carry one state tensor, the LSTM a pair: both must survive the checkpoint."""
    args = [*TINY, "--cell", cell, "--max-steps", "20", "--eval-every", "10"]
    assert main(["train", str(tiny_dataset), "--out", str(tmp_path / "straight"), *args]) == 0
    with monkeypatch.context() as m:
        signal_after_step(m, SIGINT, lambda t, k: k == 13)
        assert main(["train", str(tiny_dataset), "--out", str(tmp_path / "stopped"), *args]) == 130
    assert resume(tmp_path / "stopped", monkeypatch) == 0
    assert run_files(tmp_path / "stopped") == run_files(tmp_path / "straight")
    assert metric_rows(tmp_path / "stopped") == metric_rows(tmp_path / "straight")


def test_interrupted_before_the_first_step_resumes_from_scratch(tmp_path, tiny_dataset, reference_run, monkeypatch, capsys):
    """A signal as training starts still leaves a run that `--resume` continues, to the same weights."""
    from seqgen.training.trainer import SignalFlag

    original = SignalFlag.__enter__

    def enter(self):
        flag = original(self)
        self.signum = SIGTERM  # as if SIGTERM arrived between start-up and the first step
        return flag

    with monkeypatch.context() as m:
        m.setattr(SignalFlag, "__enter__", enter)
        assert main(train_args(tiny_dataset, tmp_path / "run")) == 143
    assert "stopped: SIGTERM at step 0" in capsys.readouterr().err
    assert resume(tmp_path / "run", monkeypatch) == 0
    assert run_files(tmp_path / "run") == run_files(reference_run)
