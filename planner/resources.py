"""Where the shipped data lives, installed or not.

The repository keeps `data/` at the top level; the wheel installs it as the `planner.data` package. Looking in
both places lets the same code run from a checkout (tests) and from `pip install .` (any working directory).
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def shipped_data_dir() -> Path:
    installed = _PACKAGE_DIR / "data"  # the wheel's layout
    if (installed / "catalog.csv").is_file():
        return installed
    return _PACKAGE_DIR.parent / "data"  # a source checkout


def shipped_catalog_path() -> Path:
    return shipped_data_dir() / "catalog.csv"


def example_scenario_path() -> Path:
    return shipped_data_dir() / "examples" / "example" / "scenario.yaml"
