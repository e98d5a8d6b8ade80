"""Tests for models/verify.py and `planner verify`: solved plans pass, tampered plans fail where they were broken.

The worked example (tests/cases/worked-example, copied into data-free tmp folders here) is solved by hand in its
README: optimum $111,108.18 with 2 owned nodes at A and 1 rented node in 2027Q2. The verifier must reach that
figure from the plan's decisions alone, whichever backend produced them.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from models.verify import CONSTRAINTS, PlanFormatError, Violation, check_plan, verify_plan
from planner.cli import main
from planner.pipeline import plan_document, run_plan
from planner.resources import example_scenario_path
from planner.scenario import load_scenario

WORKED_OPTIMUM_USD = 111_108.18  # worked-example README
# Serving 2.0 on A and 0.5 in the cloud in 2027Q2: 0.5 × ($2,299.50 − $252.945) × 1.08^(−1/4) more (README).
WORKED_WRONG_SPLIT_EXTRA_USD = 1_003.78

CATALOG_HEADER = ("sku,accelerator,gpus_per_node,bf16_tflops,fp8_tflops,hbm_gb,hbm_tbps,node_kw,idle_frac,"
                  "price_usd,rent_usd_per_gpu_hour,lead_quarters,available_from,life_years,maint_frac_per_year,"
                  "nodes_per_rack,source")
WORKLOADS_HEADER = ("workload,kind,params_b,precision,tokens_b,start,deadline,context_tokens,"
                    "min_tokens_per_s_per_user,sites,mfu")


def write_scenario(folder: Path, yaml_text: str, **tables: str) -> Path:
    """Write the CSV tables and scenario.yaml of a tiny scenario into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in tables.items():
        (folder / f"{name}.csv").write_text(text.strip() + "\n")
    path = folder / "scenario.yaml"
    path.write_text(yaml_text.strip() + "\n")
    return path


def worked_example(folder: Path) -> Path:
    """The worked example's inputs (see its README), written as the folder tests/cases/worked-example holds them."""
    return write_scenario(
        folder,
        """
name: worked-example
start: 2027Q1
quarters: 2
catalog: catalog.csv
sites: sites.csv
workloads: workloads.csv
demand: demand.csv
throughput: throughput.csv
finance: {discount_rate: 0.08, capex_mode: depreciation, carbon_usd_per_t: 50, unmet_usd_per_unit: 1000000}
planning: {headroom: 0.0}
""",
        catalog=f"{CATALOG_HEADER}\nh,H-class,8,1000,2000,80,3.35,10,0.3,240000,2.5,0,2026Q1,5,0.04,4,worked example",
        sites="site,kind,power_mw,pue,usd_per_kwh,gco2_per_kwh,racks\nA,owned,0.025,1.25,0.10,400,10\n"
              "cloud,cloud,,1.1,,300,",
        workloads=f"{WORKLOADS_HEADER}\nchat,inference,8,bf16,,,,1000,,,",
        demand="workload,quarter,tokens_per_s\nchat,2027Q1,1500\nchat,2027Q2,2500",
        throughput="workload,sku,tokens_per_s_per_node\nchat,h,1000",
    )


def training_scenario(folder: Path, unfinished_training_usd: float | None = 1e9) -> Path:
    """One 40B training run needing 2 nodes (640 GB of Adam state > 576 GB usable per node) and 4,380 node-hours
    (15.768e9 tokens at 1,000 tokens/s per node), i.e. 2 node-quarters, in 2027Q1..2027Q2. Site A owns 2 nodes,
    site B 1 node (too few for the run): the run must go to A."""
    finance = "{carbon_usd_per_t: 50" + ("" if unfinished_training_usd is None
                                         else f", unfinished_training_usd: {unfinished_training_usd}") + "}"
    return write_scenario(
        folder,
        f"""
name: training
start: 2027Q1
quarters: 2
catalog: catalog.csv
sites: sites.csv
fleet: fleet.csv
workloads: workloads.csv
throughput: throughput.csv
finance: {finance}
""",
        catalog=f"{CATALOG_HEADER}\nh,H-class,8,1000,2000,80,3.35,10,0.3,240000,,0,2026Q1,5,0.04,4,test",
        sites="site,kind,power_mw,pue,usd_per_kwh,gco2_per_kwh,racks\nA,owned,1,1.25,0.10,400,10\n"
              "B,owned,1,1.25,0.10,400,10",
        fleet="site,sku,nodes,installed\nA,h,2,2026Q4\nB,h,1,2026Q4",
        workloads=f"{WORKLOADS_HEADER}\ntrain,training,40,bf16,15.768,2027Q1,2027Q2,,,,",
        throughput="workload,sku,tokens_per_s_per_node\ntrain,h,1000",
    )


