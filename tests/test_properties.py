"""Properties any correct plan must have, on generated instances (hypothesis picks the seeds and the scalings).

- Loosening a cap (more power, more racks, a larger budget) never raises the optimal cost.
- More demand never lowers it.
- The optimiser's plan of a changed scenario still passes the independent verifier.
Optimal costs are compared with SCIP at a 1e-9 gap, so a difference beyond 1e-6 relative is a real violation.
"""

from __future__ import annotations

import dataclasses

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from instance_generator import write_instance
from models.verify import verify_plan
from planner.pipeline import plan_document, run_plan
from planner.scenario import load_scenario

RELATIVE = 1e-6
PROPERTY_SETTINGS = settings(max_examples=16, deadline=None, derandomize=True,
                             suppress_health_check=[HealthCheck.function_scoped_fixture])


def optimal_cost_usd(scenario) -> tuple[float, dict]:
    plan = plan_document(run_plan(scenario, backend="scip", time_limit_s=30, gap=1e-9))
    assert plan["status"] == "optimal"
    return plan["objective_usd"], plan


def with_more_capacity(scenario, factor: float):
    sites = scenario.sites.copy()
    sites["power_mw"] = sites["power_mw"] * factor
    sites["racks"] = sites["racks"] * factor
    budget = scenario.finance.budget_usd_per_quarter
    finance = dataclasses.replace(scenario.finance, budget_usd_per_quarter=None if budget is None else budget * factor)
    return dataclasses.replace(scenario, sites=sites, finance=finance)


def with_more_demand(scenario, factor: float):
    demand = scenario.demand.assign(tokens_per_s=scenario.demand["tokens_per_s"] * factor)
    return dataclasses.replace(scenario, demand=demand)


@PROPERTY_SETTINGS
@given(seed=st.integers(0, 200), factor=st.floats(1.0, 3.0), more=st.sampled_from(["capacity", "demand"]))
def test_cost_moves_the_right_way(tmp_path_factory, seed, factor, more):
    """More capacity (power, racks, budget × factor) never raises the optimal cost; more demand never lowers it."""
    scenario = load_scenario(write_instance(tmp_path_factory.mktemp("property"), seed))
    base_usd, _ = optimal_cost_usd(scenario)
    changed = with_more_capacity(scenario, factor) if more == "capacity" else with_more_demand(scenario, factor)
    changed_usd, plan = optimal_cost_usd(changed)
    if more == "capacity":
        assert changed_usd <= base_usd * (1 + RELATIVE) + 1e-6
    else:
        assert changed_usd >= base_usd * (1 - RELATIVE) - 1e-6
    assert verify_plan(changed, plan) == []
