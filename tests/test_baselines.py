"""Baselines (models/baselines.py, planner/baselines.py): complete plans, verified, never below the optimum, and
worse than it by a hand-derived amount where the rule provably misses something."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from instance_generator import write_instance
from models.baselines import BASELINES, GREEDY, JUST_IN_TIME, SINGLE_SKU
from models.verify import verify_plan
from planner.baselines import BaselineOptions, baseline_run, compare_with_baselines
from planner.cli import main
from planner.pipeline import build_plan, plan_document, solve_plan
from planner.scenario import load_scenario
from scenario_files import CLOUD, OWNED_FREE_ENERGY, inference, sku, training, write_scenario

WORKED_EXAMPLE = Path(__file__).resolve().parent / "cases" / "worked-example" / "scenario.yaml"
EXACT = BaselineOptions("scip", 30.0, 1e-9)  # solved to optimality: a baseline's own best plan
RELATIVE = 1e-6


def optimum_and_baselines(scenario) -> tuple[dict, dict[str, dict]]:
    built = build_plan(scenario)
    optimum = plan_document(solve_plan(built, backend="scip", time_limit_s=30, gap=1e-9))
    return optimum, {name: plan_document(baseline_run(built, name, EXACT)) for name in BASELINES}


@pytest.mark.parametrize("seed", range(10))
def test_every_baseline_is_a_verified_plan_never_cheaper_than_the_optimum(tmp_path, seed):
    scenario = load_scenario(write_instance(tmp_path / f"instance-{seed}", seed))
    optimum, baselines = optimum_and_baselines(scenario)
    assert optimum["status"] == "optimal"
    for name, plan in baselines.items():
        assert verify_plan(scenario, plan) == [], name
        assert plan["solver"].startswith(f"baseline:{name}")
        assert plan["objective_usd"] >= optimum["objective_usd"] - RELATIVE * abs(optimum["objective_usd"]), name


def lead_time_case(folder: Path) -> Path:
    """One SKU `a` with a lead time of one quarter: $40,000 over 5 years = $2,000 depreciation per quarter in
    service, no maintenance, idle at full power at an owned site with free energy and no carbon; rentable at
    $1/GPU-h in a cloud site (8 GPUs × 2,190 h = $17,520 per node-quarter). Demand: nothing in 2027Q1, 1,000
    tokens/s in 2027Q2 at 1,000 tokens/s per node, i.e. one node. No discounting.

    - Optimum: order one node in 2027Q1, in service in 2027Q2: $2,000.
    - greedy: 2027Q2 needs a node; no pool has one; a purchase ordered in 2027Q2 − 1 = 2027Q1 is in service in
      time, so it buys it: $2,000, the optimum.
    - single-sku: one SKU in the catalog, so the optimum: $2,000.
    - just-in-time: in 2027Q1 it sees no need and orders nothing; in 2027Q2 the order that would serve it had to
      be placed in 2027Q1 (frozen at 0), and an order placed now is in service only after the horizon, so it rents
      one node for 2027Q2: $17,520, i.e. $15,520 more than the optimum.
    """
    return write_scenario(folder, catalog=[sku(lead_quarters=1, rent_usd_per_gpu_hour=1.0)],
                          sites=[OWNED_FREE_ENERGY, CLOUD], workloads=[inference()],
                          demand=[("chat", "2027Q2", 1000)], throughput=[("chat", "a", 1000)], quarters=2)


def test_just_in_time_rents_where_lookahead_would_have_ordered(tmp_path):
    optimum, baselines = optimum_and_baselines(load_scenario(lead_time_case(tmp_path / "lead")))
    assert optimum["objective_usd"] == pytest.approx(2_000.0, abs=1e-6)
    assert baselines[GREEDY]["objective_usd"] == pytest.approx(2_000.0, abs=1e-6)
    assert baselines[SINGLE_SKU]["objective_usd"] == pytest.approx(2_000.0, abs=1e-6)
    jit = baselines[JUST_IN_TIME]
    assert jit["objective_usd"] == pytest.approx(17_520.0, abs=1e-6)
    assert jit["purchases"] == [] and [(r["quarter"], r["site"], r["nodes"]) for r in jit["rentals"]] == [
        ("2027Q2", "cloud", 1)]
    assert jit["objective_usd"] - optimum["objective_usd"] == pytest.approx(15_520.0, abs=1e-6)


def test_greedy_buys_the_sku_cheapest_per_unit_of_work_not_per_plan(tmp_path):
    """Two SKUs at an owned site with free energy (idle at full power, so busy work costs nothing), 5-year life,
    no maintenance, one quarter, demand 1,000 tokens/s:

    - `a`: $40,000 → $2,000 per quarter, 1,000 tokens/s per node: $2.00 per tokens/s-quarter;
    - `b`: $60,000 → $3,000 per quarter, 2,000 tokens/s per node: $1.50 per tokens/s-quarter.

    greedy buys the SKU cheapest per unit of work, `b`, one node (half of it busy): $3,000. The optimum buys one
    `a`: $2,000. greedy is $1,000 worse. single-sku (best of "only a" $2,000 and "only b" $3,000) is the optimum,
    and so is just-in-time (no lead time, one quarter: nothing to look ahead to)."""
    path = write_scenario(tmp_path / "two-skus", catalog=[sku(), sku(sku="b", price_usd=60000)],
                          sites=[OWNED_FREE_ENERGY], workloads=[inference()], demand=[("chat", "2027Q1", 1000)],
                          throughput=[("chat", "a", 1000), ("chat", "b", 2000)])
    optimum, baselines = optimum_and_baselines(load_scenario(path))
    assert optimum["objective_usd"] == pytest.approx(2_000.0, abs=1e-6)
    greedy = baselines[GREEDY]
    assert [(p["sku"], p["nodes"]) for p in greedy["purchases"]] == [("b", 1)]
    assert greedy["objective_usd"] - optimum["objective_usd"] == pytest.approx(1_000.0, abs=1e-6)
    assert baselines[SINGLE_SKU]["objective_usd"] == pytest.approx(2_000.0, abs=1e-6)
    assert baselines[SINGLE_SKU]["solver"] == "baseline:single-sku:a"
    assert baselines[JUST_IN_TIME]["objective_usd"] == pytest.approx(2_000.0, abs=1e-6)


def test_single_sku_is_the_optimum_when_the_catalog_has_one_sku():
    """The worked example (tests/cases/worked-example/README.md) has one SKU, `h`: its only single-SKU plan is the
    optimum, $111,108.18; the savings row says 0."""
    scenario = load_scenario(WORKED_EXAMPLE)
    built = build_plan(scenario)
    optimal = solve_plan(built, backend="scip", time_limit_s=30, gap=1e-9)
    rows = {row["name"]: row for row in compare_with_baselines(optimal, EXACT)}
    assert rows[SINGLE_SKU]["objective_usd"] == pytest.approx(111_108.18, abs=0.01)
    assert rows[SINGLE_SKU]["saving_usd"] == pytest.approx(0.0, abs=1e-6)
    assert set(rows) == set(BASELINES) and all(row["status"] == "optimal" for row in rows.values())


def invoke(*args) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.output


def test_cli_baseline_plan_verifies_and_renders(tmp_path):
    """`plan --baseline` writes that baseline's own PLAN.json, which `verify` accepts and `report` renders; the
    optimal plan's PLAN.json and console line carry the savings against every baseline."""
    scenario = lead_time_case(tmp_path / "lead")
    baseline_path = tmp_path / "jit.json"
    code, output = invoke("plan", scenario, "--baseline", "just-in-time", "--json", baseline_path)
    assert code == 0, output
    assert "(baseline:just-in-time" in output and "(objective $17,520.00)" in output
    assert json.loads(baseline_path.read_text())["baselines"] == []
    code, output = invoke("verify", scenario, baseline_path)
    assert code == 0 and output.startswith("OK:") and "$17,520.00 matches the plan" in output
    code, output = invoke("report", baseline_path, "-o", tmp_path / "jit.xlsx")
    assert code == 0 and (tmp_path / "jit.xlsx").is_file()

    code, output = invoke("plan", scenario, "--json", tmp_path / "plan.json", "-o", tmp_path / "plan.xlsx",
                          "--no-risk")
    assert code == 0, output
    assert "saving against greedy ($2,000): $0 (0.0%); single-sku ($2,000): $0 (0.0%); " \
           "just-in-time ($17,520): $15,520 (88.6%)" in output
    rows = {row["name"]: row for row in json.loads((tmp_path / "plan.json").read_text())["baselines"]}
    assert rows[JUST_IN_TIME]["saving_usd"] == pytest.approx(15_520.0, abs=1e-6)
    assert rows[JUST_IN_TIME]["saving_pct"] == pytest.approx(15_520.0 / 17_520.0, rel=1e-9)
    summary = openpyxl.load_workbook(tmp_path / "plan.xlsx")["Summary"]
    table = {row[0]: row[1:5] for row in summary.iter_rows(values_only=True)
             if row[0] in ("this plan", *BASELINES)}
    assert table["this plan"][1].startswith("='Costs'!")  # the Costs sheet's NPV objective, live
    status, objective, saving, saving_pct = table[JUST_IN_TIME]
    assert status == "optimal" and objective == pytest.approx(17_520.0)
    assert saving.startswith("=") and saving_pct.startswith("=IFERROR(")
    assert "Discounted TCO: this plan vs baselines" in [
        "".join(run.t for p in chart.title.tx.rich.p for run in p.r or []) for chart in summary._charts]

    code, output = invoke("plan", scenario, "--json", tmp_path / "bare.json", "--no-baselines")
    assert code == 0 and "saving against" not in output
    assert json.loads((tmp_path / "bare.json").read_text())["baselines"] == []


