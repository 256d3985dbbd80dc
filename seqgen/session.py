"""The verbs' work, between the CLI (which parses and prints) and the modules (which know one thing each)."""

from __future__ import annotations

import itertools
import sys
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from seqgen import __version__
from seqgen.architectures import for_dataset, for_run, load_model_from
from seqgen.config import SampleConfig, TrainConfig, from_dict, to_dict
from seqgen.data.dataset import Dataset, check_inputs_outside, check_output_folder, check_split_fractions
from seqgen.data.pairs import PairSplit, PairsReport, pair_sources, prepare_pairs, tsv_pairs
from seqgen.data.text import read_text_chunks
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


def prepare_pairs_from(specs: list[str], out: Path, of: str, source: Path | None, target: Path | None, level: str | None,
                       source_level: str | None, target_level: str | None, val: float | None, test: float | None, force: bool,
                       shared_vocab: bool, lowercase: bool, min_freq: int, max_vocab: int | None, max_length: int, count: int,
                       digits: int, tracks: list[str] | None, segment_bars: int, steps_per_quarter: int,
                       transpose: str | None = None) -> PairsReport:
    """`seqgen prepare --pairs …`: text pairs (TSV, two aligned files, built-in tasks) or melody -> chords from music."""
    from seqgen.data.generated import DEFAULT_COUNT, DEFAULT_HELD_OUT

    generated = any(not Path(s).exists() for s in specs)  # built-in tasks hold out 5,000 pairs each by default
    held_out = DEFAULT_HELD_OUT / DEFAULT_COUNT if generated else 0.05
    val, test = held_out if val is None else val, held_out if test is None else test
    check_split_fractions(val, test)
    report = PairsReport()
    if of == "melody:chords":
        from seqgen.music.harmony import prepare_harmony
        from seqgen.music.prepare import parse_transpose

        return prepare_harmony(specs, Path(out), report, val, test, force, tracks, segment_bars, steps_per_quarter, max_length,
                               parse_transpose(transpose))
    if transpose is not None:
        raise UsageError("--transpose is for music pairs", "pass --pairs melody:chords, or leave --transpose out")
    if level not in (None, "char", "word"):
        raise UsageError(f"--level {level} is not a level of text pairs", "use --level char or word, or --source-level/--target-level")
    check_inputs_outside(out, [Path(p) for p in [*specs, source, target] if p is not None and Path(p).exists()])
    pairs = pair_sources(specs, source, target, report, count, val, test, digits)
    return prepare_pairs(pairs, Path(out), report, source_level or level or "char", target_level or level or "char", val, test, force,
                         shared_vocab, lowercase, min_freq, max_vocab, max_length)


def _silent(msg: str) -> None:
    """The log of every rank but rank 0 under torchrun."""


def start_training(dataset_path: Path, out: Path, model_options: dict, train_options: dict, force: bool, log: Log, bar: bool) -> TrainResult:
    """A new run: the dataset decides the kind of model; the options are those given on the command line."""
    arch, ds = for_dataset(Path(dataset_path))
    tcfg = TrainConfig(**{**arch.train_defaults, **train_options})
    tcfg.check()
    arch.refuse_unused(train_options, f"{dataset_path}, a {ds.meta['kind']} dataset")
    mcfg = arch.settings(ds, model_options, f"{dataset_path}, a {ds.meta['kind']} dataset")
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


def _vocabularies(meta: dict) -> tuple:
    """What must not change between a dataset and a run trained on it: the level and every vocabulary."""
    sides = tuple(meta[side]["vocab"] for side in ("source", "target") if side in meta)
    return meta.get("level"), meta.get("vocab"), sides


def _check_same_vocab(ds: Dataset, run, hint: str) -> None:
    if _vocabularies(ds.meta) != _vocabularies(run.dataset_meta) or ds.meta.get("grid") != run.dataset_meta.get("grid"):
        raise RunError(f"the dataset {ds.path} has a different vocabulary than the run {run.path}", hint)


def _load_for_use(run_path: Path, weights: str, device_name: str) -> tuple[Run, torch.device, torch.nn.Module]:
    """What sample and eval start from: the run folder, the device, and the weights asked for."""
    if weights not in WEIGHTS:
        raise UsageError(f"--weights must be best or last, not {weights!r}")
    run = open_run(run_path)
    device = resolve_device(device_name)
    return run, device, load_model_from(run, WEIGHTS[weights], device)


