"""`seqgen prepare` for text: sources, splits, the dataset folder and its refusals."""

import io
import json
import shutil
import sys

import numpy as np
import pytest
from helpers import SHARED, symlink

from seqgen.data.dataset import Dataset
from seqgen.levels import tokenizer_from_meta


def test_prepare_writes_a_memmapped_dataset_with_contiguous_splits(cli, tmp_path, corpus_file):
    res = cli("prepare", corpus_file, "--out", tmp_path / "d", "--val", "0.1", "--test", "0.1")
    assert res.code == 0, res.err
    assert "vocabulary" in res.err and res.out == ""  # the summary goes to stderr, stdout stays clean
    ds = Dataset.open(tmp_path / "d")
    meta = json.loads((tmp_path / "d" / "meta.json").read_text())
    assert meta["kind"] == "text" and meta["level"] == "char" and meta["dtype"] == "<u2"
    assert meta["sources"][0]["sha256"]
    text = corpus_file.read_text()
    sizes = meta["splits"]
    assert sum(sizes.values()) == len(text)
    assert sizes["val"] == round(len(text) * 0.1) == sizes["test"]
    joined = np.concatenate([ds.split("train"), ds.split("val"), ds.split("test")])
    assert tokenizer_from_meta(ds.meta).decode(joined.tolist()) == text  # train, then val, then test: contiguous, in order
    assert isinstance(ds.split("train"), np.memmap)


def test_prepare_is_deterministic(cli, tmp_path, corpus_file):
    for name in ("a", "b"):
        assert cli("prepare", corpus_file, "--out", tmp_path / name).code == 0
    for split in ("train.bin", "val.bin", "test.bin"):
        assert (tmp_path / "a" / split).read_bytes() == (tmp_path / "b" / split).read_bytes()


def test_prepare_reads_folders_recursively_with_glob(cli, tmp_path):
    (tmp_path / "src" / "deep").mkdir(parents=True)
    (tmp_path / "src" / "one.txt").write_text("first file\n" * 50)
    (tmp_path / "src" / "deep" / "two.txt").write_text("second file" * 50)  # no final newline
    (tmp_path / "src" / "skip.md").write_text("not text by default\n")
    res = cli("prepare", tmp_path / "src", "--out", tmp_path / "d", "--val", "0", "--test", "0")
    assert res.code == 0, res.err
    ds = Dataset.open(tmp_path / "d")
    text = tokenizer_from_meta(ds.meta).decode(ds.split("train").tolist())
    assert text.startswith("second file") and text.endswith("first file\n")
    assert "second filefirst" not in text.replace("\n", "|")  # files are never glued together
    assert "not text" not in text
    res = cli("prepare", tmp_path / "src", "--out", tmp_path / "md", "--glob", "*.md", "--val", "0", "--test", "0")
    assert res.code == 0
    ds = Dataset.open(tmp_path / "md")
    assert "not text by default" in tokenizer_from_meta(ds.meta).decode(ds.split("train").tolist())


def same_dataset(a, b) -> bool:
    return all((a / f"{s}.bin").read_bytes() == (b / f"{s}.bin").read_bytes() for s in ("train", "val", "test"))


def test_the_same_text_in_a_folder_is_read_once(cli, tmp_path, corpus_file):
    """Licence and documentation folders often hold a file, a symbolic link to it and a copy: the text is read once."""
    folder = tmp_path / "licences"
    for sub in ("a", "b"):
        (folder / sub).mkdir(parents=True)
    kept = folder / "a" / "LICENSE.txt"  # the first in sorted order
    shutil.copy(corpus_file, kept)
    shutil.copy(corpus_file, folder / "b" / "COPYING.txt")
    duplicates = [folder / "b" / "COPYING.txt"]
    if symlink(kept, folder / "c-link.txt"):  # else no symbolic links here: the copy alone is checked
        duplicates.append(folder / "c-link.txt")

    assert cli("prepare", kept, "--out", tmp_path / "one").code == 0
    res = cli("prepare", folder, "--out", tmp_path / "all")
    assert res.code == 0, res.err
    assert same_dataset(tmp_path / "all", tmp_path / "one")
    meta = json.loads((tmp_path / "all" / "meta.json").read_text())
    assert [s["name"] for s in meta["sources"]] == [str(kept)]
    assert meta["skipped"] == [{"name": str(d), "reason": f"duplicate (same content as {kept})"} for d in duplicates]
    for dup in duplicates:
        assert f"skipped {dup}: duplicate (same content as {kept})" in res.err


