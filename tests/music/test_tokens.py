"""Note-level tokenizers: exact round trips (tokens -> MIDI -> tokens), quantization, track choice, scores."""

from __future__ import annotations

import random

import pytest
from music_pieces import NOTTINGHAM, band_piece, tune

from seqgen.data import corpora
from seqgen.errors import InputError, UsageError
from seqgen.music.midi_io import midi_bytes_to_song, read_midi
from seqgen.music.prepare import parse_transpose
from seqgen.music.scores import corpus_files, score_to_song
from seqgen.music.tokens import (
    STEP_CHOICES,
    MelodyTokenizer,
    NotesTokenizer,
    Piece,
    bin_velocity,
    estimate_key,
    parse_pitch,
    pitch_name,
    read_songs,
    velocity_bin,
)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQGEN_CACHE", str(tmp_path / "cache"))


def _tok(cls, **kw):
    return cls.untrained(cls.make_settings(**kw))


def round_trip(tok, song) -> tuple[list[str], list[str], Piece, Piece]:
    """Source song -> piece -> tokens -> ids -> piece -> MIDI bytes -> song -> piece -> tokens."""
    ex = tok.extract(song)
    tokens = tok.encode_piece(ex.piece)
    fitted = type(tok).fit([tokens], tok.settings)
    ids, unknown = fitted.ids_of(tokens)
    assert unknown == 0
    decoded = fitted.decode_piece(ids)
    again = fitted.extract(midi_bytes_to_song(fitted.to_midi_bytes(decoded), "again.mid"))
    return tokens, fitted.encode_piece(again.piece), ex.piece, decoded


def _timing(notes):
    return [(n.start, n.dur, n.pitch, n.drum) for n in notes]


@pytest.mark.parametrize("level, kw", [("melody", {}), ("notes", {}), ("notes", {"drums": True}), ("notes", {"velocity_bins": 8}),
                                       ("melody", {"velocity_bins": 4}), ("notes", {"steps_per_quarter": 24})])
def test_band_piece_round_trip_is_exact(tmp_path, level, kw):
    tok = _tok(MelodyTokenizer if level == "melody" else NotesTokenizer, **kw)
    tokens, tokens_again, source, decoded = round_trip(tok, read_midi(band_piece(tmp_path / "band.mid")))
    assert tokens_again == tokens
    assert _timing(decoded.notes) == _timing(source.notes)
    if kw.get("velocity_bins"):
        assert [n.velocity for n in decoded.notes] == [n.velocity for n in source.notes]


def test_melody_tokens_of_the_lead(tmp_path):
    tok = _tok(MelodyTokenizer)
    ex = tok.extract(read_midi(band_piece(tmp_path / "band.mid")))
    assert tok.encode_piece(ex.piece) == [
        "<bos>", "ts:4/4", "C5", "d12", "D5", "d12", "rest", "d12",
        "E5", "d4", "F5", "d4", "G5", "d4",  # the triplet: 4 steps each on the 12-step grid
        "C5", "d12", "C5", "d12",  # the overlapped restart: the first note ends where the second starts
        "C6", "d24", "<eos>",
    ]


def test_same_pitch_overlap_across_tracks_is_cut_at_the_restart():
    from seqgen.music.events import Song, Track

    song = Song("o", 480, [Track("a", 0, 0, 0, [(0, 960, 60, 90)]), Track("b", 1, 1, 0, [(480, 960, 60, 90), (480, 960, 60, 80)])])
    ex = _tok(NotesTokenizer).extract(song)
    assert _timing(ex.piece.notes) == [(0, 12, 60, False), (12, 12, 60, False)]
    assert ex.shortened["overlapped by the same pitch"] == 1 and ex.dropped["duplicate note (same pitch, same onset)"] == 1


def test_notes_tokens_keep_chords_and_drums(tmp_path):
    tok = _tok(NotesTokenizer, drums=True)
    tokens = tok.encode_piece(tok.extract(read_midi(band_piece(tmp_path / "band.mid"))).piece)
    assert tokens[:12] == ["<bos>", "ts:4/4", "C3", "d24", "E3", "d24", "G3", "d24", "C5", "d12", "drum:36", "d3"]
    assert tokens.count("drum:38") == 4 and tokens[-1] == "<eos>"
    assert "drum:36" not in _tok(NotesTokenizer).encode_piece(_tok(NotesTokenizer).extract(read_midi(band_piece(tmp_path / "b2.mid"))).piece)


