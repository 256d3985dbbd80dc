"""Parts in the notes level: voices and instruments kept apart from prepare to sample, and scores and audio out."""

from __future__ import annotations

import json
import wave

import mido
import numpy as np
import pytest
from music_pieces import METHENY, NOTTINGHAM, Q, band_piece, duet, notes, track, write

from seqgen.cli import main
from seqgen.data import corpora
from seqgen.errors import SeqgenError
from seqgen.levels import tokenizer_from_meta
from seqgen.music.audio import find_fluidsynth, find_soundfont
from seqgen.music.events import Song, Track
from seqgen.music.midi_io import midi_bytes_to_song, read_midi, song_to_midi_bytes
from seqgen.music.parts import Part, PartTable
from seqgen.music.scores import corpus_files, engraving, read_score
from seqgen.music.stats import Tone, compare_parts, part_rhythm, voice_leading
from seqgen.music.tokens import Note, NotesTokenizer, Piece, read_songs


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQGEN_CACHE", str(tmp_path / "cache"))


def with_parts(drums: bool = False) -> NotesTokenizer:
    return NotesTokenizer.untrained(NotesTokenizer.make_settings(parts="track", drums=drums))


def timing(notes):
    return [(n.start, n.dur, n.pitch, n.drum, n.part) for n in notes]


# ---------------------------------------------------------------- round trip, part by part


