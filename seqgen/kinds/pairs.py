"""Pairs for an encoder-decoder: a source and the target it should become (answer, translate), from TSV files, two
line-aligned files or a built-in task; and melody -> chords, the same model harmonizing a tune from MIDI files.

Both make a pairs dataset (`seqgen.data.pairs`) that the encoder-decoder (`seq2seq`) trains on; `sample` answers
one input per line, and `eval` decodes a split's sources and scores the outputs (BLEU, chrF, exact match; chord
accuracy beside the most-frequent-chord baseline for melody -> chords).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from seqgen import __version__
from seqgen.config import ATTENTIONS
from seqgen.errors import InputError, RunError, UsageError
from seqgen.kinds.base import WEIGHTS, Kind, Log, Option, Values, in_panel, load_model, refuse_existing, sample_config, vocabularies, write_text
from seqgen.kinds.common import EVAL_NAMES, PREPARE_NAMES

if TYPE_CHECKING:
    from seqgen.config import SampleConfig
    from seqgen.data.pairs import PairSplit, PairsReport, Side
    from seqgen.evaluation.pairs import Decoded
    from seqgen.training.checkpoint import Run

SIDE_LEVELS = ("char", "word", "subword", "tokens")  # seqgen.data.pairs.SIDE_LEVELS, without loading numpy for --help

PREPARE = in_panel(
    "Encoder–decoder",
    Option("pairs", choices=("text", "melody:chords"), help="Make (source, target) pairs for an encoder-decoder: text (TSV lines source<TAB>target; --pairs alone means this) or melody:chords (music: a melody track and its chords, one chord per beat)."),
    Option("source", Path, help="Pairs: the source side, one per line (with --target, line-aligned)."),
    Option("target", Path, help="Pairs: the target side, line i pairs with line i of --source."),
    Option("source_level", choices=SIDE_LEVELS, help="Pairs: how the source side is cut into tokens.",
           default_help="--level, else subword for files and char for built-in tasks"),
    Option("target_level", choices=SIDE_LEVELS, help="Pairs: how the target side is cut into tokens.",
           default_help="--level, else subword for files and char for built-in tasks"),
    Option("shared_vocab", bool, flags=("--shared-vocab/--separate-vocab",), default_help="subword: shared; char and word: separate",
           help="Pairs: one vocabulary for both sides (needs the same level on both). A shared subword model cuts a name, an option or a "
                "placeholder the same way on both sides, so the decoder can copy it piece by piece (Sennrich et al. 2016's joint BPE)."),
    Option("max_length", int, 200, "Pairs: a pair with a side longer than this many tokens is skipped and counted.", min=1, max=10_000),
    Option("count", int, 60_000, "Built-in pair tasks (addition, dates): distinct pairs to generate, all splits together.", min=10),
    Option("digits", int, 3, "Built-in task addition: digits per operand.", min=1, max=30),
)
TRAIN = in_panel(
    "Encoder–decoder",
    Option("bidirectional", bool, flags=("--bidirectional/--no-bidirectional",), help="Pairs: the encoder reads the source both ways."),
    Option("attention", choices=ATTENTIONS, help="Pairs: bahdanau (additive), luong (general, input feeding), peek (no attention; the "
                                                 "source's summary read at every step, Cho et al. 2014), beats (melody -> chords: each chord reads "
                                                 "the encoder's state at its beat's mark) or none (the summary as the first state only).",
           default_help="luong; melody -> chords: beats"),
    Option("teacher_forcing", float, min=0.0, max=1.0, help="Pairs: share of decoder inputs taken from the reference in training; below 1, scheduled sampling."),
)
SAMPLE = in_panel(
    "Encoder–decoder",
    Option("input", help="Encoder-decoder runs: the input to answer, translate or harmonize (one per line)."),
    Option("input_file", Path, help="Encoder-decoder runs: inputs, one per line ('-': standard input, as when neither is given)."),
    Option("length_penalty", float, 1.0, "Beam search: a hypothesis's log-probability is divided by its length to this power.", min=0.0, max=10.0),
    MAX_OUTPUT := Option("max_length", int, min=1, max=10_000, help="Encoder-decoder runs: longest output in tokens.",
                         default_help="for a source of n tokens, ceil(a·n + b) + 1, the line fitted on the training pairs and <eos>"),
)
EVAL = in_panel(
    "Encoder–decoder",
    Option("length_penalty", float, 1.0, "--beam: a hypothesis's log-probability is divided by its length to this power, as in `sample`.", min=0.0, max=10.0),
    MAX_OUTPUT,
    Option("outputs", Path, help="Also write the decoded outputs to this file, one line per pair in order: what `sample --input-file` prints "
                                 "for the same sources."),
)
# what an encoder-decoder's `sample` uses of the common options: its decoding, never a primer
SAMPLE_TAKES = frozenset(("run", "temperature", "top_k", "top_p", "greedy", "num", "seed", "out", "weights", "device", "threads", "force", "beam"))


class PairsKind(Kind):
    name = "pairs"
    noun, article = "encoder-decoder", "an"
    model = "seq2seq"
    levels = ("char", "word", "subword")
    level_help = ("char, word or subword for both sides of text pairs (default: subword for files, the level that translates best in "
                  "benchmarks/seq2seq.md; char for the built-in tasks; --source-level and --target-level set one side)")
    options = {"prepare": PREPARE, "train": TRAIN, "sample": SAMPLE, "eval": EVAL}
    takes = {
        "prepare": PREPARE_NAMES | {"encoding", "lowercase", "min_freq", "max_vocab"},
        "sample": SAMPLE_TAKES,
        "eval": EVAL_NAMES,
    }
    hints = {"sample": "give --input or --input-file; --max-length caps an output's tokens",
             "eval": "an encoder-decoder's eval always decodes the split and scores it: BLEU, chrF, exact match"}
    ask = "pass --pairs, or --source and --target"

    def owns(self, meta: dict) -> bool:
        return meta.get("kind") == "pairs" and "harmony" not in meta

    def claims(self, sources: list[str], o: Values) -> bool:
        from seqgen.data import corpora

        if o.pairs is not None or o.source is not None or o.target is not None or o.kind == "pairs":
            return True
        # a built-in pair task (addition, dates) needs no --pairs
        task = any(not Path(s).exists() and (c := corpora.find(s)) is not None and c.kind == "pairs" for s in sources)
        return o.kind is None and task

    def prepare(self, sources: list[str], o: Values) -> PairsReport:
        """Text pairs: TSV files, two line-aligned files (--source/--target) or a built-in task."""
        from seqgen.data.dataset import check_inputs_outside
        from seqgen.data.pairs import PairsReport, pair_sources, prepare_pairs

        val, test = self.fractions(sources, o)
        if o.level not in (None, *self.levels):
            raise UsageError(f"--level {o.level} is not a level of text pairs", "use --level char, word or subword, or --source-level/--target-level")
        check_inputs_outside(o.out, [Path(p) for p in [*sources, o.source, o.target] if p is not None and Path(p).exists()])
        report = PairsReport()
        pairs = pair_sources(sources, o.source, o.target, report, o.count, val, test, o.digits, encoding=o.encoding)
        generated = any(not Path(s).exists() for s in sources)  # addition, dates: strings of characters
        level = o.level or ("char" if generated else "subword")
        source_level, target_level = o.source_level or level, o.target_level or level
        shared = o.shared_vocab if o.shared_vocab is not None else source_level == target_level == "subword"
        return prepare_pairs(pairs, Path(o.out), report, source_level, target_level, val, test, o.force,
                             shared, o.lowercase, o.min_freq, o.max_vocab, o.max_length)

    @staticmethod
    def fractions(sources: list[str], o: Values) -> tuple[float, float]:
        """--val and --test; built-in tasks hold out 5,000 pairs each by default, the rest 5%."""
        from seqgen.data.dataset import check_split_fractions
        from seqgen.data.generated import DEFAULT_COUNT, DEFAULT_HELD_OUT

        generated = any(not Path(s).exists() for s in sources)
        held_out = DEFAULT_HELD_OUT / DEFAULT_COUNT if generated else 0.05
        val, test = held_out if o.val is None else o.val, held_out if o.test is None else o.test
        check_split_fractions(val, test)
        return val, test

    def summary(self, report: PairsReport, seconds: float) -> list:
        table = Table(title=f"pairs dataset {report.out} ({seconds:.1f} s)", show_header=False)
        table.add_row("lines read", f"{report.lines:,}")
        for reason, n in report.skipped.most_common():
            table.add_row(f"skipped: {reason}", f"{n:,}" + (f" (first: {report.examples[reason]})" if report.examples.get(reason) else ""))
        if report.duplicates:
            table.add_row("duplicate pairs (kept once)", f"{report.duplicates:,}")
        table.add_row("pairs", ", ".join(f"{report.pairs.get(s, 0):,} {s}" for s in ("train", "val", "test")))
        if report.transposed:
            table.add_row("transposed copies", f"{report.transposed:,} (in train)")
        for split in ("train", "val", "test"):
            tokens = report.tokens.get(split, {})
            table.add_row(f"{split} tokens", f"{tokens.get('source', 0):,} source, {tokens.get('target', 0):,} target")
        table.add_row("levels (source > target)", report.levels)
        if report.subword:
            table.add_row("subword", report.subword)
        table.add_row("vocabulary", f"{report.vocab_sizes['source']:,} source, {report.vocab_sizes['target']:,} target")
        unknown = sum(report.unknown.get(s, 0) for s in ("val", "test"))
        if unknown:
            table.add_row("held-out target tokens outside the vocabulary", f"{unknown:,} (read as <unk>)")
        return [table]

    def sample(self, run: Run, o: Values, warn: Log) -> list[str]:
        """Greedy unless sampling or beam search is asked for; --out is checked before the network loads."""
        cfg = sample_config(o, greedy=True)
        cfg.check()
        refuse_existing([o.out] if o.out is not None else [], o.force)
        device, model = load_model(run, o.weights, o.device)
        return self.answer(run, model, device, cfg, o, warn)

    def output_lengths(self, run: Run, sources: list[list[int]]) -> list[int] | None:
        """How many ids each source's output holds, when the kind knows it from the source alone (None: the decoder
        ends where it writes <eos>, within the length cap)."""
        return None

    def as_source(self, run: Run, line: str) -> str:
        """An input line as the run's sources were written (pairs of text: as given)."""
        return line

    def answer(self, run: Run, model: Any, device: Any, cfg: SampleConfig, o: Values, warn: Log) -> list[str]:
        """One output line per input line, in order (--num lines per input)."""
        source, _ = sides(run)
        lines = _input_lines(o)
        encoded = [source.encode(self.as_source(run, line)) for line in lines]
        unknown = sum(u for _, u in encoded)
        if unknown:
            warn(f"warning: {unknown} input token(s) are not in the source vocabulary and read as <unk>")
        ids = [ids for ids, _ in encoded]
        decoded = decode(run, model, device, ids, cfg, o.max_length, o.length_penalty, warn, self.output_lengths(run, ids))
        texts = [text if line.strip() else "" for line, text in zip((line for line in lines for _ in range(cfg.num)), decoded.texts)]
        body = _lines(texts)
        if o.out is not None:
            write_text(Path(o.out), body)
            warn(f"wrote {o.out} ({len(texts):,} lines)")
        else:
            sys.stdout.write(body)
            sys.stdout.flush()
        return texts

    def evaluate(self, run: Run, o: Values, log: Log) -> dict:
        """The target likelihood; outputs decoded as `sample` decodes them, scored against the references as written
        (BLEU, chrF, exact match, chord accuracy); the baselines."""
        import numpy as np

        from seqgen.config import SampleConfig
        from seqgen.data.pairs import PairsDataset
        from seqgen.evaluation.pairs import evaluate_pairs
        from seqgen.evaluation.report import provenance, vocab_digest
        from seqgen.models.translate import BATCH

        refuse_existing([o.outputs] if o.outputs is not None else [], o.force)
        device, model = load_model(run, o.weights, o.device)
        source, target = sides(run)
        ds_path = Path(run.config.get("dataset_path", ""))
        ds = PairsDataset.open(ds_path) if (ds_path / "meta.json").is_file() else None
        if ds is not None and vocabularies(ds.meta) != vocabularies(run.dataset_meta):
            ds = None
        if o.file is not None:
            if not Path(o.file).is_file():
                raise UsageError(f"no such file: {o.file}")
            data, texts, label = *_pairs_of_file(Path(o.file), source, target, o.encoding), str(o.file)
            references = "text"
        else:
            if ds is None:
                raise RunError(f"the run's dataset {ds_path} is gone or changed", "evaluate a TSV file of pairs with --file instead")
            split = o.split or "val"
            data, label = ds.split(split), f"{split} split"
            sources, refs = ds.texts(split, "src"), ds.texts(split, "tgt")
            texts, references = (sources, refs), "text"
            if sources is None or refs is None:
                log(f"warning: {ds_path} was prepared before seqgen kept the pairs' text: references are rebuilt from token ids "
                    "(unknown words read <unk>, spacing remade), which flatters BLEU; run `seqgen prepare` again")
                texts, references = None, "rebuilt from token ids"
        if len(data) == 0:
            raise InputError(f"the {label} holds no pairs", "evaluate another split or a file")
        cfg = SampleConfig(greedy=o.beam is None, beam=o.beam, seed=o.seed)  # what `sample` does without decoding options
        if texts is not None:
            log(f"decoding {len(data):,} inputs ({_method(cfg)}) …")
            ids = [source.encode(t)[0] for t in texts[0]]
            decoded = decode(run, model, device, ids, cfg, o.max_length, o.length_penalty, log, self.output_lengths(run, ids))
            sources, refs = texts
        else:  # an old dataset: its ids are all there is
            ids = [data.source(i).astype(np.int64).tolist() for i in range(len(data))]
            decoded = decode(run, model, device, ids, cfg, o.max_length, o.length_penalty, log, self.output_lengths(run, ids))
            sources, refs = [source.decode(x) for x in ids], [target.decode(data.target(i)) for i in range(len(data))]
        if o.outputs is not None:
            write_text(Path(o.outputs), _lines(decoded.texts))
        harmony = run.dataset_meta.get("harmony")  # melody -> chords runs: chord accuracy and the most-frequent-chord baseline
        train = _training_texts(ds, source, target, run.dataset_meta) if harmony is not None and ds is not None else None
        unk = target.vocab.index["<unk>"]
        unknown = int((np.asarray(data.tgt) == unk).sum())
        figures = evaluate_pairs(model, data, decoded, sources, refs, target.level, BATCH, device, harmony, train)
        weights = WEIGHTS[o.weights]
        return {
            "run": str(run.path), "data": label, "level": run.dataset_meta.get("level"), "kind": "pairs", "references": references,
            **figures, "unknown": unknown, "unknown_rate": unknown / max(1, len(data.tgt)),
            "weights": weights, "weights_sha256": run.config["digests"][weights], "seqgen_version": __version__,
            "provenance": provenance(run, device, cfg.seed, ds_path, vocab_digest([source.vocab.to_meta(), target.vocab.to_meta()])),
        }


