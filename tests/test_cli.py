"""The CLI's conventions: help, exit codes, one-line errors, --debug, `python -m seqgen` and the console script."""

import shutil
import subprocess
import sys
from pathlib import Path

import seqgen


def test_help_lists_every_option_with_defaults(cli):
    res = cli("train", "--help")
    assert res.code == 0
    for option in ("--cell", "--layers", "--hidden", "--embed", "--dropout", "--batch", "--seq-len", "--clip", "--lr", "--max-steps", "--epochs", "--time-limit", "--eval-every", "--patience", "--seed", "--device", "--quiet", "--resume"):
        assert option in res.out
    assert "[default: " in res.out  # which default: test_training.py::test_options_left_out_take_the_defaults_help_shows


def test_unknown_option_and_cell_exit_2(cli, char_dataset, tmp_path):
    res = cli("train", char_dataset, "--out", tmp_path / "r", "--cel", "lstm")
    assert res.code == 2 and "No such option" in res.err
    res = cli("train", char_dataset, "--out", tmp_path / "r", "--cell", "transformer")
    assert res.code == 2 and "Invalid value for '--cell'" in res.err and "transformer" in res.err
    res = cli("train", char_dataset, "--out", tmp_path / "r", "--time-limit", "soon")
    assert res.code == 2 and "not a duration" in res.err


def test_debug_shows_the_traceback(cli, tmp_path):
    res = cli("eval", tmp_path / "nowhere", "--debug")
    assert res.code == 2 and "Traceback" in res.err


def test_python_dash_m_and_the_console_script_work():
    script = shutil.which("seqgen", path=str(Path(sys.executable).parent))  # what `pip install` put beside this python
    assert script, f"no seqgen script beside {sys.executable}: install seqgen (pip install -e .)"
    for command in ([sys.executable, "-m", "seqgen"], [script]):
        version = subprocess.run([*command, "--version"], capture_output=True, text=True)
        assert (version.returncode, version.stdout) == (0, f"seqgen {seqgen.__version__}\n"), command
        help_ = subprocess.run([*command, "--help"], capture_output=True, text=True)
        assert help_.returncode == 0 and help_.stdout.startswith("Usage: seqgen [OPTIONS] COMMAND [ARGS]..."), command
        for verb in ("prepare", "train", "sample", "eval", "bleu", "plot", "corpora"):
            assert f"\n  {verb} " in help_.stdout, (command, verb)
