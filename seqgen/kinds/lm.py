"""What text and music share: one token stream, one recurrent language model, and one `eval` (likelihood beside
the n-gram baselines; with --bleu, continuations, self-BLEU, novelty and, for music, music statistics)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from seqgen import __version__
from seqgen.config import MAX_SAMPLES
from seqgen.errors import InputError, UsageError
from seqgen.kinds.base import WEIGHTS, Kind, Log, Option, Values, in_panel, load_model, output_paths, refuse_existing, sample_config
from seqgen.kinds.common import EVAL_NAMES

if TYPE_CHECKING:
    import torch

    from seqgen.config import SampleConfig
    from seqgen.data.tokenizers import Tokenizer
    from seqgen.models.generate import Guide
    from seqgen.training.checkpoint import Run

EVAL = in_panel(
    "Text and music",
    Option("ngram", int, 5, "Order of the Kneser–Ney n-gram baseline fitted on the train split; 0 leaves it out.", min=0),
    Option("bleu", bool, False, "Also generate: continuation BLEU on held-out segments, self-BLEU and novelty of free samples, music statistics.", flags=("--bleu",)),
    Option("bleu_samples", int, 100, "--bleu: held-out segments (from the test split, else validation).", min=1),
    Option("prompt_len", int, 100, "--bleu: tokens of each segment the model reads.", min=1),
    Option("cont_len", int, 100, "--bleu: tokens it writes, scored against the true continuation.", min=1),
    Option("num", int, 10, "--bleu: free samples for self-BLEU, novelty and music statistics.", min=1, max=MAX_SAMPLES),
    Option("length", int, 300, "--bleu: tokens per free sample.", min=1),
    Option("temperature", float, 1.0, "--bleu: sampling temperature for continuations and free samples.", min=0.0),
    Option("greedy", bool, False, "--bleu: continuations take the most likely token."),
    Option("novelty_n", int, help="--bleu: n-gram length for novelty (default 8 characters, 4 words, 8 music tokens).", min=1),
)

SAMPLE = in_panel(
    "Text and music",
    Option("mix", bool, flags=("--mix/--no-mix",), help="Draw from the network mixed with the run's 5-gram, or from the network alone.",
           default_help="text: the mixture when it beat the network on validation (`train` fits it as it ends); music: the network"),
)


class LanguageModelKind(Kind):
    """A kind whose datasets are one stream of token ids (`seqgen.data.dataset`), modelled by `rnn_lm`."""

    model = "rnn_lm"
    sized = True  # fitted on text; on the chorales it chose as well (benchmarks/sizing.md, "Music")
    mix_by_default = True  # sample draws from the mixture when it beat the network on validation
    options = {"eval": EVAL, "sample": SAMPLE}
    takes = {"eval": EVAL_NAMES}

    def ready_to_sample(self, run: Run, o: Values) -> tuple[SampleConfig, list[Path], torch.device, torch.nn.Module, Tokenizer]:
        """What a language model's `sample` checks before any work (decoding settings, primer, output files), then
        loads: the settings, the output paths, the device, the network and the tokenizer."""
        from seqgen.levels import tokenizer_from_meta

        cfg = sample_config(o)
        cfg.check()
        if o.prime is not None and o.prime_file is not None:
            raise UsageError("give --prime or --prime-file, not both")
        if o.prime_file is not None and not Path(o.prime_file).is_file():
            raise UsageError(f"no such file: {o.prime_file}")
        paths = output_paths(o.out, cfg.num)
        refuse_existing(paths, o.force)
        device, model = load_model(run, o.weights, o.device)
        return cfg, paths, device, self.with_mixture(run, model, o, device), tokenizer_from_meta(run.dataset_meta)

    def with_mixture(self, run: Run, model: torch.nn.Module, o: Values, device: torch.device) -> torch.nn.Module:
        """The network, or the network mixed with the run's n-gram: by default when the mixture beat the network on
        validation (and the kind mixes by default); --mix asks for it whatever validation said, --no-mix never."""
        from seqgen.errors import RunError
        from seqgen.evaluation.mixture import load_run_mixture
        from seqgen.models.mixture import MixedLM

        if o.mix is False:
            return model
        found = load_run_mixture(run, WEIGHTS[o.weights])
        if isinstance(found, str):
            if o.mix:
                raise RunError(f"--mix: {found}", "sample with --no-mix, or train the run to its end (`seqgen train --resume RUN`)")
            return model
        fit, ngram = found
        if not (o.mix or (fit.better and self.mix_by_default)):
            return model
        return MixedLM(model, ngram, fit.weight).to(device)

    def after_training(self, run_path: Path, ds: Any, device: torch.device, log: Log) -> None:
        """Fit the mixture of the best weights with the training split's 5-gram, and say how it did on validation."""
        from seqgen.evaluation.mixture import fit_run_mixture
        from seqgen.training.checkpoint import open_run

        run = open_run(run_path)
        _, model = load_model(run, "best", str(device))
        fit = fit_run_mixture(run, ds, model, device, log)
        if fit is not None:
            use = ("sample draws from the network (the mixture gained nothing)" if not fit.better else
                   "sample draws from the mixture" if self.mix_by_default else "sample draws from it with --mix")
            log(f"mixture with the {fit.order}-gram: λ {fit.weight:.2f}, {fit.mixture:.4f} nats/token on {fit.tokens:,} validation tokens "
                f"(network {fit.network:.4f}, {fit.order}-gram {fit.ngram:.4f}); {use}")

    @staticmethod
    def draw(model: torch.nn.Module, context: list[int], cfg: SampleConfig, device: torch.device, tokenizer: Tokenizer,
             guide: Guide | None = None) -> Iterator[list[int | None]]:
        """Each step's new token for every sample (None once a sample has ended): beam search or sampling, as asked,
        held to `guide`'s skeleton when there is one (sampling only)."""
        from seqgen.models.generate import beam_steps, sample_steps

        if cfg.beam:
            return beam_steps(model, context, cfg, device, tokenizer.vocab.id_of("eos"))
        return sample_steps(model, context, cfg, device, tokenizer.vocab.id_of("eos"), guide)

    def evaluate(self, run: Run, o: Values, log: Log) -> dict:
        """Likelihood on a split or a file; with the options, baselines and generation figures (README, "eval output")."""
        import numpy as np

        from seqgen.evaluation.likelihood import Likelihood, token_nll
        from seqgen.evaluation.mixture import load_run_mixture
        from seqgen.evaluation.report import EvalOptions, extend_report
        from seqgen.levels import tokenizer_from_meta
        from seqgen.models.mixture import MixedLM, mixed_nll

        options = EvalOptions(ngram=o.ngram, bleu=o.bleu, bleu_samples=o.bleu_samples, prompt_len=o.prompt_len, cont_len=o.cont_len,
                              num=o.num, length=o.length, temperature=o.temperature, greedy=o.greedy, beam=o.beam, seed=o.seed,
                              novelty_n=o.novelty_n, voice_leading=o.voice_leading)
        options.check()
        device, model = load_model(run, o.weights, o.device)
        tokenizer = tokenizer_from_meta(run.dataset_meta)
        if o.file is not None:
            if not Path(o.file).is_file():
                raise UsageError(f"no such file: {o.file}")
            ids, unknown = tokenizer.encode_file(Path(o.file), o.encoding)
            data, label = np.asarray(ids, dtype=np.int64), str(o.file)
        else:
            ds = self.dataset_of(run, "evaluate a text file with --file instead")
            split = o.split or "val"
            data, label = ds.split(split), f"{split} split"
            unk = tokenizer.vocab.id_of("unk")
            unknown = int((data == unk).sum()) if unk is not None else 0
        if len(data) < 2:
            raise InputError(f"the {label} has fewer than 2 tokens to score", "evaluate on more text")
        nll = token_nll(model, data, run.train_config.batch, run.train_config.seq_len, device)
        assert nll is not None
        result = Likelihood(float(nll.sum()), len(nll))
        total = len(data) + (unknown if tokenizer.vocab.id_of("unk") is None else 0)
        report = {
            "run": str(run.path),
            "data": label,
            "level": run.dataset_meta.get("level"),
            "tokens": result.tokens,
            "unknown": unknown,
            "unknown_rate": unknown / total if total else 0.0,
            "nats_per_token": result.nats,
            "bits_per_token": result.bits,
            "perplexity": result.perplexity,
            "weights": WEIGHTS[o.weights],
            "weights_sha256": run.config["digests"][WEIGHTS[o.weights]],
            "seqgen_version": __version__,
        }
        found = load_run_mixture(run, WEIGHTS[o.weights])
        mixed = None
        if isinstance(found, str):
            report["mixture"], report["mixture_note"] = None, found
        else:
            fit, ngram = found
            p_net, p_ngram = np.exp(-nll), ngram.stream_probs(np.asarray(data))
            report["mixture"] = {
                "order": fit.order, "weight": fit.weight, "fitted_on_val_tokens": fit.tokens, "sample_draws_from": "mixture" if fit.better and self.mix_by_default else "network",
                **Likelihood(mixed_nll(p_net, p_ngram, fit.weight), len(nll)).figures(),
            }
            mixed = MixedLM(model, ngram, fit.weight).to(device)
        report.update(extend_report(run, model, tokenizer, data, result, options, device, log, mixed))
        return report
