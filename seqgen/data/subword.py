"""Subword tokens: a sentencepiece model (Kudo & Richardson 2018) trained on the training split only.

Why sentencepiece: it is what the RNN translation toolkits use (OpenNMT, Joey NMT, fairseq, Marian), needs no other
package, keeps its model in one small file, and with the settings below it round-trips raw text: no normalisation
(`identity`), spaces kept as they are (no added prefix, no collapsing), and a byte fallback, so a character it never
saw becomes its UTF-8 bytes instead of `<unk>`. The one thing it cannot give back is the character U+2581 ("▁"),
which it uses to write a space; `prepare` counts the lines that hold it. (Hugging Face `tokenizers`' byte-level BPE
round-trips that too, but brings ten packages with it; measured in benchmarks/seq2seq.md.)

The model's ids are the vocabulary's ids: the special tokens take the ids the caller asks for (a pairs side's
<pad> <unk> <bos> <eos> are 0..3 on every side), then the 256 byte pieces, then the learnt pieces by score. The
serialised model travels inside meta.json (base64), so a run rebuilds its tokenizer from its config alone, and
`prepare` also writes it beside the data as `NAME.model` for sentencepiece's own tools.
"""

from __future__ import annotations

import base64
import codecs
import hashlib
import io
from typing import TYPE_CHECKING, Iterable, Iterator

import numpy as np

from seqgen.data.text import TextTokenizer
from seqgen.data.vocab import Vocabulary
from seqgen.errors import RunError, UsageError

if TYPE_CHECKING:
    from sentencepiece import SentencePieceProcessor

DEFAULT_VOCAB = 1000  # pieces per model, bytes and specials included: the best of 1,000-8,000 (benchmarks/seq2seq.md)
SPACE = "\u2581"  # how sentencepiece writes a space inside a piece
TRAIN_LINE = 4000  # characters: longer lines are cut for training (sentencepiece skips lines over ~4 KB)
SPECIAL_ROLES = ("pad", "unk", "bos", "eos")


def _processor(proto: bytes) -> SentencePieceProcessor:
    from sentencepiece import SentencePieceProcessor

    return SentencePieceProcessor(model_proto=proto)


