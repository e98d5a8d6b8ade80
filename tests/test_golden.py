"""Bit-identical LP, PLAN.json, report tables and risk inputs on every test scenario (tests/golden/regenerate.py).

A refactor meant to change nothing leaves every fingerprint as it was; a change meant to change behaviour
regenerates them in the same commit (the regenerate script's docstring says how) and its diff shows what moved.
"""

import json

import pytest

from golden.regenerate import SCENARIOS, fingerprint, golden_path


def _differences(expected: dict, actual: dict, prefix: str = "") -> list[str]:
    found = []
    for key in sorted(set(expected) | set(actual)):
        was, now = expected.get(key), actual.get(key)
        if isinstance(was, dict) and isinstance(now, dict):
            found += _differences(was, now, f"{prefix}{key}.")
        elif was != now:
            found.append(f"{prefix}{key}: {'absent' if was is None else was} -> {'absent' if now is None else now}")
    return found


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_fingerprints_unchanged(name):
    expected = json.loads(golden_path(name).read_text())
    differences = _differences(expected, fingerprint(name))
    assert not differences, (f"{name}: {len(differences)} part(s) changed (a deliberate change regenerates them: "
                             "tests/golden/regenerate.py):\n" + "\n".join(differences))


def test_every_golden_has_its_scenario():
    """A golden left behind by a removed scenario would never be checked again."""
    stored = {path.stem for path in golden_path("x").parent.glob("*.json")}
    assert stored == set(SCENARIOS)
