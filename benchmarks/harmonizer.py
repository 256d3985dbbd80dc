"""Melody -> chords as a musician hears it (issue 21): how often the chords change, beside the held-out tunes.

    seqgen eval RUN --split test --outputs OUT.txt --json > EVAL.json     # one line of chords per test segment
    python benchmarks/harmonizer.py DATA OUT.txt [EVAL.json]

Prints chord changes per bar of the outputs and of the references (the test split's own chords), the share of
segments whose output holds one chord throughout, and the chord accuracy `eval` measured. Nottingham's chord part
changes 1.19 times a bar; the harmonizer the issue reported changed twice in 16 bars.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def changes_per_bar(lines: list[list[str]], beats_per_bar: list[int]) -> float:
    changes = sum(sum(a != b for a, b in zip(chords, chords[1:])) for chords in lines)
    bars = sum(max(1, len(chords) / per_bar) for chords, per_bar in zip(lines, beats_per_bar))
    return changes / bars


def beats_per_bar(source: str) -> int:
    """Beats in a bar of a segment's melody (`ts:N/D` first): a quarter in x/4 and x/2, a dotted quarter in 6/8, 9/8, 12/8."""
    ts = next((t[3:] for t in source.split() if t.startswith("ts:")), "4/4")
    num, den = (int(x) for x in ts.split("/"))
    if den == 8 and num % 3 == 0 and num > 3:
        return num // 3
    return max(1, num * 4 // den) if den <= 4 else num


def main(argv: list[str]) -> int:
    data, outputs = Path(argv[0]), Path(argv[1])
    sources = (data / "test.src.txt").read_text(encoding="utf-8").splitlines()
    refs = [line.split() for line in (data / "test.tgt.txt").read_text(encoding="utf-8").splitlines()]
    hyps = [line.split() for line in outputs.read_text(encoding="utf-8").splitlines()]
    per_bar = [beats_per_bar(s) for s in sources]
    result = {
        "segments": len(hyps),
        "output_changes_per_bar": changes_per_bar(hyps, per_bar),
        "reference_changes_per_bar": changes_per_bar(refs, per_bar),
        "outputs_holding_one_chord": sum(len(set(h)) <= 1 for h in hyps) / max(1, len(hyps)),
        "references_holding_one_chord": sum(len(set(r)) <= 1 for r in refs) / max(1, len(refs)),
        "output_beats_missing": sum(max(0, len(r) - len(h)) for h, r in zip(hyps, refs)),
    }
    if len(argv) > 2:
        report = json.loads(Path(argv[2]).read_text())
        result["chord_accuracy"] = report.get("chord_accuracy")
        result["baseline_chord_accuracy"] = ((report.get("baselines") or {}).get("most_frequent_chord") or {}).get("chord_accuracy")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
