"""`seqgen prepare` for music: which split a piece lands in, and files read once however they are reached."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from helpers import symlink
from music_pieces import NOTTINGHAM, make_tunes

from seqgen.data.dataset import SPLITS, Dataset


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQGEN_CACHE", str(tmp_path / "cache"))


def pieces_by_split(data: Path) -> dict[str, set[tuple[str, ...]]]:
    """Each split of a music dataset as the set of its pieces, a piece being its token strings from <bos> to <eos>."""
    ds = Dataset.open(data)
    tokens = ds.vocab.tokens
    out: dict[str, set[tuple[str, ...]]] = {}
    for split in SPLITS:
        text = [tokens[i] for i in ds.split(split)]
        starts = [i for i, t in enumerate(text) if t == "<bos>"] + [len(text)]
        out[split] = {tuple(text[a:b]) for a, b in zip(starts, starts[1:])}
    return out


def assert_no_piece_moved(before: dict, after: dict) -> None:
    assert all(before[s] for s in SPLITS)  # there are pieces of every split to check
    for split in SPLITS:
        gone = before[split] - after[split]
        assert not gone, f"{len(gone)} of the {len(before[split])} {split} pieces moved to another split"


def prepare_as_the_folder_grows(cli, first: list[Path], later: list[Path], *args: str) -> tuple[dict, dict]:
    """Prepare a folder holding the `first` files, copy the `later` ones in, prepare again: each dataset's pieces by split.

    The folder is named from the current folder (`seqgen prepare tunes`), so its files have the same names on every
    run of the test."""
    Path("tunes").mkdir()
    for path in first:
        shutil.copy(path, Path("tunes") / path.name)
    assert cli("prepare", "tunes", "--out", "before", *args).code == 0
    for path in later:
        shutil.copy(path, Path("tunes") / path.name)
    assert cli("prepare", "tunes", "--out", "after", *args).code == 0
    return pieces_by_split(Path("before")), pieces_by_split(Path("after"))


def test_adding_files_moves_no_piece_to_another_split(cli, tmp_path, monkeypatch):
    """A re-prepare after the folder gained files keeps every earlier piece in its split: no test tune leaks into training."""
    monkeypatch.chdir(tmp_path)
    tunes = sorted(make_tunes(tmp_path / "made", n=40).glob("tune*.mid"))
    before, after = prepare_as_the_folder_grows(cli, tunes[:20], tunes[20:], "--val", "0.2", "--test", "0.2")
    assert sum(len(after[s]) for s in SPLITS) == 40
    assert_no_piece_moved(before, after)


def test_nottingham_pieces_keep_their_split_when_the_corpus_grows(cli, tmp_path, monkeypatch):
    files = sorted(NOTTINGHAM.glob("*.mid"))[:300] if NOTTINGHAM.is_dir() else []
    if not files:
        pytest.skip(f"{NOTTINGHAM} is absent (shared corpora not available)")
    monkeypatch.chdir(tmp_path)
    first = files[::3]
    before, after = prepare_as_the_folder_grows(cli, first, [f for f in files if f not in first], "--val", "0.1", "--test", "0.1")
    assert_no_piece_moved(before, after)


def test_a_folder_splits_the_same_by_relative_and_absolute_path(cli, tmp_path, monkeypatch):
    make_tunes(tmp_path / "tunes", n=30)
    monkeypatch.chdir(tmp_path)
    assert cli("prepare", "tunes", "--out", "relative", "--val", "0.2", "--test", "0.2").code == 0
    assert cli("prepare", tmp_path / "tunes", "--out", "absolute", "--val", "0.2", "--test", "0.2").code == 0
    for split in SPLITS:
        assert (tmp_path / "relative" / f"{split}.bin").read_bytes() == (tmp_path / "absolute" / f"{split}.bin").read_bytes()


def test_a_requested_split_that_came_out_empty_is_reported(cli, tmp_path):
    """A piece's split does not depend on the others, so two tunes may leave --val or --test without a piece: said, not hidden."""
    folder = tmp_path / "two"
    folder.mkdir()
    for path in sorted(make_tunes(tmp_path / "tunes", n=2).glob("tune*.mid")):
        shutil.copy(path, folder / path.name)
    res = cli("prepare", folder, "--out", tmp_path / "d", "--val", "0.01", "--test", "0.01")
    assert res.code == 0, res.err
    meta = json.loads((tmp_path / "d" / "meta.json").read_text())
    assert meta["stats"]["empty_splits"] == ["val", "test"]
    assert "warning: no piece fell in the validation split (--val 0.01 of 2 pieces;" in res.err
    assert "warning: no piece fell in the test split (--test 0.01 of 2 pieces;" in res.err
    res = cli("prepare", folder, "--out", tmp_path / "none", "--val", "0", "--test", "0")
    assert res.code == 0, res.err
    assert json.loads((tmp_path / "none" / "meta.json").read_text())["stats"]["empty_splits"] == []  # none was asked for
    assert "no piece fell" not in res.err


def test_the_same_midi_file_is_read_once(cli, tmp_path):
    """A MIDI file, a symbolic link to it and a copy under another name give the dataset of the file alone."""
    tunes = make_tunes(tmp_path / "tunes", n=4)
    alone, folder = tmp_path / "alone", tmp_path / "folder"
    alone.mkdir()
    (folder / "x").mkdir(parents=True)
    for path in sorted(tunes.glob("tune*.mid")):
        shutil.copy(path, alone / path.name)
        shutil.copy(path, folder / path.name)
    kept = folder / "tune00.mid"  # the first in sorted order
    shutil.copy(kept, folder / "x" / "copy of tune 0.mid")
    duplicates = [folder / "x" / "copy of tune 0.mid"]
    if symlink(kept, folder / "z-link.mid"):  # else no symbolic links here: the copy alone is checked
        duplicates.append(folder / "z-link.mid")

    assert cli("prepare", alone, "--out", tmp_path / "one", "--val", "0.25", "--test", "0.25").code == 0
    res = cli("prepare", folder, "--out", tmp_path / "all", "--val", "0.25", "--test", "0.25")
    assert res.code == 0, res.err
    for split in SPLITS:
        assert (tmp_path / "all" / f"{split}.bin").read_bytes() == (tmp_path / "one" / f"{split}.bin").read_bytes()
    meta = json.loads((tmp_path / "all" / "meta.json").read_text())
    assert [s["name"] for s in meta["sources"]] == [str(folder / f"tune0{i}.mid") for i in range(4)]
    assert meta["stats"]["files"] == 4
    skipped = {s["name"]: s["reason"] for s in meta["skipped"]}
    for dup in duplicates:
        assert skipped[str(dup)] == f"duplicate (same content as {kept})"
        assert f"skipped {dup}: duplicate (same content as {kept})" in res.err
    assert re.search(rf"skipped: duplicate\s*│\s*{len(duplicates)} ", res.err)  # the summary's count by kind
