"""The voices level: each part one line on a fixed grid, frame by frame (BachBot's encoding). Round trips on every
chorale and on Monteverdi's madrigals, a decoder that keeps one note per part whatever the tokens, and samples whose
parts never hold two notes at once."""

from __future__ import annotations

import json
from pathlib import Path

import mido
import numpy as np
import pytest

from seqgen.cli import main
from seqgen.data import corpora
from seqgen.data.dataset import Dataset
from seqgen.levels import tokenizer_from_meta
from seqgen.music.events import Song, Track
from seqgen.music.midi_io import read_midi
from seqgen.music.parts import Part, PartTable
from seqgen.music.scores import corpus_files
from seqgen.music.stats import Tone, voice_leading
from seqgen.music.tokens import read_songs
from seqgen.music.voices import FRAME, VoiceLeading, VoicesTokenizer, corpus_grid

Q = 480


def two_voices() -> VoicesTokenizer:
    tok = VoicesTokenizer.untrained(VoicesTokenizer.make_settings(4))
    tok.use_parts(PartTable("track", [Part("Soprano", 52, 0, False, 70.0), Part("Bass", 52, 1, False, 48.0)]))
    return tok


def test_a_frame_holds_each_voice_once_held_notes_marked():
    soprano = [(0, Q, 72, 80), (Q, 3 * Q, 74, 80)]  # a quarter, then a half note
    bass = [(0, 2 * Q, 48, 80), (3 * Q, 4 * Q, 43, 80)]  # a half note, a quarter's rest, a quarter
    tok = two_voices()
    piece = tok.extract(Song("s", Q, [Track("Soprano", 0, 0, 52, soprano), Track("Bass", 1, 1, 52, bass)], 90.0, (4, 4), "C", [])).piece
    toks = tok.encode_piece(piece)
    assert toks[:7] == ["<bos>", "ts:4/4", "bar", "C5", "C3", FRAME, "C5~"]
    frames = " ".join(toks[3:-1]).split(f" {FRAME}")
    assert len([f for f in frames if f.strip()]) == 16  # four quarters of four sixteenths
    assert frames[4].split() == ["D5", "C3~"] and frames[8].split() == ["D5~", "rest"] and frames[12].split() == ["rest", "G2"]


def test_whatever_the_tokens_each_voice_sounds_one_note_at_a_time():
    tok = VoicesTokenizer.fit([["<bos>", "ts:4/4", "bar", "C5", "C3", FRAME, "E5~", "C3~", FRAME, "G5", "A4", "C3", "D3", FRAME, "C5~", FRAME]],
                              two_voices().settings)
    ids, _ = tok.ids_of(["<bos>", "ts:4/4", "bar", "C5", "C3", FRAME, "E5~", "C3~", FRAME, "G5", "A4", "C3", "D3", FRAME, "C5~", FRAME])
    notes = sorted((n.part, n.start, n.dur, n.pitch) for n in tok.decode_piece(ids).notes)
    # a hold of a note not sounding starts it; tokens past the last voice wait for the frame's end; a voice a frame
    # leaves out rests
    assert notes == [(0, 0, 1, 72), (0, 1, 1, 76), (0, 2, 1, 79), (0, 3, 1, 72), (1, 0, 2, 48), (1, 2, 1, 69)]
    for part in (0, 1):
        mine = sorted((s, d) for p, s, d, _ in notes if p == part)
        assert all(a + da <= b for (a, da), (b, _) in zip(mine, mine[1:]))
    ids, _ = tok.ids_of(["<bos>", "bar", "C5", "C3", "<eos>", "G5", "D3", FRAME])  # an <eos> inside a frame closes it
    assert sorted((n.part, n.start, n.pitch) for n in tok.decode_piece(ids).notes) == [(0, 0, 72), (0, 1, 79), (1, 0, 48), (1, 1, 50)]


def rule_after(tokens: list[str], order=None) -> tuple[VoiceLeading, list[str]]:
    """The part-writing rule for one sample that has written `tokens`; the vocabulary is C2..C6 and the marks."""
    from seqgen.music.tokens import pitch_name

    vocab = ["<bos>", "<eos>", "ts:4/4", "bar", "rest", FRAME] + [n for p in range(36, 85) for n in (pitch_name(p), pitch_name(p) + "~")]
    rule = VoiceLeading(vocab, 2, 1, order)
    for token in tokens:
        rule.feed([vocab.index(token)])
    return rule, vocab