def decode(run: Run, model: Any, device: Any, sources: list[list[int]], cfg: SampleConfig, max_length: int | None,
           length_penalty: float, warn: Log, lengths: list[int] | None = None) -> Decoded:
    """The one decoding of an encoder-decoder, for `sample` and `eval` alike: each output capped at `max_length`
    tokens, or by default at the length the training pairs allow a source of its length (`length_cap`), never from
    the references of what is decoded."""
    from seqgen.data.pairs import length_cap
    from seqgen.evaluation.pairs import Decoded
    from seqgen.models.seq2seq import EOS
    from seqgen.models.translate import translate

    _, target = sides(run)
    meta = run.dataset_meta
    trained = int(meta.get("stats", {}).get("max_length") or 0)
    if trained and (longer := sum(1 for ids in sources if len(ids) > trained)):
        warn(f"warning: {longer} input(s) are longer than the {trained} tokens a training source could have (prepare --max-length); "
             "expect worse outputs for them")
    if lengths is None:
        caps = [max_length or length_cap(meta, len(ids)) for ids in sources]
    else:  # outputs of a known length (`PairsKind.output_lengths`): the decoder may end neither before nor after it
        caps = [max_length or n + 1 for n in lengths]
    outputs = translate(model, sources, cfg, device, caps, length_penalty, exact_length=lengths)
    fitted = meta.get("stats", {}).get("length_cap") if max_length is None and lengths is None else None
    settings = {"method": _method(cfg).split()[0], "beam": cfg.beam, "length_penalty": length_penalty,
                "max_length": None if fitted or (lengths is not None and not max_length) else max_length or (caps[0] if caps else None),
                "length_cap": fitted, **({"length_from_source": True} if lengths is not None else {})}
    return Decoded([target.decode(ids) for hyps in outputs for ids in hyps], [not ids or ids[-1] != EOS for hyps in outputs for ids in hyps],
                   [len(ids) for ids in sources for _ in range(cfg.num)], settings)


