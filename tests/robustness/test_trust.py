"""Files from elsewhere are never trusted: crafted pickles, damaged or swapped weights, a newer or broken config.json,
a dataset or primer that does not fit the run. Each gives one clear line and exit 1 (2 for a bad argument)."""

from __future__ import annotations

import json
import pickle
import shutil

import pytest
import torch
from harness import TINY, assert_run_intact, one_error_line, run_files

from seqgen.files import sha256_file
from seqgen.training.checkpoint import LAST, STATE, open_run


def rewrite_config(run, change) -> None:
    config = json.loads((run / "config.json").read_text())
    change(config)
    (run / "config.json").write_text(json.dumps(config))


def record_digest(run, name) -> None:
    """Make config.json vouch for a replaced file, as someone handing over a whole folder can."""
    rewrite_config(run, lambda c: c["digests"].__setitem__(name, sha256_file(run / name)))


class CreatesAFile:
    """Unpickling this runs `open(marker, "w")`: a stand-in for any code an attacker could run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("container", ["torch zip", "plain pickle"])
@pytest.mark.parametrize("vouched", [False, True], ids=["digest unchanged", "digest updated"])
def test_a_crafted_pickle_in_state_pt_runs_nothing(cli, trained_run, tmp_path, container, vouched):
    marker = tmp_path / "pwned"
    payload = {"position": CreatesAFile(marker), "optimizer": {}}
    if container == "torch zip":
        torch.save(payload, trained_run / STATE)
    else:
        (trained_run / STATE).write_bytes(pickle.dumps(payload))
    if vouched:
        record_digest(trained_run, STATE)
    res = cli("train", "--resume", trained_run, "--max-steps", "70")
    assert res.code == 1
    line = one_error_line(res.err)
    if vouched:  # the digest matches, so it gets as far as torch.load(weights_only=True), which refuses
        assert f"{trained_run / STATE} cannot be read safely (UnpicklingError); it was not loaded" in line
    else:
        assert f"{trained_run / STATE} does not match the digest in config.json" in line
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["one flipped bit", "truncated", "swapped with another run's", "deleted"])
@pytest.mark.parametrize("name", ["model.safetensors", "last.safetensors"])
def test_damaged_weights_are_refused_by_every_verb(cli, trained_run, tiny_dataset, tmp_path, damage, name):
    file = trained_run / name
    if damage == "one flipped bit":
        data = bytearray(file.read_bytes())
        data[len(data) // 2] ^= 0x10  # in the middle of a tensor: safetensors itself would load it without complaint
        file.write_bytes(bytes(data))
    elif damage == "truncated":
        file.write_bytes(file.read_bytes()[:-100])
    elif damage == "swapped with another run's":  # same shapes, other seed: loads fine, wrong model
        assert cli("train", tiny_dataset, "--out", tmp_path / "other", *TINY, "--seed", "99", "--max-steps", "15").code == 0
        shutil.copy(tmp_path / "other" / name, file)
    else:
        file.unlink()
    expected = f"{file} is missing" if damage == "deleted" else f"{file} does not match the digest in config.json"
    weights = "best" if name == "model.safetensors" else "last"
    commands = [("sample", trained_run, "--weights", weights, "--length", "5"), ("eval", trained_run, "--weights", weights)]
    if name == LAST:
        commands.append(("train", "--resume", trained_run, "--max-steps", "70"))
    for args in commands:
        res = cli(*args)
        assert res.code == 1, args
        assert expected in one_error_line(res.err), args


@pytest.mark.parametrize("verb", ["sample", "eval", "train --resume"])
def test_a_run_from_a_newer_seqgen_is_refused(cli, trained_run, verb):
    rewrite_config(trained_run, lambda c: c.update(format_version=99, seqgen_version="9.0.0"))
    res = cli(*verb.split(), trained_run)
    assert res.code == 1
    assert f"{trained_run} was written by a newer seqgen (9.0.0, run format 99)" in one_error_line(res.err)
    assert "upgrade seqgen" in res.err


@pytest.mark.parametrize(
    "breakage, message",
    [
        (lambda c: None, "is corrupt"),  # replaced by half of itself below
        (lambda c: c.pop("digests"), "lacks its 'digests' section"),
        (lambda c: c["model"].update(hidden="many"), "[model] hidden must be an integer, not 'many'"),
        (lambda c: c["model"].update(layers=-2), "--layers must be at least 1"),
        (lambda c: c["model"].update(colour="blue"), "has unknown settings: colour"),
        (lambda c: c["train"].update(seq_len=None), "[train] seq_len must be an integer, not None"),
        (lambda c: c.update(format="something-else"), "is not a seqgen run description"),
    ],
    ids=["truncated", "no digests", "wrong type", "out of range", "unknown key", "null", "not seqgen"],
)
def test_a_broken_config_json_gives_one_clear_line(cli, trained_run, breakage, message):
    if "corrupt" in message:
        text = (trained_run / "config.json").read_text()
        (trained_run / "config.json").write_text(text[: len(text) // 2])
    else:
        rewrite_config(trained_run, breakage)
    for verb in (["sample", trained_run, "--length", "5"], ["train", "--resume", trained_run, "--max-steps", "70"]):
        res = cli(*verb)
        assert res.code in (1, 2), verb
        assert message in one_error_line(res.err), verb


def test_a_dataset_with_another_vocabulary_is_refused(cli, trained_run, tmp_path):
    other = tmp_path / "other.txt"
    other.write_text("completely different letters: xyzq JKL 0123\n" * 50)
    assert cli("prepare", other, "--out", tmp_path / "other", "--val", "0.1").code == 0
    res = cli("train", tmp_path / "other", "--resume", trained_run, "--max-steps", "70")
    assert res.code == 1
    assert f"the dataset {tmp_path / 'other'} has a different vocabulary than the run {trained_run}" in one_error_line(res.err)
    # the run's own dataset replaced by another under the same name: eval refuses instead of reading ids out of range
    dataset = open_run(trained_run).config["dataset_path"]
    rewrite_config(trained_run, lambda c: c.update(dataset_path=str(tmp_path / "other")))
    res = cli("eval", trained_run)
    assert res.code == 1 and "has a different vocabulary than the run" in one_error_line(res.err)
    assert dataset


def test_a_primer_the_run_cannot_read_is_refused(cli, trained_run, tmp_path):
    res = cli("sample", trained_run, "--prime", "QZ€", "--length", "5")
    assert res.code == 2
    assert "the primer has characters this run never saw: 'Q', 'Z', '€'" in one_error_line(res.err)
    primer = tmp_path / "primer.txt"
    primer.write_bytes(b"\xff\xfe\x00binary")
    res = cli("sample", trained_run, "--prime-file", primer, "--length", "5")
    assert res.code in (1, 2) and str(primer) in one_error_line(res.err)


def test_files_are_checked_before_anything_is_changed(cli, trained_run, reference_run):
    """A refused resume leaves the run exactly as it was."""
    (trained_run / LAST).write_bytes(b"\0" * 10)
    before = {p.name: p.read_bytes() for p in trained_run.iterdir() if p.is_file()}
    assert cli("train", "--resume", trained_run, "--max-steps", "70").code == 1
    assert {p.name: p.read_bytes() for p in trained_run.iterdir() if p.is_file()} == before
    shutil.copy(reference_run / LAST, trained_run / LAST)
    assert_run_intact(trained_run)
    assert run_files(trained_run) == run_files(reference_run)
