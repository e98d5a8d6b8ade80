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


# What the verifier may import of the project: the performance model, the quarter and unit conventions, PLAN.json's
# field names and types, the errors, the scenario's type (the inputs it recomputes from), and from the cost
# parameters only the names of the cost lines. Never the formulation, the sets, the LP layer, the extraction or a
# solver: its agreement with the optimiser must be evidence.
VERIFIER_MAY_IMPORT = {"models.performance", "models.quarters", "models.units", "models.plan_schema",
                       "models.errors", "models.cost_parameters", "models.scenario", "models.failures"}
# Modules whose assumptions (named constants with their sources) the verifier shares; it recomputes the mathematics.
VERIFIER_MAY_SHARE_CONSTANTS = {"models.failures"}


def test_the_verifier_stays_independent():
    path = ROOT / "models" / "verify.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules = [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules = [(node.module, [alias.name for alias in node.names])]
        else:
            continue
        for module, names in modules:
            if module.split(".")[0] not in ("models", "planner", "reports"):
                continue
            if module not in VERIFIER_MAY_IMPORT:
                found.append(f"models/verify.py:{node.lineno} imports {module}")
            elif module == "models.cost_parameters" and any("LINES" not in name for name in names or ["*"]):
                found.append(f"models/verify.py:{node.lineno} imports {', '.join(names or ['*'])} from "
                             f"models.cost_parameters (only cost-line names may be shared)")
            elif module in VERIFIER_MAY_SHARE_CONSTANTS and not all(name.isupper() for name in names or ["*"]):
                found.append(f"models/verify.py:{node.lineno} imports {', '.join(names or ['*'])} from "
                             f"{module} (only the named assumptions, UPPER_CASE constants, may be shared)")
    assert not found, "the verifier must recompute on its own:\n" + "\n".join(found)
