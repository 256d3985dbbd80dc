"""What several test folders share besides fixtures: where the shared corpora live, and a symlink maker.

Importable as `helpers` from any test (pytest puts this folder on sys.path for its conftest.py)."""

from __future__ import annotations

import os
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpora"  # ../shared/corpora beside the clone; may be absent


def symlink(target: Path, link: Path) -> bool:
    """Make a symbolic link; False where the platform (or the user's rights) allows none, so a test checks the rest."""
    try:
        os.symlink(target, link, target_is_directory=target.is_dir())
    except (OSError, NotImplementedError):
        return False
    return True
