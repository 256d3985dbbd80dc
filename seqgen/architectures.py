"""Every kind of model seqgen trains: its settings, its network and its training task.

An architecture brings its settings (a dataclass in `seqgen.config`), its network (`seqgen.models`) and its training
task (`seqgen.training`); the trainer, run folders, checkpoints, resume, signals and torchrun are shared. Which one a
dataset trains is its kind's choice (`seqgen.kinds`). This module sits above models and training, like
`seqgen.levels` above the tokenizers, so none of them needs to know the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from seqgen.config import FramesConfig, ModelConfig, Seq2SeqConfig, TrainConfig
from seqgen.data.dataset import Dataset
from seqgen.data.frames import FramesDataset
from seqgen.data.pairs import PairsDataset
from seqgen.models.frames import FramesModel
from seqgen.models.rnn_lm import RNNLanguageModel
from seqgen.models.seq2seq import Seq2Seq
from seqgen.training.checkpoint import BEST, Run, load_weights
from seqgen.training.distributed import ProcessGroup
from seqgen.training.frames import FramesTask, check_pieces
from seqgen.training.pairs import PairsTask
from seqgen.training.streams import StreamTask, check_corpus_size
from seqgen.training.task import Task


@dataclass(frozen=True)
class Architecture:
    name: str  # what config.json records as "arch"
    config: type  # its model settings
    build: Callable[[Any], torch.nn.Module]  # settings -> network
    task: Callable[[Any, TrainConfig, ProcessGroup], Task]  # (dataset, training settings, process group) -> task
    open_dataset: Callable[[Path], Any]
    configure: Callable[[Any, dict], Any]  # (dataset, settings given on the command line) -> checked settings
    describe: Callable[[Any, Any], str]  # (settings, dataset) -> the line `train` prints first
    check_size: Callable[[Any, TrainConfig], None]  # refuse a dataset too small for the batch, before any folder is made

    @property
    def train_defaults(self) -> dict:
        """Training settings that differ from TrainConfig's for this model (its config says)."""
        return dict(self.config.TRAIN_DEFAULTS)


def _checked(cfg):
    """A model config whose values were checked (one line naming the first bad one)."""
    cfg.check()
    return cfg


def _lm_describe(cfg: ModelConfig, ds: Dataset) -> str:
    return f"{cfg.layers}×{cfg.hidden} {cfg.cell.upper()}, vocabulary {cfg.vocab_size:,}, {ds.meta['splits']['train']:,} training tokens"


LANGUAGE_MODEL = Architecture(
    name="rnn_lm",
    config=ModelConfig,
    build=RNNLanguageModel,
    task=StreamTask,
    open_dataset=Dataset.open,
    configure=lambda ds, given: _checked(ModelConfig(vocab_size=len(ds.vocab), **given)),
    describe=_lm_describe,
    check_size=lambda ds, tcfg: check_corpus_size(ds.meta["splits"]["train"], tcfg),
)

def _marks(ds: PairsDataset) -> tuple[int, ...]:
    """The source ids that mark each output's place (melody -> chords' beat marks); none for other pairs."""
    from seqgen.music.harmony import BAR_MARK, BEAT_MARK, has_beat_marks

    index = ds.source.vocab.index
    return tuple(index[t] for t in (BAR_MARK, BEAT_MARK) if t in index) if has_beat_marks(ds.meta) else ()


def _seq2seq_config(ds: PairsDataset, given: dict) -> Seq2SeqConfig:
    """A new encoder-decoder's settings. Sources that mark each output's place (melody -> chords with beat marks)
    default to `beats`: each chord reads its beat's mark (benchmarks/music.md: 0.50 validation nats against luong's
    0.95 at the same step)."""
    marks = _marks(ds)
    attention = given.get("attention") or ("beats" if marks else Seq2SeqConfig.attention)
    settings = {**given, "attention": attention, **({"marks": marks} if attention == "beats" else {})}
    return _checked(Seq2SeqConfig(src_vocab=len(ds.source.vocab), tgt_vocab=len(ds.target.vocab), **settings))


def _seq2seq_describe(cfg: Seq2SeqConfig, ds: PairsDataset) -> str:
    encoder = f"{'bidirectional ' if cfg.bidirectional else ''}{cfg.layers}×{cfg.hidden} {cfg.cell.upper()} encoder"
    attention = {"none": "no attention", "peek": "the source's summary at every step", "beats": "each output reading its beat's mark"}.get(
        cfg.attention, f"{cfg.attention} attention")
    return (f"{encoder}, {cfg.layers}×{cfg.hidden} decoder with {attention}, vocabularies {cfg.src_vocab:,} → {cfg.tgt_vocab:,}, "
            f"{ds.meta['splits']['train']:,} training pairs")


ENCODER_DECODER = Architecture(
    name="seq2seq",
    config=Seq2SeqConfig,
    build=Seq2Seq,
    task=PairsTask,
    open_dataset=PairsDataset.open,
    configure=lambda ds, given: _seq2seq_config(ds, given),
    describe=_seq2seq_describe,
    check_size=lambda ds, tcfg: None,  # PairsTask refuses a split smaller than one batch
)


def _frames_describe(cfg: FramesConfig, ds: FramesDataset) -> str:
    pieces, frames = ds.meta["stats"]["pieces"]["train"], ds.meta["splits"]["train"]
    return (f"{cfg.layers}×{cfg.hidden} {cfg.cell.upper()}, {cfg.output} output, 88 keys at {ds.grid} frames, "
            f"{pieces:,} training pieces ({frames:,} frames)")


FRAMES = Architecture(
    name="frames",
    config=FramesConfig,
    build=FramesModel,
    task=FramesTask,
    open_dataset=FramesDataset.open,
    configure=lambda ds, given: _checked(FramesConfig(**given)),
    describe=_frames_describe,
    check_size=lambda ds, tcfg: check_pieces(ds.meta["stats"]["pieces"]["train"], tcfg),
)

ARCHITECTURES: dict[str, Architecture] = {a.name: a for a in (LANGUAGE_MODEL, ENCODER_DECODER, FRAMES)}


def for_run(run: Run) -> Architecture:
    return ARCHITECTURES[run.arch]


def load_model_from(run: Run, name: str = BEST, device: torch.device | str = "cpu") -> torch.nn.Module:
    """The run's network with the weights file `name` (verified against its digest), on `device`."""
    return load_weights(run, for_run(run).build(run.model_config), name, device)
