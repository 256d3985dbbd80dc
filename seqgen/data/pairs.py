"""Pairs datasets, for encoder–decoder models: a source sequence and the target sequence it should become.

A pairs folder holds a vocabulary per side (or one shared), and per split the source and target ids as flat
memory-mapped arrays with an offsets index (`train.src.bin` + `train.src.idx`, `train.tgt.bin` + `train.tgt.idx`):
pair i of a split is `src[idx[i]:idx[i + 1]]`. Ids hold the tokens only; the model adds <bos> and <eos>.

Each side is cut into tokens at its own level: `char` (every character, spaces included), `word` (words and
punctuation, as the word level of language models), or `tokens` (space-separated token strings, what music pairs
store). A pair's split is a fixed threshold on a hash of the pair itself, so adding pairs never moves another.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from seqgen.data.dataset import SPLITS, Dataset, FolderWriter, split_of
from seqgen.data.text import join_words, split_words
from seqgen.data.vocab import Vocabulary
from seqgen.errors import InputError, RunError, SeqgenError, UsageError

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS = {"pad": PAD, "unk": UNK, "bos": BOS, "eos": EOS}  # ids 0..3 on every side; pad is 0
SIDE_LEVELS = ("char", "word", "tokens")
MAX_LENGTH = 200  # tokens per side; a longer side is skipped and counted, never cut


@dataclass
class Side:
    """One side of the pairs (source or target): how its text becomes tokens and ids, and back."""

    level: str  # char | word | tokens
    vocab: Vocabulary
    lowercase: bool = False

    def tokens_of(self, text: str) -> list[str]:
        if self.level == "char":
            return list(text)
        if self.level == "word":
            return split_words(text, self.lowercase)
        return text.split()

    def text_of(self, tokens: Iterable[str]) -> str:
        """The text that tokens stand for: characters joined, words spaced as prose, tokens spaced."""
        if self.level == "char":
            return "".join(tokens)
        if self.level == "tokens":
            return " ".join(tokens)
        return join_words(tokens)

    def encode(self, text: str) -> tuple[list[int], int]:
        """Ids of a text (no <bos>/<eos>) and how many of its tokens were unknown (read as <unk>)."""
        index, unk = self.vocab.index, self.vocab.index[UNK]
        ids = [index.get(tok, unk) for tok in self.tokens_of(text)]
        return ids, sum(1 for i in ids if i == unk)

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ids, stopping at <eos> and leaving out the other special tokens."""
        tokens, eos, skip = self.vocab.tokens, self.vocab.index[EOS], {self.vocab.index[PAD], self.vocab.index[BOS]}
        out = []
        for i in ids:
            if i == eos:
                break
            if i not in skip:
                out.append(tokens[i])
        return self.text_of(out)

    def to_meta(self) -> dict:
        return {"level": self.level, "lowercase": self.lowercase, "vocab": self.vocab.to_meta()}

    @classmethod
    def from_meta(cls, data: dict) -> "Side":
        try:
            return cls(str(data["level"]), Vocabulary.from_meta(data["vocab"]), bool(data.get("lowercase", False)))
        except (KeyError, TypeError):
            raise RunError("a side of the pairs dataset is malformed in meta.json") from None

    @classmethod
    def fit(cls, level: str, token_lists: Iterable[list[str]], lowercase: bool = False, min_freq: int = 1, max_vocab: int | None = None) -> "Side":
        """A vocabulary from the training pairs' tokens: the specials, then tokens by frequency (ties in text order)."""
        counts: Counter = Counter()
        for toks in token_lists:
            counts.update(toks)
        ranked = sorted((t for t, c in counts.items() if c >= min_freq and t not in SPECIALS.values()), key=lambda t: (-counts[t], t))
        if max_vocab is not None:
            ranked = ranked[: max(0, max_vocab - len(SPECIALS))]
        return cls(level, Vocabulary(list(SPECIALS.values()) + ranked, dict(SPECIALS)), lowercase)


# ---------------------------------------------------------------- reading pairs


