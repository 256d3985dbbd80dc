"""What a fresh install has is what pyproject.toml declares: every third-party import in seqgen/ must come from a
declared dependency (an optional extra only behind `except ImportError`), and none may reach into a private module.

This machine's Python may carry packages a user's does not (click was one: a clean install could not start seqgen
while every test passed), so the check reads the declarations, not what happens to be importable here.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "seqgen"


def _name(requirement: str) -> str:
    """'music21>=9.1' or 'pytest>=7; extra == "dev"' -> the normalized distribution name."""
    return re.sub(r"[-_.]+", "-", re.split(r"[\s<>=!~;\[(]", requirement.strip(), maxsplit=1)[0]).lower()


def declared() -> tuple[set[str], set[str]]:
    """(required, optional) distribution names from pyproject.toml."""
    try:
        import tomllib
    except ImportError:  # Python 3.10: the installed metadata says the same
        reqs = md.requires("seqgen") or []
        return {_name(r) for r in reqs if "extra ==" not in r}, {_name(r) for r in reqs if "extra ==" in r}
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    optional = {_name(r) for group in project.get("optional-dependencies", {}).values() for r in group}
    return {_name(r) for r in project["dependencies"]}, optional


@dataclass
class Import:
    file: Path
    line: int
    module: str  # the full dotted name
    guarded: bool  # inside a `try` that catches ImportError

    @property
    def top(self) -> str:
        return self.module.split(".")[0]

    def __str__(self) -> str:
        return f"{self.file.relative_to(REPO)}:{self.line}: import {self.module}"


def imports_of(path: Path) -> list[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    guarded: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(_catches_import_error(h) for h in node.handlers):
            guarded.update(id(sub) for stmt in node.body for sub in ast.walk(stmt))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Import(path, node.lineno, alias.name, id(node) in guarded) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(Import(path, node.lineno, node.module, id(node) in guarded))
    return found


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError") for n in names)


def third_party_imports() -> list[Import]:
    every = [imp for path in sorted(PACKAGE.rglob("*.py")) for imp in imports_of(path)]
    return [imp for imp in every if imp.top not in sys.stdlib_module_names and imp.top != "seqgen"]


def problems(imports: list[Import], required: set[str], optional: set[str], providers: dict[str, list[str]]) -> list[str]:
    """One line per import a fresh install would not satisfy; `providers` maps top-level modules to distributions."""
    found = []
    for imp in imports:
        private = [part for part in imp.module.split(".")[1:] if part.startswith("_")]
        if private:
            found.append(f"{imp}: {private[0]} is a private module of {imp.top}; it can move in any release")
        dists = {_name(d) for d in providers.get(imp.top, [])}
        if not dists:
            found.append(f"{imp}: no installed distribution provides {imp.top!r}; declare it in pyproject.toml")
        elif dists & required:
            continue
        elif dists & optional:
            if not imp.guarded:
                found.append(f"{imp}: {imp.top} is an optional extra; import it inside try/except ImportError")
        else:
            found.append(f"{imp}: {imp.top} comes from {', '.join(sorted(dists))}, which pyproject.toml does not declare")
    return found


def test_every_third_party_import_is_declared_and_public():
    required, optional = declared()
    imports = third_party_imports()
    assert {imp.top for imp in imports} >= {"torch", "typer", "rich", "numpy", "mido", "music21"}  # the walk sees them
    assert problems(imports, required, optional, md.packages_distributions()) == []


def test_the_check_catches_what_a_fresh_install_lacks(tmp_path):
    """The check itself: an undeclared package, a private module and an unguarded optional extra are each named."""
    module = tmp_path / "bad.py"
    module.write_text(
        "import click\n"
        "from typer._click.core import ParameterSource\n"
        "import matplotlib\n"
        "try:\n    import matplotlib.pyplot\nexcept ImportError:\n    pass\n"
        "import notinstalled\n"
    )
    imports = imports_of(module)
    for imp in imports:
        imp.file = PACKAGE / "bad.py"  # shown as if it were in the package
    providers = {"click": ["click"], "typer": ["typer"], "matplotlib": ["matplotlib"]}
    found = problems(imports, {"typer"}, {"matplotlib"}, providers)
    assert [p.split(":")[1] for p in found] == ["1", "2", "3", "8"], found
    assert "click comes from click, which pyproject.toml does not declare" in found[0]
    assert "_click is a private module of typer" in found[1]
    assert "matplotlib is an optional extra; import it inside try/except ImportError" in found[2]
    assert "no installed distribution provides 'notinstalled'" in found[3]


def test_every_package_folder_is_installed():
    """A folder of seqgen/ that pyproject.toml does not list is missing from a wheel, though an editable install finds it."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import pytest

        pytest.skip("reading pyproject.toml needs Python 3.11's tomllib")
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"])
    folders = {".".join(p.parent.relative_to(REPO).parts) for p in PACKAGE.rglob("*.py")}
    assert folders <= listed, folders - listed
    assert all((REPO / folder.replace(".", "/") / "__init__.py").is_file() for folder in folders)