def cash_scenario(folder: Path) -> Path:
    """Cash mode, a one-quarter lead time and a $480,000 budget (2 nodes of h per quarter). `h` is not rentable,
    so chat (0 / 1,500 / 2,500 tokens/s) needs 2 nodes ordered in 2027Q1 and 1 more in 2027Q2. `g` only becomes
    available in 2027Q3 and cannot run chat (throughput override 0)."""
    return write_scenario(
        folder,
        """
name: cash
start: 2027Q1
quarters: 3
catalog: catalog.csv
sites: sites.csv
workloads: workloads.csv
demand: demand.csv
throughput: throughput.csv
finance: {discount_rate: 0.08, capex_mode: cash, budget_usd_per_quarter: 480000, carbon_usd_per_t: 50,
          unmet_usd_per_unit: 1000000}
""",
        catalog=f"{CATALOG_HEADER}\nh,H-class,8,1000,2000,80,3.35,10,0.3,240000,,1,2026Q1,5,0.04,4,test\n"
                f"g,G-class,8,2000,4000,80,3.35,10,0.3,10000000,,0,2027Q3,5,0.04,4,test",
        sites="site,kind,power_mw,pue,usd_per_kwh,gco2_per_kwh,racks\nA,owned,0.1,1.25,0.10,400,10",
        workloads=f"{WORKLOADS_HEADER}\nchat,inference,8,bf16,,,,1000,,,",
        demand="workload,quarter,tokens_per_s\nchat,2027Q1,0\nchat,2027Q2,1500\nchat,2027Q3,2500",
        throughput="workload,sku,tokens_per_s_per_node\nchat,h,1000\nchat,g,0",
    )


def solved(path: Path, backend: str = "scip") -> tuple[object, dict]:
    scenario = load_scenario(path)
    return scenario, plan_document(run_plan(scenario, backend=backend, time_limit_s=60))


def constraints(violations: list[Violation]) -> set[str]:
    return {v.constraint for v in violations}


@pytest.fixture(scope="module")
def worked(tmp_path_factory):
    return solved(worked_example(tmp_path_factory.mktemp("worked")))


@pytest.fixture(scope="module")
def training(tmp_path_factory):
    return solved(training_scenario(tmp_path_factory.mktemp("training")))


@pytest.fixture(scope="module")
def cash(tmp_path_factory):
    return solved(cash_scenario(tmp_path_factory.mktemp("cash")))


# --- solved plans pass ------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["scip", "highs", "cbc"])
def test_worked_example_plan_passes_on_every_backend(tmp_path, backend):
    scenario, plan = solved(worked_example(tmp_path), backend)
    result = check_plan(scenario, plan)
    assert result.violations == ()
    assert result.checks > 100
    assert result.objective_usd == pytest.approx(WORKED_OPTIMUM_USD, abs=0.005)


