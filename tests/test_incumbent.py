"""Any plan the command computed is a candidate (issue 23, item 3): a baseline cheaper than the solver's incumbent
becomes the plan (planner/baselines.py `best_of_plan_and_baselines`), with the solver's bound and an honest status,
and the adopted plan passes the independent verifier."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from models.baselines import GREEDY, JUST_IN_TIME, SINGLE_SKU, with_procurement
from models.solve import FEASIBLE, OPTIMAL, SolveResult, solve
from models.verify import verify_plan
from planner.baselines import BaselineOptions, best_of_plan_and_baselines
from planner.pipeline import build_plan, complete_run, plan_document, solve_plan, solve_program
from planner.scenario import load_scenario
from scenario_files import OWNED_FREE_ENERGY, inference, sku, write_scenario

EXACT = BaselineOptions("scip", 30.0, 1e-9)


def two_sku_case(tmp_path):
    """Two SKUs at an owned site with free energy (idle at full power: busy work costs nothing), 5-year life, no
    maintenance, one quarter, no discounting, demand 1,000 tokens/s:

    - `a`: $40,000 / 20 quarters = $2,000 per node-quarter, 1,000 tokens/s per node;
    - `b`: $60,000 / 20 quarters = $3,000 per node-quarter, 2,000 tokens/s per node.

    Optimum: one `a`, $2,000. greedy buys the SKU cheapest per unit of work, one `b`: $3,000. single-sku: the
    cheaper of "only a" ($2,000) and "only b" ($3,000): $2,000. just-in-time: one quarter, no lead time: $2,000.
    LP relaxation: half a `b` node serves 1,000 tokens/s: 0.5 × $3,000 = $1,500.
    """
    path = write_scenario(tmp_path / "two-skus", catalog=[sku(), sku(sku="b", price_usd=60000)],
                          sites=[OWNED_FREE_ENERGY], workloads=[inference()], demand=[("chat", "2027Q1", 1000)],
                          throughput=[("chat", "a", 1000), ("chat", "b", 2000)])
    return load_scenario(path)


def time_limited_incumbent(built, bound_usd):
    """What a solve stopped by its clock can hand back: a feasible, dearer plan, here two `a` nodes ordered in
    2027Q1 (2 × $2,000 = $4,000), placement solved for them; status feasible, with `bound_usd` as its bound."""
    orders = pd.Series([2.0], index=pd.MultiIndex.from_tuples([(0, "A", "a")],
                                                               names=["order_quarter", "site", "sku"]))
    rentals = pd.Series(dtype=float, index=pd.MultiIndex.from_arrays([[], [], []], names=["quarter", "site", "sku"]))
    fixed = with_procurement(built.model.lp, orders, rentals)
    restricted = solve_program(_with_lp(built, fixed), "scip", 30.0, 1e-9, warm=False)
    assert restricted.objective == pytest.approx(4_000.0, abs=1e-6)
    return complete_run(built, SolveResult(FEASIBLE, "scip", restricted.x, restricted.objective, bound_usd, 1.0))


def _with_lp(built, lp):
    return dataclasses.replace(built, model=dataclasses.replace(built.model, lp=lp))


def test_a_cheaper_baseline_becomes_the_plan_and_verifies(tmp_path):
    """The $4,000 incumbent with the LP relaxation's $1,500 as its bound: single-sku's $2,000 plan (the first of the
    cheapest, ahead of just-in-time's equal $2,000) is adopted. Status: (2,000 − 1,500) / 2,000 = 25 % > the 1e-9
    gap, so "feasible", gap 0.25; the bound stays $1,500. Savings are against the adopted plan: greedy $1,000
    (1,000 / 3,000 = 33.3 %), single-sku and just-in-time $0."""
    scenario = two_sku_case(tmp_path)
    built = build_plan(scenario)
    relaxed = solve(built.model.lp, backend="highs", relax=True)
    assert relaxed.objective == pytest.approx(1_500.0, abs=1e-6)
    incumbent = time_limited_incumbent(built, relaxed.objective)

    plan, rows = best_of_plan_and_baselines(incumbent, EXACT)
    document = plan_document(plan, rows)
    assert document["objective_usd"] == pytest.approx(2_000.0, abs=1e-6)
    assert document["solver"] == "scip+baseline:single-sku:a"
    assert document["status"] == FEASIBLE
    assert document["bound_usd"] == pytest.approx(1_500.0, abs=1e-6)
    assert document["gap"] == pytest.approx(0.25, abs=1e-9)
    assert [(p["sku"], p["nodes"]) for p in document["purchases"]] == [("a", 1)]
    assert verify_plan(scenario, document) == []
    by_name = {row["name"]: row for row in document["baselines"]}
    assert by_name[GREEDY]["saving_usd"] == pytest.approx(1_000.0, abs=1e-6)
    assert by_name[GREEDY]["saving_pct"] == pytest.approx(1 / 3, abs=1e-9)
    assert by_name[SINGLE_SKU]["saving_usd"] == pytest.approx(0.0, abs=1e-6)
    assert "adopted as the plan" in by_name[SINGLE_SKU]["detail"]
    assert by_name[JUST_IN_TIME]["saving_usd"] == pytest.approx(0.0, abs=1e-6)
    assert "adopted" not in by_name[JUST_IN_TIME]["detail"]
    # Never "optimal" and dearer than a baseline beside it:
    assert all(row["objective_usd"] >= document["objective_usd"] - 1e-6 for row in document["baselines"])


def test_an_adopted_plan_within_the_bound_is_optimal(tmp_path):
    """The same $4,000 incumbent, but with the optimum's $2,000 as its bound (a solver that had proved the bound
    but not yet found the plan): the adopted $2,000 plan is within 0 of it, so "optimal", gap 0."""
    scenario = two_sku_case(tmp_path)
    built = build_plan(scenario)
    plan, rows = best_of_plan_and_baselines(time_limited_incumbent(built, 2_000.0), EXACT)
    document = plan_document(plan, rows)
    assert document["status"] == OPTIMAL and document["gap"] == pytest.approx(0.0, abs=1e-12)
    assert document["objective_usd"] == pytest.approx(2_000.0, abs=1e-6)
    assert verify_plan(scenario, document) == []


def test_the_solvers_optimum_is_kept_against_equal_baselines(tmp_path):
    """Solved to optimality, the plan is $2,000 and single-sku and just-in-time equal it: the solver's plan stays
    (a tie is no improvement), its solver field is plain scip, and every saving is ≥ 0."""
    scenario = two_sku_case(tmp_path)
    built = build_plan(scenario)
    optimal = solve_plan(built, backend="scip", time_limit_s=30, gap=1e-9)
    plan, rows = best_of_plan_and_baselines(optimal, EXACT)
    assert plan is optimal
    document = plan_document(plan, rows)
    assert document["solver"] == "scip" and document["status"] == OPTIMAL
    assert all(row["saving_usd"] >= -1e-6 for row in rows)
    assert not any("adopted" in row["detail"] for row in rows)