def test_a_file_given_twice_or_through_a_linked_folder_is_read_once(cli, tmp_path, corpus_file):
    (tmp_path / "notes").mkdir()
    kept = tmp_path / "notes" / "play.txt"
    shutil.copy(corpus_file, kept)
    assert cli("prepare", kept, "--out", tmp_path / "one").code == 0
    res = cli("prepare", kept, kept, "--out", tmp_path / "twice")
    assert res.code == 0, res.err
    assert same_dataset(tmp_path / "twice", tmp_path / "one")
    assert f"skipped {kept}: listed twice" in res.err
    if not symlink(tmp_path / "notes", tmp_path / "mirror"):
        pytest.skip("no symbolic links here")
    res = cli("prepare", tmp_path / "notes", tmp_path / "mirror", "--out", tmp_path / "linked")
    assert res.code == 0, res.err
    assert same_dataset(tmp_path / "linked", tmp_path / "one")
    assert f"skipped {tmp_path / 'mirror' / 'play.txt'}: duplicate (same content as {kept})" in res.err


def test_prepare_reads_stdin(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(("hello there\r\n" * 100).encode())))
    res = cli("prepare", "-", "--out", tmp_path / "d")
    assert res.code == 0, res.err
    ds = Dataset.open(tmp_path / "d")
    assert "\r" not in ds.vocab.tokens  # CRLF line ends become \n


def test_word_level_with_unk_and_eos(cli, tmp_path, corpus_file):
    res = cli("prepare", corpus_file, "--out", tmp_path / "w", "--level", "word", "--min-freq", "2", "--lowercase")
    assert res.code == 0, res.err
    assert "<unk> rate" in res.err
    ds = Dataset.open(tmp_path / "w")
    assert ds.vocab.tokens[:2] == ["<unk>", "<eos>"]
    assert all(t == t.lower() for t in ds.vocab.tokens)
    assert ds.meta["tokenizer"]["lowercase"] is True


def test_python_docs_builtin_corpus_is_offline(cli, tmp_path):
    res = cli("prepare", "python-docs", "--out", tmp_path / "d")
    assert res.code == 0, res.err
    meta = Dataset.open(tmp_path / "d").meta
    assert sum(meta["splits"].values()) > 300_000


def test_corpora_lists_builtins_with_licences(cli):
    res = cli("corpora")
    assert res.code == 0
    assert "python-docs" in res.out and "shakespeare" in res.out and "PSF" in res.out


def test_existing_output_needs_force_and_force_only_replaces_datasets(cli, tmp_path, corpus_file):
    assert cli("prepare", corpus_file, "--out", tmp_path / "d").code == 0
    res = cli("prepare", corpus_file, "--out", tmp_path / "d")
    assert res.code == 2 and "--force" in res.err
    assert cli("prepare", corpus_file, "--out", tmp_path / "d", "--force").code == 0
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("precious")
    res = cli("prepare", corpus_file, "--out", tmp_path / "mine", "--force")
    assert res.code == 2 and "not a folder seqgen made" in res.err
    assert (tmp_path / "mine" / "notes.txt").read_text() == "precious"


@pytest.mark.parametrize(
    "content, code, words",
    [
        (b"", 1, "no usable text"),
        (b"caf\xe9 au lait\n", 1, "--encoding"),
        (b"binary\x00data\n", 1, "binary"),
        (b"aaaa\n" * 10, 1, "distinct"),
    ],
    ids=["empty", "latin-1", "nul-bytes", "one-character"],
)
def test_bad_text_input_is_one_clear_line(cli, tmp_path, content, code, words):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    res = cli("prepare", path, "--out", tmp_path / "d")
    assert res.code == code
    assert words in res.err
    assert "Traceback" not in res.err
    assert not (tmp_path / "d").exists()  # nothing half-written


