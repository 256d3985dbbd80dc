"""Real signals from outside a running `seqgen train`: Ctrl-C and SIGTERM save and print the exact resume command;
a second Ctrl-C stops at once; a second trainer on the same folder is refused; `sample` and `eval` beside a
running trainer neither fail nor disturb it."""

from __future__ import annotations

import re
import shlex
import signal
import time

from harness import assert_run_intact, one_error_line, saved_position, seqgen_process, train_args

from seqgen.training.checkpoint import RunLock

LONG = ["--max-steps", "100000", "--time-limit", "60s"]


def start_trainer(dataset, run, *extra):
    """A trainer with a long budget, returned once it has written its first checkpoint (so it is in its loop)."""
    child = seqgen_process(*train_args(dataset, run, *LONG, *extra))
    deadline = time.monotonic() + 60
    while not (run / "state.pt").exists():
        assert child.poll() is None, child.communicate()[1]
        assert time.monotonic() < deadline, "the trainer did not start"
        time.sleep(0.02)
    return child


def test_ctrl_c_from_outside_prints_a_resume_command_that_works(cli, tmp_path, tiny_dataset):
    run = tmp_path / "my run"  # a space: the printed command must still paste into a shell
    child = start_trainer(tiny_dataset, run, "--eval-every", "50")
    time.sleep(0.3)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130
    line = one_error_line(err, "stopped")  # not "error:": the user asked for it and nothing was lost
    found = re.fullmatch(r"stopped: SIGINT at step (\d+); checkpoint saved \(continue with: (.*)\)", line)
    assert found, line
    step, command = int(found.group(1)), found.group(2)
    assert command == f"seqgen train --resume '{run}'"
    assert saved_position(run)["step"] == step > 0
    assert_run_intact(run)
    argv = shlex.split(command)[1:]
    res = cli(*argv, "--max-steps", str(step + 5))
    assert res.code == 0, res.err
    assert saved_position(run)["step"] == step + 5


def test_second_trainer_is_refused_and_readers_do_not_disturb_the_first(cli, tmp_path, tiny_dataset, reference_run):
    run = tmp_path / "run"
    child = start_trainer(tiny_dataset, run, "--eval-every", "1")  # a checkpoint every step: always one in progress
    try:
        res = cli("train", "--resume", run)
        assert res.code == 2
        assert one_error_line(res.err) == f"error: another seqgen process is training in {run} (wait for it to finish or stop it first)"
        res = cli(*train_args(tiny_dataset, run, "--force"))
        assert res.code == 2 and "another seqgen process is training in" in res.err
        for _ in range(8):  # peeking at a run while it trains is normal use
            assert cli("sample", run, "--weights", "last", "--length", "5").code == 0
            assert cli("eval", run, "--weights", "last", "--ngram", "0").code == 0
        assert child.poll() is None  # still training
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 143, err
    assert re.fullmatch(r"stopped: SIGTERM at step \d+; checkpoint saved \(continue with: seqgen train --resume \S+\)", one_error_line(err, "stopped"))
    assert_run_intact(run)


def test_readers_never_touch_a_checkpoint_in_progress(cli, trained_run):
    """Deterministic form of the test above: a half-written pending file of a live trainer survives sample and eval."""
    pending = trained_run / ".last.safetensors.pending"
    with RunLock(trained_run):  # as a trainer in the middle of writing its next checkpoint
        pending.write_bytes(b"half of a checkpoint")
        assert cli("sample", trained_run, "--weights", "last", "--length", "5").code == 0
        assert cli("eval", trained_run, "--weights", "last", "--ngram", "0").code == 0
        assert cli("train", "--resume", trained_run, "--max-steps", "70").code == 2  # and trainers are refused
        assert pending.read_bytes() == b"half of a checkpoint"
    assert cli("train", "--resume", trained_run, "--max-steps", "62").code == 0  # lock released: recovers, trains
    assert not pending.exists()


def test_two_quick_ctrl_c_stop_at_once_and_keep_a_checkpoint(cli, tmp_path, tiny_dataset):
    run = tmp_path / "run"
    child = start_trainer(tiny_dataset, run, "--eval-every", "1")
    child.send_signal(signal.SIGINT)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130
    assert err.strip() == "error: interrupted" or one_error_line(err, "stopped").startswith("stopped: SIGINT at step")
    assert_run_intact(run)
    step = saved_position(run)["step"]
    assert cli("train", "--resume", run, "--max-steps", str(step + 2)).code == 0
