"""Round trip over whole corpora, in both note schemes: source -> tokens -> MIDI -> tokens.

    python benchmarks/music_roundtrip.py [../shared/corpora/nottingham] [bach]

For every piece: the tokens of the MIDI file written from the tokens must equal the tokens, and the
decoded notes must equal the source's kept notes (pitch, quantized onset, quantized duration).
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
from seqgen.music.midi_io import midi_bytes_to_song
from seqgen.music.prepare import collect_music_files, load_all
from seqgen.music.tokens import MelodyTokenizer, NotesTokenizer


def timing(notes):
    return [(n.start, n.dur, n.pitch, n.drum) for n in notes]


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
    for cls in (MelodyTokenizer, NotesTokenizer):
        tok = cls.untrained(cls.make_settings())
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
            again = fitted.encode_piece(fitted.extract(midi_bytes_to_song(fitted.to_midi_bytes(decoded), "again.mid")).piece)
            if unknown == 0 and again == tokens and timing(decoded.notes) == timing(ex.piece.notes):
                exact += 1
            else:
                mismatched += 1
                print(f"MISMATCH {cls.level} {song.name}", file=sys.stderr)
            notes += len(ex.piece.notes)
            dropped.update(ex.dropped)
            shortened.update(ex.shortened)
        total = exact + mismatched + sum(empty.values())
        reasons = "; ".join(f"{r}: {n}" for r, n in empty.most_common()) or "none"
        print(f"| {spec} | {cls.level} | {total} | {exact} ({exact / max(1, exact + mismatched):.1%}) | {mismatched} | "
              f"{sum(empty.values())} ({sum(empty.values()) / max(1, total):.2%}; {reasons}) | {notes:,} | "
              f"{sum(dropped.values()):,} | {sum(shortened.values()):,} | {load_s:.1f} + {time.perf_counter() - t0:.1f} |")
        if dropped or shortened:
            print(f"|  | dropped: {dict(dropped)}; shortened: {dict(shortened)} |", file=sys.stderr)


def main(argv: list[str]) -> None:
    specs = argv or [str(Path(__file__).resolve().parents[2] / "shared" / "corpora" / "nottingham"), "bach"]
    print("| corpus | scheme | pieces | exact round trip | mismatches | pieces dropped (reason) | notes kept | notes dropped | notes shortened | seconds (read + round trip) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for spec in specs:
        if not Path(spec).exists() and corpora.find(spec) is None:
            print(f"skipping {spec}: not found", file=sys.stderr)
            continue
        run(spec)


if __name__ == "__main__":
    main(sys.argv[1:])
