"""Settings chosen from the corpus, the budget and the machine: what the rule picks, that the user's options win,
that a resumed run keeps what was chosen, and the progress a log file sees."""

import json

import pytest
import torch

from seqgen.training import sizing
from seqgen.training.sizing import LADDER, Budget, affordable, choose, dropout_for, eval_every, plan


def shape_of(tokens, budget, rate=20_000.0, vocab=65, threads=1):
    shape, dropout, read = choose(tokens, vocab, "lstm", budget, rate, threads)
    return f"{shape.layers}x{shape.hidden}", dropout, read


@pytest.mark.parametrize(
    ("tokens", "minutes", "rate", "threads", "expected"),
    [
        # one CPU thread at ~20,000 tokens/s for the 2×256 reference: the grid's machine (benchmarks/sizing.md)
        (210_000, 1, 16_000, 1, ("2x128", 0.0)),  # a writer's 200 KB and one minute: the small model, no time to over-fit
        (210_000, 1, 20_000, 1, ("2x256", 0.2)),  # ... a little faster: the 2×256 reads 1.3 tokens per parameter (0.008 behind on the grid)
        (210_000, 3, 20_000, 1, ("2x256", 0.2)),  # three minutes: the 2×256 reads the poems 17 times over, so dropout
        (210_000, 15, 20_000, 1, ("2x512", 0.3)),  # fifteen: 30 times over, the most dropout
        (1_000_000, 1, 20_000, 1, ("2x128", 0.0)),
        (1_000_000, 3, 20_000, 1, ("2x256", 0.0)),  # tiny Shakespeare: 3.6 epochs, too few to memorise
        (1_000_000, 15, 20_000, 1, ("2x512", 0.2)),  # tiny Shakespeare, 15 minutes: 1.4005 with the mixture, the grid's best
        (10_000_000, 3, 20_000, 1, ("2x128", 0.0)),  # 10 MB: text not seen yet teaches a small model faster (1.3024 vs 1.3116)
        (10_000_000, 15, 16_000, 1, ("2x256", 0.0)),
        (1_000_000, 15, 40_000, 2, ("2x512", 0.2)),  # two threads read twice as much: more dropout
        (210_000, 3, 2_000, 1, ("2x128", 0.0)),  # a machine ten times slower can only afford the smallest
    ],
)
def test_the_rule_picks_the_model_the_grid_found_best(tokens, minutes, rate, threads, expected):
    name, dropout, read = shape_of(tokens, Budget(seconds=minutes * 60), rate, threads=threads)
    assert (name, dropout) == expected
    assert read == pytest.approx(minutes * 60 * rate * next(s.relative_speed(threads) for s in LADDER if f"{s.layers}x{s.hidden}" == name))


def test_a_faster_machine_or_a_longer_budget_never_chooses_a_smaller_model():
    sizes = [shape_of(1_000_000, Budget(seconds=s), rate)[0] for s, rate in ((60, 5_000), (60, 20_000), (180, 20_000), (900, 20_000), (3600, 20_000), (3600, 80_000))]
    order = [f"{s.layers}x{s.hidden}" for s in LADDER]
    assert [order.index(s) for s in sizes] == sorted(order.index(s) for s in sizes)


def test_a_step_or_epoch_budget_needs_no_measurement():
    # without a time budget the tokens read are known: steps × batch × sequence length, or epochs × corpus
    assert shape_of(1_000_000, Budget(steps=100), rate=None)[2] == 100 * 16 * 64
    assert shape_of(1_000_000, Budget(epochs=2.0), rate=None)[2] == 2_000_000
    found = plan(50_000, 5_000, 40, "lstm", Budget(steps=10), torch.device("cpu"), 1)
    assert found.reference_tokens_per_s is None and found.calibration_s == 0.0


def test_more_dropout_the_more_the_model_could_memorise_the_corpus():
    # exposure = epochs × (parameters / corpus)²: the grid's best dropout at 26 (none), 58 and 336 (0.2), 3,500 (0.3)
    assert [dropout_for(x) for x in (0.0, 3.5, 26.5, 58, 336, 3500)] == [0.0, 0.0, 0.0, 0.2, 0.2, 0.3]


def test_a_large_model_must_read_enough_and_more_so_on_text_it_has_not_seen():
    # 2×256 (0.92 M parameters) reading 3.4 M tokens: enough on tiny Shakespeare read 3.4 times over, not on 10 MB
    assert affordable(922_370, 3_440_000, 1_000_000)
    assert not affordable(922_370, 3_440_000, 10_000_000)
    assert not affordable(922_370, 1_000_000, 100_000)  # under 1.25 tokens per parameter, however small the corpus


def test_validation_costs_about_a_tenth_of_training():
    assert eval_every(10_000) == 500  # a small split: as before
    assert eval_every(550_000) == 1900  # 10 MB corpus, 5% validation


def test_measuring_the_machine_takes_a_fraction_of_a_second():
    torch.set_num_threads(1)
    rate, spent = sizing.measure_rate(65, "lstm", torch.device("cpu"))
    assert rate > 0 and spent < 1.2  # 2% of the shortest budget a user would give (one minute)


