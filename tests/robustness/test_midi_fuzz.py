"""Fuzzing the MIDI reader: 1,200 broken files derived from real ones; zero crashes, zero hangs.

Every case must come back within 2 s as either a song (which then tokenizes without error in both
schemes) or an InputError with a one-line reason; and a folder mixing broken and good files prepares
the good ones and lists every bad one with its reason.
"""

from __future__ import annotations

import io
import json
import random
import struct
import time
from collections import Counter
from pathlib import Path

import mido
import pytest
from music_pieces import NOTTINGHAM, band_piece, tune

from seqgen.cli import main
from seqgen.errors import InputError
from seqgen.music.midi_io import midi_bytes_to_song
from seqgen.music.tokens import MelodyTokenizer, NotesTokenizer

CASES = 1200
PER_FILE_S = 2.0


def _chunks(data: bytes) -> list[tuple[int, int]]:
    """(offset, length) of each chunk after the header, as the file declares them."""
    out, pos = [], 14
    while pos + 8 <= len(data):
        length = struct.unpack_from(">I", data, pos + 4)[0]
        out.append((pos, length))
        pos += 8 + length
    return out


def _with_track(data: bytes, pos: int, length: int, body: bytes) -> bytes:
    return data[:pos] + b"MTrk" + struct.pack(">I", len(body)) + body + data[pos + 8 + length :]


def _never_ending(data: bytes) -> bytes:
    mid = mido.MidiFile(file=io.BytesIO(data))
    for tr in mid.tracks:
        carry = 0
        kept = mido.MidiTrack()
        for m in tr:
            if m.type == "note_off" or (m.type == "note_on" and m.velocity == 0):
                carry += m.time
                continue
            kept.append(m.copy(time=m.time + carry))
            carry = 0
        tr[:] = kept
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue()


def mutate(data: bytes, kind: str, rng: random.Random) -> bytes:
    b = bytearray(data)
    chunks = _chunks(data)
    if kind == "bit flips":
        for _ in range(rng.randint(1, 24)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    elif kind == "truncated":
        b = b[: rng.randrange(len(b))]
    elif kind == "lying chunk length":
        pos, _ = rng.choice(chunks)
        b[pos + 4 : pos + 8] = struct.pack(">I", rng.choice([0, 1, 7, rng.randrange(1 << 32), len(data) * 2, rng.randrange(64)]))
    elif kind == "huge delta time":
        pos, length = rng.choice(chunks[1:] or chunks)
        body = bytes(b[pos + 8 : pos + 8 + length])
        b = bytearray(_with_track(bytes(b), pos, length, b"\xff\xff\xff\x7f" + body[1:]))  # the first delta: 2^28 - 1 ticks
    elif kind == "zero tracks":
        b = bytearray(data[:14])
        b[10:12] = struct.pack(">H", 0) if rng.random() < 0.5 else struct.pack(">H", 65535)
    elif kind == "track count lies":
        b[10:12] = struct.pack(">H", rng.choice([0, 65535, len(chunks) + 3]))
    elif kind == "SMPTE division":
        b[12:14] = struct.pack(">H", 0xE250)
    elif kind == "division 0":
        b[12:14] = b"\x00\x00"
    elif kind == "format 2":
        b[8:10] = b"\x00\x02"
    elif kind == "note-on never ends":
        b = bytearray(_never_ending(data))
    elif kind == "random bytes in a track":
        pos, length = rng.choice(chunks)
        start = pos + 8 + rng.randrange(max(1, length))
        for i in range(start, min(len(b), start + rng.randint(1, 40))):
            b[i] = rng.randrange(256)
    elif kind == "garbage":
        b = bytearray(rng.randbytes(rng.randint(0, 400)))
        if rng.random() < 0.5:
            b[:4] = b"MThd"
    return bytes(b)


KINDS = ["bit flips", "truncated", "lying chunk length", "huge delta time", "zero tracks", "track count lies", "SMPTE division",
         "division 0", "format 2", "note-on never ends", "random bytes in a track", "garbage"]


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> list[bytes]:
    """Real files when the shared corpora are here (a few Nottingham tunes), plus pieces built here."""
    root = tmp_path_factory.mktemp("seeds")
    files = sorted(NOTTINGHAM.glob("*.mid"))[::100][:8] if NOTTINGHAM.is_dir() else []
    files += [band_piece(root / "band.mid"), tune(root / "tune.mid", [60, 62, 64, 65, 67, 65, 64, 62] * 4)]
    return [f.read_bytes() for f in files]


def test_fuzzed_midi_never_crashes_or_hangs(seeds):
    rng = random.Random(20240605)
    tokenizers = [MelodyTokenizer.untrained(MelodyTokenizer.make_settings()),
                  NotesTokenizer.untrained(NotesTokenizer.make_settings(drums=True, velocity_bins=4))]
    outcomes: Counter = Counter()
    slowest = 0.0
    for case in range(CASES):
        kind = KINDS[case % len(KINDS)]
        data = mutate(rng.choice(seeds), kind, rng)
        started = time.perf_counter()
        try:
            song = midi_bytes_to_song(data, f"case{case}.mid")
            for tok in tokenizers:
                tok.encode_piece(tok.extract(song, fallback=True).piece)
            outcomes["read"] += 1
        except InputError as exc:
            assert exc.message and "\n" not in exc.message
            outcomes["skipped"] += 1
        elapsed = time.perf_counter() - started
        slowest = max(slowest, elapsed)
        assert elapsed < PER_FILE_S, f"case {case} ({kind}) took {elapsed:.2f} s"
    assert outcomes["read"] + outcomes["skipped"] == CASES
    assert outcomes["skipped"] >= CASES // 3  # most mutations break the file, and each is reported
    print(f"\nMIDI fuzz: {CASES} cases, {outcomes['skipped']} skipped with a reason, {outcomes['read']} read, 0 crashes, slowest {slowest:.3f} s")


def test_folder_of_broken_files_prepares_the_good_ones(seeds, tmp_path, monkeypatch):
    monkeypatch.setenv("SEQGEN_CACHE", str(tmp_path / "cache"))
    rng = random.Random(7)
    src = tmp_path / "src"
    src.mkdir()
    good = []
    for i, data in enumerate(seeds):
        (src / f"good{i}.mid").write_bytes(data)
        good.append(f"good{i}.mid")
    for i, kind in enumerate(KINDS * 4):
        (src / f"bad{i:02d}.mid").write_bytes(mutate(rng.choice(seeds), kind, rng))
    expected_bad = []
    for p in sorted(src.glob("bad*.mid")):
        try:
            song = midi_bytes_to_song(p.read_bytes(), p.name)
            if not any(t.notes for t in song.tracks):
                expected_bad.append(p.name)
        except InputError:
            expected_bad.append(p.name)
    out = tmp_path / "data"
    assert main(["prepare", str(src), "--out", str(out), "--val", "0", "--test", "0", "--level", "notes"]) == 0
    meta = json.loads((out / "meta.json").read_text())
    read = {Path(s["name"]).name for s in meta["sources"]}
    assert set(good) <= read
    skipped = {Path(s["name"]).name: s["reason"] for s in meta["skipped"]}
    assert set(expected_bad) <= set(skipped) and all(skipped.values())
