"""What `seqgen eval` adds to a run's likelihood: baselines, continuation BLEU, self-BLEU, novelty, music statistics.

Every figure is computed on ids; the tokenizer is used only to turn ids into what BLEU and the music
statistics read (words for text, token strings for music, note lists for music statistics).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from seqgen.config import SampleConfig
from seqgen.data.dataset import Dataset
from seqgen.errors import InputError, UsageError
from seqgen.evaluation.bleu import corpus_bleu, self_bleu
from seqgen.evaluation.likelihood import Likelihood
from seqgen.evaluation.ngram import KneserNey, Unigram, dataset_ngram
from seqgen.models.generate import Guide, beam_search, continue_batch, generate
from seqgen.models.rnn_lm import RNNLanguageModel
from seqgen.training.checkpoint import Run

Log = Callable[[str], None]
NOVELTY_N = {"char": 8, "word": 4}  # n-gram length for novelty by level; music levels use 8 tokens (about 4 notes)


@dataclass
class EvalOptions:
    ngram: int = 5  # order of the Kneser–Ney baseline; 0 leaves it out
    bleu: bool = False  # also generate: continuation BLEU, self-BLEU, novelty, music statistics
    bleu_samples: int = 100  # held-out segments for continuation BLEU
    prompt_len: int = 100  # tokens the model reads from each segment
    cont_len: int = 100  # tokens it writes, scored against the segment's true continuation
    num: int = 10  # free samples for self-BLEU, novelty and music statistics
    length: int = 300  # tokens per free sample
    temperature: float = 1.0  # sampling temperature (continuations and free samples)
    greedy: bool = False  # continuations: most likely token at each step
    beam: int | None = None  # continuations: beam search of this width
    seed: int = 1234  # every random draw; the same seed gives the same figures
    novelty_n: int | None = None  # n-gram length for novelty (default by level, NOVELTY_N)
    voice_leading: str | None = None  # voices runs' free samples: "strict" (None: as `sample`; no parallels, no crossings) or "free"

    def check(self) -> None:
        if self.ngram < 0:
            raise UsageError(f"--ngram must be 0 (off) or an order of at least 1, got {self.ngram}")
        for name in ("bleu_samples", "prompt_len", "cont_len", "num", "length"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.novelty_n is not None and self.novelty_n < 1:
            raise UsageError(f"--novelty-n must be at least 1, got {self.novelty_n}")
        # the continuation's decoding follows `sample`'s rules (greedy/beam exclude each other and temperature)
        self.continuation_config().check()

    def continuation_config(self) -> SampleConfig:
        return SampleConfig(length=self.cont_len, temperature=self.temperature, greedy=self.greedy, seed=self.seed, beam=self.beam)

    def decoding(self) -> dict:
        method = "beam" if self.beam else "greedy" if self.greedy else "sample"
        return {"method": method, "temperature": None if method != "sample" else self.temperature, "beam": self.beam, "seed": self.seed}


def figures(lik: Likelihood) -> dict:
    """A likelihood as the report's keys."""
    return lik.figures()


def per_note(lik: Likelihood, notes: int) -> dict:
    """Music: the same summed loss spread over notes instead of tokens."""
    if not notes:
        return {"notes": 0, "nats_per_note": None, "perplexity_per_note": None}
    return {"notes": notes, "nats_per_note": lik.nll_sum / notes, "perplexity_per_note": math.exp(lik.nll_sum / notes)}


def note_mask(tokenizer) -> np.ndarray:
    """(V,) True for the ids that start a note (a pitch or a drum token); all False for text."""
    mask = np.zeros(len(tokenizer.vocab), dtype=bool)
    if tokenizer.kind != "music":
        return mask
    from seqgen.music.tokens import parse_pitch

    for i, tok in enumerate(tokenizer.vocab.tokens):
        mask[i] = parse_pitch(tok) is not None or tok.startswith("drum:")
    return mask


def baselines(train: np.ndarray, data: np.ndarray, vocab_size: int, order: int, notes: int | None, folder: Path | None = None) -> dict:
    """Unigram and Kneser–Ney n-gram models fitted on `train`, scored on `data` (every token after the first).

    With the dataset's `folder`, the n-gram is fitted once and kept there (`dataset_ngram`)."""
    out = {}
    ngram = (dataset_ngram(folder, train, vocab_size, order) if folder is not None else KneserNey(order, vocab_size).fit(train)) if order else None
    models = [("unigram", Unigram(vocab_size).fit(train))] + ([("ngram", ngram)] if ngram is not None else [])
    for name, model in models:
        lik = model.score(data)
        out[name] = {**({"order": order} if name == "ngram" else {}), **figures(lik), **(per_note(lik, notes) if notes is not None else {})}
    return out


# ---------------------------------------------------------------- generation figures


def bleu_unit(tokenizer) -> tuple[str, str]:
    """(what BLEU counts, sacrebleu tokenizer): words of the decoded text, or the music tokens themselves."""
    return ("token", "none") if tokenizer.kind == "music" else ("word", "13a")


