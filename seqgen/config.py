"""Typed settings for the model, training and sampling, saved as JSON in the run folder.

Loading is strict: an unknown key is an error, so a typo never silently becomes a new setting.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from seqgen.errors import RunError, UsageError

CELLS = ("lstm", "gru", "rnn")
CLIP_MODES = ("norm", "value")
SCHEDULES = ("cosine", "step", "constant")
OPTIMIZERS = ("adam", "adamw")
DEVICES = ("auto", "cpu", "cuda", "mps")
MAX_PARAMETERS = 10**9  # far beyond a recurrent model one machine trains; stops a typo before it allocates
MAX_THREADS = 1024
MAX_SEED = 2**63 - 1
MAX_SAMPLES = 4096  # --num: samples drawn as one batch


def check_seed(seed: int | None) -> None:
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise UsageError(f"--seed must be between 0 and 2**63 - 1, got {seed}")


# Defaults are tuned for quality per CPU-minute (benchmarks/README.md, "Quality per CPU-minute"): on
# 2 cores, 15 minutes of tiny Shakespeare with these and nothing else reach 1.434 nats/char. Batch 16
# because on a CPU the fused LSTM runs as many tokens/s at batch 16 as at 64, so 4× the updates.


def check_recurrent(cfg: Any, sizes: tuple[str, ...]) -> None:
    """What every recurrent model's settings must satisfy: a known cell, sizes in range, dropout in [0, 1),
    tied weights of equal width, and a parameter count seqgen trains. `sizes` names the vocabulary fields."""
    if cfg.cell not in CELLS:
        raise UsageError(f"--cell must be one of {', '.join(CELLS)}, not {cfg.cell!r}")
    for name in ("layers", "hidden", "embed", *sizes):
        if getattr(cfg, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(cfg, name)}")
    for name, most in (("layers", 256), ("hidden", 2**16), ("embed", 2**16)):
        if getattr(cfg, name) > most:
            raise UsageError(f"--{name} must be at most {most:,}, got {getattr(cfg, name):,}")
    if cfg.parameters() > MAX_PARAMETERS:
        raise UsageError(
            f"the model would have {cfg.parameters():,} parameters, more than seqgen trains ({MAX_PARAMETERS:,})",
            "lower --hidden, --layers or --embed",
        )
    if not 0.0 <= cfg.dropout < 1.0:
        raise UsageError(f"--dropout must be in [0, 1), got {cfg.dropout}")
    if getattr(cfg, "tie_weights", False) and cfg.embed != cfg.hidden:
        raise UsageError(f"--tie-weights needs --embed equal to --hidden (got {cfg.embed} and {cfg.hidden})")


def recurrent_parameters(cell: str, inputs: int, hidden: int, layers: int, directions: int = 1) -> int:
    """Parameters of a stacked nn.LSTM/GRU/RNN, computed before anything is allocated (matches torch's modules)."""
    gates = {"lstm": 4, "gru": 3}.get(cell, 1)
    return directions * sum(gates * hidden * ((inputs if i == 0 else hidden * directions) + hidden + 2) for i in range(layers))


@dataclass
class ModelConfig:
    # training settings that differ from TrainConfig's for this model, and those it has no use for (refused if given)
    TRAIN_DEFAULTS: ClassVar[dict] = {}
    UNUSED_TRAIN: ClassVar[tuple[str, ...]] = ()

    vocab_size: int  # tokens the model reads and predicts
    cell: str = "lstm"  # lstm | gru | rnn (tanh)
    layers: int = 2  # stacked recurrent layers
    hidden: int = 512  # units per recurrent layer
    embed: int = 128  # embedding width
    dropout: float = 0.3  # between layers and before the output layer
    tie_weights: bool = False  # share embedding and output matrices (needs embed == hidden)

    def check(self) -> None:
        check_recurrent(self, ("vocab_size",))

    def parameters(self) -> int:
        """Parameter count, computed before anything is allocated (matches torch's modules)."""
        head = 0 if self.tie_weights else self.vocab_size * self.hidden
        return self.vocab_size * self.embed + recurrent_parameters(self.cell, self.embed, self.hidden, self.layers) + head + self.vocab_size


ATTENTIONS = ("bahdanau", "luong", "peek", "beats", "none")


@dataclass
class Seq2SeqConfig:
    """An encoder–decoder: a (bidirectional) encoder reads the source, an attentive decoder writes the target."""

    TRAIN_DEFAULTS: ClassVar[dict] = {"batch": 64, "lr": 2e-3, "eval_every": 250}
    UNUSED_TRAIN: ClassVar[tuple[str, ...]] = ("seq_len",)  # a batch holds whole pairs

    src_vocab: int  # source tokens
    tgt_vocab: int  # target tokens (what the decoder predicts)
    cell: str = "lstm"  # lstm | gru | rnn (tanh), encoder and decoder alike
    layers: int = 1  # stacked layers in the encoder and in the decoder (one: 3× the steps of two in the same time; benchmarks/seq2seq.md)
    hidden: int = 128  # decoder units; each encoder direction has as many (128: addition 99.4% in 3 minutes, 256: 89.8%)
    embed: int = 128  # embedding width, both sides
    dropout: float = 0.2  # on embeddings, between layers and before the output layer
    bidirectional: bool = True  # the encoder reads the source both ways
    attention: str = "luong"  # bahdanau (additive) | luong (general, with input feeding) | peek (the summary at every step) | beats (output k reads the k-th mark's state) | none (final state only)
    marks: tuple[int, ...] = ()  # beats: the source ids that mark where each output's part of the source starts
    tie_weights: bool = False  # share the target embedding and the output matrix (needs embed == hidden)
    teacher_forcing: float = 1.0  # share of decoder inputs taken from the reference in training; below 1, scheduled sampling

    def check(self) -> None:
        check_recurrent(self, ("src_vocab", "tgt_vocab"))
        if self.attention not in ATTENTIONS:
            raise UsageError(f"--attention must be one of {', '.join(ATTENTIONS)}, not {self.attention!r}")
        if not 0.0 <= self.teacher_forcing <= 1.0:
            raise UsageError(f"--teacher-forcing must be in [0, 1], got {self.teacher_forcing}")
        if self.attention == "beats" and not self.marks:
            raise UsageError("--attention beats needs sources that mark each output's place (a melody -> chords dataset with beat marks)",
                             "prepare the pairs again with this seqgen, or choose another --attention")

    def parameters(self) -> int:
        """An upper bound close enough to refuse a typo before anything is allocated."""
        dirs = 2 if self.bidirectional else 1
        encoder = self.src_vocab * self.embed + recurrent_parameters(self.cell, self.embed, self.hidden, self.layers, dirs)
        decoder_in = self.embed + (self.hidden if self.attention == "luong" else dirs * self.hidden if self.attention in ("bahdanau", "peek", "beats") else 0)
        decoder = self.tgt_vocab * self.embed + recurrent_parameters(self.cell, decoder_in, self.hidden, self.layers)
        attention = (dirs + 2) * self.hidden * self.hidden * 2
        head = 0 if self.tie_weights else self.tgt_vocab * self.hidden
        return encoder + decoder + attention + head + self.tgt_vocab + 2 * dirs * self.hidden * self.hidden * self.layers


OUTPUTS = ("bernoulli", "autoregressive")
KEYS = 88  # a piano-roll frame's columns, MIDI 21-108


@dataclass
class FramesConfig:
    """A piano-roll model: a frame of 88 keys -> dense -> stacked RNN -> a distribution over the next frame."""

    TRAIN_DEFAULTS: ClassVar[dict] = {"batch": 8, "eval_every": 250}  # a few hundred pieces: small batches, more updates, finer best-weights keeping
    UNUSED_TRAIN: ClassVar[tuple[str, ...]] = ("seq_len",)  # a batch holds whole pieces

    cell: str = "lstm"  # lstm | gru | rnn (tanh)
    layers: int = 2  # stacked recurrent layers
    hidden: int = 256  # units per recurrent layer (JSB Chorales is 14k training frames: 512 learns no more in 15 minutes)
    embed: int = 128  # width of the dense encoding of a frame (multi-hot over 88 keys, plus a start bit)
    dropout: float = 0.3  # on the encoding, between layers and before the output head
    output: str = "bernoulli"  # bernoulli (88 independent sigmoids) | autoregressive (a NADE over the keys, low to high)
    head_size: int = 128  # autoregressive output: hidden units of the NADE

    def check(self) -> None:
        check_recurrent(self, ("head_size",))
        if self.output not in OUTPUTS:
            raise UsageError(f"--output must be one of {', '.join(OUTPUTS)}, not {self.output!r}")
        if self.head_size > 2**16:
            raise UsageError(f"--head-size must be at most {2**16:,}, got {self.head_size:,}")

    def parameters(self) -> int:
        """Parameter count, computed before anything is allocated (matches torch's modules)."""
        head = (self.hidden + 1) * (KEYS if self.output == "bernoulli" else KEYS + self.head_size) + (self.output != "bernoulli") * 2 * KEYS * self.head_size
        return (KEYS + 2) * self.embed + recurrent_parameters(self.cell, self.embed, self.hidden, self.layers) + head


MODEL_CONFIGS: dict[str, type] = {"rnn_lm": ModelConfig, "seq2seq": Seq2SeqConfig, "frames": FramesConfig}  # "arch" in config.json -> its settings


@dataclass
class TrainConfig:
    batch: int = 16  # parallel streams
    seq_len: int = 64  # steps of truncated backpropagation through time
    lr: float = 3e-3  # peak learning rate
    optimizer: str = "adamw"  # adam | adamw
    weight_decay: float = 0.0  # AdamW decoupled weight decay
    schedule: str = "cosine"  # cosine | step | constant, after warm-up
    warmup: int = 100  # warm-up steps (linear from 0)
    min_lr_ratio: float = 0.1  # cosine ends at lr * min_lr_ratio
    step_gamma: float = 0.5  # step schedule: multiply lr by this ...
    step_every: float = 0.33  # ... every this fraction of the budget
    clip: float = 5.0  # gradient clipping threshold; 0 disables
    clip_mode: str = "norm"  # norm (global L2 norm) | value (element-wise)
    max_steps: int | None = None  # budget in optimizer steps
    epochs: float | None = None  # budget in passes over train.bin
    time_limit: float | None = None  # budget in seconds
    eval_every: int = 500  # steps between validation passes
    log_every: int = 20  # steps between metrics rows
    patience: int | None = None  # evaluations without improvement before stopping
    seed: int = 1337
    device: str = "auto"
    threads: int | None = None  # torch intra-op threads; None = physical cores (seqgen.training.threads.default_threads)

    def check(self) -> None:
        positive = ("batch", "seq_len", "eval_every", "log_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if not 0 < self.lr < math.inf:
            raise UsageError(f"--lr must be a positive number, got {self.lr}")
        if not 0 <= self.weight_decay < math.inf:
            raise UsageError(f"--weight-decay must be 0 or more, got {self.weight_decay}")
        if not 0 <= self.clip < math.inf:
            raise UsageError(f"--clip must be 0 (off) or positive, got {self.clip}")
        if self.clip_mode not in CLIP_MODES:
            raise UsageError(f"--clip-mode must be one of {', '.join(CLIP_MODES)}")
        if self.schedule not in SCHEDULES:
            raise UsageError(f"--schedule must be one of {', '.join(SCHEDULES)}")
        if self.optimizer not in OPTIMIZERS:
            raise UsageError("--optimizer must be adam or adamw")
        if self.warmup < 0:
            raise UsageError(f"--warmup must be 0 or more, got {self.warmup}")
        if self.max_steps is not None and self.max_steps < 1:
            raise UsageError(f"--max-steps must be at least 1, got {self.max_steps}")
        if self.epochs is not None and not 0 < self.epochs < math.inf:
            raise UsageError(f"--epochs must be a positive number, got {self.epochs}")
        if self.time_limit is not None and not 0 < self.time_limit < math.inf:
            raise UsageError("--time-limit must be positive")
        if self.patience is not None and self.patience < 1:
            raise UsageError(f"--patience must be at least 1, got {self.patience}")
        if self.threads is not None and self.threads < 1:
            raise UsageError(f"--threads must be at least 1, got {self.threads}")
        if self.threads is not None and self.threads > MAX_THREADS:
            raise UsageError(f"--threads must be at most {MAX_THREADS}, got {self.threads:,}")
        check_seed(self.seed)
        if self.device not in DEVICES and not self.device.startswith("cuda:"):
            raise UsageError(f"--device must be auto, cpu, cuda or mps, not {self.device!r}")


@dataclass
class SampleConfig:
    length: int = 500  # tokens to generate per sample
    temperature: float = 1.0  # > 0; lower is more conservative
    top_k: int | None = None  # keep the k most likely tokens
    top_p: float | None = None  # keep the smallest set with this much probability
    greedy: bool | None = False  # always take the most likely token; None: the run's kind decides (encoder-decoders: yes)
    num: int = 1  # samples, drawn as one batch
    seed: int | None = None
    stop_at_eos: bool = False
    beam: int | None = None  # beam width: search for the most likely continuation instead of sampling

    def check(self) -> None:
        if self.beam is not None:
            if self.beam < 1:
                raise UsageError(f"--beam must be at least 1, got {self.beam}")
            mixed = [name for name, on in (("--greedy", self.greedy), ("--top-k", self.top_k is not None), ("--top-p", self.top_p is not None), ("--temperature", self.temperature != 1.0)) if on]
            if mixed:
                raise UsageError(f"{mixed[0]} does not apply to --beam", "beam search ranks continuations by the model's own probabilities")
            if self.num > self.beam:
                raise UsageError(f"--num {self.num} is more than --beam {self.beam}", "beam search returns at most --beam hypotheses")
        if self.length < 1:
            raise UsageError(f"--length must be at least 1, got {self.length}")
        if not self.temperature > 0:
            raise UsageError(
                f"--temperature must be greater than 0, got {self.temperature}",
                "use --greedy for always-the-most-likely output",
            )
        if self.temperature == math.inf:
            raise UsageError(f"--temperature must be a finite number, got {self.temperature}")
        if self.greedy:
            mixed = [name for name, on in (("--top-k", self.top_k is not None), ("--top-p", self.top_p is not None)) if on]
            if mixed:
                raise UsageError(f"{mixed[0]} does not apply to --greedy", "greedy decoding always takes the most likely token")
        if self.top_k is not None and self.top_k < 1:
            raise UsageError(f"--top-k must be at least 1, got {self.top_k}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise UsageError(f"--top-p must be in (0, 1], got {self.top_p}")
        if self.num < 1:
            raise UsageError(f"--num must be at least 1, got {self.num}")
        if self.num > MAX_SAMPLES:
            raise UsageError(f"--num must be at most {MAX_SAMPLES:,}, got {self.num:,}", "run sample several times with different --seed values")
        check_seed(self.seed)


T = TypeVar("T")


_JSON_TYPES = {"int": ((int,), "an integer"), "float": ((int, float), "a number"), "str": ((str,), "a string"), "bool": ((bool,), "true or false")}


def _check_type(name: str, annotation: str, value: Any, what: str) -> None:
    """Refuse a JSON value of the wrong type ("hidden": "many"), which would otherwise fail far from its cause."""
    kinds = [k.strip() for k in str(annotation).split("|")]
    if value is None and "None" in kinds:
        return
    known = [k for k in kinds if k in _JSON_TYPES]
    if not known:
        return  # a type this check does not know (a list, a nested config): left to the code that reads it
    is_bool = isinstance(value, bool)
    if not any(isinstance(value, _JSON_TYPES[k][0]) and (k == "bool" or not is_bool) for k in known):
        raise RunError(f"{what} {name} must be {_JSON_TYPES[known[0]][1]}, not {value!r}")


def from_dict(cls: type[T], data: dict[str, Any], what: str) -> T:
    """Build a dataclass from JSON, refusing unknown keys (a typo is an error, not a new field) and wrong types."""
    if not isinstance(data, dict):
        raise RunError(f"{what} must be a JSON object, not {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise RunError(f"{what} has unknown settings: {', '.join(unknown)}")
    for f in dataclasses.fields(cls):
        if f.name in data:
            _check_type(f.name, f.type, data[f.name], what)
    try:
        return cls(**data)
    except TypeError as exc:
        raise RunError(f"{what} is incomplete: {exc}") from None


def to_dict(obj: Any) -> dict[str, Any]:
    return dataclasses.asdict(obj)


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([hms]?)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0}
_NEXT_UNIT = {"h": "m", "m": "s"}  # what a trailing bare number means after each unit, as people write "1h30", "2m30"


def parse_duration(text: str) -> float:
    """A duration as people write it -> seconds: '15m', '90s', '1h30m', '1h30' (90 minutes), '1.5h', '5400s', '5400'.

    Units go from hours to seconds, each at most once; a bare number after a unit counts in the next smaller one,
    and a bare number alone counts seconds."""
    cleaned = (text or "").strip().lower()
    parts, pos = [], 0
    while pos < len(cleaned):
        match = _DURATION_PART.match(cleaned, pos)
        if match is None:
            break
        parts.append((float(match.group(1)), match.group(2)))
        pos = match.end()
        while pos < len(cleaned) and cleaned[pos] == " ":
            pos += 1
    units = [unit for _, unit in parts]
    if parts and not units[-1]:  # the trailing bare number: seconds alone, else the unit after the one before it
        units[-1] = _NEXT_UNIT.get(units[-2], "") if len(units) > 1 else "s"
    order = "hms"
    if not parts or pos != len(cleaned) or "" in units or units != sorted(set(units), key=order.index) or len(set(units)) != len(units):
        raise UsageError(f"--time-limit {text!r} is not a duration", "write e.g. 15m, 90s, 1h30 or 1.5h")
    total = sum(number * _UNIT_SECONDS[unit] for (number, _), unit in zip(parts, units))
    if total <= 0:
        raise UsageError(f"--time-limit must be positive, got {text!r}")
    return total


__all__ = [
    "ModelConfig",
    "FramesConfig",
    "TrainConfig",
    "SampleConfig",
    "from_dict",
    "to_dict",
    "parse_duration",
]
