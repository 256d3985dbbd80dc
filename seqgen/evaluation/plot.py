"""`seqgen plot`: training curves of a run, a piano roll of a MIDI file or score (a colour per part), or an attention
heat map (the encoder-decoder kind computes the weights, `seqgen.kinds.pairs.attention_map`), as a PNG.

matplotlib is an optional extra (`pip install 'seqgen[plot]'`); it is imported only here, with the Agg
backend, so plotting works without a display.
"""

from __future__ import annotations

import json
from pathlib import Path

from seqgen.errors import InputError, RunError, SeqgenError, UsageError
from seqgen.files import atomic_write


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SeqgenError("seqgen plot needs matplotlib, which is not installed", "pip install 'seqgen[plot]'") from None
    return plt


def read_metrics(path: Path) -> tuple[list[dict], list[dict], int]:
    """(train rows, validation rows, unreadable lines) of a metrics.jsonl."""
    train, val, bad = [], [], 0
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise RunError(f"cannot read {path}: {exc.strerror or exc}") from None
    for line in lines:
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            bad += 1  # a line cut short by a crash mid-write
            continue
        if not isinstance(row, dict) or not isinstance(row.get("step"), (int, float)):
            bad += 1
        elif isinstance(row.get("train_loss"), (int, float)):
            train.append(row)
        elif isinstance(row.get("val_loss"), (int, float)):
            val.append(row)
    return train, val, bad


