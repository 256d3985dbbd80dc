"""The music path end to end through the CLI: prepare -> train (a few steps) -> sample --out x.mid -> eval."""

from __future__ import annotations

import json

import mido
import pytest
from music_pieces import band_piece, make_tunes

from seqgen.cli import main


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQGEN_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def music_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("music")
    src = make_tunes(root / "tunes")
    assert main(["prepare", str(src), "--out", str(root / "data"), "--val", "0.1", "--test", "0.1"]) == 0
    pieces = json.loads((root / "data" / "meta.json").read_text())["stats"]["pieces"]
    assert pieces.get("val") and pieces.get("test")  # the tests below train, validate and split with all three
    code = main(["train", str(root / "data"), "--out", str(root / "run"), "--hidden", "32", "--embed", "16", "--layers", "1",
                 "--batch", "4", "--seq-len", "16", "--max-steps", "12", "--eval-every", "6", "--quiet"])
    assert code == 0
    return root


def test_prepare_summary_names_skips_and_writes_music_meta(music_run, cli, tmp_path):
    res = cli("prepare", music_run / "tunes", "--out", tmp_path / "d")
    assert res.code == 0
    for line in ("files read", "skipped: empty file", "skipped: truncated", "pieces", "notes", "vocabulary", "melody level"):
        assert line in res.err
    assert "skipped " in res.err and "broken.mid: truncated" in res.err
    meta = json.loads((tmp_path / "d" / "meta.json").read_text())
    assert meta["kind"] == "music" and meta["level"] == "melody"
    assert meta["tokenizer"]["steps_per_quarter"] == 12 and meta["stats"]["files"] == 24
    assert meta["vocab"]["specials"] == {"bos": "<bos>", "eos": "<eos>"}
    assert sum(meta["stats"]["pieces"].values()) == 24
    assert {s["reason"] for s in meta["skipped"]} == {"empty file", "truncated: track 0 claims 4,096 bytes but 2 remain"}


def test_splits_are_by_piece(music_run):
    meta = json.loads((music_run / "data" / "meta.json").read_text())
    import numpy as np

    bos = meta["vocab"]["tokens"].index("<bos>")
    eos = meta["vocab"]["tokens"].index("<eos>")
    for split, n in meta["stats"]["pieces"].items():
        ids = np.fromfile(music_run / "data" / f"{split}.bin", dtype=meta["dtype"])
        assert ids[0] == bos and ids[-1] == eos
        assert (ids == bos).sum() == (ids == eos).sum() == n


def test_transpose_adds_training_pieces_only(music_run, tmp_path, cli):
    res = cli("prepare", music_run / "tunes", "--out", tmp_path / "d", "--transpose", "1", "--val", "0.1", "--test", "0.1")
    assert res.code == 0 and "transposed copies" in res.err
    plain = json.loads((music_run / "data" / "meta.json").read_text())["stats"]["pieces"]
    moved = json.loads((tmp_path / "d" / "meta.json").read_text())["stats"]["pieces"]
    assert moved["train"] == 3 * plain["train"] and moved["val"] == plain["val"] and moved["test"] == plain["test"]


def test_sample_writes_midi_files_a_daw_reads(music_run, cli, tmp_path):
    res = cli("sample", music_run / "run", "--out", tmp_path / "tune.mid", "--num", "2", "--bars", "4", "--seed", "1",
              "--tempo", "96", "--program", "40", "--time-signature", "3/4")
    assert res.code == 0, res.err
    for i in (1, 2):
        path = tmp_path / f"tune-{i}.mid"
        assert f"wrote {path}" in res.err
        mid = mido.MidiFile(path)
        assert mid.type == 1 and mid.ticks_per_beat == 480
        meta = {m.type: m for m in mid.tracks[0]}
        assert round(mido.tempo2bpm(meta["set_tempo"].tempo)) == 96 and meta["time_signature"].numerator == 3
        assert [m.program for m in mid.tracks[1] if m.type == "program_change"] == [40]
        end = sum(m.time for m in mid.tracks[1])
        assert end <= 4 * 3 * 480  # never past 4 bars of 3/4
    again = cli("sample", music_run / "run", "--out", tmp_path / "again.mid", "--num", "2", "--bars", "4", "--seed", "1",
                "--tempo", "96", "--program", "40", "--time-signature", "3/4")
    assert (tmp_path / "again-1.mid").read_bytes() == (tmp_path / "tune-1.mid").read_bytes()  # same seed, same file
    assert again.code == 0


