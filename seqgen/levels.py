"""Every token level seqgen knows, by the name a dataset's meta.json records.

The one place that maps a level to its tokenizer class. It sits above the modules that define them, so the
tokenizer interface (`seqgen.data.tokenizers`) knows none of its implementations and nothing imports in a cycle.
"""

from __future__ import annotations

from seqgen.data.subword import SubwordTokenizer
from seqgen.data.text import CharTokenizer, WordTokenizer
from seqgen.data.tokenizers import Tokenizer
from seqgen.data.vocab import Vocabulary
from seqgen.errors import RunError
from seqgen.music.tokens import MelodyTokenizer, NotesTokenizer
from seqgen.music.voices import VoicesTokenizer

TOKENIZERS: dict[str, type[Tokenizer]] = {cls.level: cls for cls in (CharTokenizer, WordTokenizer, SubwordTokenizer, MelodyTokenizer, NotesTokenizer, VoicesTokenizer)}


def tokenizer_from_meta(meta: dict) -> Tokenizer:
    """Rebuild the tokenizer a dataset or run was made with, from its meta.json alone."""
    level = meta.get("level")
    if level not in TOKENIZERS:
        raise RunError(f"unknown token level {level!r} in meta.json; was it made by a newer seqgen?")
    return TOKENIZERS[level](Vocabulary.from_meta(meta["vocab"]), meta.get("tokenizer", {}))
