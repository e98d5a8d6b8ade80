"""docs/architecture.md stays complete: every module has its own line, so the owner of a concern is one hop away.

A new module without a line fails here, naming it. Empty `__init__.py` files are packages, not modules, and need
no line.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
PACKAGES = ("planner", "models", "reports", "bench")


def documented_modules(text: str) -> set[str]:
    """Paths that open a bullet of the form "- `path/to/module.py`: what it does"."""
    return set(re.findall(r"^- `([\w/]+\.py)`: \S", text, flags=re.M))


def test_every_module_has_a_line():
    modules = {path.relative_to(ROOT).as_posix() for package in PACKAGES for path in (ROOT / package).rglob("*.py")
               if not (path.name == "__init__.py" and not path.read_text(encoding="utf-8").strip())}
    missing = sorted(modules - documented_modules(DOC.read_text(encoding="utf-8")))
    assert not missing, "docs/architecture.md has no line for:\n" + "\n".join(missing)


def test_the_line_pattern():
    text = "- `models/lp.py`: the LP layer\n- `models/x.py` no colon\n  - `models/y.py`: indented\n"
    assert documented_modules(text) == {"models/lp.py"}
