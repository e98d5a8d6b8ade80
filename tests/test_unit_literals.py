"""Time conversions are named once: 2,190 h per quarter and 3,600 s per hour live in models/quarters.py and
models/units.py, so a second copy (which could drift, or be typed 2,160) fails here with its file and line.

Only literals that can mean nothing but a time conversion are searched for: 1,000 and 4 have too many honest
meanings (tokens, samples, GPUs) for a mechanical check.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOME = {"models/quarters.py", "models/units.py"}  # where the constants are defined
TIME_LITERALS = {2190: "HOURS_PER_QUARTER", 8760: "HOURS_PER_YEAR", 3600: "SECONDS_PER_HOUR"}


def time_literals(source: str, filename: str) -> list[str]:
    found = [node for node in ast.walk(ast.parse(source, filename=filename))
             if isinstance(node, ast.Constant) and type(node.value) in (int, float) and node.value in TIME_LITERALS]
    return [f"{filename}:{node.lineno}: {node.value:g} (use {TIME_LITERALS[node.value]})"
            for node in sorted(found, key=lambda node: (node.lineno, node.col_offset))]


def test_no_time_conversion_literal_outside_its_home():
    found = []
    for package in ("planner", "models", "reports", "bench"):
        for path in sorted((ROOT / package).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            if name not in HOME:
                found += time_literals(path.read_text(encoding="utf-8"), name)
    assert not found, "inline time conversions:\n" + "\n".join(found)


def test_the_search_sees_ints_floats_and_underscores_but_not_text():
    source = 'a = x * 2190.0\nb = 8_760\nc = "3600"\nd = 2190.5\n'
    assert time_literals(source, "m.py") == ["m.py:1: 2190 (use HOURS_PER_QUARTER)",
                                             "m.py:2: 8760 (use HOURS_PER_YEAR)"]
