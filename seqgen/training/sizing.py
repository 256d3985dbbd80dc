"""Settings chosen for a text run from its corpus, its budget and the machine, when the user gives no model size.

Why: one fixed model cannot suit 200 KB and one minute as well as 10 MB and an hour. In one minute on one CPU thread
a 2×512 LSTM reads 0.4 M characters and a 2×128 reads 4 M; on 200 KB of poems the first ends 0.30 nats/char behind
the 5-gram, the second 0.05 behind (and, mixed with the 5-gram, 0.06 ahead), while with 3 minutes a 2×256 beats both.
What decides is how many tokens each model can read in the budget, against its size and the corpus's: so the rule
times this machine with a reference model, predicts every candidate's tokens from the speeds measured in
benchmarks/sizing.md, and applies the rule fitted there (`choose`). What it decides, and what from, goes into
config.json; a resumed run keeps it; any option the user gives wins.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from seqgen.config import ModelConfig

if TYPE_CHECKING:  # `--help` reads CHOSEN through the kinds' registry: no torch at import
    import torch

CHOSEN = ("layers", "hidden", "embed", "dropout", "batch", "seq_len", "lr", "warmup", "eval_every")  # what the rule sets
MODEL_OPTIONS = ("layers", "hidden", "embed", "dropout", "tie_weights")  # any of these given: the model is the user's
REFERENCE = (2, 256, 128)  # (layers, hidden, embed) of the model timed on this machine
CALIBRATION_STEPS = 3  # timed forward passes of the reference model, after one untimed
FORWARD_TO_TRAIN = 0.25  # training tokens/s over forward-only tokens/s of the reference model (benchmarks/sizing.md)


@dataclass(frozen=True)
class Shape:
    layers: int
    hidden: int
    embed: int
    speed: tuple[float, float]  # training tokens/s relative to REFERENCE at batch 16 × 64: on one CPU thread, on two or more

    def relative_speed(self, threads: int) -> float:
        return self.speed[0 if threads <= 1 else 1]

    def parameters(self, vocab: int, cell: str = "lstm") -> int:
        return ModelConfig(vocab_size=vocab, cell=cell, layers=self.layers, hidden=self.hidden, embed=self.embed).parameters()

    @property
    def name(self) -> str:
        return f"{self.layers}×{self.hidden}"


# The candidates, smallest first, with their speed relative to the reference (benchmarks/sizing.md, "Speeds"): a
# small model gains less from a second thread, so its advantage shrinks from 3.3× to 2.5×.
LADDER = (
    Shape(2, 128, 64, (3.3, 2.5)),
    Shape(2, 256, 128, (1.0, 1.0)),
    Shape(2, 384, 128, (0.55, 0.53)),
    Shape(2, 512, 128, (0.35, 0.32)),
)
BATCH, SEQ_LEN, LR = 16, 64, 3e-3  # measured best per CPU-minute (benchmarks/README.md); the grid keeps them


@dataclass
class Budget:
    seconds: float | None = None
    steps: int | None = None
    epochs: float | None = None


@dataclass
class Sizing:
    """What the rule chose, and from what: recorded as config.json's "sizing"."""

    settings: dict  # model and training settings chosen (before the user's own options override them)
    train_tokens: int
    budget: dict
    device: str
    threads: int
    reference_tokens_per_s: float | None  # measured on this machine; None when not needed (no time budget) or not measured
    calibration_s: float
    predicted_tokens: float  # tokens the chosen model reads in the budget
    epochs: float  # ... as passes over the training split
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)


