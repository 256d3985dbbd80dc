"""The note-event model every music reader produces: what a piece of music is to seqgen before tokenizing.

A `Song` is what one source holds (a MIDI file, one score of a MusicXML/ABC file), in its own ticks:
tracks of (start, end, pitch, velocity) notes plus the tempo, time signature and key it declares.
Readers never quantize; `seqgen.music.tokens` does, to a grid of steps per quarter note.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

DRUM_CHANNEL = 9  # General MIDI channel 10, counted from 0

RawNote = tuple[int, int, int, int]  # (start tick, end tick, pitch 0-127, velocity 1-127)


@dataclass
class Track:
    name: str  # the track or part name ("" when the source has none)
    index: int  # position in the source: MIDI track number, score part number
    channel: int  # MIDI channel 0-15; 9 is drums
    program: int  # General MIDI program 0-127
    notes: list[RawNote] = field(default_factory=list)  # sorted by start

    @property
    def is_drum(self) -> bool:
        return self.channel == DRUM_CHANNEL

    def to_json(self) -> dict:
        return {"name": self.name, "index": self.index, "channel": self.channel, "program": self.program, "notes": self.notes}

    @classmethod
    def from_json(cls, d: dict) -> "Track":
        notes = [(int(a), int(b), int(p), int(v)) for a, b, p, v in d["notes"]]
        return cls(str(d["name"]), int(d["index"]), int(d["channel"]), int(d["program"]), notes)


@dataclass
class Song:
    name: str  # where it came from, for messages: "file.mid", "tunes.abc #3"
    ticks_per_quarter: int
    tracks: list[Track]
    tempo: float | None = None  # first tempo, quarter notes per minute
    time_signature: tuple[int, int] | None = None  # first time signature (numerator, denominator)
    key: str | None = None  # first key signature as MIDI names it: "G", "Em", "Bb"
    dropped: Counter = field(default_factory=Counter)  # notes lost while reading, by reason
    fermatas: list[int] = field(default_factory=list)  # ticks where a note under a fermata starts (scores only)

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "tpq": self.ticks_per_quarter,
            "tracks": [t.to_json() for t in self.tracks],
            "tempo": self.tempo,
            "time_signature": list(self.time_signature) if self.time_signature else None,
            "key": self.key,
            "dropped": dict(self.dropped),
            "fermatas": self.fermatas,
        }

    @classmethod
    def from_json(cls, d: dict) -> "Song":
        ts = d.get("time_signature")
        return cls(
            name=str(d["name"]),
            ticks_per_quarter=int(d["tpq"]),
            tracks=[Track.from_json(t) for t in d["tracks"]],
            tempo=None if d.get("tempo") is None else float(d["tempo"]),
            time_signature=(int(ts[0]), int(ts[1])) if ts else None,
            key=None if d.get("key") is None else str(d["key"]),
            dropped=Counter({str(k): int(v) for k, v in d.get("dropped", {}).items()}),
            fermatas=[int(t) for t in d.get("fermatas", [])],
        )
