"""Spot capacity for preemptible training (issue 21 item 2; docs/datacenter-2026.md "Spot").

Unless a docstring says otherwise the instances use tests/scenario_files.py's round numbers: SKU `a` (8 GPUs,
1,000 dense BF16 TFLOPS a GPU, 10 kW), one quarter (2,190 h), no discounting, the cloud site only (PUE 1, no
carbon), on-demand rent $1/GPU-h = $8 a node-hour = $17,520 a node-quarter. The run `run` is test_failures_spot's:
1B parameters at MFU 0.5 on `a` is 8 × 1,000e12 × 0.5 / (6 × 1e9) = 666,666.67 tokens/s a node, so its
51,508.8 B tokens take 51,508.8e9 / 666,666.67 / 3,600 = 21,462 node-hours (9.8 node-quarters). Spot `a` costs
$0.30/GPU-h = $2.40 a node-hour.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from models import failures
from models.verify import verify_plan
from planner.cli import main
from planner.scenario import load_scenario
from scenario_files import CLOUD, OWNED_FREE_ENERGY, inference, sku, training, write_scenario
from test_datacenter_2026 import add_columns, lp_digest, problems_of, solve

RUN_NODE_HOURS = 21_462.0
RENT_A_USD = 1.0 * 8 * 2190  # $17,520 a node-quarter on demand
SPOT_USD_PER_NODE_HOUR = 0.30 * 8  # $2.40


def spot_scenario(folder: Path, *, availability=0.8, preemptible="true", spot_price=0.30, afr=None,
                  repair_hours=None) -> Path:
    """The run at the cloud site, `a` rentable on demand and (where spot_price is not empty) on spot."""
    path = write_scenario(folder, catalog=[sku(rent_usd_per_gpu_hour=1.0)], sites=[CLOUD],
                          workloads=[training("run", 1, 51_508.8, "2027Q1", "2027Q1", mfu=0.5)])
    add_columns(path, "workloads", "preemptible", {"run": preemptible})
    add_columns(path, "catalog", "spot_usd_per_gpu_hour", {"a": spot_price})
    add_columns(path, "catalog", "spot_availability", {"a": availability if spot_price != "" else ""})
    if afr is not None:
        add_columns(path, "catalog", "afr_per_node_year", {"a": afr})
        add_columns(path, "catalog", "repair_hours", {"a": repair_hours})
    return path


def rented(plan: dict) -> dict:
    return {(r["site"], r["sku"]): r["nodes"] for r in plan["rentals"]}


def spot_hours(plan: dict) -> float:
    return sum(r["node_hours"] for r in plan.get("spot") or [])


# --- (a) spot cheaper per delivered hour -------------------------------------------------------------------

def test_preemptible_run_takes_spot_when_cheaper_per_delivered_hour(tmp_path):
    """Availability 0.8: a spot node-hour delivers 0.8 h of work for $2.40, $3.00 per delivered hour against rent's
    $8.00. The whole run goes to spot: 21,462 / 0.8 = 26,827.5 node-hours × $2.40 = $64,386.00 (rent would be
    ⌈9.8⌉ = 10 nodes, $175,200). spot_nodes = 26,827.5 / 2,190 = 12.25; kWh = 26,827.5 × 10 kW × PUE 1 = 268,275."""
    path = spot_scenario(tmp_path)
    plan = solve(path)
    assert rented(plan) == {}
    assert plan["objective_usd"] == pytest.approx(64_386.00, abs=0.005)
    [row] = plan["spot"]
    assert (row["workload"], row["site"], row["sku"], row["quarter"]) == ("run", "cloud", "a", "2027Q1")
    assert row["node_hours"] == pytest.approx(26_827.5, abs=1e-6)
    assert row["spot_nodes"] == pytest.approx(12.25, abs=1e-9)
    assert row["work_node_hours"] == pytest.approx(RUN_NODE_HOURS, abs=1e-6)
    assert row["spot_usd"] == pytest.approx(64_386.00, abs=0.005)
    assert plan["totals"]["rent_usd"] == pytest.approx(64_386.00, abs=0.005)  # spot is rent
    assert plan["totals"]["energy_kwh"] == pytest.approx(268_275.0, abs=1e-3)
    assert verify_plan(load_scenario(path), plan) == []


# --- (b) not preemptible -----------------------------------------------------------------------------------

def test_run_that_is_not_preemptible_rents_on_demand(tmp_path):
    """The same run with preemptible=false may not use spot: 10 rented nodes, 10 × $17,520 = $175,200, no spot
    table (no spot decisions exist)."""
    path = spot_scenario(tmp_path, preemptible="false")
    plan = solve(path)
    assert rented(plan) == {("cloud", "a"): 10}
    assert plan["objective_usd"] == pytest.approx(10 * RENT_A_USD, abs=1e-6)
    assert "spot" not in plan
    assert verify_plan(load_scenario(path), plan) == []


# --- (c) availability lowered --------------------------------------------------------------------------------

def test_lower_availability_moves_the_run_back_to_rent(tmp_path):
    """Spot is dearer per delivered hour than rent below availability $2.40 / $8.00 = 0.3, but rent comes in whole
    nodes, so spot may still top up whole rented nodes. At 0.25 ($9.60 per delivered hour): 9 rented nodes do
    9 × 2,190 = 19,710 h ($157,680) and spot the remaining 1,752 h: 1,752 / 0.25 = 7,008 node-hours × $2.40 =
    $16,819.20, $174,499.20 in all, below 10 nodes ($175,200) and 8 nodes + spot ($140,160 + 3,942 / 0.25 × $2.40 =
    $178,003.20). At 0.2 the top-up would cost 1,752 / 0.2 × $2.40 = $21,024 > $17,520 for a 10th node: the plan
    rents 10 nodes and uses no spot, $175,200."""
    mixed = spot_scenario(tmp_path / "mixed", availability=0.25)
    plan = solve(mixed)
    assert rented(plan) == {("cloud", "a"): 9}
    assert spot_hours(plan) == pytest.approx(7_008.0, abs=1e-6)
    assert plan["objective_usd"] == pytest.approx(174_499.20, abs=0.005)
    assert verify_plan(load_scenario(mixed), plan) == []

    dear = spot_scenario(tmp_path / "dear", availability=0.2)
    plan = solve(dear)
    assert rented(plan) == {("cloud", "a"): 10}
    assert spot_hours(plan) == pytest.approx(0.0, abs=1e-9)
    assert plan["objective_usd"] == pytest.approx(10 * RENT_A_USD, abs=1e-6)


# --- the failure model -------------------------------------------------------------------------------------

def test_spot_work_is_derated_like_owned_and_rented_capacity(tmp_path):
    """With afr_per_node_year 2 and repair_hours 438 a node is available a = 1 − 2 × 438 / 8,760 = 0.9, and the
    run (pool N = 9.8 nodes) loses f = sqrt(2 δ / M) + R / M to checkpoints, M = 8,760 / (9.8 × 2) = 446.94 h:
    f = sqrt(0.016667 / 446.94) + 0.066667 / 446.94 = 0.0061066 + 0.0001492 = 0.0062558, so it needs
    21,462 / (1 − f) = 21,597.11 node-hours. A spot node-hour delivers 0.8 × 0.9 = 0.72 h: 21,597.11 / 0.72 =
    29,995.98 node-hours × $2.40 = $71,990.36 (rent: 21,597.11 / 2,190 / 0.9 = 10.96 → 11 nodes, $192,720)."""
    path = spot_scenario(tmp_path, afr=2, repair_hours=438)
    scenario = load_scenario(path)
    lost = failures.lost_fraction(failures.job_mtbf_hours(RUN_NODE_HOURS / 2190, 2.0))
    assert float(lost) == pytest.approx(0.0062558, abs=1e-7)
    needed = RUN_NODE_HOURS / (1 - float(lost)) / (0.8 * 0.9)
    plan = solve(path)
    assert rented(plan) == {}
    assert spot_hours(plan) == pytest.approx(needed, rel=1e-9)
    assert plan["objective_usd"] == pytest.approx(needed * SPOT_USD_PER_NODE_HOUR, rel=1e-9)
    assert plan["objective_usd"] == pytest.approx(71_990.36, abs=0.01)
    assert verify_plan(scenario, plan) == []
    # The plan of the scenario without failures does too little work here: the verifier's own copy says so.
    plain = solve(spot_scenario(tmp_path / "plain"))
    assert "training_work" in {v.constraint for v in verify_plan(scenario, plain)}


# --- (d) the verifier --------------------------------------------------------------------------------------

def test_verifier_recomputes_spot_work_and_cost(tmp_path):
    """The spot plan of (a) verifies. Tampering: 26,000 of its 26,827.5 node-hours (with spot_usd and the rest left
    as stated) deliver 26,000 × 0.8 = 20,800 h, short of the run's 21,462 (training_work), and cost $62,400, not the
    $64,386 the costs state (cost); a spot row for a run that is not preemptible is a spot violation."""
    path = spot_scenario(tmp_path)
    scenario = load_scenario(path)
    plan = solve(path)
    assert verify_plan(scenario, plan) == []

    tampered = copy.deepcopy(plan)
    tampered["spot"][0]["node_hours"] = 26_000.0
    found = {v.constraint for v in verify_plan(scenario, tampered)}
    assert {"training_work", "spot", "cost"} <= found
    work = next(v for v in verify_plan(scenario, tampered) if v.constraint == "training_work")
    assert work.size == pytest.approx(1 - 20_800 / RUN_NODE_HOURS, rel=1e-9)

    not_preemptible = spot_scenario(tmp_path / "no", preemptible="false")
    assert "spot" in {v.constraint for v in verify_plan(load_scenario(not_preemptible), plan)}


# --- (e) bad inputs ----------------------------------------------------------------------------------------

def test_bad_spot_values_are_input_errors(tmp_path):
    """A negative spot price, availability 0 and 1.5 (outside (0, 1]), a spot price without an availability, and an
    inference service marked preemptible are input errors naming the file, the row and the column; the CLI exits
    2 with no traceback."""
    catalog = [sku(rent_usd_per_gpu_hour=1.0), sku(sku="b"), sku(sku="c"), sku(sku="d")]
    path = write_scenario(tmp_path, catalog=catalog, sites=[OWNED_FREE_ENERGY, CLOUD],
                          workloads=[inference(), training("run", 1, 51_508.8, "2027Q1", "2027Q1", mfu=0.5)],
                          demand=[("chat", "2027Q1", 1000)], throughput=[("chat", "a", 1_000)])
    add_columns(path, "catalog", "spot_usd_per_gpu_hour", {"a": -0.3, "b": 0.3, "c": 0.3, "d": 0.3})
    add_columns(path, "catalog", "spot_availability", {"a": 0.8, "b": 0, "c": 1.5})
    add_columns(path, "workloads", "preemptible", {"chat": "true", "run": "maybe"})
    where, messages = problems_of(path)
    assert where == {("catalog.csv", 2, "spot_usd_per_gpu_hour"), ("catalog.csv", 3, "spot_availability"),
                     ("catalog.csv", 4, "spot_availability"), ("catalog.csv", 5, "spot_availability"),
                     ("workloads.csv", 2, "preemptible"), ("workloads.csv", 3, "preemptible")}
    assert any("only a training run" in m for m in messages)
    assert any("must be in (0, 1]" in m for m in messages)
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output and "workloads.csv" in result.output and "catalog.csv" in result.output


def test_spot_alone_can_host_a_preemptible_run(tmp_path):
    """A SKU offered only on spot (no on-demand rent) hosts a preemptible run at the cloud site: the whole run on
    spot, $64,386.00 as in (a); the same run not preemptible has no host there (input error, exit 2)."""
    path = spot_scenario(tmp_path / "spot")
    add_columns(path, "catalog", "rent_usd_per_gpu_hour", {})
    plan = solve(path)
    assert plan["objective_usd"] == pytest.approx(64_386.00, abs=0.005)
    assert verify_plan(load_scenario(path), plan) == []
    stuck = spot_scenario(tmp_path / "stuck", preemptible="false")
    add_columns(stuck, "catalog", "rent_usd_per_gpu_hour", {})
    where, messages = problems_of(stuck)
    assert ("workloads.csv", 2, "sites") in where and any("no allowed site can host" in m for m in messages)


# --- (f) absent inputs -------------------------------------------------------------------------------------

def test_no_spot_inputs_build_the_same_program(tmp_path):
    """Without spot columns, with them empty, with a spot price but no preemptible run, and with a preemptible run
    but no spot price: the same LP, bit for bit, and the same objective ($175,200)."""
    base = write_scenario(tmp_path / "base", catalog=[sku(rent_usd_per_gpu_hour=1.0)], sites=[CLOUD],
                          workloads=[training("run", 1, 51_508.8, "2027Q1", "2027Q1", mfu=0.5)])
    empty = spot_scenario(tmp_path / "empty", preemptible="", spot_price="")
    not_preemptible = spot_scenario(tmp_path / "not-preemptible", preemptible="false")
    unpriced = spot_scenario(tmp_path / "unpriced", spot_price="")
    digests = {lp_digest(p) for p in (base, empty, not_preemptible, unpriced)}
    assert len(digests) == 1
    assert solve(base)["objective_usd"] == solve(unpriced)["objective_usd"] == pytest.approx(10 * RENT_A_USD)


# --- the workbook and the risk evaluator ----------------------------------------------------------------------

def test_workbook_and_risk_evaluator_price_spot_like_the_plan(tmp_path):
    """The (c) mix (9 rented nodes, $157,680, + 7,008 spot node-hours, $16,819.20, 70,080 kWh): the deterministic
    evaluator's TCO is the plan's $174,499.20 (spot as a fixed rent charge), and LibreOffice recalculates the
    workbook's Costs sheet to PLAN.json's rent, energy and totals."""
    import openpyxl

    from models.risk import simulate
    from models.risk_inputs import build_risk_inputs
    from models.risk_settings import risk_settings
    from reports.workbook import write_workbook
    from test_workbook import soffice_convert

    path = spot_scenario(tmp_path / "case", availability=0.25)
    scenario = load_scenario(path)
    plan = solve(path)
    assert plan["objective_usd"] == pytest.approx(174_499.20, abs=0.005)
    settings = risk_settings(scenario, deterministic=True)
    run = simulate(build_risk_inputs(scenario, plan, settings), settings, float64=True)
    assert float(run["tco_usd"][0]) == pytest.approx(174_499.20, rel=1e-9)

    book_path = write_workbook(tmp_path / "plan.xlsx", plan, scenario)
    [converted] = soffice_convert([book_path], tmp_path / "out", "xlsx:Calc MS Excel 2007 XML")
    costs = openpyxl.load_workbook(converted, data_only=True)["Costs"]
    header = [c.value for c in costs[1]]
    total = dict(zip(header, [c.value for c in costs[len(plan["costs"]) + 2]]))
    for column in ("rent_usd", "energy_kwh", "total_usd", "discounted_usd"):
        assert total[column] == pytest.approx(plan["totals"][column], rel=1e-9, abs=1e-6), column
    assert math.isclose(plan["totals"]["energy_kwh"], 9 * 10 * 2190 + 70_080, rel_tol=1e-9)


def test_optimal_recourse_holds_the_plans_spot(tmp_path):
    """Beside (a)'s run, a service of 2,000 tokens/s on `a` at 1,000 tokens/s a node rented on demand. `planner
    evaluate`'s optimal recourse re-decides the inference rentals in every future (on_demand_usd) and holds the
    training's spot as first stage: the spend of every future is (a)'s $64,386.00 of spot, and E[TCO] = spend +
    on demand + penalties."""
    import json

    path = write_scenario(tmp_path, catalog=[sku(rent_usd_per_gpu_hour=1.0)], sites=[CLOUD],
                          workloads=[inference(), training("run", 1, 51_508.8, "2027Q1", "2027Q1", mfu=0.5)],
                          demand=[("chat", "2027Q1", 2_000)], throughput=[("chat", "a", 1_000)])
    add_columns(path, "workloads", "preemptible", {"run": "true"})
    add_columns(path, "catalog", "spot_usd_per_gpu_hour", {"a": 0.30})
    add_columns(path, "catalog", "spot_availability", {"a": 0.8})
    plan_path, risk_path = tmp_path / "plan.json", tmp_path / "risk.json"
    runner = CliRunner()
    assert runner.invoke(main, ["plan", str(path), "--json", str(plan_path), "--quiet", "--no-baselines",
                                "--solver", "highs"]).exit_code == 0
    plan = json.loads(plan_path.read_text())
    assert plan["objective_usd"] == pytest.approx(64_386.00 + 2 * RENT_A_USD, abs=0.005)
    result = runner.invoke(main, ["evaluate", str(path), "--plan", str(plan_path), "--samples", "20",
                                  "--json", str(risk_path)])
    assert result.exit_code == 0, result.output
    split = json.loads(risk_path.read_text())["expected_tco_usd"]
    assert split["spend_usd"] == pytest.approx(64_386.00, rel=1e-9)
    assert split["spend_usd"] + split["on_demand_usd"] + split["penalty_usd"] == pytest.approx(split["total_usd"],
                                                                                               rel=1e-9)


def test_why_sheet_and_csv_list_the_spot_node_hours(tmp_path):
    """(a)'s plan: the Why sheet's tblWhySpot holds its one row (26,827.5 node-hours, 12.25 node-equivalents,
    21,462 h of work, $64,386.00), and the CSV writer's why_spot table the same; a plan without spot has neither."""
    from reports.tables import build_tables
    from reports.workbook import build_workbook
    from reports.workbook_cells import SHEET_WHY
    from test_why_sheet_2026 import _why_table

    path = spot_scenario(tmp_path / "spot")
    scenario = load_scenario(path)
    plan = solve(path)
    header, *rows = _why_table(build_workbook(plan, scenario), "tblWhySpot")
    assert header == ["quarter", "workload", "site", "sku", "spot_nodes", "node_hours", "work_node_hours",
                      "energy_kwh", "spot_usd"]
    [row] = rows
    assert row[:4] == ["2027Q1", "run", "cloud", "a"]
    assert row[4:9] == pytest.approx([12.25, 26_827.5, RUN_NODE_HOURS, 268_275.0, 64_386.00], abs=0.005)
    assert build_tables(plan, scenario)["why_spot"]["spot_usd"].tolist() == pytest.approx([64_386.00], abs=0.005)

    rent = spot_scenario(tmp_path / "rent", preemptible="false")
    plain = solve(rent)
    assert "why_spot" not in build_tables(plain, load_scenario(rent))
    assert "tblWhySpot" not in build_workbook(plain, load_scenario(rent))[SHEET_WHY].tables


def test_spot_only_sku_beside_an_on_demand_sku(tmp_path):
    """`a` is rentable on demand only ($17,520 a node-quarter, 10 nodes = $175,200) and `b`, the same node, on spot
    only ($2.40 a node-hour at 0.8): the run has a pool only on-demand serves and one only spot serves (the program
    builds: each pool row joins only where it applies). The relaxation does the run on b's spot; the warm start
    keeps pool (cloud, b) and its plan is the optimum, 26,827.5 × $2.40 = $64,386.00, as the MILP's."""
    from models.warm_start import warm_start
    from planner.pipeline import build_plan

    path = write_scenario(tmp_path, catalog=[sku(rent_usd_per_gpu_hour=1.0), sku(sku="b")], sites=[CLOUD],
                          workloads=[training("run", 1, 51_508.8, "2027Q1", "2027Q1", mfu=0.5)])
    add_columns(path, "workloads", "preemptible", {"run": "true"})
    add_columns(path, "catalog", "spot_usd_per_gpu_hour", {"b": 0.30})
    add_columns(path, "catalog", "spot_availability", {"b": 0.8})
    model = build_plan(load_scenario(path)).model
    start = warm_start(model)
    assert start.objective == pytest.approx(64_386.00, abs=0.005)
    pool = model.lp.value("pool", start.x)
    assert pool[pool > 0.5].index.tolist() == [("run", "cloud", "b")]
    plan = solve(path)
    assert plan["objective_usd"] == pytest.approx(64_386.00, abs=0.005) and rented(plan) == {}
    assert [(r["sku"], r["node_hours"]) for r in plan["spot"]] == [("b", pytest.approx(26_827.5))]
    assert verify_plan(load_scenario(path), plan) == []


def test_replan_keeps_the_spot_rented_before_as_of(tmp_path):
    """(a)'s run (window 2027Q1) in a 2-quarter horizon, `a` and `b` (the same node) offered on spot only, at 0.8.
    Saved: `a` at $0.30/GPU-h ($2.40 a node-hour) against `b` at $0.40 ($3.20): 26,827.5 node-hours of `a` in
    2027Q1, $64,386.00. The current data price `a` at $0.90 ($7.20): planned afresh the run moves to `b`,
    26,827.5 × $3.20 = $85,848.00; re-planned as of 2027Q2 it keeps the pool and the 26,827.5 node-hours of `a`
    rented in 2027Q1, now priced 26,827.5 × $7.20 = $193,158.00."""
    from planner.pipeline import plan_document, run_plan
    from planner.replan import run_replan

    def scenario(folder, price_a):
        path = write_scenario(folder, catalog=[sku(), sku(sku="b")], sites=[CLOUD], quarters=2,
                              workloads=[training("run", 1, 51_508.8, "2027Q1", "2027Q1", mfu=0.5)])
        add_columns(path, "workloads", "preemptible", {"run": "true"})
        add_columns(path, "catalog", "spot_usd_per_gpu_hour", {"a": price_a, "b": 0.40})
        add_columns(path, "catalog", "spot_availability", {"a": 0.8, "b": 0.8})
        return load_scenario(path)

    saved = plan_document(run_plan(scenario(tmp_path / "saved", 0.30), gap=0))
    assert saved["objective_usd"] == pytest.approx(64_386.00, abs=0.005)
    changed = scenario(tmp_path / "changed", 0.90)
    fresh = plan_document(run_plan(changed, gap=0))
    assert [r["sku"] for r in fresh["spot"]] == ["b"]
    assert fresh["objective_usd"] == pytest.approx(85_848.00, abs=0.005)
    replanned = run_replan(changed, saved, tmp_path / "plan.json", "2027Q2").document
    assert [(r["quarter"], r["sku"], r["node_hours"]) for r in replanned["spot"]] == [
        ("2027Q1", "a", pytest.approx(26_827.5))]
    assert replanned["objective_usd"] == pytest.approx(26_827.5 * 0.90 * 8, abs=0.005)
    assert verify_plan(changed, replanned) == []