@dataclass
class PairsOptions:
    """`sample` options of encoder-decoder runs."""

    input: str | None = None  # one input per line
    input_file: Path | None = None  # one input per line; '-' for stdin
    length_penalty: float = 1.0  # beam search: scores divided by length ** this
    max_length: int | None = None  # longest output in tokens (default: twice the longest training target, at least 20)
    input_midi: Path | None = None  # melody -> chords runs: harmonize this MIDI file or score
    chord_program: int = 0  # General MIDI program of the chord track

    def given(self) -> list[str]:
        return [n for n, on in (("--input", self.input is not None), ("--input-file", self.input_file is not None),
                                ("--length-penalty", self.length_penalty != 1.0), ("--max-length", self.max_length is not None),
                                ("--input-midi", self.input_midi is not None), ("--chord-program", self.chord_program != 0)) if on]


def _input_lines(opts: PairsOptions) -> list[str]:
    """The inputs, one per line: --input, --input-file, or standard input when it is not a terminal."""
    if opts.input is not None and opts.input_file is not None:
        raise UsageError("give --input or --input-file, not both")
    if opts.input is not None:
        return opts.input.split("\n")
    if opts.input_file is not None and str(opts.input_file) != "-":
        if not Path(opts.input_file).is_file():
            raise UsageError(f"no such file: {opts.input_file}")
        text = "".join(read_text_chunks(Path(opts.input_file)))
    elif opts.input_file is not None or not sys.stdin.isatty():
        text = sys.stdin.read()
    else:
        raise UsageError("an encoder-decoder needs inputs", "give --input TEXT, --input-file FILE, or pipe lines in")
    lines = text.split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def sample_pairs(run: Run, model: torch.nn.Module, device: torch.device, cfg: SampleConfig, opts: PairsOptions,
                 out: Path | None, force: bool, warn: Log) -> list[str]:
    """One output line per input line, in order (`cfg.num` lines per input with --num); greedy unless sampling or
    beam search is asked for."""
    from seqgen.data.pairs import Side
    from seqgen.models.translate import translate

    if cfg.greedy is None:  # neither --greedy nor a sampling option: an encoder-decoder's best guess
        cfg.greedy = cfg.beam is None
    cfg.check()
    if out is not None and Path(out).exists() and not force:
        raise UsageError(f"{out} already exists", "pass --force to overwrite it, or choose another --out")
    source, target = Side.from_meta(run.dataset_meta["source"]), Side.from_meta(run.dataset_meta["target"])
    harmony = run.dataset_meta.get("harmony")
    if (opts.input_midi is not None or opts.chord_program != 0) and harmony is None:
        raise UsageError(f"--input-midi and --chord-program are for melody -> chords runs; {run.path} is not one")
    if opts.input_midi is not None:
        return _harmonize(model, device, cfg, opts, source, target, harmony, out, warn)
    lines = _input_lines(opts)
    encoded = [source.encode(line) for line in lines]
    unknown = sum(u for _, u in encoded)
    if unknown:
        warn(f"warning: {unknown} input token(s) are not in the source vocabulary and read as <unk>")
    max_length = opts.max_length or max(20, 2 * int(run.dataset_meta.get("stats", {}).get("max_target", 0) or 50))
    outputs = translate(model, [ids for ids, _ in encoded], cfg, device, max_length, opts.length_penalty)
    texts = [target.decode(ids) if line.strip() else "" for line, hyps in zip(lines, outputs) for ids in hyps]
    body = "".join(t.replace("\n", " ") + "\n" for t in texts)
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(Path(out), body.encode("utf-8"))
        warn(f"wrote {out} ({len(texts):,} lines)")
    else:
        sys.stdout.write(body)
        sys.stdout.flush()
    return texts


