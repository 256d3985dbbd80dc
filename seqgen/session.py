"""The verbs' work, between the CLI (which parses and prints) and the modules (which know one thing each)."""

from __future__ import annotations

import itertools
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from seqgen import __version__
from seqgen.architectures import for_dataset, for_run, load_model_from
from seqgen.config import SampleConfig, TrainConfig, from_dict, to_dict
from seqgen.data.dataset import Dataset, check_output_folder
from seqgen.data.text import read_text_chunks
from seqgen.data.tokenizers import Tokenizer
from seqgen.devices import resolve_device
from seqgen.errors import InputError, RunError, UsageError
from seqgen.evaluation.likelihood import score_ids
from seqgen.files import atomic_write_bytes
from seqgen.levels import tokenizer_from_meta
from seqgen.models.generate import beam_steps, sample_steps
from seqgen.models.rnn_lm import count_parameters
from seqgen.training.checkpoint import BEST, LAST, METRICS, Run, RunLock, create_run, load_state, new_config, open_run
from seqgen.training.distributed import ProcessGroup, is_main_process
from seqgen.training.distributed import setup as setup_group
from seqgen.training.threads import default_threads
from seqgen.training.trainer import Trainer, TrainResult

Log = Callable[[str], None]
WEIGHTS = {"best": BEST, "last": LAST}


def _setup_torch(cfg: TrainConfig) -> tuple[ProcessGroup, torch.device]:
    """Threads, seed and device; under torchrun also the process group (DDP) and this rank's device."""
    threads = cfg.threads or default_threads()  # default: the physical cores this process may use
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(cfg.seed)
    return setup_group(resolve_device(cfg.device))


def _silent(msg: str) -> None:
    """The log of every rank but rank 0 under torchrun."""


def start_training(dataset_path: Path, out: Path, model_options: dict, tcfg: TrainConfig, force: bool, log: Log, bar: bool) -> TrainResult:
    """A new run: the dataset decides the kind of model; `model_options` are those given on the command line."""
    tcfg.check()
    arch, ds = for_dataset(Path(dataset_path))
    mcfg = arch.configure(ds, model_options)
    arch.check_size(ds, tcfg)
    main = is_main_process()  # under torchrun only rank 0 touches the run folder
    if main:
        check_output_folder(Path(out), force, "run")
    group, device = _setup_torch(tcfg)
    if main:
        Path(out).mkdir(parents=True, exist_ok=True)
    else:
        log, bar = _silent, False
    with RunLock(Path(out)) if main else nullcontext():
        config = new_config(mcfg, tcfg, Path(dataset_path).resolve(), ds.meta)
        run = create_run(Path(out), config, force) if main else Run(Path(out), config)
        model = arch.build(mcfg).to(device)
        ranks = f" × {group.world} processes" if group.world > 1 else ""
        log(f"{arch.describe(mcfg, ds)}, {count_parameters(model):,} parameters, {device.type} with {torch.get_num_threads()} threads{ranks}")
        try:
            return Trainer(run, arch.task(ds, tcfg, group), model, tcfg, device, log, bar, group).fit()
        finally:
            group.close()


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
        arch = for_run(run)
        ds = arch.open_dataset(ds_path)
        _check_same_vocab(ds, run, "resume with the dataset it was trained on")
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
            return trainer.fit()
        finally:
            group.close()


def _check_same_vocab(ds: Dataset, run, hint: str) -> None:
    if ds.meta["vocab"] != run.dataset_meta["vocab"] or ds.meta.get("level") != run.dataset_meta.get("level"):
        raise RunError(f"the dataset {ds.path} has a different vocabulary than the run {run.path}", hint)


def _load_for_use(run_path: Path, weights: str, device_name: str) -> tuple[Run, Tokenizer, torch.device, torch.nn.Module]:
    """What sample and eval start from: the run folder, its tokenizer, the device, and the weights asked for."""
    if weights not in WEIGHTS:
        raise UsageError(f"--weights must be best or last, not {weights!r}")
    run = open_run(run_path)
    tokenizer = tokenizer_from_meta(run.dataset_meta)
    device = resolve_device(device_name)
    return run, tokenizer, device, load_model_from(run, WEIGHTS[weights], device)


def _prime_ids(tokenizer, text: str, warn: Log) -> list[int]:
    ids, unknown = tokenizer.encode_text(text)
    if unknown:
        if tokenizer.vocab.id_of("unk") is None:
            missing = sorted({ch for ch in text if ch not in tokenizer.vocab.index})
            shown = ", ".join(repr(ch) for ch in missing[:10])
            raise UsageError(f"the primer has characters this run never saw: {shown}", f"the run knows {len(tokenizer.vocab)} characters; remove or replace those")
        warn(f"warning: {unknown} primer word(s) are not in the vocabulary and read as <unk>")
    return ids


def _line_end(text: str) -> str:
    """Text output ends with exactly one line break (a sample ended by <eos> has one already)."""
    return "" if text.endswith("\n") else "\n"


def _output_paths(out: Path, num: int) -> list[Path]:
    if num == 1:
        return [out]
    return [out.with_name(f"{out.stem}-{i}{out.suffix}") for i in range(1, num + 1)]


