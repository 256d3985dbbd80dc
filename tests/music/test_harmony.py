"""Melody -> chords: chords named per beat from a chord track, pairs by piece, a harmonized MIDI file out."""

from __future__ import annotations

import json
import random

import mido
import pytest
from music_pieces import NOTTINGHAM, Q, notes, track, write

from seqgen.data.pairs import PairsDataset
from seqgen.evaluation.pairs import chord_accuracy, most_frequent_chord
from seqgen.music.harmony import beat_pitch_classes, chord_name, chord_tones, melody_source, segment_beats
from seqgen.music.tokens import MelodyTokenizer, Note, Piece

PROGRESSION = ["G", "C", "D7", "Em", "Am", "D", "G", "G"]  # one chord per bar of 4/4


@pytest.mark.parametrize(
    "pitches, name",
    [((60, 64, 67), "C"), ((57, 60, 64), "Am"), ((43, 55, 59, 62, 65), "G7"), ((59, 62, 65), "Bdim"), ((60, 64, 68), "Caug"),
     ((50, 57, 60, 65), "Dm7"), ((55, 59, 62, 66), "Gmaj7"), ((64, 67, 72), "C"), ((), "N"), ((62,), "D")],
)
def test_chords_are_named_by_root_and_quality(pitches, name):
    assert chord_name(pitches) == name  # (64, 67, 72): C major in first inversion is still C


@pytest.mark.parametrize("symbol", ["C", "F#m", "A#7", "D#m", "Gdim", "Caug", "Fmaj7", "Bm7", "Em7b5"])
def test_a_chord_written_back_as_notes_is_named_the_same(symbol):
    assert chord_name(tuple(chord_tones(symbol))) == symbol


def test_a_diminished_seventh_is_named_by_one_of_its_four_roots():
    """Its notes are a minor third apart all round, so the same four notes are C#, E, G or A#dim7."""
    assert chord_name(tuple(chord_tones("C#dim7"))) in {"C#dim7", "Edim7", "Gdim7", "A#dim7"}


def tune_with_chords(path, progression=PROGRESSION, seed=0):
    """A melody over block chords, one chord per bar held for four beats, in 4/4 at 480 ticks per quarter."""
    rng = random.Random(seed)
    melody, chords = [], []
    for bar, symbol in enumerate(progression):
        tones = chord_tones(symbol, low=48)
        chords += [(bar * 4 * Q, (bar + 1) * 4 * Q, p) for p in tones]
        for beat in range(4):
            start = (bar * 4 + beat) * Q
            melody.append((start, start + Q, rng.choice(tones) + 24))  # melody on chord tones, two octaves up
    conductor = track([(0, mido.MetaMessage("time_signature", numerator=4, denominator=4))])
    return write(path, [conductor, track(notes(melody, channel=0), "Melody"), track(notes(chords, channel=1), "Chords")])


def tunes(tmp_path, n):
    folder = tmp_path / "tunes"
    folder.mkdir()
    for i in range(n):
        tune_with_chords(folder / f"t{i}.mid", seed=i)
    return folder


def test_prepare_makes_one_chord_per_beat(cli, tmp_path):
    folder = tunes(tmp_path, 12)
    res = cli("prepare", folder, "--pairs", "melody:chords", "--segment-bars", "4", "--out", tmp_path / "d", "--val", "0.2", "--test", "0.2")
    assert res.code == 0, res.err
    ds = PairsDataset.open(tmp_path / "d")
    assert ds.meta["pairs_of"] == "melody:chords"
    assert ds.meta["harmony"] == {"steps_per_quarter": 12, "segment_bars": 4, "transpose": [0], "beat_marks": True}
    everything = []
    for split in ("train", "val", "test"):
        data = ds.split(split)
        everything += [(ds.source.decode(data.source(i)).split(), ds.target.decode(data.target(i)).split()) for i in range(len(data))]
    assert len(everything) == 24  # 12 tunes x 2 segments of 4 bars (no two alike: the melodies differ)
    targets = {tuple(t) for _, t in everything}
    assert targets == {tuple(c for c in PROGRESSION[:4] for _ in range(4)), tuple(c for c in PROGRESSION[4:] for _ in range(4))}
    for source, target in everything:
        assert source[0] == "ts:4/4" and segment_beats(source) == len(target) == 16
        # a mark where each beat starts, `bar` on the first of four, right before that beat's melody note
        marks = [t for t in source if t in ("bar", "beat")]
        assert marks == ["bar", "beat", "beat", "beat"] * 4
        assert all(source[i + 1] not in ("bar", "beat") and source[i + 1][0] in "ABCDEFG" for i, t in enumerate(source) if t in ("bar", "beat"))
        # the melody sits on chord tones, so each beat's melody pitch class belongs to that beat's chord
        for classes, chord in zip(beat_pitch_classes(source, 16), target):
            assert classes <= {p % 12 for p in chord_tones(chord)}