def banned_after(tokens: list[str], order=None) -> set[str]:
    rule, vocab = rule_after(tokens, order)
    banned = rule.banned()
    return set() if banned is None else {vocab[i] for i in banned[0].nonzero().flatten().tolist()}


def test_the_part_writing_rule_bans_the_pitches_that_make_a_parallel_or_a_crossing():
    start = ["<bos>", "ts:4/4", "bar", "C5", "C4", FRAME]  # soprano and bass an octave apart
    # the soprano rises a step: the bass may not rise to any D (an octave again), nor above the soprano's D5
    banned = banned_after([*start, "D5"])
    assert {"D4", "D4~", "D3", "D2"} & banned == {"D4", "D4~"}  # D3 and D2 are lower: contrary motion, allowed
    assert {"D#5", "E5", "C6"} <= banned and "D5" in banned  # D5 too: from an octave to a unison, rising together
    assert not {"C4~", "C4", "rest", "E4", "B3"} & banned  # holding, repeating, other notes and resting stay allowed
    # from a fifth (G4 over C4) up to A4: D4 would be a fifth again
    assert {"D4", "D4~"} <= banned_after(["<bos>", "bar", "G4", "C4", FRAME, "A4"])
    # the soprano holds: nothing moves in parallel, and only a crossing is banned (a unison is not one)
    assert banned_after([*start, "C5~"]) == {n for p in ("C#5", "D5", "D#5", "E5", "F5", "F#5", "G5", "G#5", "A5", "A#5", "B5", "C6")
                                            for n in (p, p + "~")}
    # a rest above leaves the bass free
    assert banned_after([*start, "rest"]) == set()


def test_the_rule_follows_the_frames_as_the_decoder_reads_them():
    # the time signature and bar marks fill no part's place; the first frame has nothing to follow
    assert banned_after(["<bos>", "ts:4/4", "bar", "C5"]) >= {"D5"}  # only the crossing
    assert "C4" not in banned_after(["<bos>", "ts:4/4", "bar", "G5", "C5", FRAME, "A5"])  # a fifth to a sixth: fine
    # a frame where nothing starts does not move the chord the parallel is measured from
    held = ["<bos>", "bar", "C5", "C4", FRAME, "C5~", "C4~", FRAME, "C5~", "C4~", FRAME, "D5"]
    assert {"D4", "D4~"} <= banned_after(held)
    # a sample that goes on past <eos> writes its next piece in the same file: its first chord follows the last one
    assert {"D4", "D4~"} <= banned_after(["<bos>", "bar", "C5", "C4", FRAME, "<eos>", "<bos>", "ts:4/4", "bar", "D5"])
    # parts in another order (the bass first in the frame): the soprano may not go below it, nor to an octave above
    # its D when it rises too
    assert {"D5", "C3", "C#4"} <= banned_after(["<bos>", "bar", "C4", "C5", FRAME, "D4"], order=[1, 0])


def test_the_grid_is_the_corpus_shortest_note():
    assert corpus_grid([0, 3, 6, 12, 24] * 100) == 4  # sixteenths (3 twelfths of a quarter)
    assert corpus_grid([0, 6, 12, 18]) == 2
    assert corpus_grid([0, 4, 8, 12] * 100 + [3]) == 3  # triplet eighths; one sixteenth in 401 times is off the grid
    assert corpus_grid([0, 4, 8, 12] + [3, 9]) == 12


@pytest.fixture(scope="module")
def chorales(tmp_path_factory):
    out = tmp_path_factory.mktemp("voices") / "bach"
    assert main(["prepare", "bach", "--out", str(out)]) == 0  # the chorales' own level: voices
    return out


def _round_trip(tok, paths) -> tuple[int, list[str]]:
    pieces, wrong = 0, []
    for path in paths:
        for song in read_songs(path):
            piece = tok.extract(song, fallback=True).piece
            ids, missing = tok.ids_of(tok.encode_piece(piece))
            back = tok.decode_piece(ids)
            pieces += 1
            if missing or back.time_signature != piece.time_signature or back.fermatas != piece.fermatas or \
                    sorted((n.start, n.dur, n.pitch, n.part) for n in back.notes) != sorted((n.start, n.dur, n.pitch, n.part) for n in piece.notes):
                wrong.append(song.name)
    return pieces, wrong


