"""A full disk or a read-only run folder while training: one clear line, exit 1, the previous checkpoint intact,
and once there is room again `--resume` ends bit for bit where an uninterrupted run ends.

The disk-full failure is injected at each kind of write (always), and also met for real on a small tmpfs where
the tests may mount one (root on Linux). A read-only folder is made with a read-only bind mount (root) or chmod.
"""

from __future__ import annotations

import errno
import os
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest
from harness import assert_run_intact, metric_rows, one_error_line, run_files, saved_position, train_args

from seqgen.cli import main

ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def check_recovers(run, reference_run) -> None:
    assert_run_intact(run)
    assert saved_position(run)["step"] == 15  # the checkpoint before the failed one
    assert not [p.name for p in run.iterdir() if p.name.endswith((".pending", ".tmp"))]  # no half files left to fill the disk
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    assert run_files(run) == run_files(reference_run)
    assert metric_rows(run) == metric_rows(reference_run)


def fail_writes(monkeypatch, target: str, error: Exception, when) -> None:
    """Make `target` ("module.attr" or "module.Class.attr") raise `error` whenever `when(checkpoints so far, args)`."""
    import builtins
    import importlib

    import seqgen.training.trainer

    parts = target.split(".")
    owner = importlib.import_module(parts[0])
    for part in parts[1:-1]:
        owner = getattr(owner, part) if hasattr(owner, part) else importlib.import_module(f"{owner.__name__}.{part}")
    original = getattr(owner, parts[-1], getattr(builtins, parts[-1], None))
    count = [0]

    def failing(*args, **kwargs):
        if when(count[0], args):
            raise error
        return original(*args, **kwargs)

    save = seqgen.training.trainer.save_checkpoint

    def counting(*args, **kwargs):
        count[0] += 1
        return save(*args, **kwargs)

    monkeypatch.setattr(owner, parts[-1], failing, raising=False)
    monkeypatch.setattr(seqgen.training.trainer, "save_checkpoint", counting)


WRITES = {
    # the write that meets the full disk: (function to break, the error it raises there, when)
    "weights (safetensors)": (
        "seqgen.training.checkpoint.save_model",
        Exception("Error while serializing: I/O error: No space left on device (os error 28)"),  # what safetensors raises
        lambda n, args: n == 2,
    ),
    "optimizer state (torch.save)": ("seqgen.training.checkpoint._Sink.write", ENOSPC, lambda n, args: n == 2),
    "config.json": ("pathlib.Path.write_bytes", ENOSPC, lambda n, args: n == 2 and args[0].name.startswith(".config.json")),
    "metrics.jsonl": ("seqgen.training.trainer.open", ENOSPC, lambda n, args: n >= 1 and str(args[0]).endswith("metrics.jsonl")),
}


@pytest.mark.parametrize("write", WRITES)
def test_disk_full_at_each_kind_of_write(tmp_path, tiny_dataset, reference_run, monkeypatch, capsys, write):
    target, error, when = WRITES[write]
    run = tmp_path / "run"
    with monkeypatch.context() as m:
        fail_writes(m, target, error, when)
        assert main(train_args(tiny_dataset, run)) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "No space left on device" in line and str(run) in line, line
    assert "free disk space" in line or "free some disk space" in line, line
    check_recovers(run, reference_run)


# ---------------------------------------------------------------- real mounts and read-only folders


def _mount(*args: str) -> bool:
    try:
        return subprocess.run(["mount", *args], capture_output=True).returncode == 0
    except OSError:  # no mount command
        return False


@pytest.fixture
def mounts(tmp_path):
    """Mounts that are undone after the test; skips it where this process may not mount (root is needed)."""
    made: list[Path] = []
    probe = tmp_path / "mount-probe"
    probe.mkdir()
    can_mount = os.geteuid() == 0 and _mount("-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe))
    if can_mount:
        subprocess.run(["umount", str(probe)], capture_output=True)

    def mount(*args: str, target: Path) -> None:
        if not can_mount or not _mount(*args, str(target)):
            pytest.skip("cannot mount here (needs root and mount rights)")
        made.append(target)

    mount.possible = can_mount

    yield mount
    for target in reversed(made):
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def test_a_really_full_disk(tmp_path, tiny_dataset, reference_run, mounts, capsys):
    """On a tmpfs with room for one checkpoint but not two, the second fails cleanly; after growing it, resume."""
    disk = tmp_path / "disk"
    disk.mkdir()
    sizes = sum(p.stat().st_size for p in reference_run.iterdir())
    mounts("-t", "tmpfs", "-o", f"size={sizes + 12 * 4096}", "tmpfs", target=disk)  # skips where we may not mount
    run = disk / "run"
    assert main(train_args(tiny_dataset, run)) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "No space left on device" in line and str(run) in line, line
    assert _mount("-o", "remount,size=16m", str(disk))
    check_recovers(run, reference_run)


def chmod_protects(tmp_path: Path) -> bool:
    """Whether a folder without write permission refuses this process (not so for root with its usual rights)."""
    probe = tmp_path / "chmod-probe"
    probe.mkdir()
    probe.chmod(0o555)
    try:
        (probe / "x").touch()
        return False
    except PermissionError:
        return True
    finally:
        probe.chmod(0o755)


@pytest.fixture
def read_only(tmp_path, mounts):
    """`with read_only(folder):` the folder is a read-only bind mount (where we may mount) or chmod 555."""
    use_mount = mounts.possible
    if not use_mount and not chmod_protects(tmp_path):
        pytest.skip("cannot make a folder read-only for this process")

    @contextmanager
    def make(folder: Path):
        if use_mount:
            mounts("--bind", str(folder), target=folder)
            assert _mount("-o", "remount,bind,ro", str(folder))
            try:
                yield
            finally:
                subprocess.run(["umount", "-l", str(folder)], check=True)
        else:
            folder.chmod(0o555)
            try:
                yield
            finally:
                folder.chmod(0o755)

    return make


def test_a_folder_that_turns_read_only_while_training(tmp_path, tiny_dataset, reference_run, monkeypatch, read_only, capsys):
    from seqgen.training.trainer import Trainer

    run = tmp_path / "run"
    original = Trainer._train_step
    guard = []

    def step(self, batch, lr):
        if self.pos.step == 17 and not guard:  # after the first checkpoint (step 15)
            guard.append(read_only(run))
            guard[0].__enter__()
        return original(self, batch, lr)

    with monkeypatch.context() as m:
        m.setattr(Trainer, "_train_step", step)
        code = main(train_args(tiny_dataset, run))
    guard[0].__exit__(None, None, None)
    assert code == 1
    line = one_error_line(capsys.readouterr().err)
    assert "cannot write" in line and str(run) in line and ("Read-only file system" in line or "Permission denied" in line), line
    check_recovers(run, reference_run)


def test_a_read_only_run_can_be_sampled_but_not_trained(cli, trained_run, read_only):
    with read_only(trained_run):
        res = cli("train", "--resume", trained_run, "--max-steps", "70")
        assert res.code == 1
        assert f"error: cannot train in {trained_run}" in one_error_line(res.err)
        assert cli("sample", trained_run, "--length", "5").code == 0
        assert cli("eval", trained_run, "--ngram", "0").code == 0