def test_recomputed_costs_match_the_hand_derivation(worked):
    scenario, plan = worked
    costs = check_plan(scenario, plan).costs.set_index("quarter")
    # 2 × $15,385.50 + 1.5 × $2,299.50, then + $43,908.405 + 1.0 × $252.945 for the rented node (README).
    assert costs.loc["2027Q1", "total_usd"] == pytest.approx(34_220.25, abs=1e-6)
    assert costs.loc["2027Q2", "total_usd"] == pytest.approx(78_381.60, abs=1e-6)
    assert costs.loc["2027Q2", "rent_usd"] == pytest.approx(43_800.0, abs=1e-6)
    assert costs.loc["2027Q2", "energy_usd"] == pytest.approx(2 * 821.25 + 1.5 * 1_916.25, abs=1e-6)
    assert costs.loc["2027Q2", "discount_factor"] == pytest.approx(1.08 ** -0.25, rel=1e-12)
    assert costs["discounted_usd"].sum() == pytest.approx(WORKED_OPTIMUM_USD, abs=0.005)


def test_wrong_split_costs_what_the_readme_says(worked):
    """2.0 on A and 0.5 in the cloud is feasible but $1,003.78 dearer: only the cost lines may disagree."""
    scenario, plan = worked
    tampered = copy.deepcopy(plan)
    for row in tampered["placement"]:
        if row["quarter"] == "2027Q2":
            row["node_equivalents"] = 2.0 if row["site"] == "A" else 0.5
            row["units"] = 1000.0 * row["node_equivalents"]
    result = check_plan(scenario, tampered)
    assert constraints(list(result.violations)) <= {"fleet", "cost", "totals", "objective"}
    assert result.objective_usd - WORKED_OPTIMUM_USD == pytest.approx(WORKED_WRONG_SPLIT_EXTRA_USD, abs=0.01)


def test_shipped_example_plan_passes():
    scenario = load_scenario(example_scenario_path())
    plan = plan_document(run_plan(scenario, time_limit_s=60))
    result = check_plan(scenario, plan)
    assert [str(v) for v in result.violations] == []
    assert result.objective_usd == pytest.approx(plan["objective_usd"], rel=1e-9)


def test_training_plan_passes_and_uses_the_only_big_enough_pool(training):
    scenario, plan = training
    assert verify_plan(scenario, plan) == []
    assert {(row["site"], row["sku"]) for row in plan["placement"]} == {("A", "h")}


def test_cash_plan_passes(cash):
    scenario, plan = cash
    assert verify_plan(scenario, plan) == []
    assert sum(row["capex_usd"] for row in plan["purchases"]) == pytest.approx(3 * 240_000.0)


# --- tampered plans fail ----------------------------------------------------------------------------------

def test_removed_rental_breaks_capacity(worked):
    scenario, plan = worked
    tampered = copy.deepcopy(plan)
    tampered["rentals"] = []
    violations = verify_plan(scenario, tampered)
    capacity = [v for v in violations if v.constraint == "capacity"]
    assert len(capacity) == 1
    assert (capacity[0].quarter, capacity[0].where) == ("2027Q2", "cloud/h")
    assert capacity[0].size == pytest.approx(1.0)


def test_removed_rental_and_its_placement_leave_demand_unserved(worked):
    scenario, plan = worked
    tampered = copy.deepcopy(plan)
    tampered["rentals"] = []
    tampered["placement"] = [row for row in plan["placement"] if row["site"] != "cloud"]
    demand = [v for v in verify_plan(scenario, tampered) if v.constraint == "demand"]
    assert [(v.quarter, v.where) for v in demand] == [("2027Q2", "chat")]
    assert demand[0].size == pytest.approx(1_000.0)
    assert "tokens/s" in demand[0].message


def test_bumped_energy_cost_is_a_cost_line_violation(worked):
    scenario, plan = worked
    tampered = copy.deepcopy(plan)
    tampered["costs"][1]["energy_usd"] += 1.0
    violations = verify_plan(scenario, tampered)
    assert [(v.constraint, v.quarter, v.where) for v in violations] == [("cost", "2027Q2", "energy_usd")]
    assert violations[0].size == pytest.approx(1.0)


