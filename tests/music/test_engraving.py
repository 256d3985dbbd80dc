"""Scores a musician can read: pitches spelled in the key (no natural sign on a note the key signature gives), rests
that print, a key signature in sampled MIDI, and the check that counts all of it in a written MusicXML file."""

from __future__ import annotations

import mido
import pytest

from seqgen.music.events import Song, Track
from seqgen.music.keys import key_name, song_key, spelling
from seqgen.music.scores import engraving, song_to_musicxml

Q = 480


def a_major_line(key: str | None = "A") -> Song:
    # A B | (rest) C# D | E C-natural G# : a bar's rest, one note outside the key (C), the others in it
    pitches = [(0, 69), (1, 71), (3, 73), (4, 74), (5, 76), (6, 72), (7, 68)]
    notes = [(beat * Q, (beat + 1) * Q, pitch, 80) for beat, pitch in pitches]
    return Song("line", Q, [Track("Soprano", 0, 0, 0, notes)], 96.0, (3, 4), key, [])


def test_a_score_prints_rests_and_only_the_accidentals_the_key_does_not_give():
    counts = engraving(song_to_musicxml(a_major_line()))
    assert counts.notes == 7
    assert counts.rests >= 1 and counts.hidden_rests == 0  # the silent beat shows as a rest
    assert counts.accidentals == 1 and counts.needless_accidentals == 0  # the C natural, and nothing on A, B, C#, D, E, G#


def test_a_song_without_a_key_is_written_in_the_key_its_notes_suggest():
    assert song_key(a_major_line(key=None)) in ("A", "F#m")  # A major's notes (C♮ as a passing note)
    counts = engraving(song_to_musicxml(a_major_line(key=None)))
    assert counts.accidentals == 1 and counts.needless_accidentals == 0


def test_the_check_counts_an_accidental_the_key_already_gives():
    xml = b"""<score-partwise><part id="P1"><measure number="1"><attributes><key><fifths>3</fifths></key></attributes>
    <note><pitch><step>A</step><octave>4</octave></pitch><accidental>natural</accidental></note>
    <note><pitch><step>C</step><alter>1</alter><octave>5</octave></pitch><accidental>sharp</accidental></note>
    <note><pitch><step>C</step><octave>5</octave></pitch><accidental>natural</accidental></note>
    <note><rest/></note><note print-object="no"><rest/></note></measure></part></score-partwise>"""
    counts = engraving(xml)
    assert (counts.notes, counts.rests, counts.hidden_rests, counts.accidentals, counts.needless_accidentals) == (3, 2, 1, 3, 2)


@pytest.mark.parametrize(
    ("key", "expected"),
    [("A", {1: "C#", 6: "F#", 8: "G#", 3: "D#"}), ("Dm", {1: "C#", 10: "B-", 3: "E-"}), ("Eb", {3: "E-", 8: "A-", 10: "B-"}),
     ("Gb", {11: "C-"}), ("G#m", {7: "F##"})],
)
def test_pitches_are_spelled_as_the_key_spells_them(key, expected):
    names = spelling(key)
    assert {pc: names[pc] for pc in expected} == expected


def test_key_names_are_the_ones_midi_files_carry():
    assert [key_name(t, "major") for t in (0, 7, 9, 5, 10, 6)] == ["C", "G", "A", "F", "Bb", "F#"]
    assert [key_name(t, "minor") for t in (9, 2, 0, 6)] == ["Am", "Dm", "Cm", "F#m"]
    for tonic in range(12):
        for mode in ("major", "minor"):
            mido.MetaMessage("key_signature", key=key_name(tonic, mode))  # mido accepts every name we write



def test_voices_keep_their_own_clefs():
    low_alto = [(i * Q, (i + 1) * Q, p, 80) for i, p in enumerate([55, 57, 59, 60])]  # an alto line low in its range
    song = Song("satb", Q, [Track("Alto", 0, 0, 52, low_alto), Track("Tenor", 1, 1, 52, [(0, Q, 60, 80)]),
                            Track("Bass", 2, 2, 52, [(0, Q, 48, 80)]), Track("Flute", 3, 3, 73, [(0, Q, 79, 80)])], 90.0, (4, 4), "C", [])
    xml = song_to_musicxml(song).decode()
    import re

    clefs = re.findall(r"<clef>\s*<sign>(\w)</sign>\s*<line>(\d)</line>(?:\s*<clef-octave-change>(-?\d)</clef-octave-change>)?", xml)
    assert clefs == [("G", "2", ""), ("G", "2", "-1"), ("F", "4", ""), ("G", "2", "")]
