"""Text in and out: reading files safely, and the char and word tokenizers.

Char level works on Unicode code points (never bytes), vectorised with numpy so a large corpus
is read in chunks at tens of MB/s. Word level splits words from punctuation and ends every line
with <eos>; rare words become <unk>.
"""

from __future__ import annotations

import codecs
import re
from collections import Counter
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from seqgen.data.tokenizers import Tokenizer
from seqgen.data.vocab import Vocabulary
from seqgen.errors import InputError, UsageError

CHUNK_CHARS = 1 << 22  # 4 Mi characters per read: memory stays flat in the corpus size
UNK, EOS = "<unk>", "<eos>"

_BOMS = [
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
]


def sniff_encoding(path: Path, encoding: str | None) -> str:
    """The encoding to read with: the user's, else the byte-order mark's, else UTF-8."""
    if encoding:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise UsageError(f"unknown --encoding {encoding!r}", "try utf-8, latin-1 or cp1252") from None
        return encoding
    with open(path, "rb") as fh:
        head = fh.read(4)
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    return "utf-8"


def read_text_chunks(path: Path, encoding: str | None = None) -> Iterator[str]:
    """Yield a file's text in chunks, line ends normalised to '\\n'; clear errors for binary or mis-encoded files."""
    enc = sniff_encoding(path, encoding)
    try:
        with open(path, encoding=enc, newline=None) as fh:
            while True:
                try:
                    chunk = fh.read(CHUNK_CHARS)
                except UnicodeDecodeError as exc:
                    bad = exc.object[exc.start : exc.start + 1].hex()
                    raise InputError(
                        f"{path} is not valid {enc} text (byte 0x{bad} cannot be decoded)",
                        "pass --encoding with the file's encoding, e.g. --encoding latin-1",
                    ) from None
                if not chunk:
                    return
                if "\x00" in chunk:
                    raise InputError(
                        f"{path} looks like a binary file (it contains NUL bytes)",
                        "pass text files; for UTF-16 without a byte-order mark, pass --encoding utf-16-le",
                    )
                yield chunk
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None


class TextTokenizer(Tokenizer):
    """What the text levels share: files are read as text."""

    kind = "text"

    def encode_file(self, path: Path, encoding: str | None = None) -> tuple[list[int], int]:
        return self.encode_text("".join(read_text_chunks(path, encoding)))


# ---------------------------------------------------------------- characters


class CharTokenizer(TextTokenizer):
    """One token per Unicode code point, as char-rnn does (but never splitting a character's bytes)."""

    level = "char"

    def __init__(self, vocab: Vocabulary, settings: dict | None = None):
        super().__init__(vocab, settings)
        self._lut = np.full(0x110000, -1, dtype=np.int64)  # code point -> id, -1 when unknown
        for i, tok in enumerate(vocab.tokens):
            self._lut[ord(tok)] = i

    @staticmethod
    def code_points(text: str) -> np.ndarray:
        return np.frombuffer(text.encode("utf-32-le"), dtype="<u4")

    @classmethod
    def fit(cls, chunks: Iterable[str]) -> "CharTokenizer":
        seen: set[int] = set()
        for chunk in chunks:
            seen.update(np.unique(cls.code_points(chunk)).tolist())
        return cls(Vocabulary([chr(c) for c in sorted(seen)]))

    def encode_array(self, text: str) -> tuple[np.ndarray, int]:
        ids = self._lut[self.code_points(text)]
        known = ids >= 0
        return ids[known], int(len(ids) - known.sum())

    def encode_text(self, text: str) -> tuple[list[int], int]:
        ids, unknown = self.encode_array(text)
        return ids.tolist(), unknown

    def start_ids(self) -> list[int]:
        return [self.vocab.index["\n"]] if "\n" in self.vocab.index else [0]

    def render(self, ids: Iterable[int]) -> Iterator[str]:
        tokens = self.vocab.tokens
        for i in ids:
            yield tokens[i]


# ---------------------------------------------------------------- words

_WORD = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")
_NO_SPACE_BEFORE = set(".,;:!?)]}%'’”»…")
_NO_SPACE_AFTER = set("([{¿¡“«")


class WordSpacer:
    """Spaces words as prose: none before closing punctuation or after opening punctuation, none at a line start."""

    def __init__(self) -> None:
        self.glue_next = True

    def __call__(self, word: str) -> str:
        glue = self.glue_next or word in _NO_SPACE_BEFORE
        self.glue_next = word in _NO_SPACE_AFTER
        return word if glue else " " + word


def join_words(words: Iterable[str]) -> str:
    """A line's words as prose."""
    spacer = WordSpacer()
    return "".join(spacer(w) for w in words)


def split_words(line: str, lowercase: bool = False) -> list[str]:
    return _WORD.findall(line.lower() if lowercase else line)


def text_to_words(text: str, lowercase: bool = False) -> list[str]:
    """Token strings of a text: the words of each line, then <eos> (for a final line too)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    out: list[str] = []
    for line in lines:
        out.extend(split_words(line, lowercase))
        out.append(EOS)
    return out


class WordTokenizer(TextTokenizer):
    """Words and punctuation marks as tokens, <eos> at each line end, rare words as <unk>."""

    level = "word"

    def words(self, text: str) -> list[str]:
        return text_to_words(text, bool(self.settings.get("lowercase")))

    @classmethod
    def fit(cls, counts: Counter, min_freq: int = 1, max_vocab: int | None = None, lowercase: bool = False) -> "WordTokenizer":
        """Vocabulary from training-split counts: most frequent first, ties alphabetical."""
        specials = [UNK, EOS]
        ranked = sorted(
            (w for w, c in counts.items() if c >= min_freq and w not in specials), key=lambda w: (-counts[w], w)
        )
        if max_vocab is not None:
            ranked = ranked[: max(0, max_vocab - len(specials))]
        vocab = Vocabulary(specials + ranked, {"unk": UNK, "eos": EOS})
        return cls(vocab, {"lowercase": lowercase, "min_freq": min_freq, "max_vocab": max_vocab})

    def ids_of(self, words: list[str]) -> tuple[np.ndarray, int]:
        index, unk = self.vocab.index, self.vocab.index[UNK]
        ids = np.fromiter((index.get(w, unk) for w in words), dtype=np.int64, count=len(words))
        return ids, int((ids == unk).sum())

    def encode_text(self, text: str) -> tuple[list[int], int]:
        words = self.words(text)
        if words and words[-1] == EOS and not text.endswith("\n"):
            words.pop()  # a primer without a final newline continues its last line
        ids, unknown = self.ids_of(words)
        return ids.tolist(), unknown

    def start_ids(self) -> list[int]:
        return [self.vocab.index[EOS]]

    def render(self, ids: Iterable[int]) -> Iterator[str]:
        tokens = self.vocab.tokens
        spacer = WordSpacer()
        for i in ids:
            tok = tokens[i]
            if tok == EOS:
                spacer = WordSpacer()
                yield "\n"
            else:
                yield spacer(tok)
