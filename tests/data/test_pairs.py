"""Pairs datasets: TSV files, line-aligned files and the built-in tasks become a pairs folder; bad input is one line."""

from __future__ import annotations

import datetime
import json

import numpy as np
import pytest

from seqgen.data.generated import generated_pairs
from seqgen.data.pairs import PairsDataset, Side


def pairs_of(ds: PairsDataset, split: str) -> list[tuple[str, str]]:
    data = ds.split(split)
    return [(ds.source.decode(data.source(i)), ds.target.decode(data.target(i))) for i in range(len(data))]


def test_addition_holds_distinct_sums_in_exact_split_sizes(cli, tmp_path):
    res = cli("prepare", "addition", "--out", tmp_path / "add", "--count", "1200", "--val", "0.1", "--test", "0.1")
    assert res.code == 0, res.err
    ds = PairsDataset.open(tmp_path / "add")
    assert ds.meta["splits"] == {"train": 960, "val": 120, "test": 120}
    seen = {split: pairs_of(ds, split) for split in ("train", "val", "test")}
    everything = [p for pairs in seen.values() for p in pairs]
    assert len(set(everything)) == 1200  # no problem twice, so none in two splits
    for question, answer in everything:
        a, b = question.split("+")
        assert int(a) + int(b) == int(answer) and len(a) <= 3 and len(b) <= 3
    assert "1,200" in res.err and "960 train" in res.err


def test_built_in_tasks_are_generated_the_same_every_time(tmp_path, cli):
    for name in ("one", "two"):
        assert cli("prepare", "dates", "--out", tmp_path / name, "--count", "300").code == 0
    for file in ("train.src.bin", "train.tgt.bin", "test.src.idx", "meta.json"):
        one, two = (tmp_path / n / file for n in ("one", "two"))
        if file == "meta.json":
            assert json.loads(one.read_text())["splits"] == json.loads(two.read_text())["splits"]
        else:
            assert one.read_bytes() == two.read_bytes()


def test_dates_turn_what_people_write_into_iso_dates(cli, tmp_path):
    assert cli("prepare", "dates", "--out", tmp_path / "d", "--count", "500").code == 0
    ds = PairsDataset.open(tmp_path / "d")
    pairs = pairs_of(ds, "train")
    assert all(datetime.date.fromisoformat(iso).isoformat() == iso for _, iso in pairs)
    written = [src for src, _ in pairs]
    assert any("," in w for w in written) and any("/" in w for w in written) and any(w[0].isupper() for w in written)
    assert any(day in " ".join(written) for day in ("Monday", "Tuesday", "Sunday"))  # weekday names from calendar
    assert len({len(w) for w in written}) > 10  # many formats, many lengths
    assert ds.meta["splits"]["test"] == round(500 * 5000 / 60000)  # built-in tasks hold out 5,000 of 60,000 by default


def test_a_pairs_split_depends_on_the_pair_alone(cli, tmp_path):
    lines = [f"source {i}\ttarget {i}" for i in range(400)]
    (tmp_path / "a.tsv").write_text("\n".join(lines[:200]) + "\n")
    (tmp_path / "b.tsv").write_text("\n".join(lines) + "\n")
    for name in ("a", "b"):
        assert cli("prepare", tmp_path / f"{name}.tsv", "--pairs", "--out", tmp_path / f"d{name}", "--val", "0.2", "--test", "0.2").code == 0
    split_of = {}
    for name in ("a", "b"):
        ds = PairsDataset.open(tmp_path / f"d{name}")
        split_of[name] = {pair: split for split in ("train", "val", "test") for pair in pairs_of(ds, split)}
    assert len(split_of["a"]) == 200 and len(split_of["b"]) == 400
    assert all(split_of["b"][pair] == split for pair, split in split_of["a"].items())
    assert set(split_of["a"].values()) == {"train", "val", "test"}


