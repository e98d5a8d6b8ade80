"""Why a strict scenario has no plan: the smallest relaxation that would make it feasible, in words.

Two elastic reformulations of the same model, no variable indices in any message:
1. Requirements hard (all demand served, every run finished), caps elastic: minimise the total excess over power
   caps (MW), racks and budget ($M). Each cap exceeded is named with what it would need and who needs it.
2. If even unlimited caps cannot help (hardware not available in time, no allowed pool big enough), requirements
   elastic: minimise unmet demand and unfinished work, and name what cannot be done.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.formulation import PlanModel, build_plan_model
from models.quarters import Horizon
from models.scenario import Scenario
from models.sets import PlanningSets
from models.solve import solve
from models.units import KW_PER_MW, USD_PER_MILLION_USD

# Relaxation is measured in MW of power, racks, and $M of budget: one unit of each counts the same.
SLACK_WEIGHTS = {"power_slack": 1.0 / KW_PER_MW, "racks_slack": 1.0, "budget_slack": 1.0 / USD_PER_MILLION_USD}
COST_TIE_BREAK = 1e-12  # among equally small relaxations, prefer the cheaper plan (realistic placements)
SIGNIFICANT = 1e-6


def diagnose_infeasibility(scenario: Scenario, sets: PlanningSets, backend: str = "scip", time_limit_s: float = 60.0,
                           strict: bool = True) -> list[str]:
    """Sentences naming the conflicting requirements; empty if the diagnosis itself found nothing.

    Without `strict`, demand may go unmet (at its penalty), so only what must be done (training runs) can
    conflict with a cap: the relaxed model keeps that freedom and blames no cap for demand.
    """
    backend = backend if backend in ("scip", "highs", "cbc") else "scip"
    model = build_plan_model(scenario, sets, strict=strict, elastic_caps=True)
    _minimise_slack(model)
    result = solve(model.lp, backend=backend, time_limit_s=time_limit_s, gap=1e-6)
    if result.has_solution:
        return _cap_messages(model, scenario, result.x)

    model = build_plan_model(scenario, sets, strict=True, elastic_caps=True, elastic_requirements=True)
    _minimise_shortfall(model, scenario, sets)
    result = solve(model.lp, backend=backend, time_limit_s=time_limit_s, gap=1e-6)
    if not result.has_solution:
        return []
    return _requirement_messages(model, scenario, result.x)


def _minimise_slack(model: PlanModel) -> None:
    lp = model.lp
    weights = np.zeros(lp.num_vars)
    for name, weight in SLACK_WEIGHTS.items():
        if name in lp.variables:
            weights[lp.variables[name].positions] = weight
    cost = COST_TIE_BREAK * lp.objective_coefficients()
    lp.objective = weights + cost
    lp.objective_offset *= COST_TIE_BREAK


def _minimise_shortfall(model: PlanModel, scenario: Scenario, sets: PlanningSets) -> None:
    """Unmet demand as a share of the quarter's demand, unfinished work as a share of the run: both 0 … 1."""
    lp = model.lp
    objective = np.zeros(lp.num_vars)
    if "unmet" in lp.variables:
        block = lp.variables["unmet"]
        demand = sets.demand.reindex(block.index).to_numpy()
        objective[block.positions] = 1.0 / np.maximum(demand, 1e-9)
    if "left" in lp.variables:
        objective[lp.variables["left"].positions] = 1.0
    lp.objective = objective
    lp.objective_offset = 0.0


def _cap_messages(model: PlanModel, scenario: Scenario, x: np.ndarray) -> list[str]:
    lp, horizon, sites = model.lp, scenario.horizon, scenario.sites
    busy = lp.value("busy", x)
    messages = []
    for name in ("power_slack", "racks_slack", "budget_slack"):
        if name not in lp.variables:
            continue
        slack = lp.value(name, x)
        for key, excess in slack[slack > SIGNIFICANT].items():
            key = dict(zip(slack.index.names, key if isinstance(key, tuple) else (key,)))
            quarter = int(key["quarter"] if "quarter" in key else key["order_quarter"])
            when = horizon.label(quarter)
            if name == "budget_slack":
                budget = scenario.finance.budget_usd_per_quarter
                messages.append(f"{when}: purchases of ${budget + excess:,.0f} needed to meet every requirement, "
                                f"budget ${budget:,.0f} per quarter")
                continue
            site = key["site"]
            users = _users(busy, quarter, site, scenario, horizon)
            if name == "power_slack":
                cap_kw = sites.at[site, "power_mw"] * KW_PER_MW
                messages.append(f"{when}, site {site}: {_power(cap_kw + excess)} needed at full load"
                                f"{users}, cap {_power(cap_kw)}")
            else:
                racks = sites.at[site, "racks"]
                messages.append(f"{when}, site {site}: {racks + excess:,.1f} racks needed{users}, "
                                f"site has {racks:,.0f}")
    return messages


def _power(kw: float) -> str:
    return f"{kw / KW_PER_MW:,.1f} MW" if kw >= KW_PER_MW else f"{kw:,.1f} kW"


def _users(busy: pd.Series, quarter: int, site: str, scenario: Scenario, horizon: Horizon) -> str:
    """' for X (deadline …; allowed sites …), Y' — the workloads the relaxed plan puts at that site then."""
    rows = busy[(busy.index.get_level_values("quarter") == quarter)
                & (busy.index.get_level_values("site") == site) & (busy > SIGNIFICANT)]
    if rows.empty:
        return ""
    parts = []
    for workload in dict.fromkeys(rows.index.get_level_values("workload")):
        w = scenario.workloads.loc[workload]
        allowed = scenario.allowed_sites(workload)
        others = "no other allowed site" if allowed == (site,) else f"allowed sites {', '.join(allowed)}"
        if w["kind"] == "training":
            parts.append(f"{workload} (before its {horizon.label(int(w['deadline']))} deadline; {others})")
        else:
            parts.append(f"{workload} ({others})")
    return " for " + ", ".join(parts)


def _requirement_messages(model: PlanModel, scenario: Scenario, x: np.ndarray) -> list[str]:
    lp, horizon = model.lp, scenario.horizon
    messages = []
    if "unmet" in lp.variables:
        unmet = lp.value("unmet", x)
        for (quarter, workload), units in unmet[unmet > SIGNIFICANT].items():
            messages.append(f"{horizon.label(int(quarter))}, {workload}: {units:,.1f} tokens/s of demand cannot be "
                            f"served on any eligible SKU at an allowed site, even with no power, rack or budget cap "
                            f"(hardware not available or not delivered in time)")
    if "left" in lp.variables:
        left = lp.value("left", x)
        for workload, fraction in left[left > SIGNIFICANT].items():
            workload = workload[0] if isinstance(workload, tuple) else workload
            w = scenario.workloads.loc[workload]
            messages.append(f"{workload}: {fraction:.1%} of the run cannot be done between "
                            f"{horizon.label(int(w['start']))} and its {horizon.label(int(w['deadline']))} deadline "
                            f"in one pool of an allowed site, even with no power, rack or budget cap")
    return messages


