"""Shared fixtures: small corpora the tests write themselves, and a CLI driver that returns exit codes."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import pytest

from seqgen.cli import main


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys):
    """Run `seqgen ARGS…` in this process; returns (exit code, stdout, stderr)."""

    def run(*args: object) -> Result:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def play_text(lines: int = 600, seed: int = 0) -> str:
    """A small play-like corpus: speaker names, line breaks, a few hundred distinct words."""
    rng = random.Random(seed)
    speakers = ["ROMEO", "JULIET", "NURSE", "FRIAR"]
    words = "the a my thy love night day sweet fair heart death light doth not and of to in is be".split()
    out = []
    for _ in range(lines // 3):
        out.append(f"{rng.choice(speakers)}:")
        for _ in range(2):
            out.append(" ".join(rng.choice(words) for _ in range(rng.randint(4, 9))).capitalize() + rng.choice([".", ",", "!", "?"]))
        out.append("")
    return "\n".join(out) + "\n"


@pytest.fixture(scope="session")
def corpus_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "play.txt"
    path.write_text(play_text(), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def char_dataset(tmp_path_factory, corpus_file) -> Path:
    out = tmp_path_factory.mktemp("data") / "char"
    assert main(["prepare", str(corpus_file), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def char_run(tmp_path_factory, char_dataset) -> Path:
    """A tiny trained char-level run (seconds), shared by sampling and eval tests."""
    out = tmp_path_factory.mktemp("runs") / "char"
    code = main([
        "train", str(char_dataset), "--out", str(out), "--hidden", "48", "--embed", "16", "--layers", "2",
        "--batch", "8", "--seq-len", "32", "--max-steps", "60", "--eval-every", "30", "--lr", "1e-2", "--quiet",
    ])
    assert code == 0
    return out
