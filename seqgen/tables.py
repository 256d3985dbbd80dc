"""How `eval` and `bleu` reports look to a person: rich tables and plain lines built from the JSON report."""

from __future__ import annotations

from rich.table import Table

from seqgen.music.tokens import NAMES as PITCH_CLASSES


def _num(value, fmt: str = ".4f") -> str:
    return "n/a" if value is None else format(value, fmt)


def likelihood_table(report: dict) -> Table:
    """Measures down, models across: the network beside the baselines fitted on the training split."""
    unit = "character" if report.get("level") == "char" else "token"
    models = [("network", report)]
    mixture = report.get("mixture")
    if mixture:
        models.append((f"mixture (λ {mixture['weight']:.2f})", mixture))
    for name, fig in (report.get("baselines") or {}).items():
        models.append((f"{fig['order']}-gram KN" if name == "ngram" else "unigram", fig))
    table = Table(title=f"{report['run']} on {report['data']}")
    table.add_column("", no_wrap=True)
    for name, _ in models:
        table.add_column(name, justify="right", style="bold" if name == "network" else None)
    rows = [
        ("tokens scored", lambda f: f"{f['tokens']:,}"),
        (f"cross-entropy (nats/{unit})", lambda f: _num(f["nats_per_token"])),
        (f"bits per {unit}", lambda f: _num(f["bits_per_token"])),
        ("perplexity", lambda f: _num(f["perplexity"], ".3f")),
    ]
    if report.get("notes") is not None:
        rows.append(("perplexity per note", lambda f: _num(f.get("perplexity_per_note"), ".3f")))
    for label, cell in rows:
        table.add_row(label, *(cell(fig) for _, fig in models))
    notes = [f"unknown tokens {report['unknown']:,} ({report['unknown_rate']:.2%})", f"{report['weights']} sha256 {report['weights_sha256'][:12]}"]
    if len(models) > 1:
        notes.append("baselines fitted on the train split (unigram: add-one; KN: interpolated modified Kneser–Ney)")
    if mixture:
        notes.append(f"mixture: λ·network + (1−λ)·{mixture['order']}-gram, λ fitted on {mixture['fitted_on_val_tokens']:,} validation tokens; "
                     f"sample draws from the {mixture['sample_draws_from']}")
    table.caption = " · ".join(notes)
    warning = unknown_warning(report)
    if warning:
        table.caption += f"\n[bold yellow]{warning}[/]"
    return table


UNKNOWN_WARN_RATE = 0.01


def unknown_warning(report: dict) -> str | None:
    """A loud line when over 1% of the tokens were unknown: a score on them is not comparable with a clean text's.

    Characters outside a char-level vocabulary are left out of the score; words outside a word-level vocabulary
    are scored as <unk>, which is easy to predict. Either way the perplexity looks better than the text deserves."""
    if report["unknown_rate"] <= UNKNOWN_WARN_RATE:
        return None
    how = "scored as <unk>" if report.get("level") == "word" else "left out of the score"
    return (
        f"warning: {report['unknown_rate']:.1%} of the tokens ({report['unknown']:,}) are outside the run's vocabulary and were {how}; "
        "these figures are not comparable with those of a text the run knows"
    )


def generation_table(gen: dict) -> Table:
    table = Table(title="generation", show_header=False)
    dec = gen["decoding"]
    how = {"sample": f"sampling at temperature {dec['temperature']}", "greedy": "greedy", "beam": f"beam search, width {dec['beam']}"}[dec["method"]]
    cont, bleu = gen["continuation"], gen["continuation"]["bleu"]
    table.add_row("continuation BLEU", f"{bleu['score']:.2f}  ({'/'.join(f'{p:.1f}' for p in bleu['precisions'])}, BP {bleu['brevity_penalty']:.3f}, ratio {bleu['ratio']:.3f})")
    table.add_row("", f"{cont['segments']} {cont['split']} segments, {cont['prompt_len']} tokens read, {cont['cont_len']} written, {how}, seed {dec['seed']}; {cont['unit']}s")
    table.add_row("", bleu["signature"])
    sb = gen["self_bleu"]
    table.add_row("self-BLEU", f"{_num(sb['bleu'], '.2f')}  ({sb['samples']} samples × {sb['length']} tokens at temperature {sb['temperature']}; {sb['unit']}s; lower is more diverse)")
    nov = gen["novelty"]
    if nov["in_train"] is not None:
        table.add_row("novelty", f"{nov['novel']:.1%} of {nov['ngrams']:,} generated {nov['unit']} {nov['n']}-grams are not in the train split ({nov['in_train']:.1%} are)")
    mix = gen.get("novelty_mixture")
    if mix and mix["in_train"] is not None:
        table.add_row("", f"{mix['novel']:.1%} of the mixture's ({mix['in_train']:.1%} copied from the train split)")
    return table


