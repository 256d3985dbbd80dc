"""Parts in the `notes` level: which voice or instrument each note belongs to.

A part is one line of a score (Soprano) or one instrument of an arrangement (a bass guitar). `prepare` surveys a
corpus and makes its parts table (name, General MIDI program, MIDI channel, drum or not, mean pitch), in the order
the corpus first shows them; the table is kept in the tokenizer settings of meta.json, and every note carries the
index of its part. The tokens gain `part:NAME`, written only where the part changes, and `sample` writes one track
(or staff) per part.

What makes two tracks the same part (`--parts`):
- `track`: the track or part name, compared without case; a track without a name is `Track N` (N: its place among
  the tracks with notes of its file), and a second track of the same name in one file is numbered (`Guitar 2`).
- `program`: the General MIDI program, all drum tracks being one part `Drums`; the part is named after the program.
- `none`: no parts, every note in one stream (the `notes` level before parts existed).

A corpus rarely agrees on every name: the Bach chorales are Soprano, Alto, Tenor and Bass, but a few add horns,
oboes or a continuo that double the voices. A part found in fewer than MIN_SHARE of the pieces, or beyond the 15
melodic parts MIDI has channels for, is merged into the kept part of the same kind whose mean pitch is nearest
(reported by prepare). A file read later (a primer, a file to evaluate) whose track matches no part continues the
unused part nearest in pitch, so a two-part primer continues in two parts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable

from seqgen.errors import UsageError
from seqgen.music.events import DRUM_CHANNEL, Track

PART_MODES = ("program", "track", "none")
MELODIC_CHANNELS = tuple(c for c in range(16) if c != DRUM_CHANNEL)  # one channel per melodic part: at most 15 parts
MIN_SHARE = 0.05  # a part in fewer of the pieces is merged into the nearest kept part
MAX_NAME = 60  # characters of a part name (a MIDI track name holds more; a staff label does not)
PREFIX = "part:"

GM_PROGRAMS = (
    "Acoustic Grand Piano|Bright Acoustic Piano|Electric Grand Piano|Honky-tonk Piano|Electric Piano 1|Electric Piano 2|"
    "Harpsichord|Clavinet|Celesta|Glockenspiel|Music Box|Vibraphone|Marimba|Xylophone|Tubular Bells|Dulcimer|"
    "Drawbar Organ|Percussive Organ|Rock Organ|Church Organ|Reed Organ|Accordion|Harmonica|Tango Accordion|"
    "Acoustic Guitar (nylon)|Acoustic Guitar (steel)|Electric Guitar (jazz)|Electric Guitar (clean)|"
    "Electric Guitar (muted)|Overdriven Guitar|Distortion Guitar|Guitar Harmonics|Acoustic Bass|Electric Bass (finger)|"
    "Electric Bass (pick)|Fretless Bass|Slap Bass 1|Slap Bass 2|Synth Bass 1|Synth Bass 2|Violin|Viola|Cello|"
    "Contrabass|Tremolo Strings|Pizzicato Strings|Orchestral Harp|Timpani|String Ensemble 1|String Ensemble 2|"
    "Synth Strings 1|Synth Strings 2|Choir Aahs|Voice Oohs|Synth Voice|Orchestra Hit|Trumpet|Trombone|Tuba|"
    "Muted Trumpet|French Horn|Brass Section|Synth Brass 1|Synth Brass 2|Soprano Sax|Alto Sax|Tenor Sax|Baritone Sax|"
    "Oboe|English Horn|Bassoon|Clarinet|Piccolo|Flute|Recorder|Pan Flute|Blown Bottle|Shakuhachi|Whistle|Ocarina|"
    "Lead 1 (square)|Lead 2 (sawtooth)|Lead 3 (calliope)|Lead 4 (chiff)|Lead 5 (charang)|Lead 6 (voice)|"
    "Lead 7 (fifths)|Lead 8 (bass + lead)|Pad 1 (new age)|Pad 2 (warm)|Pad 3 (polysynth)|Pad 4 (choir)|Pad 5 (bowed)|"
    "Pad 6 (metallic)|Pad 7 (halo)|Pad 8 (sweep)|FX 1 (rain)|FX 2 (soundtrack)|FX 3 (crystal)|FX 4 (atmosphere)|"
    "FX 5 (brightness)|FX 6 (goblins)|FX 7 (echoes)|FX 8 (sci-fi)|Sitar|Banjo|Shamisen|Koto|Kalimba|Bagpipe|Fiddle|"
    "Shanai|Tinkle Bell|Agogo|Steel Drums|Woodblock|Taiko Drum|Melodic Tom|Synth Drum|Reverse Cymbal|"
    "Guitar Fret Noise|Breath Noise|Seashore|Bird Tweet|Telephone Ring|Helicopter|Applause|Gunshot"
).split("|")


@dataclass(frozen=True)
class Part:
    name: str  # what a DAW's track and a score's staff are called: "Soprano", "Track 2", "Electric Bass (finger)"
    program: int  # General MIDI program 0-127
    channel: int  # MIDI channel 0-15 it is written on (9: drums)
    drum: bool  # a drum part: `drum:K` notes on channel 10
    pitch: float = 60.0  # mean pitch of its notes in the corpus

    @property
    def token(self) -> str:
        return token_of(self.name)

    def to_json(self) -> dict:
        return {"name": self.name, "program": self.program, "channel": self.channel, "drum": self.drum, "pitch": round(self.pitch, 2)}

    @classmethod
    def from_json(cls, d: dict) -> "Part":
        return cls(str(d["name"]), int(d["program"]), int(d["channel"]), bool(d["drum"]), float(d.get("pitch", 60.0)))


def token_of(name: str) -> str:
    """A part's token: `part:` and its name with spaces as underscores (a token holds no space)."""
    return PREFIX + "_".join(name.split())