def _harmonize(model, device, cfg: SampleConfig, opts: PairsOptions, source, target, harmony: dict, out: Path | None, warn: Log) -> list[str]:
    """A melody (MIDI file or score) -> one chord per beat -> the melody and a chord track as MIDI (or the chords as text)."""
    from seqgen.models.translate import translate
    from seqgen.music.harmony import NO_CHORD, harmonized_song, melody_segments, segment_beats
    from seqgen.music.midi_io import song_to_midi_bytes
    from seqgen.music.tokens import read_songs

    if not Path(opts.input_midi).is_file():
        raise UsageError(f"no such file: {opts.input_midi}")
    if out is not None and Path(out).suffix.lower() not in (".mid", ".midi"):
        raise UsageError(f"--out {out} must be a MIDI file (.mid) for a harmonized melody")
    spq, bars = int(harmony["steps_per_quarter"]), int(harmony["segment_bars"])
    song = read_songs(Path(opts.input_midi))[0]
    piece, segments = melody_segments(song, spq, bars)
    encoded = [source.encode(" ".join(tokens)) for tokens in segments]
    if sum(u for _, u in encoded):
        warn(f"warning: {sum(u for _, u in encoded)} melody token(s) are not in the run's vocabulary and read as <unk>")
    beats = [segment_beats(tokens, spq) for tokens in segments]
    outputs = translate(model, [ids for ids, _ in encoded], cfg, device, opts.max_length or max(beats) + 1, opts.length_penalty)
    # one chord per beat: a shorter output holds its last chord to the segment's end, a longer one is cut
    chords = [(c + [c[-1] if c else NO_CHORD] * n)[:n] for c, n in zip((target.decode(h[0]).split() for h in outputs), beats)]
    texts = [" ".join(c) for c in chords]
    if out is None:
        sys.stdout.write("".join(t + "\n" for t in texts))
        return texts
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(Path(out), song_to_midi_bytes(harmonized_song(song, chords, piece, spq, bars, opts.chord_program)))
    warn(f"wrote {out} ({len(segments)} segment(s) of {bars} bars harmonized, {sum(len(c) for c in chords)} beats)")
    return texts


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
               weights: str, device_name: str, force: bool, warn: Log, music=None, pairs: PairsOptions | None = None) -> list[str]:
    """Generate text; streams one sample to stdout, or writes files with --out. Returns the texts."""
    pairs = pairs or PairsOptions()
    if open_run(run_path).arch == "seq2seq":
        given = [name for name, on in (("--prime", prime is not None), ("--prime-file", prime_file is not None), ("--stop-at-eos", cfg.stop_at_eos)) if on]
        given += music.given() if music is not None else []
        if given:
            raise UsageError(f"{given[0]} is for language models; {run_path} is an encoder-decoder (give --input or --input-file)")
        run, device, model = _load_for_use(run_path, weights, device_name)
        return sample_pairs(run, model, device, cfg, pairs, out, force, warn)
    if pairs.given():
        raise UsageError(f"{pairs.given()[0]} is for encoder-decoder runs; {run_path} is a language model (give --prime)")
    if cfg.greedy is None:
        cfg.greedy = False
    cfg.check()
    if prime is not None and prime_file is not None:
        raise UsageError("give --prime or --prime-file, not both")
    if prime_file is not None and not Path(prime_file).is_file():
        raise UsageError(f"no such file: {prime_file}")
    paths = _output_paths(Path(out), cfg.num) if out else []
    existing = [p for p in paths if p.exists()]
    if existing and not force:
        raise UsageError(f"{existing[0]} already exists", "pass --force to overwrite it, or choose another --out")
    run, device, model = _load_for_use(run_path, weights, device_name)
    if run.arch == "frames":
        from seqgen.music.frames_sample import sample_frames

        return sample_frames(model, run.dataset_meta, cfg, music, prime, prime_file, paths, device, warn)
    tokenizer = tokenizer_from_meta(run.dataset_meta)
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


