"""The one small interface every tokenizer meets.

Everything between tokenizing and decoding (dataset, model, training, sampling, evaluation)
sees only ids; a Tokenizer is the only thing that knows what a token means. This module knows no
tokenizer of its own: `seqgen.levels` maps the level names in meta.json to the classes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Iterable, Iterator

from seqgen.data.vocab import Vocabulary
from seqgen.errors import RunError


class Tokenizer(ABC):
    kind: str = ""  # "text" or "music"
    level: str = ""  # the name meta.json records: "char", "word", "melody", "notes" (seqgen.levels)

    def __init__(self, vocab: Vocabulary, settings: dict | None = None):
        self.vocab = vocab
        self.settings = dict(settings or {})

    @abstractmethod
    def render(self, ids: Iterable[int]) -> Iterator[str]:
        """Text pieces for a stream of ids, one per id (may be empty); lets `sample` stream output."""

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.render(ids))

    def start_ids(self) -> list[int]:
        """What the model reads before generating when there is no primer: the end of one piece and the
        start of the next, because in training (pieces laid end to end) every <bos> follows an <eos>."""
        bos, eos = self.vocab.id_of("bos"), self.vocab.id_of("eos")
        return [i for i in (eos, bos) if i is not None] or [0]

    def encode_text(self, text: str) -> tuple[list[int], int]:
        """Ids for a text (a primer, a file to evaluate) and the number of unknown tokens met."""
        raise RunError(f"{self.level} runs do not read plain text")

    @abstractmethod
    def encode_file(self, path: Path, encoding: str | None = None) -> tuple[list[int], int]:
        """Ids of a file to evaluate or prime with (a text file, a MIDI file or score), and the unknown tokens met."""

    def to_meta(self) -> dict:
        return {"kind": self.kind, "level": self.level, "settings": self.settings}
