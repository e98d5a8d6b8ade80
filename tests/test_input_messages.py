"""Input errors said once and where the user finds them (issue 22, item 3): a misspelled or missing column once,
not once per row; a scenario key's problem on its YAML line; an unreadable table at the key that named it."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.errors import InputError, Problem
from planner.scenario import load_scenario
from planner.scenario_yaml import key_lines

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "data" / "examples" / "example"


@pytest.fixture
def example(tmp_path) -> Path:
    """The shipped example (90 demand rows) with the shipped catalog and sites beside it."""
    folder = tmp_path / "ex"
    folder.mkdir()
    for path in EXAMPLE.glob("*.csv"):
        (folder / path.name).write_bytes(path.read_bytes())
    for name in ("catalog.csv", "sites.csv"):
        (folder / name).write_bytes((ROOT / "data" / name).read_bytes())
    (folder / "scenario.yaml").write_text((EXAMPLE / "scenario.yaml").read_text().replace("../../", ""))
    return folder / "scenario.yaml"


def problems_of(path, overrides=None) -> list[str]:
    with pytest.raises(InputError) as caught:
        load_scenario(path, overrides)
    return [str(problem) for problem in caught.value.problems]


def edit_header(path: Path, old: str, new: str) -> None:
    header, rest = path.read_text().split("\n", 1)
    assert old in header.split(",")
    path.write_text(",".join(new if name == old else name for name in header.split(",")) + "\n" + rest)


def test_a_misspelled_value_column_is_one_problem_naming_the_file_and_the_closest_header(example):
    """The issue's case: `token_per_s` in demand.csv's header gave 91 lines (the header, then "value is required"
    on each of the 90 rows). Now one problem: the file, the header found and the column expected."""
    edit_header(example.parent / "demand.csv", "tokens_per_s", "token_per_s")
    assert problems_of(example) == [
        "demand.csv, row 1, column token_per_s: unknown column 'token_per_s': did you mean 'tokens_per_s'?"]


def test_a_misspelled_key_column_is_one_problem_not_a_broken_reference_per_row(example):
    """`wrkload` for workloads.csv's key column made every demand row's workload "unknown" (90 more lines)."""
    edit_header(example.parent / "workloads.csv", "workload", "wrkload")
    assert problems_of(example) == [
        "workloads.csv, row 1, column wrkload: unknown column 'wrkload': did you mean 'workload'?"]


def test_a_missing_column_is_one_problem_with_the_closest_header(example):
    """A required column deleted from the header (its cells kept under another name far from it): once."""
    edit_header(example.parent / "demand.csv", "tokens_per_s", "rate")
    assert problems_of(example) == ["demand.csv, row 1, column tokens_per_s: missing column 'tokens_per_s'"]


def test_a_scenario_keys_problem_names_its_line(example):
    """scenario.yaml: `start:` is line 2, `finance:` opens line 12 and `discount_rate` is its first key (line 13;
    the 2026 example names facility_options, contracts and fabric on lines 6, 7 and 8)."""
    text = example.read_text()
    assert text.splitlines()[1].startswith("start:") and text.splitlines()[12].strip().startswith("discount_rate:")
    example.write_text(text.replace("start: 2027Q1", "start: 2027Q9").replace("discount_rate: 0.08",
                                                                               "discount_rate: -1"))
    assert problems_of(example) == [
        "scenario.yaml, line 2, key start: 'start' must be a quarter like 2027Q1, got '2027Q9'",
        "scenario.yaml, line 13, key finance.discount_rate: 'finance.discount_rate' must be >= 0, got -1"]


def test_a_missing_table_names_the_key_and_line_that_named_it(example):
    """The issue's case: `../catalogue.csv: file not found` named no key. `catalog:` is line 4 of scenario.yaml."""
    assert example.read_text().splitlines()[3] == "catalog: catalog.csv"
    example.write_text(example.read_text().replace("catalog: catalog.csv", "catalog: ../catalogue.csv"))
    missing = (example.parent / "../catalogue.csv")
    assert problems_of(example) == [
        f"scenario.yaml, line 4, key catalog: ../catalogue.csv: file not found ({missing})"]


def test_a_table_named_by_an_override_is_reported_at_the_override(example, tmp_path):
    """A child whose `overrides:` names a missing demand file: the child's line 3, key overrides.demand."""
    child = tmp_path / "child.yaml"
    child.write_text("extends: ex/scenario.yaml\noverrides:\n  demand: nowhere.csv\n")
    assert problems_of(child) == [
        f"child.yaml, line 3, key overrides.demand: nowhere.csv: file not found ({tmp_path / 'nowhere.csv'})"]


def test_key_lines_of_sections_and_overrides():
    """Lines count from 1; a section's keys are dotted; an override keeps its own dotted key under overrides."""
    text = "name: x\nfinance:\n  discount_rate: 0.1\nplanning: {headroom: 0.2}\noverrides:\n  demand.scale: 2\n"
    assert key_lines(text, "s.yaml") == {"name": 1, "finance": 2, "finance.discount_rate": 3, "planning": 4,
                                         "planning.headroom": 4, "overrides": 5, "overrides.demand.scale": 6}


def test_a_yaml_problem_says_line_and_key_a_table_problem_row_and_column():
    assert str(Problem("s.yaml", "bad", row=3, column="finance")) == "s.yaml, line 3, key finance: bad"
    assert str(Problem("d.csv", "bad", row=3, column="nodes")) == "d.csv, row 3, column nodes: bad"