def test_cli_single_sku_forced_and_bad_sku(tmp_path):
    """--sku forces single-sku's SKU; an unknown SKU, or --sku without single-sku, is a usage error (exit 2)."""
    scenario = lead_time_case(tmp_path / "lead")
    code, output = invoke("plan", scenario, "--baseline", "single-sku", "--sku", "a", "--json", tmp_path / "a.json")
    assert code == 0, output
    assert json.loads((tmp_path / "a.json").read_text())["solver"] == "baseline:single-sku:a"
    code, output = invoke("plan", scenario, "--baseline", "single-sku", "--sku", "h100")
    assert code == 2 and "'h100' is not in the catalog (a)" in output
    code, output = invoke("plan", scenario, "--sku", "a")
    assert code == 2 and "--sku goes with --baseline single-sku" in output


def test_a_failed_baseline_is_reported_and_the_plan_still_written(tmp_path):
    """A run of 2 node-quarters (15.768 B tokens at 1,000 tokens/s per node = 4,380 node-hours) in 2027Q1–Q2
    that must finish, on a SKU with a lead time of one quarter that cannot be rented. The optimum orders 2 nodes
    in 2027Q1 and runs it all in 2027Q2: 2 × $2,000 = $4,000; greedy does the same. just-in-time has nothing it
    may buy in service in 2027Q1 (no pool can host the run then), and in 2027Q2, when the whole run is due, an
    order placed now would arrive after the horizon: no plan, so its row says `failed` and why, and the plan, its
    workbook included, is written all the same (exit 0)."""
    path = write_scenario(tmp_path / "must-finish", catalog=[sku(lead_quarters=1)], sites=[OWNED_FREE_ENERGY],
                          workloads=[training("pretrain", 1, 15.768, "2027Q1", "2027Q2")],
                          throughput=[("pretrain", "a", 1000)], quarters=2)
    code, output = invoke("plan", path, "--json", tmp_path / "plan.json", "-o", tmp_path / "plan.xlsx", "--no-risk")
    assert code == 0, output
    assert "(objective $4,000.00)" in output and "greedy ($4,000): $0 (0.0%)" in output
    assert "just-in-time: failed (just-in-time, quarter 2027Q2 with the past frozen: no feasible plan" in output
    rows = {row["name"]: row for row in json.loads((tmp_path / "plan.json").read_text())["baselines"]}
    assert rows[JUST_IN_TIME]["status"] == "failed" and rows[JUST_IN_TIME]["objective_usd"] is None
    summary = openpyxl.load_workbook(tmp_path / "plan.xlsx")["Summary"]
    failed = next(row for row in summary.iter_rows(values_only=True) if row[0] == JUST_IN_TIME)
    assert failed[1:5] == ("failed", None, '=""', '=""')


def test_the_savings_line_says_what_a_baseline_leaves_undone():
    """A baseline whose rule leaves a run unfinished, solved to its time limit, says so beside its objective: most
    of such a 'saving' is the penalty the rule pays, not spend (the shipped example's just-in-time, $2.28 B under
    load, left 5 runs unfinished)."""
    from planner.commands.plan import baseline_text

    row = {"name": "just-in-time", "status": "feasible", "objective_usd": 2_000.0, "saving_usd": 1_500.0,
           "saving_pct": 0.75, "detail": "12 orders, 8 rentals, unmet demand in 2 quarter-workloads, 5 runs unfinished"}
    assert baseline_text(row) == ("just-in-time ($2,000; unmet demand in 2 quarter-workloads, 5 runs unfinished, "
                                  "stopped at its time limit): $1,500 (75.0%)")
    clean = {**row, "status": "optimal", "detail": "3 orders, 0 rentals"}
    assert baseline_text(clean) == "just-in-time ($2,000): $1,500 (75.0%)"
