"""The layers point one way (docs/architecture.md): planner/ → reports/ → models/, never back up.

The mathematics must know nothing of the command line, so a module under models/ or reports/ that imports
planner/ (or a models/ module that imports reports/) fails here with its file and line. Imports are read with
`ast`, so a forbidden import inside a function body counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# package → packages it must not import (the layers above it)
FORBIDDEN = {"models": ("planner", "reports"), "reports": ("planner",)}


def forbidden_imports(source: str, filename: str, forbidden: tuple[str, ...]) -> list[str]:
    """'file:line imports X' for every import of a forbidden top-level package in one module's source."""
    found = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            if name.split(".")[0] in forbidden:
                found.append(f"{filename}:{node.lineno} imports {name}")
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_lower_layers_do_not_import_upper_ones(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no modules found under {package}/"
    found = []
    for path in files:
        found += forbidden_imports(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)),
                                   FORBIDDEN[package])
    assert not found, "upward imports:\n" + "\n".join(found)


@pytest.mark.parametrize("source, expected", [
    ("from planner.errors import InputError\n", ["m.py:1 imports planner.errors"]),
    ("import os\n\ndef f():\n    import planner.cli\n", ["m.py:4 imports planner.cli"]),
    ("import reports.tables as t\n", ["m.py:1 imports reports.tables"]),
    ("from models.errors import Problem\nfrom . import sibling\nimport plannerish\n", []),
])
def test_the_checker_finds_each_kind_of_import(source, expected):
    """The checker itself: absolute, nested and aliased imports are caught with their line; relative imports
    and packages that merely start with the same letters are not."""
    assert forbidden_imports(source, "m.py", ("planner", "reports")) == expected
