"""seqgen's benchmark suite (issue 6): training and sampling throughput, prepare speed, peak memory,
and quality per CPU-minute (validation loss after 5 and 15 minutes with the defaults).

    python benchmarks/run.py            # the full suite (about 33 minutes on 2 cores, 20 of them the quality runs)
    python benchmarks/run.py --quick    # a smoke run (seconds): small sizes, few repeats
    python benchmarks/run.py --only train,sample --json out.json

Prints rich tables and writes JSON (default benchmarks/results/latest.json) and the same tables as
Markdown beside it. Every figure is a median over repeats after a warm-up, and every comparison is a
ratio measured in the same run: these machines are shared and noisy. Benchmarks report; they never fail.
On a shared machine hold the CPU lock: `flock -x /tmp/seqgen-cpu.lock python benchmarks/run.py`.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch
from rich.console import Console
from rich.table import Table
from torch import nn
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "corpora"
sys.path.insert(0, str(ROOT))

from seqgen.config import ModelConfig, SampleConfig, TrainConfig  # noqa: E402
from seqgen.models.generate import choose, cpu_generator, generate  # noqa: E402
from seqgen.models.rnn_lm import RNNLanguageModel  # noqa: E402
from seqgen.training.threads import default_threads  # noqa: E402

console = Console(highlight=False, width=max(160, Console().width))
VOCAB, EMBED, BATCH, SEQ = 65, 128, 64, 64  # tiny Shakespeare's characters; the batch 64 × 64 steps
GATES = {"lstm": 4, "gru": 3, "rnn": 1}


def median_time(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def corpus_text() -> str:
    path = SHARED / "tinyshakespeare.txt"
    if path.is_file():
        return path.read_text(encoding="utf-8")
    rng = random.Random(0)  # no shared corpora (a user's clone): a play-like stand-in
    words = "the a my thy love night day sweet fair heart death light doth not and of to in is be".split()
    return "\n".join(" ".join(rng.choice(words) for _ in range(8)) for _ in range(40000)) + "\n"


# The child reports its own peak RSS (VmHWM of its own address space). ru_maxrss from wait4 is wrong
# here: Linux carries the forking parent's high-water mark into the child at exec, so after the train
# and sample sections every child "peaked" at the benchmark process's own ~870 MB.
_CHILD = """
import os, sys
from seqgen.cli import main
code = main(sys.argv[1:])
try:
    hwm = next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    with open(os.environ["SEQGEN_BENCH_HWM"], "w") as fh:
        fh.write(hwm)
except (OSError, StopIteration, KeyError):
    pass
