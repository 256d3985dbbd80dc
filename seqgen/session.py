"""The verbs' work, between the CLI (which parses and prints) and the kinds (which know their data).

Each verb finds the kind once (from the sources, the dataset or the run folder), refuses an option that kind does
not take, and hands it the rest; training itself is the same for every kind: one trainer, one run folder.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import fields
from pathlib import Path
from typing import Any

import torch

from seqgen.architectures import for_run as architecture_of
from seqgen.architectures import load_model_from
from seqgen.config import TrainConfig, from_dict, parse_duration, to_dict
from seqgen.data.dataset import Dataset, check_output_folder
from seqgen.devices import resolve_device
from seqgen.errors import RunError, SeqgenError, UsageError
from seqgen.evaluation import plot as plots
from seqgen.kinds.base import Kind, Log, Values, check_same_vocab, refuse_existing
from seqgen.kinds.common import TRAIN_NAMES
from seqgen.kinds.pairs import attention_map
from seqgen.kinds.registry import for_meta, for_run, for_sources, options, refuse
from seqgen.models.rnn_lm import count_parameters
from seqgen.training.checkpoint import LAST, METRICS, Run, RunLock, create_run, load_state, new_config, open_run
from seqgen.training.distributed import ProcessGroup, is_main_process
from seqgen.training.distributed import setup as setup_group
from seqgen.training.sizing import MODEL_OPTIONS, Budget, Sizing, plan
from seqgen.training.threads import default_threads
from seqgen.training.trainer import Trainer, TrainResult

# Options a resumed run may change; every other training option is fixed by the run's config.json.
RESUMABLE = ("max_steps", "epochs", "time_limit", "eval_every", "log_every", "patience", "device", "threads")
DEFAULT_BUDGET = 15 * 60.0  # seconds, when no --max-steps, --epochs or --time-limit is given


def prepare(o: Values) -> tuple[Kind, Any]:
    """`seqgen prepare`: the kind the sources and options call for makes its dataset; returns it and its report."""
    if o.out is None:
        raise UsageError("Missing option '--out'", "name the dataset folder to write: --out DATASET")
    sources = list(o.sources or [])
    kind = for_sources(sources, o)
    refuse(kind, "prepare", o, o.out)
    return kind, kind.prepare(sources, o)


def train(o: Values, log: Log, bar: bool) -> TrainResult:
    """`seqgen train`: a new run (the dataset decides the kind of model), or --resume of one."""
    settings = {opt.name: getattr(o, opt.name) for opt in options("train") if opt.name not in TRAIN_NAMES}
    if o.time_limit is not None:
        settings["time_limit"] = parse_duration(o.time_limit)
    if o.resume is not None:
        fixed = [name for name, v in {**settings, "out": o.out, "force": o.force or None}.items() if v is not None and name not in RESUMABLE]
        if fixed:
            raise UsageError(
                f"{', '.join('--' + n.replace('_', '-') for n in fixed)} cannot change when resuming",
                "only the budget (--max-steps, --epochs, --time-limit), --eval-every, --log-every, --patience, --device and --threads can",
            )
        return resume_training(o.resume, o.dataset, {name: settings[name] for name in RESUMABLE if settings[name] is not None}, log, bar)
    if o.dataset is None or o.out is None:
        raise UsageError("train needs a DATASET and --out RUN (or --resume RUN)", "see `seqgen train --help`")
    if settings["max_steps"] is None and settings["epochs"] is None and settings["time_limit"] is None:
        settings["time_limit"] = DEFAULT_BUDGET
        log("no budget given: training for 15 minutes (set --max-steps, --epochs or --time-limit)")
    return start_training(o.dataset, o.out, {k: v for k, v in settings.items() if v is not None}, o.force, log, bar)


def _setup_torch(cfg: TrainConfig) -> tuple[ProcessGroup, torch.device]:
    """Threads, seed and device; under torchrun also the process group (DDP) and this rank's device."""
    use_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    return setup_group(resolve_device(cfg.device))


def _silent(msg: str) -> None:
    """The log of every rank but rank 0 under torchrun."""


