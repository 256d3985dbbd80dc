"""`.wav` output: a MIDI file rendered by fluidsynth with a General MIDI soundfont.

fluidsynth is a program the user installs (Debian `fluidsynth`, Homebrew `fluid-synth`), called with subprocess:
no Python dependency. The soundfont is `--soundfont FILE`, else the first General MIDI soundfont found where Debian,
Fedora, Arch and Homebrew put them. The WAV is written atomically (fluidsynth renders into a temporary file beside it).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

from seqgen.errors import SeqgenError, UsageError
from seqgen.files import atomic_write

INSTALL = ("install fluidsynth and a General MIDI soundfont: apt-get install fluidsynth fluid-soundfont-gm (Debian, Ubuntu), "
           "or brew install fluid-synth and pass --soundfont FILE.sf2 (macOS)")
# where packages put General MIDI soundfonts: Debian/Ubuntu (fluid-soundfont-gm, timgm6mb-soundfont), Fedora, Arch, Homebrew
SOUNDFONT_PLACES = ("/usr/share/sounds/sf2", "/usr/share/soundfonts", "/usr/share/sounds/sf3", "/usr/local/share/soundfonts",
                    "/opt/homebrew/share/soundfonts", "/opt/homebrew/share/fluid-synth", "/usr/local/share/fluid-synth")
PREFERRED = ("FluidR3_GM.sf2", "default-GM.sf2", "default.sf2")  # the fullest General MIDI sets first
SAMPLE_RATE = 44100
GAIN = 0.5  # fluidsynth's default 0.2 is quiet; 1.0 clips four loud voices


def find_fluidsynth() -> str:
    """The fluidsynth program; one line naming what to install when there is none."""
    found = shutil.which("fluidsynth")
    if not found:
        raise SeqgenError("writing .wav needs the fluidsynth program, which is not installed", INSTALL)
    return found


def find_soundfont(given: Path | None = None) -> Path:
    """`given` (which must exist), else the first General MIDI soundfont in SOUNDFONT_PLACES."""
    if given is not None:
        if not Path(given).is_file():
            raise UsageError(f"--soundfont: no such file: {given}")
        return Path(given)
    found = [Path(p) for place in SOUNDFONT_PLACES for p in sorted(glob.glob(f"{place}/*.sf[23]"))]
    for name in PREFERRED:
        for path in found:
            if path.name == name:
                return path
    if not found:
        raise SeqgenError(f"writing .wav needs a General MIDI soundfont, and none is in {', '.join(SOUNDFONT_PLACES[:3])}, …", INSTALL)
    return found[0]


def render_wav(midi: bytes, out: Path, synth: str, soundfont: Path) -> float:
    """Render MIDI bytes to `out` (16-bit WAV); returns its length in seconds."""
    with tempfile.TemporaryDirectory(prefix="seqgen-") as tmp:
        mid = Path(tmp) / "in.mid"
        mid.write_bytes(midi)

        def write(path: Path) -> None:
            cmd = [synth, "-ni", "-q", "-g", str(GAIN), "-r", str(SAMPLE_RATE), "-T", "wav", "-O", "s16", "-F", str(path), str(soundfont), str(mid)]
            try:
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise SeqgenError(f"fluidsynth failed: {exc}") from None
            if done.returncode != 0 or not os.path.getsize(path):
                last = (done.stderr or done.stdout).strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
                raise SeqgenError(f"fluidsynth could not render {out.name}: {last[0]}", f"check the soundfont {soundfont}")

        atomic_write(out, write)
    return wav_seconds(out)


def wav_seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()