def _key(name: str) -> str:
    return token_of(name).casefold()


def mean_pitch(track: Track) -> float:
    return sum(n[2] for n in track.notes) / len(track.notes) if track.notes else 60.0


def track_labels(tracks: list[Track], chosen: list[Track]) -> list[str]:
    """The part name in `track` mode of each of the `chosen` tracks of a song whose tracks are `tracks`: its own name
    (cut to MAX_NAME), `Track N` or `Drums` when it has none (N: its place among the song's tracks with notes, whichever
    are chosen), numbered `Guitar 2` when an earlier track of the song has the same name."""
    labels: dict[int, str] = {}  # id(track) -> label
    taken: set[str] = set()
    for place, t in enumerate((t for t in tracks if t.notes), 1):
        base = " ".join(t.name.split())[:MAX_NAME] or ("Drums" if t.is_drum else f"Track {place}")
        label, n = base, 1
        while _key(label) in taken:
            n += 1
            label = f"{base} {n}"
        taken.add(_key(label))
        labels[id(t)] = label
    return [labels.get(id(t)) or t.name or "Track" for t in chosen]


class PartTable:
    """The parts of a corpus in order, and which part a source track belongs to.

    `grow`: a track that matches no part becomes a new one (while extracting before the table is known: a single
    song in a test, a tool); otherwise it continues the unused part nearest in pitch."""

    def __init__(self, mode: str, parts: Iterable[Part] = (), grow: bool = False):
        if mode not in ("program", "track"):
            raise ValueError(f"unknown parts mode {mode!r}")
        self.mode, self.parts, self.grow = mode, list(parts), grow
        self.lookup: dict[str, int] = {self.part_key(p): i for i, p in enumerate(self.parts)}
        self.index = {p.token: i for i, p in enumerate(self.parts)}  # token -> part index

    @classmethod
    def from_settings(cls, settings: dict, grow: bool = False) -> "PartTable | None":
        mode = settings.get("parts_mode")
        if mode not in ("program", "track"):
            return None  # a dataset made before parts, or with --parts none
        return cls(mode, [Part.from_json(p) for p in settings.get("parts", [])], grow)

    def to_json(self) -> list[dict]:
        return [p.to_json() for p in self.parts]

    # -- identity

    def key(self, track: Track, label: str) -> str:
        """What makes two tracks one part under this mode."""
        if self.mode == "program":
            return "drums" if track.is_drum else f"program:{track.program}"
        return _key(label)

    def part_key(self, part: Part) -> str:
        if self.mode == "program":
            return "drums" if part.drum else f"program:{part.program}"
        return _key(part.name)

    def new_part(self, track: Track, label: str, pitch: float, melodic_before: int) -> Part:
        """The part a track founds; `melodic_before` melodic parts come before it (its channel)."""
        if self.mode == "program":
            name = "Drums" if track.is_drum else GM_PROGRAMS[track.program]
        else:
            name = label
        channel = DRUM_CHANNEL if track.is_drum else MELODIC_CHANNELS[melodic_before % len(MELODIC_CHANNELS)]
        return Part(name, track.program if not track.is_drum else 0, channel, track.is_drum, pitch)

    def add(self, part: Part) -> int:
        self.parts.append(part)
        self.lookup.setdefault(self.part_key(part), len(self.parts) - 1)
        self.index[part.token] = len(self.parts) - 1
        return len(self.parts) - 1

    def melodic(self) -> int:
        return sum(not p.drum for p in self.parts)

    def nearest(self, drum: bool, pitch: float) -> int | None:
        """The part of this kind (drum or not) whose mean pitch is nearest `pitch`, first in order on a tie."""
        pool = [i for i, p in enumerate(self.parts) if p.drum == drum]
        return min(pool, key=lambda i: (abs(self.parts[i].pitch - pitch), i)) if pool else None

    # -- tracks -> parts

    def assign(self, tracks: list[Track], labels: list[str]) -> tuple[list[int | None], list[tuple[str, str]], list[str | None]]:
        """The part of each track (`labels`: their names from track_labels), (track, part) names for the tracks that
        matched no part and were read as another, and why each track left out (part None) was left out. None with no
        reason: no part can take it (a drum track in a run without drum parts).

        A track that matches no part founds one while the table grows (up to 15 melodic parts); otherwise the tracks
        left over take the parts this song has not used, highest track to highest part (so a song of unnamed voices
        keeps its voices apart and in order), and a track beyond those doubles the part nearest its mean pitch.
        When the parts are voices (Soprano, Alto…: `is_voice`), a track is read as a musician reads a score: one
        labelled with a voice (`Alto Oboe 2 Violin 2`) is that voice; timpani and percussion, instruments that double
        a voice, and instrument lines beyond the voices are left out and never folded into one."""
        found: list[int | None] = [self.lookup.get(self.key(t, label)) for t, label in zip(tracks, labels)]
        moved: list[tuple[str, str]] = []
        why: list[str | None] = [None] * len(tracks)
        for i, t in enumerate(tracks):
            if found[i] is None and self.grow and (t.is_drum or self.melodic() < len(MELODIC_CHANNELS)):
                found[i] = self.add(self.new_part(t, labels[i], mean_pitch(t), self.melodic()))
        voices = self.mode == "track" and bool(self.parts) and all(is_voice(p.name) for p in self.parts if not p.drum)
        if voices:
            self._read_as_voices(tracks, labels, found, moved, why)
        for drum in (False, True):
            left = [i for i, f in enumerate(found) if f is None and tracks[i].is_drum == drum and why[i] is None]
            free = [j for j, p in enumerate(self.parts) if p.drum == drum and j not in found]
            for i, j in in_order(left, free, tracks, self.parts):
                found[i] = j
            for i in left:
                if found[i] is None and voices and not drum:
                    why[i] = LEFT_OUT["beside"]
                    continue
                if found[i] is None:
                    found[i] = self.nearest(drum, mean_pitch(tracks[i]))
                if found[i] is not None:
                    moved.append((labels[i], self.parts[found[i]].name))  # type: ignore[index]
        return found, moved, why

    def _read_as_voices(self, tracks: list[Track], labels: list[str], found: list[int | None], moved: list[tuple[str, str]],
                        why: list[str | None]) -> None:
        """Voice labels first, then what is not a voice at all: percussion, and instruments doubling a voice's line."""
        names = {p.name.casefold(): j for j, p in enumerate(self.parts) if not p.drum}
        for i, label in enumerate(labels):
            if found[i] is None and not tracks[i].is_drum:
                named = {names[w] for w in label.casefold().replace("_", " ").split() if w in names}
                if len(named) == 1 and (j := named.pop()) not in found:
                    found[i] = j
                    moved.append((label, self.parts[j].name))
        sung = [tracks[i] for i, f in enumerate(found) if f is not None]
        for i, (t, label) in enumerate(zip(tracks, labels)):
            if found[i] is not None or t.is_drum:
                continue
            if is_percussion(t, label):
                why[i] = LEFT_OUT["percussion"]
            elif any(doubles(t, voice) for voice in sung):
                why[i] = LEFT_OUT["doubling"]


