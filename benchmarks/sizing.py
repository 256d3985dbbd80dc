"""Sizing benchmarks (issue 20): which settings a user's corpus and minutes call for, measured the way a user trains.

    python benchmarks/sizing.py corpora --workdir W             # the three corpora, prepared (offline once the .debs are here)
    python benchmarks/sizing.py grid --workdir W --budgets 1m,3m --corpora songs,shakespeare,pydocs --workers 2
    python benchmarks/sizing.py grid --workdir W --budgets 15m --settings chosen,old
    python benchmarks/sizing.py report --workdir W               # the tables of benchmarks/sizing.md from the results
    python benchmarks/sizing.py rule --workdir W                 # the size rule checked against every grid point

Corpora (prepared with `seqgen prepare`, char level):
- `songs`: the "songs-poems" file of Debian's `fortunes` package (234 KB of poems and song lyrics: a writer's kind of
  text, not code), 90/5/5.
- `shakespeare`: tiny Shakespeare from ../shared/corpora, `--val 0.1 --test 0` (the published split).
- `pydocs`: the reStructuredText sources of the Python 3.11 documentation (Debian's `python3.11-doc`, 497 files,
  11.0 MB), 90/5/5.
The two Debian packages are fetched with `apt-get download` (the package registry is reachable; nothing else is).

Each grid point is `seqgen train DATA --time-limit B --threads 1` pinned to one core (`taskset`), then `seqgen eval
--json` (network, n-gram and, once the run has one, the mixture). A setting is a list of train options; `chosen`
gives none (the rule decides), `old` is the fixed defaults before issue 20. Results are appended, one JSON object per
run, to W/grid.jsonl, so an interrupted grid continues where it stopped. Hold the CPU lock while measuring:
`flock -x /tmp/seqgen-cpu.lock python benchmarks/sizing.py grid ...`.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "corpora"

# name -> train options; every size option is given, so the rule never decides for a grid point
SETTINGS: dict[str, list[str]] = {
    "2x128": ["--layers", "2", "--hidden", "128", "--embed", "64", "--dropout", "0"],
    "2x128-d0.2": ["--layers", "2", "--hidden", "128", "--embed", "64", "--dropout", "0.2"],
    "2x256": ["--layers", "2", "--hidden", "256", "--embed", "128", "--dropout", "0"],
    "2x256-d0.2": ["--layers", "2", "--hidden", "256", "--embed", "128", "--dropout", "0.2"],
    "2x256-d0.3": ["--layers", "2", "--hidden", "256", "--embed", "128", "--dropout", "0.3"],
    "2x256-d0.4": ["--layers", "2", "--hidden", "256", "--embed", "128", "--dropout", "0.4"],
    "2x384": ["--layers", "2", "--hidden", "384", "--embed", "128", "--dropout", "0"],
    "2x384-d0.1": ["--layers", "2", "--hidden", "384", "--embed", "128", "--dropout", "0.1"],
    "2x384-d0.3": ["--layers", "2", "--hidden", "384", "--embed", "128", "--dropout", "0.3"],
    "2x512-d0.1": ["--layers", "2", "--hidden", "512", "--embed", "128", "--dropout", "0.1"],
    "2x512-d0.2": ["--layers", "2", "--hidden", "512", "--embed", "128", "--dropout", "0.2"],
    "old": ["--layers", "2", "--hidden", "512", "--embed", "128", "--dropout", "0.3"],
    "chosen": [],
}
COMMON = ["--batch", "16", "--seq-len", "64", "--lr", "3e-3"]  # the old defaults, fixed for every grid setting
CORPORA = ("songs", "shakespeare", "pydocs")


def seqgen(*args: object, core: int | None = None) -> subprocess.CompletedProcess:
    pin = ["taskset", "-c", str(core)] if core is not None else []
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([*pin, sys.executable, "-m", "seqgen", *map(str, args)], cwd=ROOT, env=env, capture_output=True, text=True)


def deb_member(package: str, work: Path) -> Path:
    """The package's files, extracted under W/deb/PACKAGE (apt-get download once)."""
    out = work / "deb" / package
    if out.is_dir():
        return out
    (work / "deb").mkdir(parents=True, exist_ok=True)
    subprocess.run(["apt-get", "download", package], cwd=work / "deb", check=True, capture_output=True)
    deb = next((work / "deb").glob(f"{package}_*.deb"))
    subprocess.run(["dpkg-deb", "-x", str(deb), str(out)], check=True)
    return out


