"""load → estimate → build → solve → tables: the `plan` pipeline, shared by the CLI and the tests."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.aggregate import ServiceClasses, aggregate_scenario, expand_duals, expand_tables, find_service_classes
from models.cost_parameters import PENALTY_LINES_USD, SPEND_LINES_USD
from models.cuts import pool_cuts, strengthened
from models.diagnose import diagnose_infeasibility
from models.errors import SolverError
from models.explain import facility_reasons, order_uses, plan_warnings, shadow_prices
from models.extract import extract_tables
from models.formulation import USD_LINES, PlanModel, build_plan_model
from models.lp import LinearProgram
from models.money import purchase_book_values
from models.performance import estimate_performance
from models.queueing import size_for_slo
from models.plan_schema import RESULT_TABLES, TOTALS_FIELDS, assemble, table_columns
from models.scenario import Scenario
from models.sets import build_sets, life_quarters
from models.solve import FEASIBLE, INFEASIBLE, NO_SOLUTION, OPTIMAL, SolveResult, solve
from models.warm_start import WarmStart, as_result, warm_start
from planner import __version__

HEURISTIC = "heuristic"  # the rounded LP relaxation alone, no branch-and-bound
WARM_STARTED = ("scip", "highs")  # backends that take a complete solution as their first incumbent
# Backends given the valid inequalities of models/cuts.py beside the program (CP-SAT's 1/1,000 grid may not reach
# their equalities exactly; CBC stays the independent path, fed the program alone).
CUT_BACKENDS = (HEURISTIC, "scip", "highs")
MIN_SOLVE_S = 1.0  # the solver gets at least this long after the warm start, whatever the time limit


@dataclass
class BuiltPlan:
    """A scenario turned into a program: `solved` is the scenario the model was built from (interchangeable
    inference services merged into classes, models/aggregate.py), `scenario` the one the user gave."""

    scenario: Scenario
    solved: Scenario
    performance: pd.DataFrame
    classes: ServiceClasses
    model: PlanModel
    strict: bool
    build_seconds: float
    cuts: LinearProgram | None = None  # valid inequalities over model.lp's columns (models/cuts.py)


@dataclass
class PlanRun:
    scenario: Scenario
    model: PlanModel
    result: SolveResult
    tables: dict[str, pd.DataFrame]
    build_seconds: float
    duals: dict
    built: BuiltPlan


def build_plan(scenario: Scenario, strict: bool = False, aggregate: bool = True) -> BuiltPlan:
    """Estimate performance, merge interchangeable services (exact; `aggregate=False` keeps one per service),
    build the index sets and the MILP."""
    started = time.perf_counter()
    performance = estimate_performance(scenario.catalog, scenario.workloads, scenario.throughput)
    classes = find_service_classes(scenario, performance, merge=aggregate)
    solved, solved_performance = aggregate_scenario(scenario, performance, classes)
    model = build_plan_model(solved, build_sets(solved, solved_performance), strict=strict)
    cuts = pool_cuts(model, solved.headroom)
    return BuiltPlan(scenario=scenario, solved=solved, performance=performance, classes=classes, model=model,
                     strict=strict, build_seconds=time.perf_counter() - started, cuts=cuts)


def run_plan(scenario: Scenario, backend: str | None = None, time_limit_s: float | None = None,
             gap: float | None = None, strict: bool = False, aggregate: bool = True, progress: Callable | None = None,
             warm: bool = True) -> PlanRun:
    return solve_plan(build_plan(scenario, strict=strict, aggregate=aggregate), backend=backend,
                      time_limit_s=time_limit_s, gap=gap, progress=progress, warm=warm)


def solve_plan(built: BuiltPlan, backend: str | None = None, time_limit_s: float | None = None,
               gap: float | None = None, progress: Callable | None = None, warm: bool = True) -> PlanRun:
    """Solve a built plan; the tables and duals come back labelled by the user's services, not the classes.

    SCIP and HiGHS start from the rounded LP relaxation (models/warm_start.py), so a plan exists from the first
    seconds, and the relaxation's value is a lower bound kept if the solver proves less. `backend="heuristic"`
    returns that rounded plan alone. `progress(elapsed_s, incumbent_usd, bound_usd)` follows the solve.
    """
    scenario, model = built.scenario, built.model
    backend = backend or scenario.solver.backend
    time_limit_s = scenario.solver.time_limit_s if time_limit_s is None else time_limit_s
    gap = scenario.solver.gap if gap is None else gap
    result = solve_program(built, backend, time_limit_s, gap, progress=progress, warm=warm)
    if not result.has_solution:
        tried = (f"{backend} on {model.lp.num_vars:,} variables and {model.lp.num_rows:,} constraints, "
                 f"time limit {time_limit_s:g} s, gap {gap:g}")
        if result.status == NO_SOLUTION:
            raise SolverError(f"no plan found in time ({tried}); raise --time-limit or loosen --gap")
        hint = " under --strict (no unmet demand, every run finished)" if built.strict else ""
        reasons = diagnose_infeasibility(scenario, build_sets(scenario, built.performance), backend=backend,
                                         time_limit_s=time_limit_s, strict=built.strict)
        because = "".join(f"\n  - {reason}" for reason in reasons) or "\n  (the diagnosis found no single cause)"
        raise SolverError(f"no plan exists{hint}; the smallest set of conflicting requirements:{because}\n"
                          f"tried: {tried}")
    return complete_run(built, result)


def solve_program(built: BuiltPlan, backend: str, time_limit_s: float, gap: float, progress: Callable | None = None,
                  warm: bool = True, cutoff_usd: float | None = None) -> SolveResult:
    """The solve itself (warm start, then the backend from it; the better plan and bound kept), without the
    diagnosis of a failure: `solve_plan` for a plan, models restricted by bounds for the baselines. SCIP, HiGHS
    and the heuristic solve the program with the cuts of models/cuts.py appended (the same optimum, a tighter
    relaxation); the solution vector is the program's own either way. `cutoff_usd`: the backend may stop once
    no plan cheaper than it can exist (models/solve.py `solve`); a caller that gives one must read the bound."""
    model = built.model
    if backend in CUT_BACKENDS and built.cuts is not None:
        model = dataclasses.replace(model, lp=strengthened(model.lp, built.cuts))
    started = time.perf_counter()
    start = None
    if backend == HEURISTIC or (warm and backend in WARM_STARTED and model.lp.integer.any()):
        start = warm_start(model, time_limit_s=time_limit_s, gap=gap)
        if progress is not None and start.x is not None:
            progress(time.perf_counter() - started, start.objective, start.relaxation_bound)
    if backend == HEURISTIC or (start is not None and start.proves(gap)):
        result = as_result(start, gap)  # nothing left to prove: a branch-and-bound run would only confirm it
    else:
        remaining_s = max(time_limit_s - (time.perf_counter() - started), MIN_SOLVE_S)
        result = solve(model.lp, backend=backend, time_limit_s=remaining_s, gap=gap,
                       hint=start.x if start is not None else None, progress=progress, cutoff_usd=cutoff_usd)
        result = _keep_the_better(result, start)
    result = dataclasses.replace(result, seconds=time.perf_counter() - started)
    if progress is not None and result.has_solution:
        # The last word is the result's own plan and bound: a solver that reports only as it starts (SCIP after
        # the warm start) would otherwise leave the progress summary on a stale gap.
        progress(result.seconds, result.objective, result.bound)
    return result


def _keep_the_better(result: SolveResult, start: WarmStart | None) -> SolveResult:
    """The warm start is a plan too: keep it if the solver found nothing better in time (a solver may ignore
    a hint), and keep the LP relaxation's bound if the solver proved less."""
    if start is None or start.x is None:
        return result
    bound = max((b for b in (result.bound, start.relaxation_bound) if b is not None), default=None)
    if result.status == INFEASIBLE:
        return result
    if not result.has_solution or result.objective > start.objective:
        # A solver that proved its plan within the gap proved the cheaper warm start within it too.
        status = OPTIMAL if result.status == OPTIMAL else FEASIBLE
        return SolveResult(status, result.backend, start.x, start.objective, bound, result.seconds)
    if result.status == OPTIMAL and bound is not None and bound > result.objective:
        bound = result.objective  # an optimum proven within the gap: the solver's bound is the honest one
    return dataclasses.replace(result, bound=bound)


