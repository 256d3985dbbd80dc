"""Chorales a musician would keep (issue 21): the voices level against the notes level at equal budget, and
harmonizing held-out soprano lines.

    python benchmarks/chorales.py train --workdir W [--budget 15m]   # prepare bach at both levels, train both (one core each, in parallel)
    python benchmarks/chorales.py samples --workdir W               # 16 samples of 8 bars per run (voices: also without the
                                                                    # part-writing rules): what a musician gets, counted
    python benchmarks/chorales.py harmonize --workdir W [--voice-leading free]  # 10 held-out sopranos harmonized by the voices run

Hold the CPU lock while measuring: `flock -x /tmp/seqgen-cpu.lock python benchmarks/chorales.py train ...`.
Every figure is computed from the written files (MIDI read back with mido), not from the tokens: a part that holds
two notes at once, a note off the grid, a parallel fifth are counted as a reader of the file would meet them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LEVELS = ("notes", "voices")
VOICES = ("Soprano", "Alto", "Tenor", "Bass")
SAMPLES, BARS, HARMONIZED = 16, 8, 10


def seqgen(*args: object, core: int | None = None) -> subprocess.CompletedProcess:
    pin = ["taskset", "-c", str(core)] if core is not None else []
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([*pin, sys.executable, "-m", "seqgen", *map(str, args)], cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"seqgen {' '.join(map(str, args))} failed:\n{proc.stderr[-2000:]}")
    return proc


def train(args: argparse.Namespace) -> None:
    work = args.workdir
    for level in LEVELS:
        if not (work / "data" / level / "meta.json").is_file():
            seqgen("prepare", "bach", "--level", level, "--out", work / "data" / level, "--force")
    runs = []
    for core, level in enumerate(LEVELS):
        cmd = [sys.executable, "-m", "seqgen", "train", str(work / "data" / level), "--out", str(work / "runs" / level), "--time-limit",
               args.budget, "--threads", "1", "--quiet", "--force"]
        runs.append((level, time.time(), subprocess.Popen(["taskset", "-c", str(core), *cmd], cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"},
                                                          stderr=subprocess.PIPE, text=True)))
    results = {}
    for level, start, proc in runs:
        _, err = proc.communicate()
        if proc.returncode:
            raise SystemExit(f"training {level} failed:\n{err[-2000:]}")
        report = json.loads(seqgen("eval", work / "runs" / level, "--split", "test", "--json").stdout)
        rows = [json.loads(line) for line in (work / "runs" / level / "metrics.jsonl").read_text().splitlines()]
        results[level] = {"wall_s": round(time.time() - start, 1), "steps": rows[-1]["step"], "first_line": err.splitlines()[0] if err else "",
                          **{k: report.get(k) for k in ("tokens", "nats_per_token", "notes", "nats_per_note", "perplexity_per_note")},
                          "model": json.loads((work / "runs" / level / "config.json").read_text())["model"]}
        print(level, json.dumps(results[level]), flush=True)
    (work / "train.json").write_text(json.dumps(results, indent=1))


def _tones(path: Path):
    """A written MIDI file as stats.Tone lists: (notes, bar, beat), parts by the run's voice names."""
    from seqgen.music.midi_io import read_midi
    from seqgen.music.stats import Tone, beat_length

    song = read_midi(path)
    q = song.ticks_per_quarter
    notes = [Tone(p, s / q, (e - s) / q, VOICES.index(t.name)) for t in song.tracks if t.name in VOICES for s, e, p, _ in t.notes]
    num, den = song.time_signature or (4, 4)
    return notes, num * 4 / den, beat_length((num, den)), song


def _held_out(work: Path):
    from seqgen.data.dataset import Dataset
    from seqgen.evaluation.report import held_out_pieces, piece_notes
    from seqgen.levels import tokenizer_from_meta

    ds = Dataset.open(work / "data" / "voices")
    tok = tokenizer_from_meta(ds.meta)
    return [piece_notes(tok, ids) for ids in held_out_pieces(tok, ds.split("test"))]


def written_figures(files: list[Path], held_out) -> dict:
    """What a reader of the written files meets, beside the held-out chorales (same counts on both)."""
    from seqgen.music.grade import grade_sets
    from seqgen.music.stats import compare_parts

    pieces, single, onsets, off_grid, durations = [], 0, 0, 0, 0
    for path in files:
        notes, bar, beat, song = _tones(path)
        pieces.append((notes, bar, beat))
        for part in range(len(VOICES)):
            starts: dict[float, int] = {}
            for n in notes:
                if n.part == part:
                    starts[n.onset] = starts.get(n.onset, 0) + 1
            single += sum(c == 1 for c in starts.values())
            onsets += len(starts)
        for n in notes:
            durations += 1
            off_grid += any(abs(x * 4 - round(x * 4)) > 1e-6 for x in (n.onset, n.dur))  # the sixteenth grid
    names = dict(enumerate(VOICES))
    parts = compare_parts(pieces, held_out, names)
    return {"files": len(files), "single_note_onsets": single / onsets if onsets else None, "off_grid_notes": off_grid, "notes": durations,
            "voice_leading": parts["voice_leading"], "parts": parts["parts"], "grade": grade_sets(pieces, held_out, names)}


# what `samples` draws: (name, run level, sample options); the voices run as `sample` writes it, and with the
# part-writing rules off (--voice-leading free), to show what they change
VARIANTS = (("notes", "notes", ()), ("voices", "voices", ()), ("voices-free", "voices", ("--voice-leading", "free")))