@dataclass
class PairsReport:
    """What prepare did with the pairs, for the summary table and meta.json."""

    sources: list[dict] = field(default_factory=list)  # name, sha256
    lines: int = 0  # lines read
    skipped: Counter = field(default_factory=Counter)  # reason -> lines
    examples: dict[str, str] = field(default_factory=dict)  # reason -> first line it happened on ("file:12")
    duplicates: int = 0  # pairs seen before (kept once)
    transposed: int = 0  # training pairs that are transposed copies (music pairs, --transpose)
    pairs: dict[str, int] = field(default_factory=dict)  # per split
    tokens: dict[str, dict[str, int]] = field(default_factory=dict)  # per split: source, target
    unknown: dict[str, int] = field(default_factory=dict)  # target-side tokens outside the vocabulary, per split
    vocab_sizes: dict[str, int] = field(default_factory=dict)
    out: Path | None = None

    def skip(self, reason: str, where: str) -> None:
        self.skipped[reason] += 1
        self.examples.setdefault(reason, where)


Pair = tuple[str, str, str]  # (source, target, where it came from: "file:line")
# A pair's split comes from a hash of the pair itself, or of its piece for music (a tune's segments stay together):
# a pair may carry that key as a fourth item, and as a fifth True for a copy (a transposed segment) that is kept
# only where its key falls in the training split, so held-out tunes are never seen moved either.


def tsv_pairs(path: Path, report: PairsReport, encoding: str | None = None) -> Iterator[Pair]:
    """source<TAB>target per line; a line without a tab or with an empty side is skipped and counted."""
    from seqgen.data.text import read_text_chunks

    text = "".join(read_text_chunks(path, encoding))
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        report.lines += 1
        where = f"{path}:{number}"
        if "\t" not in line:
            report.skip("no tab between source and target", where)
            continue
        source, target = line.split("\t", 1)
        if "\t" in target:
            report.skip("more than one tab", where)
            continue
        if not source.strip() or not target.strip():
            report.skip("an empty side", where)
            continue
        yield source.strip(), target.strip(), where


def aligned_pairs(source: Path, target: Path, report: PairsReport, encoding: str | None = None) -> Iterator[Pair]:
    """Line i of `source` with line i of `target`; files of unequal line counts are refused (their pairing is unknown)."""
    from seqgen.data.text import read_text_chunks

    src = "".join(read_text_chunks(source, encoding)).rstrip("\n").split("\n")
    tgt = "".join(read_text_chunks(target, encoding)).rstrip("\n").split("\n")
    if len(src) != len(tgt):
        raise InputError(
            f"{source} has {len(src):,} lines but {target} has {len(tgt):,}; line-aligned files must have as many",
            "check that each source line has its target on the same line number",
        )
    for number, (s, t) in enumerate(zip(src, tgt), 1):
        report.lines += 1
        if not s.strip() and not t.strip():
            report.lines -= 1
            continue
        if not s.strip() or not t.strip():
            report.skip("an empty side", f"{source}:{number}")
            continue
        yield s.strip(), t.strip(), f"{source}:{number}"


# ---------------------------------------------------------------- the dataset folder


class PairsWriter(FolderWriter):
    """Per split: source and target ids, flat, with an offsets index each."""

    def __init__(self, out: Path, source: Side, target: Side, force: bool = False):
        super().__init__(out, force)
        self.source, self.target = source, target
        self.dtypes = {"src": source.vocab.dtype, "tgt": target.vocab.dtype}
        self.offsets = {(split, side): [0] for split in SPLITS for side in ("src", "tgt")}

    def add(self, split: str, source_ids: list[int], target_ids: list[int]) -> None:
        for side, ids in (("src", source_ids), ("tgt", target_ids)):
            self.file(f"{split}.{side}.bin").write(np.asarray(ids, dtype=self.dtypes[side]).tobytes())
            offsets = self.offsets[(split, side)]
            offsets.append(offsets[-1] + len(ids))

    def commit(self, meta: dict) -> Path:
        for (split, side), offsets in self.offsets.items():
            self.file(f"{split}.{side}.bin")  # an empty split still has its (empty) files
            self.file(f"{split}.{side}.idx").write(np.asarray(offsets, dtype="<u8").tobytes())
        splits = {split: len(self.offsets[(split, "src")]) - 1 for split in SPLITS}
        return super().commit({
            **meta, "kind": "pairs", "source": self.source.to_meta(), "target": self.target.to_meta(),
            "dtypes": {side: dt.str for side, dt in self.dtypes.items()}, "splits": splits,
        })