def test_tiny_rounding_is_tolerated(worked):
    scenario, plan = worked
    tampered = copy.deepcopy(plan)
    tampered["costs"][1]["energy_usd"] *= 1 + 1e-8
    tampered["placement"][0]["node_equivalents"] += 1e-9
    assert verify_plan(scenario, tampered) == []


def test_extra_purchased_node_breaks_the_power_cap(worked):
    """3 nodes × 10 kW × 1.25 = 37.5 kW at A against a 25 kW cap."""
    scenario, plan = worked
    tampered = copy.deepcopy(plan)
    tampered["purchases"][0]["nodes"] = 3.0
    tampered["purchases"][0]["capex_usd"] = 720_000.0
    power = [v for v in verify_plan(scenario, tampered) if v.constraint == "power"]
    assert [(v.quarter, v.where) for v in power] == [("2027Q1", "A"), ("2027Q2", "A")]
    assert power[0].size == pytest.approx(12.5)
    assert "kW" in power[0].message


def test_fractional_and_misplaced_orders(worked):
    scenario, plan = worked
    tampered = copy.deepcopy(plan)
    tampered["purchases"][0]["nodes"] = 1.5
    tampered["purchases"].append({"quarter": "2027Q1", "site": "cloud", "sku": "h", "nodes": 1.0,
                                  "in_service": "2027Q1", "capex_usd": 240_000.0})
    found = constraints(verify_plan(scenario, tampered))
    assert {"order_integer", "order_site"} <= found


def test_order_before_available_from(cash):
    scenario, plan = cash
    tampered = copy.deepcopy(plan)
    tampered["purchases"].append({"quarter": "2027Q1", "site": "A", "sku": "g", "nodes": 1.0,
                                  "in_service": "2027Q1", "capex_usd": 10_000_000.0})
    available = [v for v in verify_plan(scenario, tampered) if v.constraint == "order_available"]
    assert len(available) == 1 and available[0].size == 2  # g is available from 2027Q3


def test_wrong_in_service_quarter(cash):
    scenario, plan = cash
    tampered = copy.deepcopy(plan)
    tampered["purchases"][0]["in_service"] = tampered["purchases"][0]["quarter"]  # ignores the lead time
    assert "order_in_service" in constraints(verify_plan(scenario, tampered))


def test_budget_broken_by_a_bigger_order(cash):
    scenario, plan = cash
    tampered = copy.deepcopy(plan)
    first = next(row for row in tampered["purchases"] if row["quarter"] == "2027Q1")
    first["nodes"] += 1.0
    first["capex_usd"] += 240_000.0
    budget = [v for v in verify_plan(scenario, tampered) if v.constraint == "budget"]
    assert len(budget) == 1 and budget[0].quarter == "2027Q1"
    assert budget[0].size == pytest.approx(first["capex_usd"] - 480_000.0)


def test_placement_on_an_ineligible_sku(cash):
    scenario, plan = cash
    tampered = copy.deepcopy(plan)
    tampered["placement"][0]["sku"] = "g"
    eligible = [v for v in verify_plan(scenario, tampered) if v.constraint == "placement_eligible"]
    assert len(eligible) == 1 and "throughput override is 0" in eligible[0].message


def test_rental_of_a_non_rentable_sku(cash):
    scenario, plan = cash
    tampered = copy.deepcopy(plan)
    tampered["rentals"].append({"quarter": "2027Q2", "site": "A", "sku": "h", "nodes": 1.0, "rent_usd": 0.0})
    assert "rental_site" in constraints(verify_plan(scenario, tampered))


def test_training_run_split_across_two_pools(training):
    scenario, plan = training
    tampered = copy.deepcopy(plan)
    tampered["placement"] = [
        {"quarter": "2027Q1", "workload": "train", "site": "A", "sku": "h", "node_equivalents": 1.0,
         "units": 1000.0},
        {"quarter": "2027Q2", "workload": "train", "site": "B", "sku": "h", "node_equivalents": 1.0,
         "units": 1000.0},
    ]
    violations = verify_plan(scenario, tampered)
    pool = [v for v in violations if v.constraint == "training_pool"]
    assert len(pool) == 1 and pool[0].where == "train" and pool[0].size == 1.0
    assert "min_nodes" in constraints(violations)  # B holds 1 node, the run needs 2


