"""Piano-roll frames: MIDI <-> frames on a grid, exact round trips, and the published benchmark files read safely."""

from __future__ import annotations

import json
import os
import pickle

import mido
import numpy as np
import pytest
from helpers import SHARED
from music_pieces import notes, track, write

from seqgen.errors import InputError
from seqgen.music.midi_io import read_midi, song_to_midi_bytes
from seqgen.music.pianoroll import KEYS, key_name, read_benchmark, roll_to_song, song_to_roll

JSB = SHARED / "jsb-chorales-quarter.json"
C4, E4, G4 = 60, 64, 67


def column(pitch: int) -> int:
    return pitch - 21


def roll_of(*frames: tuple[int, ...]) -> np.ndarray:
    roll = np.zeros((len(frames), KEYS), dtype=bool)
    for t, pitches in enumerate(frames):
        roll[t, [column(p) for p in pitches]] = True
    return roll


def test_the_columns_are_the_88_piano_keys():
    assert (key_name(0), key_name(column(C4)), key_name(87)) == ("A0", "C4", "C8")


@pytest.mark.parametrize("per_quarter", [1, 2, 4])
def test_frames_to_midi_to_frames_is_exact(tmp_path, per_quarter):
    rng = np.random.default_rng(per_quarter)
    roll = rng.random((64, KEYS)) < 0.05
    roll[-1, 0] = True  # a note in the last frame: a MIDI file ends with its last note, so trailing silence is not kept
    path = tmp_path / "roll.mid"
    path.write_bytes(song_to_midi_bytes(roll_to_song(roll, per_quarter)))
    assert np.array_equal(song_to_roll(read_midi(path), per_quarter), roll)


def test_a_held_note_and_a_restruck_note_are_the_same_frames(tmp_path):
    """Two quarter notes C4 C4 and one half note C4 give the same piano roll (and C4 C4 comes back as a half note)."""
    repeated = write(tmp_path / "repeated.mid", [track(notes([(0, 480, C4), (480, 960, C4)]))])
    held = write(tmp_path / "held.mid", [track(notes([(0, 960, C4)]))])
    assert np.array_equal(song_to_roll(read_midi(repeated), 1), song_to_roll(read_midi(held), 1))
    assert roll_to_song(song_to_roll(read_midi(repeated), 1), 1).tracks[0].notes == [(0, 960, C4, 80)]


def test_notes_land_on_the_nearest_grid_points_and_shorter_ones_drop(tmp_path):
    from collections import Counter

    song = read_midi(write(tmp_path / "m.mid", [
        track(notes([(0, 480, C4), (470, 960, E4), (960, 1080, G4), (1200, 1320, G4)])),  # on the beat, early, 16ths on and off the beat
        track(notes([(0, 960, 36)], channel=9)),  # drums are not pitches
        track(notes([(0, 480, 12)])),  # below the piano
    ]))
    dropped: Counter = Counter()
    assert np.array_equal(song_to_roll(song, 1, dropped), roll_of((C4,), (E4,), (G4,)))  # a 16th on the beat is heard there
    assert np.array_equal(song_to_roll(song, 4), roll_of((C4,), (C4,), (C4,), (C4,), (E4,), (E4,), (E4,), (E4,), (G4,), (), (G4,)))
    assert dropped == Counter({"outside the 88 piano keys": 1, "sounding at no grid point": 1})  # the off-beat 16th at 1/4


def test_every_jsb_chorale_round_trips_through_midi_exactly(tmp_path):
    if not JSB.exists():
        pytest.skip("../shared/corpora is absent")
    pieces = read_benchmark(JSB)
    assert [len(pieces[s]) for s in ("train", "val", "test")] == [229, 76, 77]
    assert [sum(map(len, pieces[s])) for s in ("train", "val", "test")] == [13807, 4602, 4725]
    for roll in pieces["test"]:  # none ends on a silent frame (a MIDI file ends with its last note)
        path = tmp_path / "roll.mid"
        path.write_bytes(song_to_midi_bytes(roll_to_song(roll, 1)))
        assert np.array_equal(song_to_roll(read_midi(path), 1), roll)


