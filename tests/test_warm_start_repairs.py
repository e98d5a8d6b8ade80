"""The warm start's two repairs of its rounding (models/warm_start.py, issue 23 item 2): rack-scale orders rounded
to the nearest whole rack before the rest, and rentals taking up what a node taken back under a cap left undone.
Each is a hand-worked case where the plain round-up is far from the optimum and the repaired plan is the optimum."""

from __future__ import annotations

import pytest

from models.verify import verify_plan
from planner.pipeline import plan_document, run_plan
from planner.scenario import load_scenario
from scenario_files import CLOUD, OWNED_FREE_ENERGY, inference, sku, write_scenario


def test_a_fractional_rack_is_rounded_to_the_nearest_and_servers_take_up_the_rest(tmp_path):
    """Three SKUs at an owned site with free energy (idle at full power: busy work costs nothing), 5-year life
    (20 quarters), no maintenance, one quarter, no discounting, headroom 0, demand 12,000 tokens/s:

    - `a`: $40,000 → $2,000 a quarter, 1,000 tokens/s per node: $2.00 per tokens/s;
    - `b`: $60,000 → $3,000 a quarter, 1,000 tokens/s per node: $3.00 per tokens/s;
    - `r`: a 72-GPU rack, $360,000 → $18,000 a quarter, 10,000 tokens/s per node: $1.80 per tokens/s.

    The median node price is $60,000 and r's is 6× it (≥ RACK_PRICE_RATIO = 4): r is rack-scale. The relaxation
    buys 1.2 racks: $21,600, the bound. Rounded up, 2 racks: $36,000. Rounded to the nearest rack first (1), the
    LP re-solved puts the other 2,000 tokens/s on 2 nodes of `a`: $18,000 + $4,000 = $22,000, the optimum (12 `a`
    cost $24,000; 2 racks $36,000). Gap to the bound: 400 / 22,000 = 1.8 %, so "feasible" at the default gap."""
    rack = sku(sku="r", gpus_per_node=72, price_usd=360000, nodes_per_rack=1)
    path = write_scenario(tmp_path, catalog=[sku(), sku(sku="b", price_usd=60000), rack],
                          sites=[OWNED_FREE_ENERGY], workloads=[inference()], demand=[("chat", "2027Q1", 12000)],
                          throughput=[("chat", "a", 1000), ("chat", "b", 1000), ("chat", "r", 10000)])
    scenario = load_scenario(path)
    plan = plan_document(run_plan(scenario, backend="heuristic"))
    assert plan["bound_usd"] == pytest.approx(21_600.0, abs=1e-6)
    assert plan["objective_usd"] == pytest.approx(22_000.0, abs=1e-6)
    assert sorted((p["sku"], p["nodes"]) for p in plan["purchases"]) == [("a", 2), ("r", 1)]
    assert plan["status"] == "feasible"
    assert verify_plan(scenario, plan) == []


def test_rentals_take_up_what_a_node_taken_back_under_the_cap_left_unmet(tmp_path):
    """A 15 kW owned site with free energy and two 10 kW SKUs, each alone capped at one node (15 kW // 10 kW): `a`
    ($40,000 → $2,000 a quarter) and `b` ($50,000 → $2,500), both 1,000 tokens/s per node; a cloud site rents `a`
    at $1/GPU-h: 8 GPUs × 2,190 h = $17,520 a node-quarter. Demand 1,500 tokens/s, one quarter, headroom 0.

    The relaxation buys one `a` and half a `b` (15 kW, exactly the cap): $2,000 + $1,250 = $3,250, the bound, and
    rents none. Rounded up, `b` is one node: 20 kW > 15 kW, so the cap takes it back, leaving 500 tokens/s unmet
    at $1e6 each. The repair frees the rentals: the LP rents half a node, rounded up to one: $2,000 + $17,520 =
    $19,520, the optimum (one `b` and one rental cost $20,020; two rentals $35,040)."""
    site = {**OWNED_FREE_ENERGY, "power_mw": 0.015}
    path = write_scenario(tmp_path, catalog=[sku(rent_usd_per_gpu_hour=1.0), sku(sku="b", price_usd=50000)],
                          sites=[site, CLOUD], workloads=[inference()], demand=[("chat", "2027Q1", 1500)],
                          throughput=[("chat", "a", 1000), ("chat", "b", 1000)])
    scenario = load_scenario(path)
    plan = plan_document(run_plan(scenario, backend="heuristic"))
    assert plan["bound_usd"] == pytest.approx(3_250.0, abs=1e-6)
    assert plan["objective_usd"] == pytest.approx(19_520.0, abs=1e-6)
    assert [(p["sku"], p["nodes"]) for p in plan["purchases"]] == [("a", 1)]
    assert [(r["site"], r["sku"], r["nodes"]) for r in plan["rentals"]] == [("cloud", "a", 1)]
    assert plan["unmet"] == []
    assert verify_plan(scenario, plan) == []


def test_relax_and_fix_lets_the_next_quarter_make_up_for_a_node_the_budget_took_back(tmp_path):
    """One SKU `a` ($40,000 → $2,000 a quarter in service, 1,000 tokens/s per node, lead 0) at an owned site with free
    energy, two quarters, no discounting, headroom 0, a purchase budget of $60,000 a quarter (1.5 nodes), demand
    1,500 then 2,000 tokens/s, unmet demand at $1e6 per tokens/s.
    The relaxation orders 1.5 nodes in 2027Q1 (the whole budget; two quarters in service: $6,000) and 0.5 in 2027Q2
    ($1,000): $7,000, the bound. Rounded at once, the nodes ordered so far are 2 then 2 (orders 2, 0); the budget
    takes 2027Q1's second node back, so 2027Q2 holds 1 node: 500 + 1,000 tokens/s unmet, $1,500,004,000.
    Relax-and-fix rounds 2027Q1 alone (1 node, the budget's take-back), fixes it, and re-solves: 2027Q2 orders 1
    node ($40,000 ≤ the budget) and serves its 2,000: $4,000 + $2,000 + 500 × $1e6 = $500,006,000, the optimum
    (2027Q1 can hold only one whole node under the budget, so its 500 unmet tokens/s are forced)."""
    path = write_scenario(tmp_path, catalog=[sku()], sites=[OWNED_FREE_ENERGY], workloads=[inference()],
                          demand=[("chat", "2027Q1", 1500), ("chat", "2027Q2", 2000)],
                          throughput=[("chat", "a", 1000)], quarters=2,
                          finance={"budget_usd_per_quarter": 60000})
    scenario = load_scenario(path)
    plan = plan_document(run_plan(scenario, backend="heuristic"))
    assert plan["bound_usd"] == pytest.approx(7_000.0, abs=1e-6)
    assert plan["objective_usd"] == pytest.approx(500_006_000.0, abs=1e-3)
    assert sorted((p["quarter"], p["nodes"]) for p in plan["purchases"]) == [("2027Q1", 1), ("2027Q2", 1)]
    exact = plan_document(run_plan(scenario, backend="scip", gap=0.0))
    assert exact["objective_usd"] == pytest.approx(plan["objective_usd"], abs=1e-3)
    assert verify_plan(scenario, plan) == []
