"""Standard MIDI Files in and out, with mido, never trusting the file.

Reading checks the chunk structure itself before mido sees a byte (size cap, header, time division,
chunk lengths), hands mido a clean copy holding only the track chunks, caps the time mido may take,
and turns anything mido raises into one `InputError` line. No slower parser ever sees a MIDI file.

Writing makes what a DAW expects: type 1, 480 ticks per quarter, a conductor track (name, tempo,
time signature, key), one named track per part with a program change, integer tick timing, every
note-on matched by a note-off, note-offs before a same-pitch restart on the same tick, no zero-length notes.
"""

from __future__ import annotations

import io
import struct
from collections import Counter, defaultdict
from pathlib import Path

import mido

from seqgen.errors import InputError
from seqgen.music.events import DRUM_CHANNEL, Song, Track
from seqgen.music.guards import parse_guarded, read_capped

MIDI_SUFFIXES = (".mid", ".midi", ".smf", ".kar")
MAX_MIDI_BYTES = 8 << 20  # real MIDI files are kilobytes; mido reads about 0.6 MB/s
MIDI_TIME_LIMIT_S = 10.0  # per file
MAX_QUARTERS = 20_000  # notes starting later than this (hours of music) are dropped: a lying delta time
OUT_TPQ = 480  # ticks per quarter of the files we write


def _u32(data: bytes, pos: int) -> int:
    return struct.unpack_from(">I", data, pos)[0]


def clean_midi_bytes(data: bytes) -> tuple[bytes, int]:
    """Check a file's chunk structure; return a copy holding the header and the MTrk chunks only, and the format.

    Raises InputError with the reason for anything mido would misread: a time division of 0 or SMPTE,
    format 2, no tracks, a chunk longer than the file (truncation or a lying length).
    """
    if not data:
        raise InputError("empty file")
    if data[:4] == b"RIFF":
        raise InputError("a RIFF MIDI (.rmi) wrapper, not a Standard MIDI File")
    if len(data) < 14 or data[:4] != b"MThd":
        raise InputError("not a Standard MIDI File (no MThd header)")
    header_len = _u32(data, 4)
    if header_len < 6 or 8 + header_len > len(data):
        raise InputError(f"MIDI header length {header_len} is invalid")
    fmt, _declared_tracks, division = struct.unpack_from(">HHH", data, 8)
    if fmt == 2:
        raise InputError("MIDI format 2 (independent patterns) is not supported")
    if fmt not in (0, 1):
        raise InputError(f"unknown MIDI format {fmt}")
    if division & 0x8000:
        raise InputError("SMPTE time division is not supported (only ticks per quarter note)")
    if division == 0:
        raise InputError("time division of 0 ticks per quarter note")
    pos, tracks = 8 + header_len, []
    while pos + 8 <= len(data):
        kind, length = data[pos : pos + 4], _u32(data, pos + 4)
        end = pos + 8 + length
        if end > len(data):
            if kind == b"MTrk":
                raise InputError(f"truncated: track {len(tracks)} claims {length:,} bytes but {len(data) - pos - 8:,} remain")
            break  # a lying length on a chunk we would skip anyway
        if kind == b"MTrk":
            tracks.append(data[pos:end])
        elif not kind.isascii() or not kind.isalnum():
            break  # trailing garbage after the last chunk, as some writers leave
        pos = end
    if not tracks:
        raise InputError("no track chunks")
    header = b"MThd" + struct.pack(">IHHH", 6, 1 if len(tracks) > 1 else fmt, len(tracks), division)
    return header + b"".join(tracks), fmt


def read_midi(path: Path, time_limit_s: float = MIDI_TIME_LIMIT_S) -> Song:
    """A MIDI file's note events; InputError (one line, the reason) for any file that cannot be read."""
    return midi_bytes_to_song(read_capped(path, MAX_MIDI_BYTES, "a MIDI file"), Path(path).name, time_limit_s)


def midi_bytes_to_song(data: bytes, name: str, time_limit_s: float = MIDI_TIME_LIMIT_S) -> Song:
    clean, _fmt = clean_midi_bytes(data)
    return parse_guarded(lambda: _song_from_mido(mido.MidiFile(file=io.BytesIO(clean), clip=True), name), time_limit_s, "unreadable MIDI data")