def prepare_corpora(work: Path) -> dict[str, Path]:
    data = {name: work / "data" / name for name in CORPORA}
    if not (data["songs"] / "meta.json").is_file():
        songs = deb_member("fortunes", work) / "usr/share/games/fortunes/songs-poems"
        check(seqgen("prepare", songs, "--out", data["songs"], "--force"))
    if not (data["shakespeare"] / "meta.json").is_file() and (SHARED / "tinyshakespeare.txt").is_file():
        check(seqgen("prepare", SHARED / "tinyshakespeare.txt", "--out", data["shakespeare"], "--val", "0.1", "--test", "0", "--force"))
    if not (data["pydocs"] / "meta.json").is_file():
        docs = deb_member("python3.11-doc", work) / "usr/share/doc/python3.11/html/_sources"
        check(seqgen("prepare", docs, "--glob", "*.txt", "--out", data["pydocs"], "--force"))
    return {k: v for k, v in data.items() if (v / "meta.json").is_file()}


def check(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    if proc.returncode:
        raise RuntimeError(f"{' '.join(proc.args[:6])} exited {proc.returncode}: {proc.stderr[-800:]}")
    return proc


def eval_every(data: Path) -> int:
    """Validation passes cost at most ~10% of training: a pass reads the split about 3× faster than training does."""
    val = json.loads((data / "meta.json").read_text())["splits"]["val"]
    return max(500, -(-val // 300 // 100) * 100)


def one_run(work: Path, data: Path, corpus: str, budget: str, setting: str, core: int | None) -> dict:
    run = work / "runs" / f"{corpus}-{budget}-{setting}"
    options = [*SETTINGS[setting], *(COMMON if setting != "chosen" else [])]
    options += ["--eval-every", str(eval_every(data))] if setting != "chosen" else []
    start = time.time()
    proc = seqgen("train", data, "--out", run, "--time-limit", budget, "--threads", "1", "--quiet", "--force", *options, core=core)
    wall = time.time() - start
    if proc.returncode:
        return {"corpus": corpus, "budget": budget, "setting": setting, "error": proc.stderr[-600:]}
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    vals = [r["val_loss"] for r in rows if "val_loss" in r]
    rates = sorted(r["tokens_per_s"] for r in rows if "tokens_per_s" in r)
    config = json.loads((run / "config.json").read_text())
    result = {
        "corpus": corpus, "budget": budget, "setting": setting, "options": options, "wall_s": round(wall, 1),
        "steps": rows[-1]["step"], "tokens": rows[-1]["tokens"], "best_val": min(vals) if vals else None,
        "last_val": vals[-1] if vals else None, "tokens_per_s": rates[len(rates) // 2] if rates else None,
        "model": {k: config["model"][k] for k in ("layers", "hidden", "embed", "dropout")},
        "train": {k: config["train"][k] for k in ("batch", "seq_len", "lr", "eval_every", "warmup")},
        "first_line": proc.stderr.splitlines()[0] if proc.stderr else "",
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"), "load": round(os.getloadavg()[0], 2),
    }
    if "sizing" in config:
        result["sizing"] = config["sizing"]
    result.update(evaluate(run, core))
    return result


def evaluate(run: Path, core: int | None) -> dict:
    proc = seqgen("eval", run, "--split", "val", "--json", core=core)
    if proc.returncode:
        return {"eval_error": proc.stderr[-400:]}
    report = json.loads(proc.stdout)
    out = {"val_network": report["nats_per_token"], "ngram": (report.get("baselines") or {}).get("ngram", {}).get("nats_per_token")}
    if report.get("mixture"):
        out["val_mixture"] = report["mixture"].get("nats_per_token")
        out["mixture_weight"] = report["mixture"].get("weight")
    return out


def grid(args: argparse.Namespace) -> None:
    work = args.workdir
    data = prepare_corpora(work)
    results = work / "grid.jsonl"
    done = set()
    if results.is_file():
        for line in results.read_text().splitlines():
            r = json.loads(line)
            if "error" not in r:
                done.add((r["corpus"], r["budget"], r["setting"]))
    jobs: queue.Queue = queue.Queue()
    for budget in args.budgets.split(","):
        for corpus in args.corpora.split(","):
            for setting in args.settings.split(","):
                if corpus in data and (corpus, budget, setting) not in done:
                    jobs.put((corpus, budget, setting))
    print(f"{jobs.qsize()} runs to do", flush=True)
    lock = threading.Lock()

    def worker(core: int) -> None:
        while True:
            try:
                corpus, budget, setting = jobs.get_nowait()
            except queue.Empty:
                return
            result = one_run(work, data[corpus], corpus, budget, setting, core)
            if not args.keep_runs:
                (work / "runs" / f"{corpus}-{budget}-{setting}" / "state.pt").unlink(missing_ok=True)
            with lock, results.open("a") as fh:
                fh.write(json.dumps(result) + "\n")
            print(json.dumps({k: result.get(k) for k in ("corpus", "budget", "setting", "steps", "best_val", "val_mixture", "ngram", "error")}), flush=True)

    cores = [int(c) for c in args.cores.split(",")][: args.workers]
    threads = [threading.Thread(target=worker, args=(core,)) for core in cores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def mixtures(args: argparse.Namespace) -> None:
    """Fit the mixture of runs trained before `train` fitted one, and fill in their results (niced: grid runs go first)."""
    rows = load_results(args.workdir)
    extra = args.workdir / "grid-mixtures.jsonl"  # kept apart: the grid may be appending to grid.jsonl meanwhile
    for r in rows:
        run = args.workdir / "runs" / f"{r['corpus']}-{r['budget']}-{r['setting']}"
        if "error" in r or r.get("val_mixture") is not None or not run.is_dir():
            continue
        code = ("import sys, torch; from pathlib import Path; from seqgen.kinds.text import TEXT; from seqgen.data.dataset import Dataset; "
                "torch.set_num_threads(1); TEXT.after_training(Path(sys.argv[1]), Dataset.open(Path(sys.argv[2])), torch.device('cpu'), print)")
        check(subprocess.run(["nice", "-n", "19", sys.executable, "-c", code, str(run), str(args.workdir / "data" / r["corpus"])], cwd=ROOT,
                             capture_output=True, text=True))
        found = {k: r[k] for k in ("corpus", "budget", "setting")} | evaluate(run, None)
        with extra.open("a") as fh:
            fh.write(json.dumps(found) + "\n")
        print(json.dumps(found), flush=True)


def load_results(work: Path) -> list[dict]:
    """The grid's runs, with the mixtures fitted after the fact merged in."""
    rows = [json.loads(line) for line in (work / "grid.jsonl").read_text().splitlines()]
    extra = work / "grid-mixtures.jsonl"
    later = {}
    if extra.is_file():
        for line in extra.read_text().splitlines():
            r = json.loads(line)
            later[(r["corpus"], r["budget"], r["setting"])] = r
    for r in rows:
        if r.get("val_mixture") is None and (r["corpus"], r["budget"], r["setting"]) in later:
            r.update(later[(r["corpus"], r["budget"], r["setting"])])
    return rows


def report(args: argparse.Namespace) -> None:
    """The grid as Markdown tables: per corpus and budget, each setting's network and mixture beside the 5-gram."""
    rows = [r for r in load_results(args.workdir) if "error" not in r]
    out = []
    for corpus in CORPORA:
        for budget in ("1m", "3m", "15m", "60m"):
            here = [r for r in rows if r["corpus"] == corpus and r["budget"] == budget]
            if not here:
                continue
            ngram = here[0]["ngram"]
            grid = [r for r in here if r["setting"] != "chosen"]
            best_net = min(r["val_network"] for r in grid)
            best_mix = min((r["val_mixture"] for r in grid if r.get("val_mixture") is not None), default=None)
            out.append(f"\n**{corpus}, {budget}** (5-gram {ngram:.4f}; grid best: network {best_net:.4f}, mixture {_f(best_mix)})\n")
            out.append("| setting | model | steps | tokens/s | network | mixture (λ) | mixture − 5-gram | − grid best |")
            out.append("|---|---|---:|---:|---:|---:|---:|---:|")
            for r in sorted(here, key=lambda r: list(SETTINGS).index(r["setting"])):
                m = r["model"]
                mix = r.get("val_mixture")
                out.append(f"| {r['setting']} | {m['layers']}×{m['hidden']}, emb {m['embed']}, dropout {m['dropout']:g} | {r['steps']:,} | "
                           f"{r['tokens_per_s']:,.0f} | {r['val_network']:.4f} | {_f(mix)} ({_f(r.get('mixture_weight'), '.2f')}) | "
                           f"{_f(mix - ngram if mix is not None else None, '+.4f')} | {_f(mix - best_mix if mix is not None and best_mix else None, '+.4f')} |")
    text = "\n".join(out) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


def rule(args: argparse.Namespace) -> None:
    """The size rule (seqgen/training/sizing.py, `affordable`) against the grid: at each corpus and budget, the tokens
    each size read, tokens per parameter and the rule's second test (tokens² ÷ (parameters × corpus)), which sizes it
    would afford, the one it picks (the largest affordable) and how far that is from the best mixture measured.
    Each size's row is its best dropout setting."""
    from seqgen.config import ModelConfig
    from seqgen.data.dataset import Dataset
    from seqgen.training.sizing import FRESH_READING, TOKENS_PER_PARAMETER, affordable

    rows = [r for r in load_results(args.workdir) if "error" not in r and r["setting"] != "chosen" and r.get("val_mixture") is not None]
    datasets = {c: Dataset.open(args.workdir / "data" / c) for c in {r["corpus"] for r in rows}}
    best_of: dict[tuple, dict] = {}
    for r in rows:
        key = (r["corpus"], r["budget"], r["model"]["hidden"])
        if key not in best_of or r["val_mixture"] < best_of[key]["val_mixture"]:
            best_of[key] = r
    print(f"tokens per parameter ≥ {TOKENS_PER_PARAMETER:g} and tokens² ÷ (parameters × corpus) ≥ {FRESH_READING:g}\n")
    print("| corpus | budget | size (best dropout) | tokens | epochs | tokens/param | tokens²/(param·corpus) | affordable | mixture | |")
    print("|---|---|---|---:|---:|---:|---:|---|---:|---|")
    for corpus in CORPORA:
        for budget in ("1m", "3m", "15m", "60m"):
            here = sorted((r for (c, b, _), r in best_of.items() if (c, b) == (corpus, budget)), key=lambda r: r["model"]["hidden"])
            if not here:
                continue
            ds = datasets[corpus]
            size = len(ds.vocab)
            train = ds.meta["splits"]["train"]
            picks = [r for r in here if affordable(ModelConfig(vocab_size=size, **r["model"]).parameters(), r["tokens"], train)]
            pick = picks[-1] if picks else here[0]
            best = min(r["val_mixture"] for r in here)
            for r in here:
                p = ModelConfig(vocab_size=size, **r["model"]).parameters()
                mark = f"**picked** ({r['val_mixture'] - best:+.4f} from the best)" if r is pick else ""
                print(f"| {corpus} | {budget} | 2×{r['model']['hidden']}, {r['model']['dropout']:g} | {r['tokens'] / 1e6:.2f} M | {r['tokens'] / train:.1f} | "
                      f"{r['tokens'] / p:.2f} | {r['tokens'] ** 2 / (p * train):.1f} | {'yes' if r in picks else 'no'} | {r['val_mixture']:.4f} | {mark} |")


def _f(value, fmt: str = ".4f") -> str:
    return "—" if value is None else format(value, fmt)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("corpora", "grid", "mixtures", "report", "rule"))
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/sizing"))
    parser.add_argument("--budgets", default="1m,3m,15m")
    parser.add_argument("--corpora", default=",".join(CORPORA))
    parser.add_argument("--settings", default=",".join(s for s in SETTINGS if s != "chosen"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cores", default="0,1", help="one worker per core, in this order")
    parser.add_argument("--keep-runs", action="store_true", help="keep each run's optimizer state (large)")
    parser.add_argument("--out", type=Path, help="report: also write the tables here")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.what == "corpora":
        for name, path in prepare_corpora(args.workdir).items():
            print(name, path, json.loads((path / "meta.json").read_text())["splits"])
    else:
        {"grid": grid, "mixtures": mixtures, "report": report, "rule": rule}[args.what](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
