"""What the robustness tests share: a tiny corpus and model, run-folder checks, and real signals at chosen moments.

Signals are real (`os.kill` to this process, handled by the trainer's own handler); only the moment is chosen,
by wrapping a trainer method, so an interruption "during validation" or "at the end of an epoch" is exact.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[2]
TIMING = {"tokens_per_s", "elapsed_s"}  # the only metrics fields that may differ between identical runs

# A model and corpus small enough that a run of 60 steps takes well under a second, but with dropout
# (so the random state matters), 2 layers, 2+ epochs, validation every 15 steps and rows every 5.
TINY = [
    "--cell", "lstm", "--layers", "2", "--hidden", "24", "--embed", "8", "--dropout", "0.1",
    "--batch", "4", "--seq-len", "16", "--lr", "1e-2", "--warmup", "5", "--seed", "7",
    "--max-steps", "60", "--eval-every", "15", "--log-every", "5", "--threads", "1", "--device", "cpu", "--quiet",
]


def tiny_corpus(lines: int = 60, seed: int = 0) -> str:
    rng = random.Random(seed)
    words = "wind rain sun moon sea stone tree bird light dark old new cold warm far near".split()
    return "".join(" ".join(rng.choice(words) for _ in range(rng.randint(3, 7))) + rng.choice(".,!?") + "\n" for _ in range(lines))


def train_args(dataset: Path, out: Path, *extra: str) -> list[str]:
    return ["train", str(dataset), "--out", str(out), *TINY, *extra]


def one_error_line(err: str, label: str = "error") -> str:
    """The one line a failed (or stopped) command prints on stderr, asserting it is one line starting "LABEL: "."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{label}: "), err
    return lines[0]


def metric_rows(run: Path) -> list[dict]:
    """metrics.jsonl without its timing fields: what must be identical between an interrupted and a straight run."""
    lines = (Path(run) / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in lines]


def run_files(run: Path) -> dict[str, bytes]:
    return {name: (Path(run) / name).read_bytes() for name in ("model.safetensors", "last.safetensors")}


def assert_run_intact(run: Path) -> dict:
    """Every file config.json lists matches its digest and loads; returns the config (what `sample`/`--resume` rely on)."""
    from seqgen.architectures import load_model_from
    from seqgen.training.checkpoint import LAST, STATE, load_state, open_run, verified

    handle = open_run(run)
    for name in handle.config["digests"]:
        verified(handle, name)
    if LAST in handle.config["digests"]:
        load_model_from(handle, LAST)
        load_state(handle)
        assert STATE in handle.config["digests"]
    return handle.config


def saved_position(run: Path) -> dict:
    from seqgen.training.checkpoint import load_state, open_run

    return load_state(open_run(run))["position"]


# ---------------------------------------------------------------- signals at chosen moments


def signal_after_step(monkeypatch, signum: int, when: Callable[[object, int], bool]) -> None:
    """Send `signum` to this process while step k is running, for the first k with `when(trainer, k)`.

    The trainer finishes that step, so its checkpoint is taken right after step k.
    """
    from seqgen.training.trainer import Trainer

    original = Trainer._train_step
    sent = []

    def step(self, batch, lr):
        result = original(self, batch, lr)
        if not sent and when(self, self.pos.step + 1):
            sent.append(True)
            os.kill(os.getpid(), signum)
        return result

    monkeypatch.setattr(Trainer, "_train_step", step)


def last_batch_of_epoch(trainer, step: int) -> bool:
    """True while the trainer runs the last batch of an epoch (its checkpoint then sits on the epoch boundary)."""
    return trainer.pos.batch_in_epoch + 1 == trainer.task.batches_in(trainer.pos.epoch)


def signal_during_validation(monkeypatch, signum: int, after_batches: int = 1) -> None:
    """Send `signum` in the middle of this process's first validation pass, after `after_batches` batches."""
    from seqgen.training import streams as train_module

    original = train_module.score_ids
    sent = []

    def score(model, ids, batch, seq_len, device, should_stop=None):
        calls = [0]

        def stop() -> bool:
            calls[0] += 1
            if not sent and calls[0] == after_batches + 1:
                sent.append(True)
                os.kill(os.getpid(), signum)
            return should_stop() if should_stop else False

        return original(model, ids, batch, seq_len, device, stop)

    monkeypatch.setattr(train_module, "score_ids", score)


# ---------------------------------------------------------------- faults inside a checkpoint

# Stages of writing a checkpoint, as (function, "before"/"during"/"after" its call, text its arguments must contain).
CHECKPOINT_STAGES = {
    "last weights half-written": ("seqgen.training.checkpoint.save_model", "during", ""),
    "pending weights written": ("seqgen.training.checkpoint.save_model", "after", ""),
    "pending state written": ("torch.save", "after", ""),
    "before the commit": ("seqgen.training.checkpoint.atomic_write_json", "before", ""),
    "new config.json not renamed": ("os.replace", "before", "config.json"),
    "right after the commit": ("os.replace", "after", "config.json"),
    "half the renames done": ("os.replace", "after", "last.safetensors"),
    "folder not yet synced": ("seqgen.training.checkpoint.fsync_dir", "before", ""),
}
COMMITTED = {"right after the commit", "half the renames done", "folder not yet synced"}


def arm_fault(stage: str, fault: Callable[[], None], setattr: Callable, checkpoint: int = 2) -> None:
    """Call `fault()` at `stage` of the trainer's `checkpoint`-th checkpoint; `setattr` is monkeypatch.setattr."""
    import importlib

    import seqgen.training.trainer

    target, when, match = CHECKPOINT_STAGES[stage]
    module_name, attr = target.rsplit(".", 1)
    module = importlib.import_module(module_name)
    original = getattr(module, attr)
    count = [0]

    def armed(*args, **kwargs):
        if count[0] != checkpoint or match not in " ".join(map(str, args)):
            return original(*args, **kwargs)
        count[0] = -1  # once
        if when == "before":
            fault()
        result = original(*args, **kwargs)
        if when == "during":  # as if stopped half-way through writing the file
            with open(args[1], "r+b") as fh:
                fh.truncate(os.path.getsize(args[1]) // 2)
        fault()
        return result

    save = seqgen.training.trainer.save_checkpoint

    def counting(*args, **kwargs):
        if count[0] >= 0:
            count[0] += 1
        return save(*args, **kwargs)

    setattr(module, attr, armed)
    setattr(seqgen.training.trainer, "save_checkpoint", counting)


# ---------------------------------------------------------------- processes


def run_in_child(work: Callable[[], object], timeout: float = 60) -> int:
    """Run `work` in a forked child (no second start-up of Python and torch); its exit status as Popen reports it
    (-9 when it was killed by SIGKILL)."""
    import time

    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 99
        try:
            code = work()
        finally:
            os._exit(code if isinstance(code, int) else 0)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            raise TimeoutError("the child process hung")
        time.sleep(0.01)



def seqgen_process(*args: object) -> subprocess.Popen:
    """`python -m seqgen ARGS` as a separate process, as a user starts it (CI=1: no progress bar)."""
    env = {**os.environ, "CI": "1", "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, "-m", "seqgen", *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
