"""The vocabulary: tokens in id order plus the special tokens' roles. Shared by text and music."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from seqgen.errors import RunError


@dataclass
class Vocabulary:
    tokens: list[str]  # token strings in id order
    specials: dict[str, str] = field(default_factory=dict)  # role ("unk", "eos", "bos") -> token

    def __post_init__(self) -> None:
        self.index = {tok: i for i, tok in enumerate(self.tokens)}
        if len(self.index) != len(self.tokens):
            raise RunError("the vocabulary lists a token twice; the dataset or run is corrupt")
        for role, tok in self.specials.items():
            if tok not in self.index:
                raise RunError(f"the vocabulary lacks its {role} token {tok!r}; the dataset or run is corrupt")

    def __len__(self) -> int:
        return len(self.tokens)

    def id_of(self, role: str) -> int | None:
        """Id of a special token by role, or None when this vocabulary has none."""
        tok = self.specials.get(role)
        return None if tok is None else self.index[tok]

    @property
    def dtype(self) -> np.dtype:
        """Smallest unsigned type that holds every id (DESIGN.md: uint16 when it fits)."""
        return np.dtype("<u2") if len(self.tokens) <= 1 << 16 else np.dtype("<u4")

    def to_meta(self) -> dict:
        return {"tokens": list(self.tokens), "specials": dict(self.specials)}

    @classmethod
    def from_meta(cls, data: dict) -> "Vocabulary":
        try:
            return cls(list(data["tokens"]), dict(data.get("specials", {})))
        except (KeyError, TypeError):
            raise RunError("the vocabulary in meta.json is malformed") from None
