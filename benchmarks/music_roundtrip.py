"""Round trip over whole corpora, in both note schemes, and notes with parts: source -> tokens -> MIDI -> tokens.

    python benchmarks/music_roundtrip.py [../shared/corpora/nottingham] [bach] [../shared/corpora/metheny.mid]

For every piece: the tokens of the MIDI file written from the tokens must equal the tokens, and the
decoded notes must equal the source's kept notes (pitch, quantized onset, quantized duration, and with parts
the part); with parts, every written track must carry its part's name, program and channel. The parts table is
the corpus's, surveyed as `seqgen prepare` does (drums included for a file that has them).
Pieces that cannot be used (unreadable file, no notes) are counted with their reason.
Prints one Markdown table row per corpus and scheme.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

from seqgen.data import corpora
from seqgen.errors import InputError
from seqgen.music.midi_io import midi_bytes_to_song, song_to_midi_bytes
from seqgen.music.prepare import MusicReport, choose_parts, collect_music_files, load_all
from seqgen.music.tokens import MelodyTokenizer, NotesTokenizer


def timing(notes):
    return [(n.start, n.dur, n.pitch, n.drum, n.part) for n in notes]


def run(spec: str) -> None:
    started = time.perf_counter()
    files = collect_music_files([spec])
    songs, skipped = [], Counter()
    for name, _digest, found, reason in load_all(files):
        if found is None:
            skipped[reason] += 1
        else:
            songs.extend(found)
    load_s = time.perf_counter() - started
    drums = any(t.is_drum and t.notes for song in songs for t in song.tracks)
    for cls, parts in ((MelodyTokenizer, None), (NotesTokenizer, None), (NotesTokenizer, "track")):
        tok = cls.untrained(cls.make_settings(drums=drums and parts is not None))
        scheme = cls.level
        if parts:
            choose_parts([(spec, "", songs)], tok, parts, MusicReport(fractions={"val": 0, "test": 0}))
            scheme = f"notes, {len(tok.table.parts)} parts by track"
        exact = mismatched = notes = 0
        dropped, shortened, empty = Counter(), Counter(), Counter(skipped)
        t0 = time.perf_counter()
        for song in songs:
            try:
                ex = tok.extract(song)
            except InputError as exc:
                empty[exc.message] += 1
                continue
            if not ex.piece.notes:
                empty["no notes"] += 1
                continue
            tokens = tok.encode_piece(ex.piece)
            fitted = cls.fit([tokens], tok.settings)
            ids, unknown = fitted.ids_of(tokens)
            decoded = fitted.decode_piece(ids)
            written = fitted.to_song(decoded)
            back = midi_bytes_to_song(song_to_midi_bytes(written), "again.mid")
            again = fitted.encode_piece(fitted.extract(back).piece)
            tracks_kept = [(t.name, t.program, t.channel) for t in back.tracks] == [(t.name, t.program, t.channel) for t in written.tracks]
            if parts:
                tracks_kept &= all((t.name, t.program, t.channel) == (fitted.table.parts[i].name, fitted.table.parts[i].program, fitted.table.parts[i].channel)
                                   for t, i in zip(written.tracks, sorted({n.part for n in decoded.notes})))
            if unknown == 0 and again == tokens and timing(decoded.notes) == timing(ex.piece.notes) and tracks_kept:
                exact += 1
            else:
                mismatched += 1
                print(f"MISMATCH {scheme} {song.name}", file=sys.stderr)
            notes += len(ex.piece.notes)
            dropped.update(ex.dropped)
            shortened.update(ex.shortened)
        total = exact + mismatched + sum(empty.values())
        reasons = "; ".join(f"{r}: {n}" for r, n in empty.most_common()) or "none"
        print(f"| {spec} | {scheme} | {total} | {exact} ({exact / max(1, exact + mismatched):.1%}) | {mismatched} | "
              f"{sum(empty.values())} ({sum(empty.values()) / max(1, total):.2%}; {reasons}) | {notes:,} | "
              f"{sum(dropped.values()):,} | {sum(shortened.values()):,} | {load_s:.1f} + {time.perf_counter() - t0:.1f} |")
        if dropped or shortened:
            print(f"|  | dropped: {dict(dropped)}; shortened: {dict(shortened)} |", file=sys.stderr)


def main(argv: list[str]) -> None:
    shared = Path(__file__).resolve().parents[2] / "shared" / "corpora"
    specs = argv or [str(shared / "nottingham"), "bach", str(shared / "metheny.mid")]
    print("| corpus | scheme | pieces | exact round trip | mismatches | pieces dropped (reason) | notes kept | notes dropped | notes shortened | seconds (read + round trip) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for spec in specs:
        if not Path(spec).exists() and corpora.find(spec) is None:
            print(f"skipping {spec}: not found", file=sys.stderr)
            continue
        run(spec)


if __name__ == "__main__":
    main(sys.argv[1:])
