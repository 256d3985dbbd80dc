"""Subword tokens give back the text they were made from, byte for byte, and never read anything as <unk>."""

from __future__ import annotations

import json

import numpy as np
import pytest

from seqgen.data.corpora import python_docs_text
from seqgen.data.pairs import PairsDataset, Side
from seqgen.data.subword import Subword, SubwordTokenizer, lossy_lines
from seqgen.data.vocab import Vocabulary
from seqgen.errors import UsageError

TRICKY = [
    "nommé %qE",  # gcc's quoted-expression directive, which the word level writes as "nommé% qE"
    "option « %s » inconnue : %<\\%o%> et -fno-x",
    "  two  leading spaces, two  inside and one after ",
    "a\ttab, a form feed\x0c and a vertical tab\x0b",
    "ĉu vi parolas? 中文 🎵 ﬁ (a ligature NFKC would unfold) and a combining e\u0301",
    "%1$s %2$d %(name)s {0} --help -x",
]


@pytest.fixture(scope="module")
def docs():
    """Python's own help texts: real English prose, code, tables and odd spacing, on every machine with Python."""
    lines = python_docs_text().split("\n")
    model = Subword.train(lines[: len(lines) // 2], 1000, {"pad": 0, "unk": 1, "bos": 2, "eos": 3})
    return model, lines


def test_every_line_of_a_real_corpus_comes_back_exactly(docs):
    model, lines = docs
    unseen = lines[len(lines) // 2 :]  # the half the model never saw
    assert len(unseen) > 5000
    for line in [*lines, *TRICKY]:
        ids = model.encode(line)
        assert model.decode(ids) == line
        assert 1 not in ids  # <unk>: the byte fallback spells an unseen character as its UTF-8 bytes
    assert "".join(model.render(model.encode(TRICKY[4]))) == TRICKY[4]  # streamed piece by piece, split characters whole


def test_the_special_tokens_take_the_ids_asked_for_and_bytes_follow(docs):
    model, _ = docs
    pieces = model.pieces()
    assert pieces[:4] == ["<pad>", "<unk>", "<bos>", "<eos>"] and pieces[4] == "<0x00>" and pieces[4 + 255] == "<0xFF>"
    assert len(pieces) == len(set(pieces)) <= 1000


def test_the_one_character_it_cannot_give_back_is_counted():
    model = Subword.train(["a b c", "▁ is how sentencepiece writes a space"] * 20, 300)
    assert model.decode(model.encode("x▁y")) == "x y"
    assert lossy_lines(["fine", "x▁y", "also fine"]) == 1


def test_a_model_travels_in_meta_and_refuses_a_damaged_copy(docs):
    model, _ = docs
    again = Subword.from_meta(json.loads(json.dumps(model.to_meta())))
    assert again.encode(TRICKY[1]) == model.encode(TRICKY[1])
    damaged = {**model.to_meta(), "sha256": "0" * 64}
    with pytest.raises(Exception, match="checksum"):
        Subword.from_meta(damaged)


def test_too_small_a_vocabulary_is_a_usage_error():
    with pytest.raises(UsageError, match="at least"):
        Subword.train(["some text"], 100)


def test_a_pairs_side_at_subword_level_is_lossless_and_learnt_on_the_training_split(cli, tmp_path):
    rows = [(f"file {i} is missing: %s", f"le fichier {i} est absent : %s") for i in range(300)]
    rows += [("unknown option '%qE'", "option « %qE » inconnue"), ("  spaced  out ", "  espacé  ")]
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("".join(f"{s}\t{t}\n" for s, t in rows), encoding="utf-8")
    out = tmp_path / "data"
    res = cli("prepare", tsv, "--pairs", "--level", "subword", "--max-vocab", "400", "--out", out)
    assert res.code == 0, res.err
    ds = PairsDataset.open(out)
    assert ds.source.level == ds.target.level == "subword" and ds.source.vocab.tokens == ds.target.vocab.tokens  # one model, shared
    assert (out / "subword.model").read_bytes() == ds.target.subword.proto
    assert ds.source.tokens_of("unknown option '%qE'") == ds.target.tokens_of("unknown option '%qE'")  # cut alike on both sides
    for split in ("train", "val", "test"):
        texts, pairs = ds.texts(split, "tgt"), ds.split(split)
        assert len(texts) == len(pairs) == ds.meta["splits"][split]
        for i, text in enumerate(texts):
            assert ds.target.decode(pairs.target(i)) == text  # ids and text agree, nothing lost
    assert ds.meta["stats"]["unknown_targets"] == {"train": 0, "val": 0, "test": 0}
    stripped = {t.strip() for _, t in rows}
    assert set(ds.texts("train", "tgt")) | set(ds.texts("val", "tgt")) | set(ds.texts("test", "tgt")) == stripped


def test_separate_subword_models_on_request(cli, tmp_path):
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("".join(f"open file {i}\touvrir le fichier {i}\n" for i in range(200)), encoding="utf-8")
    res = cli("prepare", tsv, "--pairs", "--level", "subword", "--separate-vocab", "--max-vocab", "300", "--out", tmp_path / "data")
    assert res.code == 0, res.err
    ds = PairsDataset.open(tmp_path / "data")
    assert (tmp_path / "data" / "source.model").is_file() and (tmp_path / "data" / "target.model").is_file()
    assert "ouvrir" in "".join(ds.target.vocab.tokens) and "ouvrir" not in "".join(ds.source.vocab.tokens)


def test_sides_of_other_levels_do_not_learn_from_text():
    with pytest.raises(ValueError):
        Side.fit("subword", [["a"]])


def test_a_language_model_at_subword_level(cli, tmp_path):
    text = python_docs_text()[:200_000]
    (tmp_path / "docs.txt").write_text(text, encoding="utf-8")
    out = tmp_path / "data"
    res = cli("prepare", tmp_path / "docs.txt", "--level", "subword", "--max-vocab", "600", "--out", out)
    assert res.code == 0, res.err
    meta = json.loads((out / "meta.json").read_text())
    assert meta["level"] == "subword" and len(meta["vocab"]["tokens"]) <= 600 and (out / "subword.model").is_file()
    assert meta["stats"]["subword_lossy_lines"] == 0
    tokenizer = SubwordTokenizer(Vocabulary.from_meta(meta["vocab"]), meta["tokenizer"])
    ids = np.concatenate([np.fromfile(out / f"{split}.bin", dtype=meta["dtype"]) for split in ("train", "val", "test")])
    assert tokenizer.decode(ids.tolist()) == text + "\n"  # the three splits together are the corpus (ended by a newline), exactly
    run = tmp_path / "run"
    res = cli("train", out, "--out", run, "--max-steps", "3", "--hidden", "16", "--embed", "8", "--layers", "1", "--seq-len", "16",
              "--batch", "4", "--threads", "1", "--quiet")
    assert res.code == 0, res.err
    res = cli("sample", run, "--length", "40", "--seed", "1", "--prime", "def ")
    assert res.code == 0 and res.out.startswith("def ")
    report = json.loads(cli("eval", run, "--split", "val", "--json", "--ngram", "0").out)
    assert report["level"] == "subword" and report["unknown"] == 0
