"""MIDI in and out: real-world quirks read right, broken files refused with a reason, written files a DAW accepts."""

from __future__ import annotations

import glob
import shutil
import struct
import subprocess
import wave
from pathlib import Path

import mido
import numpy as np
import pytest
from music_pieces import METHENY, Q, band_piece

from seqgen.errors import InputError
from seqgen.music.events import Song, Track
from seqgen.music.midi_io import midi_bytes_to_song, read_midi, song_to_midi_bytes
from seqgen.music.tokens import MelodyTokenizer, Note, NotesTokenizer, Piece


def test_reads_tracks_channels_programs_and_conductor_meta(tmp_path):
    song = read_midi(band_piece(tmp_path / "band.mid"))
    assert song.ticks_per_quarter == Q
    assert song.tempo == pytest.approx(120.0) and song.time_signature == (4, 4)
    by_name = {t.name: t for t in song.tracks}
    assert set(by_name) == {"Lead", "Chords", "Drums"}
    assert by_name["Lead"].program == 73 and by_name["Drums"].is_drum
    lead = by_name["Lead"].notes
    # the restart of a sounding pitch ends the earlier note there
    assert (4 * Q, 5 * Q, 72, 90) in lead and (5 * Q, 6 * Q, 72, 90) in lead


def test_running_status_and_note_on_velocity_zero(tmp_path):
    # hand-written track: note_on C4, then running status (no status byte) with velocity 0 as the note-off
    body = bytes([0x00, 0x90, 60, 100, 0x83, 0x60, 60, 0, 0x00, 0xFF, 0x2F, 0x00])
    data = b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480) + b"MTrk" + struct.pack(">I", len(body)) + body
    song = midi_bytes_to_song(data, "rs.mid")
    assert song.tracks[0].notes == [(0, 480, 60, 100)]


def test_out_of_range_data_bytes_are_clipped_not_fatal(tmp_path):
    body = bytes([0x00, 0x90, 60, 0xC8, 0x83, 0x60, 0x80, 60, 0, 0x00, 0xFF, 0x2F, 0x00])  # velocity byte 200
    data = b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480) + b"MTrk" + struct.pack(">I", len(body)) + body
    song = midi_bytes_to_song(data, "clip.mid")
    assert song.tracks[0].notes == [(0, 480, 60, 127)]


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "empty file"),
        (b"hello world, not midi", "no MThd"),
        (b"MThd" + struct.pack(">IHHH", 6, 1, 1, 0), "time division of 0"),
        (b"MThd" + struct.pack(">IHHH", 6, 1, 1, 0xE728), "SMPTE"),
        (b"MThd" + struct.pack(">IHHH", 6, 2, 1, 480) + b"MTrk" + struct.pack(">I", 4) + b"\x00\xff\x2f\x00", "format 2"),
        (b"MThd" + struct.pack(">IHHH", 6, 1, 65535, 480), "no track chunks"),
        (b"MThd" + struct.pack(">IHHH", 6, 1, 1, 480) + b"MTrk" + struct.pack(">I", 999) + b"\x00\x90\x3c", "truncated"),
        (b"MThd" + struct.pack(">IHHH", 6, 1, 1, 480) + b"MTrk" + struct.pack(">I", 3) + b"\x00\x3c\x40", "unreadable MIDI data"),
    ],
    ids=["empty", "not-midi", "division-0", "smpte", "format-2", "65535-tracks", "lying-length", "running-status-first"],
)
def test_broken_files_give_one_line_reasons(data, reason):
    with pytest.raises(InputError) as info:
        midi_bytes_to_song(data, "bad.mid")
    assert reason in info.value.message and "\n" not in info.value.message


def test_size_cap(tmp_path, monkeypatch):
    monkeypatch.setattr("seqgen.music.midi_io.MAX_MIDI_BYTES", 100)
    path = band_piece(tmp_path / "big.mid")
    with pytest.raises(InputError, match="over the 0 MiB cap"):
        read_midi(path)


def test_note_on_that_never_ends_is_closed_at_track_end():
    body = bytes([0x00, 0x90, 60, 100, 0x83, 0x60, 0xFF, 0x2F, 0x00])
    data = b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480) + b"MTrk" + struct.pack(">I", len(body)) + body
    song = midi_bytes_to_song(data, "open.mid")
    assert song.tracks[0].notes == [(0, 480, 60, 100)]
    assert song.dropped["note-on without note-off, closed at track end"] == 1


# ---------------------------------------------------------------- writing


def _written(tmp_path, level="notes", drums=True) -> tuple[Path, Piece]:
    cls = NotesTokenizer if level == "notes" else MelodyTokenizer
    tok = cls.untrained(cls.make_settings(drums=drums))
    piece = Piece("t", [Note(0, 12, 60, 90), Note(0, 12, 64, 90), Note(12, 6, 60, 90), Note(18, 6, 60, 90), Note(24, 24, 67, 90), Note(0, 3, 36, 100, True)], (3, 4), 100.0, "G")
    if not drums:
        piece.notes = [n for n in piece.notes if not n.drum]
    path = tmp_path / "out.mid"
    path.write_bytes(tok.to_midi_bytes(piece, program=40, velocity=70))
    return path, piece


