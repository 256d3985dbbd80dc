"""`seqgen eval` beyond likelihood: baselines, continuation BLEU, self-BLEU, novelty, music statistics, JSON, plots."""

import json
import math

import numpy as np
import pytest

from seqgen.evaluation.bleu import self_bleu
from seqgen.evaluation.report import ngram_keys, novelty, segments
from seqgen.music.stats import Tone, compare, duration_histogram, notes_per_bar, pitch_class_histogram, repeated_phrase_rate, scale_consistency


def test_novelty_on_hand_made_cases():
    train = np.array([0, 1, 2, 3, 4, 5, 6, 7])
    copied = novelty([[2, 3, 4, 5]], train, 2, 10)
    assert copied == {"n": 2, "ngrams": 3, "in_train": 1.0, "novel": 0.0}
    half = novelty([[0, 1, 9, 9], [5, 6]], train, 2, 10)  # (0,1) (1,9) (9,9) (5,6): two of four seen
    assert half == {"n": 2, "ngrams": 4, "in_train": 0.5, "novel": 0.5}
    assert novelty([[1]], train, 2, 10) == {"n": 2, "ngrams": 0, "in_train": None, "novel": None}  # too short for any bigram


def test_novelty_of_a_sample_against_a_training_text():
    def ids(text):
        return [ord(c) for c in text]

    # "the hat sat" holds 9 three-character strings: the, "he ", "e h", " ha", hat, "at ", "t s", " sa", sat.
    # Six of them occur in "the cat sat"; "e h", " ha" and hat do not: 6/9 seen, 3/9 new.
    figures = novelty([ids("the hat sat")], np.array(ids("the cat sat")), 3, 128)
    assert figures == {"n": 3, "ngrams": 9, "in_train": pytest.approx(2 / 3), "novel": pytest.approx(1 / 3)}
    # A string counts each time it occurs: "sat sat hat" holds sat, "at ", "t s", " sa", sat, "at ", "t h", " ha", hat;
    # six of the nine occur in "the cat sat" (4 of its 7 distinct strings would give 4/7 instead).
    again = novelty([ids("sat sat hat")], np.array(ids("the cat sat")), 3, 128)
    assert again == {"n": 3, "ngrams": 9, "in_train": pytest.approx(2 / 3), "novel": pytest.approx(1 / 3)}


def test_ngram_keys_are_exact_or_hashed_without_collisions_here():
    ids = np.array([1, 2, 3, 1, 2, 3, 4])
    keys = ngram_keys(ids, 3, 5)
    assert keys.tolist() == [1 * 25 + 2 * 5 + 3, 2 * 25 + 3 * 5 + 1, 3 * 25 + 1 * 5 + 2, 1 * 25 + 2 * 5 + 3, 2 * 25 + 3 * 5 + 4]
    rng = np.random.default_rng(0)
    big = rng.integers(0, 65536, 5000)
    hashed = ngram_keys(big, 6, 65536)  # 96 bits of n-gram: hashed
    grams = {tuple(big[i : i + 6]) for i in range(len(big) - 5)}
    assert len(np.unique(hashed)) == len(grams)


def test_segments_are_evenly_spread_and_do_not_overlap():
    ids = np.arange(1000)
    segs = segments(ids, 4, 30, 20)
    assert len(segs) == 4 and all(len(p) == 30 and len(c) == 20 for p, c in segs)
    assert segs[0][0][0] == 0 and segs[-1][1][-1] == 999 - 1000 % 50
    assert [c[0] - p[-1] for p, c in segs] == [1] * 4
    assert len(segments(ids, 500, 30, 20)) == 20  # as many as fit


def notes_of(pitches, dur=0.5):
    return [Tone(p, i * dur, dur) for i, p in enumerate(pitches)]


def test_music_statistics_on_hand_made_pieces():
    c_major = notes_of([60, 62, 64, 65, 67, 69, 71, 72])
    assert scale_consistency(c_major) == 1.0
    assert scale_consistency(notes_of([60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71])) == pytest.approx(7 / 12)
    hist = pitch_class_histogram(c_major)
    assert hist[0] == pytest.approx(2 / 8) and hist[1] == 0 and sum(hist) == pytest.approx(1)
    assert notes_per_bar(c_major, 4.0) == 8  # eight eighths fill one 4/4 bar
    assert notes_per_bar(c_major, 1.5) == pytest.approx(8 / 3)
    assert duration_histogram(c_major)["1/8"] == 1.0
    assert duration_histogram([Tone(60, 0, 1 / 3), Tone(60, 1, 0.3)])["1/8 triplet"] == 0.5
    tune = notes_of([60, 62, 64, 65] * 3)  # the phrase played three times
    assert repeated_phrase_rate(tune) == pytest.approx(5 / 9)  # nine 4-note windows: the first four are new, the rest repeat
    assert repeated_phrase_rate(notes_of([60, 62, 64, 65, 67, 69])) == 0.0
    same = compare([(c_major, 4.0)], [(c_major, 4.0)])
    assert same["pitch_class_distance"] == 0.0 and same["generated"] == same["held_out"]
    far = compare([(notes_of([61, 63, 66]), 4.0)], [(c_major, 4.0)])
    assert far["pitch_class_distance"] == pytest.approx(1.0)
    empty = compare([([], 4.0)], [(c_major, 4.0)])
    assert empty["generated"]["pieces"] == 0 and empty["pitch_class_distance"] is None


# ---------------------------------------------------------------- the command


