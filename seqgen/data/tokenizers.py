"""The one small interface every tokenizer meets, and the registry that finds one by level.

Everything between tokenizing and decoding (dataset, model, training, sampling, evaluation)
sees only ids; a Tokenizer is the only thing that knows what a token means.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Callable, Iterable, Iterator

from seqgen.errors import RunError
from seqgen.data.vocab import Vocabulary


class Tokenizer(ABC):
    kind: str = ""  # "text" or "music"
    level: str = ""  # registry key, e.g. "char", "word", "melody", "notes"

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

    def encode_file(self, path: Path, encoding: str | None = None) -> tuple[list[int], int]:
        """Ids of a file to evaluate or prime with: a text file here; music tokenizers read MIDI and scores."""
        from seqgen.data.text import read_text_chunks

        return self.encode_text("".join(read_text_chunks(path, encoding)))

    def to_meta(self) -> dict:
        return {"kind": self.kind, "level": self.level, "settings": self.settings}


REGISTRY: dict[str, Callable[[Vocabulary, dict], Tokenizer]] = {}


def register(cls: type[Tokenizer]) -> type[Tokenizer]:
    REGISTRY[cls.level] = cls
    return cls


def tokenizer_from_meta(meta: dict) -> Tokenizer:
    """Rebuild the tokenizer a dataset or run was made with, from its meta.json alone."""
    import seqgen.data.text  # noqa: F401  (registers char and word)

    try:
        import seqgen.music.tokens  # noqa: F401  (registers the music levels when present)
    except ImportError:
        pass
    level = meta.get("level")
    if level not in REGISTRY:
        raise RunError(f"unknown token level {level!r} in meta.json; was it made by a newer seqgen?")
    return REGISTRY[level](Vocabulary.from_meta(meta["vocab"]), meta.get("tokenizer", {}))