def music_table(music: dict) -> Table:
    gen, ref = music["generated"], music["held_out"]
    table = Table(title=f"music statistics (held out: {music['split']} split)")
    for col in ("", "generated", "held out"):
        table.add_column(col, justify="left" if not col else "right")
    table.add_row("pieces / notes", f"{gen['pieces']} / {gen['notes']:,}", f"{ref['pieces']} / {ref['notes']:,}")
    table.add_row("pitch range (semitones, mean)", _num(gen["pitch_range"], ".1f"), _num(ref["pitch_range"], ".1f"))
    table.add_row("lowest–highest pitch", f"{gen['lowest_pitch']}–{gen['highest_pitch']}", f"{ref['lowest_pitch']}–{ref['highest_pitch']}")
    table.add_row("notes per bar", _num(gen["notes_per_bar"], ".2f"), _num(ref["notes_per_bar"], ".2f"))
    table.add_row("notes in key", _pct(gen["in_key"]), _pct(ref["in_key"]))
    table.add_row("repeated 4-note phrases", _pct(gen["repeated_phrases"]), _pct(ref["repeated_phrases"]))
    top = lambda h: " ".join(f"{PITCH_CLASSES[i]} {h[i]:.0%}" for i in sorted(range(12), key=lambda i: -h[i])[:4])  # noqa: E731
    table.add_row("commonest pitch classes", top(gen["pitch_class_histogram"]), top(ref["pitch_class_histogram"]))
    table.add_row("pitch-class distance", _num(music["pitch_class_distance"], ".3f"), "(total variation, 0 = same)")
    for label in gen["duration_histogram"]:
        g, r = gen["duration_histogram"][label], ref["duration_histogram"][label]
        if g or r:
            table.add_row(f"duration {label}", _pct(g), _pct(r))
    return table


def music_parts_table(music: dict) -> Table:
    """Each part beside its held-out self, then the voice leading of the two sets."""
    table = Table(title=f"music by part (held out: {music['split']} split)")
    for col in ("", "generated", "held out"):
        table.add_column(col, justify="left" if not col else "right")
    for row in music["parts"]:
        gen, ref, span = row["generated"], row["held_out"], row["held_out_range"]
        name = row["part"] + (f" ({span[0]}–{span[1]})" if span else "")
        table.add_row(f"{name}: notes", f"{gen['notes']:,}", f"{ref['notes']:,}")
        table.add_row("  in the held-out range", _pct(gen["in_range"]), _pct(ref["in_range"]))
        table.add_row("  changes per bar (on a beat)", f"{_num(gen['changes_per_bar'], '.2f')} ({_pct(gen['on_beat'])})",
                      f"{_num(ref['changes_per_bar'], '.2f')} ({_pct(ref['on_beat'])})")
    lead = music["voice_leading"]
    gen, ref = lead["generated"], lead["held_out"]
    table.add_row("voice crossings per bar", _num(gen["voice_crossings_per_bar"], ".3f"), _num(ref["voice_crossings_per_bar"], ".3f"))
    table.add_row("parallel fifths per 100 chord changes", _num(gen["parallel_fifths_per_100_changes"], ".2f"), _num(ref["parallel_fifths_per_100_changes"], ".2f"))
    table.add_row("parallel octaves per 100 chord changes", _num(gen["parallel_octaves_per_100_changes"], ".2f"), _num(ref["parallel_octaves_per_100_changes"], ".2f"))
    table.add_row("chord changes / bars", f"{gen['chord_changes']:,} / {gen['bars']:,}", f"{ref['chord_changes']:,} / {ref['bars']:,}")
    table.caption = f"voices top to bottom: {', '.join(lead['order'])}"
    return table


def grade_table(grade: dict) -> Table:
    """The grade for style (seqgen.music.grade): each feature's median distance, generated beside held out, then the grade."""
    table = Table(title=f"style grade: {grade['bars']}-bar excerpts against {grade['reference_pieces']} held-out pieces (lower is closer)")
    for col in ("", "generated", "held out", "scale"):
        table.add_column(col, justify="left" if not col else "right")
    for row in grade["features"]:
        table.add_row(row["feature"], _num(row["generated"], ".3f"), _num(row["held_out"], ".3f"), _num(row["scale"], ".3f"))
    g = grade["grade"]
    lo, hi = g["held_out_spread"]
    table.add_row("grade (median)", _num(g["generated_median"], ".2f"), _num(g["held_out_median"], ".2f"), "")
    table.caption = (f"held-out spread (10th–90th percentile of {grade['anchor_pieces']} pieces): {lo:.2f}–{hi:.2f}; "
                     f"generated at or under {hi:.2f}: {_pct(g['generated_within_spread'])}")
    return table


