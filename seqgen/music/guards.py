"""What stands between a music parser and a file it cannot trust: a size cap before reading, a time cap while
parsing, and one InputError line for whatever the parser raises. MIDI files (mido) and scores (music21) share it."""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from seqgen.errors import InputError

T = TypeVar("T")


def read_capped(path: Path, cap_bytes: int, what: str) -> bytes:
    """A file's bytes, refused (InputError) when empty, over `cap_bytes` or unreadable; `what` names it: "a MIDI file"."""
    try:
        size = Path(path).stat().st_size
        if size > cap_bytes:
            raise InputError(f"{size / (1 << 20):.1f} MiB is over the {cap_bytes >> 20} MiB cap for {what}")
        if size == 0:
            raise InputError("empty file")
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}") from None


def parse_guarded(parse: Callable[[], T], seconds: float, failure: str) -> T:
    """`parse()`, stopped after `seconds`, with anything it raises turned into one InputError line that starts with
    `failure` ("unreadable MIDI data") and names the exception. A bug in a parser costs one file, never a batch."""
    try:
        with time_limit(seconds):
            return parse()
    except TimeLimitExceeded:
        raise InputError(f"took longer than {seconds:g} s to read") from None
    except InputError:
        raise
    except Exception as exc:  # parsers leak many types (OSError, EOFError, ValueError, KeyError, IndexError, ...)
        detail = str(exc).splitlines()[0][:120] if str(exc) else ""
        raise InputError(f"{failure} ({type(exc).__name__}{': ' + detail if detail else ''})") from None


class TimeLimitExceeded(BaseException):
    """Raised inside a parser that ran past its time cap. A BaseException so that parsers'
    own `except Exception` blocks (music21 has many) cannot swallow it."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Interrupt the body after `seconds` of wall time (SIGALRM; only in a main thread on POSIX, else no cap)."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread() and seconds > 0
    if not usable:
        yield
        return

    def on_alarm(signum, frame):
        raise TimeLimitExceeded()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    old_delay, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    started = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if old_delay:  # someone else's timer was running: give back what is left of it
            signal.setitimer(signal.ITIMER_REAL, max(1e-3, old_delay - (time.monotonic() - started)))