def test_training_below_min_nodes(training):
    scenario, plan = training
    tampered = copy.deepcopy(plan)
    tampered["placement"] = [
        {"quarter": q, "workload": "train", "site": "B", "sku": "h", "node_equivalents": 1.0, "units": 1000.0}
        for q in ("2027Q1", "2027Q2")]
    found = constraints(verify_plan(scenario, tampered))
    assert "min_nodes" in found and "training_pool" not in found


def test_training_work_not_done(training):
    scenario, plan = training
    tampered = copy.deepcopy(plan)
    for row in tampered["placement"]:
        row["node_equivalents"] /= 2
        row["units"] /= 2
    work = [v for v in verify_plan(scenario, tampered) if v.constraint == "training_work"]
    assert len(work) == 1 and work[0].size == pytest.approx(0.5)
    assert "2,190.0 node-hours" in work[0].message


def test_unfinished_run_when_runs_must_finish(tmp_path):
    scenario, plan = solved(training_scenario(tmp_path, unfinished_training_usd=None))
    assert verify_plan(scenario, plan) == []
    tampered = copy.deepcopy(plan)
    tampered["unfinished"] = [{"workload": "train", "deadline": "2027Q2", "fraction_left": 0.5, "cost_usd": 0.0}]
    assert "training_unfinished" in constraints(verify_plan(scenario, tampered))


def test_unknown_names_and_quarters_outside_the_horizon(worked):
    scenario, plan = worked
    tampered = copy.deepcopy(plan)
    tampered["placement"].append({"quarter": "2030Q1", "workload": "chat", "site": "A", "sku": "h",
                                  "node_equivalents": 1.0, "units": 1000.0})
    tampered["rentals"].append({"quarter": "2027Q1", "site": "mars", "sku": "h", "nodes": 1.0, "rent_usd": 1.0})
    assert {"horizon", "reference"} <= constraints(verify_plan(scenario, tampered))


def test_malformed_documents_are_rejected(worked):
    scenario, plan = worked
    for broken in ([], {"purchases": []}, {**plan, "placement": [{"quarter": "Q1 2027"}]},
                   {**plan, "rentals": [{**plan["rentals"][0], "quarter": "next year"}]},
                   {**plan, "costs": [{**plan["costs"][0], "energy_usd": "lots"}]}):
        with pytest.raises(PlanFormatError):
            check_plan(scenario, broken)


def test_every_constraint_id_is_described():
    assert all(text for text in CONSTRAINTS.values())


# --- the command line -------------------------------------------------------------------------------------

def run_cli(*args: str):
    return CliRunner().invoke(main, ["verify", *args])


def test_cli_passes_a_good_plan(tmp_path, worked):
    scenario, plan = worked
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    result = run_cli(str(scenario.path), str(path))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK: ") and "checks passed" in result.output
    assert "$111,108.18" in result.output


def test_cli_fails_a_tampered_plan_with_the_reason(tmp_path, worked):
    scenario, plan = worked
    tampered = copy.deepcopy(plan)
    tampered["purchases"][0]["nodes"] = 3.0
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(tampered))
    result = run_cli(str(scenario.path), str(path))
    assert result.exit_code == 1
    assert "facility power at full load <= site power cap [power] (2027Q1, A)" in result.output
    assert "by 12.500 kW" in result.output
    assert "FAILED:" in result.output


@pytest.mark.parametrize("content", [None, "{\"purchases\": ", "[1, 2]", "{\"purchases\": []}"])
def test_cli_rejects_missing_or_garbled_plans(tmp_path, worked, content):
    scenario, _ = worked
    path = tmp_path / "plan.json"
    if content is not None:
        path.write_text(content)
    result = run_cli(str(scenario.path), str(path))
    assert result.exit_code == 2
    assert "plan.json" in result.output
