"""The grade for style: its features on a hand-built chorale, and real chorales grading better than a broken one."""

from __future__ import annotations

import json

import pytest

from seqgen.music.grade import Reference, chord_kind, grade_sets, piece_features
from seqgen.music.stats import Tone

SATB = {0: "Soprano", 1: "Alto", 2: "Tenor", 3: "Bass"}

# Four bars of quarter chords in C, Soprano, Alto, Tenor, Bass: no parallel fifth or octave, no crossing.
CHORDS = [
    (72, 67, 64, 48), (74, 67, 62, 47), (72, 67, 64, 48), (72, 69, 65, 53),
    (71, 67, 62, 55), (72, 67, 64, 48), (72, 69, 64, 45), (72, 69, 65, 53),
    (72, 67, 64, 55), (71, 67, 62, 55), (72, 67, 64, 48), (71, 67, 62, 43),
    (72, 69, 65, 53), (71, 67, 62, 55), (72, 67, 64, 48), (72, 67, 64, 48),
]


def chorale(chords=CHORDS, shift: int = 0) -> tuple[list[Tone], float, float]:
    notes = [Tone(pitch + shift, float(beat), 1.0, part) for beat, chord in enumerate(chords) for part, pitch in enumerate(chord)]
    return notes, 4.0, 1.0


def with_parallel_fifth():
    chords = list(CHORDS)
    chords[7] = (72, 69, 60, 53)  # tenor C4 over bass F3: a fifth...
    chords[8] = (72, 67, 62, 55)  # ... then D4 over G3: a fifth again, both rising (the soprano holds its C)
    return chorale(chords)


def test_the_features_of_a_chorale_with_one_parallel_fifth():
    notes, _, _ = with_parallel_fifth()
    ranges = {p: (0, 127) for p in SATB}
    clean = piece_features(chorale(), [0, 1, 2, 3], ranges)
    flawed = piece_features(with_parallel_fifth(), [0, 1, 2, 3], ranges)
    assert clean["parallels"] == 0.0
    assert flawed["parallels"] == pytest.approx(1 / 14)  # one parallel fifth over 14 chord changes (the last chord repeats)
    assert flawed["crossings and range"] == 0.0  # no voice crosses another, every note in range
    assert flawed["harmony"]["major"] >= 12 and sum(flawed["intervals 0"].values()) == 15  # the soprano's 15 melodic steps
    assert sum(flawed["rhythm"].values()) == 64 and set(flawed["rhythm"]) == {"1/4"}


def test_chord_names_hold_in_every_inversion():
    assert chord_kind({0, 4, 7}) == chord_kind({4, 7, 0}) == "major"
    assert chord_kind({7, 11, 2, 5}) == "dominant seventh" and chord_kind({9, 0, 4}) == "minor" and chord_kind({0, 1, 2}) == "other"


def test_real_chorales_grade_inside_their_own_spread_and_a_broken_one_outside():
    real = [chorale(shift=s) for s in (-2, -1, 0, 1, 2, 3, -3, 4)]
    broken_chords = [(48 + (i * 5) % 12, 72 - i % 3, 60 + (i * 7) % 12, 55 + i % 2) for i in range(16)]  # crossing, leaping voices
    report = grade_sets([chorale(shift=5), chorale(broken_chords)], real, SATB)
    assert report["bars"] == 4 and report["anchor_pieces"] == 4 and report["reference_pieces"] == 4
    features = {f["feature"] for f in report["features"]}
    assert {"pitch", "rhythm", "harmony", "parallels", "crossings and range", "repetition", "intervals Soprano", "intervals Bass"} <= features
    grade = report["grade"]
    assert grade["generated_within_spread"] == 0.5  # the transposed chorale is one of them, the broken one is not
    reference = Reference(real[1::2], list(SATB))
    assert reference.order == [0, 1, 2, 3]


def test_too_few_held_out_pieces_give_no_grade():
    assert grade_sets([chorale()], [chorale(), chorale()], SATB) is None


def test_eval_grades_a_run_whose_parts_are_voices(tmp_path, cli):
    from music_pieces import duet

    from seqgen.cli import main

    (tmp_path / "tunes").mkdir()
    for i in range(24):
        duet(tmp_path / "tunes" / f"duet{i:02d}.mid", seed=i, names=("Soprano", "Bass"))
    assert main(["prepare", str(tmp_path / "tunes"), "--out", str(tmp_path / "data"), "--level", "notes", "--val", "0.1", "--test", "0.3"]) == 0
    assert main(["train", str(tmp_path / "data"), "--out", str(tmp_path / "run"), "--hidden", "32", "--embed", "16", "--layers", "1",
                 "--batch", "8", "--seq-len", "32", "--max-steps", "60", "--threads", "1", "--quiet"]) == 0
    res = cli("eval", tmp_path / "run", "--bleu", "--bleu-samples", "2", "--prompt-len", "20", "--cont-len", "20", "--num", "3", "--length", "150",
              "--ngram", "0", "--json")
    assert res.code == 0, res.err
    grade = json.loads(res.out)["generation"]["music"]["grade"]
    assert grade["anchor_pieces"] + grade["reference_pieces"] >= 4  # the test split's pieces, half and half
    assert {f["feature"] for f in grade["features"]} >= {"intervals Soprano", "intervals Bass", "parallels"}
    assert grade["grade"]["held_out_spread"][0] <= grade["grade"]["held_out_median"] <= grade["grade"]["held_out_spread"][1]
    assert "style grade" in res.err
