"""The benchmark suite runs (a --quick smoke run); its figures are reported, never asserted."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_benchmark_writes_json_and_markdown(tmp_path):
    out = tmp_path / "bench.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--only", "train,sample,prepare,quality", "--threads", "1", "--json", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    results = json.loads(out.read_text())
    assert results["machine"]["threads"] == 1 and results["quick"]
    assert results["train"][0]["seqgen_tok_s"] > 0 and results["sample"][0]["batch1_tok_s"] > 0
    assert "tokens/s" in out.with_suffix(".md").read_text()
    quality = results["quality"][0]  # a 10-second `seqgen train` with the defaults, scored on validation
    assert quality["steps"] > 0 and 0 < quality["val_nats_per_char"] < 10
