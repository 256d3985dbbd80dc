"""`torchrun --nproc_per_node 2 -m seqgen train`: two CPU processes (gloo) take the same steps as one process
with the same global batch, rank 0 alone writes the run folder, and resume works the same."""

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("torch.distributed.run")
import torch.distributed as dist  # noqa: E402

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="torch without gloo")

ARGS = ["--hidden", "32", "--embed", "16", "--batch", "8", "--seq-len", "16", "--dropout", "0", "--lr", "1e-2",
        "--log-every", "2", "--eval-every", "3", "--threads", "1", "--device", "cpu", "--quiet"]


def torchrun(*args, timeout=120):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "seqgen", *map(str, args)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    return res


def rows(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_two_processes_match_one_with_the_same_global_batch(cli, tmp_path, char_dataset):
    single, multi = tmp_path / "single", tmp_path / "multi"
    assert cli("train", char_dataset, "--out", single, "--max-steps", "6", *ARGS).code == 0
    torchrun("train", char_dataset, "--out", multi, "--max-steps", "6", *ARGS)
    assert cli("train", "--resume", single, "--max-steps", "10").code == 0
    torchrun("train", "--resume", multi, "--max-steps", "10")

    one, two = rows(single), rows(multi)
    assert [(r["step"], r["tokens"], "val_loss" in r) for r in one] == [(r["step"], r["tokens"], "val_loss" in r) for r in two]  # rank 0 alone wrote
    for a, b in zip(one, two):
        key = "val_loss" if "val_loss" in a else "train_loss"
        assert b[key] == pytest.approx(a[key], rel=1e-4), (a, b)
    assert one[-1]["step"] == 10 and one[-1]["tokens"] == 10 * 8 * 16


def test_batch_must_split_over_the_processes(tmp_path, char_dataset):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "seqgen",
           "train", str(char_dataset), "--out", str(tmp_path / "r"), "--max-steps", "2", *ARGS[:-1]]
    cmd[cmd.index("--batch") + 1] = "7"
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert res.returncode != 0 and "--batch 7 does not split evenly over 2 processes" in res.stderr