def start_training(dataset_path: Path, out: Path, given: dict, force: bool, log: Log, bar: bool) -> TrainResult:
    """A new run: the dataset's kind decides the model; `given` holds the settings given on the command line."""
    kind = for_meta(Dataset.read_meta(Path(dataset_path)), str(dataset_path))
    refuse(kind, "train", Values(**given), dataset_path)
    arch = kind.architecture
    ds = arch.open_dataset(Path(dataset_path))
    train_names = {f.name for f in fields(TrainConfig)}
    given_train = {k: v for k, v in given.items() if k in train_names}
    given_model = {k: v for k, v in given.items() if k not in train_names}
    tcfg = TrainConfig(**{**arch.train_defaults, **given_train})
    tcfg.check()
    mcfg = arch.configure(ds, given_model)
    arch.check_size(ds, tcfg)
    main = is_main_process()  # under torchrun only rank 0 touches the run folder
    if main:
        check_output_folder(Path(out), force, "run")
    group, device = _setup_torch(tcfg)
    if not main:
        log, bar = _silent, False
    sizing = choose_settings(kind, ds, mcfg, tcfg, given, device, group, log)
    if sizing is not None:  # the rule's settings, then the user's own options over them
        chosen = sizing.settings
        tcfg = TrainConfig(**{**arch.train_defaults, **{k: v for k, v in chosen.items() if k in train_names}, **given_train})
        tcfg.check()
        mcfg = arch.configure(ds, {**{k: v for k, v in chosen.items() if k not in train_names}, **given_model})
        arch.check_size(ds, tcfg)
        torch.manual_seed(tcfg.seed)  # the weights are drawn as if nothing had run before
    if main:
        Path(out).mkdir(parents=True, exist_ok=True)
    with RunLock(Path(out)) if main else nullcontext():
        config = new_config(mcfg, tcfg, Path(dataset_path).resolve(), ds.meta)
        config["sizing"] = sizing.to_dict() if sizing is not None else None
        run = create_run(Path(out), config, force) if main else Run(Path(out), config)
        model = arch.build(mcfg).to(device)
        ranks = f" × {group.world} processes" if group.world > 1 else ""
        log(f"{arch.describe(mcfg, ds)}, {count_parameters(model):,} parameters, {device.type} with {torch.get_num_threads()} threads{ranks}")
        try:
            result = Trainer(run, arch.task(ds, tcfg, group), model, tcfg, device, log, bar, group).fit()
            if main:
                _after_training(kind, Path(out), ds, device, log)
            return result
        finally:
            group.close()


def choose_settings(kind: Kind, ds: Any, mcfg: Any, tcfg: TrainConfig, given: dict, device: torch.device, group: ProcessGroup,
                    log: Log) -> Sizing | None:
    """The sizing rule's choice for a new run of a kind it sizes (`Kind.sized`: text and music language models) when
    the user gave no model size, else None (and why, when the reason is not the user's own options). Encoder-decoders
    keep their fixed 1×128: the larger size the rule would afford them lost 5.3 BLEU (benchmarks/sizing.md, "Pairs");
    piano rolls keep theirs, unmeasured."""
    if not kind.sized or any(name in given for name in MODEL_OPTIONS):
        return None
    fixed = f"{mcfg.layers}×{mcfg.hidden} {mcfg.cell.upper()}, dropout {mcfg.dropout:g}"
    if device.type != "cpu":
        log(f"{fixed}: the fixed defaults (the size rule is fitted on CPUs; it is not yet measured on {device.type.upper()} devices)")
        return None
    if group.world > 1:
        log(f"{fixed}: the fixed defaults (under torchrun every process must build the same model, so none measures alone)")
        return None
    splits = ds.meta["splits"]
    budget = Budget(tcfg.time_limit, tcfg.max_steps, tcfg.epochs)
    sizing = plan(splits["train"], splits.get("val", 0), len(ds.vocab), mcfg.cell, budget, device, torch.get_num_threads())
    log(f"chose {sizing.reason}" + (f"; measured this machine in {sizing.calibration_s:.1f} s" if sizing.reference_tokens_per_s else ""))
    return sizing