def _lines(texts: list[str]) -> str:
    """Outputs as `sample` prints them: one line each (a line break inside one would shift every later line)."""
    return "".join(t.replace("\n", " ") + "\n" for t in texts)


def _method(cfg: SampleConfig) -> str:
    return f"beam {cfg.beam}" if cfg.beam else "greedy" if cfg.greedy else "sampling"


def _training_texts(ds: Any, source: Side, target: Side, meta: dict) -> tuple[list[str], list[str]]:
    """The training pairs as written, without the transposed copies (prepare --transpose) that end the split."""
    originals = meta["splits"]["train"] - meta.get("stats", {}).get("transposed", 0)
    sources, targets = ds.texts("train", "src"), ds.texts("train", "tgt")
    if sources is None or targets is None:
        train = ds.split("train")
        sources = [source.decode(train.source(i)) for i in range(originals)]
        targets = [target.decode(train.target(i)) for i in range(originals)]
    return sources[:originals], targets[:originals]


def sides(run: Run) -> tuple[Side, Side]:
    from seqgen.data.pairs import Side

    return Side.from_meta(run.dataset_meta["source"]), Side.from_meta(run.dataset_meta["target"])


def _input_lines(o: Values) -> list[str]:
    """The inputs, one per line: --input, --input-file, or standard input when it is not a terminal."""
    from seqgen.data.text import read_text_chunks

    if o.input is not None and o.input_file is not None:
        raise UsageError("give --input or --input-file, not both")
    if o.input is not None:
        return o.input.split("\n")
    if o.input_file is not None and str(o.input_file) != "-":
        if not Path(o.input_file).is_file():
            raise UsageError(f"no such file: {o.input_file}")
        text = "".join(read_text_chunks(Path(o.input_file)))
    elif o.input_file is not None or not sys.stdin.isatty():
        text = sys.stdin.read()
    else:
        raise UsageError("an encoder-decoder needs inputs", "give --input TEXT, --input-file FILE, or pipe lines in")
    lines = text.split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def _pairs_of_file(path: Path, source: Side, target: Side, encoding: str | None) -> tuple[PairSplit, tuple[list[str], list[str]]]:
    """A TSV file of pairs: as ids in the run's vocabularies (unknown tokens as <unk>), for the likelihood, and as
    written, for decoding and scoring."""
    import numpy as np

    from seqgen.data.pairs import PairSplit, PairsReport, tsv_pairs

    pairs = list(tsv_pairs(path, PairsReport(), encoding))
    if not pairs:
        raise InputError(f"{path} holds no pairs (source<TAB>target per line)")
    src = [source.encode(s)[0] for s, _, _ in pairs]
    tgt = [target.encode(t)[0] for _, t, _ in pairs]
    offsets = lambda seqs: np.concatenate([[0], np.cumsum([len(x) for x in seqs])]).astype(np.int64)  # noqa: E731
    flat = lambda seqs: np.asarray([i for x in seqs for i in x], dtype=np.int64)  # noqa: E731
    return PairSplit(flat(src), offsets(src), flat(tgt), offsets(tgt)), ([s for s, _, _ in pairs], [t for _, t, _ in pairs])


