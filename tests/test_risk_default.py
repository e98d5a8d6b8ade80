"""`planner evaluate`'s default allocation is the optimal recourse (issue 22, item 2), labelled on the console, in
RISK.json and on the Risk sheet, with E[TCO] split into spend, shortfall rented on demand and penalties.

The hand-worked case is tests/test_stochastic.py's: one SKU bought at A (5 nodes by the stochastic plan, $12,000
each in service in 2027Q2) or rented on demand at $17,520 per node-quarter; two futures needing 5 and 15 nodes in
2027Q2; the unmet penalty ($1 M per tokens/s) is never cheaper than renting.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from test_stochastic import _scenario, _two_futures

from models.risk_inputs import build_risk_inputs
from models.risk_settings import allocation_label, risk_settings
from planner.cli import main
from planner.pipeline import build_plan
from planner.scenario import load_scenario
from planner.stochastic import optimal_recourse, run_stochastic_plan

ROOT = Path(__file__).resolve().parents[1]


def test_the_optimal_recourse_splits_each_futures_cost_by_hand(tmp_path):
    """5 nodes bought: the 5-node future costs $60,000 of spend and nothing else; the 15-node future $60,000 of
    spend + 10 nodes rented on demand, 10 × $17,520 = $175,200; no penalty in either. E[TCO] = $147,600 = spend
    $60,000 + rented $87,600 + penalties $0."""
    scenario = load_scenario(_scenario(tmp_path))
    plan = run_stochastic_plan(scenario, 2, backend="highs", futures=_two_futures()).document
    inputs = build_risk_inputs(scenario, plan, risk_settings(scenario))
    futures = _two_futures()
    out = optimal_recourse(build_plan(scenario), inputs, futures, plan, 60.0)
    split = out["split_usd"]
    order = np.argsort(out["costs_usd"])  # the 5-node future first
    assert split["spend_usd"][order] == pytest.approx([60_000.0, 60_000.0], rel=1e-9)
    assert split["on_demand_usd"][order] == pytest.approx([0.0, 175_200.0], rel=1e-9, abs=1e-6)
    assert split["penalty_usd"][order] == pytest.approx([0.0, 0.0], abs=1e-6)
    total = split["spend_usd"] + split["on_demand_usd"] + split["penalty_usd"]
    assert total == pytest.approx(out["costs_usd"], rel=1e-12)


def test_evaluate_defaults_to_the_optimal_recourse_and_says_so(tmp_path):
    """No --allocation, no risk.allocation: the optimal recourse, named on the console and in RISK.json, whose
    E[TCO] split adds up to its mean."""
    path = _scenario(tmp_path)
    plan_path, risk_path = tmp_path / "plan.json", tmp_path / "risk.json"
    runner = CliRunner()
    assert runner.invoke(main, ["plan", str(path), "--json", str(plan_path), "--quiet", "--no-baselines",
                                "--solver", "highs"]).exit_code == 0
    result = runner.invoke(main, ["evaluate", str(path), "--plan", str(plan_path), "--samples", "20",
                                  "--json", str(risk_path)])
    assert result.exit_code == 0, result.output
    risk = json.loads(risk_path.read_text())
    assert risk["allocation"] == "optimal" and risk["allocation_label"] == allocation_label("optimal")
    assert f"allocation: optimal: {allocation_label('optimal')}" in result.output
    split = risk["expected_tco_usd"]
    assert split["spend_usd"] + split["on_demand_usd"] + split["penalty_usd"] == pytest.approx(
        risk["tco_usd"]["mean"], rel=1e-9)
    assert f"expected TCO ${split['total_usd']:,.0f} = spend ${split['spend_usd']:,.0f}" in result.output


def test_the_greedy_rules_stay_options_and_are_labelled(tmp_path):
    """--allocation plan-first (and -o, whose sheets need the JAX evaluator) run the greedy dispatch, named as such
    in RISK.json, on the console and on the workbook's Risk sheet."""
    from openpyxl import load_workbook

    path = _scenario(tmp_path)
    plan_path, risk_path, book = tmp_path / "plan.json", tmp_path / "risk.json", tmp_path / "plan.xlsx"
    runner = CliRunner()
    assert runner.invoke(main, ["plan", str(path), "--json", str(plan_path), "--quiet", "--no-baselines",
                                "--solver", "highs"]).exit_code == 0
    result = runner.invoke(main, ["evaluate", str(path), "--plan", str(plan_path), "--samples", "50", "--json",
                                  str(risk_path), "-o", str(book)])
    assert result.exit_code == 0, result.output
    risk = json.loads(risk_path.read_text())
    assert risk["allocation"] == "plan-first" and f"allocation: plan-first: {allocation_label('plan-first')}" \
        in result.output
    assert allocation_label("plan-first") in load_workbook(book)["Risk"]["A2"].value
    chosen = runner.invoke(main, ["evaluate", str(path), "--plan", str(plan_path), "--samples", "50",
                                  "--allocation", "cheapest-first"])
    assert chosen.exit_code == 0 and "allocation: cheapest-first: " in chosen.output