BENCHMARK = {"train": [[[60, 64, 67], [60, 64, 67], [62, 65]], [[55], []]], "valid": [[[48, 60]]], "test": [[[21, 108]]]}


def expected_rolls() -> dict[str, list[np.ndarray]]:
    return {"train": [roll_of((60, 64, 67), (60, 64, 67), (62, 65)), roll_of((55,), ())], "val": [roll_of((48, 60))], "test": [roll_of((21, 108))]}


def assert_rolls(found, expected) -> None:
    assert found.keys() == expected.keys()
    for split in found:
        assert [r.tolist() for r in found[split]] == [r.tolist() for r in expected[split]], split


def test_the_json_form_keeps_its_own_split_and_valid_is_val(tmp_path):
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(BENCHMARK))
    assert_rolls(read_benchmark(path), expected_rolls())


@pytest.mark.parametrize("protocol", [2, 5])
def test_the_pickle_form_reads_lists_tuples_and_sets(tmp_path, protocol):
    """The 2012 files are Python 2 pickles (protocol 2) of lists; sets and tuples decode too (protocol 4+ has opcodes for them)."""
    data = {k: [[tuple(f) for f in piece] for piece in v] for k, v in BENCHMARK.items()}
    if protocol >= 4:
        data["test"] = [[{21, 108}]]
    path = tmp_path / "bench.pickle"
    path.write_bytes(pickle.dumps(data, protocol=protocol))
    assert_rolls(read_benchmark(path), expected_rolls())


class RunsACommand:
    """Unpickling this would call os.system: a stand-in for any code a crafted pickle could run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("where", ["top", "inside a frame"])
def test_a_pickle_that_would_run_code_is_refused_and_creates_nothing(tmp_path, where):
    marker = tmp_path / "pwned"
    payload = RunsACommand(marker)
    data = payload if where == "top" else {"train": [[[60, payload]]], "valid": [], "test": []}
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(data, protocol=2))
    with pytest.raises(InputError, match=r"evil.pkl is refused: it names (posix|nt|os)\.system"):
        read_benchmark(path)
    assert not marker.exists()


@pytest.mark.parametrize("content, message", [
    ({"lines": ["a", "b"]}, "is not a piano-roll benchmark"),
    ({"train": [[[60]]], "extra": []}, "unknown split 'extra'"),
    ({"train": [[[60, 200]]]}, r"\[train\] piece 0 frame 0 holds 200, not a piano key"),
    ({"train": [[[60.5]]]}, "holds 60.5"),
    ({"train": [[60]]}, "frame 0 is not a list of MIDI pitches"),
    ({"train": "abc"}, "is not a list of pieces"),
])
def test_anything_else_is_refused_with_one_line_naming_the_place(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(content))
    with pytest.raises(InputError, match=message):
        read_benchmark(path)


def test_a_pickle_that_shares_one_list_a_billion_times_is_refused(tmp_path, monkeypatch):
    """Pickle memo references let a few bytes stand for a huge structure; the reader counts what it visits (here
    against a cap lowered from 20 million pitches to one million, to keep the test fast)."""
    monkeypatch.setattr("seqgen.music.pianoroll.MAX_PITCH_ENTRIES", 1_000_000)
    frame = list(range(21, 109))
    piece = [frame] * 10_000
    path = tmp_path / "bomb.pickle"
    path.write_bytes(pickle.dumps({"train": [piece] * 10_000}, protocol=2))
    assert path.stat().st_size < 100_000
    with pytest.raises(InputError, match="decompression bomb"):
        read_benchmark(path)


def test_a_type1_file_comes_out(tmp_path):
    roll = roll_of((C4, E4, G4), (C4, E4, G4), ())
    path = tmp_path / "x.mid"
    path.write_bytes(song_to_midi_bytes(roll_to_song(roll, 2, program=19, tempo=80)))
    mid = mido.MidiFile(path)
    assert mid.type == 1 and mid.ticks_per_beat == 480 and len(mid.tracks) == 2
    assert [m.program for m in mid.tracks[1] if m.type == "program_change"] == [19]
    ons = [(m.note) for m in mid.tracks[1] if m.type == "note_on" and m.velocity]
    assert sorted(ons) == [C4, E4, G4]