class Subword:
    """A trained sentencepiece model: text <-> ids, losslessly but for U+2581."""

    def __init__(self, proto: bytes):
        self.proto = proto
        self.sp = _processor(proto)
        self._bytes = [self._piece_bytes(i) for i in range(self.sp.get_piece_size())]

    @classmethod
    def train(cls, lines: Iterable[str], vocab_size: int = DEFAULT_VOCAB, specials: dict[str, int] | None = None) -> "Subword":
        """A BPE model of at most `vocab_size` pieces from `lines` (the training split's). `specials` maps the roles
        pad, unk, bos, eos to ids (unk is required; a role left out has no token)."""
        from sentencepiece import SentencePieceTrainer

        specials = dict(specials or {"unk": 0})
        if "unk" not in specials:
            raise ValueError("a subword model needs an unk id")
        ids = {f"{role}_id": specials.get(role, -1) for role in SPECIAL_ROLES}
        pieces = {f"{role}_piece": f"<{role}>" for role in SPECIAL_ROLES}
        minimum = len(specials) + 256 + 2
        if vocab_size < minimum:
            raise UsageError(f"a subword vocabulary needs at least {minimum} pieces (the 256 bytes and the special tokens), not {vocab_size}",
                             f"pass a larger --max-vocab, e.g. {DEFAULT_VOCAB}")
        chunks = (line[i : i + TRAIN_LINE] for line in lines for i in range(0, len(line), TRAIN_LINE))
        buffer = io.BytesIO()
        try:
            SentencePieceTrainer.train(
                sentence_iterator=(c for c in chunks if c.strip()), model_writer=buffer, vocab_size=vocab_size, model_type="bpe",
                byte_fallback=True, normalization_rule_name="identity", remove_extra_whitespaces=False, add_dummy_prefix=False,
                character_coverage=1.0, hard_vocab_limit=False, split_digits=True, allow_whitespace_only_pieces=True,
                num_threads=1, minloglevel=2, **ids, **pieces,
            )
        except RuntimeError as exc:
            raise UsageError(f"sentencepiece could not learn subwords from this text: {exc}", "pass more text or a smaller --max-vocab") from None
        return cls(buffer.getvalue())

    def __len__(self) -> int:
        return self.sp.get_piece_size()

    def pieces(self) -> list[str]:
        return [self.sp.id_to_piece(i) for i in range(len(self))]

    def encode(self, text: str) -> list[int]:
        return self.sp.encode(text)

    def encode_lines(self, lines: list[str]) -> list[list[int]]:
        return self.sp.encode(lines) if lines else []

    def decode(self, ids: Iterable[int]) -> str:
        """The text of ids (a byte sequence that is not UTF-8, which only sampling can make, reads as U+FFFD)."""
        return b"".join(self._bytes[i] for i in ids).decode("utf-8", errors="replace")

    def render(self, ids: Iterable[int]) -> Iterator[str]:
        """Text pieces for a stream of ids, one per id: a character split over byte pieces appears with its last byte."""
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        for i in ids:
            yield decoder.decode(self._bytes[i])

    def _piece_bytes(self, i: int) -> bytes:
        if self.sp.is_byte(i):
            return bytes([int(self.sp.id_to_piece(i)[3:5], 16)])  # "<0x0A>"
        if self.sp.is_control(i) or self.sp.is_unknown(i):
            return b""
        return self.sp.id_to_piece(i).replace(SPACE, " ").encode("utf-8")

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.proto).hexdigest()

    def to_meta(self) -> dict:
        from importlib.metadata import version

        return {"library": "sentencepiece", "version": version("sentencepiece"), "model_type": "bpe", "pieces": len(self),
                "sha256": self.sha256, "model": base64.b64encode(self.proto).decode("ascii")}

    @classmethod
    def from_meta(cls, data: dict) -> "Subword":
        try:
            proto = base64.b64decode(data["model"])
        except (KeyError, TypeError, ValueError):
            raise RunError("the subword model in meta.json is missing or malformed; run `seqgen prepare` again") from None
        if hashlib.sha256(proto).hexdigest() != data.get("sha256"):
            raise RunError("the subword model in meta.json does not match its checksum; run `seqgen prepare` again")
        return cls(proto)


def lossy_lines(lines: Iterable[str]) -> int:
    """Lines a subword model cannot give back exactly: those holding U+2581, which it reads as a space."""
    return sum(1 for line in lines if SPACE in line)


class SubwordTokenizer(TextTokenizer):
    """A language model's subword level: each line's pieces, and the newline as its byte piece between lines."""

    level = "subword"

    def __init__(self, vocab: Vocabulary, settings: dict | None = None):
        super().__init__(vocab, settings)
        self.model = Subword.from_meta(self.settings.get("subword", {}))
        if self.model.pieces() != vocab.tokens:
            raise RunError("the subword model and the vocabulary in meta.json disagree; run `seqgen prepare` again")
        self.newline = self.model.sp.piece_to_id("<0x0A>")

    @classmethod
    def learn(cls, text: str, vocab_size: int | None = None, lowercase: bool = False) -> "SubwordTokenizer":
        """A model of the training text's lines (unk is id 0; no other special token: a line ends with its newline)."""
        model = Subword.train((text.lower() if lowercase else text).split("\n"), vocab_size or DEFAULT_VOCAB, {"unk": 0})
        return cls(Vocabulary(model.pieces(), {"unk": "<unk>"}),
                   {"lowercase": lowercase, "max_vocab": vocab_size or DEFAULT_VOCAB, "subword": model.to_meta()})

    def encode_array(self, text: str) -> np.ndarray:
        if self.settings.get("lowercase"):
            text = text.lower()
        lines = self.model.encode_lines(text.split("\n"))
        out: list[int] = []
        for i, ids in enumerate(lines):
            if i:
                out.append(self.newline)
            out.extend(ids)
        return np.asarray(out, dtype=np.int64)

    def encode_text(self, text: str) -> tuple[list[int], int]:
        return self.encode_array(text).tolist(), 0  # byte fallback: nothing is unknown

    def start_ids(self) -> list[int]:
        return [self.newline]

    def render(self, ids: Iterable[int]) -> Iterator[str]:
        return self.model.render(ids)

    def decode(self, ids: Iterable[int]) -> str:
        return self.model.decode(ids)