def test_pickup_kept_modulo_one_bar(tmp_path):
    path = tune(tmp_path / "t.mid", [60, 62, 64])
    song = read_midi(path)
    song.tracks[0].notes = [(s + 480 * 4 * 3 + 480 * 3, e + 480 * 4 * 3 + 480 * 3, p, v) for s, e, p, v in song.tracks[0].notes]
    piece = _tok(MelodyTokenizer).extract(song).piece
    assert piece.notes[0].start == 36  # three bars of silence gone, the pick-up beat kept


def test_quantization_rounds_and_lengthens(tmp_path):
    song = read_midi(tune(tmp_path / "t.mid", [60, 62], tpq=1024))
    song.tracks[0].notes = [(0, 20, 60, 90), (1024 + 30, 2048 + 40, 62, 90)]
    ex = _tok(MelodyTokenizer).extract(song)
    assert _timing(ex.piece.notes) == [(0, 1, 60, False), (12, 12, 62, False)]
    assert ex.shortened["shorter than one step: lengthened to one step"] == 1


def test_velocity_bin_centres_map_back():
    for bins in range(1, 128):
        assert [velocity_bin(bin_velocity(b, bins), bins) for b in range(bins)] == list(range(bins)), bins


def test_pitch_names_cover_midi():
    assert [parse_pitch(pitch_name(p)) for p in range(128)] == list(range(128))
    assert pitch_name(60) == "C4" and pitch_name(0) == "C-1" and parse_pitch("H4") is None


def test_steps_per_quarter_must_divide_480():
    assert 12 in STEP_CHOICES and 7 not in STEP_CHOICES
    with pytest.raises(UsageError, match="must divide 480"):
        NotesTokenizer.make_settings(steps_per_quarter=7)


def test_track_choice_by_name_program_and_index(tmp_path):
    song = read_midi(band_piece(tmp_path / "band.mid"))
    pitches = lambda tok: {n.pitch for n in tok.extract(song).piece.notes}  # noqa: E731
    assert pitches(_tok(NotesTokenizer, tracks=["chords"])) == {48, 50, 52, 53, 55, 57}
    assert pitches(_tok(NotesTokenizer, tracks=["program:73"])) == {72, 74, 76, 77, 79, 84}
    assert pitches(_tok(NotesTokenizer, tracks=["index:2"])) == pitches(_tok(NotesTokenizer, tracks=["2"]))
    with pytest.raises(InputError, match="no track matches --tracks Violin .*'Lead'"):
        _tok(NotesTokenizer, tracks=["Violin"]).extract(song)
    # a file to evaluate or prime with falls back to the default choice
    assert _tok(MelodyTokenizer, tracks=["Violin"]).extract(song, fallback=True).piece.notes


def test_key_normalize_moves_to_c_major(tmp_path):
    d_major = [62, 64, 66, 67, 69, 71, 73, 74, 69, 66, 62, 69, 74, 73, 71, 69]
    song = read_midi(tune(tmp_path / "d.mid", d_major, [2] * len(d_major)))
    piece = _tok(MelodyTokenizer, key_normalize=True).extract(song).piece
    assert [n.pitch for n in piece.notes] == [p - 2 for p in d_major]
    assert estimate_key(piece.notes) == (0, "major")


def test_transpose_spec():
    assert parse_transpose("all") == list(range(-5, 7))
    assert parse_transpose("2") == [-2, -1, 0, 1, 2]
    assert parse_transpose("-2,2") == [-2, 0, 2]
    assert parse_transpose("-1..1") == [-1, 0, 1]
    for bad in ("x", "99"):
        with pytest.raises(UsageError):
            parse_transpose(bad)


def test_decoding_any_token_soup_gives_a_playable_file():
    tok = _tok(NotesTokenizer, velocity_bins=4, drums=True)
    vocab_tokens = ["<bos>", "<eos>", "ts:3/4", "ts:6/8", "rest", "v0", "v3", "C4", "C4", "E4", "drum:36", "d1", "d12", "d48", "t1", "t12", "t48"]
    fitted = NotesTokenizer.fit([vocab_tokens], tok.settings)
    rng = random.Random(0)
    for _ in range(50):
        ids = [rng.randrange(len(fitted.vocab)) for _ in range(rng.randint(0, 80))]
        piece = fitted.decode_piece(ids)
        song = midi_bytes_to_song(fitted.to_midi_bytes(piece), "soup.mid")
        assert sum(len(t.notes) for t in song.tracks) <= len(piece.notes)


# ---------------------------------------------------------------- scores (music21)


