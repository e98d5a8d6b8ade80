"""Finance-grade answers: spend apart from shortfall penalties, the plan's problems said out loud, traceable money.

The mixed plan of tests/test_workbook.py (cash mode, discount rate 8 %/year, unmet_usd_per_unit $100,
unfinished_training_usd $1,000) is the hand-checkable case: `-2` may run only at site A, which holds 2 nodes of
1,000 tokens/s, and wants 2,500 tokens/s in 2027Q1, so 500 tokens/s go unmet there ($50,000 in quarter 0, discount
factor 1); the run `@x` (start 2027Q2, deadline 2027Q3) is left wholly undone, $1,000 charged in its deadline
quarter 2027Q3 (quarter 2, discount factor 1.08^(−2/4)).
"""

from __future__ import annotations

import re
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from planner.cli import main
from planner.pipeline import plan_document, run_plan
from planner.scenario import load_scenario
from reports.tables import PENALTY_LINES, SPEND_LINES
from test_workbook import FORMULA_LOOKALIKES, mixed_scenario, plans  # noqa: F401  (module-scoped fixture reused)

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "examples" / "example" / "scenario.yaml"

UNMET_USD = 500 * 100.0
UNFINISHED_USD = 1_000.0


def test_spend_and_penalty_lines_partition_the_objective():
    assert set(SPEND_LINES) == {"capex_usd", "depreciation_usd", "rent_usd", "energy_usd", "maintenance_usd",
                                "carbon_usd"}
    assert PENALTY_LINES == ("unmet_usd", "unfinished_training_usd")


def test_mixed_plan_splits_spend_from_penalties(plans):  # noqa: F811
    plan, _, _ = plans["mixed"]
    assert plan["totals"]["penalty_usd"] == pytest.approx(UNMET_USD + UNFINISHED_USD, rel=1e-9)
    assert plan["discounted_penalty_usd"] == pytest.approx(UNMET_USD + UNFINISHED_USD * 1.08 ** -0.5, rel=1e-9)
    spend = sum(row[line] for row in plan["costs"] for line in SPEND_LINES)
    assert plan["totals"]["spend_usd"] == pytest.approx(spend, rel=1e-12)
    assert plan["discounted_spend_usd"] + plan["discounted_penalty_usd"] == plan["objective_usd"]  # exactly


def test_worked_example_has_no_penalties(plans):  # noqa: F811
    plan, _, _ = plans["worked"]
    assert plan["discounted_penalty_usd"] == 0.0 and plan["totals"]["penalty_usd"] == 0.0
    assert plan["discounted_spend_usd"] == plan["objective_usd"]


# --- warnings -------------------------------------------------------------------------------------------------

def test_mixed_plan_names_every_shortfall_dearest_first(plans):  # noqa: F811
    """`-2` (500 tokens/s unmet in 2027Q1 × $100 = $50,000): site A, its only site, holds 2 nodes of 10 kW under a
    20 kW cap, so its power is full that quarter. `@x` (all of it undone, $1,000 at its 2027Q3 deadline)."""
    plan, _, _ = plans["mixed"]
    _, only_a, run = FORMULA_LOOKALIKES[0], FORMULA_LOOKALIKES[2], FORMULA_LOOKALIKES[3]
    unmet, unfinished = plan["warnings"]
    assert (unmet["kind"], unmet["workload"], unmet["quarters"]) == ("unmet_demand", only_a, ["2027Q1"])
    assert unmet["amount"] == pytest.approx(500) and unmet["cost_usd"] == pytest.approx(UNMET_USD)
    assert "power cap at A is full in 2027Q1" in unmet["cause"]
    assert (unfinished["kind"], unfinished["workload"], unfinished["quarters"]) == \
        ("unfinished_training", run, ["2027Q3"])
    assert unfinished["amount"] == pytest.approx(1.0) and unfinished["cost_usd"] == pytest.approx(UNFINISHED_USD)
    assert "power cap at A" in unfinished["cause"]
    assert unfinished["message"].startswith("@x: 100.0% of the run is not done by its 2027Q3 deadline, $1,000")


def test_warnings_open_the_summary_sheet(plans):  # noqa: F811
    plan, _, path = plans["mixed"]
    ws = openpyxl.load_workbook(path)["Summary"]
    assert ws["A3"].value.startswith("Problems in this plan (2)")
    assert [ws["A4"].value, ws["A5"].value] == [w["message"] for w in plan["warnings"]]
    ws = openpyxl.load_workbook(plans["worked"][2])["Summary"]
    assert ws["A3"].value.startswith("No shortfall")


def test_plan_command_prints_the_split_and_the_warnings(tmp_path):
    result = CliRunner().invoke(main, ["plan", str(mixed_scenario(tmp_path / "mixed")), "--time-limit", "30"])
    assert result.exit_code == 0, result.output
    # penalties: 50,000 in quarter 0 + 1,000 × 1.08^(−2/4) in quarter 2 = 50,962.25
    assert re.search(r"discounted spend \$[\d,.]+ \+ shortfall penalties \$50,962\.25 \(objective \$[\d,.]+\)",
                     result.output)
    assert "warning: -2: demand unmet in 2027Q1" in result.output
    assert "warning: @x: 100.0% of the run" in result.output


def test_shipped_example_warns_about_the_unfinished_405b_run():
    """The shipped example cannot finish train-405b-base by 2028Q2 (≈ 4.4 % undone at the optimum; a time-limited
    plan may leave a little more): the warning must name it, its deadline and a binding cap."""
    scenario = load_scenario(EXAMPLE)
    plan = plan_document(run_plan(scenario, time_limit_s=60))
    named = {w["workload"]: w for w in plan["warnings"]}
    warning = named["train-405b-base"]
    assert warning["kind"] == "unfinished_training" and warning["quarters"] == ["2028Q2"]
    assert 0.0 < warning["amount"] < 0.2
    assert warning["cost_usd"] == pytest.approx(warning["amount"] * 1e9)
    assert "texas" in warning["cause"]