def melody_tokens(spq: int = 12) -> MelodyTokenizer:
    return MelodyTokenizer.untrained(MelodyTokenizer.make_settings(spq))


def test_each_beat_is_marked_before_the_melody_that_starts_in_it():
    # 4/4 at 12 steps a quarter: C5 for two and a half beats, a rest, D5, a rest across the bar line, E5 held long
    piece = Piece("x", [Note(0, 30, 72, 80, False, 0), Note(36, 6, 74, 80, False, 0), Note(60, 90, 76, 80, False, 0)], (4, 4))
    tokens = melody_source(melody_tokens(), piece, 192)
    assert " ".join(tokens) == ("ts:4/4 bar C5 d30 beat beat rest d6 beat D5 d6 rest d18 bar beat E5 d90 beat beat bar beat beat beat "
                                "bar rest d42 beat beat beat")
    assert segment_beats(tokens) == 16 and beat_pitch_classes(tokens, 4)[3] == {2}  # the marks change no time
    # a dataset made before the marks keeps its sources as they were
    assert melody_source(melody_tokens(), piece, 192, marks=False) == [t for t in tokens if t not in ("bar", "beat")]
    # compound time: a beat is a dotted quarter
    assert " ".join(melody_source(melody_tokens(), Piece("y", [Note(6, 30, 72, 80, False, 0)], (6, 8)), 72)) == \
        "ts:6/8 bar rest d6 C5 d30 beat bar rest d36 beat"


def test_a_tunes_segments_share_a_split(cli, tmp_path):
    folder = tunes(tmp_path, 30)
    assert cli("prepare", folder, "--pairs", "melody:chords", "--segment-bars", "4", "--out", tmp_path / "d", "--val", "0.3", "--test", "0.3").code == 0
    ds = PairsDataset.open(tmp_path / "d")
    # the first segment of a tune and its second fall in one split: counts per split are even (2 per tune)
    assert all(n % 2 == 0 for n in ds.meta["splits"].values()) and sum(ds.meta["splits"].values()) == 60


def test_transposed_copies_move_melody_and_chords_and_stay_in_training(cli, tmp_path):
    folder = tunes(tmp_path, 30)
    split = ("--segment-bars", "4", "--val", "0.3", "--test", "0.3")
    assert cli("prepare", folder, "--pairs", "melody:chords", *split, "--out", tmp_path / "plain").code == 0
    res = cli("prepare", folder, "--pairs", "melody:chords", *split, "--transpose", "-1,2", "--out", tmp_path / "moved")
    assert res.code == 0, res.err
    plain, moved = PairsDataset.open(tmp_path / "plain"), PairsDataset.open(tmp_path / "moved")
    assert moved.meta["splits"]["train"] == 3 * plain.meta["splits"]["train"]  # each training segment in three keys
    assert moved.meta["stats"]["transposed"] == 2 * plain.meta["splits"]["train"] and "transposed copies" in res.err
    def pairs(ds, split):
        data = ds.split(split)
        return [(ds.source.decode(data.source(i)), ds.target.decode(data.target(i))) for i in range(len(data))]

    for held_out in ("val", "test"):  # never moved, never displaced: the held-out figures stay comparable
        assert pairs(moved, held_out) == pairs(plain, held_out)
    originals = pairs(plain, "train")  # the tunes as written come first (the chord baseline is fitted on them alone)
    assert pairs(moved, "train")[: len(originals)] == originals
    data = moved.split("train")
    targets = {tuple(moved.target.decode(data.target(i)).split()) for i in range(len(data))}
    first_bars = {t[0] for t in targets}
    assert first_bars == {"G", "F#", "A", "Am", "G#m", "Bm"}  # G and Am (the two segments' first chords), at -1 and +2