def _songs(source: str, tmp_path) -> list[Song]:
    if source == "bach":  # music21's chorales: every clone has them
        files = corpus_files(corpora.find("bach"))
        return [s for path in files[:: len(files) // 3][:3] for s in read_songs(path)]
    if source == "band":
        return [read_midi(band_piece(tmp_path / "band.mid"))]
    path = {"nottingham": NOTTINGHAM, "metheny": METHENY}[source]
    if not path.exists():
        pytest.skip(f"{path} is absent (shared corpora not available)")
    return [read_midi(p) for p in sorted(NOTTINGHAM.glob("*.mid"))[::100][:10]] if source == "nottingham" else [read_midi(path)]


@pytest.mark.parametrize("source, parts", [("bach", 4), ("nottingham", 2), ("metheny", 19), ("band", 3)])
def test_round_trip_with_parts_is_exact_per_part(source, parts, tmp_path):
    """Tokens -> MIDI -> tokens: every note keeps its part, pitch, quantized onset and duration; every part its
    program and channel (drums on channel 10)."""
    for song in _songs(source, tmp_path):
        tok = with_parts(drums=source in ("metheny", "band"))
        kept = tok.extract(song).piece
        tokens = tok.encode_piece(kept)
        fitted = NotesTokenizer.fit([tokens], tok.settings)
        decoded = fitted.decode_piece(fitted.ids_of(tokens)[0])
        assert timing(decoded.notes) == timing(kept.notes), song.name
        back = midi_bytes_to_song(song_to_midi_bytes(fitted.to_song(decoded)), "again.mid")
        played = sorted({n.part for n in kept.notes})
        assert [(t.name, t.program, t.channel) for t in back.tracks] == [(p.name, p.program, p.channel) for p in (fitted.table.parts[i] for i in played)]
        again = fitted.extract(back).piece
        assert timing(again.notes) == timing(kept.notes) and fitted.encode_piece(again) == tokens, song.name
        assert len(fitted.table.parts) >= parts if source == "bach" else len(fitted.table.parts) == parts
    if source == "metheny":
        assert {t.channel for t in back.tracks if t.name in ("Ride", "Snare", "Kick")} == {9}
        assert [t.program for t in back.tracks if t.name in ("Bass", "Guitar")] == [32, 26]


def test_unisons_in_different_parts_are_two_notes(tmp_path, cli):
    both = [(0, Q, 60), (Q, 2 * Q, 64)]
    (tmp_path / "src").mkdir()
    write(tmp_path / "src" / "unison.mid", [track(notes(both, channel=0), "Soprano"), track(notes(both, channel=1), "Alto")])
    res = cli("prepare", tmp_path / "src", "--out", tmp_path / "parts", "--level", "notes", "--val", "0", "--test", "0")
    assert res.code == 0, res.err
    meta = json.loads((tmp_path / "parts" / "meta.json").read_text())
    assert meta["stats"]["notes"] == 4 and "duplicate note (same pitch, same onset)" not in meta["stats"]["dropped"]
    assert [p["name"] for p in meta["tokenizer"]["parts"]] == ["Soprano", "Alto"] and meta["tokenizer"]["parts_mode"] == "track"
    merged = cli("prepare", tmp_path / "src", "--out", tmp_path / "merged", "--level", "notes", "--parts", "none", "--val", "0", "--test", "0")
    meta = json.loads((tmp_path / "merged" / "meta.json").read_text())
    assert merged.code == 0 and meta["stats"]["notes"] == 2 and meta["stats"]["dropped"]["duplicate note (same pitch, same onset)"] == 2
    assert not any(t.startswith("part:") for t in meta["vocab"]["tokens"])


def test_part_tokens_only_where_the_part_changes():
    song = Song("s", Q, [Track("Soprano", 0, 0, 52, [(0, Q, 72, 90), (Q, 2 * Q, 74, 90)]),
                         Track("Bass Voice", 1, 1, 52, [(0, 2 * Q, 48, 90), (0, 2 * Q, 55, 90)])])
    tok = with_parts()
    assert tok.encode_piece(tok.extract(song).piece) == [
        "<bos>", "ts:4/4", "part:Soprano", "C5", "d12", "part:Bass_Voice", "C3", "d24", "G3", "d24",
        "t12", "part:Soprano", "D5", "d12", "<eos>"]


def test_a_dataset_made_before_parts_loads_and_writes_one_track():
    tok = NotesTokenizer.untrained(NotesTokenizer.make_settings())
    song = Song("s", Q, [Track("a", 0, 0, 0, [(0, Q, 60, 90)]), Track("b", 1, 1, 0, [(0, Q, 60, 90), (Q, 2 * Q, 67, 90)])])
    tokens = tok.encode_piece(tok.extract(song).piece)
    old = NotesTokenizer.fit([tokens], tok.settings).to_meta()
    meta = {"level": "notes", "vocab": NotesTokenizer.fit([tokens], tok.settings).vocab.to_meta(), "tokenizer": old["settings"]}
    assert "parts" not in meta["tokenizer"] and "parts_mode" not in meta["tokenizer"]
    loaded = tokenizer_from_meta(meta)
    assert loaded.table is None and tokens == ["<bos>", "ts:4/4", "C4", "d12", "t12", "G4", "d12", "<eos>"]
    written = loaded.to_song(loaded.decode_piece(loaded.ids_of(tokens)[0]), program=40)
    assert [(t.name, t.program, len(t.notes)) for t in written.tracks] == [("seqgen", 40, 2)]


def test_a_part_never_played_is_not_written():
    tok = NotesTokenizer.fit([["<bos>"]], {**NotesTokenizer.make_settings(parts="track"),
                                           "parts": [{"name": n, "program": 0, "channel": c, "drum": False} for c, n in enumerate(["S", "A", "T", "B"])]})
    song = tok.to_song(Piece("p", [Note(0, 12, 60, 80, part=1), Note(0, 12, 48, 80, part=3)]))
    assert [(t.name, t.channel) for t in song.tracks] == [("A", 1), ("B", 3)]


def test_odd_files_are_read_and_what_was_merged_is_reported(tmp_path, cli):
    """30 tracks, unnamed ones, two of the same name, a track with no notes, drums: one dataset, nothing lost unsaid."""
    tracks = [track([(0, mido.MetaMessage("set_tempo", tempo=500000))], "conductor")]
    for i in range(30):
        name = "Guitar" if i in (3, 4) else None if i in (7, 8) else f"Horn {i}"
        tracks.append(track(notes([(Q * k, Q * (k + 1), 40 + i + k % 3) for k in range(8)], channel=i % 9, program=i), name))
    tracks.append(track([], "Silent"))
    tracks.append(track(notes([(Q * k, Q * k + Q // 2, 36) for k in range(8)], channel=9), None))
    res = cli("prepare", write(tmp_path / "big band.mid", tracks), "--out", tmp_path / "d", "--level", "notes", "--drums", "--val", "0", "--test", "0")
    assert res.code == 0, res.err
    meta = json.loads((tmp_path / "d" / "meta.json").read_text())
    parts = meta["tokenizer"]["parts"]
    names = [p["name"] for p in parts]
    assert sum(not p["drum"] for p in parts) == 15 and "Silent" not in names  # one MIDI channel each for 15 melodic parts
    assert len({p["channel"] for p in parts if not p["drum"]}) == 15 and [p["channel"] for p in parts if p["drum"]] == [9]
    assert {"Guitar", "Guitar 2", "Track 8", "Track 9", "Drums"} <= set(names)  # numbered, unnamed, unnamed drums
    assert sum(meta["stats"]["parts"]["merged"].values()) == 30 - 15  # the melodic tracks beyond the first 15
    assert meta["stats"]["notes"] == 30 * 8 + 8  # read as other parts, their notes are kept
    assert "tracks read as another part" in res.err and "read track Horn 15 as part Horn 14 (in 1 of 1 pieces)" in res.err


# ---------------------------------------------------------------- sampling: tracks, staves and audio per part


@pytest.fixture(scope="module")
def duet_run(tmp_path_factory):
    """A tiny run on two-part tunes (melody and chords), trained just enough to alternate its parts."""
    root = tmp_path_factory.mktemp("duets")
    (root / "tunes").mkdir()
    for i in range(16):
        duet(root / "tunes" / f"duet{i:02d}.mid", seed=i)
    assert main(["prepare", str(root / "tunes"), "--out", str(root / "data"), "--level", "notes", "--val", "0.1", "--test", "0.1"]) == 0
    assert main(["train", str(root / "data"), "--out", str(root / "run"), "--hidden", "64", "--embed", "16", "--layers", "1", "--batch", "8",
                 "--seq-len", "32", "--max-steps", "120", "--eval-every", "60", "--lr", "1e-2", "--threads", "1", "--quiet"]) == 0
    duet(root / "primer.mid", seed=99, names=("Fiddle", "Guitar"), programs=(40, 25), bars=2)
    return root


def test_sample_writes_a_named_track_per_part_with_its_program(duet_run, cli, tmp_path):
    res = cli("sample", duet_run / "run", "--out", tmp_path / "t.mid", "--bars", "4", "--greedy", "--program", "chords=33")
    assert res.code == 0, res.err
    assert "in 2 parts (Melody, Chords)" in res.err
    mid = mido.MidiFile(tmp_path / "t.mid")
    heads = [([m.name for m in tr if m.type == "track_name"], [(m.channel, m.program) for m in tr if m.type == "program_change"]) for tr in mid.tracks[1:]]
    assert heads == [(["Melody"], [(0, 73)]), (["Chords"], [(1, 33)])]
    res = cli("sample", duet_run / "run", "--out", tmp_path / "all.mid", "--bars", "2", "--program", "0", "--seed", "1")
    assert res.code == 0 and {t.program for t in read_midi(tmp_path / "all.mid").tracks} == {0}


@pytest.mark.parametrize("spec, message", [("Tenor=52", "--program names 'Tenor', which is not a part of this run (its parts: Melody, Chords)"),
                                           ("Melody=128", "Invalid value for '--program'"), ("piano", "Invalid value for '--program'")])
def test_program_errors_exit_2(duet_run, cli, spec, message):
    res = cli("sample", duet_run / "run", "--bars", "1", "--program", spec)
    assert res.code == 2 and message in res.err and res.err.count("\n") == 1


def test_a_two_part_primer_continues_in_its_two_parts(duet_run, cli, tmp_path):
    res = cli("sample", duet_run / "run", "--prime-midi", duet_run / "primer.mid", "--bars", "4", "--greedy", "--out", tmp_path / "p.mid")
    assert res.code == 0, res.err
    assert "the primer's part 'Fiddle' is not one of this run's; the run continues it as its part 'Melody'" in res.err
    song = read_midi(tmp_path / "p.mid")
    assert [(t.name, t.program) for t in song.tracks] == [("Fiddle", 40), ("Guitar", 25)]  # the primer's own parts
    primer_end = 2 * 4 * Q
    for t in song.tracks:
        assert any(start >= primer_end for start, _, _, _ in t.notes), f"{t.name} stops with the primer"


def test_musicxml_holds_the_parts_and_notes_sampled(duet_run, cli, tmp_path):
    args = ("--bars", "4", "--seed", "5", "--tempo", "90")
    assert cli("sample", duet_run / "run", "--out", tmp_path / "s.mid", *args).code == 0
    for name in ("s.musicxml", "s.mxl"):
        res = cli("sample", duet_run / "run", "--out", tmp_path / name, *args)
        assert res.code == 0, res.err
        score = read_score(tmp_path / name, use_cache=False)[0]  # music21 reads it back
        midi = read_midi(tmp_path / "s.mid")
        assert [t.name for t in score.tracks] == [t.name for t in midi.tracks] == ["Melody", "Chords"]
        for staff, written in zip(score.tracks, midi.tracks):
            assert sorted((s, e, p) for s, e, p, _ in staff.notes) == sorted((s, e, p) for s, e, p, _ in written.notes)
        assert score.time_signature == (4, 4) and score.tempo == 90
    counts = engraving((tmp_path / "s.musicxml").read_bytes())  # what a musician reads: rests shown, no needless accidental
    assert counts.hidden_rests == 0 and counts.needless_accidentals == 0
    keys = [m.key for track in mido.MidiFile(tmp_path / "s.mid").tracks for m in track if m.type == "key_signature"]
    assert len(keys) == 1  # a DAW shows the sample's key signature


def test_wav_without_fluidsynth_is_one_line_and_exit_1(duet_run, cli, tmp_path, monkeypatch):
    monkeypatch.setattr("seqgen.music.audio.shutil.which", lambda name: None)
    res = cli("sample", duet_run / "run", "--out", tmp_path / "s.wav", "--bars", "2")
    assert res.code == 1 and res.err.count("\n") == 1
    assert "fluidsynth" in res.err and "apt-get install fluidsynth fluid-soundfont-gm" in res.err
    assert not (tmp_path / "s.wav").exists()
    monkeypatch.setattr("seqgen.music.audio.shutil.which", lambda name: "/usr/bin/fluidsynth")
    monkeypatch.setattr("seqgen.music.audio.SOUNDFONT_PLACES", (str(tmp_path),))
    res = cli("sample", duet_run / "run", "--out", tmp_path / "s.wav", "--bars", "2")
    assert res.code == 1 and "needs a General MIDI soundfont" in res.err and res.err.count("\n") == 1
    res = cli("sample", duet_run / "run", "--out", tmp_path / "s.wav", "--soundfont", tmp_path / "none.sf2")
    assert res.code == 2 and "--soundfont: no such file" in res.err
    res = cli("sample", duet_run / "run", "--out", tmp_path / "s.mid", "--soundfont", tmp_path / "none.sf2")
    assert res.code == 2 and "--soundfont is for .wav output" in res.err


def test_wav_plays_for_the_length_of_the_music(duet_run, cli, tmp_path):
    try:
        find_fluidsynth(), find_soundfont()
    except SeqgenError:
        pytest.skip("fluidsynth or a General MIDI soundfont is not installed (apt-get install fluidsynth fluid-soundfont-gm)")
    res = cli("sample", duet_run / "run", "--out", tmp_path / "s.wav", "--bars", "4", "--tempo", "120", "--seed", "2")
    assert res.code == 0, res.err
    assert cli("sample", duet_run / "run", "--out", tmp_path / "s.mid", "--bars", "4", "--tempo", "120", "--seed", "2").code == 0
    end = max(e for t in read_midi(tmp_path / "s.mid").tracks for _, e, _, _ in t.notes) / Q * 0.5  # seconds at 120 bpm
    with wave.open(str(tmp_path / "s.wav")) as w:
        assert w.getsampwidth() == 2
        rate, samples = w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, w.getnchannels())
    level = np.abs(samples.astype(np.int32)).max(axis=1)
    audible = np.nonzero(level > 0.01 * level.max())[0]  # louder than -40 dB of the peak: the notes, not the reverb's tail
    last = audible[-1] / rate
    assert end - 0.5 <= last <= end + 2.0, f"sound until {last:.2f} s for {end:.2f} s of notes"
    assert len(samples) / rate >= end


def test_eval_sets_each_part_beside_its_held_out_self(duet_run, cli):
    res = cli("eval", duet_run / "run", "--bleu", "--bleu-samples", "3", "--prompt-len", "20", "--cont-len", "20", "--num", "3", "--length", "200", "--ngram", "0", "--json")
    assert res.code == 0, res.err
    music = json.loads(res.out)["generation"]["music"]
    assert [p["part"] for p in music["parts"]] == ["Melody", "Chords"] and music["voice_leading"]["order"] == ["Melody", "Chords"]
    chords = music["parts"][1]["held_out"]
    assert chords["changes_per_bar"] <= 2 and chords["on_beat"] == 1.0  # the duets change chord every half bar
    assert music["parts"][0]["held_out"]["in_range"] == 1.0 and "music by part" in res.err


def test_plot_colours_the_piano_roll_by_part(duet_run, cli, tmp_path):
    pytest.importorskip("matplotlib")
    res = cli("plot", duet_run / "tunes" / "duet00.mid", "--out", tmp_path / "roll.png")
    assert res.code == 0 and (tmp_path / "roll.png").stat().st_size > 1000


# ---------------------------------------------------------------- voice leading, counted by hand


def _voices(*lines: list[int]) -> list[Tone]:
    """Parts of quarter notes, part 0 first: one list of pitches per part."""
    return [Tone(p, float(i), 1.0, part) for part, line in enumerate(lines) for i, p in enumerate(line)]


def test_parallel_fifths_octaves_and_crossings_counted_by_hand():
    # C5/F4 -> D5/G4: fifths both up (parallel); -> E5/E4 octave; -> F5/F4 octave both up (parallel);
    # -> G5/F4 oblique (no parallel); -> E4/A4: the upper part crosses below the lower
    counts = voice_leading(_voices([72, 74, 76, 77, 79, 64], [65, 67, 64, 65, 65, 69]), order=[0, 1])
    assert counts == {"changes": 5, "fifths": 1, "octaves": 1, "crossings": 1}
    contrary = voice_leading(_voices([67, 72], [60, 53]), order=[0, 1])  # a fifth to a nineteenth, in contrary motion
    assert contrary["fifths"] == 0 and contrary["changes"] == 1


def test_part_changes_and_beats():
    c, g = (48, 52, 55), (43, 47, 50)
    chords = [Tone(p, onset, 2.0, 1) for onset, chord in ((0.0, c), (2.0, c), (4.0, g)) for p in chord] + [Tone(50, 5.5, 0.5, 1)]
    assert part_rhythm(chords, 1, beat=1.0) == (3, 2)  # the same chord struck again is no change; 5.5 is off the beat
    stats = compare_parts([(chords, 4.0, 1.0)], [(chords, 4.0, 1.0)], {1: "Chords"})
    assert stats["parts"][0]["held_out_range"] == [43, 55] and stats["parts"][0]["generated"]["in_range"] == 1.0
    assert stats["parts"][0]["generated"]["changes_per_bar"] == 3 / 2


# ---------------------------------------------------------------- folding parts into voices as a musician reads a score


def test_named_voices_are_kept_and_instruments_are_left_out_with_their_reason():
    """bwv41.6 as music21 has it: the alto line is labelled `Alto Oboe 2 Viloin 2`; the trumpets play lines of their
    own, the timpani is no voice, a violin doubles the soprano an octave up. Only the four voices are read."""
    Q8 = Q // 2
    soprano = [(i * Q, (i + 1) * Q, p, 80) for i, p in enumerate([72, 74, 76, 77, 76, 74, 72, 71])]
    alto = [(i * Q, (i + 1) * Q, p, 80) for i, p in enumerate([67, 67, 67, 69, 67, 65, 64, 62])]
    tenor = [(i * Q, (i + 1) * Q, p, 80) for i, p in enumerate([64, 62, 60, 60, 60, 59, 55, 55])]
    bass = [(i * Q, (i + 1) * Q, p, 80) for i, p in enumerate([48, 47, 45, 41, 43, 43, 48, 43])]
    violin = [(s, e, p + 12, v) for s, e, p, v in soprano[:6]] + [(6 * Q, 7 * Q, 79, 80)]  # 6 of 7 notes double it
    trumpet = [(i * Q8, (i + 1) * Q8, 84 if i % 2 else 79, 80) for i in range(16)]  # fanfare eighths: its own line
    timpani = [(i * Q, (i + 1) * Q, 43 if i % 2 else 36, 80) for i in range(8)]
    tracks = [Track("Trumpet 1", 0, 0, 56, trumpet), Track("Timpani", 1, 1, 0, timpani), Track("Violin 1", 2, 2, 40, violin),
              Track("Soprano Oboe 1 Violin1", 3, 3, 68, soprano), Track("Alto Oboe 2 Viloin 2", 4, 4, 68, alto),
              Track("Tenor Viola", 5, 5, 41, tenor), Track("Bass Continuo", 6, 6, 42, bass)]
    song = Song("bwv41.6", Q, tracks, 80.0, (4, 4), "C", [])
    table = PartTable("track", [Part(name, 52, ch, False, pitch) for ch, (name, pitch) in enumerate(
        [("Soprano", 72.0), ("Alto", 66.0), ("Tenor", 59.0), ("Bass", 46.0)])])
    tok = with_parts()
    tok.table = table
    ex = tok.extract(song)
    by_part = {table.parts[p].name: sorted({n.pitch for n in ex.piece.notes if n.part == p}) for p in range(4)}
    assert by_part == {"Soprano": [71, 72, 74, 76, 77], "Alto": [62, 64, 65, 67, 69], "Tenor": [55, 59, 60, 62, 64], "Bass": [41, 43, 45, 47, 48]}
    assert ex.dropped == {"an instrument line beside the voices": 16, "timpani or percussion: not a voice": 8, "an instrument doubling a voice": 7}
    assert sorted(ex.moved) == [("Alto Oboe 2 Viloin 2", "Alto"), ("Bass Continuo", "Bass"), ("Soprano Oboe 1 Violin1", "Soprano"), ("Tenor Viola", "Tenor")]


def test_parts_that_are_not_voices_still_take_the_free_parts_by_pitch():
    table = PartTable("track", [Part("Melody", 73, 0, False, 72.0), Part("Chords", 24, 1, False, 55.0)])
    low, high = Track("Guitar", 0, 0, 24, [(0, Q, 52, 80)]), Track("Flute", 1, 1, 73, [(0, Q, 74, 80)])
    found, moved, why = table.assign([low, high], ["Guitar", "Flute"])
    assert found == [1, 0] and why == [None, None] and sorted(moved) == [("Flute", "Melody"), ("Guitar", "Chords")]
