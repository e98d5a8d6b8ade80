"""Baselines as complete plans: each rule of models/baselines.py solved, priced and verified like the optimum.

`baseline_run` gives one baseline's own plan (a PlanRun, so `plan_document` writes it and `planner verify` and
`planner report` read it like any plan; its solver reads `baseline:NAME`). `compare_with_baselines` prices every
baseline for PLAN.json's `baselines` field; a baseline that fails says so in its status, the plan goes on.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from models.baselines import (GREEDY, JUST_IN_TIME, SINGLE_SKU, greedy_procurement, only_sku, past_fixed,
                              procurement_of, procurement_skus, sku_lower_bounds, truncated_scenario,
                              truncation_is_whole, with_procurement)
from models.cuts import strengthened
from models.errors import SolverError
from models.sets import build_sets
from models.solve import FEASIBLE, NO_SOLUTION, OPTIMAL, SolveResult
from models.warm_start import GAP_FLOOR_USD
from planner.pipeline import MIN_SOLVE_S, BuiltPlan, PlanRun, build_plan, complete_run, solve_program

# Each baseline solve is time-limited so that pricing three baselines beside the plan stays a fraction of the
# plan's own time (measured on the shipped example: docs/baselines.md); the scenario's limit applies if lower.
BASELINE_TIME_LIMIT_S = 10.0
# A baseline made of many solves (one per SKU, one per quarter) shares this budget: once spent, each further solve
# gets MIN_SOLVE_S after its warm start (a plan still, maybe not the rule's best one: its status says so).
BASELINE_BUDGET_S = 30.0
SOLVER_PREFIX = "baseline:"
# A baseline within this relative distance of the solver's plan is the same plan up to floating-point rounding
# (cost lines summed in another order): the solver's is kept, so a plan does not flip between equal candidates.
TIE_RELATIVE = 1e-9
BOUND_TOLERANCE = 1e-9  # relative: solvers return values within their feasibility tolerance of a bound


@dataclasses.dataclass(frozen=True)
class BaselineOptions:
    backend: str
    time_limit_s: float  # per solve
    gap: float
    budget_s: float = math.inf  # all the solves of one baseline together


class _Clock:
    """Time left of one baseline's budget, as a time limit for its next solve."""

    def __init__(self, options: BaselineOptions):
        self.options, self.started = options, time.perf_counter()

    def limit_s(self) -> float:
        left = self.options.budget_s - (time.perf_counter() - self.started)
        return max(min(self.options.time_limit_s, left), MIN_SOLVE_S)


def options_for(built: BuiltPlan, backend: str | None = None, time_limit_s: float | None = None,
                gap: float | None = None, beside_a_plan: bool = True) -> BaselineOptions:
    """The plan's backend, time limit and gap; `beside_a_plan` (priced for PLAN.json's `baselines`, not asked for
    on its own) limits each solve to BASELINE_TIME_LIMIT_S and the baseline to BASELINE_BUDGET_S."""
    solver = built.scenario.solver
    limit = solver.time_limit_s if time_limit_s is None else time_limit_s
    gap = solver.gap if gap is None else gap
    if beside_a_plan:
        return BaselineOptions(backend or solver.backend, min(BASELINE_TIME_LIMIT_S, limit), gap, BASELINE_BUDGET_S)
    return BaselineOptions(backend or solver.backend, limit, gap)


def baseline_run(built: BuiltPlan, name: str, options: BaselineOptions, sku: str | None = None) -> PlanRun:
    """Baseline `name`'s complete plan; SolverError when the rule leaves no feasible plan (e.g. runs that must
    finish cannot). `sku` forces single-sku's SKU."""
    started = time.perf_counter()
    clock = _Clock(options)
    if name == GREEDY:
        restricted, result = _greedy(built, clock)
        label = GREEDY
    elif name == SINGLE_SKU:
        restricted, result, chosen = _single_sku(built, clock, sku)
        label = f"{SINGLE_SKU}:{chosen}"
    elif name == JUST_IN_TIME:
        restricted, result = _just_in_time(built, clock)
        label = JUST_IN_TIME
    else:
        raise ValueError(f"unknown baseline {name!r}")
    result = dataclasses.replace(result, backend=SOLVER_PREFIX + label, seconds=time.perf_counter() - started)
    return complete_run(restricted, result)


def compare_with_baselines(optimal: PlanRun, options: BaselineOptions,
                           names=(GREEDY, SINGLE_SKU, JUST_IN_TIME)) -> list[dict]:
    """PLAN.json's `baselines`: each baseline's objective and the optimal plan's saving against it."""
    return _rows(optimal, _baseline_runs(optimal.built, options, names))


