"""`planner plan --horizon-quarters H [--overlap-quarters O]`: the rolling-horizon plan, window by window, each
window the previous windows' decisions frozen (planner/replan.py `solve_frozen`), and the cost of myopia against
the perfect-foresight optimum (models/myopic.py holds the conventions)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from models.myopic import window_scenario, windows
from models.plan_schema import assemble
from models.scenario import Scenario
from planner.pipeline import PlanRun, build_plan, plan_document, solve_plan
from planner.replan import solve_frozen


@dataclass
class MyopicRun:
    run: PlanRun  # the last window: the whole horizon with the myopic decisions frozen
    document: dict  # its PLAN.json, with `myopic`
    perfect_foresight_document: dict


def run_myopic_plan(scenario: Scenario, horizon_quarters: int, overlap_quarters: int = 0,
                    backend: str | None = None, time_limit_s: float | None = None, gap: float | None = None,
                    progress=None, say=None) -> MyopicRun:
    """Solve the windows in order (each gets `time_limit_s` and `gap`), then the perfect-foresight plan."""
    say = say or (lambda text: None)
    schedule = windows(scenario.horizon.quarters, horizon_quarters, overlap_quarters)
    label = scenario.horizon.label
    records, document, run = [], None, None
    for number, (first, end) in enumerate(schedule, start=1):
        started = time.perf_counter()
        built = build_plan(window_scenario(scenario, end))
        if document is None:
            run = solve_plan(built, backend=backend, time_limit_s=time_limit_s, gap=gap, progress=progress)
        else:
            run, _ = solve_frozen(built, document, label(first), f"myopic window {number}", backend=backend,
                                  time_limit_s=time_limit_s, gap=gap, progress=progress)
        document = plan_document(run)
        records.append({"first_decided": label(first), "last_seen": label(end - 1), "status": document["status"],
                        "objective_usd": document["objective_usd"], "gap": document["gap"]})
        say(f"window {number}/{len(schedule)}: decides {label(first)}–, sees to {label(end - 1)}: objective "
            f"${document['objective_usd']:,.0f} ({document['status']}, {time.perf_counter() - started:.1f} s)")
    perfect = plan_document(solve_plan(build_plan(scenario), backend=backend, time_limit_s=time_limit_s, gap=gap))
    say(f"perfect foresight: objective ${perfect['objective_usd']:,.0f} ({perfect['status']})")
    myopic_usd, perfect_usd, bound = document["objective_usd"], perfect["objective_usd"], perfect["bound_usd"]
    figures = {"horizon_quarters": horizon_quarters, "overlap_quarters": overlap_quarters, "windows": records,
               "perfect_foresight_objective_usd": perfect_usd, "perfect_foresight_bound_usd": bound,
               "myopia_cost_usd": myopic_usd - perfect_usd,
               "myopia_cost_max_usd": None if bound is None else myopic_usd - bound,
               "myopia_cost_pct": (myopic_usd - perfect_usd) / perfect_usd if perfect_usd else 0.0}
    return MyopicRun(run=run, document=assemble({**document, "myopic": figures}),
                     perfect_foresight_document=perfect)