def complete_run(built: BuiltPlan, result: SolveResult) -> PlanRun:
    """Tables and shadow prices of a solution of `built`'s program, split back to every service."""
    horizon = built.scenario.horizon
    tables = expand_tables(extract_tables(built.model, built.solved, result.x), built.classes, horizon)
    duals = shadow_prices(built.model, horizon, result.x)
    if "demand_usd_per_unit" in duals:
        duals["demand_usd_per_unit"] = expand_duals(duals["demand_usd_per_unit"], built.classes)
    return PlanRun(scenario=built.scenario, model=built.model, result=result, tables=tables,
                   build_seconds=built.build_seconds, duals=duals, built=built)


def plan_document(run: PlanRun, baselines: list[dict] | None = None, stochastic: dict | None = None) -> dict:
    """The PLAN.json document (models/plan_schema.py): status, solver, objective, and every table as records;
    `baselines` as planner/baselines.py `compare_with_baselines` gives them (none: an empty list); `stochastic`
    the figures of `plan --stochastic` (planner/stochastic.py; none: the field is left out).

    Assembled through the schema, so a field left out, misnamed or of the wrong type is an error here, before
    anything is written, rather than a reader's surprise later."""
    scenario, result, tables = run.scenario, run.result, run.tables
    costs = tables["costs"]
    totals = {field.name: float(costs[field.name].sum()) for field in TOTALS_FIELDS}
    objective = totals["discounted_usd"]
    book = purchase_book_values(tables["purchases"], scenario.catalog, horizon=scenario.horizon,
                                prices=run.model.cost_parameters)
    results = dict(tables, purchases=tables["purchases"].join(book[["charged_in_horizon_usd", "book_value_end_usd"]]))
    spend_by_quarter = costs[list(SPEND_LINES_USD)].sum(axis=1)
    penalty_by_quarter = costs[list(PENALTY_LINES_USD)].sum(axis=1)
    totals["spend_usd"], totals["penalty_usd"] = float(spend_by_quarter.sum()), float(penalty_by_quarter.sum())
    discounted_penalty = float((penalty_by_quarter * costs["discount_factor"]).sum())
    bound = result.bound
    gap = None if bound is None else max(0.0, (objective - bound) / max(abs(objective), 1e-9))
    return assemble({
        "scenario": scenario.name,
        "status": result.status,
        "solver": result.backend,
        "objective_usd": objective,
        "discounted_spend_usd": _exact_remainder(objective, discounted_penalty),
        "discounted_penalty_usd": discounted_penalty,
        "bound_usd": bound,
        "gap": gap,
        "solve_seconds": round(result.seconds, 3),
        "build_seconds": round(run.build_seconds, 3),
        "tool_version": __version__,
        "horizon": {"start": scenario.quarters[0], "quarters": scenario.quarters},
        "capex_mode": scenario.finance.capex_mode,
        "cost_lines_usd": list(USD_LINES),
        "inputs": scenario.inputs_record(),
        **{name: _records(results[name][table_columns(name)]) for name in RESULT_TABLES},
        "totals": totals,
        "warnings": plan_warnings(scenario, tables["unfinished"], tables["unmet"], tables["fleet"], run.duals),
        "duals": run.duals,
        "why": order_uses(tables["purchases"], tables["placement"], tables["fleet"],
                          life_quarters(scenario.catalog), scenario.horizon),
        "baselines": baselines or [],
        **_facility_field(tables, scenario),
        **({"contracts": _records(tables["contracts"])} if "contracts" in tables else {}),
        **_slo_field(tables["placement"], run.built),
        **({"storage": _records(tables["storage"])} if "storage" in tables else {}),
        **({"spot": _records(tables["spot"])} if "spot" in tables else {}),
        **({"stochastic": stochastic} if stochastic is not None else {}),
    })