def best_of_plan_and_baselines(solved: PlanRun, options: BaselineOptions,
                               names=(GREEDY, SINGLE_SKU, JUST_IN_TIME)) -> tuple[PlanRun, list[dict]]:
    """Every plan the command computed is a candidate: where a baseline is cheaper than the solver's incumbent (a
    time-limited solve, or one stopped at its gap), that baseline's plan becomes the plan, and the `baselines`
    rows are the savings against it. The first of `names` wins a tie. See `adopt`."""
    runs = _baseline_runs(solved.built, options, names)
    cheapest = None
    for _, run in runs:
        if not isinstance(run, PlanRun) or not _within_bounds(solved.built.model.lp, run.result.x):
            continue
        if cheapest is None or _objective_usd(run) < _objective_usd(cheapest):
            cheapest = run
    plan = solved
    if cheapest is not None and _objective_usd(cheapest) < _objective_usd(solved) - _tie_usd(solved):
        plan = adopt(solved, cheapest, options.gap)
    return plan, _rows(plan, runs)


def adopt(solved: PlanRun, baseline: PlanRun, gap: float) -> PlanRun:
    """The baseline's solution as the plan of `solved`'s program, with the solver's bound.

    A baseline's program is the plan's with some orders and rentals fixed by bounds, so its solution is a plan
    of the whole program. The bound stays the solver's (a baseline proves nothing about the optimum): the status
    is "optimal" only where that bound puts the adopted plan within `gap`; with no bound (a backend that gives
    none) the solver's status stands, since the solver proved its own, dearer plan within the gap. The solver
    field names both: `scip+baseline:single-sku:H100`."""
    result = solved.result
    objective = float(baseline.result.objective)
    bound = result.bound
    if bound is None:
        status = result.status
    else:
        bound = min(bound, objective)  # a bound above a feasible plan is solver tolerance: the plan is the optimum
        status = OPTIMAL if objective - bound <= gap * max(abs(objective), GAP_FLOOR_USD) else FEASIBLE
    adopted = SolveResult(status, f"{result.backend}+{baseline.result.backend}", baseline.result.x, objective,
                          bound, result.seconds)
    return complete_run(solved.built, adopted)


def _within_bounds(lp, x) -> bool:
    """Whether a restricted program's solution keeps the whole program's variable bounds (a rule may fix an order
    beyond a bound the formulation derived; its plan then stays a baseline and is not adopted)."""
    slack = BOUND_TOLERANCE * np.maximum(1.0, np.abs(x))
    return bool(np.all(x >= lp.lower - slack) and np.all(x <= lp.upper + slack))


def _tie_usd(run: PlanRun) -> float:
    """Below this the baseline is the solver's plan up to rounding: keep the solver's."""
    return TIE_RELATIVE * max(abs(_objective_usd(run)), GAP_FLOOR_USD)


def _baseline_runs(built: BuiltPlan, options: BaselineOptions, names) -> list[tuple[str, PlanRun | str]]:
    """Each baseline's plan, or why it has none."""
    runs = []
    for name in names:
        try:
            runs.append((name, baseline_run(built, name, options)))
        except (SolverError, ValueError) as error:  # no plan under the rule, or a rule's decision the program lacks
            runs.append((name, str(error)))
    return runs


def _rows(plan: PlanRun, runs: list[tuple[str, PlanRun | str]]) -> list[dict]:
    objective_usd = _objective_usd(plan)
    rows = []
    for name, run in runs:
        if not isinstance(run, PlanRun):
            rows.append({"name": name, "status": "failed", "objective_usd": None, "saving_usd": None,
                         "saving_pct": None, "detail": run})
            continue
        objective = _objective_usd(run)
        saving = objective - objective_usd
        adopted = " (adopted as the plan: cheaper than the solver's incumbent)" if plan.result.x is run.result.x \
            else ""
        rows.append({"name": name, "status": run.result.status, "objective_usd": objective, "saving_usd": saving,
                     "saving_pct": saving / objective if objective else None,
                     "detail": _detail(run) + adopted})
    return rows


def _objective_usd(run: PlanRun) -> float:
    """The plan's objective as PLAN.json states it (Σ costs.discounted_usd, pipeline.plan_document)."""
    return float(run.tables["costs"]["discounted_usd"].sum())


def _detail(run: PlanRun) -> str:
    tables = run.tables
    what = run.result.backend.removeprefix(SOLVER_PREFIX)
    sku = f"buys and rents only {what.split(':', 1)[1]}; " if ":" in what else ""
    unmet = f", unmet demand in {len(tables['unmet'])} quarter-workloads" if len(tables["unmet"]) else ""
    unfinished = f", {len(tables['unfinished'])} runs unfinished" if len(tables["unfinished"]) else ""
    return f"{sku}{len(tables['purchases'])} orders, {len(tables['rentals'])} rentals{unmet}{unfinished}"