def test_line_aligned_files_and_word_level(cli, tmp_path):
    (tmp_path / "en.txt").write_text("I am cold.\nThe cat sleeps.\nI am here.\n" * 30)
    (tmp_path / "fr.txt").write_text("J'ai froid.\nLe chat dort.\nJe suis là.\n" * 30)
    res = cli("prepare", "--source", tmp_path / "en.txt", "--target", tmp_path / "fr.txt", "--level", "word", "--out", tmp_path / "d", "--val", "0", "--test", "0")
    assert res.code == 0, res.err
    ds = PairsDataset.open(tmp_path / "d")
    assert sorted(set(pairs_of(ds, "train"))) == [("I am cold.", "J'ai froid."), ("I am here.", "Je suis là."), ("The cat sleeps.", "Le chat dort.")]
    assert "duplicate pairs (kept once)" in res.err and "87" in res.err
    assert ds.source.level == ds.target.level == "word" and "froid" in ds.target.vocab.index and "cold" not in ds.target.vocab.index


def test_pairs_in_another_encoding_are_read_with_encoding(cli, tmp_path):
    """A Latin-1 file of pairs: refused as not UTF-8 without --encoding, read with it (both TSV and line-aligned files)."""
    lines = [(f"the house {i}", f"la maison {i} été") for i in range(40)]
    (tmp_path / "p.tsv").write_bytes("".join(f"{en}\t{fr}\n" for en, fr in lines).encode("latin-1"))
    (tmp_path / "en.txt").write_bytes("".join(en + "\n" for en, _ in lines).encode("latin-1"))
    (tmp_path / "fr.txt").write_bytes("".join(fr + "\n" for _, fr in lines).encode("latin-1"))
    res = cli("prepare", tmp_path / "p.tsv", "--pairs", "--out", tmp_path / "d")
    assert res.code == 1 and "--encoding" in res.err
    for name, sources in (("tsv", [tmp_path / "p.tsv", "--pairs"]), ("aligned", ["--source", tmp_path / "en.txt", "--target", tmp_path / "fr.txt"])):
        assert cli("prepare", *sources, "--encoding", "latin-1", "--level", "word", "--out", tmp_path / name).code == 0
        assert "été" in PairsDataset.open(tmp_path / name).target.vocab.tokens


def test_a_shared_vocabulary_serves_both_sides(cli, tmp_path):
    (tmp_path / "p.tsv").write_text("".join(f"{w}\t{w[::-1]}\n" for w in ("abc", "bcd", "cde", "def", "xyz") * 4))
    assert cli("prepare", tmp_path / "p.tsv", "--pairs", "--shared-vocab", "--out", tmp_path / "d", "--val", "0", "--test", "0").code == 0
    meta = json.loads((tmp_path / "d" / "meta.json").read_text())
    assert meta["source"]["vocab"] == meta["target"]["vocab"]


@pytest.mark.parametrize(
    "content, reason",
    [
        ("no tab here\n", "skipped: no tab between source and target"),
        ("\ttarget without a source\n", "skipped: an empty side"),
        ("source\t   \n", "skipped: an empty side"),
        ("a\tb\tc\n", "skipped: more than one tab"),
        ("x" * 30 + "\tshort\n", "skipped: a side over --max-length 20 tokens"),
    ],
)
def test_a_bad_line_is_skipped_and_counted_the_rest_prepared(cli, tmp_path, content, reason):
    good = "".join(f"{i}\t{i * 2}\n" for i in range(50))
    (tmp_path / "p.tsv").write_text(good[:40] + content + good[40:])
    res = cli("prepare", tmp_path / "p.tsv", "--pairs", "--level", "char", "--out", tmp_path / "d", "--max-length", "20")
    assert res.code == 0, res.err
    assert "skipped:" in res.err  # in the summary
    ds = PairsDataset.open(tmp_path / "d")
    assert sum(ds.meta["splits"].values()) == 50
    # counted in meta.json, with the first line it happened on
    assert ds.meta["skipped"] == [{"reason": reason.removeprefix("skipped: "), "lines": 1, "first": f"{tmp_path / 'p.tsv'}:10"}]  # after 9 good lines


