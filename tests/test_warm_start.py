"""The rounded-LP warm start (models/warm_start.py): a plan of its own, verified, never below the optimum."""

from __future__ import annotations

import pytest

from instance_generator import write_instance
from models.verify import verify_plan
from planner.pipeline import plan_document, run_plan
from planner.scenario import load_scenario
from scenario_files import OWNED_FREE_ENERGY, inference, sku, write_scenario


def test_rounding_the_half_node_up_within_the_power_cap(tmp_path):
    """Demand 1,500 tokens/s at 1,000 per node: the relaxation buys 1.5 nodes ($3,000, the reported bound); the
    order is floored to 1 and, the 10 MW cap having room for another 10 kW node, rounded back up to 2: $4,000,
    which is the optimum."""
    path = write_scenario(tmp_path, catalog=[sku()], sites=[OWNED_FREE_ENERGY], workloads=[inference()],
                          demand=[("chat", "2027Q1", 1500)], throughput=[("chat", "a", 1000)])
    plan = plan_document(run_plan(load_scenario(path), backend="heuristic"))
    assert plan["objective_usd"] == pytest.approx(4_000.0, abs=1e-6)
    assert plan["bound_usd"] == pytest.approx(3_000.0, abs=1e-6)
    assert plan["status"] == "feasible" and plan["solver"] == "heuristic"


def test_a_full_power_cap_keeps_the_order_rounded_down(tmp_path):
    """The same demand at a 15 kW site (one 10 kW node fits): the order stays at 1 node and the other 500
    tokens/s go unmet at $1e6 each: $2,000 + $5e8."""
    site = {**OWNED_FREE_ENERGY, "power_mw": 0.015}
    path = write_scenario(tmp_path, catalog=[sku()], sites=[site], workloads=[inference()],
                          demand=[("chat", "2027Q1", 1500)], throughput=[("chat", "a", 1000)])
    plan = plan_document(run_plan(load_scenario(path), backend="heuristic"))
    assert plan["objective_usd"] == pytest.approx(2_000.0 + 500 * 1e6, rel=1e-12)
    assert plan["purchases"][0]["nodes"] == 1


@pytest.mark.parametrize("seed", range(4))
def test_heuristic_plan_verifies_and_never_beats_the_optimum(tmp_path, seed):
    scenario = load_scenario(write_instance(tmp_path / f"instance-{seed}", seed))
    heuristic = plan_document(run_plan(scenario, backend="heuristic"))
    optimum = plan_document(run_plan(scenario, backend="scip", time_limit_s=30, gap=1e-9))
    cold = plan_document(run_plan(scenario, backend="scip", time_limit_s=30, gap=1e-9, warm=False))
    assert verify_plan(scenario, heuristic) == []
    assert optimum["status"] == "optimal"
    assert heuristic["objective_usd"] >= optimum["objective_usd"] - 1e-6 * abs(optimum["objective_usd"])
    assert heuristic["bound_usd"] <= optimum["objective_usd"] + 1e-6 * abs(optimum["objective_usd"])
    # A warm start never makes the final plan worse than a cold solve.
    assert optimum["objective_usd"] == pytest.approx(cold["objective_usd"], rel=1e-6)