def _song_from_mido(mid: mido.MidiFile, name: str) -> Song:
    tpq = int(mid.ticks_per_beat)
    max_tick = tpq * MAX_QUARTERS
    tempo = time_sig = key = None  # (tick, value): the earliest of each, from any track
    dropped: Counter = Counter()
    tracks: list[Track] = []
    first_program: dict[int, int] = {}  # channel -> first program change anywhere, for tracks without their own
    for t_index, mtrack in enumerate(mid.tracks):
        tick, track_name = 0, ""
        programs: dict[int, int] = {}
        sounding: dict[tuple[int, int], tuple[int, int]] = {}  # (channel, pitch) -> (start, velocity)
        notes: dict[int, list] = defaultdict(list)  # channel -> notes

        def close(ch: int, pitch: int, end: int) -> None:
            start, vel = sounding.pop((ch, pitch))
            if end <= start:
                dropped["zero length"] += 1
            elif start >= max_tick:
                dropped[f"after {MAX_QUARTERS:,} quarter notes"] += 1
            else:
                notes[ch].append((start, min(end, max_tick), pitch, vel))

        for msg in mtrack:
            tick += msg.time
            kind = msg.type
            if kind == "note_on" and msg.velocity > 0:
                k = (msg.channel, msg.note)
                if k in sounding:  # a restart of a sounding pitch ends the earlier note
                    close(msg.channel, msg.note, tick)
                sounding[k] = (tick, msg.velocity)
            elif kind == "note_off" or kind == "note_on":
                if (msg.channel, msg.note) in sounding:
                    close(msg.channel, msg.note, tick)
            elif kind == "program_change":
                programs.setdefault(msg.channel, msg.program)
                first_program.setdefault(msg.channel, msg.program)
            elif kind == "track_name" and not track_name:
                track_name = str(msg.name).strip()
            elif kind == "set_tempo" and (tempo is None or tick < tempo[0]) and msg.tempo > 0:
                tempo = (tick, mido.tempo2bpm(msg.tempo))
            elif kind == "time_signature" and (time_sig is None or tick < time_sig[0]):
                time_sig = (tick, (msg.numerator, msg.denominator))
            elif kind == "key_signature" and (key is None or tick < key[0]):
                key = (tick, msg.key)
        for ch, pitch in list(sounding):  # a note-on that never ends: close it at the end of its track
            dropped["note-on without note-off, closed at track end"] += 1
            close(ch, pitch, tick)
        several = len(notes) > 1
        for ch in sorted(notes):
            ns = sorted(notes[ch])
            label = f"{track_name} (channel {ch + 1})" if several and track_name else track_name
            tracks.append(Track(label, t_index, ch, programs.get(ch, -1), ns))
    for tr in tracks:
        if tr.program < 0:
            tr.program = first_program.get(tr.channel, 0)
    ts = time_sig[1] if time_sig else None
    if ts and (ts[0] < 1 or ts[1] < 1 or ts[1] & (ts[1] - 1)):
        ts = None
    return Song(name, tpq, tracks, tempo[1] if tempo else None, ts, key[1] if key else None, dropped)


# ---------------------------------------------------------------- writing


def song_to_midi_bytes(song: Song) -> bytes:
    """A Standard MIDI File (type 1) for a song whose ticks are at `song.ticks_per_quarter`."""
    mid = mido.MidiFile(type=1, ticks_per_beat=song.ticks_per_quarter)
    end = max((n[1] for t in song.tracks for n in t.notes), default=0)
    conductor = [mido.MetaMessage("track_name", name=_text(song.name), time=0)]
    conductor.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(song.tempo or 120.0), time=0))
    num, den = song.time_signature or (4, 4)
    conductor.append(mido.MetaMessage("time_signature", numerator=num, denominator=den, clocks_per_click=24, notated_32nd_notes_per_beat=8, time=0))
    if song.key:
        conductor.append(mido.MetaMessage("key_signature", key=song.key, time=0))
    mid.tracks.append(_delta_track([(0, m) for m in conductor], end))
    for tr in song.tracks:
        ch = tr.channel
        head = [(0, mido.MetaMessage("track_name", name=_text(tr.name) or f"part {tr.index + 1}", time=0)),
                (0, mido.Message("program_change", channel=ch, program=tr.program, time=0))]
        events = []  # (tick, 0 = off before 1 = on at the same tick, pitch, velocity)
        for start, stop, pitch, vel in tr.notes:
            if stop <= start:
                continue  # never write a zero-length note
            events.append((start, 1, pitch, max(1, min(127, vel))))
            events.append((stop, 0, pitch, 0))
        events.sort()
        msgs = [(t, mido.Message("note_on" if on else "note_off", channel=ch, note=p, velocity=v if on else 0, time=0)) for t, on, p, v in events]
        mid.tracks.append(_delta_track(head + msgs, end))
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue()


def _text(name: str) -> str:
    """A name as a MIDI text event can hold it: mido writes Latin-1, so other characters become "?"."""
    return name[:120].encode("latin-1", "replace").decode("latin-1")


def _delta_track(timed: list[tuple[int, mido.Message]], end: int) -> mido.MidiTrack:
    """Absolute integer ticks -> delta times (never floats), closed by an end-of-track at `end`."""
    track, now = mido.MidiTrack(), 0
    for tick, msg in timed:
        track.append(msg.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=max(0, end - now)))
    return track


def is_drum_channel(channel: int) -> bool:
    return channel == DRUM_CHANNEL