def attention_map(run_dir: Path, text: str, out: Path) -> dict:
    """An encoder-decoder's attention while it answers `text` (greedy), drawn as a PNG: output tokens down, source across."""
    import torch

    from seqgen.architectures import load_model_from
    from seqgen.config import SampleConfig
    from seqgen.data.pairs import length_cap
    from seqgen.evaluation.plot import draw_attention
    from seqgen.models.translate import attention_weights, translate
    from seqgen.training.checkpoint import open_run

    run = open_run(run_dir)
    if run.arch != "seq2seq" or run.model_config.attention in ("none", "peek"):
        raise UsageError(f"--attention needs an encoder-decoder run with attention; {run_dir} has none")
    source, target = sides(run)
    model = load_model_from(run, device="cpu")
    ids, _ = source.encode(text)
    if not ids:
        raise UsageError("--input is empty")
    output = translate(model, [ids], SampleConfig(greedy=True), torch.device("cpu"), max_length=length_cap(run.dataset_meta, len(ids)))[0][0]
    weights = attention_weights(model, ids, output)  # (len(output), len(ids))
    labels = lambda side, seq: [side.vocab.tokens[i] if side.vocab.tokens[i] != " " else "␣" for i in seq]  # noqa: E731
    title = f"{run.model_config.attention} attention: {text[:40]} → {target.decode(output)[:40]}"
    draw_attention(weights, labels(source, ids), labels(target, output), title, out)
    return {"out": str(out), "output": target.decode(output), "weights": weights.tolist()}


PAIRS = PairsKind()