sys.exit(code)
"""


def seqgen_cli(*args: object, env: dict | None = None) -> tuple[float, int, int]:
    """Run `seqgen ARGS` in a child: (wall seconds, its peak resident KiB, exit code)."""
    with tempfile.NamedTemporaryFile(prefix="seqgen-hwm-") as hwm:
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", _CHILD, *map(str, args)], cwd=ROOT,
                                env={**os.environ, **(env or {}), "SEQGEN_BENCH_HWM": hwm.name},
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        reported = Path(hwm.name).read_text().strip()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        console.print(f"[red]seqgen {' '.join(map(str, args[:2]))} failed:[/] {proc.stderr.read().decode()[-400:]}")
    proc.stderr.close()
    return wall, int(reported) if reported.isdigit() else usage.ru_maxrss, proc.returncode


# ---------------------------------------------------------------- training throughput


def step_flops(cell: str, layers: int, hidden: int) -> float:
    """Multiply-add FLOPs per token of one training step: forward (2·in·out per matrix) plus backward (2× forward)."""
    g = GATES[cell] * hidden
    forward = sum(2 * g * ((EMBED if l == 0 else hidden) + hidden) for l in range(layers)) + 2 * hidden * VOCAB
    return 3.0 * forward


def matmul_rate(cell: str, layers: int, hidden: int, repeats: int) -> float:
    """GFLOP/s of plain matrix multiplies of the step's own shapes: per layer one (B·T, in)·(in, G·H) for the
    inputs and T of (B, H)·(H, G·H) for the recurrence, and the (B·T, H)·(H, V) head."""
    g = GATES[cell] * hidden
    mats = []
    for l in range(layers):
        inp = EMBED if l == 0 else hidden
        mats.append((torch.randn(BATCH * SEQ, inp), torch.randn(inp, g), 1))
        mats.append((torch.randn(BATCH, hidden), torch.randn(hidden, g), SEQ))
    mats.append((torch.randn(BATCH * SEQ, hidden), torch.randn(hidden, VOCAB), 1))
    flops = sum(2 * a.shape[0] * a.shape[1] * b.shape[1] * n for a, b, n in mats)

    def run() -> None:
        for a, b, n in mats:
            for _ in range(n):
                torch.mm(a, b)

    return flops / median_time(run, repeats) / 1e9


class Bare(nn.Module):
    """The bare fused loop: embedding -> nn.LSTM/GRU -> linear, nothing else."""

    def __init__(self, cell: str, layers: int, hidden: int):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, EMBED)
        self.rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[cell](EMBED, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, VOCAB)

    def forward(self, x, state):
        out, state = self.rnn(self.embed(x), state)
        return self.head(out), state


class Naive(nn.Module):
    """The tutorial loop: a stack of nn.LSTMCell/GRUCell called once per time step."""

    def __init__(self, cell: str, layers: int, hidden: int):
        super().__init__()
        self.cell = cell
        self.embed = nn.Embedding(VOCAB, EMBED)
        kind = {"lstm": nn.LSTMCell, "gru": nn.GRUCell}[cell]
        self.cells = nn.ModuleList(kind(EMBED if l == 0 else hidden, hidden) for l in range(layers))
        self.head = nn.Linear(hidden, VOCAB)

    def forward(self, x, state):
        emb = self.embed(x)  # (B, T, E)
        state = state or [None] * len(self.cells)
        outs = []
        for t in range(x.size(1)):
            inp = emb[:, t]
            new = []
            for cell, s in zip(self.cells, state):
                s = cell(inp, s)
                new.append(s)
                inp = s[0] if self.cell == "lstm" else s
            state = new
            outs.append(inp)
        return self.head(torch.stack(outs, 1)), state


def loop_rate(model: nn.Module, steps: int, repeats: int) -> float:
    """Tokens/s of a plain training loop (AdamW, carried detached state) over random batches."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)  # as seqgen's default
    data = torch.randint(0, VOCAB, (steps + 4, BATCH, SEQ + 1))
    holder = {"state": None, "i": 0}

    def detach(s):
        if s is None:
            return None
        if isinstance(s, list):
            return [detach(x) for x in s]
        return tuple(x.detach() for x in s) if isinstance(s, tuple) else s.detach()

    def one_step() -> None:
        batch = data[holder["i"] % len(data)]
        holder["i"] += 1
        logits, state = model(batch[:, :-1], holder["state"])
        holder["state"] = detach(state)
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), batch[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return BATCH * SEQ / median_time(one_step, repeats, warmup=2)


def seqgen_rate(dataset: Path, cell: str, layers: int, hidden: int, steps: int, workdir: Path) -> float:
    """Tokens/s of seqgen's own training loop (data from the memmap, clipping, schedule, metrics rows)."""
    from seqgen.data.dataset import Dataset
    from seqgen.training.checkpoint import create_run, new_config
    from seqgen.training.distributed import SingleProcess
    from seqgen.training.streams import StreamTask
    from seqgen.training.trainer import Trainer

    ds = Dataset.open(dataset)
    # no dropout, like the bare loop: the ratio shows seqgen's own overhead, not a different model
    mcfg = ModelConfig(vocab_size=len(ds.vocab), cell=cell, layers=layers, hidden=hidden, embed=EMBED, dropout=0.0)
    tcfg = TrainConfig(batch=BATCH, seq_len=SEQ, max_steps=steps + 2, eval_every=10**9, log_every=1, device="cpu", threads=torch.get_num_threads())
    torch.manual_seed(0)
    model = RNNLanguageModel(mcfg)
    run = create_run(workdir / f"run-{cell}-{layers}x{hidden}", new_config(mcfg, tcfg, dataset, ds.meta), force=True)
    result = Trainer(run, StreamTask(ds, tcfg, SingleProcess()), model, tcfg, torch.device("cpu")).fit()
    rates = [r["tokens_per_s"] for r in result.history if "tokens_per_s" in r][2:]  # after 2 warm-up steps
    return statistics.median(rates)


def bench_train(args, workdir: Path) -> list[dict]:
    from seqgen.data.prepare import prepare_text

    src = workdir / "shakespeare.txt"
    src.write_text(corpus_text(), encoding="utf-8")
    dataset = workdir / "data-train"
    prepare_text([str(src)], dataset, val=0.01, test=0.0, force=True)
    sizes = [(2, 128)] if args.quick else [(2, 128), (2, 256), (2, 512), (3, 512)]
    cells = ["lstm"] if args.quick else ["lstm", "gru"]
    rows = []
    for cell in cells:
        for layers, hidden in sizes:
            steps = 2 if args.quick else 5 if hidden >= 512 else 20  # small models: more steps, so noise averages out
            torch.manual_seed(0)
            bare_model = Bare(cell, layers, hidden)
            # the ratio that matters is measured alternately, round by round, so that a slow minute on
            # a shared machine lands on both sides instead of on one
            bare_rates, our_rates = [], []
            for _ in range(1 if args.quick else 3):
                bare_rates.append(loop_rate(bare_model, steps, steps))
                our_rates.append(seqgen_rate(dataset, cell, layers, hidden, steps, workdir))
            bare, ours = statistics.median(bare_rates), statistics.median(our_rates)
            naive = loop_rate(Naive(cell, layers, hidden), steps, steps)
            mm = matmul_rate(cell, layers, hidden, steps)
            achieved = step_flops(cell, layers, hidden) * ours / 1e9
            rows.append({
                "model": f"{layers}×{hidden} {cell.upper()}", "seqgen_tok_s": round(ours), "bare_tok_s": round(bare),
                "naive_cell_tok_s": round(naive), "seqgen_vs_bare": round(ours / bare, 3), "naive_vs_bare": round(naive / bare, 3),
                "seqgen_gflops": round(achieved, 1), "matmul_gflops": round(mm, 1), "of_matmul": round(achieved / mm, 3),
            })
            console.print(f"  train {rows[-1]}")
    return rows


# ---------------------------------------------------------------- sampling throughput


def fused_stream_rate(model: RNNLanguageModel, length: int) -> float:
    """Batch-1 tokens/s of the loop seqgen used before the Stepper: one fused `model(...)` call per token."""
    cfg = SampleConfig(length=length, seed=0)

    @torch.no_grad()
    def run() -> None:
        gen = cpu_generator(0)
        logits, state = model(torch.tensor([[1]]))
        last = logits[:, -1]
        for _ in range(length):
            ids = choose(last, cfg, gen)
            logits, state = model(ids.view(-1, 1), state)
            last = logits[:, -1]

    return length / median_time(run, 3)


def bench_sample(args) -> list[dict]:
    sizes = [(2, 256)] if args.quick else [(2, 256), (2, 512)]
    length = 100 if args.quick else 1500
    rows = []
    for cell in ("lstm", "gru", "rnn"):
        for layers, hidden in sizes:
            torch.manual_seed(0)
            model = RNNLanguageModel(ModelConfig(vocab_size=VOCAB, cell=cell, layers=layers, hidden=hidden, embed=EMBED)).eval()
            one = length / median_time(lambda: generate(model, [1], SampleConfig(length=length, seed=0)), 3)
            many = 32 * length / median_time(lambda: generate(model, [1], SampleConfig(length=length, num=32, seed=0)), 3)
            fused = fused_stream_rate(model, max(50, length // 10))
            target = 3500 if hidden <= 256 else 1700
            rows.append({
                "model": f"{layers}×{hidden} {cell.upper()}", "batch1_tok_s": round(one), "batch32_tok_s": round(many),
                "batch32_vs_1": round(many / one, 1), "fused_call_batch1_tok_s": round(fused), "stepper_vs_fused": round(one / fused, 1),
                "target_batch1": target, "met": one >= target and many >= 10 * one,
            })
            console.print(f"  sample {rows[-1]}")
    return rows


class CellStack(nn.Module):
    """What issue 20 compares batch-1 sampling with: embedding -> nn.LSTMCell per layer -> linear, one token at a time,
    softmax and torch.multinomial, the loop a PyTorch tutorial writes."""

    def __init__(self, layers: int, hidden: int):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, EMBED)
        self.cells = nn.ModuleList(nn.LSTMCell(EMBED if i == 0 else hidden, hidden) for i in range(layers))
        self.head = nn.Linear(hidden, VOCAB)

    @torch.no_grad()
    def sample(self, length: int, seed: int) -> list[int]:
        gen = torch.Generator().manual_seed(seed)
        x, state, out = torch.tensor([1]), [None] * len(self.cells), []
        for _ in range(length):
            inp = self.embed(x)
            for i, cell in enumerate(self.cells):
                state[i] = cell(inp, state[i])
                inp = state[i][0]
            x = torch.multinomial(torch.softmax(self.head(inp), dim=-1), 1, generator=gen).view(1)
            out.append(x.item())
        return out


def bench_sample_vs_cells(args) -> list[dict]:
    """seqgen's batch-1 sampling (and from the mixture with a 5-gram) against the LSTMCell loop, 2×256, in alternating
    rounds on 1 and 2 threads; medians of 5 rounds of 1,500 tokens."""
    from seqgen.evaluation.ngram import KneserNey
    from seqgen.models.mixture import MixedLM

    length, rounds = (100, 2) if args.quick else (1500, 5)
    torch.manual_seed(0)
    model = RNNLanguageModel(ModelConfig(vocab_size=VOCAB, layers=2, hidden=256, embed=EMBED)).eval()
    stack = CellStack(2, 256).eval()
    ngram = KneserNey(5, VOCAB).fit(torch.randint(0, VOCAB, (200_000,), generator=torch.Generator().manual_seed(0)).numpy())
    mixed = MixedLM(model, ngram, 0.5)
    cfg = SampleConfig(length=length, seed=0)
    rows, before = [], torch.get_num_threads()
    for threads in (1, 2):
        torch.set_num_threads(threads)
        times: dict[str, list[float]] = {"seqgen": [], "cells": [], "mixture": []}
        for _ in range(rounds):
            for name, run in (("seqgen", lambda: generate(model, [1], cfg)), ("cells", lambda: stack.sample(length, 0)),
                              ("mixture", lambda: generate(mixed, [1], cfg))):
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
        rate = {k: length / statistics.median(v) for k, v in times.items()}
        rows.append({"threads": threads, "seqgen_tok_s": round(rate["seqgen"]), "lstmcell_stack_tok_s": round(rate["cells"]),
                     "seqgen_vs_cells": round(rate["seqgen"] / rate["cells"], 3), "mixture_tok_s": round(rate["mixture"]),
                     "mixture_vs_network": round(rate["mixture"] / rate["seqgen"], 3)})
        console.print(f"  {rows[-1]}")
    torch.set_num_threads(before)
    return rows


# ---------------------------------------------------------------- prepare and memory


def big_corpus(path: Path, megabytes: float) -> Path:
    """Lines of tiny Shakespeare repeated and shuffled up to `megabytes`."""
    lines = corpus_text().splitlines(keepends=True)
    rng = random.Random(0)
    target, written = int(megabytes * 1e6), 0
    with open(path, "w", encoding="utf-8") as fh:
        while written < target:
            rng.shuffle(lines)
            chunk = "".join(lines)[: target - written]
            fh.write(chunk)
            written += len(chunk.encode("utf-8"))
    return path


def bench_prepare(args, workdir: Path) -> list[dict]:
    startup = median_time(lambda: seqgen_cli("--version"), 3, warmup=1)
    rows = []
    mb = 2 if args.quick else 20
    src = big_corpus(workdir / "text.txt", mb)
    size = src.stat().st_size / 1e6
    wall = median_time(lambda: seqgen_cli("prepare", src, "--out", workdir / "p-text", "--force"), 1 if args.quick else 3)
    rows.append({"what": f"text, {size:.0f} MB", "seconds": round(wall - startup, 2), "rate": f"{size / max(1e-9, wall - startup):.1f} MB/s",
                 "note": f"after {startup:.2f} s of start-up"})
    nottingham = SHARED / "nottingham"
    if args.quick or not nottingham.is_dir():
        rows.append({"what": "nottingham MIDI", "note": "skipped (--quick)" if args.quick else f"skipped: {nottingham} is absent"})
    else:
        files = len(list(nottingham.glob("*.mid")))
        wall = median_time(lambda: seqgen_cli("prepare", nottingham, "--out", workdir / "p-nott", "--force"), 1, warmup=0)
        rows.append({"what": f"nottingham, {files} MIDI files", "seconds": round(wall - startup, 2), "rate": f"{files / (wall - startup):.0f} files/s", "note": ""})
    if args.quick:
        rows.append({"what": "music21 bach", "note": "skipped (--quick)"})
    else:
        cache = workdir / "cache"
        uncached, _, code = seqgen_cli("prepare", "bach", "--out", workdir / "p-bach", "--force", env={"SEQGEN_CACHE": str(cache)})
        cached, _, code2 = seqgen_cli("prepare", "bach", "--out", workdir / "p-bach", "--force", env={"SEQGEN_CACHE": str(cache)})
        note = "" if code == code2 == 0 else "failed (see above)"
        rows.append({"what": "music21 bach, uncached", "seconds": round(uncached - startup, 2), "rate": "", "note": note})
        rows.append({"what": "music21 bach, cached", "seconds": round(cached - startup, 2), "rate": f"{(uncached - startup) / max(1e-9, cached - startup):.1f}× faster", "note": note})
    return rows


def bench_memory(args, workdir: Path) -> list[dict]:
    sizes = [1] if args.quick else [1, 200]
    rows = []
    for mb in sizes:
        src = big_corpus(workdir / f"mem-{mb}.txt", mb)
        data, run = workdir / f"mem-data-{mb}", workdir / f"mem-run-{mb}"
        wall_p, rss_p, _ = seqgen_cli("prepare", src, "--out", data, "--force", "--val", "0.001", "--test", "0")
        steps = 3 if args.quick else 20
        wall_t, rss_t, _ = seqgen_cli("train", data, "--out", run, "--force", "--max-steps", steps, "--eval-every", 10**6,
                                      "--hidden", 256, "--quiet")
        rows.append({"corpus": f"{mb} MB", "prepare_peak_mb": round(rss_p / 1024), "prepare_s": round(wall_p, 1),
                     "train_peak_mb": round(rss_t / 1024), "train_s": round(wall_t, 1), "train_steps": steps,
                     "under_1_5_gb": max(rss_p, rss_t) / 1024 < 1536})
        console.print(f"  memory {rows[-1]}")
    return rows


# ---------------------------------------------------------------- quality per CPU-minute


def bench_quality(args, workdir: Path) -> list[dict]:
    """Validation loss on tiny Shakespeare (90/10) after 5 and 15 minutes of `seqgen train` with its defaults.

    Each budget is its own run, because the schedule anneals to the end of whatever budget it is given:
    the 5-minute figure is what a user who asks for 5 minutes gets, not a point on the 15-minute curve.
    """
    text = SHARED / "tinyshakespeare.txt"
    src = text if text.is_file() else workdir / "stand-in.txt"
    if not text.is_file():
        src.write_text(corpus_text(), encoding="utf-8")
    dataset = workdir / "data-quality"
    _, _, code = seqgen_cli("prepare", src, "--out", dataset, "--val", "0.1", "--test", "0", "--force")
    if code:
        return [{"budget": "-", "note": "prepare failed (see above)"}]
    budgets = ["10s"] if args.quick else args.quality_budgets.split(",")
    rows = []
    for budget in budgets:
        run = workdir / f"quality-{budget}"
        wall, rss, code = seqgen_cli("train", dataset, "--out", run, "--time-limit", budget, "--threads", torch.get_num_threads(),
                                     "--quiet", "--force")  # the defaults, except the suite's thread count
        if code:
            rows.append({"budget": budget, "note": "train failed (see above)"})
            continue
        history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        vals = [r for r in history if "val_loss" in r]
        config = json.loads((run / "config.json").read_text())
        model = config["model"]
        last, best = history[-1], min((r["val_loss"] for r in vals), default=None)  # model.safetensors' score
        rows.append({
            "budget": budget, "val_nats_per_char": None if best is None else round(best, 4),
            "bits_per_char": None if best is None else round(best / math.log(2), 4),
            "steps": last["step"], "tokens": last["tokens"], "wall_s": round(wall, 1), "peak_mb": round(rss / 1024),
            "model": f"{model['layers']}×{model['hidden']} {model['cell'].upper()}, dropout {model['dropout']}",
            "corpus": "tiny Shakespeare" if text.is_file() else "stand-in (../shared absent)",
            "curve": " ".join(f"{r['step']}:{r['val_loss']:.4f}" for r in vals),  # where it over-fits, if it does
        })
        console.print(f"  quality {rows[-1]}")
    return rows


# ---------------------------------------------------------------- report


def machine() -> dict:
    model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "cpu": model,
        "logical_cpus": os.cpu_count(), "threads": torch.get_num_threads(), "torch": torch.__version__,
        "python": platform.python_version(), "mkldnn": torch.backends.mkldnn.is_available(),
    }


def table(title: str, rows: list[dict]) -> tuple[Table, str]:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    t = Table(title=title)
    for k in keys:
        t.add_column(k)
    md = [f"**{title}**", "", "| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in rows:
        cells = [f"{r[k]:,}" if isinstance(r.get(k), int) and not isinstance(r.get(k), bool) else str(r.get(k, "")) for k in keys]
        t.add_row(*cells)
        md.append("| " + " | ".join(cells) + " |")
    return t, "\n".join(md) + "\n"


def sections_wanted(parser: argparse.ArgumentParser, only: str, sections: dict) -> list[str]:
    """The sections named by --only, in its order; an unknown name is a usage error."""
    wanted = [s.strip() for s in only.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in sections]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(sections)}")
    return wanted


SECTIONS = {
    "train": ("Training throughput, batch 64 × 64, embedding 128 (tokens/s; GFLOP/s vs plain matmul at the same shapes)", bench_train),
    "sample": ("Sampling throughput (tokens/s; the old per-token fused call for comparison)", lambda a, w: bench_sample(a)),
    "cells": ("Batch-1 sampling, 2×256 LSTM, against an nn.LSTMCell stack (tokens/s, alternating rounds)", lambda a, w: bench_sample_vs_cells(a)),
    "prepare": ("prepare throughput", bench_prepare),
    "memory": ("Peak resident memory of prepare and train (text, char level, 2×256 LSTM)", bench_memory),
    "quality": ("Quality per CPU-minute: tiny Shakespeare (90/10) validation loss, `seqgen train` defaults", bench_quality),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smoke run: small sizes, few repeats (seconds)")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of {', '.join(SECTIONS)}")
    parser.add_argument("--quality-budgets", default="5m,15m", help="time limits of the quality runs, comma-separated")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: physical cores)")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "latest.json", help="where to write the results")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads or default_threads() or torch.get_num_threads())
    wanted = sections_wanted(parser, args.only, SECTIONS)
    info = machine()
    results: dict = {"machine": info, "quick": args.quick}
    markdown = [f"Measured {info['date']} on {info['cpu']} ({info['logical_cpus']} CPUs), {info['threads']} torch threads, torch {info['torch']}.\n"]
    with tempfile.TemporaryDirectory(prefix="seqgen-bench-") as tmp:
        for name in wanted:
            title, fn = SECTIONS[name]
            console.print(f"[bold]{name}[/] …")
            start = time.perf_counter()
            rows = fn(args, Path(tmp))
            results[name] = rows
            t, md = table(title, rows)
            console.print(t)
            console.print(f"({time.perf_counter() - start:.0f} s)")
            markdown.append(md)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    args.json.with_suffix(".md").write_text("\n".join(markdown), encoding="utf-8")
    console.print(f"wrote {args.json} and {args.json.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
