"""Music as tokens: note events -> a quantized piece -> `melody` or `notes` tokens, and back to MIDI.

A piece is a list of notes on a grid of `steps_per_quarter` steps (12 by default: it holds both
16ths and triplets), in a canonical form (sorted by onset then pitch, no duplicate notes, no
same-pitch overlap, durations 1..max_duration) so that tokens -> MIDI -> tokens is exact.

Token schemes (every piece is `<bos> ts:N/D ... <eos>`; the leading silence is kept modulo one bar):
- melody: one line (the chosen track's highest sounding notes), `PITCH dN` per note and `rest dN`
  per silence, N in steps; a pitch token then a duration token keeps the vocabulary small (a joint
  token per pitch and duration is ~5x more tokens, most of them rare).
- notes: polyphony: `tN` time shifts between onsets (chained up to a whole note each), then per note
  `[part:NAME] [vB] PITCH dN`, at each onset part by part in the corpus's order, chords in ascending pitch;
  drums (with --drums) as `drum:K`.
`part:NAME` tokens (a dataset with parts, see `seqgen.music.parts`) and `vB` velocity bins (with --velocity-bins)
appear only where the part or the velocity bin changes.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple

import numpy as np

from seqgen.data.tokenizers import Tokenizer
from seqgen.data.vocab import Vocabulary
from seqgen.errors import InputError, UsageError
from seqgen.music.events import DRUM_CHANNEL, Song, Track
from seqgen.music.keys import key_of
from seqgen.music.midi_io import MIDI_SUFFIXES, OUT_TPQ, read_midi, song_to_midi_bytes
from seqgen.music.parts import MELODIC_CHANNELS, PREFIX, Part, PartTable, track_labels

BOS, EOS, REST = "<bos>", "<eos>", "rest"
LEVELS = ("melody", "notes", "voices")  # voices: seqgen.music.voices
NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
# steps per quarter must divide the 480 ticks per quarter we write, so every step is a whole tick
STEP_CHOICES = tuple(n for n in range(1, OUT_TPQ + 1) if OUT_TPQ % n == 0)
DEFAULT_MAX_QUARTERS = 16  # longer notes are shortened to this (4 bars of 4/4)
_PITCH = re.compile(r"^([A-G]#?)(-?\d+)$")


class Note(NamedTuple):
    start: int  # onset, in steps
    dur: int  # duration in steps, >= 1
    pitch: int  # MIDI pitch (drum key for drums)
    velocity: int  # 1-127
    drum: bool = False
    part: int = 0  # index in the tokenizer's parts table (0 when it has none)


@dataclass
class Piece:
    name: str
    notes: list[Note]  # canonical order: (start, part, drum, pitch)
    time_signature: tuple[int, int] = (4, 4)
    tempo: float | None = None
    key: str | None = None
    fermatas: list[int] = field(default_factory=list)  # steps where a note under a fermata starts

    def end(self) -> int:
        return max((n.start + n.dur for n in self.notes), default=0)


@dataclass
class Extracted:
    """A source song made into a piece, with what was lost or changed on the way."""

    piece: Piece
    dropped: Counter = field(default_factory=Counter)  # notes left out, by reason
    shortened: Counter = field(default_factory=Counter)  # notes kept but made shorter, by reason
    own_parts: dict[int, Part] = field(default_factory=dict)  # part index -> that part as the source names it (its first track)
    moved: list[tuple[str, str]] = field(default_factory=list)  # (track, part) for tracks that matched no part by name


# ---------------------------------------------------------------- helpers


def pitch_name(p: int) -> str:
    return f"{NAMES[p % 12]}{p // 12 - 1}"


def parse_pitch(tok: str) -> int | None:
    m = _PITCH.match(tok)
    if not m:
        return None
    p = NAMES.index(m.group(1)) + 12 * (int(m.group(2)) + 1)
    return p if 0 <= p <= 127 else None


def bar_steps(ts: tuple[int, int], spq: int) -> int:
    return max(1, ts[0] * 4 * spq // ts[1])


def velocity_bin(velocity: int, bins: int) -> int:
    return min(bins - 1, (max(1, min(127, velocity)) - 1) * bins // 127)


def bin_velocity(b: int, bins: int) -> int:
    """The velocity that stands for bin b: the middle of the velocities that fall in it (so it maps back to b)."""
    lo, hi = -(-b * 127 // bins), -(-(b + 1) * 127 // bins) - 1  # velocity - 1 ranges over [lo, hi]
    return 1 + (lo + hi) // 2


def parse_time_signature(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d{1,2})\s*/\s*(\d{1,2})\s*", text or "")
    if not m or int(m.group(1)) < 1 or int(m.group(2)) not in (1, 2, 4, 8, 16, 32):
        raise UsageError(f"--time-signature must look like 4/4 or 6/8, not {text!r}")
    return int(m.group(1)), int(m.group(2))


def check_steps_per_quarter(spq: int) -> None:
    if spq not in STEP_CHOICES:
        raise UsageError(
            f"--steps-per-quarter must divide 480 (so each step is a whole MIDI tick), got {spq}",
            "12 holds 16ths and triplets; 24 adds 32nd-note triplets",
        )


def estimate_key(notes: list[Note]) -> tuple[int, str]:
    """(tonic pitch class, "major"|"minor") by Krumhansl–Schmuckler on duration-weighted pitch classes."""
    hist = np.zeros(12)
    for n in notes:
        if not n.drum:
            hist[n.pitch % 12] += n.dur
    return key_of(hist)




def transpose_piece(piece: Piece, shift: int, dropped: Counter | None = None) -> Piece:
    """The piece moved by `shift` semitones (drums stay); notes pushed outside 0-127 are left out."""
    if shift == 0:
        return piece
    out = []
    for n in piece.notes:
        if n.drum:
            out.append(n)
        elif 0 <= n.pitch + shift <= 127:
            out.append(n._replace(pitch=n.pitch + shift))
        elif dropped is not None:
            dropped["outside the MIDI range after transposing"] += 1
    out.sort(key=_order)
    key = None  # the declared key no longer holds
    return Piece(piece.name, out, piece.time_signature, piece.tempo, key, list(piece.fermatas))


def _order(n: Note) -> tuple:
    return (n.start, n.part, n.drum, n.pitch)


# ---------------------------------------------------------------- reading sources


def read_songs(path: Path) -> list[Song]:
    """The songs of one MIDI or score file (InputError with the reason when it cannot be used)."""
    path = Path(path)
    if path.suffix.lower() in MIDI_SUFFIXES:
        return [read_midi(path)]
    from seqgen.music.scores import SCORE_SUFFIXES, read_score

    if path.suffix.lower() in SCORE_SUFFIXES:
        return read_score(path)
    raise InputError(f"{path.name} is not a MIDI file or a score ({', '.join(MIDI_SUFFIXES + SCORE_SUFFIXES)})")


def match_tracks(tracks: list[Track], specs: list[str]) -> list[Track]:
    """Tracks picked by --tracks: a name (case-insensitive), `program:N` (0-127), or `index:N` / a bare number."""
    chosen: list[Track] = []
    for spec in specs:
        s = spec.strip()
        low = s.lower()
        if low.startswith("program:") and low[8:].isdigit():
            hits = [t for t in tracks if t.program == int(low[8:]) and not t.is_drum]
        elif low.startswith("index:") and low[6:].isdigit():
            hits = [t for t in tracks if t.index == int(low[6:])]
        elif s.isdigit():
            hits = [t for t in tracks if t.index == int(s)]
        else:
            hits = [t for t in tracks if t.name.lower() == low] or [t for t in tracks if t.name.lower().split(" (channel")[0] == low]
        chosen.extend(t for t in hits if t not in chosen)
    return chosen


# ---------------------------------------------------------------- the tokenizers


def melody_line(song: Song, spq: int) -> Piece:
    """A song's tune on a grid of `spq` steps per quarter, as the melody level reads it: the melodic track with the
    highest mean pitch, the top note at each onset, a note cut where the next begins."""
    return MelodyTokenizer.untrained(MelodyTokenizer.make_settings(spq)).extract(song, fallback=True).piece


class MusicTokenizer(Tokenizer):
    """What the two music schemes share: settings, quantizing, the vocabulary, decoding to MIDI."""

    kind = "music"

    def __init__(self, vocab: Vocabulary, settings: dict | None = None):
        super().__init__(vocab, settings)
        s = self.settings
        self.spq = int(s.get("steps_per_quarter", 12))
        self.velocity_bins = int(s.get("velocity_bins", 0))
        self.tracks = list(s.get("tracks", []))
        self.drums = bool(s.get("drums", False))
        self.key_normalize = bool(s.get("key_normalize", False))
        self.max_duration = int(s.get("max_duration", DEFAULT_MAX_QUARTERS * self.spq))
        self.max_chunk = 4 * self.spq  # longest single rest / time shift token: a whole note
        self.table = PartTable.from_settings(s)  # None: no parts (melody, --parts none, a dataset made before parts)

    @classmethod
    def make_settings(cls, steps_per_quarter: int = 12, velocity_bins: int = 0, tracks: list[str] | None = None,
                      drums: bool = False, key_normalize: bool = False, parts: str = "none") -> dict:
        """Settings for meta.json; `parts` (notes level): program or track starts an empty parts table, none has none."""
        check_steps_per_quarter(steps_per_quarter)
        if not 0 <= velocity_bins <= 127:
            raise UsageError(f"--velocity-bins must be between 0 (none) and 127, got {velocity_bins}")
        settings = {"steps_per_quarter": steps_per_quarter, "velocity_bins": velocity_bins, "tracks": list(tracks or []),
                    "drums": drums, "key_normalize": key_normalize, "max_duration": DEFAULT_MAX_QUARTERS * steps_per_quarter}
        if parts != "none":
            settings.update(parts_mode=parts, parts=[])
        return settings

    @classmethod
    def untrained(cls, settings: dict) -> "MusicTokenizer":
        """A tokenizer with a placeholder vocabulary, for extracting and encoding before the vocabulary is fitted;
        its parts table (if any) grows with every new part it meets."""
        tok = cls(Vocabulary([BOS, EOS], {"bos": BOS, "eos": EOS}), settings)
        if tok.table is not None:
            tok.table.grow = True
        return tok

    def use_parts(self, table: PartTable | None) -> None:
        """Extract with this parts table (a corpus's, from `seqgen.music.parts.survey`), or without parts."""
        self.table = table
        self.settings.pop("parts", None)
        self.settings["parts_mode"] = table.mode if table else "none"
        if table is not None:
            self.settings["parts"] = table.to_json()

    # -- source songs -> pieces

    def select(self, song: Song, fallback: bool = False) -> list[Track]:
        """The tracks this scheme reads; InputError when --tracks matches none (unless `fallback`)."""
        usable = [t for t in song.tracks if t.notes and (self.drums or not t.is_drum)]
        if self.tracks:
            chosen = match_tracks(usable, self.tracks)
            if chosen or not fallback:
                if not chosen:
                    names = ", ".join(repr(t.name) for t in song.tracks if t.notes) or "none"
                    raise InputError(f"no track matches --tracks {' '.join(self.tracks)} (tracks with notes: {names})")
                return chosen
        return usable

    def extract(self, song: Song, fallback: bool = False) -> Extracted:
        """Quantize a song's chosen tracks into this scheme's canonical piece."""
        ex = Extracted(Piece(song.name, [], song.time_signature or (4, 4), song.tempo, song.key), Counter(song.dropped), Counter())
        tracks = self.select(song, fallback)
        tpq, spq = song.ticks_per_quarter, self.spq
        notes = []
        parts, why = self._parts_of(song, tracks, ex)
        for tr, part, reason in zip(tracks, parts, why):
            if part is None:
                ex.dropped[reason or "a drum track, and no drum part in the run"] += len(tr.notes)
                continue
            for start, end, pitch, vel in tr.notes:
                s = (start * spq * 2 + tpq) // (2 * tpq)  # round half up, in integers
                e = (end * spq * 2 + tpq) // (2 * tpq)
                dur = e - s
                if dur < 1:
                    dur = 1
                    ex.shortened["shorter than one step: lengthened to one step"] += 1
                elif dur > self.max_duration:
                    dur = self.max_duration
                    ex.shortened[f"longer than {self.max_duration // spq} quarters"] += 1
                if self.velocity_bins:
                    vel = bin_velocity(velocity_bin(vel, self.velocity_bins), self.velocity_bins)
                notes.append(Note(s, dur, pitch, vel, tr.is_drum, part))
        notes.sort(key=_order)
        notes = canonical(notes, ex.dropped, ex.shortened)
        if self.key_normalize and notes:
            tonic, mode = estimate_key(notes)
            target = 0 if mode == "major" else 9
            shift = (target - tonic + 6) % 12 - 6
            ex.piece.key = "C" if mode == "major" else "Am"
            kept = Piece(song.name, notes)
            notes = transpose_piece(kept, shift, ex.dropped).notes
        lead = 0
        if notes:  # keep the leading silence modulo one bar, so pick-ups stay pick-ups
            bar = bar_steps(ex.piece.time_signature, spq)
            lead = notes[0].start - notes[0].start % bar
            if lead:
                notes = [n._replace(start=n.start - lead) for n in notes]
        ex.piece.notes = notes
        ex.piece.fermatas = sorted({(t * spq * 2 + tpq) // (2 * tpq) - lead for t in song.fermatas} & {n.start for n in notes})
        return ex

    def _parts_of(self, song: Song, tracks: list[Track], ex: Extracted) -> tuple[list[int | None], list[str | None]]:
        """Each chosen track's part (all 0 without parts) and why a track without one was left out; notes in `ex` how
        the source names each part it uses."""
        if self.table is None:
            return [0] * len(tracks), [None] * len(tracks)
        labels = track_labels(song.tracks, tracks)
        found, ex.moved, why = self.table.assign(tracks, labels)
        for tr, label, part in zip(tracks, labels, found):
            if part is not None and part not in ex.own_parts:
                ex.own_parts[part] = replace(self.table.parts[part], name=label, program=tr.program)
        if self.table.grow:
            self.settings["parts"] = self.table.to_json()
        return found, why

    # -- pieces <-> tokens

    def _marks(self, n: Note, state: dict) -> list[str]:
        """The part and velocity tokens a note needs: each only where it changes from the note before."""
        out = []
        if self.table is not None and state.get("part") != n.part:
            state["part"] = n.part
            out.append(self.table.parts[n.part].token)
        if self.velocity_bins:
            b = velocity_bin(n.velocity, self.velocity_bins)
            if state.get("v") != b:
                state["v"] = b
                out.append(f"v{b}")
        return out

    def _chunks(self, steps: int, prefix: str) -> list[str]:
        out = []
        while steps > 0:
            take = min(steps, self.max_chunk)
            out.append(f"{prefix}{take}")
            steps -= take
        return out

    def silence(self, steps: int) -> list[str]:
        """Tokens that move time forward by `steps` (melody: rests; notes: time shifts)."""
        raise NotImplementedError

    def tokens_per_bar(self, time_signature: tuple[int, int]) -> int:
        """Tokens a bar takes when that is fixed by the scheme (0: it depends on the notes)."""
        return 0

    def encode_piece(self, piece: Piece) -> list[str]:
        num, den = piece.time_signature
        toks = [BOS, f"ts:{num}/{den}"]
        t, state = 0, {}
        for n in piece.notes:  # melody: time runs to each note's end; notes: it stays at the onset
            if n.start > t:
                toks += self.silence(n.start - t)
                t = n.start
            toks += self._marks(n, state)
            toks += [f"drum:{n.pitch}" if n.drum else pitch_name(n.pitch), f"d{n.dur}"]
            if self.level == "melody":
                t = n.start + n.dur
        toks.append(EOS)
        return toks

    def ids_of(self, tokens: list[str]) -> tuple[list[int], int]:
        """Ids of token strings; tokens outside the vocabulary are left out and counted."""
        index = self.vocab.index
        ids = [index[t] for t in tokens if t in index]
        return ids, len(tokens) - len(ids)

    @classmethod
    def fit(cls, token_lists: Iterable[list[str]], settings: dict) -> "MusicTokenizer":
        """A vocabulary holding every token the pieces use, in a fixed order: specials, then by kind and value."""
        seen: set[str] = set()
        for toks in token_lists:
            seen.update(toks)
        seen.update(cls.always_tokens(settings))
        seen.discard(BOS)
        seen.discard(EOS)
        tokens = [BOS, EOS] + sorted(seen, key=_token_rank)
        return cls(Vocabulary(tokens, {"bos": BOS, "eos": EOS}), settings)

    @classmethod
    def always_tokens(cls, settings: dict) -> list[str]:
        """Tokens in every vocabulary of this scheme, seen in the data or not."""
        return []

    def decode_piece(self, ids: Iterable[int]) -> Piece:
        """The notes that ids describe, on one timeline (a later <bos> starts at the next bar line)."""
        dec = self.clock()
        for i in ids:
            dec.feed(self.vocab.tokens[i])
        return dec.piece

    def clock(self) -> "Clock":
        """A decoder that reads this scheme's tokens one at a time (`feed`) into `piece`."""
        return _Decoder(self)

    def render(self, ids: Iterable[int]) -> Iterator[str]:
        tokens = self.vocab.tokens
        first = True
        for i in ids:
            tok = tokens[i]
            if tok == EOS:
                yield (" " if not first else "") + tok + "\n"
                first = True
                continue
            yield tok if first else " " + tok
            first = False

    # -- files (eval --file, sample --prime-midi)

    def encode_file(self, path: Path, encoding: str | None = None) -> tuple[list[int], int]:
        """Ids of a MIDI or score file under this run's scheme; notes outside the vocabulary are left out and counted."""
        tokens = []
        for song in read_songs(Path(path)):
            ex = self.extract(song, fallback=True)
            if ex.piece.notes:
                tokens.extend(self.encode_piece(ex.piece))
        if not tokens:
            raise InputError(f"{path} holds no notes this run can read")
        return self.ids_of(tokens)

    def encode_text(self, text: str) -> tuple[list[int], int]:
        """Space-separated token strings (what `sample --format tokens` prints)."""
        return self.ids_of(text.split())

    # -- pieces -> MIDI

    def output_parts(self, program: int = 0, name: str = "seqgen") -> list[Part]:
        """The parts a piece is written as: the parts table, or without one a part `name` (`program`) and drums."""
        if self.table is not None and self.table.parts:
            return list(self.table.parts)
        return [Part(name, program, 0, False), Part("Drums", 0, DRUM_CHANNEL, True)]

    def to_song(self, piece: Piece, program: int = 0, tempo: float | None = None, velocity: int = 80,
                time_signature: tuple[int, int] | None = None, name: str = "seqgen", parts: list[Part] | None = None) -> Song:
        """A piece as a song at 480 ticks per quarter: one track per part that has notes, in the order of `parts`
        (default: `output_parts(program, name)`); a drum note of a melodic part goes to the first drum part, and the
        reverse, so any token soup gives a playable file. Melodic tracks get channels of their own while there are."""
        k = OUT_TPQ // self.spq  # whole ticks per step (spq divides 480)
        parts = list(parts or self.output_parts(program, name))
        tracks = [Track(p.name, i, p.channel, p.program, []) for i, p in enumerate(parts)]
        for n in canonical(piece.notes):
            i = n.part if n.part < len(parts) and parts[n.part].drum == n.drum else self._part_of_kind(parts, tracks, n.drum)
            tracks[i].notes.append((n.start * k, (n.start + n.dur) * k, n.pitch, n.velocity if self.velocity_bins else velocity))
        written = [t for t in tracks if t.notes] or tracks[:1]
        used: set[int] = set()
        for t in written:  # a channel of its own for each melodic track (a 16th melodic part shares one)
            if not t.is_drum:
                if t.channel in used:
                    t.channel = next((c for c in MELODIC_CHANNELS if c not in used), t.channel)
                used.add(t.channel)
        return Song(name, OUT_TPQ, written, tempo or piece.tempo or float(self.settings.get("tempo") or 120.0),
                    time_signature or piece.time_signature, piece.key, fermatas=[t * k for t in piece.fermatas])

    @staticmethod
    def _part_of_kind(parts: list[Part], tracks: list[Track], drum: bool) -> int:
        """The first part that is (or is not) drums, added when there is none."""
        for i, p in enumerate(parts):
            if p.drum == drum:
                return i
        parts.append(Part("Drums", 0, DRUM_CHANNEL, True) if drum else Part("seqgen", 0, 0, False))
        tracks.append(Track(parts[-1].name, len(tracks), parts[-1].channel, parts[-1].program, []))
        return len(parts) - 1

    def to_midi_bytes(self, piece: Piece, **kw) -> bytes:
        return song_to_midi_bytes(self.to_song(piece, **kw))


def canonical(notes: list[Note], dropped: Counter | None = None, shortened: Counter | None = None) -> list[Note]:
    """Sorted notes with no duplicate and no same-pitch overlap within a part (a MIDI track can hold neither): a note
    is cut where the same pitch starts again in its part. Two parts in unison keep both notes. Also makes generated
    notes writable."""
    out: list[Note] = []
    last: dict[tuple[int, bool, int], int] = {}  # (part, drum, pitch) -> index in out of its latest note
    for n in sorted(notes, key=_order):
        k = (n.part, n.drum, n.pitch)
        i = last.get(k)
        if i is not None:
            prev = out[i]
            if prev.start == n.start:
                if dropped is not None:
                    dropped["duplicate note (same pitch, same onset)"] += 1
                if n.dur > prev.dur:
                    out[i] = prev._replace(dur=n.dur, velocity=max(prev.velocity, n.velocity))
                continue
            if prev.start + prev.dur > n.start:
                out[i] = prev._replace(dur=n.start - prev.start)
                if shortened is not None:
                    shortened["overlapped by the same pitch"] += 1
        last[k] = len(out)
        out.append(n)
    return out


_RANK = {"ts": 0, "part": 1, "v": 2, "t": 3, "pitch": 4, "drum": 5, "rest": 6, "d": 7, "other": 8}


def _token_rank(tok: str) -> tuple:
    if tok.startswith("ts:"):
        num, _, den = tok[3:].partition("/")
        return (_RANK["ts"], int(den) if den.isdigit() else 0, int(num) if num.isdigit() else 0, tok)
    if tok.startswith("drum:"):
        return (_RANK["drum"], int(tok[5:]) if tok[5:].isdigit() else 0, tok)
    if tok == REST:
        return (_RANK["rest"], 0, tok)
    if tok.startswith(PREFIX):
        return (_RANK["part"], 0, tok)
    p = parse_pitch(tok)
    if p is not None:
        return (_RANK["pitch"], p, tok)
    if tok[:1] in ("v", "t", "d") and tok[1:].isdigit():
        return (_RANK[tok[0]], int(tok[1:]), tok)
    return (_RANK["other"], 0, tok)


class Clock:
    """What every music decoder shares: the piece read so far, the time reached (`cursor`, in steps, for --bars),
    where generation began (`start_cursor`), and the time signature the tokens give."""

    def __init__(self, tok: MusicTokenizer):
        self.tok = tok
        self.piece = Piece("seqgen", [], tuple(tok.settings.get("time_signature") or (4, 4)))  # type: ignore[arg-type]
        self.cursor = 0
        self.start_cursor = 0  # where generation began (after a primer), for --bars
        self.seen_ts = False

    def bar(self) -> int:
        return bar_steps(self.piece.time_signature, self.tok.spq)

    def next_piece(self) -> None:
        """A <bos> after notes: the next piece starts at the next bar line."""
        if self.piece.notes:
            bar = self.bar()
            self.cursor = -(-max(self.piece.end(), self.cursor) // bar) * bar

    def read_time_signature(self, tok: str) -> bool:
        """Whether `tok` is a time signature (only the first, before any note, is kept)."""
        if not tok.startswith("ts:"):
            return False
        if not self.seen_ts and not self.piece.notes:
            num, _, den = tok[3:].partition("/")
            if num.isdigit() and den.isdigit() and int(num) > 0 and int(den) > 0:
                self.piece.time_signature = (int(num), int(den))
        self.seen_ts = True
        return True


class _Decoder(Clock):
    """Reads melody and notes tokens one at a time into notes; `cursor` is the time reached, in steps."""

    def __init__(self, tok: MusicTokenizer):
        super().__init__(tok)
        self.melody = tok.level == "melody"
        self.pending: tuple[str, int] | None = None  # ("pitch"|"drum"|"rest", value) waiting for its duration
        self.velocity = 80
        self.part = 0  # the part of the next note

    def feed(self, tok: str) -> None:
        if tok == BOS:
            self.next_piece()
            self.pending = None
            return
        if tok == EOS:
            self.pending = None
            return
        if self.read_time_signature(tok):
            return
        if tok.startswith(PREFIX):
            table = self.tok.table
            self.part = table.index.get(tok, self.part) if table is not None else self.part
            return
        head, rest = tok[:1], tok[1:]
        if head == "v" and rest.isdigit() and self.tok.velocity_bins:
            self.velocity = bin_velocity(min(int(rest), self.tok.velocity_bins - 1), self.tok.velocity_bins)
        elif head == "t" and rest.isdigit():
            self.cursor += int(rest)
            self.pending = None
        elif head == "d" and rest.isdigit():
            dur = int(rest)
            if self.pending is not None and dur > 0:
                what, value = self.pending
                if what != "rest":
                    self.piece.notes.append(Note(self.cursor, dur, value, self.velocity, what == "drum", self.part))
                if self.melody:
                    self.cursor += dur
            self.pending = None
        elif tok == REST:
            self.pending = ("rest", 0) if self.melody else None
        elif tok.startswith("drum:") and tok[5:].isdigit():
            self.pending = ("drum", int(tok[5:]))
        else:
            p = parse_pitch(tok)
            self.pending = ("pitch", p) if p is not None else None


class MelodyTokenizer(MusicTokenizer):
    """One line: `<bos> ts:N/D (PITCH dN | rest dN)* <eos>`."""

    level = "melody"

    def select(self, song: Song, fallback: bool = False) -> list[Track]:
        tracks = [t for t in song.tracks if t.notes and not t.is_drum]
        if self.tracks:
            chosen = match_tracks(tracks, self.tracks)
            if chosen:
                return chosen  # the line is the highest note of the chosen tracks
            if not fallback:
                return super().select(song, fallback)  # raises, naming the tracks there are
        # no --tracks: the melodic track with the highest mean pitch (the tune, not the accompaniment)
        return sorted(tracks, key=lambda t: -sum(n[2] for n in t.notes) / len(t.notes))[:1]

    def extract(self, song: Song, fallback: bool = False) -> Extracted:
        ex = super().extract(song, fallback)
        line: list[Note] = []
        for n in ex.piece.notes:  # highest note at each onset; a note ends where the next one starts
            if line and line[-1].start == n.start:
                ex.dropped["below the melody line"] += 1
                line[-1] = n if n.pitch > line[-1].pitch else line[-1]
                continue
            if line and line[-1].start + line[-1].dur > n.start:
                line[-1] = line[-1]._replace(dur=n.start - line[-1].start)
                ex.shortened["cut by the next melody note"] += 1
            line.append(n)
        ex.piece.notes = line
        return ex

    def silence(self, steps: int) -> list[str]:
        return [tok for chunk in self._chunks(steps, "d") for tok in (REST, chunk)]


class NotesTokenizer(MusicTokenizer):
    """Polyphony: `<bos> ts:N/D (tN | [vB] PITCH dN | [vB] drum:K dN)* <eos>`."""

    level = "notes"

    @classmethod
    def always_tokens(cls, settings: dict) -> list[str]:
        # every time shift up to a whole note, so that any primer's or file's timing can be encoded; every part
        table = PartTable.from_settings(settings)
        parts = [p.token for p in table.parts] if table is not None else []
        return [f"t{i}" for i in range(1, 4 * int(settings.get("steps_per_quarter", 12)) + 1)] + parts

    def silence(self, steps: int) -> list[str]:
        return self._chunks(steps, "t")