def bleu_string(tokenizer, ids: list[int]) -> str:
    """One line for sacrebleu: decoded text with line breaks as spaces, or space-separated music tokens."""
    if tokenizer.kind == "music":
        return " ".join(tokenizer.vocab.tokens[i].replace(" ", "_") for i in ids)
    return " ".join(tokenizer.decode(ids).split())


def segments(ids: np.ndarray, count: int, prompt_len: int, cont_len: int) -> list[tuple[list[int], list[int]]]:
    """Up to `count` non-overlapping (prompt, continuation) windows, evenly spaced over `ids`."""
    size = prompt_len + cont_len
    fit = len(ids) // size
    if fit == 0:
        raise InputError(f"the held-out split has {len(ids):,} tokens, fewer than --prompt-len + --cont-len = {size}", "lower them")
    starts = (np.linspace(0, fit - 1, min(count, fit)).round().astype(np.int64)) * size
    return [(ids[s : s + prompt_len].astype(np.int64).tolist(), ids[s + prompt_len : s + size].astype(np.int64).tolist()) for s in starts]


def continuations(model: RNNLanguageModel, prompts: list[list[int]], opts: EvalOptions, device, batch: int = 64) -> list[list[int]]:
    out: list[list[int]] = []
    for i in range(0, len(prompts), batch):
        chunk = prompts[i : i + batch]
        if opts.beam:
            out += [best[0][0] for best in beam_search(model, chunk, opts.beam, opts.cont_len, device)]
        else:
            cfg = opts.continuation_config()
            cfg.seed = opts.seed + i  # each batch its own stream of draws, the whole run still fixed by --seed
            out += continue_batch(model, chunk, cfg, device)
    return out


def ngram_keys(ids: np.ndarray, n: int, vocab_size: int) -> np.ndarray:
    """One uint64 per n-gram of `ids`: exact when V^n fits in 64 bits, else a multiplicative hash (collisions ~2^-64)."""
    ids = np.asarray(ids, dtype=np.uint64)
    if len(ids) < n:
        return np.zeros(0, dtype=np.uint64)
    exact = n * math.log2(max(2, vocab_size)) <= 64
    base = np.uint64(vocab_size if exact else 0x9E3779B97F4A7C15)
    keys = np.zeros(len(ids) - n + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):
            keys = keys * base + ids[j : len(ids) - n + 1 + j] + np.uint64(0 if exact else 1)
    return keys


def novelty(samples: list[list[int]], train: np.ndarray, n: int, vocab_size: int) -> dict:
    """How much of the generated n-grams the training split already holds (a copying model: in_train near 1)."""
    train_keys = np.unique(ngram_keys(train, n, vocab_size))
    gen = np.concatenate([ngram_keys(np.asarray(s), n, vocab_size) for s in samples]) if samples else np.zeros(0, np.uint64)
    if len(gen) == 0:
        return {"n": n, "ngrams": 0, "in_train": None, "novel": None}
    share = float(np.isin(gen, train_keys).mean())
    return {"n": n, "ngrams": int(len(gen)), "in_train": share, "novel": 1.0 - share}


def piece_notes(tokenizer, ids: list[int]):
    """A music id sequence as (notes, bar length, beat length in quarters) for `seqgen.music.stats`; drums left out."""
    from seqgen.music.stats import Tone, beat_length

    piece = tokenizer.decode_piece(ids)
    spq = tokenizer.spq
    notes = [Tone(n.pitch, n.start / spq, n.dur / spq, n.part) for n in piece.notes if not n.drum]
    num, den = piece.time_signature
    return notes, num * 4 / den, beat_length(piece.time_signature)


def held_out_pieces(tokenizer, ids: np.ndarray, limit: int = 500) -> list[list[int]]:
    """The pieces of a music split (each begins with <bos>), at most `limit`, evenly spread."""
    bos = tokenizer.vocab.id_of("bos")
    starts = np.flatnonzero(np.asarray(ids) == bos).tolist() if bos is not None else []
    bounds = list(zip(starts, starts[1:] + [len(ids)]))
    if len(bounds) > limit:
        bounds = [bounds[i] for i in np.linspace(0, len(bounds) - 1, limit).round().astype(int)]
    return [np.asarray(ids[a:b], dtype=np.int64).tolist() for a, b in bounds]