def measure_rate(vocab: int, cell: str, device: torch.device) -> tuple[float, float]:
    """Training tokens/s of the reference model here, and the seconds the measurement took.

    It times the forward pass alone (no gradients) and scales by FORWARD_TO_TRAIN: a training step's first few
    backward passes run several times slower than later ones while the kernels warm up, so timing them would cost
    a second or more and still mislead; the forward pass is steady from its second call (~20 ms at batch 16 × 64)."""
    import torch

    from seqgen.models.rnn_lm import RNNLanguageModel

    start = time.perf_counter()
    layers, hidden, embed = REFERENCE
    model = RNNLanguageModel(ModelConfig(vocab_size=vocab, cell=cell, layers=layers, hidden=hidden, embed=embed)).to(device).eval()
    x = torch.randint(0, vocab, (BATCH, SEQ_LEN), generator=torch.Generator().manual_seed(0)).to(device)
    times = []
    with torch.no_grad():
        for _ in range(CALIBRATION_STEPS + 1):
            began = time.perf_counter()
            model(x)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times.append(time.perf_counter() - began)
    step = sorted(times[1:])[len(times[1:]) // 2]  # the median timed pass; the first one warms up
    return FORWARD_TO_TRAIN * BATCH * SEQ_LEN / step, time.perf_counter() - start


def tokens_read(shape: Shape, budget: Budget, reference_rate: float | None, train_tokens: int, threads: int = 1) -> float:
    """Tokens the model reads before the first budget ends."""
    limits = []
    if budget.seconds is not None and reference_rate:
        limits.append(budget.seconds * reference_rate * shape.relative_speed(threads))
    if budget.steps is not None:
        limits.append(budget.steps * BATCH * SEQ_LEN)
    if budget.epochs is not None:
        limits.append(budget.epochs * train_tokens)
    return min(limits) if limits else math.inf


def dropout_for(exposure: float) -> float:
    """Dropout once the model could memorise its corpus, more once it surely could; none before.

    `exposure` = (tokens read / corpus) × (parameters / corpus)²: neither the epochs nor the size alone decided it on
    the grid. A 2×128 that read 210 K characters of poems 18 times over (exposure 26) learnt best without dropout; a
    2×512 that read tiny Shakespeare 5 times over (58) and a 2×256 that read the poems 18 times over (336) with 0.2
    (against 0.1 and 0.3); models that read the poems 23–40 times (3,500–6,000) with 0.3 (benchmarks/sizing.md,
    "Dropout"). Dropout slows learning, so it pays only then."""
    return next(rate for limit, rate in DROPOUT_STEPS if exposure < limit)


DROPOUT_STEPS = ((30.0, 0.0), (1000.0, 0.2), (math.inf, 0.3))  # (exposure below, dropout)

# A model is big enough to afford when it reads, in the budget, at least TOKENS_PER_PARAMETER tokens per parameter
# and at least FRESH_READING / epochs: text it has not seen yet teaches a large model slower than a corpus it reads
# again and again (benchmarks/sizing.md, "The rule"). Equivalently: tokens ≥ 1.25·P and tokens² ≥ 6·P·corpus.
# On the grid the first test falls between 1.21 (a 2×256 on the poems at 1 minute, 0.005 behind the 2×128) and 1.46
# (a 2×512 on tiny Shakespeare at 15 minutes, 0.009 ahead of the 2×384); the second between 4.9 (a 2×384 on pydocs
# at 15 minutes on a fast machine; it lost to the 2×256 by 0.014–0.023) and 7.4 (that 2×512 on tiny Shakespeare).
TOKENS_PER_PARAMETER = 1.25
FRESH_READING = 6.0


def affordable(parameters: int, tokens: float, corpus: int) -> bool:
    """Whether a model of this size reads enough in the budget to beat the next smaller one (fitted on the grid)."""
    return tokens >= TOKENS_PER_PARAMETER * parameters and tokens * tokens >= FRESH_READING * parameters * corpus


def choose(train_tokens: int, vocab: int, cell: str, budget: Budget, reference_rate: float | None, threads: int = 1) -> tuple[Shape, float, float]:
    """(the model, dropout, tokens it reads) for this corpus and budget: the largest affordable candidate (the
    smallest if none is), with dropout for how much of the corpus it could memorise."""
    corpus = max(1, train_tokens)
    best = LADDER[0]
    for shape in LADDER:
        if affordable(shape.parameters(vocab, cell), tokens_read(shape, budget, reference_rate, train_tokens, threads), corpus):
            best = shape
    tokens = tokens_read(best, budget, reference_rate, train_tokens, threads)
    return best, dropout_for(tokens / corpus * (best.parameters(vocab, cell) / corpus) ** 2), tokens


def eval_every(val_tokens: int) -> int:
    """Steps between validation passes such that they cost about a tenth of training: a pass reads the split about three
    times faster than training reads it, so every val/300 steps (at least 500, as before)."""
    return max(500, math.ceil(val_tokens / 300 / 100) * 100)


def plan(train_tokens: int, val_tokens: int, vocab: int, cell: str, budget: Budget, device: torch.device, threads: int) -> Sizing:
    """Measure this machine (only when the budget is time) and choose the run's settings."""
    rate, spent = (None, 0.0)
    if budget.seconds is not None:
        rate, spent = measure_rate(vocab, cell, device)
    shape, dropout, tokens = choose(train_tokens, vocab, cell, budget, rate, threads)
    epochs = tokens / max(1, train_tokens)
    settings = {"layers": shape.layers, "hidden": shape.hidden, "embed": shape.embed, "dropout": dropout,
                "batch": BATCH, "seq_len": SEQ_LEN, "lr": LR, "eval_every": eval_every(val_tokens)}
    steps = tokens / (BATCH * SEQ_LEN)
    if math.isfinite(steps):
        settings["warmup"] = int(min(100, max(10, steps // 10)))  # a tenth of a short run, as before for long ones
    where = f"{device.type.upper() if device.type != 'cpu' else 'CPU'}" + (f" with {threads} thread{'s' if threads != 1 else ''}" if device.type == "cpu" else "")
    reason = (f"{shape.name} {cell.upper()}, dropout {dropout:g}: {_size(train_tokens)} training tokens and {_budget(budget)} on {where}"
              f" (about {epochs:.1f} epochs)" if math.isfinite(epochs) else "")
    return Sizing(settings, train_tokens, asdict(budget), device.type, threads, rate, round(spent, 3), tokens, epochs, reason)


def _size(tokens: int) -> str:
    return f"{tokens / 1e6:.1f} M" if tokens >= 1e6 else f"{tokens / 1e3:.0f} K"


def _budget(budget: Budget) -> str:
    parts = []
    if budget.seconds is not None:
        minutes = budget.seconds / 60
        parts.append(f"{minutes:g} minute{'s' if minutes != 1 else ''}" if budget.seconds >= 60 else f"{budget.seconds:g} s")
    if budget.steps is not None:
        parts.append(f"{budget.steps:,} steps")
    if budget.epochs is not None:
        parts.append(f"{budget.epochs:g} epochs")
    return " or ".join(parts)


__all__ = ["Budget", "Sizing", "Shape", "LADDER", "plan", "choose", "affordable", "dropout_for", "measure_rate", "eval_every"]
