"""`planner replan`: the scenario's current data, with every decision before the as-of quarter kept from a saved
plan (models/replan.py says what is frozen); the sunk part of the cost reported apart."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.errors import InputError, Problem
from models.plan_diff import PlanDiff, diff_plans
from models.plan_schema import assemble
from models.replan import committed_part, frozen_columns, sunk_and_remaining_usd, with_rentals
from models.scenario import Scenario
from planner.pipeline import BuiltPlan, PlanRun, build_plan, plan_document, solve_plan


@dataclass
class Replan:
    document: dict  # the new PLAN.json, with `replan`
    diff: PlanDiff  # old plan → new plan
    frozen_columns: int


def run_replan(scenario: Scenario, plan: dict, plan_path: str | Path, as_of: str, backend: str | None = None,
               time_limit_s: float | None = None, gap: float | None = None, progress=None) -> Replan:
    name = Path(plan_path).name
    quarters = scenario.quarters
    problems = []
    if as_of not in quarters:
        problems.append(Problem(name, f"--as-of {as_of} is not a quarter of the scenario's horizon "
                                      f"({quarters[0]}–{quarters[-1]})"))
    if plan["horizon"]["start"] != quarters[0]:
        problems.append(Problem(name, f"the plan starts in {plan['horizon']['start']}, the scenario in "
                                      f"{quarters[0]}: re-plan a scenario that starts where the plan did"))
    if problems:
        raise InputError(problems)
    run, frozen = solve_frozen(build_plan(scenario), plan, as_of, name, backend=backend, time_limit_s=time_limit_s,
                               gap=gap, progress=progress)
    document = plan_document(run)
    sunk, remaining = sunk_and_remaining_usd(document["costs"], quarters, as_of)
    kept = [row for row in plan["purchases"] if quarters.index(row["quarter"]) < quarters.index(as_of)]
    document = assemble({**document, "replan": {
        "as_of": as_of, "from_plan": str(plan_path), "frozen_orders": len(kept),
        "frozen_nodes": float(sum(row["nodes"] for row in kept)),
        "sunk_usd": sunk, "remaining_usd": remaining}})
    return Replan(document=document, diff=diff_plans(plan, document), frozen_columns=frozen)


def solve_frozen(built: BuiltPlan, plan: dict, as_of: str, name: str, backend: str | None = None,
                 time_limit_s: float | None = None, gap: float | None = None,
                 progress=None) -> tuple[PlanRun, int]:
    """`built`'s program with the saved plan's decisions before `as_of` pinned (models/replan.py), solved; and the
    number of columns pinned. `name` names the plan in an input error (its decisions no longer fit the data)."""
    scenario, model = built.scenario, built.model
    quarters = scenario.quarters
    from models.stochastic import first_stage_from_plan  # imports JAX (3 s): only replan needs it, not the CLI

    try:
        committed = committed_part(plan, quarters, as_of)
        plan_x = first_stage_from_plan(model, committed, scenario.horizon, built.solved.headroom)
        plan_x = with_rentals(model, plan_x, committed["rentals"], scenario.horizon)
    except ValueError as error:
        raise InputError(Problem(name, f"its decisions do not fit the scenario's current data: {error}")) from None
    frozen = frozen_columns(model, plan_x, scenario.horizon.relative(as_of))
    lower, upper = model.lp.lower, model.lp.upper
    outside = frozen & ((plan_x < lower - 1e-9) | (plan_x > upper + 1e-9))
    if outside.any():
        raise InputError(Problem(name, f"{int(outside.sum())} decision(s) made before {as_of} are no longer allowed "
                                       f"by the scenario (e.g. a SKU's availability or a site's cap changed)"))
    fixed = dataclasses.replace(model, lp=model.lp.with_fixed(frozen, plan_x, relax=np.zeros_like(frozen)))
    run = solve_plan(dataclasses.replace(built, model=fixed), backend=backend, time_limit_s=time_limit_s, gap=gap,
                     progress=progress)
    return run, int(frozen.sum())
