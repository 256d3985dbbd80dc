"""The benchmark suite runs (a --quick smoke run); its figures are reported, never asserted."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_benchmark_writes_json_and_markdown(tmp_path):
    out = tmp_path / "bench.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--only", "train,sample,cells,prepare,quality", "--threads", "1", "--json", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    results = json.loads(out.read_text())
    assert results["machine"]["threads"] == 1 and results["quick"]
    assert results["train"][0]["seqgen_tok_s"] > 0 and results["sample"][0]["batch1_tok_s"] > 0
    assert [r["threads"] for r in results["cells"]] == [1, 2] and all(r["seqgen_vs_cells"] > 0 and r["mixture_tok_s"] > 0 for r in results["cells"])
    assert "tokens/s" in out.with_suffix(".md").read_text()
    quality = results["quality"][0]  # a 10-second `seqgen train` with the defaults, scored on validation
    assert quality["steps"] > 0 and 0 < quality["val_nats_per_char"] < 10


def test_quick_encoder_decoder_benchmark_reports_accuracy_and_speed(tmp_path):
    out = tmp_path / "s2s.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "seq2seq.py"), "--quick", "--only", "addition,speed", "--threads", "1",
           "--workdir", str(tmp_path / "work"), "--json", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    results = json.loads(out.read_text())
    addition = results["addition"][0]  # a 3-second `seqgen train` on 540 sums, scored on the test split
    assert addition["task"] == "addition" and addition["steps"] > 0 and 0 <= addition["exact_match"] <= 1
    training, _, beam = results["speed"]
    assert training["seqgen_tok_s"] > 0 and training["bare_tok_s"] > 0
    assert beam["batch1_pairs_s"] > 0 and beam["same_outputs"] == "16/16"  # batching never changes what beam search finds
    assert "exact_match" in out.with_suffix(".md").read_text()


def test_gettext_catalogues_parse_into_pairs(tmp_path):
    """A .mo file written here by hand (the GNU format: header, two offset tables, strings) gives its pairs back."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import struct

    from gettext_pairs import clean, mo_entries

    entries = sorted([(b"", b"Content-Type: text/plain; charset=UTF-8\n"), (b"_Open file", b"_Ouvrir le fichier"),
                      (b"ctx\x04Save", b"Enregistrer"), (b"%d file\x00%d files", b"%d fichier\x00%d fichiers")])
    n, header = len(entries), 28
    originals, translations = header, header + 8 * n
    data_start = translations + 8 * n
    blob, table_o, table_t = b"", b"", b""
    for msgid, msgstr in entries:
        table_o += struct.pack("<2I", len(msgid), data_start + len(blob))
        blob += msgid + b"\0"
    for msgid, msgstr in entries:
        table_t += struct.pack("<2I", len(msgstr), data_start + len(blob))
        blob += msgstr + b"\0"
    mo = struct.pack("<7I", 0x950412DE, 0, n, originals, translations, 0, 0) + table_o + table_t + blob
    assert list(mo_entries(mo)) == entries
    assert clean("_Open file") == "Open file" and clean("&Ouvrir") == "Ouvrir"
    assert clean("%s: %d") is None and clean("two\nlines") is None and clean("save_as_dialog") == "save_as_dialog"


def test_placeholders_a_translation_must_carry_are_counted_verbatim():
    """The gettext benchmark's placeholder share: printf directives, gcc's %qE, Python's %(name)s and {0}, options."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from seq2seq import placeholder_share, placeholders

    assert sorted(placeholders("nommé %qE: %1$s %.250s %(name)s {0} --no-x -f et 100%")) == sorted(
        ["%qE", "%1$s", "%.250s", "%(name)s", "{0}", "--no-x", "-f"])
    share = placeholder_share(["file %s: %d bytes", "no placeholder", "%s and %s"], ["fichier %s : %d octets", "rien", "%s et %s"],
                              ["fichier %s : % d octets", "rien", "%s et %s"])
    assert share == {"outputs_due": 2, "carried": 1, "share": 0.5}  # "% d" is not "%d"; a placeholder twice must be there twice