def test_written_file_is_what_a_daw_expects(tmp_path):
    path, _ = _written(tmp_path)
    mid = mido.MidiFile(path)
    assert mid.type == 1 and mid.ticks_per_beat == 480
    conductor = {m.type: m for m in mid.tracks[0]}
    assert conductor["set_tempo"].tempo == mido.bpm2tempo(100)
    assert (conductor["time_signature"].numerator, conductor["time_signature"].denominator) == (3, 4)
    assert conductor["key_signature"].key == "G" and "track_name" in conductor
    assert not any(m.type in ("note_on", "note_off") for m in mid.tracks[0])
    for tr in mid.tracks[1:]:
        kinds = [m.type for m in tr]
        assert kinds[0] == "track_name" and "program_change" in kinds and kinds[-1] == "end_of_track"
        chans = {m.channel for m in tr if hasattr(m, "channel")}
        assert len(chans) == 1
    melodic, drums = mid.tracks[1], mid.tracks[2]
    assert [m.program for m in melodic if m.type == "program_change"] == [40]
    assert {m.channel for m in drums if m.type == "note_on"} == {9}
    # every note-on has its note-off; a same-pitch restart comes after the note-off at that tick; no zero length
    for tr in mid.tracks[1:]:
        tick, sounding = 0, {}
        for m in tr:
            tick += m.time
            if m.type == "note_on" and m.velocity > 0:
                assert m.note not in sounding, "note-on while the same pitch still sounds"
                sounding[m.note] = tick
            elif m.type in ("note_off", "note_on"):
                assert tick > sounding.pop(m.note), "zero-length note"
        assert not sounding
    assert all(m.velocity == 70 for m in melodic if m.type == "note_on")


def test_music21_reads_the_written_file(tmp_path):
    from music21 import converter

    path, piece = _written(tmp_path, drums=False)
    score = converter.parse(path, forceSource=True)
    pitches = sorted(p.midi for part in score.parts for n in part.stripTies().flatten().notes for p in n.pitches)
    assert pitches == sorted(n.pitch for n in piece.notes)


def test_writer_never_writes_zero_length_notes():
    song = Song("z", 480, [Track("x", 0, 0, 0, [(0, 0, 60, 90), (0, 480, 62, 90)])], 120.0, (4, 4))
    mid = mido.MidiFile(file=__import__("io").BytesIO(song_to_midi_bytes(song)))
    assert [m.note for m in mid.tracks[1] if m.type == "note_on"] == [62]


def test_metheny_guitar_solo_found_by_name():
    if not METHENY.is_file():
        pytest.skip(f"{METHENY} is absent (shared corpora not available)")
    song = read_midi(METHENY)
    tok = MelodyTokenizer.untrained(MelodyTokenizer.make_settings(tracks=["Guitar"]))
    ex = tok.extract(song)
    guitar = [t for t in song.tracks if t.name == "Guitar"]
    assert guitar and guitar[0].index == 11 and guitar[0].program == 26
    assert 1000 < len(ex.piece.notes) <= len(guitar[0].notes)
    assert NotesTokenizer.untrained(NotesTokenizer.make_settings(tracks=["guitar"])).extract(song).piece.notes


# ---------------------------------------------------------------- a real synthesizer


def _soundfont() -> str | None:
    for pattern in ("/usr/share/sounds/sf2/*.sf2", "/usr/share/soundfonts/*.sf2", "/usr/share/sounds/sf3/*.sf3"):
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    return None


def test_fluidsynth_renders_audible_audio_of_the_right_length(tmp_path):
    synth, font = shutil.which("fluidsynth"), _soundfont()
    if not synth or not font:
        pytest.skip("fluidsynth or a General MIDI soundfont is not installed (apt-get install fluidsynth fluid-soundfont-gm)")
    tok = MelodyTokenizer.untrained(MelodyTokenizer.make_settings())
    piece = Piece("r", [Note(i * 12, 12, 60 + (i * 5) % 12, 90) for i in range(16)], (4, 4), 120.0)  # 16 quarters = 8 s
    mid = tmp_path / "r.mid"
    mid.write_bytes(tok.to_midi_bytes(piece))
    wav = tmp_path / "r.wav"
    subprocess.run([synth, "-ni", "-g", "1.0", "-r", "22050", "-F", str(wav), font, str(mid)], check=True, capture_output=True, timeout=60)
    with wave.open(str(wav)) as w:
        frames, rate, width, channels = w.getnframes(), w.getframerate(), w.getsampwidth(), w.getnchannels()
        audio = np.frombuffer(w.readframes(frames), dtype={2: np.int16, 4: np.int32}[width]).astype(np.float64)
    mono = audio.reshape(-1, channels).mean(axis=1)
    window = rate // 20  # 50 ms
    rms = np.sqrt((mono[: len(mono) // window * window].reshape(-1, window) ** 2).mean(axis=1))
    assert rms.max() > 100, "the rendered audio is silent"
    loud = np.nonzero(rms > 0.05 * np.median(rms[: int(7.5 * 20)]))[0]  # fluidsynth pads the file with silence: measure the sound
    first, last = loud[0] / 20, (loud[-1] + 1) / 20
    assert first < 0.1 and abs(last - 8.0) <= 0.5, f"the sound lasts from {first:.2f} s to {last:.2f} s; the notes say 0 to 8 s (120 bpm, one beat = 0.5 s)"
    assert (rms[: int(7.5 * 20)] > 0.05 * np.median(rms[: int(7.5 * 20)])).all(), "a stretch of the tune is silent"
