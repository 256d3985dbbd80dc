"""Scores read with music21 (MusicXML, ABC, Humdrum) and music21's bundled corpora, with a parse cache.

music21 is slow (a chorale takes a fraction of a second, an ABC book seconds), so the note events of
every parsed file are cached as JSON under $SEQGEN_CACHE/scores, keyed by the file's SHA-256, the
music21 version and this module's format: a second `prepare` of the same collection takes seconds.
music21's own pickle cache is never read or written (nothing user-reachable is ever unpickled).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from seqgen.data.corpora import Corpus, cache_dir
from seqgen.errors import InputError, SeqgenError
from seqgen.files import atomic_write_json
from seqgen.music.events import Song, Track
from seqgen.music.guards import parse_guarded, read_capped
from seqgen.music.keys import MAJOR_KEYS, MINOR_KEYS, signature, song_key, spelling
from seqgen.music.parts import voice_clef

SCORE_SUFFIXES = (".xml", ".mxl", ".musicxml", ".abc", ".krn")
MAX_SCORE_BYTES = 32 << 20
SCORE_TIME_LIMIT_S = 120.0  # per file; an ABC book of hundreds of tunes takes tens of seconds
SCORE_TPQ = 480  # ticks per quarter for score offsets: holds triplets, quintuplets and 64ths exactly
CACHE_FORMAT = 3  # 2: ties joined note by note inside chords; 3: fermatas



def _music21_version() -> str:
    import music21

    return music21.__version__


def read_score(path: Path, use_cache: bool = True, time_limit_s: float = SCORE_TIME_LIMIT_S) -> list[Song]:
    """The songs of a score file (an ABC book or opus holds many); InputError with the reason if unreadable."""
    path = Path(path)
    data = read_capped(path, MAX_SCORE_BYTES, "a score")
    key = hashlib.sha256(data + f"|{path.suffix.lower()}|{_music21_version()}|{CACHE_FORMAT}".encode()).hexdigest()
    cached = cache_dir() / "scores" / f"{key}.json"
    if use_cache and cached.is_file():
        try:
            return [Song.from_json(s) for s in json.loads(cached.read_text(encoding="utf-8"))["songs"]]
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            pass  # a damaged cache entry is parsed again and replaced
    songs = _parse(path, time_limit_s)
    if use_cache:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(cached, {"source": path.name, "songs": [s.to_json() for s in songs]})
        except Exception:  # noqa: BLE001  (a cache that cannot be written only costs time)
            pass
    return songs


def _parse(path: Path, time_limit_s: float) -> list[Song]:
    from music21 import converter, stream

    def parse() -> list[Song]:
        conv = converter.Converter()
        conv.parseFile(path, forceSource=True, storePickle=False)  # never music21's pickle cache
        parsed = conv.stream
        if isinstance(parsed, stream.Opus):
            scores = list(parsed.scores)
            names = [f"{path.name} #{getattr(s.metadata, 'number', None) or i + 1}" for i, s in enumerate(scores)]
        else:
            scores, names = [parsed], [path.name]
        return [score_to_song(s, n) for s, n in zip(scores, names)]

    return parse_guarded(parse, time_limit_s, "music21 cannot parse it")


def _ticks(quarter_length) -> int:
    return int(round(float(quarter_length) * SCORE_TPQ))


def score_to_song(score, name: str) -> Song:
    """Note events of a music21 Score (or Part): one Track per part, tied notes joined into one (pitch by pitch, so a
    chord that ties some of its notes keeps them apart)."""
    from collections import Counter

    from music21 import expressions, harmony, meter, tempo
    from music21 import key as m21key

    song = Song(name, SCORE_TPQ, [], dropped=Counter())
    fermatas: set[int] = set()
    parts = list(score.parts) if hasattr(score, "parts") and len(score.parts) else [score]
    for index, part in enumerate(parts):
        inst = part.getInstrument(returnDefault=True)
        program = inst.midiProgram if inst is not None and inst.midiProgram is not None else 0
        channel = 9 if inst is not None and inst.midiChannel == 9 else 0
        label = part.partName or (inst.partName if inst is not None else None) or (str(part.id) if not str(part.id).isdigit() else "")
        track = Track(str(label or ""), index, channel, int(program), [])
        tied: dict[int, list[int]] = {}  # pitch -> [start, end, velocity] of a note whose tie goes on
        for el in part.flatten().notes:
            length = _ticks(el.quarterLength)
            if isinstance(el, harmony.Harmony):  # a chord symbol over the staff ("Gm7"): a label, not a sounding note
                song.dropped["chord symbol (a label, not a note)"] += 1
                continue
            if el.duration.isGrace or length <= 0:
                song.dropped["grace note"] += len(getattr(el, "pitches", ())) or 1
                continue
            start = _ticks(el.offset)
            if any(isinstance(e, expressions.Fermata) for e in el.expressions):
                fermatas.add(start)
            vol = getattr(el, "_volume", None)
            velocity = int(vol.velocity) if vol is not None and vol.velocity else 90
            heads = [h for h in (el.notes if el.isChord else [el]) if getattr(h, "pitch", None) is not None]
            if not heads:
                song.dropped["unpitched note"] += 1
            for head in heads:  # ties are joined pitch by pitch: a chord may tie some of its notes and not others
                midi, kind = head.pitch.midi, head.tie.type if head.tie is not None else None
                if not 0 <= midi <= 127:
                    song.dropped["pitch outside MIDI range"] += 1
                    continue
                held = tied.pop(midi, None)
                if held is not None and kind in ("continue", "stop"):
                    held[1] = start + length
                    if kind == "continue":
                        tied[midi] = held
                    else:
                        track.notes.append((held[0], held[1], midi, held[2]))
                    continue
                if held is not None:  # a tie that never stopped ends where its note was last heard
                    track.notes.append((held[0], held[1], midi, held[2]))
                if kind in ("start", "continue"):
                    tied[midi] = [start, start + length, velocity]
                else:
                    track.notes.append((start, start + length, midi, velocity))
        track.notes.extend((s, e, midi, v) for midi, (s, e, v) in tied.items())
        track.notes.sort()
        song.tracks.append(track)
    song.fermatas = sorted(fermatas)
    flat = score.flatten() if hasattr(score, "flatten") else score
    for mm in flat.getElementsByClass(tempo.MetronomeMark):
        bpm = mm.getQuarterBPM()
        if bpm:
            song.tempo = float(bpm)
            break
    for ts in flat.getElementsByClass(meter.TimeSignature):
        den = int(ts.denominator)
        if ts.numerator >= 1 and den >= 1 and den & (den - 1) == 0:
            song.time_signature = (int(ts.numerator), den)
        break
    for ks in flat.getElementsByClass(m21key.KeySignature):
        sharps = max(-7, min(7, int(ks.sharps)))
        minor = isinstance(ks, m21key.Key) and ks.mode == "minor"
        song.key = (MINOR_KEYS if minor else MAJOR_KEYS)[sharps]
        break
    return song


# ---------------------------------------------------------------- music21's bundled corpora


def corpus_files(corpus: Corpus) -> list[Path]:
    """The files of a built-in music corpus: `music21:chorales` (the 371 Bach chorales) or `music21:<composer>`."""
    from music21 import corpus as m21corpus

    scheme, _, name = corpus.source.partition(":")
    if scheme != "music21":
        raise InputError(f"the music corpus {corpus.name!r} has an unknown source {corpus.source!r}")
    if name == "chorales":
        from music21.corpus import chorales

        files = []
        for work in chorales.Iterator(returnType="filename"):
            found = m21corpus.getWork(work)
            found = found if isinstance(found, list) else [found]
            scores = [Path(f) for f in found if Path(f).suffix.lower() in SCORE_SUFFIXES]
            if scores:
                files.append(scores[0])
        return files
    files = [Path(p) for p in m21corpus.getComposer(name) if Path(p).suffix.lower() in SCORE_SUFFIXES]
    if not files:
        raise InputError(f"music21's corpus has no {name!r} collection here", "update music21 (pip install -U music21)")
    return sorted(files)


# ---------------------------------------------------------------- writing MusicXML

MUSICXML_SUFFIXES = (".musicxml", ".xml", ".mxl")
_MXL_CONTAINER = (b'<?xml version="1.0" encoding="UTF-8"?>\n<container><rootfiles><rootfile full-path="score.musicxml" '
                  b'media-type="application/vnd.recordare.musicxml+xml"/></rootfiles></container>\n')


def _m21_key(name: str):
    """A mido key name ("G", "Em", "Bb") as a music21 Key."""
    from music21 import key as m21key

    minor = name.endswith("m")
    tonic = name[:-1] if minor else name
    tonic = tonic[0] + tonic[1:].replace("b", "-")
    return m21key.Key(tonic.lower() if minor else tonic)


def song_to_score(song: Song):
    """A music21 Score: one Part (staff) per track, named, with its instrument, clef chosen from its range, and the
    song's time signature, key (estimated when the song has none) and tempo. Pitches are spelled in the key, so the
    key signature gives them and only notes outside it carry an accidental; silences are visible rests. Notes that
    start and end together are one chord; music21 makes the measures, ties and voices."""
    from fractions import Fraction

    from music21 import chord, clef, expressions, instrument, metadata, meter, note, stream, tempo, tie

    score = stream.Score()
    score.metadata = metadata.Metadata(title=song.name, composer="seqgen")
    num, den = song.time_signature or (4, 4)
    tpq = song.ticks_per_quarter
    key = song_key(song)
    names = spelling(key) if key else None
    fermatas = set(song.fermatas)
    end = Fraction(max((e for tr in song.tracks for _, e, _, _ in tr.notes), default=0), tpq)
    for tr in song.tracks:
        part = stream.Part()
        part.partName = tr.name
        part.partAbbreviation = tr.name if len(tr.name) <= 5 else tr.name[:3] + "."  # the later systems' label
        inst = instrument.Percussion() if tr.is_drum else instrument.instrumentFromMidiProgram(tr.program)
        inst.partName, inst.midiProgram, inst.midiChannel = tr.name, tr.program, tr.channel
        part.insert(0, inst)
        part.insert(0, meter.TimeSignature(f"{num}/{den}"))
        for start, stop, held in _segments(tr.notes):
            els = []
            for pitch, velocity, tied in held:
                n = note.Note(_spelled(pitch, names) if names and not tr.is_drum else pitch)
                n.volume.velocity = velocity
                if tied:
                    n.tie = tie.Tie(tied)
                els.append(n)
            el = els[0] if len(els) == 1 else chord.Chord(els)
            el.quarterLength = Fraction(stop - start, tpq)
            if start in fermatas and any(not tied or tied == "start" for _, _, tied in held):
                el.expressions.append(expressions.Fermata())
            part.insert(Fraction(start, tpq), el)
        part.makeRests(refStreamOrTimeRange=[0, end], fillGaps=True, inPlace=True, hideRests=False)
        voice = voice_clef(tr.name)  # a voice keeps its own clef (an alto on treble, not on treble-8 for its low notes)
        chosen = {"treble": clef.TrebleClef, "treble8vb": clef.Treble8vbClef, "bass": clef.BassClef}[voice]() if voice else None
        part.insert(0, clef.PercussionClef() if tr.is_drum else chosen or clef.bestClef(part, allowTreble8vb=True, recurse=True))
        if key and not tr.is_drum and tr.notes:
            part.insert(0, _m21_key(key))
        score.insert(0, part)
    if score.parts:
        score.parts[0].insert(0, tempo.MetronomeMark(number=round(song.tempo or 120.0)))
    return score


def _spelled(midi: int, names: list[str]):
    """A music21 Pitch for a MIDI pitch, spelled as `names` (keys.spelling) spells its pitch class; no natural sign
    object on a natural, so that music21 prints one only where the key signature or the bar calls for it."""
    from music21 import pitch

    p = pitch.Pitch(names[midi % 12])
    p.octave = 4
    p.octave += (midi - p.midi) // 12
    return p


def _segments(notes: list[tuple[int, int, int, int]]) -> list[tuple[int, int, list[tuple[int, int, str | None]]]]:
    """A track's notes as one voice: the time between every two onsets or ends is one chord of the notes sounding
    then, each note tied ("start", "continue", "stop", or None) across the pieces it is cut into. A staff that holds
    overlapping notes this way is what a piano reduction shows, and music21 writes it without guessing voices."""
    bounds = sorted({t for s, e, _, _ in notes for t in (s, e)})
    out = []
    for a, b in zip(bounds, bounds[1:]):
        held = []
        for s, e, pitch, velocity in notes:
            if s <= a and b <= e:
                tied = None if (s == a and e == b) else "start" if s == a else "stop" if e == b else "continue"
                held.append((pitch, velocity, tied))
        if held:
            out.append((a, b, sorted(held)))
    return out


def song_to_musicxml(song: Song, compressed: bool = False) -> bytes:
    """MusicXML for MuseScore, Sibelius, Finale and Dorico (`.mxl`: compressed), checked by reading it back with
    music21: every part and every note (pitch, onset, duration) must come back."""
    import io
    import zipfile

    from music21 import converter
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    xml = GeneralObjectExporter(song_to_score(song)).parse()
    back = converter.parse(xml, format="musicxml", forceSource=True)
    if _score_notes(back) != _song_notes(song):
        raise SeqgenError("music21 did not read back the MusicXML it wrote (a note changed or went missing)",
                          "write .mid instead, and report this with the tokens (--format tokens)")
    if not compressed:
        return xml
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.recordare.musicxml")  # first and stored, as the format asks
        z.writestr("META-INF/container.xml", _MXL_CONTAINER, compress_type=zipfile.ZIP_DEFLATED)
        z.writestr("score.musicxml", xml, compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue()


@dataclass
class Engraving:
    """What a reader of a written MusicXML score sees: its notes, rests (visible or not) and accidentals. An
    accidental is needed when the key signature and the bar so far give the note another pitch; a courtesy when
    they do not but the same letter was altered otherwise earlier in the bar (in another octave) or in the bar
    before; needless otherwise (a natural sign on a note the key signature already gives)."""

    notes: int = 0
    rests: int = 0
    hidden_rests: int = 0
    accidentals: int = 0
    courtesy_accidentals: int = 0
    needless_accidentals: int = 0


def engraving(xml: bytes) -> Engraving:
    """Counts for a MusicXML document (as `song_to_musicxml` writes it): a check of the score a musician reads."""
    import xml.etree.ElementTree as ET

    found = Engraving()
    for part in ET.fromstring(xml).iter("part"):
        fifths = 0
        before: dict[str, set[int]] = {}  # step -> alterations heard in the bar before
        for measure in part.iter("measure"):
            for key in measure.iter("key"):
                fifths = int(key.findtext("fifths", "0"))
            in_key = signature(fifths)
            current: dict[tuple[str, str], int] = {}  # (step, octave) -> alteration in force in this bar
            heard: dict[str, set[int]] = {}  # step -> alterations heard in this bar, any octave
            for n in measure.iter("note"):
                if n.find("rest") is not None:
                    found.rests += 1
                    found.hidden_rests += n.get("print-object") == "no"
                    continue
                pitch = n.find("pitch")
                if pitch is None:
                    continue  # unpitched (percussion)
                found.notes += 1
                step, octave = pitch.findtext("step") or "", pitch.findtext("octave") or ""
                alter = round(float(pitch.findtext("alter", "0")))
                if n.find("accidental") is not None:
                    found.accidentals += 1
                    if current.get((step, octave), in_key.get(step, 0)) == alter:
                        others = (heard.get(step, set()) | before.get(step, set())) - {alter}
                        found.courtesy_accidentals += bool(others)
                        found.needless_accidentals += not others
                if not any(t.get("type") == "stop" for t in n.iter("tie")):  # a note tied over puts nothing in force
                    current[(step, octave)] = alter
                heard.setdefault(step, set()).add(alter)
            before = heard
    return found


def _song_notes(song: Song) -> list[tuple[str, list]]:
    tpq = song.ticks_per_quarter
    return [(tr.name, sorted((s * SCORE_TPQ // tpq, (e - s) * SCORE_TPQ // tpq, p) for s, e, p, _ in tr.notes)) for tr in song.tracks]


def _score_notes(score) -> list[tuple[str, list]]:
    return [(t.name, sorted((s, e - s, p) for s, e, p, _ in t.notes)) for t in score_to_song(score, "").tracks]