def _voice_words() -> frozenset[str]:
    english = "soprano mezzo alto contralto countertenor tenor baritone bass"
    renaissance = "cantus canto superius discantus altus alto quintus quinto sextus sesto septimus tenor tenore bassus basso"
    return frozenset((english + " " + renaissance).split())


VOICE_WORDS = _voice_words()
PERCUSSION_WORDS = frozenset("timpani timp. timp tympani pauken drums drum percussion tamburo".split())
TIMPANI = 47  # General MIDI program (0-based)
DOUBLING = 0.5  # share of a track's notes sounding with the same pitch class at the same onset in a voice: a doubling
LEFT_OUT = {
    "percussion": "timpani or percussion: not a voice",
    "doubling": "an instrument doubling a voice",
    "beside": "an instrument line beside the voices",
}


VOICE_CLEFS = {  # the clef a voice is written in, by the first word of its name
    **{w: "treble" for w in "soprano mezzo alto contralto canto cantus superius discantus altus".split()},
    **{w: "treble8vb" for w in "countertenor tenor tenore quinto quintus sesto sextus septimus".split()},
    **{w: "bass" for w in "baritone bass basso bassus".split()},
}


def voice_clef(name: str) -> str | None:
    """"treble", "treble8vb" or "bass" for a part named as a voice (Alto: treble, Tenor: treble an octave down), else None."""
    words = name.casefold().split()
    return VOICE_CLEFS.get(words[0]) if words and is_voice(name) else None


