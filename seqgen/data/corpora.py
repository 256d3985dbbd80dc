"""Built-in corpora by name, described by small JSON manifests (shipped as package data from corpora/).

Offline ones are read from what Python or an installed package ships; downloadable ones are fetched
once into the cache (~/.cache/seqgen, or $SEQGEN_CACHE) and checked against their SHA-256.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from seqgen.errors import InputError
from seqgen.files import sha256_file

DOWNLOAD_TIMEOUT_S = 30


@dataclass(frozen=True)
class Corpus:
    name: str
    kind: str  # text | music
    description: str
    source: str  # URL, or "python:<module>" for text Python ships
    licence: str
    sha256: str | None
    default_level: str
    offline: bool


def cache_dir() -> Path:
    return Path(os.environ.get("SEQGEN_CACHE") or Path.home() / ".cache" / "seqgen")


def manifests() -> dict[str, Corpus]:
    """Every built-in corpus, by name."""
    found: dict[str, Corpus] = {}
    for entry in resources.files("seqgen.corpora_manifests").iterdir():
        if entry.name.endswith(".json"):
            data = json.loads(entry.read_text(encoding="utf-8"))
            found[data["name"]] = Corpus(**data)
    return dict(sorted(found.items()))


def find(name: str) -> Corpus | None:
    return manifests().get(name)


def python_docs_text() -> str:
    """help() topics of the running Python, in a fixed order."""
    from pydoc_data import topics

    return "\n\n".join(topics.topics[key].strip("\n") for key in sorted(topics.topics)) + "\n"


def fetch(corpus: Corpus) -> Path:
    """Path of a downloadable corpus in the cache, downloading and checking it on first use."""
    target = cache_dir() / corpus.name / Path(corpus.source).name
    if target.is_file() and (corpus.sha256 is None or sha256_file(target) == corpus.sha256):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".download-")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(corpus.source, timeout=DOWNLOAD_TIMEOUT_S) as response:
            shutil.copyfileobj(response, out)
        if corpus.sha256 and sha256_file(tmp) != corpus.sha256:
            raise InputError(
                f"the download of {corpus.name!r} from {corpus.source} does not match its SHA-256",
                "try again later, or pass a local copy: seqgen prepare path/to/input.txt",
            )
        os.replace(tmp, target)
        return target
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise InputError(
            f"cannot download {corpus.name!r} ({reason})",
            f"with no network, pass a local copy instead: seqgen prepare path/to/input.txt, or place it at {target}",
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