def resume_training(run_path: Path, dataset_path: Path | None, overrides: dict, log: Log, bar: bool) -> TrainResult:
    main = is_main_process()  # under torchrun only rank 0 locks and repairs the run folder
    run = open_run(run_path)
    with RunLock(run.path) if main else nullcontext():
        run = open_run(run_path, recover=main)  # re-read under the lock, finishing an interrupted checkpoint
        tcfg = from_dict(TrainConfig, {**run.config["train"], **overrides}, "the resumed settings")
        tcfg.check()
        ds_path = Path(dataset_path) if dataset_path else Path(run.config.get("dataset_path", ""))
        if not (ds_path / "meta.json").is_file():
            raise RunError(f"the run's dataset {ds_path} is gone", f"pass it again: seqgen train DATASET --resume {run_path}")
        arch = architecture_of(run)
        ds = arch.open_dataset(ds_path)
        check_same_vocab(ds, run, "resume with the dataset it was trained on")
        group, device = _setup_torch(tcfg)
        group.barrier()  # rank 0 has finished any interrupted commit before the others read the weights
        if not main:
            log, bar = _silent, False
        started = run.has_weights(LAST)
        # stopped before its first checkpoint: start again from step 0, exactly as `train` would have
        model = load_model_from(run, LAST, device) if started else arch.build(run.model_config).to(device)
        run.config = {**run.config, "train": to_dict(tcfg)}
        trainer = Trainer(run, arch.task(ds, tcfg, group), model, tcfg, device, log, bar, group)
        if started:
            trainer.load_state_dict(load_state(run))
        elif main:
            (run.path / METRICS).unlink(missing_ok=True)  # rows of steps no checkpoint kept
        if trainer.progress() >= 1.0:
            log(f"the run's budget is used up at step {trainer.pos.step}; raise --max-steps, --epochs or --time-limit to train longer")
        else:
            log(f"resuming {run_path} at step {trainer.pos.step:,}")
        try:
            result = trainer.fit()
            if main:
                _after_training(for_run(run), run.path, ds, device, log)
            return result
        finally:
            group.close()


def _after_training(kind: Kind, run_path: Path, ds: Any, device: torch.device, log: Log) -> None:
    """The kind's work once the weights are safe (a language model's mixture). It failing never fails the training:
    the run is complete without it, and sample then draws from the network."""
    try:
        kind.after_training(run_path, ds, device, log)
    except (SeqgenError, OSError) as exc:
        log(f"warning: the run is trained, but fitting its mixture with the n-gram failed ({exc}); sample draws from the network. "
            f"Try again with: seqgen train --resume {run_path}")


def use_threads(threads: int | None) -> None:
    """torch's intra-op threads: --threads, else the physical cores this process may use (train, sample and eval alike)."""
    threads = threads or default_threads()
    if threads:
        torch.set_num_threads(threads)


def sample(o: Values, warn: Log) -> list[str]:
    """`seqgen sample`: the run's kind generates and writes its output."""
    run = open_run(o.run)
    kind = for_run(run)
    refuse(kind, "sample", o, o.run)
    use_threads(o.threads)
    return kind.sample(run, o, warn)


def evaluate(o: Values, log: Log) -> dict:
    """`seqgen eval`: the run's kind scores a split of its dataset (or --file), as a JSON-ready report."""
    refuse_existing([o.out] if o.out is not None else [], o.force)
    if o.file is not None and o.split is not None:
        raise UsageError("give --split or --file, not both")
    run = open_run(o.run)
    kind = for_run(run)
    refuse(kind, "eval", o, o.run)
    use_threads(o.threads)
    return kind.evaluate(run, o, log)


def plot(target: Path, out: Path | None, force: bool, attention: str | None = None) -> dict:
    """`seqgen plot`: loss curves of a run or a piano roll of a MIDI file; with `attention` (an input), the
    encoder-decoder's attention as it answers it (default attention.png here)."""
    if attention is None:
        return plots.plot(target, out, force)
    if not Path(target).is_dir():
        raise UsageError(f"--attention needs a run folder, not {target}")
    out = plots.checked_out(Path(out) if out else Path("attention.png"), force)
    return attention_map(Path(target), attention, out)