def test_every_chorale_round_trips_exactly(chorales):
    meta = json.loads((chorales / "meta.json").read_text())
    tok = tokenizer_from_meta(meta)
    assert meta["level"] == "voices" and meta["tokenizer"]["steps_per_quarter"] == 4 and [p["name"] for p in meta["tokenizer"]["parts"]] == ["Soprano", "Alto", "Tenor", "Bass"]
    pieces, wrong = _round_trip(tok, corpus_files(corpora.find("bach")))
    assert pieces == 371 and wrong == []  # every file music21 lists, the 22 listed twice included
    fermatas = sum(tok.vocab.tokens[i] == "fermata" for i in np.asarray(Dataset.open(chorales).split("train")).tolist())
    assert fermatas > 1500  # the phrase endings: about six per chorale


def test_fermatas_come_back_from_a_written_score(tmp_path):
    from seqgen.music.scores import read_score, song_to_musicxml

    line = [(i * Q, (i + 1) * Q, p, 80) for i, p in enumerate([72, 74, 76, 74, 72, 71, 72, 72])]
    song = Song("phrase", Q, [Track("Soprano", 0, 0, 52, line)], 80.0, (4, 4), "C", [], fermatas=[3 * Q, 6 * Q])
    (tmp_path / "p.musicxml").write_bytes(song_to_musicxml(song))
    assert (tmp_path / "p.musicxml").read_text().count("<fermata") == 2
    assert read_score(tmp_path / "p.musicxml", use_cache=False)[0].fermatas == [3 * 480, 6 * 480]


def test_madrigals_in_five_named_parts_round_trip_exactly(tmp_path):
    from music21 import corpus

    madrigals = sorted(Path(p) for p in corpus.getComposer("monteverdi") if str(p).endswith(".mxl"))[::8][:5]
    assert main(["prepare", *map(str, madrigals), "--level", "voices", "--out", str(tmp_path / "m")]) == 0
    meta = json.loads((tmp_path / "m" / "meta.json").read_text())
    assert len(meta["tokenizer"]["parts"]) == 5
    pieces, wrong = _round_trip(tokenizer_from_meta(meta), madrigals)
    assert pieces == len(madrigals) and wrong == []


@pytest.fixture(scope="module")
def chorale_run(chorales):
    run = chorales.parent / "run"
    assert main(["train", str(chorales), "--out", str(run), "--hidden", "48", "--embed", "16", "--layers", "1", "--batch", "8",
                 "--seq-len", "64", "--max-steps", "80", "--threads", "1", "--quiet"]) == 0
    return run