def test_a_run_without_size_options_records_the_choice_and_says_it_first(cli, tmp_path, char_dataset):
    res = cli("train", char_dataset, "--out", tmp_path / "r", "--time-limit", "2s", "--threads", "1")
    assert res.code == 0, res.err
    first = res.err.splitlines()[0]
    assert first.startswith("chose 2×") and "LSTM, dropout" in first and "2 s on CPU with 1 thread" in first and "epochs" in first
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    chosen = config["sizing"]
    assert chosen["budget"] == {"seconds": 2.0, "steps": None, "epochs": None} and chosen["threads"] == 1
    assert chosen["reference_tokens_per_s"] > 0 and chosen["train_tokens"] == json.loads((char_dataset / "meta.json").read_text())["splits"]["train"]
    for name in ("layers", "hidden", "embed", "dropout"):
        assert config["model"][name] == chosen["settings"][name]
    for name in ("batch", "seq_len", "lr", "eval_every", "warmup"):
        assert config["train"][name] == chosen["settings"][name]


def test_options_the_user_gives_always_win(cli, tmp_path, char_dataset):
    # a training option: the rule still sizes the model, the option stands
    assert cli("train", char_dataset, "--out", tmp_path / "a", "--max-steps", "3", "--lr", "0.01", "--eval-every", "7", "--quiet").code == 0
    config = json.loads((tmp_path / "a" / "config.json").read_text())
    assert config["sizing"] is not None and config["train"]["lr"] == 0.01 and config["train"]["eval_every"] == 7
    # a model size: the model is the user's, and the rest are the fixed defaults, as before the rule
    assert cli("train", char_dataset, "--out", tmp_path / "b", "--max-steps", "3", "--hidden", "40", "--quiet").code == 0
    config = json.loads((tmp_path / "b" / "config.json").read_text())
    assert config["sizing"] is None
    assert (config["model"]["hidden"], config["model"]["layers"], config["model"]["dropout"], config["train"]["batch"]) == (40, 2, 0.3, 16)


def test_a_resumed_run_keeps_the_settings_chosen_when_it_started(cli, tmp_path, char_dataset):
    run = tmp_path / "r"
    assert cli("train", char_dataset, "--out", run, "--max-steps", "4", "--quiet").code == 0
    before = json.loads((run / "config.json").read_text())
    res = cli("train", "--resume", run, "--max-steps", "8", "--time-limit", "10m")  # with a time budget, the rule would measure and size anew
    assert res.code == 0, res.err
    after = json.loads((run / "config.json").read_text())
    assert after["model"] == before["model"] and after["sizing"] == before["sizing"]
    assert "chose" not in res.err and "resuming" in res.err


def test_a_gpu_an_encoder_decoder_and_a_piano_roll_keep_the_fixed_defaults(char_dataset):
    from seqgen.config import ModelConfig, TrainConfig
    from seqgen.data.dataset import Dataset
    from seqgen.kinds.frames import FRAMES
    from seqgen.kinds.music import MUSIC
    from seqgen.kinds.pairs import PAIRS
    from seqgen.kinds.text import TEXT
    from seqgen.session import choose_settings
    from seqgen.training.distributed import SingleProcess

    said = []
    ds = Dataset.open(char_dataset)
    found = choose_settings(TEXT, ds, ModelConfig(vocab_size=len(ds.vocab)), TrainConfig(time_limit=60.0), {}, torch.device("cuda"), SingleProcess(), said.append)
    assert found is None and said == ["2×512 LSTM, dropout 0.3: the fixed defaults (the size rule is fitted on CPUs; it is not yet measured on CUDA devices)"]
    for kind in (PAIRS, FRAMES):
        assert choose_settings(kind, ds, ModelConfig(vocab_size=len(ds.vocab)), TrainConfig(time_limit=60.0), {}, torch.device("cpu"), SingleProcess(), said.append) is None
    music = choose_settings(MUSIC, ds, ModelConfig(vocab_size=len(ds.vocab)), TrainConfig(max_steps=10), {}, torch.device("cpu"), SingleProcess(), said.append)
    assert music is not None and said[-1].startswith("chose 2×")  # a music language model is sized as text is


def test_without_a_terminal_train_prints_a_progress_line_every_so_often(cli, tmp_path, char_dataset, monkeypatch):
    from seqgen.training import trainer

    monkeypatch.setattr(trainer, "PLAIN_EVERY", 0.0)  # every step, instead of every 30 s
    res = cli("train", char_dataset, "--out", tmp_path / "r", "--max-steps", "30", "--hidden", "16", "--embed", "8", "--eval-every", "10")
    assert res.code == 0, res.err
    lines = [line for line in res.err.splitlines() if "of the budget" in line]
    assert len(lines) == 30
    assert lines[0].startswith("step 1 · 3% of the budget") and lines[-1].startswith("step 30 · 100% of the budget")
    assert "val " in lines[-5] and "tok/s" in lines[-1] and lines[-1].endswith("0 s left")


def test_sample_and_eval_take_threads(cli, char_run):
    assert cli("sample", char_run, "--length", "5", "--threads", "1").code == 0
    assert torch.get_num_threads() == 1
    assert cli("eval", char_run, "--threads", "2").code == 0
    assert torch.get_num_threads() == 2
