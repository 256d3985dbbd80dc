"""`seqgen prepare --kind music`: MIDI files, scores and built-in corpora -> note tokens -> a dataset folder.

Every file is read on its own (in worker processes when there are many); a file that cannot be used
is skipped with its reason, never a crash. A file whose content (SHA-256) was already read, a copy or a
symbolic link, is skipped as a duplicate of the first in reading order: the same tune read twice would
weigh double. Transposed copies (--transpose) go to the training split only.

Splits are by piece, and a piece's split depends on that piece alone: a hash of its file's SHA-256 and
its place in the file (a book of ABC tunes holds several) gives a number in [0, 1); below --val is
validation, from 1 - --test up is test, the rest is training. So a folder that gains files, or the same
folder named by another path, keeps every earlier piece in its split (ranking all pieces and cutting at
round(n * fraction) moves pieces whenever n changes, leaking test tunes into training; a hash of the
path as typed splits `data/x.mid` and `/abs/data/x.mid` apart), and changing --val never moves a test piece. The price: a small corpus may leave a split
empty; that is reported (summary and meta.json), never rebalanced, since rebalancing would tie each
piece's split to the others again. Editing a file gives it a new SHA-256, so its pieces are drawn anew.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Protocol

import numpy as np

from seqgen.data import corpora
from seqgen.data.dataset import DatasetWriter, check_inputs_outside, check_split_fractions, duplicate_reason, split_of, write_dataset
from seqgen.errors import InputError, UsageError
from seqgen.music.events import Song
from seqgen.music.midi_io import MIDI_SUFFIXES
from seqgen.music.parts import PART_MODES, PartTable, survey, track_labels
from seqgen.music.scores import SCORE_SUFFIXES, corpus_files
from seqgen.music.tokens import LEVELS, MelodyTokenizer, MusicTokenizer, NotesTokenizer, Piece, read_songs, transpose_piece
from seqgen.music.voices import VoicesTokenizer, corpus_grid

MUSIC_SUFFIXES = MIDI_SUFFIXES + SCORE_SUFFIXES
TOKENIZERS: dict[str, type[MusicTokenizer]] = {"melody": MelodyTokenizer, "notes": NotesTokenizer, "voices": VoicesTokenizer}
PARALLEL_FROM = 16  # files; fewer are read in this process


@dataclass
class MusicReport:
    """What prepare did, for the summary table and for meta.json."""

    level: str = "melody"
    files: int = 0  # source files read
    sources: list[dict] = field(default_factory=list)  # name, sha256
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file or piece, reason)
    pieces: dict[str, int] = field(default_factory=dict)  # per split, transposed copies included
    transposed: int = 0  # extra training pieces from --transpose
    notes: int = 0  # notes kept (original pieces only)
    dropped: Counter = field(default_factory=Counter)  # notes left out, by reason
    shortened: Counter = field(default_factory=Counter)  # notes kept shorter, by reason
    splits: dict[str, int] = field(default_factory=dict)  # tokens per split
    vocab_size: int = 0
    fractions: dict[str, float] = field(default_factory=dict)  # --val and --test as asked
    empty_splits: list[str] = field(default_factory=list)  # asked for (fraction > 0) but no piece fell in them
    parts_mode: str | None = None  # notes level: program, track or none (--parts, or what the sources called for)
    parts: list[str] = field(default_factory=list)  # the parts table's names, in order
    part_notes: Counter = field(default_factory=Counter)  # notes kept per part name
    parts_merged: Counter = field(default_factory=Counter)  # "Cornet 1 -> Soprano": pieces, for parts too rare to keep
    parts_pieces: int = 0  # pieces the parts were counted in
    grid: int | None = None  # voices level: steps per quarter chosen for the corpus (None: the one given)
    out: Path | None = None

    def skip_kinds(self) -> Counter:
        """Skips counted by kind of reason (numbers and details stripped)."""
        kinds: Counter = Counter()
        for _, reason in self.skipped:
            kinds[re.sub(r"\d[\d,.]*", "N", reason.split(" (")[0].split(":")[0]).strip()] += 1
        return kinds


# ---------------------------------------------------------------- sources


def is_music_spec(spec: str) -> bool | None:
    """True for a music file, folder of music or music corpus; False for text; None when unclear."""
    path = Path(spec)
    if path.is_file():
        return path.suffix.lower() in MUSIC_SUFFIXES
    if path.is_dir():
        for p in path.rglob("*"):
            if p.suffix.lower() in MUSIC_SUFFIXES:
                return True
            if p.suffix.lower() == ".txt":
                return False
        return None
    corpus = corpora.find(spec)
    return None if corpus is None else corpus.kind == "music"


def infer_kind(specs: list[str]) -> str:
    """`text` or `music` from the sources, for a prepare without --kind."""
    votes = [is_music_spec(s) for s in specs if s != "-"]
    return "music" if votes and any(v is True for v in votes) and not any(v is False for v in votes) else "text"


def collect_music_files(specs: list[str]) -> list[Path]:
    files: list[Path] = []
    for spec in specs:
        path = Path(spec)
        if path.is_file():
            if path.suffix.lower() not in MUSIC_SUFFIXES:
                raise UsageError(f"{spec} is not a MIDI file or a score", f"music sources end in {', '.join(MUSIC_SUFFIXES)}")
            files.append(path)
        elif path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in MUSIC_SUFFIXES)
            if not found:
                raise InputError(f"the folder {path} holds no MIDI files or scores", f"music sources end in {', '.join(MUSIC_SUFFIXES)}")
            files.extend(found)
        elif (corpus := corpora.find(spec)) is not None:
            if corpus.kind != "music":
                raise UsageError(f"{spec!r} is a {corpus.kind} corpus", f"pass --kind {corpus.kind}")
            files.extend(corpus_files(corpus))
        else:
            raise UsageError(f"no such file, folder or built-in corpus: {spec}", "`seqgen corpora` lists the built-in corpora")
    return files


def _load(path: Path) -> tuple[str, str, list[Song] | None, str | None]:
    """(name, sha256, songs, reason): one file read, in a worker process or here."""
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        return str(path), "", None, f"cannot read: {exc.strerror or exc}"
    try:
        return str(path), digest, read_songs(path), None
    except InputError as exc:
        return str(path), digest, None, exc.message
    except Exception as exc:  # noqa: BLE001  (a bug must cost one file, not the whole corpus)
        return str(path), digest, None, f"unexpected {type(exc).__name__}: {exc}"


def load_all(files: list[Path], jobs: int | None = None):
    """Read every file, in order; in `jobs` worker processes when there are many."""
    if jobs is None:
        jobs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if jobs > 1 and len(files) >= PARALLEL_FROM:
        import multiprocessing

        ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
        with ProcessPoolExecutor(max_workers=min(jobs, len(files)), mp_context=ctx) as pool:
            yield from pool.map(_load, files, chunksize=max(1, min(32, len(files) // (jobs * 8))))
    else:
        for f in files:
            yield _load(f)


# ---------------------------------------------------------------- options


def parse_transpose(spec: str | None) -> list[int]:
    """`all` (the 12 keys, -5..+6), `N` (-N..+N), `A..B`, or a list `-2,0,2`; 0 is always kept."""
    if not spec:
        return [0]
    s = spec.strip().lower()
    try:
        if s == "all":
            shifts = list(range(-5, 7))
        elif ".." in s:
            lo, hi = (int(x) for x in s.split(".."))
            shifts = list(range(lo, hi + 1))
        elif "," in s:
            shifts = [int(x) for x in s.split(",") if x.strip()]
        else:
            n = abs(int(s))
            shifts = list(range(-n, n + 1))
    except ValueError:
        raise UsageError(f"--transpose must be all, N, A..B or a list like -2,0,2, not {spec!r}") from None
    if not shifts or any(abs(x) > 24 for x in shifts):
        raise UsageError(f"--transpose shifts must be within ±24 semitones, got {spec!r}")
    return sorted(set(shifts) | {0})


# ---------------------------------------------------------------- prepare


def prepare_music(
    specs: list[str],
    out: Path,
    level: str | None = None,
    val: float = 0.05,
    test: float = 0.05,
    force: bool = False,
    tracks: list[str] | None = None,
    steps_per_quarter: int | None = None,
    transpose: str | None = None,
    key_normalize: bool = False,
    velocity_bins: int = 0,
    drums: bool = False,
    jobs: int | None = None,
    parts: str | None = None,
) -> MusicReport:
    """Sources -> pieces (each with its split) -> tokens (transposed copies in train) -> a dataset folder.

    `steps_per_quarter`: the grid (default 12; the voices level: the coarsest that holds the corpus's notes).
    `parts` (notes level): program, track or none; None keeps parts (by track) when a source has more than one
    melodic track or part."""
    check_split_fractions(val, test)
    level = _music_level(specs, level, drums, parts)
    shifts = parse_transpose(transpose)
    cls = TOKENIZERS[level]
    settings = cls.make_settings(steps_per_quarter or 12, velocity_bins, tracks, drums, key_normalize)
    extractor = cls.untrained(settings)
    files = collect_music_files(specs)
    check_inputs_outside(out, files)
    report = MusicReport(level=level, fractions={"val": val, "test": test}, out=Path(out))

    loaded = read_files(files, report, jobs)
    if level in ("notes", "voices"):
        choose_parts(loaded, extractor, parts, report)
    if level == "voices" and steps_per_quarter is None:  # the grid of the corpus's shortest note
        report.grid = corpus_grid(_times(loaded, extractor))
        table = extractor.table
        extractor = cls.untrained(cls.make_settings(report.grid, velocity_bins, tracks, drums, key_normalize))
        extractor.use_parts(table)
    pieces = extract_pieces(loaded, extractor, report)
    token_lists = _token_lists(pieces, shifts, extractor, report)
    tokenizer = cls.fit((t for _, t in token_lists), {**extractor.settings, **_defaults([p for p, _ in pieces])})
    report.pieces = dict(Counter(s for s, _ in token_lists))
    report.empty_splits = [s for s in ("val", "test") if report.fractions[s] > 0 and not report.pieces.get(s)]
    if len(tokenizer.vocab) - 2 < 2:
        raise InputError("the music has fewer than 2 distinct tokens; there is nothing to learn", "pass more varied music")
    if sum(len(t) for s, t in token_lists if s == "train") < 2:
        raise InputError(
            f"none of the {len(pieces)} piece(s) fell in the training split; each piece's split is fixed by a hash of its file",
            "pass more pieces or lower --val/--test",
        )

    def fill(writer: DatasetWriter) -> None:
        index = tokenizer.vocab.index
        for split, toks in token_lists:
            writer.write(split, np.fromiter((index[t] for t in toks), dtype=np.int64, count=len(toks)))

    stats = {
        "files": report.files, "pieces": report.pieces, "transposed": report.transposed, "notes": report.notes,
        "dropped": dict(report.dropped), "shortened": dict(report.shortened), "transpose": shifts,
        "split_fractions": report.fractions, "empty_splits": report.empty_splits,
    }
    if report.parts_mode is not None:
        stats["parts"] = {"mode": report.parts_mode, "notes": {name: report.part_notes[name] for name in report.parts},
                          "merged": dict(report.parts_merged)}
    report.splits = write_dataset(Path(out), tokenizer, force, fill, report.sources, report.skipped, stats)
    report.vocab_size = len(tokenizer.vocab)
    return report


def _times(loaded: Loaded, extractor: MusicTokenizer) -> Iterator[int]:
    """Every note's onset and duration, in the extractor's steps (songs that cannot be read are left to extract_pieces)."""
    for _name, _digest, songs in loaded:
        for song in songs:
            try:
                notes = extractor.extract(song).piece.notes
            except InputError:
                continue
            for n in notes:
                yield n.start
                yield n.dur


def _music_level(specs: list[str], level: str | None, drums: bool, parts: str | None = None) -> str:
    """The token level asked for, else a built-in corpus's own default, else melody; checked against --drums and --parts."""
    if level is None:
        found = [c for c in (corpora.find(s) for s in specs) if c is not None and c.kind == "music"]
        level = found[0].default_level if found else "melody"
    if level not in LEVELS:
        raise UsageError(f"--level must be melody, notes or voices for music, not {level!r}")
    if drums and level == "melody":
        raise UsageError("--drums needs --level notes (a melody has no drums)")
    if parts not in (None, *PART_MODES):
        raise UsageError(f"--parts must be one of {', '.join(PART_MODES)}, not {parts!r}")
    if parts in ("program", "track") and level == "melody":
        raise UsageError(f"--parts {parts} needs --level notes (a melody is one part)")
    if level == "voices" and parts in ("program", "none"):
        raise UsageError(f"--parts {parts} is for the notes level: the voices level reads parts by track (their names)")
    return level


Loaded = list[tuple[str, str, list[Song]]]  # (file name, sha256, its songs) per file read


class SourcesLog(Protocol):
    """What `read_files` records: a music or a frames report."""

    skipped: list[tuple[str, str]]
    files: int
    sources: list[dict]


def read_files(files: list[Path], report: SourcesLog, jobs: int | None = None) -> Loaded:
    """Every distinct file's songs, in order; a file that cannot be read, or was read already, is skipped with its reason."""
    loaded: Loaded = []
    seen: dict[str, str] = {}  # sha256 -> the file kept
    for name, digest, songs, reason in load_all(files, jobs):
        if songs is None:
            report.skipped.append((name, reason or "unreadable"))
            continue
        if duplicate := duplicate_reason(seen, digest, name):
            report.skipped.append((name, duplicate))
            continue
        report.files += 1
        report.sources.append({"name": name, "sha256": digest})
        loaded.append((name, digest, songs))
    return loaded


def choose_parts(loaded: Loaded, extractor: MusicTokenizer, parts: str | None, report: MusicReport) -> None:
    """The notes level's parts: `--parts`, or by track when a song has more than one melodic track or part; then
    the corpus's parts table (rare parts merged, see `seqgen.music.parts.survey`) goes to the extractor."""
    chosen: list[tuple[list, list[str]]] = []
    for _name, _digest, songs in loaded:
        for song in songs:
            try:
                tracks = extractor.select(song)
            except InputError:
                continue  # skipped with its reason when extracted
            chosen.append((tracks, track_labels(song.tracks, tracks)))
    if parts is None:
        parts = "track" if any(sum(not t.is_drum for t in tracks) > 1 for tracks, _ in chosen) else "none"
    report.parts_mode, report.parts_pieces = parts, len(chosen)
    table: PartTable | None = None
    if parts != "none":
        table = survey(chosen, parts)
        report.parts = [p.name for p in table.parts]
    extractor.use_parts(table)


def extract_pieces(loaded: Loaded, extractor: MusicTokenizer, report: MusicReport) -> list[tuple[Piece, str]]:
    """Every usable piece of the songs read, with its split. What cannot be used (a song in a book, a piece without
    notes) is skipped with its reason in `report`, never an error, unless nothing is left."""
    val, test = report.fractions["val"], report.fractions["test"]
    pieces: list[tuple[Piece, str]] = []
    for name, digest, songs in loaded:
        for place, song in enumerate(songs):
            label = name if song.name == Path(name).name else f"{Path(name).parent / song.name}"
            try:
                ex = extractor.extract(song)
            except InputError as exc:
                report.skipped.append((label, exc.message))
                continue
            if not ex.piece.notes:
                report.skipped.append((label, "no notes" + ("" if extractor.drums else " (outside drum tracks)")))
                continue
            report.dropped.update(ex.dropped)
            report.shortened.update(ex.shortened)
            report.notes += len(ex.piece.notes)
            if extractor.table is not None:
                report.part_notes.update(extractor.table.parts[n.part].name for n in ex.piece.notes)
                report.parts_merged.update(f"{track} -> {part}" for track, part in ex.moved)
            ex.piece.name = label
            pieces.append((ex.piece, split_of(f"{digest}:{place}", val, test)))
    if not pieces:
        reasons = "; ".join(f"{Path(n).name}: {r}" for n, r in report.skipped[:3])
        raise InputError(f"no usable music in the input ({reasons or 'nothing given'})", "pass MIDI files or scores with notes")
    return pieces


def _token_lists(pieces: list[tuple[Piece, str]], shifts: list[int], extractor: MusicTokenizer, report: MusicReport) -> list[tuple[str, list[str]]]:
    """(split, tokens) per piece, and per transposed copy of each training piece."""
    token_lists: list[tuple[str, list[str]]] = []
    for piece, split in pieces:
        for shift in shifts if split == "train" else [0]:
            moved = transpose_piece(piece, shift, report.dropped if shift else None)
            if moved.notes:
                token_lists.append((split, extractor.encode_piece(moved)))
                report.transposed += shift != 0
    return token_lists


def _defaults(pieces: list[Piece]) -> dict:
    """The corpus's most common time signature and tempo: what `sample` writes when the tokens do not say."""
    ts = Counter(p.time_signature for p in pieces).most_common(1)[0][0]
    tempos = Counter(round(p.tempo) for p in pieces if p.tempo)
    return {"time_signature": list(ts), "tempo": float(tempos.most_common(1)[0][0]) if tempos else 120.0}
