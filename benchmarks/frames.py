"""Frames (piano roll) speed figures on JSB Chorales: the grid round trip, prepare, eval, and training throughput of
seqgen's own loop against a bare loop of the same model on the same batches.

    flock -x /tmp/seqgen-cpu.lock python benchmarks/frames.py [--threads 1] [--steps 40] [--rounds 3] [--json out.json]

The quality runs (15 CPU-minutes of `seqgen train`) are plain commands; benchmarks/frames.md lists them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
JSB = ROOT.parent / "shared" / "corpora" / "jsb-chorales-quarter.json"
NOTTINGHAM = ROOT.parent / "shared" / "corpora" / "nottingham"


def seconds(work, repeats: int = 3) -> float:
    """Median wall time of `work()` over `repeats` runs."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_grid(workdir: Path) -> dict:
    """Every JSB piece frames -> MIDI bytes -> frames, and Nottingham's MIDI files prepared at 1/8."""
    from seqgen.music.midi_io import midi_bytes_to_song, song_to_midi_bytes
    from seqgen.music.pianoroll import read_benchmark, roll_to_song, song_to_roll
    from seqgen.music.prepare_frames import prepare_frames

    rolls = [r for split in read_benchmark(JSB).values() for r in split]

    def round_trip() -> None:
        for roll in rolls:
            back = song_to_roll(midi_bytes_to_song(song_to_midi_bytes(roll_to_song(roll, 1)), "x.mid"), 1)
            assert np.array_equal(back, roll)

    out = {"jsb_pieces": len(rolls), "jsb_round_trip_s": round(seconds(round_trip), 3)}
    if NOTTINGHAM.is_dir():
        report = [None]

        def prepare() -> None:
            report[0] = prepare_frames([str(NOTTINGHAM)], workdir / "nott", "1/8", force=True)

        out["nottingham_prepare_s"] = round(seconds(prepare, 1), 2)
        out["nottingham_files"] = report[0].files
    return out


def bench_prepare_eval(workdir: Path) -> dict:
    """`seqgen prepare` of the JSB file and `seqgen eval` of its test split (a 2×256 model, untrained weights)."""
    from seqgen.cli import main

    data, run = workdir / "jsb", workdir / "run"
    prep = seconds(lambda: main(["prepare", str(JSB), "--out", str(data), "--force"]))
    assert main(["train", str(data), "--out", str(run), "--max-steps", "1", "--quiet", "--force"]) == 0
    ev = seconds(lambda: main(["eval", str(run), "--split", "test", "--json"]))
    return {"jsb_prepare_s": round(prep, 3), "jsb_eval_test_s": round(ev, 3)}


def bare_rate(model: torch.nn.Module, batches: list, steps: int) -> float:
    """Frames/s of a plain loop: the same model, the same padded batches already in memory, AdamW and clipping."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
    frames = 0
    start = None
    for i in range(steps + 2):
        if i == 2:  # after 2 warm-up steps
            start, frames = time.perf_counter(), 0
        inputs, target, mask = batches[i % len(batches)]
        nll = model(inputs, target, mask)
        loss = nll.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        frames += nll.numel()
    return frames / (time.perf_counter() - start)


def seqgen_rate(data: Path, mcfg, steps: int, workdir: Path) -> float:
    """Frames/s of seqgen's own loop: batches unpacked from the memory-mapped bits, schedule, metrics rows."""
    from seqgen.config import TrainConfig
    from seqgen.data.frames import FramesDataset
    from seqgen.models.frames import FramesModel
    from seqgen.training.checkpoint import create_run, new_config
    from seqgen.training.distributed import SingleProcess
    from seqgen.training.frames import FramesTask
    from seqgen.training.trainer import Trainer

    ds = FramesDataset.open(data)
    tcfg = TrainConfig(batch=8, max_steps=steps + 2, eval_every=10**9, log_every=1, device="cpu", threads=torch.get_num_threads())
    torch.manual_seed(0)
    run = create_run(workdir / "run-rate", new_config(mcfg, tcfg, data, ds.meta), force=True)
    result = Trainer(run, FramesTask(ds, tcfg, SingleProcess()), FramesModel(mcfg), tcfg, torch.device("cpu")).fit()
    rows = [r for r in result.history if "tokens_per_s" in r][2:]  # after 2 warm-up steps
    return sum(r["tokens"] - p["tokens"] for p, r in zip(rows, rows[1:])) / sum(r["elapsed_s"] - p["elapsed_s"] for p, r in zip(rows, rows[1:]))


def bench_train(workdir: Path, steps: int, rounds: int) -> list[dict]:
    from seqgen.config import FramesConfig, TrainConfig
    from seqgen.data.frames import FramesDataset
    from seqgen.models.frames import FramesModel
    from seqgen.training.distributed import SingleProcess
    from seqgen.training.frames import FramesTask

    data = workdir / "jsb"
    out = []
    for output in ("bernoulli", "autoregressive"):
        # no dropout in either loop: the ratio shows seqgen's own overhead, not a different model
        mcfg = FramesConfig(output=output, dropout=0.0)
        task = FramesTask(FramesDataset.open(data), TrainConfig(batch=8), SingleProcess())
        batches = [task.batch(0, i, torch.device("cpu")) for i in range(task.steps_per_epoch)]  # the batches seqgen reads first
        torch.manual_seed(0)
        bare_model = FramesModel(mcfg)
        bare, ours = [], []
        for _ in range(rounds):  # alternating rounds: a slow minute on a shared machine lands on both sides
            bare.append(bare_rate(bare_model, batches, steps))
            ours.append(seqgen_rate(data, mcfg, steps, workdir))
        row = {"model": f"2×256 LSTM, {output}", "seqgen_frames_s": round(statistics.median(ours)), "bare_frames_s": round(statistics.median(bare)),
               "seqgen_vs_bare": round(statistics.median(ours) / statistics.median(bare), 3), "rounds": rounds, "steps": steps}
        print(f"  train {row}", file=sys.stderr)
        out.append(row)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--steps", type=int, default=40, help="timed steps per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    if not JSB.exists():
        print(f"{JSB} is absent", file=sys.stderr)
        return 1
    if args.threads:
        torch.set_num_threads(args.threads)
    results = {"threads": torch.get_num_threads(), "torch": torch.__version__, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        results["grid"] = bench_grid(workdir)
        print(f"  grid {results['grid']}", file=sys.stderr)
        results["prepare_eval"] = bench_prepare_eval(workdir)
        print(f"  prepare/eval {results['prepare_eval']}", file=sys.stderr)
        results["train"] = bench_train(workdir, args.steps, args.rounds)
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
