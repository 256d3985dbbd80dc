"""Music as note tokens (melody, or notes with parts): MIDI files, scores and music21's collections in; MIDI for a
DAW, a score or audio out. The language model only sees ids: this kind primes it with a MIDI file's opening, stops
each sample once it has --bars bars (a decoder follows the time the tokens have reached) and hands the notes to
`seqgen.music.output` to write."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from seqgen.kinds.base import Log, Option, Values, in_panel, need_sources, warning
from seqgen.kinds.common import PREPARE_NAMES, SAMPLE_NAMES
from seqgen.kinds.lm import LanguageModelKind
from seqgen.music.parts import PART_MODES, parse_programs

if TYPE_CHECKING:
    from seqgen.models.generate import Guide
    from seqgen.music.output import MusicOptions
    from seqgen.music.prepare import MusicReport
    from seqgen.training.checkpoint import Run


VOICE_LEADING = ("strict", "free")


def _program_spec(text: str) -> None:
    parse_programs(text)


PREPARE = in_panel(
    "Music",
    Option("tracks", list, help="Music: tracks/parts to read, by name, program:N or index:N (repeatable; default: all but drums; melody: the highest-pitched track)."),
    Option("steps_per_quarter", int, help="Music: time grid, steps per quarter note (must divide 480; 12 holds 16ths and triplets).", min=1, max=480,
           default_help="12; voices: the corpus's shortest note (4 for 16ths)"),
    Option("transpose", help="Music: add transposed copies of the training pieces: all (12 keys), N (±N semitones), A..B or a list -2,0,2 (frames: each training piece moved by one of these, drawn afresh each epoch)."),
    Option("key_normalize", bool, False, "Music: move every piece to C major / A minor (estimated key)."),
    Option("velocity_bins", int, 0, "Music: keep dynamics as this many velocity levels (0: none).", min=0, max=127),
    Option("drums", bool, False, "Music, notes level: include drum tracks (MIDI channel 10)."),
    Option("parts", choices=PART_MODES, help="Music, notes level: keep each note's part: by track (track or part name), by General MIDI program, or none (one stream).",
           default_help="track when a source has more than one melodic track or part, else none"),
)
SAMPLE = in_panel(
    "Music",
    Option("bars", int, help="Music: bars to generate after the primer (default 16 unless --length is given).", min=1, max=10_000),
    Option("tempo", float, help="Music: tempo in quarter notes per minute (default: the primer's, else the corpus's, else 120)."),
    Option("program", metavar="N|PART=N,...", check=_program_spec,
           help="Music: General MIDI program 0-127 for every part (0 is acoustic grand piano), or per part: Soprano=52,Bass=32.",
           default_help="each part's own program from the corpus; 0 for a run without parts"),
    Option("time_signature", help="Music: time signature such as 3/4 (default: the generated one, else the corpus's)."),
    Option("velocity", int, 80, "Music: note velocity 1-127 when the run has no velocity tokens.", min=1, max=127),
    Option("prime_midi", Path, help="Music: continue this MIDI file (or score), tokenized with the run's scheme."),
    Option("prime_bars", int, help="Music: use only the first N bars of --prime-midi.", min=1),
    Option("harmonize", Path, help="Music, voices runs: write the other parts around this melody (MIDI file or score; its highest part), "
                                   "which is kept note for note in the top voice; --bars takes its first bars."),
    Option("format", choices=("midi", "tokens"), flags=("--format",), help="Music: midi or tokens.",
           default_help="by the extension of --out: .mid MIDI, .musicxml/.xml/.mxl a score, .wav audio; else tokens"),
    Option("soundfont", Path, help="Music, --out FILE.wav: the General MIDI soundfont fluidsynth plays.",
           default_help="the first found in /usr/share/sounds/sf2, /usr/share/soundfonts, Homebrew's share/soundfonts"),
)
VOICE_LEADING_HELP = ("Music, voices runs: strict keeps two rules of part-writing the model alone breaks, no parallel fifths or octaves "
                      "and no part crossing the part next to it (each draw is among the model's other choices); free draws as the model says.")
SAMPLE_OPTIONS = frozenset(o.name for o in SAMPLE)  # what a piano-roll run takes too
SAMPLE = (*SAMPLE, *in_panel("Music", Option("voice_leading", choices=VOICE_LEADING, help=VOICE_LEADING_HELP, default_help="strict")))
EVAL = in_panel("Music", Option("voice_leading", choices=VOICE_LEADING, help="--bleu's free samples: " + VOICE_LEADING_HELP, default_help="strict, as sample"))


def music_options(o: Values) -> MusicOptions:
    """`sample`'s music options, for a music run or a piano roll; checked."""
    from seqgen.music.output import MusicOptions

    opts = MusicOptions(bars=o.bars, length_given=o.length is not None, tempo=o.tempo, program=o.program, time_signature=o.time_signature,
                        velocity=o.velocity, prime_midi=o.prime_midi, prime_bars=o.prime_bars, format=o.format, soundfont=o.soundfont,
                        harmonize=o.harmonize)
    opts.check()
    return opts