def is_voice(name: str) -> bool:
    """A part named as a sung voice: `Soprano`, `Alto 2`, `Canto`, `Bassus`."""
    words = name.casefold().replace("_", " ").split()
    return bool(words) and words[0] in VOICE_WORDS and all(w in VOICE_WORDS or w.isdigit() or w in ("i", "ii", "iii") for w in words)


def is_percussion(track: Track, label: str) -> bool:
    return track.is_drum or track.program == TIMPANI or any(w in PERCUSSION_WORDS for w in label.casefold().split())


def doubles(track: Track, voice: Track) -> bool:
    """Whether most of `track`'s notes sound the voice's pitch class at the voice's onsets (in unison or octaves)."""
    if not track.notes:
        return False
    onsets = {(start, pitch % 12) for start, _, pitch, _ in voice.notes}
    return sum((start, pitch % 12) in onsets for start, _, pitch, _ in track.notes) >= DOUBLING * len(track.notes)


def in_order(left: list[int], free: list[int], tracks: list[Track], parts: list[Part]) -> list[tuple[int, int]]:
    """Tracks `left` matched to parts `free`, one each, keeping their order from high to low: the matching with the
    least total distance between a track's mean pitch and its part's (a small dynamic programme). When there are
    more tracks than parts, the ones with the most notes are matched."""
    if not left or not free:
        return []
    chosen = sorted(sorted(left, key=lambda i: -len(tracks[i].notes))[: len(free)], key=lambda i: -mean_pitch(tracks[i]))
    free = sorted(free, key=lambda j: -parts[j].pitch)
    k, m = len(chosen), len(free)
    inf = float("inf")
    cost = [[inf] * (m + 1) for _ in range(k + 1)]  # cost[a][b]: the first a tracks matched within the first b parts
    cost[0] = [0.0] * (m + 1)
    for a in range(1, k + 1):
        for b in range(a, m + 1):
            take = cost[a - 1][b - 1] + abs(mean_pitch(tracks[chosen[a - 1]]) - parts[free[b - 1]].pitch)
            cost[a][b] = min(cost[a][b - 1], take)
    pairs, b = [], m
    for a in range(k, 0, -1):  # walk back: where cost[a][b] came from
        while cost[a][b] == cost[a][b - 1]:
            b -= 1
        pairs.append((chosen[a - 1], free[b - 1]))
        b -= 1
    return pairs