@dataclass
class PairsDataset:
    """A pairs folder, read through memory maps."""

    path: Path
    meta: dict
    source: Side
    target: Side

    @classmethod
    def open(cls, path: Path) -> "PairsDataset":
        path = Path(path)
        meta = Dataset.read_meta(path, "pairs")
        ds = cls(path, meta, Side.from_meta(meta["source"]), Side.from_meta(meta["target"]))
        for split in SPLITS:
            offsets = ds.offsets(split, "src")
            if len(offsets) != meta["splits"][split] + 1 or len(ds.offsets(split, "tgt")) != len(offsets):
                raise RunError(f"{path}'s {split} pairs are incomplete", "run `seqgen prepare` again")
        return ds

    @property
    def vocab(self) -> Vocabulary:
        """The target vocabulary: what the model predicts (and what a resumed run must share)."""
        return self.target.vocab

    def offsets(self, split: str, side: str) -> np.ndarray:
        file = self.path / f"{split}.{side}.idx"
        if not file.is_file():
            raise RunError(f"{file} is missing; the dataset is incomplete", "run `seqgen prepare` again")
        return np.fromfile(file, dtype="<u8").astype(np.int64)

    def ids(self, split: str, side: str) -> np.ndarray:
        if self.meta["splits"][split] == 0 or (self.path / f"{split}.{side}.bin").stat().st_size == 0:
            return np.zeros(0, dtype=self.meta["dtypes"][side])
        return np.memmap(self.path / f"{split}.{side}.bin", dtype=self.meta["dtypes"][side], mode="r")

    def split(self, name: str) -> "PairSplit":
        return PairSplit(self.ids(name, "src"), self.offsets(name, "src"), self.ids(name, "tgt"), self.offsets(name, "tgt"))


@dataclass
class PairSplit:
    """The pairs of one split: `pair(i)` is (source ids, target ids)."""

    src: np.ndarray
    src_offsets: np.ndarray
    tgt: np.ndarray
    tgt_offsets: np.ndarray

    def __len__(self) -> int:
        return len(self.src_offsets) - 1

    def source(self, i: int) -> np.ndarray:
        return self.src[self.src_offsets[i] : self.src_offsets[i + 1]]

    def target(self, i: int) -> np.ndarray:
        return self.tgt[self.tgt_offsets[i] : self.tgt_offsets[i + 1]]

    def lengths(self, side: str) -> np.ndarray:
        offsets = self.src_offsets if side == "src" else self.tgt_offsets
        return np.diff(offsets)


# ---------------------------------------------------------------- prepare