def plot_run(run_dir: Path, out: Path) -> dict:
    """Training and validation loss (and the learning rate) against steps."""
    metrics = Path(run_dir) / "metrics.jsonl"
    if not metrics.is_file():
        raise RunError(f"{run_dir} has no metrics.jsonl", "train the run first (seqgen train)")
    train, val, bad = read_metrics(metrics)
    if not train and not val:
        raise RunError(f"{metrics} holds no loss rows yet", "plot again after the first logged step")
    title = Path(run_dir).name
    try:
        model = json.loads((Path(run_dir) / "config.json").read_text(encoding="utf-8"))["model"]
        title += f": {model['layers']}×{model['hidden']} {model['cell'].upper()}"
    except (OSError, ValueError, KeyError, TypeError):
        pass
    plt = _pyplot()
    has_lr = any(isinstance(r.get("lr"), (int, float)) for r in train)
    fig, axes = plt.subplots(2 if has_lr else 1, 1, figsize=(9, 6.5 if has_lr else 4.5), sharex=True, squeeze=False,
                             gridspec_kw={"height_ratios": [3, 1]} if has_lr else None)
    ax = axes[0][0]
    if train:
        ax.plot([r["step"] for r in train], [r["train_loss"] for r in train], lw=1, color="tab:blue", label="train")
    if val:
        ax.plot([r["step"] for r in val], [r["val_loss"] for r in val], "o-", ms=4, lw=1.5, color="tab:orange", label="validation")
        best = min(val, key=lambda r: r["val_loss"])
        ax.annotate(f"best {best['val_loss']:.3f}", (best["step"], best["val_loss"]), textcoords="offset points", xytext=(0, -14), ha="center", fontsize=8)
    ax.set_ylabel("loss (nats/token)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    if has_lr:
        lr_ax = axes[1][0]
        lr_ax.plot([r["step"] for r in train if "lr" in r], [r["lr"] for r in train if "lr" in r], lw=1, color="tab:green")
        lr_ax.set_ylabel("learning rate")
        lr_ax.grid(alpha=0.3)
    axes[-1][0].set_xlabel("step")
    _save(fig, out, plt)
    return {"out": str(out), "train_rows": len(train), "val_rows": len(val), "skipped_lines": bad}


def plot_midi(path: Path, out: Path) -> dict:
    """A piano roll: a colour per part (track), named in the legend, time in quarter notes, bar lines from the time
    signature. A MIDI file or a score (its first piece)."""
    from seqgen.music.tokens import read_songs

    try:
        song = read_songs(path)[0]
    except InputError as exc:
        raise InputError(f"{path}: {exc.message}", exc.hint) from None
    tracks = [t for t in song.tracks if t.notes]
    if not tracks:
        raise InputError(f"{path} holds no notes to draw")
    tpq = song.ticks_per_quarter
    end = max(e for t in tracks for _, e, _, _ in t.notes) / tpq
    pitches = [p for t in tracks for _, _, p, _ in t.notes]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(min(24, max(8, end / 8)), 5))
    colours = plt.get_cmap("tab10" if len(tracks) <= 10 else "tab20")
    for i, track in enumerate(tracks):
        colour = colours(i % colours.N)
        label = track.name or f"track {track.index}"
        for j, (start, stop, pitch, velocity) in enumerate(track.notes):
            ax.broken_barh([(start / tpq, max(stop - start, 1) / tpq)], (pitch - 0.4, 0.8), facecolors=colour,
                           alpha=0.45 + 0.55 * velocity / 127, label=label if j == 0 else None)
    num, den = song.time_signature or (4, 4)
    bar = num * 4 / den
    for b in range(int(end // bar) + 1):
        ax.axvline(b * bar, color="0.85", lw=0.6, zorder=0)
    ax.set_xlim(0, end)
    ax.set_ylim(min(pitches) - 2, max(pitches) + 2)
    ax.set_xlabel(f"quarter notes ({num}/{den}, bar lines in grey)")
    ax.set_ylabel("MIDI pitch")
    ax.set_title(f"{Path(path).name}: {sum(len(t.notes) for t in tracks):,} notes, {len(tracks)} part{'s' if len(tracks) > 1 else ''}")
    if len(tracks) > 1:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, title="parts", title_fontsize=8)
    _save(fig, out, plt)
    return {"out": str(out), "tracks": len(tracks), "notes": sum(len(t.notes) for t in tracks), "quarters": end}


def _save(fig, out: Path, plt) -> None:
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    try:
        fig.tight_layout()
        atomic_write(Path(out), lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    finally:
        plt.close(fig)


def draw_attention(weights, source: list[str], output: list[str], title: str, out: Path) -> None:
    """An attention heat map: output tokens down, source tokens across, weights in [0, 1] as grey levels."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(4, 0.35 * len(source) + 2), max(3, 0.35 * len(output) + 2)))
    ax.imshow(weights, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(source)), source, rotation=90)
    ax.set_yticks(range(len(output)), output)
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    ax.set_title(title)
    _save(fig, out, plt)


def checked_out(out: Path, force: bool) -> Path:
    """--out as given: a PNG, not overwritten without --force."""
    if out.suffix.lower() != ".png":
        raise UsageError(f"--out must be a .png file, not {out}")
    if out.exists() and not force:
        raise UsageError(f"{out} already exists", "pass --force to overwrite it, or choose another --out")
    return out


def plot(target: Path, out: Path | None, force: bool) -> dict:
    """A run folder gives loss curves (default RUN/loss.png); a MIDI file or score a piano roll (default beside it, .png)."""
    from seqgen.music.midi_io import MIDI_SUFFIXES
    from seqgen.music.scores import SCORE_SUFFIXES

    target = Path(target)
    if target.is_dir():
        out = Path(out) if out else target / "loss.png"
        do = lambda: plot_run(target, out)  # noqa: E731
    elif target.is_file() and target.suffix.lower() in MIDI_SUFFIXES + SCORE_SUFFIXES:
        out = Path(out) if out else target.with_suffix(".png")
        do = lambda: plot_midi(target, out)  # noqa: E731
    elif target.exists():
        raise UsageError(f"{target} is neither a run folder nor a MIDI file or score ({', '.join(MIDI_SUFFIXES + SCORE_SUFFIXES)})")
    else:
        raise UsageError(f"no such run folder or MIDI file: {target}")
    checked_out(out, force)
    return do()