def test_encoding_option_reads_latin1(cli, tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes("café au lait\n".encode("latin-1") * 20)
    assert cli("prepare", path, "--out", tmp_path / "d", "--encoding", "latin-1").code == 0
    assert "é" in Dataset.open(tmp_path / "d").vocab.tokens


def test_utf16_with_bom_is_read(cli, tmp_path):
    path = tmp_path / "u16.txt"
    path.write_bytes(("hello wide world\n" * 30).encode("utf-16"))
    assert cli("prepare", path, "--out", tmp_path / "d").code == 0
    assert "\ufeff" not in Dataset.open(tmp_path / "d").vocab.tokens


def test_missing_source_and_bad_fractions_are_usage_errors(cli, tmp_path, corpus_file):
    res = cli("prepare", tmp_path / "nope.txt", "--out", tmp_path / "d")
    assert res.code == 2 and "no such file, folder or built-in corpus" in res.err
    res = cli("prepare", corpus_file, "--out", tmp_path / "d", "--val", "0.6", "--test", "0.5")
    assert res.code == 2 and "--val + --test" in res.err
    res = cli("prepare", corpus_file, "--out", tmp_path / "d", "--level", "byte")
    assert res.code == 2 and "--level" in res.err


def test_shakespeare_download_is_checked_and_cached(cli, tmp_path, monkeypatch):
    """The download path, offline: a file:// source stands in for the network."""
    from seqgen.data import corpora

    source = tmp_path / "input.txt"
    source.write_text("First Citizen:\nBefore we proceed any further, hear me speak.\n" * 40)
    good = corpora.Corpus(**{**corpora.find("shakespeare").__dict__, "source": source.as_uri(), "sha256": corpora.sha256_file(source)})
    monkeypatch.setenv("SEQGEN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(corpora, "find", lambda name: good if name == "shakespeare" else None)
    assert cli("prepare", "shakespeare", "--out", tmp_path / "d").code == 0
    assert (tmp_path / "cache" / "shakespeare" / "input.txt").is_file()
    source.unlink()  # a second use reads the cache, not the network
    assert cli("prepare", "shakespeare", "--out", tmp_path / "d2").code == 0


def test_shakespeare_offline_error_says_how_to_pass_a_local_copy(cli, tmp_path, monkeypatch):
    from seqgen.data import corpora

    bad = corpora.Corpus(**{**corpora.find("shakespeare").__dict__, "source": "http://127.0.0.1:9/input.txt"})
    monkeypatch.setenv("SEQGEN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(corpora, "find", lambda name: bad if name == "shakespeare" else None)
    res = cli("prepare", "shakespeare", "--out", tmp_path / "d")
    assert res.code == 1
    assert "seqgen prepare path/to/input.txt" in res.err


def test_shakespeare_checksum_mismatch_is_refused(cli, tmp_path, monkeypatch):
    from seqgen.data import corpora

    source = tmp_path / "input.txt"
    source.write_text("tampered\n" * 10)
    bad = corpora.Corpus(**{**corpora.find("shakespeare").__dict__, "source": source.as_uri()})
    monkeypatch.setenv("SEQGEN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(corpora, "find", lambda name: bad if name == "shakespeare" else None)
    res = cli("prepare", "shakespeare", "--out", tmp_path / "d")
    assert res.code == 1 and "SHA-256" in res.err
    assert not (tmp_path / "cache" / "shakespeare" / "input.txt").exists()


@pytest.mark.skipif(not (SHARED / "tinyshakespeare.txt").exists(), reason="../shared/corpora is absent")
def test_tiny_shakespeare_90_10_split(cli, tmp_path):
    res = cli("prepare", SHARED / "tinyshakespeare.txt", "--out", tmp_path / "d", "--val", "0.1", "--test", "0")
    assert res.code == 0
    meta = Dataset.open(tmp_path / "d").meta
    assert len(meta["vocab"]["tokens"]) == 65
    assert meta["splits"] == {"train": 1_003_855, "val": 111_539, "test": 0}