def prepare_pairs(
    pairs: Iterable[tuple[str, ...]],
    out: Path,
    report: PairsReport,
    source_level: str = "char",
    target_level: str = "char",
    val: float = 0.05,
    test: float = 0.05,
    force: bool = False,
    shared_vocab: bool = False,
    lowercase: bool = False,
    min_freq: int = 1,
    max_vocab: int | None = None,
    max_length: int = MAX_LENGTH,
    extra_meta: dict | None = None,
) -> PairsReport:
    """Pairs of texts -> tokens -> split by pair -> vocabularies from the training split -> a pairs folder."""
    for name, level in (("--source-level", source_level), ("--target-level", target_level)):
        if level not in SIDE_LEVELS:
            raise UsageError(f"{name} must be one of {', '.join(SIDE_LEVELS)}, not {level!r}")
    cut = {"src": Side(source_level, Vocabulary(list(SPECIALS.values()), dict(SPECIALS)), lowercase),
           "tgt": Side(target_level, Vocabulary(list(SPECIALS.values()), dict(SPECIALS)), lowercase)}
    seen: set[tuple[str, str]] = set()
    kept: list[tuple[str, list[str], list[str]]] = []  # (split, source tokens, target tokens)
    for source, target, where, *key in pairs:
        split = split_of(key[0] if key else f"{source}\t{target}", val, test)
        copy = len(key) > 1 and bool(key[1])
        if copy and split != "train":
            continue
        if (source, target) in seen:
            report.duplicates += 1
            continue
        seen.add((source, target))
        src_toks, tgt_toks = cut["src"].tokens_of(source), cut["tgt"].tokens_of(target)
        if not src_toks or not tgt_toks:
            report.skip("an empty side", where)
            continue
        if len(src_toks) > max_length or len(tgt_toks) > max_length:
            report.skip(f"a side over --max-length {max_length} tokens", where)
            continue
        report.transposed += copy
        kept.append((split, src_toks, tgt_toks))
    train = [(s, t) for split, s, t in kept if split == "train"]
    if not train:
        raise InputError(f"no usable pairs in the training split ({report.lines:,} lines read)", "pass more pairs or lower --val/--test")
    if shared_vocab:
        if source_level != target_level:
            raise UsageError("--shared-vocab needs the same level on both sides", "set --source-level and --target-level alike")
        both = Side.fit(source_level, (toks for pair in train for toks in pair), lowercase, min_freq, max_vocab)
        src_side, tgt_side = both, Side(target_level, both.vocab, lowercase)
    else:
        src_side = Side.fit(source_level, (s for s, _ in train), lowercase, min_freq, max_vocab)
        tgt_side = Side.fit(target_level, (t for _, t in train), lowercase, min_freq, max_vocab)
    report.vocab_sizes = {"source": len(src_side.vocab), "target": len(tgt_side.vocab)}
    report.pairs = {s: 0 for s in SPLITS}
    report.tokens = {s: {"source": 0, "target": 0} for s in SPLITS}
    report.unknown = {s: 0 for s in SPLITS}
    unk = tgt_side.vocab.index[UNK]
    try:
        with PairsWriter(Path(out), src_side, tgt_side, force) as writer:
            for split, src_toks, tgt_toks in kept:
                src_ids = [src_side.vocab.index.get(t, src_side.vocab.index[UNK]) for t in src_toks]
                tgt_ids = [tgt_side.vocab.index.get(t, unk) for t in tgt_toks]
                writer.add(split, src_ids, tgt_ids)
                report.pairs[split] += 1
                report.tokens[split]["source"] += len(src_ids)
                report.tokens[split]["target"] += len(tgt_ids)
                report.unknown[split] += sum(1 for i in tgt_ids if i == unk)
            writer.commit({
                "level": f"{source_level}>{target_level}",
                "sources": report.sources,
                "skipped": [{"reason": r, "lines": n, "first": report.examples.get(r, "")} for r, n in report.skipped.items()],
                "stats": {"lines": report.lines, "duplicates": report.duplicates, "transposed": report.transposed, "tokens": report.tokens, "unknown_targets": report.unknown,
                          "split_fractions": {"val": val, "test": test}, "max_length": max_length,
                          "max_target": max((len(t) for _, _, t in kept), default=0)},
                **(extra_meta or {}),
            })
    except OSError as exc:
        raise SeqgenError(f"cannot write the dataset to {out}: {exc.strerror or exc}", "check free space and permissions") from None
    report.out = Path(out)
    return report


def pair_sources(specs: list[str], source: Path | None, target: Path | None, report: PairsReport,
                 count: int, val: float, test: float, digits: int, seed: int = 0, encoding: str | None = None) -> Iterator[Pair]:
    """The pairs of the inputs: TSV files, two line-aligned files (--source/--target), or a built-in task; files in
    `encoding` (default: UTF-8, or the byte-order mark's)."""
    from seqgen.data import corpora
    from seqgen.data.generated import generated_pairs
    from seqgen.files import sha256_file

    if (source is None) != (target is None):
        raise UsageError("--source and --target go together", "pass both line-aligned files, or a TSV file of pairs")
    if source is not None and target is not None:
        if specs:
            raise UsageError("give --source/--target or SOURCE files, not both")
        for path in (source, target):
            if not Path(path).is_file():
                raise UsageError(f"no such file: {path}")
            report.sources.append({"name": str(path), "sha256": sha256_file(Path(path))})
        yield from aligned_pairs(Path(source), Path(target), report, encoding)
        return
    if not specs:
        raise UsageError("prepare needs SOURCE files (or --source and --target)", "see `seqgen prepare --help`")
    for spec in specs:
        path = Path(spec)
        if path.is_file():
            report.sources.append({"name": spec, "sha256": sha256_file(path)})
            yield from tsv_pairs(path, report, encoding)
        elif (corpus := corpora.find(spec)) is not None and corpus.kind == "pairs":
            report.sources.append({"name": f"{spec} (generated: count {count}, digits {digits}, seed {seed})", "sha256": None})
            for number, (question, answer) in enumerate(generated_pairs(spec, count, val, test, seed, digits), 1):
                report.lines += 1
                yield question, answer, f"{spec} #{number}"
        elif path.is_dir():
            raise UsageError(f"{spec} is a folder; pairs come from TSV files", "pass the files themselves, or --source and --target")
        else:
            raise UsageError(f"no such file or built-in pair task: {spec}", "`seqgen corpora` lists the built-in tasks")
