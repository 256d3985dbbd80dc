"""Hostile and broken text: each is prepared correctly or refused with one clear line, and `prepare` never changes
its inputs nor replaces a folder it did not make."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from harness import REPO, one_error_line, tiny_corpus, train_args

from seqgen.data.dataset import Dataset

TEXT = tiny_corpus(lines=20)


def dataset_ids(path) -> tuple[list[str], list[int]]:
    ds = Dataset.open(path)
    ids = np.concatenate([ds.split(s) for s in ("train", "val", "test")]).tolist()
    return ds.vocab.tokens, ids


REFUSED = {
    "empty": (b"", "no usable text in the input ({src}: empty)"),
    "whitespace only": (b"  \n\t\n   \r\n\n", "the input holds only whitespace; there is nothing to learn"),
    "one distinct character": (b"aaaa\naaaaaaa\naa\n" * 20, "the input holds only one distinct character ('a') besides whitespace"),
    "NUL bytes": (b"text\x00with\x00nul\n" * 20, "{src} looks like a binary file (it contains NUL bytes)"),
    "binary": (bytes(range(256)) * 8, "{src} is not valid utf-8 text (byte 0x80 cannot be decoded)"),
    "invalid UTF-8": (b"caf\xe9 au lait\n" * 20, "{src} is not valid utf-8 text (byte 0xe9 cannot be decoded)"),
    "UTF-16 without BOM": ("hello there\n".encode("utf-16-le") * 20, "{src} looks like a binary file (it contains NUL bytes)"),
    "truncated UTF-8 at the end": ("naïve café\n".encode() * 20 + "é".encode()[:1], "{src} is not valid utf-8 text (byte 0xc3 cannot be decoded)"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_unusable_text_is_refused_with_one_line(cli, tmp_path, case):
    data, message = REFUSED[case]
    src = tmp_path / "input.txt"
    src.write_bytes(data)
    res = cli("prepare", src, "--out", tmp_path / "data")
    assert res.code == 1
    assert message.format(src=src) in one_error_line(res.err)
    assert not (tmp_path / "data").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["input.txt"]  # no half-made dataset or temporary folder left


def test_a_latin_1_file_is_read_with_encoding(cli, tmp_path):
    src = tmp_path / "latin.txt"
    src.write_bytes(TEXT.replace("sun", "soleil café").encode("latin-1"))
    res = cli("prepare", src, "--out", tmp_path / "data")
    assert res.code == 1 and "pass --encoding with the file's encoding, e.g. --encoding latin-1" in res.err
    assert cli("prepare", src, "--out", tmp_path / "data", "--encoding", "latin-1").code == 0
    assert "é" in Dataset.open(tmp_path / "data").vocab.tokens


@pytest.mark.parametrize(
    "variant, encode",
    [
        ("UTF-16 LE with BOM", lambda t: t.encode("utf-16")),
        ("UTF-16 BE with BOM", lambda t: b"\xfe\xff" + t.encode("utf-16-be")),
        ("UTF-8 with BOM", lambda t: b"\xef\xbb\xbf" + t.encode("utf-8")),
        ("UTF-32 with BOM", lambda t: t.encode("utf-32")),
        ("CRLF line ends", lambda t: t.replace("\n", "\r\n").encode()),
        ("old Mac CR line ends", lambda t: t.replace("\n", "\r").encode()),
        ("no final newline", lambda t: t.rstrip("\n").encode()),
    ],
)
def test_encodings_and_line_ends_give_the_same_dataset(cli, tmp_path, monkeypatch, variant, encode):
    """The same text in another encoding or with other line ends is the same dataset: no BOM or '\\r' token."""
    text = TEXT.replace("sun", "sün ☀")
    (tmp_path / "plain.txt").write_bytes(text.encode())
    (tmp_path / "variant.txt").write_bytes(encode(text))
    monkeypatch.setattr("seqgen.data.text.CHUNK_CHARS", 7)  # CRLF pairs and BOMs also fall across chunk boundaries
    assert cli("prepare", tmp_path / "plain.txt", "--out", tmp_path / "a").code == 0
    res = cli("prepare", tmp_path / "variant.txt", "--out", tmp_path / "b")
    assert res.code == 0, res.err
    assert dataset_ids(tmp_path / "b") == dataset_ids(tmp_path / "a")
    assert "\r" not in Dataset.open(tmp_path / "b").vocab.tokens and "\ufeff" not in Dataset.open(tmp_path / "b").vocab.tokens


def test_a_folder_with_bad_files_prepares_the_good_ones_and_names_the_rest(cli, tmp_path):
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "good1.txt").write_text(TEXT)
    (folder / "good2.txt").write_text(TEXT.upper())
    (folder / "binary.txt").write_bytes(b"\x00\x01\x02" * 100)
    (folder / "latin.txt").write_bytes("déjà vu\n".encode("latin-1"))
    (folder / "empty.txt").write_bytes(b"")
    res = cli("prepare", folder, "--out", tmp_path / "data")
    assert res.code == 0, res.err
    meta = json.loads((tmp_path / "data" / "meta.json").read_text())
    assert sorted(os.path.basename(s["name"]) for s in meta["sources"]) == ["good1.txt", "good2.txt"]
    for name, reason in (("binary.txt", "binary file"), ("latin.txt", "not valid utf-8"), ("empty.txt", "empty")):
        assert any(line.startswith(f"skipped {folder / name}: ") and reason in line for line in res.err.splitlines()), name


def test_prepare_never_changes_its_inputs(cli, tmp_path):
    folder = tmp_path / "texts"
    folder.mkdir()
    for name in ("a.txt", "b.txt"):
        (folder / name).write_text(TEXT)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.iterdir()}
    for args in (["--out", tmp_path / "data"], ["--out", tmp_path / "data", "--force", "--level", "word"]):
        assert cli("prepare", folder, *args).code == 0
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.iterdir()} == before
    # a dataset folder that holds one of the inputs is not replaced: that would delete the input
    inside = tmp_path / "data" / "notes.txt"
    inside.write_text(TEXT)
    res = cli("prepare", inside, "--out", tmp_path / "data", "--force")
    assert res.code == 2 and f"{inside} is inside --out {tmp_path / 'data'}" in one_error_line(res.err)
    assert inside.read_text() == TEXT


def test_force_replaces_only_what_seqgen_made(cli, tmp_path, tiny_dataset, reference_run):
    mine = tmp_path / "my-folder"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    src = tmp_path / "in.txt"
    src.write_text(TEXT)
    res = cli("prepare", src, "--out", mine, "--force")
    assert res.code == 2 and f"{mine} is not a folder seqgen made; refusing to replace it" in one_error_line(res.err)
    res = cli(*train_args(tiny_dataset, mine, "--force"))
    assert res.code == 2 and "is not a folder seqgen made" in res.err
    assert (mine / "thesis.tex").read_text() == "years of work" and sorted(p.name for p in mine.iterdir()) == ["thesis.tex"]
    # a run is not a dataset, a dataset is not a run: --force does not turn one into the other
    before = {p.name: p.read_bytes() for p in reference_run.iterdir() if p.is_file()}
    res = cli("prepare", src, "--out", reference_run, "--force")
    assert res.code == 2 and f"{reference_run} is a seqgen run folder, not a dataset; refusing to replace it" in one_error_line(res.err)
    res = cli(*train_args(tiny_dataset, tiny_dataset, "--force"))
    assert res.code == 2 and f"{tiny_dataset} is a seqgen dataset folder, not a run" in one_error_line(res.err)
    assert {p.name: p.read_bytes() for p in reference_run.iterdir() if p.is_file()} == before
    assert Dataset.open(tiny_dataset)


def test_one_50_mb_line_in_bounded_memory_and_time(tmp_path):
    """A 50 MB file without a single line break: prepared in chunks, in a few seconds and bounded memory."""
    if not Path("/proc/self/status").exists():
        pytest.skip("peak memory is read from /proc (Linux)")
    src = tmp_path / "one-line.txt"
    rng = np.random.default_rng(0)
    alphabet = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz ,.", dtype=np.uint8)
    src.write_bytes(alphabet[rng.integers(0, len(alphabet), 50 * 2**20)].tobytes())
    # the child reports its own peak memory (VmHWM): ru_maxrss would count the forked pytest image too
    report = "import re, sys; from seqgen.cli import main; code = main(sys.argv[1:]); status = open('/proc/self/status').read(); "
    report += "print(re.search(r'VmHWM:\\s+(\\d+)', status).group(1)); sys.exit(code)"
    start = time.perf_counter()
    child = subprocess.run(
        [sys.executable, "-c", report, "prepare", str(src), "--out", str(tmp_path / "data")],
        capture_output=True, text=True, env={**os.environ, "CI": "1", "PYTHONPATH": str(REPO)},
    )
    seconds = time.perf_counter() - start
    assert child.returncode == 0, child.stderr
    peak_mb = int(child.stdout.split()[-1]) / 1024  # kB
    print(f"50 MB line: {seconds:.1f} s, peak memory {peak_mb:.0f} MB")
    assert peak_mb < 400 and seconds < 60
    meta = json.loads((tmp_path / "data" / "meta.json").read_text())
    assert sum(meta["splits"].values()) == 50 * 2**20 + 1  # every character, plus the line end seqgen adds