@dataclass
class _Seen:
    order: int  # first appearance in the corpus
    track: Track  # its first track (program, drum)
    label: str
    pieces: int = 0
    notes: int = 0
    pitch_sum: int = 0


def survey(songs: Iterable[tuple[list[Track], list[str]]], mode: str) -> PartTable:
    """The parts table of a corpus from the (chosen tracks, their labels) of each song: its parts in order of first
    appearance, leaving out a part found in fewer than MIN_SHARE of the pieces and melodic parts beyond the 15
    commonest. Their tracks are read as other parts (PartTable.assign), which prepare reports."""
    table = PartTable(mode, grow=False)
    seen: dict[str, _Seen] = {}
    pieces = 0
    for tracks, labels in songs:
        pieces += 1
        keys = [table.key(t, label) for t, label in zip(tracks, labels)]
        for key, t, label in zip(keys, tracks, labels):
            if key not in seen:
                seen[key] = _Seen(len(seen), t, label)
        for key in set(keys):
            seen[key].pieces += 1
        for key, t in zip(keys, tracks):
            s = seen[key]
            s.notes += len(t.notes)
            s.pitch_sum += sum(n[2] for n in t.notes)
    common = sorted(seen, key=lambda k: (-seen[k].pieces, -seen[k].notes, seen[k].order))
    kept: list[str] = []
    for drum in (False, True):
        kind = [k for k in common if seen[k].track.is_drum == drum]
        chosen = [k for k in kind if seen[k].pieces >= MIN_SHARE * pieces] or kind[:1]
        kept += chosen[: len(MELODIC_CHANNELS)] if not drum else chosen
    for key in sorted(kept, key=lambda k: seen[k].order):
        s = seen[key]
        table.add(table.new_part(s.track, s.label, s.pitch_sum / max(1, s.notes), table.melodic()))
    return table


# ---------------------------------------------------------------- sample --program


def parse_programs(text: str) -> dict[str | None, int]:
    """`--program`: one General MIDI program for every melodic part (`0` -> {None: 0}), or per part by name
    (`Soprano=52,Bass=32` -> {"Soprano": 52, "Bass": 32}). UsageError for anything else."""
    def program(value: str) -> int:
        value = value.strip()
        if not value.isdigit() or not 0 <= int(value) <= 127:
            raise UsageError(f"{value!r} is not a General MIDI program 0-127 (0 is piano); give one for every part, or PART=N,… such as Soprano=52,Bass=32")
        return int(value)

    if "=" not in text:
        return {None: program(text)}
    out: dict[str | None, int] = {}
    for item in text.split(","):
        name, sep, value = item.rpartition("=")
        if not sep or not name.strip():
            raise UsageError(f"{item.strip()!r} is not PART=N; write --program Soprano=52,Bass=32, or one program for every part")
        out[" ".join(name.split())] = program(value)
    return out


def apply_programs(parts: list[Part], programs: dict[str | None, int], known: list[Part] | None = None) -> list[Part]:
    """`parts` with the programs of `parse_programs`; a name may be a part's name in `parts` or in `known` (the run's
    own names, where a primer renamed them). UsageError for a name that is neither."""
    if None in programs:
        return [p if p.drum else replace(p, program=programs[None]) for p in parts]
    index = {_key(p.name): i for i, p in enumerate(known or [])} | {_key(p.name): i for i, p in enumerate(parts)}
    out = list(parts)
    for name, program in programs.items():
        i = index.get(_key(str(name)))
        if i is None or i >= len(out):
            raise UsageError(f"--program names {name!r}, which is not a part of this run", f"its parts: {', '.join(p.name for p in known or parts)}")
        out[i] = replace(out[i], program=program)
    return out