def test_sample_tokens_and_primer(music_run, cli, tmp_path):
    res = cli("sample", music_run / "run", "--bars", "2", "--seed", "3")
    vocab = json.loads((music_run / "data" / "meta.json").read_text())["vocab"]["tokens"]
    assert res.code == 0 and res.out.split() and set(res.out.split()) <= set(vocab)  # --format tokens is the default on stdout
    primer = music_run / "tunes" / "tune00.mid"
    res = cli("sample", music_run / "run", "--prime-midi", primer, "--prime-bars", "2", "--bars", "2", "--out", tmp_path / "p.mid", "--seed", "2")
    assert res.code == 0, res.err
    mid = mido.MidiFile(tmp_path / "p.mid")
    first = [m.note for m in mid.tracks[1] if m.type == "note_on"][:4]
    src = [m.note for m in mido.MidiFile(primer).tracks[0] if m.type == "note_on" and m.velocity][:4]
    assert first == src  # the primer's opening comes first


def test_eval_on_a_midi_file(music_run, cli):
    res = cli("eval", music_run / "run", "--file", music_run / "tunes" / "tune03.mid", "--json")
    assert res.code == 0, res.err
    report = json.loads(res.out.strip().splitlines()[-1])
    assert report["tokens"] > 30 and report["perplexity"] > 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--bars", "0"], "Invalid value for '--bars'"),
        (["--program", "128"], "Invalid value for '--program'"),
        (["--time-signature", "4/5"], "--time-signature must look like 4/4"),
        (["--format", "wav"], "Invalid value for '--format'"),
    ],
)
def test_sample_option_errors_exit_2(music_run, cli, args, message):
    res = cli("sample", music_run / "run", *args)
    assert res.code == 2 and message in res.err


def test_music_options_refused_for_text_and_vice_versa(music_run, cli, tmp_path, corpus_file, char_run):
    res = cli("prepare", corpus_file, "--out", tmp_path / "x", "--transpose", "2")
    assert res.code == 2 and "--transpose is for music, melody -> chords and piano-roll datasets" in res.err
    assert "would be a text dataset (leave --transpose out, or pass --kind music for MIDI files and scores)" in res.err
    res = cli("prepare", music_run / "tunes", "--out", tmp_path / "y", "--level", "melody", "--drums")
    assert res.code == 2 and "--drums needs --level notes" in res.err
    res = cli("prepare", music_run / "tunes", "--out", tmp_path / "z", "--steps-per-quarter", "7")
    assert res.code == 2 and "must divide 480" in res.err
    res = cli("sample", char_run, "--bars", "4")
    assert res.code == 2 and f"--bars is for music and piano-roll runs; {char_run} is a text run" in res.err


def test_nothing_usable_is_one_clear_error(tmp_path, cli):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.mid").write_bytes(b"garbage")
    res = cli("prepare", tmp_path / "src", "--out", tmp_path / "d")
    assert res.code == 1 and "no usable music" in res.err and "Traceback" not in res.err


def test_midi_files_inside_the_output_folder_are_never_replaced(tmp_path, cli):
    """--force replaces the dataset folder, so a tune kept inside it would be deleted: refused instead."""
    data = tmp_path / "data"
    make_tunes(data / "mine", n=2)
    before = {p: p.read_bytes() for p in (data / "mine").iterdir()}
    res = cli("prepare", data / "mine", "--out", data, "--force")
    assert res.code == 2 and "is inside --out" in res.err and "choose another --out" in res.err
    assert {p: p.read_bytes() for p in (data / "mine").iterdir()} == before


def test_notes_level_with_drums_and_corpora_listing(tmp_path, cli):
    band_piece(tmp_path / "band.mid")
    res = cli("prepare", tmp_path / "band.mid", "--out", tmp_path / "d", "--level", "notes", "--drums", "--val", "0", "--test", "0")
    assert res.code == 0, res.err
    tokens = json.loads((tmp_path / "d" / "meta.json").read_text())["vocab"]["tokens"]
    assert "drum:36" in tokens and "C3" in tokens
    res = cli("corpora")
    for name in ("bach", "ryans-mammoth", "oneills", "airds-airs"):
        assert name in res.out