def _evaluate_pairs(run: Run, model: torch.nn.Module, device: torch.device, split: str, file: Path | None, weights: str,
                    options, log: Log) -> dict:
    """eval for an encoder-decoder: the target likelihood, BLEU, chrF, exact match (chord accuracy), baselines."""
    from seqgen.data.pairs import PairsDataset, Side
    from seqgen.evaluation.pairs import PairsEvalOptions, evaluate_pairs
    from seqgen.evaluation.report import provenance, vocab_digest

    opts = PairsEvalOptions(beam=getattr(options, "beam", None), length_penalty=getattr(options, "length_penalty", 1.0),
                            max_length=getattr(options, "max_length", None), seed=getattr(options, "seed", 1234))
    source, target = Side.from_meta(run.dataset_meta["source"]), Side.from_meta(run.dataset_meta["target"])
    ds_path = Path(run.config.get("dataset_path", ""))
    ds = PairsDataset.open(ds_path) if (ds_path / "meta.json").is_file() else None
    if ds is not None and _vocabularies(ds.meta) != _vocabularies(run.dataset_meta):
        ds = None
    if file is not None:
        if not Path(file).is_file():
            raise UsageError(f"no such file: {file}")
        data, label = _pairs_of_file(Path(file), source, target), str(file)
    else:
        if ds is None:
            raise RunError(f"the run's dataset {ds_path} is gone or changed", "evaluate a TSV file of pairs with --file instead")
        data, label = ds.split(split), f"{split} split"
    if len(data) == 0:
        raise InputError(f"the {label} holds no pairs", "evaluate another split or a file")
    harmony = run.dataset_meta.get("harmony")  # melody -> chords runs: chord accuracy and the most-frequent-chord baseline
    if harmony is not None:  # the transposed copies (prepare --transpose) end the training split
        harmony = {**harmony, "copies": run.dataset_meta.get("stats", {}).get("transposed", 0)}
    unk = target.vocab.index["<unk>"]
    unknown = int((np.asarray(data.tgt) == unk).sum())
    figures = evaluate_pairs(model, data, source, target, opts, device, harmony, ds.split("train") if ds is not None else None, log)
    return {
        "run": str(run.path), "data": label, "level": run.dataset_meta.get("level"), "kind": "pairs",
        **figures, "unknown": unknown, "unknown_rate": unknown / max(1, len(data.tgt)),
        "weights": weights, "weights_sha256": run.config["digests"][weights], "seqgen_version": __version__,
        "provenance": provenance(run, device, opts.seed, ds_path, vocab_digest([source.vocab.to_meta(), target.vocab.to_meta()])),
    }


def _pairs_of_file(path: Path, source, target) -> PairSplit:
    """A TSV file of pairs, as ids in the run's vocabularies (unknown tokens as <unk>)."""
    pairs = list(tsv_pairs(path, PairsReport()))
    if not pairs:
        raise InputError(f"{path} holds no pairs (source<TAB>target per line)")
    src = [source.encode(s)[0] for s, _, _ in pairs]
    tgt = [target.encode(t)[0] for _, t, _ in pairs]
    offsets = lambda seqs: np.concatenate([[0], np.cumsum([len(x) for x in seqs])]).astype(np.int64)  # noqa: E731
    flat = lambda seqs: np.asarray([i for x in seqs for i in x], dtype=np.int64)  # noqa: E731
    return PairSplit(flat(src), offsets(src), flat(tgt), offsets(tgt))


def evaluate_run(run_path: Path, split: str, file: Path | None, encoding: str | None, weights: str, device_name: str,
                 options=None, log: Log = lambda msg: None) -> dict:
    """Likelihood of a run on a dataset split or a text file, as a JSON-ready report.

    With `options` (a `seqgen.evaluation.EvalOptions`), also baselines and generation figures.
    """
    if split not in ("train", "val", "test"):
        raise UsageError(f"--split must be train, val or test, not {split!r}")
    run, device, model = _load_for_use(run_path, weights, device_name)
    if run.arch == "seq2seq":
        return _evaluate_pairs(run, model, device, split, file, WEIGHTS[weights], options, log)
    if run.arch == "frames":
        return _evaluate_frames(run, model, device, split, file, WEIGHTS[weights], options)
    tokenizer = tokenizer_from_meta(run.dataset_meta)
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


def _evaluate_frames(run: Run, model: torch.nn.Module, device: torch.device, split: str, file: Path | None, weights: str, options) -> dict:
    """A frames run: NLL per frame on a split beside the marginal and repeat baselines (seqgen.evaluation.frames)."""
    from seqgen.data.frames import FramesDataset
    from seqgen.evaluation.frames import frames_report

    if file is not None:
        raise UsageError("--file does not apply to a frames run", "evaluate a split of its dataset: --split val or --split test")
    if options is not None and (options.bleu or options.ngram != 5):
        raise UsageError(f"{'--bleu' if options.bleu else '--ngram'} does not apply to a frames run",
                         "its baselines are per-key frequencies and the repeated previous frame")
    ds_path = Path(run.config.get("dataset_path", ""))
    if not (ds_path / "meta.json").is_file():
        raise RunError(f"the run's dataset {ds_path} is gone", "prepare it again at that path")
    ds = FramesDataset.open(ds_path)
    _check_same_vocab(ds, run, "it was replaced since training; prepare the run's own data again")
    return frames_report(run, model, ds, split, device, weights, getattr(options, "seed", 1234))