def samples(args: argparse.Namespace) -> None:
    work = args.workdir
    held_out = _held_out(work)
    out = {}
    for name, level, options in VARIANTS:
        folder = work / "samples" / name
        folder.mkdir(parents=True, exist_ok=True)
        seqgen("sample", work / "runs" / level, "--num", SAMPLES, "--bars", BARS, "--seed", 1, "--out", folder / "chorale.mid", "--force", *options)
        files = [folder / f"chorale-{i}.mid" for i in range(1, SAMPLES + 1)]
        out[name] = written_figures(files, held_out)
        for fmt in ("musicxml", "wav"):
            seqgen("sample", work / "runs" / level, "--bars", BARS, "--seed", 1, "--out", folder / f"one.{fmt}", "--force", *options)
        print(name, json.dumps({k: out[name][k] for k in ("single_note_onsets", "off_grid_notes")}), json.dumps(out[name]["voice_leading"]),
              json.dumps((out[name]["grade"] or {}).get("grade")), flush=True)
    (work / "samples.json").write_text(json.dumps(out, indent=1))


def harmonize(args: argparse.Namespace) -> None:
    """Ten held-out sopranos (the voices dataset's test chorales), harmonized; each beat's chord (music21's naming of
    the four voices sounding at the beat) against Bach's own, and chord changes per bar."""
    from music21 import corpus

    from seqgen.data.dataset import split_of
    from seqgen.music.events import Song, Track
    from seqgen.music.harmony import chord_name
    from seqgen.music.midi_io import read_midi, song_to_midi_bytes
    from seqgen.music.scores import score_to_song
    from seqgen.music.stats import voice_leading

    work = args.workdir
    options = ("--voice-leading", args.voice_leading) if args.voice_leading else ()
    meta = json.loads((work / "data" / "voices" / "meta.json").read_text())
    fractions = meta["stats"]["split_fractions"]
    names = [s["name"] for s in meta["sources"] if split_of(f"{s['sha256']}:0", fractions["val"], fractions["test"]) == "test"]
    folder = work / ("harmonized" + (f"-{args.voice_leading}" if args.voice_leading else ""))
    folder.mkdir(parents=True, exist_ok=True)
    agree = beats = changes = bach_changes = bars = 0
    leading: dict = {}
    rows = []
    for path in names[:HARMONIZED]:
        bach = score_to_song(corpus.parse(path), Path(path).stem)
        soprano = next((t for t in bach.tracks if t.name == "Soprano"), None)
        if soprano is None:
            continue
        tune = folder / f"{Path(path).stem}-tune.mid"
        tune.write_bytes(song_to_midi_bytes(Song("tune", bach.ticks_per_quarter, [Track("Soprano", 0, 0, 52, soprano.notes)], bach.tempo,
                                                 bach.time_signature, bach.key, [])))
        out = folder / f"{Path(path).stem}-harmonized.mid"
        seqgen("sample", work / "runs" / "voices", "--harmonize", tune, "--out", out, "--seed", 1, "--force", *options)
        ours = read_midi(out)
        notes, _, _, _ = _tones(out)
        for key, n in voice_leading(notes, range(len(VOICES))).items():
            leading[key] = leading.get(key, 0) + n
        q_ours, q_bach = ours.ticks_per_quarter, bach.ticks_per_quarter
        lead = min(s for s, _, _, _ in soprano.notes) // (4 * q_bach) * 4  # quarters prepare took off a pick-up
        length = max(e for t in ours.tracks for _, e, _, _ in t.notes) // q_ours

        def chord_at(song, q, beat, shift=0):
            t = (beat + shift) * q
            return chord_name(tuple(sorted(p for tr in song.tracks for s, e, p, _ in tr.notes if s <= t < e)))

        mine = [chord_at(ours, q_ours, b) for b in range(length)]
        his = [chord_at(bach, q_bach, b, lead) for b in range(length)]
        agree += sum(a == b for a, b in zip(mine, his))
        beats += length
        num, den = ours.time_signature or (4, 4)
        beats_per_bar = num * 4 // den
        bars += max(1, length // beats_per_bar)
        changes += sum(a != b for a, b in zip(mine, mine[1:]))
        bach_changes += sum(a != b for a, b in zip(his, his[1:]))
        rows.append({"chorale": Path(path).stem, "beats": length, "agreement": sum(a == b for a, b in zip(mine, his)) / max(1, length)})
    result = {"chorales": len(rows), "beats": beats, "chord_agreement_per_beat": agree / max(1, beats),
              "chord_changes_per_bar": changes / max(1, bars), "bach_chord_changes_per_bar": bach_changes / max(1, bars),
              "voice_leading": options[1] if options else "strict", "voice_crossings_per_bar": leading.get("crossings", 0) / max(1, bars),
              **{f"parallel_{k}_per_100_changes": 100 * leading.get(k, 0) / max(1, leading.get("changes", 0)) for k in ("fifths", "octaves")}, "rows": rows}
    (work / ("harmonize" + (f"-{args.voice_leading}" if args.voice_leading else "") + ".json")).write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("train", "samples", "harmonize"))
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/chorales"))
    parser.add_argument("--budget", default="15m")
    parser.add_argument("--voice-leading", choices=("strict", "free"), help="harmonize: sample's --voice-leading (default: sample's own)")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    {"train": train, "samples": samples, "harmonize": harmonize}[args.what](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