def generation_report(run: Run, model: RNNLanguageModel, tokenizer, ds: Dataset, opts: EvalOptions, device, log: Log,
                      mixed: torch.nn.Module | None = None) -> dict:
    """Continuation BLEU on held-out segments, self-BLEU and novelty of free samples, music statistics."""
    unit, tokenize = bleu_unit(tokenizer)
    split = "test" if ds.meta["splits"]["test"] > 0 else "val"
    if split != "test":
        log("note: the dataset has no test split; continuation BLEU and music statistics use the validation split")
    held = ds.split(split)
    segs = segments(held, opts.bleu_samples, opts.prompt_len, opts.cont_len)
    hyps = continuations(model, [p for p, _ in segs], opts, device)
    score = corpus_bleu([bleu_string(tokenizer, h) for h in hyps], [[bleu_string(tokenizer, c) for _, c in segs]], tokenize)
    music = tokenizer.kind == "music"
    eos = tokenizer.vocab.id_of("eos")
    free = SampleConfig(length=opts.length, temperature=opts.temperature, num=opts.num, seed=opts.seed, stop_at_eos=music)
    rule = tokenizer.voice_leading(free.num, tokenizer.start_ids()) if tokenizer.level == "voices" and opts.voice_leading != "free" else None
    samples = generate(model, tokenizer.start_ids(), free, device, eos, Guide(rule=rule) if rule is not None else None)
    n = opts.novelty_n or NOVELTY_N.get(tokenizer.level, 8)
    report = {
        "decoding": {**opts.decoding(), **({"voice_leading": "free" if rule is None else "strict"} if tokenizer.level == "voices" else {})},
        "continuation": {"split": split, "segments": len(segs), "prompt_len": opts.prompt_len, "cont_len": opts.cont_len, "unit": unit, "bleu": score.to_dict()},
        "self_bleu": {"samples": opts.num, "length": opts.length, "temperature": opts.temperature, "unit": unit, "bleu": self_bleu([bleu_string(tokenizer, s) for s in samples], tokenize)},
        "novelty": {"unit": "character" if tokenizer.level == "char" else tokenizer.level if tokenizer.level == "word" else "token",
                    **novelty(samples, ds.split("train"), n, len(tokenizer.vocab))},
    }
    if mixed is not None:  # the n-gram's gain can be copying: the same figure for samples drawn from the mixture
        report["novelty_mixture"] = {**report["novelty"], **novelty(generate(mixed, tokenizer.start_ids(), free, device, eos), ds.split("train"), n, len(tokenizer.vocab))}
    if music:
        from seqgen.music.grade import grade_sets
        from seqgen.music.parts import is_voice
        from seqgen.music.stats import compare, compare_parts

        generated, held_out = [piece_notes(tokenizer, s) for s in samples], [piece_notes(tokenizer, p) for p in held_out_pieces(tokenizer, held)]
        report["music"] = compare(generated, held_out)
        report["music"]["split"] = split
        table = getattr(tokenizer, "table", None)
        if table is not None:  # a notes run with parts: each part beside its held-out self, and the voice leading
            names = {i: p.name for i, p in enumerate(table.parts) if not p.drum}
            report["music"].update(compare_parts(generated, held_out, names))
            if len(names) >= 2 and all(is_voice(name) for name in names.values()):  # sung voices: a grade for style
                report["music"]["grade"] = grade_sets(generated, held_out, names)
    return report


def extend_report(run: Run, model: RNNLanguageModel, tokenizer, data: np.ndarray, lik: Likelihood, opts: EvalOptions,
                  device: torch.device, log: Log, mixed: torch.nn.Module | None = None) -> dict:
    """The keys `seqgen eval` adds to the likelihood report (see README, "eval output")."""

    opts.check()
    out: dict = {"kind": tokenizer.kind, "ngram_order": opts.ngram or None}
    mask = note_mask(tokenizer)
    notes = int(mask[np.asarray(data[1:], dtype=np.int64)].sum()) if tokenizer.kind == "music" else None
    if notes is not None:
        out.update(per_note(lik, notes))
    ds_path = Path(run.config.get("dataset_path", ""))
    ds = Dataset.open(ds_path) if (ds_path / "meta.json").is_file() else None
    if ds is None or ds.meta.get("vocab") != run.dataset_meta.get("vocab"):
        log(f"note: the run's dataset {ds_path} is gone or changed; no baselines or generation figures")
        out["baselines"] = None
    else:
        out["baselines"] = baselines(ds.split("train"), data, len(tokenizer.vocab), opts.ngram, notes, ds.path)
        if opts.bleu:
            out["generation"] = generation_report(run, model, tokenizer, ds, opts, device, log, mixed)
    out["provenance"] = provenance(run, device, opts.seed, ds_path, vocab_digest(tokenizer.vocab.to_meta()))
    return out


def provenance(run: Run, device: torch.device, seed: int, dataset: Path, vocab_sha256: str) -> dict:
    """How a report was made: the versions that trained and evaluated, the device, the seed, the vocabulary and data."""
    import sacrebleu

    return {
        "trained_with": run.config.get("seqgen_version"),
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "sacrebleu_version": sacrebleu.__version__,
        "device": str(device),
        "seed": seed,
        "vocab_sha256": vocab_sha256,
        "dataset": str(dataset),
    }


def vocab_digest(vocabularies) -> str:
    """SHA-256 of a vocabulary's (or several vocabularies') meta.json form."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(vocabularies, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()