def test_a_scenarios_own_allocation_is_kept(tmp_path):
    """A scenario whose `risk:` names an allocation gets it without --allocation (RiskSettings.given)."""
    path = _scenario(tmp_path, risk={"allocation": "cheapest-first"})
    plan_path = tmp_path / "plan.json"
    runner = CliRunner()
    assert runner.invoke(main, ["plan", str(path), "--json", str(plan_path), "--quiet", "--no-baselines",
                                "--solver", "highs"]).exit_code == 0
    result = runner.invoke(main, ["evaluate", str(path), "--plan", str(plan_path), "--samples", "20"])
    assert result.exit_code == 0, result.output
    assert "allocation: cheapest-first: " in result.output
    assert load_scenario(path).risk.given == frozenset({"allocation"})


def test_a_training_only_plan_evaluates_under_the_optimal_recourse(tmp_path):
    """A scenario with no inference service has no demand rows: nothing to re-place, so the recourse is empty and
    every future costs the plan's first stage. With every spread at zero (demand, electricity, failures, slips)
    each future is the deterministic plan, so E[TCO] = PLAN.json's objective to the cent and no shortfall. Was a
    KeyError 'demand' traceback."""
    case = tmp_path / "case"
    case.mkdir()
    source = ROOT / "tests" / "cases" / "worked-example"
    for name in ("catalog.csv", "sites.csv"):
        (case / name).write_text((source / name).read_text())
    (case / "workloads.csv").write_text(
        "workload,kind,params_b,precision,tokens_b,start,deadline,context_tokens,min_tokens_per_s_per_user,sites,mfu\n"
        "train,training,8,bf16,500,2027Q1,2027Q2,,,,\n")
    (case / "scenario.yaml").write_text(
        "name: training-only\nstart: 2027Q1\nquarters: 2\ncatalog: catalog.csv\nsites: sites.csv\n"
        "workloads: workloads.csv\nfinance: {discount_rate: 0.08, capex_mode: depreciation}\n"
        "risk: {demand_sigma: 0, demand_common_sigma: 0, failure_rate: 0, slip_probability: 0, "
        "electricity_sigma: 0, samples: 20}\n")
    plan_path, risk_path = tmp_path / "plan.json", tmp_path / "risk.json"
    runner = CliRunner()
    result = runner.invoke(main, ["plan", str(case / "scenario.yaml"), "--json", str(plan_path), "--quiet",
                                  "--no-baselines", "--no-risk"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["evaluate", str(case / "scenario.yaml"), "--plan", str(plan_path),
                                  "--json", str(risk_path)])
    assert result.exit_code == 0, result.output
    risk = json.loads(risk_path.read_text())
    objective = json.loads(plan_path.read_text())["objective_usd"]
    assert risk["allocation"] == "optimal"
    assert risk["tco_usd"]["mean"] == pytest.approx(objective, abs=0.01)
    assert risk["expected_tco_usd"]["on_demand_usd"] == pytest.approx(0.0, abs=1e-6)
    assert risk["expected_tco_usd"]["penalty_usd"] == pytest.approx(0.0, abs=1e-6)
