"""Pairs datasets, for encoder–decoder models: a source sequence and the target sequence it should become.

A pairs folder holds a vocabulary per side (or one shared), and per split the source and target ids as flat
memory-mapped arrays with an offsets index (`train.src.bin` + `train.src.idx`, `train.tgt.bin` + `train.tgt.idx`):
pair i of a split is `src[idx[i]:idx[i + 1]]`. Ids hold the tokens only; the model adds <bos> and <eos>.

Each side is cut into tokens at its own level: `char` (every character, spaces included), `word` (words and
punctuation, as the word level of language models), `subword` (a sentencepiece model learnt from the training
split's text: lossless, never <unk>), or `tokens` (space-separated token strings, what music pairs store). A pair's
split is a fixed threshold on a hash of the pair itself, so adding pairs never moves another.

Beside the ids, each split keeps its pairs' text as it was read (`test.src.txt`, `test.tgt.txt`, one pair per
line): `eval` decodes the sources as `sample` would and scores the outputs against those references, never
against text rebuilt from ids (where an unknown word would read `<unk>` in the reference too). The longest output
worth decoding is a line fitted on the training pairs' lengths (`length_cap`), so decoding never looks at the
references of the split it is scored on.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

import numpy as np

from seqgen.data.dataset import SPLITS, Dataset, FolderWriter, split_of
from seqgen.data.text import join_words, split_words
from seqgen.data.vocab import Vocabulary
from seqgen.errors import InputError, RunError, SeqgenError, UsageError

if TYPE_CHECKING:
    from seqgen.data.subword import Subword

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS = {"pad": PAD, "unk": UNK, "bos": BOS, "eos": EOS}  # ids 0..3 on every side; pad is 0
SIDE_LEVELS = ("char", "word", "subword", "tokens")
MAX_LENGTH = 200  # tokens per side; a longer side is skipped and counted, never cut


@dataclass
class Side:
    """One side of the pairs (source or target): how its text becomes tokens and ids, and back."""

    level: str  # char | word | subword | tokens
    vocab: Vocabulary
    lowercase: bool = False
    subword: Subword | None = None  # the sentencepiece model of a subword side; its ids are the vocabulary's

    def cased(self, text: str) -> str:
        """The text as this side reads it: lowercased with --lowercase, a word and subword setting."""
        return text.lower() if self.lowercase and self.level in ("word", "subword") else text

    def tokens_of(self, text: str) -> list[str]:
        text = self.cased(text)
        if self.level == "char":
            return list(text)
        if self.level == "word":
            return split_words(text)
        if self.level == "subword":
            assert self.subword is not None
            tokens = self.vocab.tokens
            return [tokens[i] for i in self.subword.encode(text)]
        return text.split()

    def text_of(self, tokens: Iterable[str]) -> str:
        """The text that tokens stand for: characters joined, words spaced as prose, subwords decoded, tokens spaced."""
        if self.level == "char":
            return "".join(tokens)
        if self.level == "tokens":
            return " ".join(tokens)
        if self.level == "subword":
            assert self.subword is not None
            return self.subword.decode(self.vocab.index[t] for t in tokens)
        return join_words(tokens)

    def encode(self, text: str) -> tuple[list[int], int]:
        """Ids of a text (no <bos>/<eos>) and how many of its tokens were unknown (read as <unk>)."""
        if self.subword is not None:  # byte fallback: nothing is unknown
            return self.subword.encode(self.cased(text)), 0
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
        meta = {"level": self.level, "lowercase": self.lowercase, "vocab": self.vocab.to_meta()}
        return {**meta, "subword": self.subword.to_meta()} if self.subword is not None else meta

    @classmethod
    def from_meta(cls, data: dict) -> "Side":
        from seqgen.data.subword import Subword

        try:
            subword = Subword.from_meta(data["subword"]) if data.get("subword") else None
            return cls(str(data["level"]), Vocabulary.from_meta(data["vocab"]), bool(data.get("lowercase", False)), subword)
        except (KeyError, TypeError):
            raise RunError("a side of the pairs dataset is malformed in meta.json") from None

    @classmethod
    def learn_subword(cls, texts: Iterable[str], vocab_size: int | None, lowercase: bool = False) -> "Side":
        """A subword side from the training split's texts: sentencepiece ids are the vocabulary's, specials 0..3."""
        from seqgen.data.subword import DEFAULT_VOCAB, Subword

        ids = {role: i for i, role in enumerate(SPECIALS)}
        model = Subword.train((t.lower() if lowercase else t for t in texts), vocab_size or DEFAULT_VOCAB, ids)
        pieces = model.pieces()
        if pieces[: len(SPECIALS)] != list(SPECIALS.values()):
            raise RunError(f"sentencepiece put the special tokens at unexpected ids: {pieces[:4]}")
        return cls("subword", Vocabulary(pieces, dict(SPECIALS)), lowercase, model)

    @classmethod
    def fit(cls, level: str, token_lists: Iterable[list[str]], lowercase: bool = False, min_freq: int = 1, max_vocab: int | None = None) -> "Side":
        """A vocabulary from the training pairs' tokens: the specials, then tokens by frequency (ties in text order)."""
        counts: Counter = Counter()
        for toks in token_lists:
            counts.update(toks)
        if level == "subword":
            raise ValueError("a subword side is learnt from text: Side.learn_subword")
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
    levels: str = ""  # "subword > subword"
    subword: str = ""  # how the subword sides were learnt, for the summary
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
    """Per split: source and target ids, flat, with an offsets index each, and the pairs' text as read."""

    def __init__(self, out: Path, source: Side, target: Side, force: bool = False):
        super().__init__(out, force)
        self.source, self.target = source, target
        self.dtypes = {"src": source.vocab.dtype, "tgt": target.vocab.dtype}
        self.offsets = {(split, side): [0] for split in SPLITS for side in ("src", "tgt")}

    def add(self, split: str, source_ids: list[int], target_ids: list[int], source: str, target: str) -> None:
        for side, ids, text in (("src", source_ids, source), ("tgt", target_ids, target)):
            self.file(f"{split}.{side}.bin").write(np.asarray(ids, dtype=self.dtypes[side]).tobytes())
            self.file(f"{split}.{side}.txt").write((text + "\n").encode("utf-8"))
            offsets = self.offsets[(split, side)]
            offsets.append(offsets[-1] + len(ids))

    def commit(self, meta: dict) -> Path:
        for (split, side), offsets in self.offsets.items():
            self.file(f"{split}.{side}.bin")  # an empty split still has its (empty) files
            self.file(f"{split}.{side}.txt")
            self.file(f"{split}.{side}.idx").write(np.asarray(offsets, dtype="<u8").tobytes())
        shared = self.source.subword is not None and self.source.subword is self.target.subword
        for name, side in (("subword", self.source),) if shared else (("source", self.source), ("target", self.target)):
            if side.subword is not None:  # for sentencepiece's own tools; meta.json carries the same model
                self.file(f"{name}.model").write(side.subword.proto)
        splits = {split: len(self.offsets[(split, "src")]) - 1 for split in SPLITS}
        return super().commit({
            **meta, "kind": "pairs", "source": self.source.to_meta(), "target": self.target.to_meta(),
            "dtypes": {side: dt.str for side, dt in self.dtypes.items()}, "splits": splits, "texts": True,
        })


