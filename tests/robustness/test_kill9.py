"""`kill -9`, or a second Ctrl-C, at every stage of writing a checkpoint: the run folder always holds a complete
checkpoint (the old one or the new one, never a mix), and resuming from it still ends bit for bit where an
uninterrupted run ends. A crashed trainer does not leave its lock stuck."""

from __future__ import annotations

import os
import signal

import pytest
from harness import (
    CHECKPOINT_STAGES,
    COMMITTED,
    arm_fault,
    assert_run_intact,
    metric_rows,
    run_files,
    run_in_child,
    saved_position,
    train_args,
)

from seqgen.cli import main


def check_survivor(run, reference_run, stage: str) -> None:
    """What a user finds after the crash: a loadable checkpoint (step 15 or 30), and `--resume` finishing the run exactly."""
    assert_run_intact(run)  # every file config.json lists matches its digest and loads (sample and eval work)
    assert saved_position(run)["step"] == (30 if stage in COMMITTED else 15), stage
    assert main(["train", "--resume", str(run), "--quiet"]) == 0, stage
    assert not [p.name for p in run.iterdir() if p.name.startswith(".") and p.name != ".lock"], stage  # no leftovers
    assert run_files(run) == run_files(reference_run), stage
    assert metric_rows(run) == metric_rows(reference_run), stage


def kill_9() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.parametrize("stage", CHECKPOINT_STAGES)
def test_kill_9_at_every_stage_of_a_checkpoint(tmp_path, tiny_dataset, reference_run, monkeypatch, stage):
    run = tmp_path / "run"

    def train() -> int:  # in a forked child, which the fault kills with SIGKILL
        arm_fault(stage, kill_9, setattr=monkeypatch.setattr)
        return main(train_args(tiny_dataset, run))

    assert run_in_child(train) == -signal.SIGKILL
    assert (run / ".lock").exists()  # the dead trainer's lock file is still there, and does not block the resume
    check_survivor(run, reference_run, stage)


@pytest.mark.parametrize("stage", CHECKPOINT_STAGES)
def test_second_ctrl_c_at_every_stage_of_a_checkpoint(tmp_path, tiny_dataset, reference_run, monkeypatch, capsys, stage):
    """Two real SIGINTs in a row inside the checkpoint: exit 130 at once, nothing corrupted."""

    def ctrl_c_twice() -> None:
        os.kill(os.getpid(), signal.SIGINT)  # asks for a clean stop
        os.kill(os.getpid(), signal.SIGINT)  # "stop now": KeyboardInterrupt from here

    run = tmp_path / "run"
    with monkeypatch.context() as m:
        arm_fault(stage, ctrl_c_twice, setattr=m.setattr)
        assert main(train_args(tiny_dataset, run)) == 130
    assert capsys.readouterr().err.strip() == "error: interrupted"
    check_survivor(run, reference_run, stage)


def test_a_run_killed_before_its_first_checkpoint_can_be_resumed(tmp_path, tiny_dataset, reference_run, monkeypatch, capsys):
    """Killed while starting (config.json written, no weights yet): `sample` says so, `--resume` starts from step 0."""
    run = tmp_path / "run"

    def train() -> int:
        monkeypatch.setattr("seqgen.training.trainer.Trainer.fit", lambda self: kill_9())
        return main(train_args(tiny_dataset, run))

    assert run_in_child(train) == -signal.SIGKILL
    assert (run / "config.json").is_file() and not (run / "last.safetensors").exists()
    assert main(["sample", str(run)]) == 1
    assert f"{run} has no model.safetensors yet (train longer, or continue it with `seqgen train --resume {run}`)" in capsys.readouterr().err
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    assert run_files(run) == run_files(reference_run)
