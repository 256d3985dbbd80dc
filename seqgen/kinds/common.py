"""The options every verb has whatever the kind: shown first in `--help`, before each kind's panel.

A kind still says which of them it takes (`Kind.takes`): an encoder-decoder run has no use for --prime.
The defaults are the config dataclasses' own, so `--help` and a run's config.json cannot disagree.
"""

from __future__ import annotations

from pathlib import Path

from seqgen.config import CELLS, CLIP_MODES, DEVICES, MAX_SAMPLES, MAX_SEED, MAX_THREADS, OPTIMIZERS, SCHEDULES
from seqgen.kinds.base import Option, in_panel

DEVICE_HELP = "auto (CUDA, then Apple MPS, then the CPU), cpu, cuda or mps; pick a GPU with CUDA_VISIBLE_DEVICES."

OUT = Option("out", Path, flags=("--out", "-o"), help="Dataset folder to write.")
FORCE = Option("force", bool, False, "Replace an existing dataset folder.")
WEIGHTS = Option("weights", str, "best", "best (lowest validation loss) or last.", choices=("best", "last"))
DEVICE = Option("device", str, "auto", DEVICE_HELP, choices=DEVICES)
THREADS = Option("threads", int, min=1, max=MAX_THREADS, help="CPU threads for torch.", default_help="the physical cores this process may use, as `train`")
RUN = Option("run", Path, help="Run folder from `seqgen train`.", argument=True, required=True)

PREPARE = (
    Option("sources", list, help="Text files, folders, '-' for stdin, MIDI files and scores, TSV files of pairs, or a built-in corpus or task name (see `seqgen corpora`).", argument=True),
    OUT,
    # --level and --kind take their values and help from the registered kinds (seqgen.kinds.registry)
    Option("level", help="Token level:"),
    Option("kind", help="Kind of dataset to make."),
    Option("val", float, min=0.0, max=1.0, help="Fraction for validation, in [0, 1): of the tokens for text (contiguous, after train); for music and pairs, each piece's or pair's chance, drawn from its hash.",
           default_help="0.05; built-in pair tasks: 5,000 of --count"),
    Option("test", float, min=0.0, max=1.0, help="Fraction for test, in [0, 1): of the tokens for text (contiguous, at the end); for music and pairs, each piece's or pair's chance, drawn from its hash.",
           default_help="0.05; built-in pair tasks: 5,000 of --count"),
    FORCE,
)
PREPARE_NAMES = frozenset(o.name for o in PREPARE)

# Model and training settings default to None, "not given": a fresh run takes its architecture's default (which
# `--help` shows, filled in by the registry from the configs), and --resume keeps the run's own value.
MODEL = in_panel(
    "Model",
    Option("cell", choices=CELLS, help="Recurrent cell (rnn is tanh)."),
    Option("layers", int, min=1, max=256, help="Stacked recurrent layers."),
    Option("hidden", int, min=1, max=2**16, help="Units per layer."),
    Option("embed", int, min=1, max=2**16, help="Embedding width."),
    Option("dropout", float, min=0.0, max=1.0, help="Dropout between layers and before the output, in [0, 1)."),
    Option("tie_weights", bool, flags=("--tie-weights/--no-tie-weights",), help="Share input and output embeddings (needs --embed = --hidden)."),
)
TRAINING = in_panel(
    "Training",
    Option("batch", int, min=1, help="Parallel streams (language models), pairs or pieces (frames) per batch."),
    Option("seq_len", int, min=1, help="Steps of truncated backpropagation through time."),
    Option("lr", float, min=0.0, help="Peak learning rate, > 0."),
    Option("schedule", choices=SCHEDULES, help="Learning rate after warm-up."),
    Option("warmup", int, min=0, help="Warm-up steps."),
    Option("optimizer", choices=OPTIMIZERS, help="Adam, or AdamW with decoupled --weight-decay."),
    Option("weight_decay", float, min=0.0, help="AdamW's decoupled weight decay (0: plain Adam)."),
    Option("clip", float, min=0.0, help="Gradient clipping threshold; 0 disables."),
    Option("clip_mode", choices=CLIP_MODES, help="norm (global L2 norm) or value (element-wise)."),
    Option("max_steps", int, min=1, help="Stop after this many steps in total."),
    Option("epochs", float, min=0.0, help="Stop after this many passes over the training split."),
    Option("time_limit", help="Stop after this much training time in total: 15m, 90s, 1h30 (90 minutes), 1.5h, 5400. Default 15m when no budget is given."),
    Option("eval_every", int, min=1, help="Steps between validation passes."),
    Option("log_every", int, min=1, help="Steps between metrics rows."),
    Option("patience", int, min=1, help="Stop after this many validations without improvement."),
    Option("seed", int, min=0, max=MAX_SEED, help="Random seed (weights, dropout, data order)."),
    Option("device", choices=DEVICES, help=DEVICE_HELP),
    Option("threads", int, min=1, max=MAX_THREADS, help="CPU threads for torch (default: the physical cores this process may use; 1 per process under torchrun)."),
)
TRAIN = (
    Option("dataset", Path, help="Dataset folder from `seqgen prepare`.", argument=True),
    Option("out", Path, flags=("--out", "-o"), help="Run folder to write."),
    Option("resume", Path, help="Continue this run folder from its last checkpoint."),
    Option("quiet", bool, False, "No progress bar or summary.", flags=("--quiet", "-q")),
    Option("force", bool, False, "Replace an existing run folder."),
    *MODEL,
    *TRAINING,
)
TRAIN_NAMES = frozenset(("dataset", "out", "resume", "quiet", "force"))  # the verb's own; the rest are the architecture's settings

