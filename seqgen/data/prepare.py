"""`seqgen prepare` for text: sources -> tokens -> a dataset folder (train/val/test splits).

Each distinct text is read once, by its SHA-256: a copy, a symbolic link or a file named twice is skipped and
listed, keeping the first in reading order (sorted within a folder), so the same text never lands in two splits.
"""

from __future__ import annotations

import hashlib
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from seqgen.data import corpora
from seqgen.data.dataset import DatasetWriter, check_inputs_outside, check_split_fractions, duplicate_reason, split_sizes, write_dataset
from seqgen.data.subword import SubwordTokenizer, lossy_lines
from seqgen.data.text import CharTokenizer, WordTokenizer, read_text_chunks, text_to_words
from seqgen.data.tokenizers import Tokenizer
from seqgen.errors import InputError, UsageError


@dataclass
class TextSource:
    """One input text: a file, or text already in memory (stdin, a corpus Python ships)."""

    name: str
    path: Path | None = None
    text: str | None = None
    encoding: str | None = None
    needs_newline: bool = False  # its text does not end with a line break

    def chunks(self) -> Iterator[str]:
        if self.text is not None:
            yield self.text
        else:
            assert self.path is not None
            yield from read_text_chunks(self.path, self.encoding)


@dataclass
class PrepareReport:
    """What prepare did, for the summary table and for meta.json."""

    sources: list[dict] = field(default_factory=list)  # name, sha256, characters
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)
    characters: int = 0
    splits: dict[str, int] = field(default_factory=dict)
    unknown: dict[str, int] = field(default_factory=dict)
    vocab_size: int = 0
    out: Path | None = None
    level: str = "char"

    def unk_rate(self) -> float:
        total = sum(self.splits.values())
        return sum(self.unknown.values()) / total if total else 0.0


def collect_text_sources(specs: list[str], glob: str = "*.txt", encoding: str | None = None) -> list[TextSource]:
    """Files, folders (recursively, matching `glob`), '-' for stdin, or built-in corpus names."""
    sources: list[TextSource] = []
    for spec in specs:
        path = Path(spec)
        if spec == "-":
            data = sys.stdin.buffer.read()
            try:
                text = data.decode(encoding or "utf-8")
            except (UnicodeDecodeError, LookupError):
                raise InputError("standard input is not valid UTF-8 text", "pass --encoding with its encoding") from None
            sources.append(TextSource("<stdin>", text=text.replace("\r\n", "\n").replace("\r", "\n")))
        elif path.is_file():
            sources.append(TextSource(str(path), path=path, encoding=encoding))
        elif path.is_dir():
            try:
                if not glob.strip():
                    raise ValueError(glob)
                files = sorted(p for p in path.rglob(glob) if p.is_file())
            except (ValueError, NotImplementedError):  # '' or an absolute pattern
                raise UsageError(f"--glob {glob!r} is not a file pattern", "write e.g. --glob '*.txt'") from None
            if not files:
                raise InputError(f"the folder {path} holds no files matching {glob!r}", "pass --glob to match other names")
            sources.extend(TextSource(str(p), path=p, encoding=encoding) for p in files)
        elif (corpus := corpora.find(spec)) is not None:
            if corpus.kind != "text":
                raise UsageError(f"{spec!r} is a {corpus.kind} corpus", "pass --kind music")
            if corpus.source.startswith("python:"):
                sources.append(TextSource(f"{spec} (built in)", text=corpora.python_docs_text()))
            else:
                sources.append(TextSource(spec, path=corpora.fetch(corpus)))
        else:
            raise UsageError(f"no such file, folder or built-in corpus: {spec}", "`seqgen corpora` lists the built-in corpora")
    return sources


def _scan(sources: list[TextSource], explicit: set[str], report: PrepareReport) -> list[TextSource]:
    """First pass: checksum and count each source; files found in folders that cannot be read, and repeats, are skipped."""
    good = []
    seen: dict[str, str] = {}  # sha256 -> the source kept
    for src in sources:
        digest, chars, last = hashlib.sha256(), 0, "\n"
        try:
            for chunk in src.chunks():
                digest.update(chunk.encode("utf-8"))
                chars += len(chunk)
                last = chunk[-1]
        except InputError as exc:
            if src.name in explicit:
                raise
            report.skipped.append((src.name, exc.message))
            continue
        if chars == 0:
            report.skipped.append((src.name, "empty"))
            continue
        if reason := duplicate_reason(seen, digest.hexdigest(), src.name):
            report.skipped.append((src.name, reason))
            continue
        src.needs_newline = last != "\n"
        report.sources.append({"name": src.name, "sha256": digest.hexdigest(), "characters": chars})
        report.characters += chars
        good.append(src)
    if not good:
        reasons = "; ".join(f"{n}: {r}" for n, r in report.skipped[:3])
        raise InputError(f"no usable text in the input ({reasons or 'nothing given'})", "pass non-empty UTF-8 text files")
    return good