def _facility_field(tables: dict, scenario: Scenario) -> dict:
    """PLAN.json's `facility` (build-out decisions and why), only for a scenario with facility options."""
    if "facility" not in tables:
        return {}
    facility = tables["facility"]
    reasons = facility_reasons(facility, tables["fleet"], scenario, scenario.horizon)
    records = _records(facility.assign(reason=reasons)[table_columns("facility")])
    return {"facility": records}


def _slo_field(placement: pd.DataFrame, built: BuiltPlan) -> dict:
    """PLAN.json's `slo` (models/queueing.py sizing of each TTFT quantile service where the plan serves it), only
    for a scenario with such a service."""
    sizing = size_for_slo(built.scenario, built.performance)
    if sizing.empty:
        return {}
    horizon = built.scenario.horizon
    used = placement[placement["node_equivalents"] > 0].assign(
        quarter=lambda frame: [horizon.relative(label) if isinstance(label, str) else int(label)
                               for label in frame["quarter"]])
    keys = used[["quarter", "workload", "sku"]].drop_duplicates()
    rows = sizing.reset_index().merge(keys, on=["quarter", "workload", "sku"])
    rows = rows.assign(quarter=[horizon.label(int(q)) for q in rows["quarter"]],
                       sized_by=np.where(rows["binding"], "slo", "throughput"))
    return {"slo": _records(rows[table_columns("slo")])}


def _exact_remainder(total: float, part: float) -> float:
    """total − part, nudged by an ulp where rounding would stop (total − part) + part from being total exactly."""
    rest = total - part
    for _ in range(4):
        if rest + part == total:
            break
        rest = math.nextafter(rest, math.inf if rest + part < total else -math.inf)
    return rest


def verify_document(scenario: Scenario, document: dict) -> None:
    """Re-check the plan on the solver-free path before anything is written; a violation is our bug, exit 1."""
    from models.verify import verify_plan

    violations = verify_plan(scenario, document)
    if violations:
        listed = "".join(f"\n  - {violation}" for violation in violations[:20])
        raise SolverError(f"the solver's plan failed independent verification ({len(violations)} violation(s)); "
                          f"nothing was written:{listed}")


def _records(frame: pd.DataFrame) -> list[dict]:
    records = frame.to_dict("records")
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()} for row in records]
