"""The frame level end to end through the CLI: prepare a benchmark file (or MIDI) -> train -> eval -> sample MIDI, and
the options that do not apply to frames refused with one line."""

from __future__ import annotations

import json
import pickle
import random

import mido
import numpy as np
import pytest
from helpers import SHARED
from music_pieces import make_tunes

from seqgen.cli import main

TINY = ["--hidden", "16", "--embed", "8", "--layers", "1", "--batch", "4", "--threads", "1", "--quiet"]


def chorales(pieces: int, seed: int) -> list[list[list[int]]]:
    """Pieces of 6-14 frames of three-note chords over a bass, the way a chorale moves (a frame may be silent)."""
    rng = random.Random(seed)
    out = []
    for _ in range(pieces):
        root = rng.choice([48, 50, 53, 55, 57])
        piece = []
        for _ in range(rng.randint(6, 14)):
            root = min(60, max(43, root + rng.choice([-5, -2, 0, 2, 5])))
            piece.append([] if rng.random() < 0.05 else [root, root + 12, root + 16, root + 19])
        out.append(piece)
    return out


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    path = root / "chorale-like.json"
    path.write_text(json.dumps({"train": chorales(16, 1), "valid": chorales(4, 2), "test": chorales(4, 3)}))
    return path


@pytest.fixture(scope="module")
def frames_run(bench, tmp_path_factory):
    root = tmp_path_factory.mktemp("frames")
    assert main(["prepare", str(bench), "--out", str(root / "data")]) == 0
    assert main(["train", str(root / "data"), "--out", str(root / "run"), *TINY, "--max-steps", "8", "--eval-every", "4"]) == 0
    return root


def test_prepare_infers_frames_from_a_benchmark_file_and_keeps_its_split(cli, bench, tmp_path):
    res = cli("prepare", bench, "--out", tmp_path / "d")
    assert res.code == 0, res.err
    assert "frames of 1/8 from the file name" in res.err  # neither "jsb" nor "quarter" in the name: the 1/8 default
    meta = json.loads((tmp_path / "d" / "meta.json").read_text())
    assert (meta["kind"], meta["level"], meta["grid"], meta["pitch_range"]) == ("frames", "frames", "1/8", [21, 108])
    assert meta["stats"]["pieces"] == {"train": 16, "val": 4, "test": 4}
    frames = {split: sum(len(p) for p in json.loads(bench.read_text())[theirs]) for split, theirs in (("train", "train"), ("val", "valid"), ("test", "test"))}
    assert meta["splits"] == frames
    assert meta["sources"][0]["sha256"] and len(meta["vocab"]["tokens"]) == 88
    assert cli("prepare", bench, "--out", tmp_path / "q", "--frame", "1/4").code == 0
    assert json.loads((tmp_path / "q" / "meta.json").read_text())["grid"] == "1/4"


def test_the_stored_bits_are_the_frames_of_the_file(bench, tmp_path):
    from seqgen.data.frames import FramesDataset
    from seqgen.music.pianoroll import read_benchmark

    assert main(["prepare", str(bench), "--out", str(tmp_path / "d")]) == 0
    ds = FramesDataset.open(tmp_path / "d")
    for split, rolls in read_benchmark(bench).items():
        assert [r.tolist() for r in ds.split(split).rolls()] == [r.tolist() for r in rolls]


def test_a_pickle_benchmark_prepares_like_its_json(bench, tmp_path, cli):
    data = json.loads(bench.read_text())
    (tmp_path / "b.pickle").write_bytes(pickle.dumps(data, protocol=2))
    assert cli("prepare", tmp_path / "b.pickle", "--out", tmp_path / "p").code == 0
    assert cli("prepare", bench, "--out", tmp_path / "j").code == 0
    for name in ("train.bin", "val.bin", "test.bin", "train.offsets"):
        assert (tmp_path / "p" / name).read_bytes() == (tmp_path / "j" / name).read_bytes()


def test_a_malicious_pickle_is_refused_by_prepare_and_leaves_nothing(cli, tmp_path):
    import os

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (tmp_path / "evil.pickle").write_bytes(pickle.dumps({"train": [[[60]]], "valid": Evil()}))
    res = cli("prepare", tmp_path / "evil.pickle", "--out", tmp_path / "d")
    assert res.code == 1 and res.err.count("\n") == 1
    assert res.err.startswith("error: evil.pickle is refused: it names ") and ".system" in res.err
    assert not marker.exists() and not (tmp_path / "d").exists()