class MusicKind(LanguageModelKind):
    name = noun = "music"
    levels = ("melody", "notes", "voices")
    level_help = "melody, notes or voices for music (default melody, or the corpus's own)"
    options = {"prepare": PREPARE, "sample": (*SAMPLE, *LanguageModelKind.options["sample"]), "eval": (*LanguageModelKind.options["eval"], *EVAL)}
    takes = {**LanguageModelKind.takes, "prepare": PREPARE_NAMES, "sample": SAMPLE_NAMES}
    ask = "pass --kind music for MIDI files and scores"
    # eval reports the mixture with the 5-gram, but sample draws from it only with --mix until what it does to parts,
    # bars and voice leading is measured (a likelihood gain is not yet music a musician would keep)
    mix_by_default = False

    def claims(self, sources: list[str], o: Values) -> bool:
        from seqgen.music.prepare import infer_kind

        if o.kind is not None:
            return o.kind == "music"
        return o.level in self.levels or (o.level is None and infer_kind(sources) == "music")

    def prepare(self, sources: list[str], o: Values) -> MusicReport:
        from seqgen.music.prepare import prepare_music

        need_sources(sources)
        val, test = 0.05 if o.val is None else o.val, 0.05 if o.test is None else o.test
        return prepare_music(sources, o.out, o.level, val, test, o.force, o.tracks, o.steps_per_quarter, o.transpose, o.key_normalize,
                             o.velocity_bins, o.drums, parts=o.parts)

    def summary(self, report: MusicReport, seconds: float) -> list:
        table = Table(title=f"dataset {report.out} ({report.level} level, {seconds:.1f} s)", show_header=False)
        table.add_row("files read", f"{report.files:,}")
        for reason, n in report.skip_kinds().most_common():
            table.add_row(f"skipped: {reason}", f"{n:,}")
        table.add_row("pieces", ", ".join(f"{report.pieces.get(s, 0):,} {s}" for s in ("train", "val", "test")))
        if report.transposed:
            table.add_row("transposed copies", f"{report.transposed:,} (in train)")
        table.add_row("notes", f"{report.notes:,}")
        if report.grid is not None:
            table.add_row("grid", f"{report.grid} steps per quarter (the corpus's shortest note; --steps-per-quarter to choose)")
        if report.parts_mode is not None:
            shown = ", ".join(f"{name} ({report.part_notes[name]:,} notes)" for name in report.parts) or "none"
            table.add_row(f"parts (by {report.parts_mode})" if report.parts else "parts", shown if report.parts else "none: one stream (--parts none)")
        if report.parts_merged:
            table.add_row("tracks read as another part", f"{sum(report.parts_merged.values()):,} (a name that is not a part's: read as the voice it names, "
                                                          "else by pitch; a part in under 5% of the pieces, or beyond 15 melodic ones, is not kept)")
        for reason, n in report.dropped.most_common():
            table.add_row(f"dropped: {reason}", f"{n:,}")
        for reason, n in report.shortened.most_common():
            table.add_row(f"shortened: {reason}", f"{n:,}")
        for split, n in report.splits.items():
            table.add_row(f"{split} tokens", f"{n:,}")
        table.add_row("vocabulary", f"{report.vocab_size:,}")
        shown: list = [table, *(f"skipped {name}: {reason}" for name, reason in report.skipped)]
        for i, (merge, n) in enumerate(sorted(report.parts_merged.items(), key=lambda kv: -kv[1])):
            if i == 10:
                shown.append(f"… and {len(report.parts_merged) - 10:,} more (meta.json: stats.parts.merged)")
                break
            shown.append(f"read track {merge.replace(' -> ', ' as part ')} (in {n:,} of {report.parts_pieces:,} pieces)")
        pieces = sum(report.pieces.values()) - report.transposed
        for split in report.empty_splits:
            option = f"--{split} {report.fractions[split]:g}"
            what = "validation" if split == "val" else split
            shown.append(warning(f"no piece fell in the {what} split ({option} of {pieces:,} pieces; a piece's split is fixed by a hash "
                                 f"of its file, never rebalanced): pass more pieces or a larger --{split}"))
        return shown

    def evaluate(self, run: Run, o: Values, log: Log) -> dict:
        voices_only(run.dataset_meta.get("level"), o.voice_leading)
        return super().evaluate(run, o, log)

    def sample(self, run: Run, o: Values, warn: Log) -> list[str]:
        """--num pieces, each stopped once it has --bars bars, written as --out's extension asks (or tokens)."""
        from dataclasses import replace

        from seqgen.models.generate import Guide
        from seqgen.music.output import DEFAULT_BARS, TOKENS_PER_BAR_CAP, SongWriter, cut, output_parts, read_primer
        from seqgen.music.tokens import parse_time_signature

        cfg, paths, device, model, tokenizer = self.ready_to_sample(run, o)
        opts = music_options(o)
        writer = SongWriter(opts, paths, cfg.num)
        ts_override = parse_time_signature(opts.time_signature) if opts.time_signature else None
        bars = opts.bars if opts.bars is not None else (None if opts.length_given else DEFAULT_BARS)
        if bars is not None and not opts.length_given:
            per_bar = tokenizer.tokens_per_bar(ts_override or tuple(tokenizer.settings.get("time_signature") or (4, 4)))
            cfg.length = bars * max(TOKENS_PER_BAR_CAP, 2 * per_bar) + 64

        guide = None
        if opts.harmonize is not None:
            prime_ids, prime_tempo, guide = harmonizing(tokenizer, opts, cfg)
            bars, primer_parts = None, {}
        else:
            prime_ids, prime_tempo, primer_parts = read_primer(tokenizer, opts, o.prime, o.prime_file, warn)
        parts = output_parts(tokenizer, opts, primer_parts)
        context = prime_ids or tokenizer.start_ids()
        rule = voice_leading(tokenizer, o.voice_leading, cfg, context, warn)
        if rule is not None:
            guide = Guide(rule=rule) if guide is None else replace(guide, rule=rule)
        clocks = []
        for _ in range(cfg.num):
            clock = tokenizer.clock()
            if ts_override:
                clock.piece.time_signature, clock.seen_ts = ts_override, True
            for i in context:
                clock.feed(tokenizer.vocab.tokens[i])
            clock.start_cursor = max(clock.cursor, clock.piece.end())  # generation continues from here
            clocks.append(clock)
        outputs: list[list[int]] = [[] for _ in range(cfg.num)]
        limits: list[int | None] = [None] * cfg.num
        done = [False] * cfg.num
        steps = self.draw(model, context, cfg, device, tokenizer, guide)
        for step in steps:
            for i, tok in enumerate(step):
                if tok is None or done[i]:
                    done[i] = done[i] or tok is None
                    continue
                outputs[i].append(tok)
                clock = clocks[i]
                clock.feed(tokenizer.vocab.tokens[tok])
                if bars is not None:
                    if limits[i] is None and (clock.seen_ts or clock.piece.notes or clock.cursor):
                        start = -(-max(clock.start_cursor, 0) // clock.bar()) * clock.bar()
                        limits[i] = start + bars * clock.bar()
                    if limits[i] is not None and clock.cursor >= limits[i]:  # type: ignore[operator]
                        done[i] = True
            if all(done):
                break

        results = []
        for i, (ids, clock) in enumerate(zip(outputs, clocks)):
            piece = clock.piece if limits[i] is None else cut(clock.piece, limits[i])  # type: ignore[arg-type]
            song = tokenizer.to_song(piece, tempo=opts.tempo or prime_tempo, velocity=opts.velocity, time_signature=ts_override, parts=parts)
            written = sum(len(t.notes) for t in song.tracks)  # duplicates within a part are written once
            sound = ""
            if writer.format == "tokens":
                text = "".join(tokenizer.render(prime_ids + ids)).rstrip("\n") + "\n"
                results.append(text)
                writer.write_text(text, paths[i] if paths else None, i, cfg.num)
            else:
                results.append(f"{written} notes")
                sound = writer.write(song, paths[i] if paths else None)
            if paths:
                bar = clock.bar()
                names = [t.name for t in song.tracks if t.notes]
                voices = f" in {len(names)} parts ({', '.join(names)})" if tokenizer.table is not None else ""
                warn(f"wrote {paths[i]}: {written} notes{voices}, {-(-piece.end() // bar)} bars of "
                     f"{piece.time_signature[0]}/{piece.time_signature[1]}{sound}")
        return results


def voices_only(level: str | None, mode: str | None) -> None:
    """--voice-leading is refused, on sample and eval alike, for a run not at the voices level."""
    from seqgen.errors import UsageError

    if mode is not None and level != "voices":
        raise UsageError(f"--voice-leading is for voices runs (prepare --level voices); this one is at the {level} level")


def voice_leading(tokenizer, mode: str | None, cfg, context: list[int], warn: Log):
    """The rule that keeps a voices run's samples free of parallel fifths and octaves and of crossed parts (unless
    --voice-leading free)."""
    voices_only(tokenizer.level, mode)
    if tokenizer.level != "voices" or mode == "free":
        return None
    if cfg.beam:
        warn("note: beam search ranks the model's own continuations, parallels and crossings included (--voice-leading holds when sampling)")
        return None
    return tokenizer.voice_leading(cfg.num, context)


def harmonizing(tokenizer, opts: MusicOptions, cfg) -> tuple[list[int], float | None, Guide]:
    """--harmonize: the context ids, the melody's tempo, and the guide that holds generation to the melody's
    skeleton (its part, bar marks and frame ends given; the model writes the other parts' pitches, holds and rests)."""
    import torch

    from seqgen.errors import InputError, UsageError
    from seqgen.models.generate import Guide
    from seqgen.music.output import read_melody
    from seqgen.music.voices import harmony_skeleton, is_voice_token

    if tokenizer.level != "voices":
        raise UsageError(f"--harmonize needs a voices run (prepare --level voices); this one is at the {tokenizer.level} level")
    if cfg.beam:
        raise UsageError("--harmonize samples (or decodes greedily); leave out --beam")
    melody = read_melody(tokenizer, opts.harmonize, opts.bars)
    context, schedule = harmony_skeleton(tokenizer, melody)
    index = tokenizer.vocab.index
    missing = sorted({t for t in schedule if t is not None and t not in index})
    if missing:
        raise InputError(f"the melody's {', '.join(missing[:4])} {'is' if len(missing) == 1 else 'are'} outside this run's vocabulary",
                         "transpose the melody into the range of the run's top voice, or prepare the run with --transpose")
    cfg.length = len(schedule)
    allowed = torch.tensor([is_voice_token(t) for t in tokenizer.vocab.tokens])
    return [index[t] for t in context], melody.tempo, Guide([index[t] if t is not None else None for t in schedule], allowed)


MUSIC = MusicKind()