def _source_texts(sources: list[TextSource]) -> Iterator[str]:
    for src in sources:
        yield from src.chunks()
        if src.needs_newline:
            yield "\n"  # never glue the last line of one file to the first of the next


def _write_splits(writer: DatasetWriter, ids_chunks: Iterator[np.ndarray], sizes: dict[str, int]) -> None:
    """Route a stream of id arrays into contiguous train, val and test splits."""
    bounds = [("train", sizes["train"]), ("val", sizes["train"] + sizes["val"]), ("test", sum(sizes.values()))]
    pos = 0
    for ids in ids_chunks:
        start = 0
        while start < len(ids):
            split, end_pos = next((s, b) for s, b in bounds if pos < b)
            take = min(len(ids) - start, end_pos - pos)
            writer.write(split, ids[start : start + take])
            start, pos = start + take, pos + take


def prepare_text(
    specs: list[str],
    out: Path,
    level: str = "char",
    val: float = 0.05,
    test: float = 0.05,
    force: bool = False,
    glob: str = "*.txt",
    encoding: str | None = None,
    lowercase: bool = False,
    min_freq: int = 1,
    max_vocab: int | None = None,
) -> PrepareReport:
    check_split_fractions(val, test)
    if level not in ("char", "word", "subword"):
        raise UsageError(f"--level must be char, word or subword for text, not {level!r}")
    if min_freq < 1:
        raise UsageError(f"--min-freq must be at least 1, got {min_freq}")
    if max_vocab is not None and max_vocab < 3:
        raise UsageError(f"--max-vocab must be at least 3, got {max_vocab}")
    report = PrepareReport(out=Path(out), level=level)
    sources = collect_text_sources(specs, glob, encoding)
    explicit = {s for s in specs if Path(s).is_file() or s == "-"} | {"<stdin>"}
    check_inputs_outside(out, (src.path for src in sources if src.path is not None))
    sources = _scan(sources, explicit, report)

    tokenizer: Tokenizer
    extra_files: dict[str, bytes] = {}
    lossy = None
    if level == "char":
        tokenizer = CharTokenizer.fit(_source_texts(sources))
        total = report.characters + sum(1 for s in sources if s.needs_newline)
        sizes = split_sizes(total, val, test)
        ids_stream = (tokenizer.encode_array(chunk)[0] for chunk in _source_texts(sources))
    elif level == "subword":  # split by characters, as the char level; the model learns from the training split only
        text = "".join(_source_texts(sources))
        bounds = np.cumsum([0, *split_sizes(len(text), val, test).values()])
        parts = [text[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        tokenizer = SubwordTokenizer.learn(parts[0], max_vocab, lowercase)
        encoded = [tokenizer.encode_array(part) for part in parts]
        sizes = {name: len(ids) for name, ids in zip(("train", "val", "test"), encoded)}
        ids_stream = iter(encoded)
        extra_files = {"subword.model": tokenizer.model.proto}
        lossy = lossy_lines(text.split("\n"))
    else:
        words = text_to_words("".join(_source_texts(sources)), lowercase)
        sizes = split_sizes(len(words), val, test)
        word_tokenizer = WordTokenizer.fit(Counter(words[: sizes["train"]]), min_freq, max_vocab, lowercase)
        tokenizer = word_tokenizer
        ids, _ = word_tokenizer.ids_of(words)
        unk = tokenizer.vocab.id_of("unk")
        cut = np.cumsum([sizes["train"], sizes["val"]])
        for name, part in zip(("train", "val", "test"), np.split(ids, cut)):
            report.unknown[name] = int((part == unk).sum())
        ids_stream = iter([ids])

    visible = [t for t in tokenizer.vocab.tokens if not t.isspace()]
    if level == "char" and len(visible) < 2:
        what = f"only one distinct character ({visible[0]!r}) besides whitespace" if visible else "only whitespace"
        raise InputError(f"the input holds {what}; there is nothing to learn", "pass more varied text")
    if len(tokenizer.vocab) - len(tokenizer.vocab.specials) < 2:
        raise InputError(
            f"the corpus has only {len(tokenizer.vocab) - len(tokenizer.vocab.specials)} distinct token(s); there is nothing to learn",
            "pass more varied text",
        )
    if sizes["train"] < 2:
        raise InputError(f"the corpus is too small: {sum(sizes.values())} tokens", "pass more text or lower --val/--test")

    stats = {"characters": report.characters, "unknown": report.unknown, **({"subword_lossy_lines": lossy} if lossy is not None else {})}

    def fill(writer: DatasetWriter) -> None:
        _write_splits(writer, ids_stream, sizes)
        for name, data in extra_files.items():  # the subword model, for sentencepiece's own tools (meta.json carries it too)
            writer.file(name).write(data)

    report.splits = write_dataset(Path(out), tokenizer, force, fill, report.sources, report.skipped, stats)
    report.vocab_size = len(tokenizer.vocab)
    return report
