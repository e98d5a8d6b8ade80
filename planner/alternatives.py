"""`planner alternatives`: the optimum, then near-optimal plans that move away from SKUs, vendors or sites
(models/alternatives.py holds the method), each extracted, priced and verified like any plan."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pandas as pd

from models.alternatives import (
    DIRECTION_TOLERANCE,
    USED_GPU_QUARTERS,
    capped,
    direction_objective,
    gpu_quarters_by_group,
    group_labels,
    with_objective,
    within_slack,
)
from models.errors import InputError, Problem
from models.scenario import Scenario
from models.solve import FEASIBLE, solve
from planner.pipeline import build_plan, complete_run, plan_document, solve_plan, verify_document


@dataclass
class Alternative:
    name: str  # "optimum", "alternative 1", ...
    document: dict  # its PLAN.json
    gpu_quarters: pd.Series  # by group of the direction
    penalised: tuple[str, ...]  # the groups its direction minimised (empty for the optimum)


def _used(series: pd.Series) -> set[str]:
    return set(series.index[series > USED_GPU_QUARTERS])


def run_alternatives(scenario: Scenario, slack: float, count: int, direction: str, avoid: tuple[str, ...] = (),
                     backend: str | None = None, time_limit_s: float | None = None, gap: float | None = None,
                     progress=None, say=None) -> list[Alternative]:
    """The optimum and `count` alternatives within `slack` of its discounted TCO (module docstring)."""
    say = say or (lambda text: None)
    built = build_plan(scenario)
    model, catalog = built.model, built.solved.catalog
    known = set(group_labels(model.nodes, catalog, direction))
    unknown = [group for group in avoid if group not in known]
    if unknown:
        raise InputError(Problem(scenario.path.name, f"nothing to avoid: no {direction} named "
                                                     f"{', '.join(unknown)} (known: {', '.join(sorted(known))})"))
    optimum = solve_plan(built, backend=backend, time_limit_s=time_limit_s, gap=gap, progress=progress)
    document = plan_document(optimum)
    verify_document(scenario, document)
    plans = [Alternative("optimum", document, gpu_quarters_by_group(model.lp, model.nodes, catalog, direction,
                                                                    optimum.result.x), ())]
    say(f"optimum: discounted TCO ${document['objective_usd']:,.0f}")
    bounded = within_slack(model.lp, document["objective_usd"], slack)
    backend = backend or scenario.solver.backend
    backend = "highs" if backend == "heuristic" else backend
    time_limit_s = scenario.solver.time_limit_s if time_limit_s is None else time_limit_s
    gap = scenario.solver.gap if gap is None else gap
    hint = optimum.result.x
    for step in range(1, count + 1):
        penalised = set(avoid)
        if not avoid or step > 1:
            for earlier in plans[(1 if avoid else 0):]:
                penalised |= _used(earlier.gpu_quarters)
        objective = direction_objective(model.lp, model.nodes, catalog, direction, penalised)
        result = solve(with_objective(bounded, objective), backend=backend, time_limit_s=time_limit_s, gap=gap,
                       hint=hint)
        if not result.has_solution:
            say(f"alternative {step}: the solver found none in time ({result.status})")
            break
        reached = float(objective @ result.x)
        polish = capped(bounded, objective, reached * (1 + DIRECTION_TOLERANCE) + DIRECTION_TOLERANCE,
                        "mga_direction_kept")
        polished = solve(polish, backend=backend, time_limit_s=time_limit_s, gap=gap, hint=result.x)
        if polished.has_solution and model.lp.objective @ polished.x <= model.lp.objective @ result.x:
            result = polished
        tco = float(model.lp.objective @ result.x + model.lp.objective_offset)
        run = complete_run(built, dataclasses.replace(result, status=FEASIBLE, objective=tco, bound=None))
        alternative = plan_document(run)
        verify_document(scenario, alternative)
        plans.append(Alternative(f"alternative {step}", alternative,
                                 gpu_quarters_by_group(model.lp, model.nodes, catalog, direction, result.x),
                                 tuple(sorted(penalised))))
        say(f"alternative {step}: discounted TCO ${alternative['objective_usd']:,.0f}, away from "
            f"{', '.join(sorted(penalised))}")
    return plans


def summary_rows(plans: list[Alternative]) -> list[dict]:
    """One row per plan: TCO, its excess over the optimum, GPU-quarters per group, what it avoids."""
    optimum = plans[0]
    base_tco = optimum.document["objective_usd"]
    rows = []
    for plan in plans:
        tco = plan.document["objective_usd"]
        avoided = sorted(_used(optimum.gpu_quarters) - _used(plan.gpu_quarters))
        rows.append({"name": plan.name, "objective_usd": tco, "excess_pct": (tco - base_tco) / base_tco * 100.0,
                     "gpu_quarters": {group: float(value) for group, value in plan.gpu_quarters.items()
                                      if value > USED_GPU_QUARTERS},
                     "minimised": list(plan.penalised), "avoids": avoided,
                     "orders": len(plan.document["purchases"]), "status": plan.document["status"]})
    return rows