def fit_length_cap(source_lengths: Iterable[int], target_lengths: Iterable[int]) -> dict:
    """The longest output worth decoding for a source of n tokens, `ceil(slope·n + intercept)`: the least-squares
    slope of target length on source length over the training pairs, raised so that every training pair fits."""
    src = np.asarray(list(source_lengths), dtype=np.float64)
    tgt = np.asarray(list(target_lengths), dtype=np.float64)
    if len(src) == 0:
        return {"slope": 0.0, "intercept": float(MAX_LENGTH)}
    spread = float(((src - src.mean()) ** 2).sum())
    slope = max(0.0, float(((src - src.mean()) * (tgt - tgt.mean())).sum()) / spread) if spread > 0 else 0.0
    return {"slope": round(slope, 4), "intercept": float(np.ceil((tgt - round(slope, 4) * src).max()))}


def length_cap(meta: dict, source_length: int) -> int:
    """The output cap for a source of `source_length` tokens, <eos> included: the dataset's fitted line plus one (a
    target as long as the longest training one still ends with <eos>), or for a dataset prepared before the fit (no
    `length_cap` in meta.json) twice its longest training target, at least 20, as seqgen did then."""
    stats = meta.get("stats", {})
    if "length_cap" in stats:
        line = stats["length_cap"]
        return max(1, math.ceil(line["slope"] * source_length + line["intercept"])) + 1
    return max(20, 2 * int(stats.get("max_target") or 50))


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

    def texts(self, split: str, side: str) -> list[str] | None:
        """The split's pairs' text on one side, as read by prepare; None for a dataset prepared before seqgen kept it."""
        file = self.path / f"{split}.{side}.txt"
        if not self.meta.get("texts") or not file.is_file():
            return None
        lines = file.read_bytes().decode("utf-8").split("\n")[:-1]
        if len(lines) != self.meta["splits"][split]:
            raise RunError(f"{file} has {len(lines):,} lines for {self.meta['splits'][split]:,} pairs", "run `seqgen prepare` again")
        return lines

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
    """Pairs of texts -> split by pair -> subword models from the training split -> tokens -> vocabularies from the
    training split -> a pairs folder. `max_vocab` caps a char or word vocabulary, and sets a subword one's size."""
    for name, level in (("--source-level", source_level), ("--target-level", target_level)):
        if level not in SIDE_LEVELS:
            raise UsageError(f"{name} must be one of {', '.join(SIDE_LEVELS)}, not {level!r}")
    if shared_vocab and source_level != target_level:
        raise UsageError("--shared-vocab needs the same level on both sides", "set --source-level and --target-level alike")
    seen: set[tuple[str, str]] = set()
    chosen: list[tuple[str, str, str, str, bool]] = []  # (split, source, target, where, a transposed copy)
    for source, target, where, *key in pairs:
        split = split_of(key[0] if key else f"{source}\t{target}", val, test)
        copy = len(key) > 1 and bool(key[1])
        if copy and split != "train":
            continue
        if (source, target) in seen:
            report.duplicates += 1
            continue
        seen.add((source, target))
        if "\n" in source or "\n" in target:
            report.skip("a line break inside a side", where)
            continue
        chosen.append((split, source, target, where, copy))
    sides = _subword_sides(chosen, source_level, target_level, shared_vocab, lowercase, max_vocab)
    empty = Vocabulary(list(SPECIALS.values()), dict(SPECIALS))
    cut = {"src": sides.get("src") or Side(source_level, empty, lowercase), "tgt": sides.get("tgt") or Side(target_level, empty, lowercase)}
    kept: list[tuple[str, list[str], list[str], str, str]] = []  # (split, source tokens, target tokens, source, target)
    for split, source, target, where, copy in chosen:
        src_toks, tgt_toks = cut["src"].tokens_of(source), cut["tgt"].tokens_of(target)
        if not src_toks or not tgt_toks:
            report.skip("an empty side", where)
            continue
        if len(src_toks) > max_length or len(tgt_toks) > max_length:
            report.skip(f"a side over --max-length {max_length} tokens", where)
            continue
        report.transposed += copy
        kept.append((split, src_toks, tgt_toks, source, target))
    train = [(s, t) for split, s, t, _, _ in kept if split == "train"]
    if not train:
        raise InputError(f"no usable pairs in the training split ({report.lines:,} lines read)", "pass more pairs or lower --val/--test")
    if shared_vocab and not sides:
        both = Side.fit(source_level, (toks for pair in train for toks in pair), lowercase, min_freq, max_vocab)
        src_side, tgt_side = both, Side(target_level, both.vocab, lowercase)
    else:  # a subword side is already learnt (one model for both when shared); the others count the kept training tokens
        src_side = sides.get("src") or Side.fit(source_level, (s for s, _ in train), lowercase, min_freq, max_vocab)
        tgt_side = sides.get("tgt") or Side.fit(target_level, (t for _, t in train), lowercase, min_freq, max_vocab)
    report.vocab_sizes = {"source": len(src_side.vocab), "target": len(tgt_side.vocab)}
    report.levels = f"{source_level} > {target_level}"
    if sides:
        report.subword = ("one sentencepiece model for both sides (subword.model)" if src_side.subword is tgt_side.subword
                          else "a sentencepiece model per subword side (source.model, target.model)") + ", learnt from the training split"
    report.pairs = {s: 0 for s in SPLITS}
    report.tokens = {s: {"source": 0, "target": 0} for s in SPLITS}
    report.unknown = {s: 0 for s in SPLITS}
    unk = tgt_side.vocab.index[UNK]
    try:
        with PairsWriter(Path(out), src_side, tgt_side, force) as writer:
            for split, src_toks, tgt_toks, source, target in kept:
                src_ids = [src_side.vocab.index.get(t, src_side.vocab.index[UNK]) for t in src_toks]
                tgt_ids = [tgt_side.vocab.index.get(t, unk) for t in tgt_toks]
                writer.add(split, src_ids, tgt_ids, source, target)
                report.pairs[split] += 1
                report.tokens[split]["source"] += len(src_ids)
                report.tokens[split]["target"] += len(tgt_ids)
                report.unknown[split] += sum(1 for i in tgt_ids if i == unk)
            from seqgen.data.subword import lossy_lines

            writer.commit({
                "level": f"{source_level}>{target_level}",
                "sources": report.sources,
                "skipped": [{"reason": r, "lines": n, "first": report.examples.get(r, "")} for r, n in report.skipped.items()],
                "stats": {"lines": report.lines, "duplicates": report.duplicates, "transposed": report.transposed, "tokens": report.tokens, "unknown_targets": report.unknown,
                          "split_fractions": {"val": val, "test": test}, "max_length": max_length,
                          "max_target": max((len(t) for _, _, t, _, _ in kept), default=0),
                          "length_cap": fit_length_cap([len(s) for s, _ in train], [len(t) for _, t in train]),
                          **({"subword_lossy_lines": lossy_lines(x for _, _, _, s, t in kept for x in (s, t))} if sides else {})},
                **(extra_meta or {}),
            })
    except OSError as exc:
        raise SeqgenError(f"cannot write the dataset to {out}: {exc.strerror or exc}", "check free space and permissions") from None
    report.out = Path(out)
    return report


def _subword_sides(chosen: list[tuple[str, str, str, str, bool]], source_level: str, target_level: str, shared: bool,
                   lowercase: bool, vocab_size: int | None) -> dict[str, Side]:
    """The subword sides ("src", "tgt"), learnt from the training split's texts only (one model for both with `shared`)."""
    train = [(source, target) for split, source, target, _, _ in chosen if split == "train"]
    if not train:
        return {}
    if shared and source_level == "subword":
        both = Side.learn_subword((text for pair in train for text in pair), vocab_size, lowercase)
        return {"src": both, "tgt": both}
    sides = {}
    if source_level == "subword":
        sides["src"] = Side.learn_subword((s for s, _ in train), vocab_size, lowercase)
    if target_level == "subword":
        sides["tgt"] = Side.learn_subword((t for _, t in train), vocab_size, lowercase)
    return sides


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
