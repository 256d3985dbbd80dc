"""`eval` on an encoder-decoder scores what `sample` prints, against the references as they were written.

BLEU is computed the way the field computes it (Post 2018): detokenized outputs against the untouched reference
text. A reference word outside the vocabulary stays itself (never `<unk>`), and decoding never looks at the
references: the outputs are the ones `sample --input-file` gives for the same sources, byte for byte.
"""

from __future__ import annotations

import json
import random

import pytest
import sacrebleu

from seqgen.data.pairs import PairsDataset, fit_length_cap, length_cap

WORDS = "the file is not found open closed cannot read write disk full empty folder name user".split()
FRENCH = dict(zip(WORDS, "le fichier est pas trouvé ouvert fermé impossible lire écrire disque plein vide dossier nom utilisateur".split()))
TINY = ["--hidden", "24", "--embed", "16", "--batch", "16", "--max-steps", "25", "--threads", "1", "--device", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def translation(tmp_path_factory):
    """Word-level pairs whose held-out references hold words seen only once in training (min-freq 2: <unk>), and
    placeholders and spacing the word level cannot rebuild; a model trained for a few steps."""
    from seqgen.cli import main

    root = tmp_path_factory.mktemp("translation")
    rng = random.Random(3)
    lines = []
    for i in range(500):
        words = rng.sample(WORDS, rng.randint(2, 6))
        rare = f"mot{i}"  # a word of its own in every pair: outside the vocabulary wherever it is
        lines.append(f"{' '.join(words)} {rare} %s\t{' '.join(FRENCH[w] for w in words)} « {rare} » : %s")
    (root / "pairs.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    data, run = root / "data", root / "run"
    assert main(["prepare", str(root / "pairs.tsv"), "--pairs", "--level", "word", "--min-freq", "2", "--test", "0.2", "--out", str(data)]) == 0
    assert main(["train", str(data), "--out", str(run), *TINY]) == 0
    return data, run


def test_bleu_is_sacrebleu_on_the_raw_references_and_eval_decodes_as_sample(cli, translation, tmp_path):
    data, run = translation
    ds = PairsDataset.open(data)
    refs = ds.texts("test", "tgt")
    rebuilt = [ds.target.decode(ds.split("test").target(i)) for i in range(len(refs))]
    assert all("<unk>" in r for r in rebuilt) and not any("<unk>" in r for r in refs)  # what eval used to score against

    res = cli("eval", run, "--split", "test", "--json", "--outputs", tmp_path / "eval.txt")
    assert res.code == 0, res.err
    report = json.loads(res.out)
    res = cli("sample", run, "--input-file", data / "test.src.txt", "--out", tmp_path / "sample.txt")
    assert res.code == 0, res.err
    assert (tmp_path / "eval.txt").read_bytes() == (tmp_path / "sample.txt").read_bytes()  # one decoding, byte for byte

    hyps = (tmp_path / "eval.txt").read_text(encoding="utf-8").split("\n")[:-1]
    assert len(hyps) == len(refs) == report["pairs"]
    assert report["references"] == "text"
    assert report["bleu"]["score"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score)
    assert report["chrf"]["score"] == pytest.approx(sacrebleu.corpus_chrf(hyps, [refs]).score)
    assert report["exact_match"] == sum(h == r for h, r in zip(hyps, refs)) / len(refs)
    assert report["baselines"]["copy_source"]["bleu"]["score"] == pytest.approx(sacrebleu.corpus_bleu(ds.texts("test", "src"), [refs]).score)
    cap = report["decoding"]["length_cap"]
    assert cap == ds.meta["stats"]["length_cap"] and report["decoding"]["max_length"] is None
    assert 0 <= report["decoding"]["at_length_cap"] <= report["pairs"]


def test_the_length_cap_comes_from_the_training_pairs_never_the_references(cli, translation, tmp_path):
    data, run = translation
    ds = PairsDataset.open(data)
    train = ds.split("train")
    line = fit_length_cap(train.lengths("src"), train.lengths("tgt"))
    assert line == ds.meta["stats"]["length_cap"]
    assert all(len(train.target(i)) < length_cap(ds.meta, len(train.source(i))) for i in range(len(train)))  # every training pair fits, <eos> too
    res = cli("sample", run, "--input", "the file %s", "--max-length", "3")
    assert res.code == 0 and len(res.out.split()) <= 3
    report = json.loads(cli("eval", run, "--split", "test", "--json", "--max-length", "2").out)
    assert report["decoding"]["max_length"] == 2 and report["decoding"]["length_cap"] is None


def test_a_length_cap_line_is_fitted_by_least_squares_and_covers_every_pair():
    assert fit_length_cap([2, 4, 6], [3, 5, 7]) == {"slope": 1.0, "intercept": 1.0}
    assert fit_length_cap([5, 5, 5], [1, 9, 4]) == {"slope": 0.0, "intercept": 9.0}  # one source length: the longest target
    line = fit_length_cap([1, 2, 3, 10], [2, 4, 6, 30])
    assert all(t <= line["slope"] * s + line["intercept"] for s, t in [(1, 2), (2, 4), (3, 6), (10, 30)])
    assert length_cap({"stats": {"length_cap": {"slope": 1.5, "intercept": 2.0}}}, 3) == 8  # ceil(6.5), then <eos>
    assert length_cap({"stats": {"max_target": 15}}, 3) == 30  # a dataset from before the fit: twice its longest target


def test_a_file_of_pairs_is_scored_against_its_own_text(cli, translation, tmp_path):
    _, run = translation
    (tmp_path / "mine.tsv").write_text("the disk is full %s\tle disque est plein : %s\nopen the folder zzz\tdossier « zzz »\n", encoding="utf-8")
    res = cli("eval", run, "--file", tmp_path / "mine.tsv", "--json", "--outputs", tmp_path / "out.txt")
    assert res.code == 0, res.err
    report = json.loads(res.out)
    hyps = (tmp_path / "out.txt").read_text(encoding="utf-8").split("\n")[:-1]
    refs = ["le disque est plein : %s", "dossier « zzz »"]
    assert report["references"] == "text" and report["pairs"] == 2
    assert report["chrf"]["score"] == pytest.approx(sacrebleu.corpus_chrf(hyps, [refs]).score)
    assert [e["reference"] for e in report["examples"]] == refs


def test_an_old_dataset_without_its_text_is_scored_as_before_and_says_so(cli, translation, tmp_path):
    import shutil

    data, run = translation
    old = tmp_path / "old"
    shutil.copytree(data, old)
    meta = json.loads((old / "meta.json").read_text())
    del meta["texts"], meta["stats"]["length_cap"]
    (old / "meta.json").write_text(json.dumps(meta))
    for f in old.glob("*.txt"):
        f.unlink()
    config = json.loads((run / "config.json").read_text())
    moved = tmp_path / "run"
    shutil.copytree(run, moved)
    (moved / "config.json").write_text(json.dumps({**config, "dataset_path": str(old), "dataset": meta}))
    res = cli("eval", moved, "--split", "test", "--json")
    assert res.code == 0, res.err
    report = json.loads(res.out)
    assert report["references"] == "rebuilt from token ids"
    assert "rebuilt from token ids" in res.err and "prepare" in res.err
    assert any("<unk>" in e["reference"] for e in report["examples"])
    assert report["decoding"]["max_length"] == max(20, 2 * meta["stats"]["max_target"])


def test_an_input_longer_than_any_training_source_is_warned_about(cli, translation):
    data, run = translation
    limit = PairsDataset.open(data).meta["stats"]["max_length"]
    res = cli("sample", run, "--input", " ".join(["file"] * (limit + 1)), "--max-length", "2")
    assert res.code == 0 and "longer than" in res.err and "--max-length" in res.err
