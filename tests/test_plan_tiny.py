"""Tiny planning instances whose optimum is derived by hand, solved on every backend.

Unless a docstring says otherwise: one SKU `a` (ROUND_SKU in scenario_files: $40,000, 5-year life → $2,000
depreciation per node-quarter, no maintenance, idle_frac 1 so busy work adds no energy), electricity $0, carbon $0,
discount rate 0, throughput overrides of 1,000 tokens/s per node, unmet demand at $1,000,000 per tokens/s-quarter.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from planner.pipeline import plan_document, run_plan
from planner.scenario import load_scenario
from scenario_files import CLOUD, OWNED_FREE_ENERGY, inference, sku, training, write_scenario

BACKENDS = ["scip", "highs", "cp-sat", "cbc"]
WORKED_EXAMPLE = Path(__file__).resolve().parent / "cases" / "worked-example" / "scenario.yaml"
RENT_PER_NODE_QUARTER_USD = 1.0 * 8 * 2190  # $1/GPU-h × 8 GPUs × 2,190 h = $17,520


def solve_plan(path: Path, backend: str, **options) -> dict:
    return plan_document(run_plan(load_scenario(path), backend=backend, time_limit_s=30, gap=1e-9, **options))


def nodes_ordered(plan: dict) -> dict:
    return {(p["quarter"], p["site"], p["sku"]): p["nodes"] for p in plan["purchases"]}


def nodes_rented(plan: dict) -> dict:
    return {(r["quarter"], r["site"], r["sku"]): r["nodes"] for r in plan["rentals"]}


@pytest.mark.parametrize("backend", BACKENDS)
def test_worked_example_optimum(backend):
    """The worked example (tests/cases/worked-example): $111,108.18, derived line by line in its README.

    2 nodes bought at A in 2027Q1 (power cap 25 kW / (10 kW × 1.25) = 2), 1 node rented in 2027Q2; in 2027Q2 the
    rented node runs fully busy (its busy share costs $252.945 vs $2,299.50 at A) and A carries the other 1.5.
    """
    if not WORKED_EXAMPLE.is_file():
        pytest.fail(f"the worked example is missing: {WORKED_EXAMPLE}")
    plan = solve_plan(WORKED_EXAMPLE, backend)
    assert plan["objective_usd"] == pytest.approx(111_108.18, abs=0.01)
    assert nodes_ordered(plan) == {("2027Q1", "A", "h"): 2}
    assert nodes_rented(plan) == {("2027Q2", "cloud", "h"): 1}
    split = {(p["quarter"], p["site"]): p["node_equivalents"] for p in plan["placement"]}
    assert split[("2027Q2", "A")] == pytest.approx(1.5, abs=1e-3)
    assert split[("2027Q2", "cloud")] == pytest.approx(1.0, abs=1e-3)
    assert plan["costs"][0]["total_usd"] == pytest.approx(34_220.25, abs=0.01)
    assert plan["costs"][1]["total_usd"] == pytest.approx(78_381.60, abs=0.01)
    assert sum(c["discounted_usd"] for c in plan["costs"]) == pytest.approx(plan["objective_usd"], rel=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_lead_time_forces_an_earlier_order(tmp_path, backend):
    """Lead time 1 quarter, demand 1,000 tokens/s only in 2027Q2 (one node).

    An order in 2027Q2 would enter service in 2027Q3, after the horizon, so the node is ordered in 2027Q1 and
    serves from 2027Q2. Cost: depreciation in 2027Q2 only = $2,000.
    """
    path = write_scenario(tmp_path, catalog=[sku(lead_quarters=1)], sites=[OWNED_FREE_ENERGY],
                          workloads=[inference()], demand=[("chat", "2027Q2", 1000)],
                          throughput=[("chat", "a", 1000)], quarters=2)
    plan = solve_plan(path, backend)
    assert plan["objective_usd"] == pytest.approx(2_000.0, abs=1e-3)
    assert nodes_ordered(plan) == {("2027Q1", "A", "a"): 1}
    assert plan["purchases"][0]["in_service"] == "2027Q2"


@pytest.mark.parametrize("backend", BACKENDS)
def test_power_cap_pushes_load_to_a_pricier_site(tmp_path, backend):
    """Demand 2,000 tokens/s = 2 nodes. Site A (free power) has a 12.5 kW cap at PUE 1.25: 10 × 1.25 = 12.5 kW per
    node → 1 node. Site B pays $0.10/kWh at PUE 1.0: 10 kW × 2,190 h × $0.10 = $2,190 per node-quarter (idle_frac 1,
    so the node draws full power whether busy or not).

    Optimum: 1 node at A ($2,000) + 1 node at B ($2,000 + $2,190) = $6,190.
    """
    site_a = dict(OWNED_FREE_ENERGY, power_mw=0.0125, pue=1.25)
    site_b = dict(OWNED_FREE_ENERGY, site="B", usd_per_kwh=0.10)
    path = write_scenario(tmp_path, catalog=[sku()], sites=[site_a, site_b], workloads=[inference()],
                          demand=[("chat", "2027Q1", 2000)], throughput=[("chat", "a", 1000)])
    plan = solve_plan(path, backend)
    assert plan["objective_usd"] == pytest.approx(6_190.0, abs=1e-3)
    assert nodes_ordered(plan) == {("2027Q1", "A", "a"): 1, ("2027Q1", "B", "a"): 1}
    assert plan["costs"][0]["energy_kwh"] == pytest.approx(10 * 1.25 * 2190 + 10 * 1.0 * 2190)


@pytest.mark.parametrize("backend", BACKENDS)
def test_memory_fit_excludes_the_small_card(tmp_path, backend):
    """A 405B bf16 model: 810 GB of weights. The cheap card `small` (8 × 10 GB, 90 % usable = 72 GB per node) would
    need 12 nodes per replica, over the 8-node limit, so it is ineligible although it costs $400 a quarter.
    The big card `a` (8 × 80 GB = 576 GB usable per node) needs a 2-node replica; with a measured 1,000 tokens/s per
    node, demand of 1,000 tokens/s keeps 1 node busy but the replica needs both: 2 × $2,000 = $4,000.
    """
    small = sku(sku="small", hbm_gb=10, price_usd=8000)
    path = write_scenario(tmp_path, catalog=[sku(), small], sites=[OWNED_FREE_ENERGY],
                          workloads=[inference(params_b=405)], demand=[("chat", "2027Q1", 1000)],
                          throughput=[("chat", "a", 1000)])
    plan = solve_plan(path, backend)
    assert plan["objective_usd"] == pytest.approx(4_000.0, abs=1e-3)
    assert nodes_ordered(plan) == {("2027Q1", "A", "a"): 2}


@pytest.mark.parametrize("backend", BACKENDS)
def test_budget_cap_leaves_unmet_demand(tmp_path, backend):
    """Demand 2,000 tokens/s (2 nodes) but a $50,000 purchase budget per quarter buys one $40,000 node.
    Unmet demand costs $10 per tokens/s-quarter: 1,000 × $10 = $10,000, plus $2,000 depreciation = $12,000
    (without the budget: $4,000).
    """
    path = write_scenario(tmp_path, catalog=[sku()], sites=[OWNED_FREE_ENERGY], workloads=[inference()],
                          demand=[("chat", "2027Q1", 2000)], throughput=[("chat", "a", 1000)],
                          finance={"budget_usd_per_quarter": 50_000, "unmet_usd_per_unit": 10.0})
    plan = solve_plan(path, backend)
    assert plan["objective_usd"] == pytest.approx(12_000.0, abs=1e-3)
    assert nodes_ordered(plan) == {("2027Q1", "A", "a"): 1}
    assert plan["unmet"] == [{"quarter": "2027Q1", "workload": "chat", "units": pytest.approx(1000.0, abs=1e-3)}]


@pytest.mark.parametrize("backend", BACKENDS)
def test_training_run_stays_in_one_pool(tmp_path, backend):
    """A run of 15.768B tokens at a measured 1,000 tokens/s per node = 4,380 node-hours = 2 node-quarters, due in
    its only quarter. Owned sites A and B each fit one node (12.5 kW cap at PUE 1.25): splitting across them would
    cost 2 × $2,000 = $4,000, but a run does not straddle sites, so it rents 2 nodes in the cloud:
    2 × $17,520 = $35,040.
    """
    site_a = dict(OWNED_FREE_ENERGY, power_mw=0.0125, pue=1.25)
    site_b = dict(site_a, site="B")
    path = write_scenario(tmp_path, catalog=[sku(rent_usd_per_gpu_hour=1.0)], sites=[site_a, site_b, CLOUD],
                          workloads=[training("pretrain", 1, 15.768, "2027Q1", "2027Q1")],
                          throughput=[("pretrain", "a", 1000)])
    plan = solve_plan(path, backend)
    assert plan["objective_usd"] == pytest.approx(2 * RENT_PER_NODE_QUARTER_USD, abs=1e-3)
    assert nodes_ordered(plan) == {}
    assert nodes_rented(plan) == {("2027Q1", "cloud", "a"): 2}
    assert {(p["site"], p["sku"]) for p in plan["placement"]} == {("cloud", "a")}


@pytest.mark.parametrize("backend", BACKENDS)
def test_renting_beats_buying_for_a_one_quarter_spike(tmp_path, backend):
    """Cash mode: a node costs $40,000 up front, a rented one $17,520 a quarter. Base demand 1,000 tokens/s for four
    quarters (buy: $40,000 < 4 × $17,520) plus a 1,000 tokens/s spike in 2027Q3 only (rent: $17,520 < $40,000).
    Optimum $57,520: one node bought in 2027Q1, one rented in 2027Q3.
    """
    demand = [("chat", q, 1000) for q in ("2027Q1", "2027Q2", "2027Q4")] + [("chat", "2027Q3", 2000)]
    path = write_scenario(tmp_path, catalog=[sku(rent_usd_per_gpu_hour=1.0)], sites=[OWNED_FREE_ENERGY, CLOUD],
                          workloads=[inference()], demand=demand, throughput=[("chat", "a", 1000)], quarters=4,
                          finance={"capex_mode": "cash"})
    plan = solve_plan(path, backend)
    assert plan["objective_usd"] == pytest.approx(40_000 + RENT_PER_NODE_QUARTER_USD, abs=1e-3)
    assert nodes_ordered(plan) == {("2027Q1", "A", "a"): 1}
    assert nodes_rented(plan) == {("2027Q3", "cloud", "a"): 1}


@pytest.mark.parametrize("backend", BACKENDS)
def test_old_fleet_retires_mid_horizon(tmp_path, backend):
    """One fleet node installed 2022Q3 with a 5-year life serves 20 quarters: 2022Q3 … 2027Q2. Demand 1,000 tokens/s
    every quarter of 2027. The fleet covers Q1–Q2 (depreciation $2,000 each, fleet included); a new node is ordered
    in 2027Q3 (lead 0) for Q3–Q4. Total 4 × $2,000 = $8,000.
    """
    demand = [("chat", q, 1000) for q in ("2027Q1", "2027Q2", "2027Q3", "2027Q4")]
    path = write_scenario(tmp_path, catalog=[sku()], sites=[OWNED_FREE_ENERGY], workloads=[inference()],
                          demand=demand, throughput=[("chat", "a", 1000)], fleet=[("A", "a", 1, "2022Q3")],
                          quarters=4)
    plan = solve_plan(path, backend)
    assert plan["objective_usd"] == pytest.approx(8_000.0, abs=1e-3)
    assert nodes_ordered(plan) == {("2027Q3", "A", "a"): 1}
    in_service = {row["quarter"]: row["nodes"] for row in plan["fleet"]}
    assert in_service == {"2027Q1": 1, "2027Q2": 1, "2027Q3": 1, "2027Q4": 1}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("capex_mode, expected_usd, bought, rented", [
    ("depreciation", 2_000.0, 1, 0),  # $40,000 / 20 quarters < $17,520 rent
    ("cash", RENT_PER_NODE_QUARTER_USD, 0, 1),  # $40,000 up front > $17,520 rent
])
def test_capex_mode_changes_the_decision(tmp_path, backend, capex_mode, expected_usd, bought, rented):
    """One quarter, one node of demand. Depreciation charges $2,000 for an owned node this quarter, so buying wins;
    cash charges the whole $40,000 now, so renting ($17,520) wins."""
    path = write_scenario(tmp_path, catalog=[sku(rent_usd_per_gpu_hour=1.0)], sites=[OWNED_FREE_ENERGY, CLOUD],
                          workloads=[inference()], demand=[("chat", "2027Q1", 1000)],
                          throughput=[("chat", "a", 1000)], finance={"capex_mode": capex_mode})
    plan = solve_plan(path, backend)
    assert plan["objective_usd"] == pytest.approx(expected_usd, abs=1e-3)
    assert sum(nodes_ordered(plan).values()) == bought
    assert sum(nodes_rented(plan).values()) == rented


@pytest.mark.parametrize("backend", ["scip", "cbc"])
def test_depreciation_uses_life_years_times_four_exactly(tmp_path, backend):
    """A 4.9-year life: depreciation is $40,000 / (4.9 × 4) = $2,040.8163 per node-quarter (the convention's
    formula, not the rounded 20-quarter service life)."""
    path = write_scenario(tmp_path, catalog=[sku(life_years=4.9)], sites=[OWNED_FREE_ENERGY], workloads=[inference()],
                          demand=[("chat", "2027Q1", 1000)], throughput=[("chat", "a", 1000)])
    plan = solve_plan(path, backend)
    assert plan["objective_usd"] == pytest.approx(40_000 / 19.6, abs=1e-6)