def test_eval_reports_baselines_in_table_and_json(cli, char_run, char_dataset, tmp_path):
    res = cli("eval", char_run, "--json", "--ngram", "3", "--out", tmp_path / "report.json")
    assert res.code == 0, res.err
    report = json.loads(res.out)
    assert json.loads((tmp_path / "report.json").read_text()) == report
    base = report["baselines"]
    assert base["ngram"]["order"] == 3 and report["ngram_order"] == 3
    val_tokens = json.loads((char_dataset / "meta.json").read_text())["splits"]["val"]
    assert report["tokens"] == val_tokens - 1  # every token after the first: the first has no context
    for fig in (base["unigram"], base["ngram"]):
        assert fig["tokens"] == val_tokens - 1  # the same tokens as the network
        assert fig["perplexity"] == pytest.approx(math.exp(fig["nats_per_token"]))
    assert base["ngram"]["nats_per_token"] < base["unigram"]["nats_per_token"]
    assert "3-gram KN" in res.err and "unigram" in res.err and "bits per character" in res.err
    prov = report["provenance"]
    assert prov["seed"] == 1234 and len(prov["vocab_sha256"]) == 64 and prov["torch_version"]
    res = cli("eval", char_run, "--out", tmp_path / "report.json")
    assert res.code == 2 and "already exists" in res.err
    assert set(json.loads(cli("eval", char_run, "--json", "--ngram", "0").out)["baselines"]) == {"unigram"}


def test_eval_bleu_reports_generation_figures(cli, char_run, char_dataset, corpus_file, tmp_path):
    args = ["eval", char_run, "--bleu", "--bleu-samples", "6", "--prompt-len", "40", "--cont-len", "30", "--num", "3", "--length", "80",
            "--novelty-n", "3", "--json"]
    res = cli(*args)
    assert res.code == 0, res.err
    gen = json.loads(res.out)["generation"]
    cont = gen["continuation"]
    assert cont["segments"] == 6 and cont["unit"] == "word" and cont["split"] == "test"
    assert 0 <= cont["bleu"]["score"] <= 100 and len(cont["bleu"]["precisions"]) == 4 and "tok:13a" in cont["bleu"]["signature"]
    # the free samples are the ones `seqgen sample --no-mix` draws with the same seed and options (the network's; the
    # mixture's novelty is reported apart): self-BLEU and novelty recounted on them
    assert cli("sample", char_run, "--num", "3", "--length", "80", "--seed", "1234", "--no-mix", "--out", tmp_path / "s.txt").code == 0
    samples = [(tmp_path / f"s-{i}.txt").read_text()[:80] for i in (1, 2, 3)]  # 80 characters each, then the line end the file adds
    assert gen["self_bleu"]["samples"] == 3 and gen["self_bleu"]["bleu"] == pytest.approx(self_bleu([" ".join(s.split()) for s in samples]))
    train = corpus_file.read_text()[: json.loads((char_dataset / "meta.json").read_text())["splits"]["train"]]
    grams = [s[i : i + 3] for s in samples for i in range(80 - 3 + 1)]  # 78 three-character strings per sample
    seen = sum(g in train for g in grams)
    assert 0 < seen < len(grams)  # some found in the training text, some not
    assert gen["novelty"] == {"unit": "character", "n": 3, "ngrams": 3 * 78,
                              "in_train": pytest.approx(seen / len(grams)), "novel": pytest.approx((len(grams) - seen) / len(grams))}
    assert gen["decoding"] == {"method": "sample", "temperature": 1.0, "beam": None, "seed": 1234}
    assert json.loads(cli(*args).out)["generation"] == gen  # same seed, same figures
    assert "continuation BLEU" in res.err and "self-BLEU" in res.err and "novelty" in res.err
    beam = json.loads(cli(*args[:-3], "--beam", "2", "--json").out)["generation"]
    assert beam["decoding"]["method"] == "beam" and beam["continuation"]["segments"] == 6
    assert beam["novelty"]["n"] == 8  # the default at character level
    res = cli(*args[:-1], "--beam", "2", "--greedy")
    assert res.code == 2 and "--greedy does not apply to --beam" in res.err
    res = cli("eval", char_run, "--bleu", "--prompt-len", "100000")
    assert res.code == 1 and "fewer than --prompt-len + --cont-len" in res.err


def test_plot_a_run_and_a_midi_file(cli, char_run, tmp_path):
    pytest.importorskip("matplotlib")
    mido = pytest.importorskip("mido")
    out = tmp_path / "loss.png"
    res = cli("plot", char_run, "--out", out)
    assert res.code == 0, res.err
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert cli("plot", char_run, "--out", out).code == 2
    mid = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    for pitch in (60, 64, 67, 72):
        track += [mido.Message("note_on", note=pitch, velocity=80, time=0), mido.Message("note_off", note=pitch, velocity=0, time=480)]
    mid.tracks.append(track)
    mid.save(tmp_path / "tune.mid")
    res = cli("plot", tmp_path / "tune.mid")
    assert res.code == 0, res.err
    assert (tmp_path / "tune.png").read_bytes()[:4] == b"\x89PNG"
    (tmp_path / "broken.mid").write_bytes(b"MThd\x00\x00")
    res = cli("plot", tmp_path / "broken.mid")
    assert res.code == 1 and "broken.mid" in res.err and len(res.err.strip().splitlines()) == 1
    res = cli("plot", tmp_path / "nothing-here")
    assert res.code == 2 and "no such run folder or MIDI file" in res.err