def _restricted(built: BuiltPlan, lp) -> BuiltPlan:
    return dataclasses.replace(built, model=dataclasses.replace(built.model, lp=lp))


def _solved(built: BuiltPlan, clock: _Clock, what: str, cutoff_usd: float | None = None) -> SolveResult | None:
    """Solve a restricted program: the backend alone first (measured on the shipped example, twice as fast as from
    the warm start on these smaller programs, to the same plans within the gap); from the warm start (a plan
    whatever happens) only where that found none in time. With `cutoff_usd` (a plan already found at that cost),
    None once the solver proves no plan of this program is cheaper (SCIP stops there: `limits/dual`)."""
    backend, gap = clock.options.backend, clock.options.gap
    limit_s = clock.limit_s()
    result = solve_program(built, backend, limit_s, gap, warm=False, cutoff_usd=cutoff_usd)
    if cutoff_usd is not None and result.bound is not None and \
            result.bound >= cutoff_usd - TIE_RELATIVE * max(abs(cutoff_usd), GAP_FLOOR_USD):
        return None
    if result.status == NO_SOLUTION:
        limit_s = clock.limit_s()
        result = solve_program(built, backend, limit_s, gap, warm=True)
    if not result.has_solution:
        why = "no plan found in time" if result.status == NO_SOLUTION else "no feasible plan"
        raise SolverError(f"{what}: {why} ({backend}, time limit {limit_s:g} s)")
    return result


def _greedy(built: BuiltPlan, clock: _Clock) -> tuple[BuiltPlan, SolveResult]:
    """The rule's orders and rentals (sized per service, not per merged class), fixed; placement solved."""
    sets = build_sets(built.scenario, built.performance)
    orders, rentals = greedy_procurement(built.scenario, sets, built.model.cost_parameters)
    restricted = _restricted(built, with_procurement(built.model.lp, orders, rentals))
    return restricted, _solved(restricted, clock, "greedy")


def _single_sku(built: BuiltPlan, clock: _Clock, sku: str | None) -> tuple[BuiltPlan, SolveResult, str]:
    """One solve per SKU (or the forced one), the cheapest kept."""
    lp = built.model.lp
    candidates = [sku] if sku is not None else procurement_skus(lp)
    # The relaxation with the valid inequalities of models/cuts.py: the same integer plans, a higher bound (on the
    # shipped example b200's rises from $89.0 M to $128.3 M, above the $108.0 M gb200 plan: one MILP fewer).
    bounds = sku_lower_bounds(strengthened(lp, built.cuts), candidates, clock.limit_s()) \
        if len(candidates) > 1 else {}
    candidates.sort(key=lambda c: bounds.get(c) if bounds.get(c) is not None else -math.inf)  # likeliest first
    best = None
    failures = []
    for candidate in candidates:
        bound = bounds.get(candidate)
        if bound is not None and best is not None and bound >= best[1].objective:
            continue  # its relaxation already costs more than the best plan found: no plan of it is cheaper
        restricted = _restricted(built, only_sku(lp, candidate))
        try:  # stopped as soon as its bound reaches the best plan's cost: no plan of it would be kept
            result = _solved(restricted, clock, f"single-sku {candidate}",
                             cutoff_usd=None if best is None else best[1].objective)
        except SolverError as error:
            failures.append(str(error))
            continue
        if result is None:
            continue
        if best is None or result.objective < best[1].objective:
            best = (restricted, result, candidate)
    if best is None:
        raise SolverError("single-sku: no SKU alone gives a plan" + "".join(f"\n  - {f}" for f in failures))
    return best


def _just_in_time(built: BuiltPlan, clock: _Clock) -> tuple[BuiltPlan, SolveResult]:
    """Quarter by quarter on the truncated scenario, the past frozen; then every decision fixed over the horizon."""
    scenario = built.scenario
    orders, rentals = procurement_of(built.model.lp, built.model.lp.lower)  # nothing decided yet
    for quarter in range(scenario.horizon.quarters):
        # The last quarter's view is the whole scenario where no run is cut short: its program is `built`'s own,
        # not built again (the same matrix, bounds and objective: tests/test_baselines.py).
        step = built if truncation_is_whole(scenario, quarter) else \
            build_plan(truncated_scenario(scenario, quarter), strict=built.strict)
        step = _restricted(step, past_fixed(step.model.lp, orders, rentals, quarter))
        label = f"just-in-time, quarter {scenario.horizon.label(quarter)} with the past frozen"
        orders, rentals = procurement_of(step.model.lp, _solved(step, clock, label).x)
    restricted = _restricted(built, with_procurement(built.model.lp, orders, rentals))
    return restricted, _solved(restricted, clock, "just-in-time over the whole horizon")
