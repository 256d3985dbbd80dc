"""Char and word tokenizers: what goes in comes back out, and odd text is handled."""

import pytest

from seqgen.data.text import CharTokenizer, WordTokenizer, split_words, text_to_words


def test_char_level_uses_code_points_not_bytes():
    text = "naïve café — 東京 🎵\n"
    tok = CharTokenizer.fit([text])
    ids, unknown = tok.encode_text(text)
    assert unknown == 0
    assert len(ids) == len(text)  # one id per character, however many UTF-8 bytes it takes
    assert tok.decode(ids) == text


def test_char_unknown_characters_are_counted_and_dropped():
    tok = CharTokenizer.fit(["abc\n"])
    ids, unknown = tok.encode_text("abXc")
    assert unknown == 1
    assert tok.decode(ids) == "abc"


def test_char_vocabulary_is_sorted_and_starts_from_newline():
    tok = CharTokenizer.fit(["cab\n"])
    assert tok.vocab.tokens == ["\n", "a", "b", "c"]
    assert tok.start_ids() == [0]


@pytest.mark.parametrize(
    "line, words",
    [
        ("Hello, world!", ["Hello", ",", "world", "!"]),
        ("don't stop", ["don't", "stop"]),
        ("  spaced   out  ", ["spaced", "out"]),
        ("café au lait", ["café", "au", "lait"]),
        ("", []),
    ],
)
def test_word_split(line, words):
    assert split_words(line) == words


def test_words_end_each_line_with_eos():
    assert text_to_words("A b.\n\nC\n") == ["A", "b", ".", "<eos>", "<eos>", "C", "<eos>"]
    assert text_to_words("no final newline") == ["no", "final", "newline", "<eos>"]


def test_word_vocabulary_min_freq_max_vocab_and_unk():
    from collections import Counter

    counts = Counter("a a a b b c".split())
    tok = WordTokenizer.fit(counts, min_freq=2)
    assert tok.vocab.tokens == ["<unk>", "<eos>", "a", "b"]
    tok = WordTokenizer.fit(counts, max_vocab=3)
    assert tok.vocab.tokens == ["<unk>", "<eos>", "a"]
    ids, unknown = tok.encode_text("a c b\n")
    assert unknown == 2
    assert tok.decode(ids) == "a <unk> <unk>\n"


def test_word_rendering_glues_punctuation():
    from collections import Counter

    words = text_to_words("Hello , ( world ) !\n")
    tok = WordTokenizer.fit(Counter(words))
    ids, _ = tok.encode_text("Hello, (world)!\nNext line\n".replace("Next line", "Hello"))
    assert tok.decode(ids) == "Hello, (world)!\nHello\n"


def test_word_primer_without_newline_continues_its_line():
    from collections import Counter

    tok = WordTokenizer.fit(Counter(text_to_words("to be or not\n")))
    ids, _ = tok.encode_text("to be")
    assert tok.vocab.tokens[ids[-1]] == "be"
