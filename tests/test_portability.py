"""seqgen where POSIX-only modules do not exist (Windows has no `fcntl`): the CLI imports, and prepare, train and
sample work. Simulated by hiding `fcntl` from a fresh Python before anything imports it."""

import json
import os
import subprocess
import sys

SCRIPT = """
import json, sys
sys.modules["fcntl"] = None  # as on Windows: `import fcntl` raises ImportError
from seqgen.cli import main
print(json.dumps([main(args) for args in json.loads(sys.argv[1])]))
"""


def seqgen_without_fcntl(*commands: list) -> list[int]:
    """Run each `seqgen ARGS` in one Python that has no fcntl; their exit codes."""
    args = json.dumps([[str(a) for a in command] for command in commands])
    res = subprocess.run([sys.executable, "-c", SCRIPT, args], capture_output=True, text=True, timeout=300, env={**os.environ, "CI": "1"})
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.splitlines()[-1])


def test_prepare_train_and_sample_without_fcntl(tmp_path, corpus_file):
    data, run, sample = tmp_path / "data", tmp_path / "run", tmp_path / "sample.txt"
    tiny = ["--hidden", "16", "--embed", "8", "--batch", "4", "--seq-len", "16", "--max-steps", "5", "--threads", "1", "--quiet"]
    codes = seqgen_without_fcntl(
        ["--help"],
        ["prepare", corpus_file, "--out", data],
        ["train", data, "--out", run, *tiny],
        ["sample", run, "--length", "40", "--seed", "1", "--out", sample],
    )
    assert codes == [0, 0, 0, 0]
    assert (run / "model.safetensors").is_file() and len(sample.read_text(encoding="utf-8")) >= 40


def test_on_windows_a_write_waits_while_a_reader_holds_the_file(monkeypatch, tmp_path):
    """Windows refuses to replace a file another process has open (`sample` reading weights beside a trainer); the
    write waits the moment it takes the reader to close it, instead of failing. Simulated: os.replace refuses twice."""
    import seqgen.files as files

    target = tmp_path / "config.json"
    target.write_bytes(b"old")
    real_replace, refusals = os.replace, [PermissionError(13, "The process cannot access the file")] * 2

    def replace(src, dst):
        if refusals:
            raise refusals.pop()
        real_replace(src, dst)

    monkeypatch.setattr(files, "WINDOWS", True)
    monkeypatch.setattr(os, "replace", replace)
    files.atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new" and not refusals
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]  # no temporary file left