def test_train_eval_and_the_report_keys(frames_run, cli):
    rows = [json.loads(x) for x in (frames_run / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "val_loss" in r] == [4, 8]
    res = cli("eval", frames_run / "run", "--json")
    assert res.code == 0, res.err
    report = json.loads(res.out)
    assert {"run", "data", "level", "kind", "grid", "output", "pieces", "frames", "nats_per_frame", "bits_per_frame", "weights",
            "weights_sha256", "seqgen_version", "baselines", "provenance"} <= set(report)
    assert report["data"] == "val split" and report["frames"] == json.loads((frames_run / "data" / "meta.json").read_text())["splits"]["val"]
    assert report["bits_per_frame"] == pytest.approx(report["nats_per_frame"] / np.log(2))
    assert set(report["baselines"]) == {"marginal", "repeat"}
    assert report["baselines"]["repeat"]["nats_per_frame"] < report["baselines"]["marginal"]["nats_per_frame"]  # chords are held
    assert "NLL per frame (nats)" in res.err
    test = json.loads(cli("eval", frames_run / "run", "--split", "test", "--json").out)
    assert test["data"] == "test split" and test["pieces"] == 4


@pytest.mark.parametrize("output", ["bernoulli", "autoregressive"])
def test_sample_writes_a_polyphonic_midi_file(bench, tmp_path, cli, output):
    assert cli("prepare", bench, "--out", tmp_path / "d").code == 0
    assert cli("train", tmp_path / "d", "--out", tmp_path / "r", *TINY, "--max-steps", "30", "--lr", "2e-2", "--output", output, "--head-size", "8").code == 0
    res = cli("sample", tmp_path / "r", "--out", tmp_path / "c.mid", "--bars", "4", "--tempo", "80", "--program", "19", "--seed", "1", "--temperature", "0.7")
    assert res.code == 0, res.err
    assert "wrote" in res.err and "32 frames of 1/8 (4 bars of 4/4)" in res.err
    mid = mido.MidiFile(tmp_path / "c.mid")
    assert mid.type == 1 and len(mid.tracks) == 2
    conductor = {m.type: m for m in mid.tracks[0]}
    assert round(mido.tempo2bpm(conductor["set_tempo"].tempo)) == 80
    assert [m.program for m in mid.tracks[1] if m.type == "program_change"] == [19]
    ends = sum(m.time for m in mid.tracks[1])
    assert ends <= 4 * 4 * 480
    again = cli("sample", tmp_path / "r", "--out", tmp_path / "c2.mid", "--bars", "4", "--tempo", "80", "--program", "19", "--seed", "1", "--temperature", "0.7")
    assert again.code == 0 and (tmp_path / "c2.mid").read_bytes() == (tmp_path / "c.mid").read_bytes()  # the same seed, the same file


def test_sample_prints_the_roll_as_text(frames_run, cli):
    res = cli("sample", frames_run / "run", "--length", "5", "--seed", "2")
    assert res.code == 0, res.err
    lines = res.out.splitlines()
    assert len(lines) == 5 and all(line == "-" or all(name[0] in "ABCDEFG" for name in line.split()) for line in lines)


def test_sample_continues_a_midi_primer(frames_run, cli, tmp_path):
    from music_pieces import notes, track, write

    primer = write(tmp_path / "primer.mid", [track(notes([(0, 960, 60), (0, 960, 64), (960, 1920, 62)]))])  # 2 quarters each: 4 frames at 1/8
    res = cli("sample", frames_run / "run", "--prime-midi", primer, "--length", "3", "--seed", "1")
    assert res.code == 0, res.err
    lines = res.out.splitlines()
    assert lines[:8] == ["C4 E4"] * 4 + ["D4"] * 4 and len(lines) == 8 + 3


def test_sample_writes_a_score_that_music21_reads_back_with_the_same_notes(frames_run, cli, tmp_path):
    from seqgen.music.scores import read_score

    args = ("sample", frames_run / "run", "--bars", "2", "--seed", "3", "--temperature", "0.7")
    assert cli(*args, "--out", tmp_path / "c.mid").code == 0
    res = cli(*args, "--out", tmp_path / "c.musicxml")
    assert res.code == 0, res.err
    assert "wrote" in res.err and (tmp_path / "c.musicxml").read_bytes().startswith(b"<?xml")
    midi = mido.MidiFile(tmp_path / "c.mid")
    pitches = sorted(m.note for t in midi.tracks for m in t if m.type == "note_on" and m.velocity)
    score = read_score(tmp_path / "c.musicxml", use_cache=False)[0]
    assert pitches and sorted(p for t in score.tracks for _, _, p, _ in t.notes) == pitches


def test_a_piano_roll_takes_one_program_not_one_per_part(frames_run, cli, tmp_path):
    res = cli("sample", frames_run / "run", "--out", tmp_path / "c.mid", "--program", "Soprano=52")
    assert res.code == 2 and res.err.count("\n") == 1 and "a piano roll has no parts" in res.err
    assert not (tmp_path / "c.mid").exists()
    assert cli("sample", frames_run / "run", "--out", tmp_path / "c.mid", "--program", "19", "--bars", "1").code == 0
    programs = {m.program for t in mido.MidiFile(tmp_path / "c.mid").tracks for m in t if m.type == "program_change"}
    assert programs == {19}


def test_prepare_midi_files_as_frames(cli, tmp_path):
    src = make_tunes(tmp_path / "tunes")
    res = cli("prepare", src, "--level", "frames", "--frame", "1/16", "--out", tmp_path / "d", "--val", "0.2", "--test", "0.2")
    assert res.code == 0, res.err
    meta = json.loads((tmp_path / "d" / "meta.json").read_text())
    assert meta["grid"] == "1/16" and meta["stats"]["benchmark"] is False and sum(meta["stats"]["pieces"].values()) > 10
    assert "skipped" in res.err  # the broken files the tune folder holds


@pytest.mark.parametrize("args, line", [
    (["train", "{data}", "--out", "{tmp}/r", "--max-steps", "1", "--seq-len", "32"], "--seq-len is for text and music datasets; {data} is a piano-roll dataset"),
    (["train", "{data}", "--out", "{tmp}/r", "--max-steps", "1", "--tie-weights"], "--tie-weights does not apply here: {data} is a piano-roll dataset"),
    (["train", "{text}", "--out", "{tmp}/r", "--max-steps", "1", "--output", "autoregressive"], "--output is for piano-roll datasets; {text} is a text dataset"),
    (["train", "{text}", "--out", "{tmp}/r", "--max-steps", "1", "--head-size", "8"], "--head-size is for piano-roll datasets; {text} is a text dataset"),
    (["prepare", "{bench}", "--out", "{tmp}/d", "--val", "0.2"], "--val does not apply here: {tmp}/d would be a piano-roll benchmark dataset (leave --val out: a benchmark file keeps its own train/valid/test split"),
    (["prepare", "{bench}", "--out", "{tmp}/d", "--tracks", "Soprano"], "--tracks is for music, melody -> chords and piano-roll datasets; {tmp}/d would be a piano-roll benchmark dataset"),
    (["prepare", "{bench}", "--out", "{tmp}/d", "--drums"], "--drums is for music datasets; {tmp}/d would be a piano-roll benchmark dataset (leave --drums out: a benchmark file"),
    (["prepare", "{tunes}", "--level", "frames", "--out", "{tmp}/d", "--drums"], "--drums is for music datasets; {tmp}/d would be a piano-roll dataset (leave --drums out, or pass --kind music"),
    (["prepare", "{corpus}", "--out", "{tmp}/d", "--frame", "1/8"], "--frame is for piano-roll datasets; {tmp}/d would be a text dataset (leave --frame out, or pass --level frames)"),
    (["prepare", "{bench}", "--out", "{tmp}/d", "--frame", "1/3"], "Invalid value for '--frame'"),
    (["sample", "{run}", "--top-k", "3"], "--top-k does not apply here: {run} is a piano-roll run (frames are drawn key by key"),
    (["sample", "{run}", "--beam", "2"], "--beam does not apply here: {run} is a piano-roll run"),
    (["sample", "{run}", "--prime", "C4"], "--prime is for text and music runs; {run} is a piano-roll run"),
    (["sample", "{run}", "--prime-file", "{corpus}"], "--prime-file must be a MIDI file or score for a piano-roll run"),
    (["eval", "{run}", "--bleu"], "--bleu is for text and music runs; {run} is a piano-roll run (a piano-roll run is scored on a split of its dataset"),
    (["eval", "{run}", "--ngram", "3"], "--ngram is for text and music runs; {run} is a piano-roll run"),
    (["eval", "{run}", "--file", "{bench}"], "--file does not apply here: {run} is a piano-roll run (a piano-roll run is scored on a split of its dataset"),
])
def test_options_that_do_not_apply_are_refused_with_one_line(cli, frames_run, bench, char_dataset, corpus_file, tmp_path, args, line):
    names = {"data": frames_run / "data", "run": frames_run / "run", "bench": bench, "text": char_dataset, "corpus": corpus_file, "tmp": tmp_path,
             "tunes": make_tunes(tmp_path / "tunes")}
    res = cli(*[a.format(**names) for a in args])
    assert res.code == 2, res.err
    assert res.err.startswith("error: ") and res.err.count("\n") == 1 and line.format(**names) in res.err
    assert not (tmp_path / "r").exists() and not (tmp_path / "d").exists()


def test_jsb_from_the_shared_corpora_prepares_in_seconds_with_its_published_split(cli, tmp_path):
    jsb = SHARED / "jsb-chorales-quarter.json"
    if not jsb.exists():
        pytest.skip("../shared/corpora is absent")
    res = cli("prepare", jsb, "--out", tmp_path / "jsb")
    assert res.code == 0 and "frames of 1/4 from the file name" in res.err
    meta = json.loads((tmp_path / "jsb" / "meta.json").read_text())
    assert meta["stats"]["pieces"] == {"train": 229, "val": 76, "test": 77}
    assert meta["splits"] == {"train": 13807, "val": 4602, "test": 4725}