def _pct(value) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def pairs_tables(report: dict) -> list[Table]:
    """An encoder-decoder's report: target likelihood, then decoded outputs beside the baseline, then by length."""
    lik = Table(title=f"{report['run']} on {report['data']}", show_header=False)
    lik.add_row("pairs", f"{report['pairs']:,}")
    lik.add_row("target tokens scored (teacher forcing)", f"{report['tokens']:,}")
    lik.add_row("cross-entropy (nats/token)", _num(report["nats_per_token"]))
    lik.add_row("bits per token", _num(report["bits_per_token"]))
    lik.add_row("perplexity", _num(report["perplexity"], ".3f"))
    lik.caption = f"unknown target tokens {report['unknown']:,} ({report['unknown_rate']:.2%}) · {report['weights']} sha256 {report['weights_sha256'][:12]}"
    dec = report["decoding"]
    how = f"beam search, width {dec['beam']}, length penalty {dec['length_penalty']:g}" if dec["method"] == "beam" else "greedy"
    cap = dec.get("length_cap")
    most = (f"ceil({cap['slope']:g}·n + {cap['intercept']:g}) + 1 tokens for a source of n" if cap else f"{dec['max_length']} tokens"
            if dec.get("max_length") else "as many tokens as each source calls for")
    out = Table(title=f"decoded outputs ({how}, at most {most})")
    name, base = next(iter(report["baselines"].items()))
    out.add_column("")
    out.add_column("network", justify="right", style="bold")
    out.add_column(name.replace("_", " "), justify="right")
    base = base or {}
    rows = [("BLEU", lambda f: _num(f.get("bleu", {}).get("score"), ".2f")), ("chrF", lambda f: _num(f.get("chrf", {}).get("score"), ".2f")),
            ("exact match", lambda f: _pct(f.get("exact_match")))]
    if "chord_accuracy" in report:
        rows.append(("chord accuracy per beat", lambda f: _pct(f.get("chord_accuracy"))))
    for label, cell in rows:
        out.add_row(label, cell(report), cell(base))
    if "at_length_cap" in dec:
        out.add_row("outputs at the length cap", f"{dec['at_length_cap']:,} ({dec['at_length_cap_rate']:.1%})", "")
    refs = report.get("references", "text")
    out.caption = (f"references: {'as written in the source file' if refs == 'text' else refs}\n"
                   f"{report['bleu']['signature']}\n{report['chrf']['signature']}")
    lengths = Table(title="exact match by source length")
    for col in ("source tokens", "pairs", "exact match"):
        lengths.add_column(col, justify="right")
    for row in report["by_length"]:
        lengths.add_row(row["source_tokens"], f"{row['pairs']:,}", _pct(row["exact_match"]))
    examples = Table(title="examples", show_lines=False)
    for col in ("source", "output", "reference"):
        examples.add_column(col)
    for ex in report.get("examples", []):
        examples.add_row(ex["source"], ex["output"], ex["reference"])
    return [lik, out, lengths, examples]


def frames_table(report: dict) -> Table:
    """A frames run: negative log-likelihood per frame (the literature's figure) beside its two baselines."""
    models = [("network", report)] + [(f"{name} (baseline)", fig) for name, fig in (report.get("baselines") or {}).items()]
    table = Table(title=f"{report['run']} on {report['data']} ({report['pieces']:,} pieces, {report['grid']} frames)")
    table.add_column("", no_wrap=True)
    for name, _ in models:
        table.add_column(name, justify="right", style="bold" if name == "network" else None)
    for label, cell in (("frames scored", lambda f: f"{f['frames']:,}"), ("NLL per frame (nats)", lambda f: _num(f["nats_per_frame"])),
                        ("bits per frame", lambda f: _num(f["bits_per_frame"]))):
        table.add_row(label, *(cell(fig) for _, fig in models))
    table.caption = (f"{report['output']} output · {report['weights']} sha256 {report['weights_sha256'][:12]} · baselines fitted on the "
                     "train split (marginal: per-key frequencies; repeat: the previous frame, smoothed)")
    return table


def eval_tables(report: dict) -> list[Table]:
    if report.get("kind") == "pairs":
        return pairs_tables(report)
    if report.get("kind") == "frames":
        return [frames_table(report)]
    tables = [likelihood_table(report)]
    gen = report.get("generation")
    if gen:
        tables.append(generation_table(gen))
        if gen.get("music"):
            tables.append(music_table(gen["music"]))
            if gen["music"].get("parts"):
                tables.append(music_parts_table(gen["music"]))
            if gen["music"].get("grade"):
                tables.append(grade_table(gen["music"]["grade"]))
    return tables


def bleu_lines(report: dict) -> list[str]:
    """sacrebleu's own layout: the score line with its signature, then per-line scores with --sentence."""
    p = "/".join(f"{x:.1f}" for x in report["precisions"])
    lines = [
        f"BLEU = {report['score']:.2f} {p} (BP = {report['brevity_penalty']:.3f} ratio = {report['ratio']:.3f} "
        f"hyp_len = {report['hyp_len']} ref_len = {report['ref_len']})",
        report["signature"],
    ]
    for i, s in enumerate(report.get("sentences", []), 1):
        lines.append(f"{i}\tBLEU = {s['score']:.2f} {'/'.join(f'{x:.1f}' for x in s['precisions'])} (BP = {s['brevity_penalty']:.3f})")
    return lines