SAMPLE = (
    RUN,
    Option("length", int, min=1, help="Tokens to generate per sample (default 500; music: as many as --bars needs)."),
    Option("temperature", float, min=0.0, help="Sampling temperature, > 0; lower is safer, higher is wilder.", default_help="1.0"),
    Option("top_k", int, min=1, help="Sample only from the k most likely tokens."),
    Option("top_p", float, min=0.0, max=1.0, help="Sample only from the smallest set with this much probability, in (0, 1]."),
    Option("greedy", bool, flags=("--greedy/--sample",), help="Always take the most likely token, or draw from the distribution.",
           default_help="--sample; encoder-decoders: --greedy unless --temperature, --top-k or --top-p is given"),
    Option("prime", help="Text to start from (printed before the continuation)."),
    Option("prime_file", Path, help="Read the primer from this file."),
    Option("num", int, 1, "Number of samples, drawn as one batch.", min=1, max=MAX_SAMPLES),
    Option("seed", int, min=0, max=MAX_SEED, help="Random seed; the same seed gives the same output."),
    Option("out", Path, flags=("--out", "-o"), help="Write to this file (FILE-1, FILE-2, … with --num)."),
    Option("stop_at_eos", bool, False, "End a sample at its first end-of-sequence token."),
    WEIGHTS,
    DEVICE,
    THREADS,
    Option("force", bool, False, "Overwrite existing output files."),
    Option("beam", int, min=1, help="Beam search of this width for the most likely continuation (length-normalised); --num gives the best N beams."),
)
SAMPLE_NAMES = frozenset(o.name for o in SAMPLE)

EVAL = (
    RUN,
    Option("split", choices=("train", "val", "test"), help="Dataset split to score (a benchmark file's valid split is val).", default_help="val"),
    Option("file", Path, help="Score this file instead of a split: text, a MIDI file or score for a music run, a TSV file of pairs for an encoder-decoder."),
    Option("encoding", help="Encoding of --file."),
    WEIGHTS,
    Option("as_json", bool, False, 'Print one JSON object on stdout (keys: README, "eval output").', flags=("--json",)),
    DEVICE,
    THREADS,
    Option("seed", int, 1234, "Random seed for every draw.", min=0, max=MAX_SEED),
    Option("beam", int, min=1, help="Beam search of this width: an encoder-decoder's outputs (greedy without it, as `sample`); with --bleu, the continuations."),
    Option("out", Path, flags=("--out", "-o"), help="Also write the JSON report to this file."),
    Option("force", bool, False, "Overwrite an existing --out file."),
)
EVAL_NAMES = frozenset(o.name for o in EVAL)

COMMON: dict[str, tuple[Option, ...]] = {"prepare": PREPARE, "train": TRAIN, "sample": SAMPLE, "eval": EVAL}
