"""Scores read with music21 (MusicXML, ABC, Humdrum) and music21's bundled corpora, with a parse cache.

music21 is slow (a chorale takes a fraction of a second, an ABC book seconds), so the note events of
every parsed file are cached as JSON under $SEQGEN_CACHE/scores, keyed by the file's SHA-256, the
music21 version and this module's format: a second `prepare` of the same collection takes seconds.
music21's own pickle cache is never read or written (nothing user-reachable is ever unpickled).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from seqgen.data.corpora import Corpus, cache_dir
from seqgen.errors import InputError
from seqgen.files import atomic_write_json
from seqgen.music.events import Song, Track
from seqgen.music.guards import parse_guarded, read_capped

SCORE_SUFFIXES = (".xml", ".mxl", ".musicxml", ".abc", ".krn")
MAX_SCORE_BYTES = 32 << 20
SCORE_TIME_LIMIT_S = 120.0  # per file; an ABC book of hundreds of tunes takes tens of seconds
SCORE_TPQ = 480  # ticks per quarter for score offsets: holds triplets, quintuplets and 64ths exactly
CACHE_FORMAT = 1

# mido's key_signature names by number of sharps (negative: flats)
_MAJOR = {-7: "Cb", -6: "Gb", -5: "Db", -4: "Ab", -3: "Eb", -2: "Bb", -1: "F", 0: "C", 1: "G", 2: "D", 3: "A", 4: "E", 5: "B", 6: "F#", 7: "C#"}
_MINOR = {-7: "Abm", -6: "Ebm", -5: "Bbm", -4: "Fm", -3: "Cm", -2: "Gm", -1: "Dm", 0: "Am", 1: "Em", 2: "Bm", 3: "F#m", 4: "C#m", 5: "G#m", 6: "D#m", 7: "A#m"}


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
    """Note events of a music21 Score (or Part): one Track per part, tied notes joined into one."""
    from collections import Counter

    from music21 import key as m21key
    from music21 import meter, tempo

    song = Song(name, SCORE_TPQ, [], dropped=Counter())
    parts = list(score.parts) if hasattr(score, "parts") and len(score.parts) else [score]
    for index, part in enumerate(parts):
        inst = part.getInstrument(returnDefault=True)
        program = inst.midiProgram if inst is not None and inst.midiProgram is not None else 0
        channel = 9 if inst is not None and inst.midiChannel == 9 else 0
        label = part.partName or (inst.partName if inst is not None else None) or (str(part.id) if not str(part.id).isdigit() else "")
        track = Track(str(label or ""), index, channel, int(program), [])
        for el in part.stripTies(inPlace=False).flatten().notes:
            length = _ticks(el.quarterLength)
            if el.duration.isGrace or length <= 0:
                song.dropped["grace note"] += len(getattr(el, "pitches", ())) or 1
                continue
            start = _ticks(el.offset)
            vol = getattr(el, "_volume", None)
            velocity = int(vol.velocity) if vol is not None and vol.velocity else 90
            pitches = [p.midi for p in getattr(el, "pitches", ())]
            if not pitches:
                song.dropped["unpitched note"] += 1
            for midi in pitches:
                if 0 <= midi <= 127:
                    track.notes.append((start, start + length, midi, velocity))
                else:
                    song.dropped["pitch outside MIDI range"] += 1
        track.notes.sort()
        song.tracks.append(track)
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
        song.key = (_MINOR if minor else _MAJOR)[sharps]
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
