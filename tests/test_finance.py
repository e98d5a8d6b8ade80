"""Finance-grade answers: spend apart from shortfall penalties, the plan's problems said out loud, traceable money.

The mixed plan of tests/test_workbook.py (cash mode, discount rate 8 %/year, unmet_usd_per_unit $100,
unfinished_training_usd $1,000) is the hand-checkable case: `-2` may run only at site A, which holds 2 nodes of
1,000 tokens/s, and wants 2,500 tokens/s in 2027Q1, so 500 tokens/s go unmet there ($50,000 in quarter 0, discount
factor 1); the run `@x` (start 2027Q2, deadline 2027Q3) is left wholly undone, $1,000 charged in its deadline
quarter 2027Q3 (quarter 2, discount factor 1.08^(−2/4)).
"""

from __future__ import annotations

import pytest

from reports.tables import PENALTY_LINES, SPEND_LINES
from test_workbook import FORMULA_LOOKALIKES, plans  # noqa: F401  (module-scoped fixture reused)

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
