"""`torchrun --nproc_per_node 2 -m seqgen train`: two CPU processes (gloo) take the same steps as one process
with the same global batch (to float rounding without dropout; with dropout each process draws its own masks), rank 0
alone writes the run folder, and resume works the same (bit for bit with the same number of processes)."""

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("torch.distributed.run")
import torch.distributed as dist  # noqa: E402

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="torch without gloo")

from seqgen.cli import main  # noqa: E402


def options(batch: int = 8, dropout: str | None = "0") -> list[str]:
    """A tiny model; `dropout=None` keeps seqgen's default dropout (0.3)."""
    return ["--hidden", "32", "--embed", "16", "--batch", str(batch), "--seq-len", "16", "--lr", "1e-2",
            *(["--dropout", dropout] if dropout is not None else []),
            "--log-every", "2", "--eval-every", "3", "--threads", "1", "--device", "cpu", "--quiet"]


ARGS = options()


def torchrun(*args, timeout=120):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "seqgen", *map(str, args)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    return res


def rows(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def untimed_rows(run):
    """metrics.jsonl without its timing fields."""
    return [{k: v for k, v in r.items() if k not in ("tokens_per_s", "elapsed_s")} for r in rows(run)]


def train_losses(run):
    return [r["train_loss"] for r in rows(run) if "train_loss" in r]


LINE = "a rose by name.\n"  # 16 characters


@pytest.fixture(scope="module")
def same_text_dataset(tmp_path_factory):
    """A dataset whose training streams all read the same text: a training split of 1,284 characters of 16-character
    lines, so 8 streams of 160 characters (or 4 of 320) each start on a line, and every window of 16 is one line."""
    folder = tmp_path_factory.mktemp("same-text")
    source = folder / "lines.txt"
    source.write_text((LINE * 101)[:1604], encoding="utf-8")  # prepare ends it with a line break
    assert main(["prepare", str(source), "--out", str(folder / "data"), "--val", "0.2", "--test", "0"]) == 0
    assert json.loads((folder / "data" / "meta.json").read_text(encoding="utf-8"))["splits"]["train"] == 1284
    return folder / "data"


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


def test_each_process_draws_its_own_dropout_masks(cli, tmp_path, same_text_dataset):
    """Here each of two processes reads exactly what one process with half the streams reads. Without dropout the two
    runs are the same; with dropout they must not be: the second process draws masks of its own, as the other half of
    one process's batch would, and so adds to the gradient what the first cannot."""

    def train(dropout):  # (one process with 4 streams, two processes with 4 streams each)
        one, two = tmp_path / f"one-{dropout}", tmp_path / f"two-{dropout}"
        assert cli("train", same_text_dataset, "--out", one, "--max-steps", "6", *options(batch=4, dropout=dropout)).code == 0
        torchrun("train", same_text_dataset, "--out", two, "--max-steps", "6", *options(batch=8, dropout=dropout))
        return train_losses(one), train_losses(two)

    one, two = train(dropout="0")
    assert two == pytest.approx(one, rel=1e-6)  # the same data and no masks: the same run
    one, two = train(dropout=None)  # seqgen's default dropout
    assert two != pytest.approx(one, rel=1e-4)


def test_a_run_with_dropout_resumes_exactly_under_torchrun(tmp_path, char_dataset):
    """Stopped by its budget at step 6 and resumed to 10, a two-process run with dropout ends bit for bit where a
    straight 10-step run ends: every process continues its own random stream. (A constant schedule: cosine decay
    follows the budget, so raising it would change the learning rate of the later steps.)"""
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    settings = [*options(dropout=None), "--schedule", "constant"]
    torchrun("train", char_dataset, "--out", straight, "--max-steps", "10", *settings)
    torchrun("train", char_dataset, "--out", resumed, "--max-steps", "6", *settings)
    torchrun("train", "--resume", resumed, "--max-steps", "10")

    assert untimed_rows(resumed) == untimed_rows(straight)  # every loss, learning rate and gradient norm
    for weights in ("model.safetensors", "last.safetensors"):
        assert (resumed / weights).read_bytes() == (straight / weights).read_bytes(), weights


def test_a_run_with_dropout_resumes_with_another_number_of_processes(cli, tmp_path, char_dataset):
    """Started in one process, continued in two, finished in one: rank 0 continues the saved random stream, a rank with
    none saved starts a fresh one, and a saved stream no rank takes is left unused (in distribution, not bit for bit)."""
    run = tmp_path / "run"
    assert cli("train", char_dataset, "--out", run, "--max-steps", "4", *options(dropout=None)).code == 0
    torchrun("train", "--resume", run, "--max-steps", "8")
    assert cli("train", "--resume", run, "--max-steps", "10").code == 0
    assert [r["step"] for r in rows(run) if "train_loss" in r] == [2, 4, 6, 8, 10]


def test_batch_must_split_over_the_processes(tmp_path, char_dataset):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "seqgen",
           "train", str(char_dataset), "--out", str(tmp_path / "r"), "--max-steps", "2", *ARGS[:-1]]
    cmd[cmd.index("--batch") + 1] = "7"
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert res.returncode != 0 and "--batch 7 does not split evenly over 2 processes" in res.stderr