def test_a_sampled_chorale_never_has_two_notes_in_one_part_at_once(chorale_run, tmp_path):
    assert main(["sample", str(chorale_run), "--bars", "4", "--num", "3", "--seed", "2", "--out", str(tmp_path / "s.mid")]) == 0
    for i in (1, 2, 3):
        path = tmp_path / f"s-{i}.mid"
        song = read_midi(path)
        assert [t.name for t in song.tracks if t.notes] and {t.name for t in song.tracks} <= {"Soprano", "Alto", "Tenor", "Bass"}
        for track in song.tracks:  # decoded from the file as written: one note at a time in every part
            notes = sorted(track.notes)
            assert all(a[1] <= b[0] for a, b in zip(notes, notes[1:])), track.name
            assert all(start % (Q // 4) == 0 and end % (Q // 4) == 0 for start, end, _, _ in notes)  # on the sixteenth grid
        assert any(m.type == "time_signature" for m in mido.MidiFile(path).tracks[0])


def _voice_leading(paths: list[Path]) -> dict:
    """Parallels and crossings as a reader of the written files counts them (seqgen.music.stats)."""
    totals: dict = {}
    for path in paths:
        song = read_midi(path)
        order = ["Soprano", "Alto", "Tenor", "Bass"]
        notes = [Tone(p, s / song.ticks_per_quarter, (e - s) / song.ticks_per_quarter, order.index(t.name)) for t in song.tracks for s, e, p, _ in t.notes]
        for key, n in voice_leading(notes, [0, 1, 2, 3]).items():
            totals[key] = totals.get(key, 0) + n
    return totals


def test_sampled_chorales_keep_the_rules_of_part_writing_unless_told_not_to(chorale_run, tmp_path, cli):
    assert cli("sample", chorale_run, "--bars", "8", "--num", "6", "--seed", "5", "--out", tmp_path / "s.mid").code == 0
    strict = _voice_leading([tmp_path / f"s-{i}.mid" for i in range(1, 7)])
    assert strict["changes"] > 50 and strict.get("fifths", 0) == strict.get("octaves", 0) == strict.get("crossings", 0) == 0
    res = cli("sample", chorale_run, "--bars", "8", "--num", "6", "--seed", "5", "--out", tmp_path / "f.mid", "--voice-leading", "free")
    assert res.code == 0, res.err
    free = _voice_leading([tmp_path / f"f-{i}.mid" for i in range(1, 7)])
    assert free.get("fifths", 0) + free.get("octaves", 0) + free.get("crossings", 0) > 0  # the model alone breaks them


def test_harmonizing_keeps_the_melody_note_for_note_in_the_top_voice(chorale_run, tmp_path, cli):
    from music21 import corpus

    from seqgen.music.midi_io import song_to_midi_bytes
    from seqgen.music.scores import score_to_song

    chorale = score_to_song(corpus.parse("bach/bwv66.6"), "bwv66.6")
    soprano = next(t for t in chorale.tracks if t.name == "Soprano")
    tune = Song("tune", chorale.ticks_per_quarter, [Track("Flute", 0, 0, 73, soprano.notes)], chorale.tempo, chorale.time_signature, chorale.key, [])
    (tmp_path / "tune.mid").write_bytes(song_to_midi_bytes(tune))
    res = cli("sample", chorale_run, "--harmonize", tmp_path / "tune.mid", "--out", tmp_path / "h.mid", "--seed", "3")
    assert res.code == 0, res.err
    written = read_midi(tmp_path / "h.mid")
    top = next(t for t in written.tracks if t.name == "Soprano")
    scale = written.ticks_per_quarter / chorale.ticks_per_quarter
    lead = min(s for s, _, _, _ in soprano.notes)
    lead -= lead % (4 * chorale.ticks_per_quarter)  # prepare keeps a pick-up's silence modulo one bar
    assert [(s, e, p) for s, e, p, _ in top.notes] == [((s - lead) * scale, (e - lead) * scale, p) for s, e, p, _ in sorted(soprano.notes)]
    others = [t for t in written.tracks if t.name != "Soprano" and t.notes]
    assert others  # the model wrote the other voices around it
    for track in written.tracks:
        notes = sorted(track.notes)
        assert all(a[1] <= b[0] for a, b in zip(notes, notes[1:])), track.name


def test_harmonize_and_voice_leading_need_a_voices_run(tmp_path, cli):
    from music_pieces import duet

    (tmp_path / "tunes").mkdir()
    for i in range(4):
        duet(tmp_path / "tunes" / f"d{i}.mid", seed=i)
    assert main(["prepare", str(tmp_path / "tunes"), "--out", str(tmp_path / "data"), "--level", "notes", "--val", "0", "--test", "0"]) == 0
    assert main(["train", str(tmp_path / "data"), "--out", str(tmp_path / "run"), "--hidden", "16", "--embed", "8", "--layers", "1",
                 "--max-steps", "2", "--threads", "1", "--quiet"]) == 0
    res = cli("sample", tmp_path / "run", "--harmonize", tmp_path / "tunes" / "d0.mid")
    assert res.code == 2 and "--harmonize needs a voices run (prepare --level voices)" in res.err and res.err.count("\n") == 1
    for verb in ("sample", "eval"):
        res = cli(verb, tmp_path / "run", "--voice-leading", "free")
        assert res.code == 2 and "--voice-leading is for voices runs (prepare --level voices)" in res.err and res.err.count("\n") == 1


def test_eval_draws_its_free_samples_as_sample_does(chorale_run, cli):
    args = ("eval", chorale_run, "--bleu", "--bleu-samples", "2", "--prompt-len", "20", "--cont-len", "20", "--num", "4", "--length", "400",
            "--ngram", "0", "--json")
    res = cli(*args)
    assert res.code == 0, res.err
    report = json.loads(res.out)["generation"]
    assert report["decoding"]["voice_leading"] == "strict"
    lead = report["music"]["voice_leading"]["generated"]
    assert lead["chord_changes"] > 0 and lead["parallel_fifths_per_100_changes"] == lead["parallel_octaves_per_100_changes"] == 0
    assert lead["voice_crossings_per_bar"] == 0
    res = cli(*args, "--voice-leading", "free")
    assert res.code == 0, res.err
    assert json.loads(res.out)["generation"]["decoding"]["voice_leading"] == "free"