def sample_run(run_path: Path, cfg: SampleConfig, prime: str | None, prime_file: Path | None, out: Path | None,
               weights: str, device_name: str, force: bool, warn: Log, music=None) -> list[str]:
    """Generate text; streams one sample to stdout, or writes files with --out. Returns the texts."""
    cfg.check()
    if prime is not None and prime_file is not None:
        raise UsageError("give --prime or --prime-file, not both")
    if prime_file is not None and not Path(prime_file).is_file():
        raise UsageError(f"no such file: {prime_file}")
    paths = _output_paths(Path(out), cfg.num) if out else []
    existing = [p for p in paths if p.exists()]
    if existing and not force:
        raise UsageError(f"{existing[0]} already exists", "pass --force to overwrite it, or choose another --out")
    run, tokenizer, device, model = _load_for_use(run_path, weights, device_name)
    if tokenizer.kind == "music":  # `music`: a seqgen.music.sample.MusicOptions (bars, tempo, MIDI primer, ...)
        from seqgen.music.sample import sample_music

        return sample_music(model, tokenizer, cfg, music, prime, prime_file, paths, device, warn)
    if music is not None and music.given():
        raise UsageError(f"{music.given()[0]} is for music runs; {run_path} is a {tokenizer.kind} run")
    if prime_file is not None:
        prime = "".join(read_text_chunks(prime_file))
    prime_text = prime or ""
    prime_ids = _prime_ids(tokenizer, prime_text, warn) if prime_text else []
    context = prime_ids or tokenizer.start_ids()
    eos = tokenizer.vocab.id_of("eos")
    steps = (beam_steps if cfg.beam else sample_steps)(model, context, cfg, device, eos)
    if cfg.num == 1 and not paths:
        tokens = (step[0] for step in steps if step[0] is not None)
        pieces = tokenizer.render(itertools.chain(prime_ids, tokens))
        out_text = [prime_text]
        sys.stdout.write(prime_text)
        for piece in itertools.islice(pieces, len(prime_ids), None):
            sys.stdout.write(piece)
            if sys.stdout.isatty():
                sys.stdout.flush()
            out_text.append(piece)
        text = "".join(out_text)
        sys.stdout.write(_line_end(text))
        sys.stdout.flush()
        return [text]
    outputs: list[list[int]] = [[] for _ in range(cfg.num)]
    for step in steps:
        for sample_ids, tok in zip(outputs, step):
            if tok is not None:
                sample_ids.append(tok)
    texts = [prime_text + "".join(itertools.islice(tokenizer.render(prime_ids + ids), len(prime_ids), None)) for ids in outputs]
    if paths:
        for path, text in zip(paths, texts):
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, (text + _line_end(text)).encode("utf-8"))
            warn(f"wrote {path}")
    else:
        for i, text in enumerate(texts, 1):
            sys.stdout.write(f"--- sample {i} ---\n{text}{_line_end(text)}")
        sys.stdout.flush()
    return texts


def evaluate_run(run_path: Path, split: str, file: Path | None, encoding: str | None, weights: str, device_name: str,
                 options=None, log: Log = lambda msg: None) -> dict:
    """Likelihood of a run on a dataset split or a text file, as a JSON-ready report.

    With `options` (a `seqgen.evaluation.EvalOptions`), also baselines and generation figures.
    """
    if split not in ("train", "val", "test"):
        raise UsageError(f"--split must be train, val or test, not {split!r}")
    run, tokenizer, device, model = _load_for_use(run_path, weights, device_name)
    tcfg = run.train_config
    if file is not None:
        if not Path(file).is_file():
            raise UsageError(f"no such file: {file}")
        ids, unknown = tokenizer.encode_file(Path(file), encoding)
        data, label = np.asarray(ids, dtype=np.int64), str(file)
    else:
        ds_path = Path(run.config.get("dataset_path", ""))
        if not (ds_path / "meta.json").is_file():
            raise RunError(f"the run's dataset {ds_path} is gone", "evaluate a text file with --file instead")
        ds = Dataset.open(ds_path)
        _check_same_vocab(ds, run, "it was replaced since training; evaluate a text file with --file instead")
        data, label = ds.split(split), f"{split} split"
        unk = tokenizer.vocab.id_of("unk")
        unknown = int((data == unk).sum()) if unk is not None else 0
    if len(data) < 2:
        raise InputError(f"the {label} has fewer than 2 tokens to score", "evaluate on more text")
    result = score_ids(model, data, tcfg.batch, tcfg.seq_len, device)
    assert result is not None
    total = len(data) + (unknown if tokenizer.vocab.id_of("unk") is None else 0)
    report = {
        "run": str(run_path),
        "data": label,
        "level": run.dataset_meta.get("level"),
        "tokens": result.tokens,
        "unknown": unknown,
        "unknown_rate": unknown / total if total else 0.0,
        "nats_per_token": result.nats,
        "bits_per_token": result.bits,
        "perplexity": result.perplexity,
        "weights": WEIGHTS[weights],
        "weights_sha256": run.config["digests"][WEIGHTS[weights]],
        "seqgen_version": __version__,
    }
    if options is not None:
        from seqgen.evaluation.report import extend_report

        report.update(extend_report(run, model, tokenizer, data, result, options, device, log))
    return report