def test_the_chord_baseline_is_fitted_on_the_tunes_as_written(cli, tmp_path):
    """Copies in other keys would blur its pitch-class table: with or without them, the baseline is the same."""
    folder = tunes(tmp_path, 30)
    split = ("--segment-bars", "4", "--val", "0.3", "--test", "0.3")
    small = ("--max-steps", "2", "--batch", "4", "--hidden", "8", "--embed", "8", "--quiet", "--threads", "1")
    baselines = []
    for name, extra in (("plain", ()), ("moved", ("--transpose", "all"))):
        assert cli("prepare", folder, "--pairs", "melody:chords", *split, *extra, "--out", tmp_path / name).code == 0
        assert cli("train", tmp_path / name, "--out", tmp_path / f"run-{name}", *small).code == 0
        res = cli("eval", tmp_path / f"run-{name}", "--split", "test", "--json")
        assert res.code == 0, res.err
        baselines.append(json.loads(res.out)["baselines"]["most_frequent_chord"])
    assert baselines[0] == baselines[1] and baselines[0]["chord_accuracy"] > 0


def test_transpose_is_refused_for_text_pairs(cli, tmp_path):
    (tmp_path / "p.tsv").write_text("a\tb\n")
    res = cli("prepare", tmp_path / "p.tsv", "--pairs", "--transpose", "2", "--out", tmp_path / "d")
    assert res.code == 2 and not (tmp_path / "d").exists()
    assert "--transpose is for music, melody -> chords and piano-roll datasets" in res.err
    assert "would be an encoder-decoder dataset (leave --transpose out, or pass --pairs melody:chords)" in res.err


def test_a_file_without_a_chord_track_is_skipped_and_counted(cli, tmp_path):
    folder = tunes(tmp_path, 6)
    write(folder / "solo.mid", [track(notes([(0, Q, 72), (Q, 2 * Q, 74)]), "Solo")])
    res = cli("prepare", folder, "--pairs", "melody:chords", "--out", tmp_path / "d", "--val", "0", "--test", "0")
    assert res.code == 0, res.err
    skipped = json.loads((tmp_path / "d" / "meta.json").read_text())["skipped"]
    assert skipped == [{"reason": "fewer than two melodic tracks: no chord track to learn from", "lines": 1, "first": str(folder / "solo.mid")}]


def test_the_most_frequent_chord_baseline_counts_by_hand():
    spq = 12
    # beat 1: melody G (pitch class 7), beat 2: melody C (0)
    train_src = [["ts:4/4", "G5", "d12", "C5", "d12"], ["ts:4/4", "G5", "d12", "C5", "d12"], ["ts:4/4", "G5", "d12", "C5", "d12"]]
    train_tgt = [["G", "C"], ["G", "Am"], ["Em", "C"]]
    guess = most_frequent_chord(train_src, train_tgt, [["ts:4/4", "C5", "d12", "G5", "d12"]], spq)
    assert guess == [["C", "G"]]  # {C}: C twice, Am once; {G}: G twice, Em once
    assert chord_accuracy([["C", "G"], ["D"]], [["C", "Em"], ["D", "D"]]) == pytest.approx(2 / 4)  # a missing beat counts as wrong


