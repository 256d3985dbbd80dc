"""Fixtures for the robustness suite: a tiny dataset and one uninterrupted reference run to compare against."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from harness import tiny_corpus, train_args

from seqgen.cli import main


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    (root / "poem.txt").write_text(tiny_corpus(), encoding="utf-8")
    assert main(["prepare", str(root / "poem.txt"), "--out", str(root / "data"), "--val", "0.1", "--test", "0"]) == 0
    return root / "data"


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory, tiny_dataset) -> Path:
    """The same training as the interrupted tests, straight through: 60 steps, validation every 15."""
    out = tmp_path_factory.mktemp("reference") / "run"
    assert main(train_args(tiny_dataset, out)) == 0
    return out


@pytest.fixture
def trained_run(tmp_path, reference_run) -> Path:
    """A private copy of the reference run, for tests that damage it."""
    return Path(shutil.copytree(reference_run, tmp_path / "run"))