def test_unequal_line_counts_are_refused_with_one_line(cli, tmp_path):
    (tmp_path / "en.txt").write_text("one\ntwo\nthree\n")
    (tmp_path / "fr.txt").write_text("un\ndeux\n")
    res = cli("prepare", "--source", tmp_path / "en.txt", "--target", tmp_path / "fr.txt", "--out", tmp_path / "d")
    assert res.code == 1
    line = res.err.strip()
    assert "\n" not in line and "has 3 lines but" in line and "has 2" in line
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--source", "{en}"], "--source and --target go together"),
        (["{tsv}", "--pairs", "--source-level", "phoneme"], "Invalid value for '--source-level'"),
        (["{tsv}", "--pairs", "--level", "melody"], "--level melody is not a level of text pairs"),
        (["{tsv}", "--shared-vocab"], "--shared-vocab is for encoder-decoder datasets; "),
        (["{tsv}", "--shared-vocab"], "would be a text dataset (leave --shared-vocab out, or pass --pairs, or --source and --target)"),
        (["addition", "--digits", "0"], "Invalid value for '--digits'"),
        (["addition", "--count", "5"], "Invalid value for '--count'"),
        (["addition", "--digits", "1", "--count", "100"], "more than half the 100 distinct 1-digit sums"),
        (["{tsv}", "--pairs", "--source-level", "char", "--target-level", "word", "--shared-vocab"], "--shared-vocab needs the same level on both sides"),
    ],
)
def test_bad_pair_options_exit_2_with_one_line(cli, tmp_path, argv, message):
    (tmp_path / "en.txt").write_text("a\n")
    (tmp_path / "p.tsv").write_text("a\tb\n" * 20)
    argv = [a.format(en=tmp_path / "en.txt", tsv=tmp_path / "p.tsv") for a in argv]
    res = cli("prepare", *argv, "--out", tmp_path / "d")
    assert res.code == 2, res.err
    assert len(res.err.strip().splitlines()) == 1 and message in res.err


def test_sides_encode_and_decode_their_own_levels():
    words = Side.fit("word", [["I", "am", "cold", "."]])
    ids, unknown = words.encode("I am warm.")
    assert unknown == 1 and words.decode(ids + [3, 4]) == "I am <unk>."  # decoding stops at <eos> (id 3)
    chars = Side.fit("char", [list("12+3")])
    assert chars.decode(chars.encode("3+21")[0]) == "3+21"
    tokens = Side.fit("tokens", [["C", "Am", "G7"]])
    assert tokens.decode(tokens.encode("G7 C")[0]) == "G7 C"


def test_generated_pairs_fill_each_split_exactly():
    pairs = list(generated_pairs("addition", 1000, 0.1, 0.2, seed=3))
    assert len(pairs) == len(set(pairs)) == 1000
    assert np.all([int(a) + int(b) == int(s) for (q, s) in pairs for a, b in [q.split("+")]])


def test_text_pairs_from_files_default_to_subwords_and_built_in_tasks_to_characters(cli, tmp_path):
    """The level that translated best (benchmarks/seq2seq.md) for a user's pairs; characters for sums and dates."""
    (tmp_path / "p.tsv").write_text("".join(f"file {i} not found\tfichier {i} introuvable\n" for i in range(60)), encoding="utf-8")
    assert cli("prepare", tmp_path / "p.tsv", "--pairs", "--out", tmp_path / "files").code == 0
    files = PairsDataset.open(tmp_path / "files")
    assert files.source.level == files.target.level == "subword" and files.source.vocab.tokens == files.target.vocab.tokens
    assert cli("prepare", "addition", "--count", "300", "--out", tmp_path / "task").code == 0
    task = PairsDataset.open(tmp_path / "task")
    assert task.source.level == task.target.level == "char" and task.source.vocab.tokens != task.target.vocab.tokens
