"""`seqgen bleu` and seqgen.evaluation.bleu: the same numbers as sacrebleu, and the checks its API leaves out."""

import json

import pytest
from sacrebleu.metrics import BLEU

from seqgen.errors import InputError, UsageError
from seqgen.evaluation.bleu import corpus_bleu, self_bleu, sentence_bleu

# (name, hypotheses, reference streams): each odd case named
VECTORS = [
    ("identical", ["the cat sat on the mat"], [["the cat sat on the mat"]]),
    ("one substitution", ["the cat sat on a mat"], [["the cat sat on the mat"]]),
    ("two references", ["the cat sat on the mat"], [["a cat sat on the mat"], ["the cat is on the mat"]]),
    ("three references", ["it is a guide to action"], [["it is a guide to action that ensures"], ["it is the guiding principle"], ["it is the practical guide for the army"]]),
    ("empty hypothesis", [""], [["the cat sat on the mat"]]),
    ("empty among others", ["", "the cat sat"], [["a b c d", "the cat sat on it"]]),
    ("one-word hypothesis", ["cat"], [["the cat sat on the mat"]]),
    ("one word against one word", ["cat"], [["cat"]]),
    ("three tokens", ["the cat sat"], [["the cat sat"]]),
    ("two tokens, two refs", ["hello world"], [["hello world"], ["hello there world"]]),
    ("shorter than four, several lines", ["a b", "c d e", "f"], [["a b", "c d e", "f g"]]),
    ("longer than reference", ["the the the the the the the"], [["the cat"]]),
    ("no overlap", ["xyz uvw"], [["abc def ghi"]]),
    ("punctuation split by 13a", ["Hello, world!"], [["Hello , world !"]]),
    ("case matters", ["The Cat"], [["the cat"]]),
    ("non-ASCII accents", ["le café est très bon ici"], [["le café est très bon"]]),
    ("non-ASCII CJK", ["我 爱 你", "猫 在 桌子 上"], [["我 爱 你", "猫 在 桌子 上 面"]]),
    ("non-ASCII Cyrillic", ["кот сидит на ковре"], [["кот сидел на ковре"]]),
    ("emoji", ["good 👍 job"], [["good job 👍"]]),
    ("multi-line corpus", ["the quick brown fox", "jumps over the lazy dog", "and runs away"],
     [["the quick brown fox", "jumped over the lazy dog", "and ran away"], ["a quick brown fox", "jumps over a lazy dog", "then runs away"]]),
    ("music tokens", ["C4 d6 E4 d6 G4 d12", "rest d6 A4 d6"], [["C4 d6 E4 d6 G4 d6", "rest d6 A4 d12"]]),
    ("whitespace only", ["   "], [["word"]]),
]


@pytest.mark.parametrize("name, hyps, refs", VECTORS, ids=[v[0] for v in VECTORS])
def test_corpus_bleu_matches_sacrebleu(name, hyps, refs):
    expected = BLEU().corpus_score(hyps, refs)
    ours = corpus_bleu(hyps, refs)
    assert ours.score == pytest.approx(expected.score, abs=0.01)
    assert ours.precisions == pytest.approx(expected.precisions, abs=0.01)
    assert ours.brevity_penalty == pytest.approx(expected.bp, abs=1e-4)
    assert (ours.hyp_len, ours.ref_len) == (expected.sys_len, expected.ref_len)
    assert ours.signature.startswith(f"nrefs:{len(refs)}|case:mixed|eff:no|tok:13a|smooth:exp|version:")


@pytest.mark.parametrize("name, hyps, refs", VECTORS[:12], ids=[v[0] for v in VECTORS[:12]])
def test_tokenize_none_and_sentence_scores_match_sacrebleu(name, hyps, refs):
    assert corpus_bleu(hyps, refs, "none").score == pytest.approx(BLEU(tokenize="none").corpus_score(hyps, refs).score, abs=0.01)
    metric = BLEU(effective_order=True)
    for i, s in enumerate(sentence_bleu(hyps, refs)):
        assert s.score == pytest.approx(metric.sentence_score(hyps[i], [r[i] for r in refs]).score, abs=0.01)


def test_mismatched_line_counts_are_refused():
    with pytest.raises(InputError, match="has 3 lines but"):
        corpus_bleu(["a", "b"], [["a", "b", "c"]])
    with pytest.raises(UsageError, match="--tokenize"):
        corpus_bleu(["a"], [["a"]], tokenize="no-such")


def test_self_bleu_on_hand_made_samples():
    same = ["the cat sat on the mat today", "the cat sat on the mat today", "the cat sat on the mat today"]
    assert self_bleu(same) == pytest.approx(100.0)
    disjoint = ["alpha beta gamma delta", "one two three four", "red green blue black"]
    assert self_bleu(disjoint) == pytest.approx(0.0)
    mixed = ["the cat sat on the mat", "the cat sat on the hat", "a dog ran in the park"]
    assert 0.0 < self_bleu(mixed) < 100.0
    assert self_bleu(["only one"]) is None


# ---------------------------------------------------------------- the command


@pytest.fixture
def files(tmp_path):
    def write(name, lines):
        path = tmp_path / name
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        return path

    return write


def test_bleu_command_prints_score_signature_precisions(cli, files):
    hyps, refs = VECTORS[19][1], VECTORS[19][2]
    h, r1, r2 = files("hyp.txt", hyps), files("ref1.txt", refs[0]), files("ref2.txt", refs[1])
    res = cli("bleu", h, r1, r2)
    assert res.code == 0, res.err
    metric = BLEU()
    expected = metric.corpus_score(hyps, refs)
    lines = res.out.splitlines()
    assert lines[0] == (
        f"BLEU = {expected.score:.2f} {'/'.join(f'{p:.1f}' for p in expected.precisions)} (BP = {expected.bp:.3f} "
        f"ratio = {expected.ratio:.3f} hyp_len = {expected.sys_len} ref_len = {expected.ref_len})"
    )
    assert lines[1] == str(metric.get_signature())


def test_bleu_command_json_and_sentences(cli, files):
    h, r = files("hyp.txt", ["the cat sat", "a b"]), files("ref.txt", ["the cat sat down", "a b"])
    res = cli("bleu", h, r, "--json", "--sentence", "--tokenize", "none")
    assert res.code == 0, res.err
    report = json.loads(res.out)
    assert report["lines"] == 2 and len(report["sentences"]) == 2 and "tok:none" in report["signature"]
    assert set(report) >= {"score", "precisions", "brevity_penalty", "ratio", "hyp_len", "ref_len", "signature", "sacrebleu_version"}
    assert report["score"] == pytest.approx(BLEU(tokenize="none").corpus_score(["the cat sat", "a b"], [["the cat sat down", "a b"]]).score)


def test_bleu_command_errors_are_one_line(cli, files, tmp_path):
    h, r = files("hyp.txt", ["a", "b"]), files("ref.txt", ["a", "b", "c"])
    res = cli("bleu", h, r)
    assert res.code == 1 and res.out == ""
    assert res.err.strip().splitlines() == [f"error: {r} has 3 lines but {h} has 2 (BLEU compares line i of the hypotheses with line i of each reference; align the files)"]
    res = cli("bleu", h, tmp_path / "missing.txt")
    assert res.code == 2 and "no such file" in res.err
    res = cli("bleu", h)
    assert res.code == 2
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9\n".encode("latin-1"))
    res = cli("bleu", bad, bad)
    assert res.code == 1 and "not UTF-8" in res.err
