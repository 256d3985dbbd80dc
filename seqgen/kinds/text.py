"""Text: characters or words from files, folders, stdin or a built-in corpus; sampled as text to stdout or a file."""

from __future__ import annotations

import itertools
import sys
from typing import TYPE_CHECKING

from rich.table import Table

from seqgen.errors import UsageError
from seqgen.kinds.base import Log, Option, Values, in_panel, line_end, need_sources, write_text
from seqgen.kinds.common import PREPARE_NAMES, SAMPLE_NAMES
from seqgen.kinds.lm import LanguageModelKind

if TYPE_CHECKING:
    from seqgen.data.prepare import PrepareReport
    from seqgen.training.checkpoint import Run

PREPARE = in_panel(
    "Text",
    Option("glob", str, "*.txt", "File pattern inside folders."),
    Option("encoding", help="Text encoding (default: UTF-8, or the byte-order mark's); pairs: of their files."),
    Option("lowercase", bool, False, "Word and subword levels: lowercase the text."),
    Option("min_freq", int, 1, "Word level: rarer words become <unk>.", min=1),
    Option("max_vocab", int, help="Word level: keep at most this many tokens; subword level: learn this many pieces (bytes and specials included).",
           default_help="all; subword: 1000", min=3),
)


class TextKind(LanguageModelKind):
    name = noun = "text"
    levels = ("char", "word", "subword")
    level_help = "char, word or subword (sentencepiece, learnt from the training split) for text (default char)"
    options = {**LanguageModelKind.options, "prepare": PREPARE}
    takes = {**LanguageModelKind.takes, "prepare": PREPARE_NAMES, "sample": SAMPLE_NAMES}  # every common option: --prime, --beam, --stop-at-eos, ...
    ask = "pass --kind text"

    def claims(self, sources: list[str], o: Values) -> bool:
        return o.kind in (None, "text")  # what no other kind claims is text

    def prepare(self, sources: list[str], o: Values) -> PrepareReport:
        from seqgen.data.prepare import prepare_text

        need_sources(sources)
        val, test = 0.05 if o.val is None else o.val, 0.05 if o.test is None else o.test
        return prepare_text(sources, o.out, o.level or "char", val, test, o.force, o.glob, o.encoding, o.lowercase, o.min_freq, o.max_vocab)

    def summary(self, report: PrepareReport, seconds: float) -> list:
        table = Table(title=f"dataset {report.out} ({report.level} level, {seconds:.1f} s)", show_header=False)
        table.add_row("sources", f"{len(report.sources):,}")
        if report.skipped:
            table.add_row("skipped", f"{len(report.skipped):,}")
        table.add_row("characters", f"{report.characters:,}")
        for split, n in report.splits.items():
            table.add_row(f"{split} tokens", f"{n:,}")
        table.add_row("vocabulary", f"{report.vocab_size:,}")
        if report.level == "word":
            table.add_row("<unk> rate", f"{report.unk_rate():.2%}")
        return [table, *(f"skipped {name}: {reason}" for name, reason in report.skipped)]

    def sample(self, run: Run, o: Values, warn: Log) -> list[str]:
        """Streams one sample to stdout as it is drawn, or writes --num samples (to files with --out)."""
        from seqgen.data.text import read_text_chunks

        cfg, paths, device, model, tokenizer = self.ready_to_sample(run, o)
        prime_text = "".join(read_text_chunks(o.prime_file)) if o.prime_file is not None else o.prime or ""
        prime_ids = _prime_ids(tokenizer, prime_text, warn) if prime_text else []
        steps = self.draw(model, prime_ids or tokenizer.start_ids(), cfg, device, tokenizer)
        if cfg.num == 1 and not paths:
            tokens = (step[0] for step in steps if step[0] is not None)
            out_text = [prime_text]
            sys.stdout.write(prime_text)
            for piece in itertools.islice(tokenizer.render(itertools.chain(prime_ids, tokens)), len(prime_ids), None):
                sys.stdout.write(piece)
                if sys.stdout.isatty():
                    sys.stdout.flush()
                out_text.append(piece)
            text = "".join(out_text)
            sys.stdout.write(line_end(text))
            sys.stdout.flush()
            return [text]
        outputs: list[list[int]] = [[] for _ in range(cfg.num)]
        for step in steps:
            for sample_ids, tok in zip(outputs, step):
                if tok is not None:
                    sample_ids.append(tok)
        texts = [prime_text + "".join(itertools.islice(tokenizer.render(prime_ids + ids), len(prime_ids), None)) for ids in outputs]
        if paths:
            for path, text in zip(paths, texts):
                write_text(path, text + line_end(text))
                warn(f"wrote {path}")
        else:
            for i, text in enumerate(texts, 1):
                sys.stdout.write(f"--- sample {i} ---\n{text}{line_end(text)}")
            sys.stdout.flush()
        return texts


def _prime_ids(tokenizer, text: str, warn: Log) -> list[int]:
    ids, unknown = tokenizer.encode_text(text)
    if unknown:
        if tokenizer.vocab.id_of("unk") is None:
            missing = sorted({ch for ch in text if ch not in tokenizer.vocab.index})
            shown = ", ".join(repr(ch) for ch in missing[:10])
            raise UsageError(f"the primer has characters this run never saw: {shown}", f"the run knows {len(tokenizer.vocab)} characters; remove or replace those")
        warn(f"warning: {unknown} primer word(s) are not in the vocabulary and read as <unk>")
    return ids


TEXT = TextKind()