def test_a_melody_comes_back_harmonized_for_a_daw(cli, tmp_path):
    folder = tunes(tmp_path, 10)
    assert cli("prepare", folder, "--pairs", "melody:chords", "--segment-bars", "4", "--out", tmp_path / "d", "--val", "0", "--test", "0").code == 0
    run = tmp_path / "run"
    res = cli("train", tmp_path / "d", "--out", run, "--max-steps", "40", "--batch", "8", "--hidden", "32", "--embed", "16", "--layers", "1",
              "--lr", "1e-2", "--quiet", "--threads", "1")
    assert res.code == 0, res.err
    melody = write(tmp_path / "melody.mid", [track(notes([(b * Q, (b + 1) * Q, 67 + (b % 3) * 2) for b in range(24)]), "Flute")])
    res = cli("sample", run, "--input-midi", melody, "--out", tmp_path / "harmonized.mid", "--chord-program", "24")
    assert res.code == 0, res.err
    mid = mido.MidiFile(tmp_path / "harmonized.mid")
    assert mid.type == 1 and [t.name for t in mid.tracks[1:]] == ["Melody", "Chords"]
    chords = mid.tracks[2]
    assert any(m.type == "program_change" and m.program == 24 and m.channel == 1 for m in chords)
    ons, now = [], 0
    for m in chords:
        now += m.time
        if m.type == "note_on" and m.velocity > 0:
            ons.append(now)
    assert ons and all(t % 480 == 0 for t in ons)  # chords change on beats
    printed = cli("sample", run, "--input-midi", melody)
    assert printed.code == 0 and [len(line.split()) for line in printed.out.splitlines()] == [16, 8]  # 6 bars: 4 + 2, a chord per beat
    # melody tokens typed without the beat marks are marked as the dataset's sources are, and answered alike
    marked = (tmp_path / "d" / "train.src.txt").read_text().splitlines()[0]
    bare = " ".join(t for t in marked.split() if t not in ("bar", "beat"))
    answers = [cli("sample", run, "--input", line).out for line in (marked, bare)]
    assert answers[0] == answers[1] and len(answers[0].split()) == 16
    res = cli("eval", run, "--split", "train", "--outputs", tmp_path / "chords.txt", "--json")
    assert res.code == 0, res.err
    outputs = (tmp_path / "chords.txt").read_text().splitlines()
    references = (tmp_path / "d" / "train.tgt.txt").read_text().splitlines()
    assert [len(o.split()) for o in outputs] == [len(r.split()) for r in references]  # a chord for every beat, none missing


@pytest.mark.skipif(not NOTTINGHAM.is_dir(), reason="../shared/corpora/nottingham is absent")
def test_nottingham_tunes_give_melody_chord_pairs(cli, tmp_path):
    files = sorted(NOTTINGHAM.glob("*.mid"))[:40]
    folder = tmp_path / "nott"
    folder.mkdir()
    for f in files:
        (folder / f.name).write_bytes(f.read_bytes())
    assert cli("prepare", folder, "--pairs", "melody:chords", "--out", tmp_path / "d").code == 0
    ds = PairsDataset.open(tmp_path / "d")
    chords = set(ds.target.vocab.tokens)
    assert {"G", "D", "C", "Em"} <= chords and sum(ds.meta["splits"].values()) > 80


def test_melody_to_chords_reads_each_beats_mark_by_default_and_text_pairs_refuse_it(cli, tmp_path):
    folder = tunes(tmp_path, 10)
    assert cli("prepare", folder, "--pairs", "melody:chords", "--segment-bars", "4", "--out", tmp_path / "d", "--val", "0", "--test", "0").code == 0
    run = tmp_path / "run"
    res = cli("train", tmp_path / "d", "--out", run, "--max-steps", "30", "--batch", "8", "--hidden", "32", "--embed", "16",
              "--layers", "1", "--quiet", "--threads", "1")
    assert res.code == 0, res.err
    tokens = json.loads((tmp_path / "d" / "meta.json").read_text())["source"]["vocab"]["tokens"]
    model = json.loads((run / "config.json").read_text())["model"]
    assert model["attention"] == "beats" and model["marks"] == [tokens.index("bar"), tokens.index("beat")]
    assert cli("train", tmp_path / "d", "--out", tmp_path / "luong", "--max-steps", "2", "--batch", "8", "--attention", "luong", "--quiet").code == 0
    assert json.loads((tmp_path / "luong" / "config.json").read_text())["model"]["attention"] == "luong"
    melody = write(tmp_path / "melody.mid", [track(notes([(b * Q, (b + 1) * Q, 67 + (b % 3) * 2) for b in range(24)]), "Flute")])
    printed = cli("sample", run, "--input-midi", melody)
    assert printed.code == 0 and [len(line.split()) for line in printed.out.splitlines()] == [16, 8]
    assert cli("prepare", "addition", "--count", "200", "--out", tmp_path / "sums").code == 0
    res = cli("train", tmp_path / "sums", "--out", tmp_path / "r2", "--attention", "beats", "--max-steps", "2", "--quiet")
    assert res.code == 2 and "--attention beats needs sources that mark each output's place" in res.err