def test_ties_across_bars_become_one_note(tmp_path):
    from music21 import meter, note, stream

    part = stream.Part()
    part.append(meter.TimeSignature("4/4"))
    for pitch, ql in (("C4", 3.0), ("E4", 2.0), ("G4", 3.0)):  # E4 crosses the bar line: written as two tied notes
        part.append(note.Note(pitch, quarterLength=ql))
    path = tmp_path / "tied.musicxml"
    part.makeNotation().write("musicxml", fp=str(path))
    songs = read_songs(path)
    piece = _tok(MelodyTokenizer).extract(songs[0]).piece
    assert _timing(piece.notes) == [(0, 36, 60, False), (36, 24, 64, False), (60, 36, 67, False)]


def test_abc_book_gives_one_song_per_tune_and_is_cached(tmp_path):
    abc = tmp_path / "book.abc"
    abc.write_text(
        "X:1\nT:One\nM:6/8\nL:1/8\nK:G\nGAB cde|(3def g3|]\n\n"
        "X:2\nT:Two\nM:3/4\nL:1/4\nK:D\nDEF|A2z|]\n",
        encoding="utf-8",
    )
    songs = read_songs(abc)
    assert len(songs) == 2 and songs[0].time_signature == (6, 8) and songs[1].time_signature == (3, 4)
    tok = _tok(MelodyTokenizer)
    one = tok.extract(songs[0]).piece
    assert [n.dur for n in one.notes][6:9] == [4, 4, 4]  # the triplet, exactly on the 12-step grid
    cached = list((tmp_path / "cache" / "scores").glob("*.json"))
    assert len(cached) == 1
    again = read_songs(abc)
    assert [s.to_json() for s in again] == [s.to_json() for s in songs]


def test_broken_score_is_an_input_error(tmp_path):
    bad = tmp_path / "bad.musicxml"
    bad.write_text("<score-partwise><part id='P1'><measure><note>", encoding="utf-8")
    with pytest.raises(InputError):
        read_songs(bad)


def test_chord_symbols_are_labels_not_dropped_grace_notes():
    from music21 import harmony, note, stream

    part = stream.Part()
    part.insert(0, harmony.ChordSymbol("Gm7"))  # a lead sheet's symbol above the staff: no duration, not sounded
    part.insert(0, note.Note("G4", quarterLength=1))
    grace = note.Note("A4").getGrace()
    part.insert(1, grace)
    part.insert(1, note.Note("B-4", quarterLength=1))
    song = score_to_song(part, "lead sheet")
    assert [p for _, _, p, _ in song.tracks[0].notes] == [67, 70]
    assert song.dropped == {"chord symbol (a label, not a note)": 1, "grace note": 1}


# ---------------------------------------------------------------- real files


def _spread(count):
    return lambda files: files[:: max(1, len(files) // count)][:count]


def _smallest(files):
    return [min(files, key=lambda path: path.stat().st_size)]


# Files of seqgen's built-in corpora, which read music21's bundled corpus: every clone has them, offline.
# A handful each, to stay within seconds: music21 parses a chorale or a one-tune file in a fraction of a second,
# a 50-tune ABC book in several (airds-airs is left out: each of its books holds 200 tunes).
BUILT_IN = {"bach": _spread(3), "ryans-mammoth": _spread(4), "oneills": _smallest, "essen": _smallest}


def _songs(source: str) -> list:
    if source == "nottingham":
        files = sorted(NOTTINGHAM.glob("*.mid"))[::50][:20] if NOTTINGHAM.is_dir() else []
        if not files:
            pytest.skip(f"{NOTTINGHAM} is absent (shared corpora not available)")
        return [read_midi(path) for path in files]
    return [song for path in BUILT_IN[source](corpus_files(corpora.find(source))) for song in read_songs(path)]


@pytest.mark.parametrize("source", ["nottingham", *BUILT_IN])
def test_real_music_round_trip_is_exact(source):
    """Tokens -> MIDI -> tokens gives the same tokens, and every kept note keeps its pitch, quantized onset and duration."""
    songs = _songs(source)  # parsed once (into this test's private cache) for both levels
    assert songs
    for cls in (MelodyTokenizer, NotesTokenizer):
        for song in songs:
            tokens, again, kept, decoded = round_trip(_tok(cls), song)
            assert kept.notes, (cls.level, song.name)
            assert again == tokens, (cls.level, song.name)
            assert _timing(decoded.notes) == _timing(kept.notes), (cls.level, song.name)


@pytest.mark.parametrize("cls", [MelodyTokenizer, NotesTokenizer])
def test_unprimed_sampling_starts_where_training_pieces_start(cls):
    """Pieces are laid end to end in train.bin, so every <bos> the model saw followed an <eos>."""
    tok = cls.fit([["<bos>", "ts:4/4", "<eos>"]], cls.make_settings())
    assert [tok.vocab.tokens[i] for i in tok.start_ids()] == ["<eos>", "<bos>"]
