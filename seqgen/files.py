"""Safe file writing and hashing: a reader never sees half a file, a crash never loses the old one."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from seqgen.errors import RunError, SeqgenError

_UMASK = os.umask(0)
os.umask(_UMASK)
WINDOWS = os.name == "nt"
REPLACE_PATIENCE_S = 2.0


def fsync_dir(path: Path) -> None:
    """Make the renames in `path` durable. Not on Windows: it cannot open a folder (NTFS journals renames itself)."""
    if WINDOWS:
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def replace(src: Path, dst: Path) -> None:
    """`os.replace`. On Windows a file another process has open (`sample` reading the weights beside a trainer)
    cannot be replaced until it is closed, so keep trying for a moment; POSIX replaces an open file at once."""
    deadline = time.monotonic() + REPLACE_PATIENCE_S
    while True:
        try:
            os.replace(src, dst)
            return
        except PermissionError:
            if not WINDOWS or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp)` on a temporary file beside `path`, fsync it, then rename it over `path`.

    The rename is atomic on POSIX, so `path` is always either the old complete file or the new one.
    """
    path = Path(path)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise SeqgenError(f"cannot write in {path.parent}: {exc.strerror or exc}", "check the folder's permissions and free space") from None
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the permissions open() would
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        replace(tmp, path)
        fsync_dir(path.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SeqgenError(
            f"cannot write {path}: {exc.strerror or exc}", "free some disk space or check permissions; the previous file is intact"
        ) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_description(folder: Path, name: str, fmt: str, version: int, kind: str) -> dict:
    """The JSON file that says what a seqgen folder is (a dataset's meta.json, a run's config.json), checked:
    a JSON object of format `fmt`, in a version this seqgen reads. One reader for both, so both refuse alike."""
    from seqgen import __version__

    file = Path(folder) / name
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunError(f"{file} is corrupt ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != fmt:
        raise RunError(f"{file} is not a seqgen {kind} description")
    found = data.get("format_version")
    if not isinstance(found, int) or found > version:
        raise RunError(
            f"{folder} was written by a newer seqgen ({data.get('seqgen_version', '?')}, {kind} format {found})",
            f"upgrade seqgen; this is {__version__}, which reads {kind} format {version}",
        )
    return data
