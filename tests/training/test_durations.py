"""`--time-limit` reads durations as people write them: "1h30" is ninety minutes, not an hour and thirty seconds."""

import pytest

from seqgen.config import parse_duration
from seqgen.errors import UsageError


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("90m", 5400), ("1h30m", 5400), ("1h30", 5400), ("1h 30m", 5400), ("1.5h", 5400), ("5400s", 5400), ("5400", 5400),
        ("15m", 900), ("90s", 90), ("2m30", 150), ("1h0m30s", 3630), ("0.5m", 30), (" 3M ", 180),
    ],
)
def test_durations_as_people_write_them(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "-5m", "m", "", "1h1h", "30m1h", "1h30m20s5", "1 2", "1.5.3m", "15 minutes"])
def test_what_is_not_a_duration_is_refused_naming_the_option(text):
    with pytest.raises(UsageError, match="--time-limit .* is not a duration"):
        parse_duration(text)


def test_a_zero_duration_is_refused():
    with pytest.raises(UsageError, match="--time-limit must be positive"):
        parse_duration("0m")


def test_train_reads_ninety_minutes_into_its_config(cli, char_dataset, tmp_path):
    import json

    run = tmp_path / "r"
    res = cli("train", char_dataset, "--out", run, "--time-limit", "1h30", "--max-steps", "2", "--hidden", "16", "--embed", "8",
              "--batch", "4", "--seq-len", "16", "--quiet")
    assert res.code == 0, res.err
    assert json.loads((run / "config.json").read_text())["train"]["time_limit"] == 5400
