"""Training a frames model with the one trainer: whole pieces per batch, a loss that falls, batches fixed by
(seed, epoch, index), transpositions drawn the same way, and a run stopped by its budget and resumed that ends bit for
bit where a straight run ends."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from seqgen.cli import main
from seqgen.config import TrainConfig
from seqgen.data.frames import FramesDataset
from seqgen.training.distributed import SingleProcess
from seqgen.training.frames import FramesTask

ARGS = ["--hidden", "24", "--embed", "8", "--layers", "2", "--dropout", "0.2", "--batch", "4", "--lr", "1e-2", "--warmup", "2",
        "--log-every", "2", "--eval-every", "4", "--seed", "5", "--threads", "1", "--device", "cpu", "--quiet"]


def piece(rng: random.Random) -> list[list[int]]:
    root = rng.choice([48, 53, 55])
    return [[root + d, root + d + 4, root + d + 7] for d in (rng.choice([0, 2, 5, 7]) for _ in range(rng.randint(4, 12)))]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    rng = random.Random(0)
    root = tmp_path_factory.mktemp("frames")
    (root / "b.json").write_text(json.dumps({k: [piece(rng) for _ in range(n)] for k, n in (("train", 14), ("valid", 4), ("test", 3))}))
    assert main(["prepare", str(root / "b.json"), "--out", str(root / "data"), "--transpose", "3"]) == 0
    return root / "data"


def rows(run):
    return [{k: v for k, v in json.loads(line).items() if k not in ("tokens_per_s", "elapsed_s")} for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_the_loss_falls_and_every_frame_is_counted(dataset, tmp_path):
    assert main(["train", str(dataset), "--out", str(tmp_path / "r"), *ARGS, "--max-steps", "40", "--dropout", "0"]) == 0
    history = rows(tmp_path / "r")
    losses = [r["train_loss"] for r in history if "train_loss" in r]
    assert losses[-1] < 0.75 * losses[0]
    vals = [r["val_loss"] for r in history if "val_loss" in r]
    assert vals[-1] < vals[0]
    meta = json.loads((dataset / "meta.json").read_text())
    assert 40 * 4 * 4 <= history[-1]["tokens"] <= 40 * 4 * 12  # frames of whole pieces (4 to 12 frames each), not windows
    assert meta["stats"]["pieces"]["train"] == 14


def test_batches_and_transpositions_depend_on_seed_epoch_and_index_only(dataset):
    ds = FramesDataset.open(dataset)
    cfg = TrainConfig(batch=4, seed=9)
    one, two = FramesTask(ds, cfg, SingleProcess()), FramesTask(ds, cfg, SingleProcess())
    two.batch(3, 1, torch.device("cpu"))  # a task that has seen another epoch first
    for epoch, index in [(0, 0), (0, 2), (3, 1), (7, 0)]:
        a, b = one.batch(epoch, index, torch.device("cpu")), two.batch(epoch, index, torch.device("cpu"))
        assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert one.batch(0, one.steps_per_epoch, torch.device("cpu")) is None  # 14 pieces, batch 4: 3 whole batches
    assert one.steps_per_epoch == 3
    shifts = np.stack([one.transpositions(e) for e in range(30)])  # (epochs, pieces)
    assert set(np.unique(shifts)) == set(range(-3, 4))  # every prepared shift is used ...
    assert not np.array_equal(shifts[0], shifts[1])  # ... drawn afresh each epoch
    inputs, frames, mask = one.batch(0, 0, torch.device("cpu"))
    assert inputs.shape[-1] == 89 and frames.shape[-1] == 88 and mask.shape == frames.shape[:2]
    assert torch.equal(frames.sum(-1)[mask], torch.full((int(mask.sum()),), 3.0))  # a transposed chord is still a triad on the keyboard


def test_a_run_stopped_by_its_budget_and_resumed_ends_bit_for_bit_where_a_straight_run_ends(dataset, tmp_path):
    """With dropout (so the random state matters) and a constant schedule (cosine decay follows the budget); stopped at
    step 8, mid-epoch (3 batches an epoch) and on a validation step, so the stopped run validates no more than the other."""
    settings = [*ARGS, "--schedule", "constant"]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert main(["train", str(dataset), "--out", str(straight), *settings, "--max-steps", "12"]) == 0
    assert main(["train", str(dataset), "--out", str(resumed), *settings, "--max-steps", "8"]) == 0
    assert main(["train", "--resume", str(resumed), "--max-steps", "12", "--quiet"]) == 0
    assert rows(resumed) == rows(straight)  # every loss, learning rate and gradient norm
    for weights in ("model.safetensors", "last.safetensors"):
        assert (resumed / weights).read_bytes() == (straight / weights).read_bytes(), weights


def test_two_processes_take_the_steps_of_one(dataset, tmp_path):
    """Under torchrun each rank takes its pieces of every batch; pieces differ in length, so each rank's loss is
    scaled by the whole batch's frames and the averaged gradient is the one-process gradient (dropout 0)."""
    import os
    import subprocess
    import sys

    import torch.distributed as dist

    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("torch without gloo")
    settings = [*ARGS, "--dropout", "0", "--max-steps", "6", "--log-every", "1"]
    assert main(["train", str(dataset), "--out", str(tmp_path / "one"), *settings]) == 0
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "seqgen",
           "train", str(dataset), "--out", str(tmp_path / "two"), *settings]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr[-2000:]
    one, two = rows(tmp_path / "one"), rows(tmp_path / "two")
    assert [(r["step"], r["tokens"]) for r in one] == [(r["step"], r["tokens"]) for r in two]
    for a, b in zip(one, two):
        key = "val_loss" if "val_loss" in a else "train_loss"
        assert b[key] == pytest.approx(a[key], rel=1e-4), (a, b)
