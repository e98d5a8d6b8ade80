"""A feasible plan in seconds, by rounding the LP relaxation: the incumbent every MILP solve starts from.

OR practice ("heuristic first, then prove"): the branch-and-bound solvers struggle to find *any* good plan on
large instances (a training run's pool, node counts that must fit power caps), while the LP relaxation solves fast
and is close. So:

1. Solve the LP relaxation. Each training run takes the pool (site, SKU) that does most of its work there.
2. Re-solve the LP with those pools fixed, so node counts follow the chosen pools.
3. Round node counts: rentals up (nothing caps them); orders so that each pool's nodes ordered so far are the
   relaxation's rounded up, then taken back one node at a time where a power, rack or budget row is exceeded.
4. Switch each job's `active` binary on where its pool holds the job's minimum nodes, fix every integer, and
   solve the remaining LP (placement, unmet demand, unfinished work), which is always feasible when demand may go
   unmet and runs may be left unfinished.

A run the plan leaves unfinished then tries its next preferred pools, one at a time (steps 2–4 again each), and
the cheapest plan is kept. Last, for the pools chosen, **relax-and-fix over order quarters** (`_relax_and_fix`):
the orders of the first order quarter are rounded (step 3) and fixed, the LP re-solved so the later quarters'
orders take up the rounding, then the next quarter's, and so on; step 4 ends it. It is kept only where cheaper. The result is a complete solution vector the solver takes as its starting incumbent (a warm start). It is a
plan in its own right: it passes the verifier, and it is never cheaper than the optimum (a test checks both).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.formulation import PlanModel
from models.quarters import HOURS_PER_QUARTER
from models.solve import FEASIBLE, NO_SOLUTION, OPTIMAL, HighsSession, SolveResult

ROUNDING_EPS = 1e-6  # LP values within this of an integer are that integer
CAP_ROWS = ("power", "racks", "budget")  # rows that only node counts (integers) enter: rounding must keep them
ACTIVE_FAMILIES = ("training_active", "replica_active")
MAX_RUNS_REVISITED = 10  # unfinished runs whose pool the local search reconsiders, largest shortfall first
MAX_LOCAL_SEARCH_TRIALS = 30  # pools the local search tries in all (each trial is two warm LPs): a count, not a clock
IMPROVEMENT_USD = 1e-6  # a trial replaces the plan only when it is cheaper by more than rounding noise
GAP_FLOOR_USD = 1e-9  # relative gaps of a zero-cost plan are measured against this, as SolveResult.gap does
# A SKU whose node costs this many times the median orderable SKU's is rack-scale (GB200/GB300 NVL72: one node is
# a 72-GPU rack at ~9x an 8-GPU server in the shipped catalog; the dearest 8-GPU node, B300, is 1.4x the median).
RACK_PRICE_RATIO = 4.0
# The local search and relax-and-fix (one LP per order quarter) are bounded by counts, so the same input gives the
# same warm start however loaded the machine: a clock decides only past this share of the time limit, a safety
# valve for instances whose LPs are slow (then the solve is clock-dependent anyway, as a solver's time-out is).
# Measured: relax-and-fix 0.2-2 s on the W = 100 family and the shipped example.
SAFETY_SHARE = 0.5


@dataclass(frozen=True)
class WarmStart:
    x: np.ndarray | None  # a complete feasible solution, or None when rounding found none (e.g. --strict)
    objective: float | None
    relaxation_bound: float | None  # the LP relaxation's value: a valid lower bound on any plan
    seconds: float

    def proves(self, gap: float) -> bool:
        """Whether the plan is within `gap` (relative) of the LP relaxation, hence of the optimum."""
        if self.x is None or self.relaxation_bound is None:
            return False
        return self.objective - self.relaxation_bound <= gap * max(abs(self.objective), GAP_FLOOR_USD)


def warm_start(model: PlanModel, time_limit_s: float = 60.0, gap: float | None = None) -> WarmStart:
    """The rounded relaxation (module docstring). With `gap`, the search stops at the first plan the relaxation
    proves within it (the local search and relax-and-fix only run while it does not): a plan within the gap is all
    the solve asks for, and stopping there, not at a deadline, keeps the plan the same whatever the machine's load."""
    lp = model.lp
    session = HighsSession(lp, relax=True)  # one LP, re-solved from its last basis after each fixing
    relaxed = session.solve(time_limit_s)
    if not relaxed.has_solution:
        return WarmStart(None, None, None, relaxed.seconds)
    started = time.perf_counter()
    # Only a relaxation solved to optimality bounds the optimum (one stopped by the clock is merely feasible).
    bound = relaxed.objective if relaxed.status == OPTIMAL else None

    def proven(plan) -> bool:
        return gap is not None and plan is not None and bound is not None and \
            plan[1] - bound <= gap * max(abs(plan[1]), GAP_FLOOR_USD)

    pools = _pool_preference(model, relaxed.x)
    choice = {run: candidates[0] for run, candidates in pools.items()}
    best = _plan_for_pools(model, session, relaxed.x, choice, time_limit_s)
    # Local search: a run left unfinished may fit another pool; try its next preferences, one run at a time.
    deadline = started + SAFETY_SHARE * time_limit_s
    if best is not None and pools and not proven(best):
        trials = 0
        for run in _unfinished_runs(model, best[0])[:MAX_RUNS_REVISITED]:
            for candidate in pools[run][1:]:
                if trials >= MAX_LOCAL_SEARCH_TRIALS or time.perf_counter() > deadline:
                    break
                trials += 1
                trial = _plan_for_pools(model, session, relaxed.x, {**choice, run: candidate}, time_limit_s)
                if trial is not None and trial[1] < best[1] - IMPROVEMENT_USD:
                    best, choice = trial, {**choice, run: candidate}
    if best is not None and not proven(best):
        trial = _relax_and_fix(model, session, relaxed.x, choice, time_limit_s, deadline)
        if trial is not None and trial[1] < best[1] - IMPROVEMENT_USD:
            best = trial
    seconds = relaxed.seconds + time.perf_counter() - started
    if best is None:
        return WarmStart(None, None, bound, seconds)
    return WarmStart(best[0], best[1], bound, seconds)


def _plan_for_pools(model: PlanModel, session: HighsSession, relaxed_x: np.ndarray, choice: dict,
                    time_limit_s: float) -> tuple[np.ndarray, float] | None:
    """Steps 2–4 for one choice of pool per run: (solution, objective), or None when an LP fails.

    Where rack-scale orders (`_rack_orders`) are fractional, a second candidate rounds them first, to the nearest
    whole rack per pool, re-solves the LP with them fixed so the 8-GPU nodes and rentals take up the difference,
    and only then rounds the rest (step 3): rounding a 0.3 of a 72-GPU rack up buys 50 GPUs nobody asked for. The
    cheaper of the two candidates is kept."""
    session.release()
    x = relaxed_x.copy()
    mask = values = None
    if choice:
        mask, values = _fixed_pools(model, choice)
        x = _solved_with_fixed(session, mask, values, time_limit_s)
        if x is None:
            return None
    best = _rounded_plan(model, session, x, time_limit_s)
    racks = _rack_orders(model)
    if not racks.any() or np.all(np.abs(x[racks] - np.round(x[racks])) <= ROUNDING_EPS):
        return best
    session.release()
    if mask is not None:
        session.fix(mask, values)
    whole = _racks_to_nearest(model, x, racks)
    y = _solved_with_fixed(session, racks, whole, time_limit_s)
    if y is None:
        return best
    if mask is not None:
        y[mask] = values[mask]
    trial = _rounded_plan(model, session, y, time_limit_s)
    if trial is not None and (best is None or trial[1] < best[1] - IMPROVEMENT_USD):
        return trial
    return best


def _relax_and_fix(model: PlanModel, session: HighsSession, relaxed_x: np.ndarray, choice: dict,
                   time_limit_s: float, deadline: float) -> tuple[np.ndarray, float] | None:
    """Relax-and-fix over order quarters for one choice of pools: round every order as step 3 does, fix those of
    the earliest order quarter not yet fixed, re-solve the LP (later orders, rentals and placement take up the
    rounding), and go on to the next quarter; then steps 3–4 on the result. Rounding all quarters at once (as
    `_plan_for_pools`) decides a quarter's rounding without letting later orders adapt to it: on the shipped example
    (a $40 M/quarter budget, $3 M racks) that plan is 8.6 % above the relaxation, this one 0.09 %. (solution,
    objective), or None when an LP fails."""
    lp = model.lp
    if "orders" not in lp.variables:
        return None
    session.release()
    fixed = np.zeros(lp.num_vars, dtype=bool)
    values = np.zeros(lp.num_vars)
    x = relaxed_x.copy()
    if choice:
        mask, pool_values = _fixed_pools(model, choice)
        fixed |= mask
        values[mask] = pool_values[mask]
        x = _solved_with_fixed(session, fixed, values, time_limit_s)
        if x is None:
            return None
    block = lp.variables["orders"]
    order_quarter = block.index.get_level_values("order_quarter").to_numpy()
    for quarter in np.unique(order_quarter)[:-1]:  # the last quarter's orders are rounded with the rest, below
        if time.perf_counter() > deadline:
            break
        rounded = round_node_counts(model, x)
        now = block.positions[order_quarter == quarter]
        fixed[now] = True
        values[now] = rounded[now]
        x = _solved_with_fixed(session, fixed, values, time_limit_s)
        if x is None:
            return None
    return _rounded_plan(model, session, x, time_limit_s)


def _solved_with_fixed(session: HighsSession, fixed: np.ndarray, values: np.ndarray,
                       time_limit_s: float) -> np.ndarray | None:
    """The LP re-solved with `fixed` columns at `values` (exactly those values in the result), or None."""
    session.fix(fixed, values)
    refit = session.solve(time_limit_s)
    if not refit.has_solution:
        return None
    x = refit.x.copy()
    x[fixed] = values[fixed]
    return x


def _rack_orders(model: PlanModel) -> np.ndarray:
    """Order variables of rack-scale SKUs: a node priced ≥ RACK_PRICE_RATIO × the median orderable SKU's."""
    lp = model.lp
    mask = np.zeros(lp.num_vars, dtype=bool)
    if "orders" not in lp.variables:
        return mask
    block = lp.variables["orders"]
    price = model.cost_parameters.capex_usd_per_node_ordered
    skus = block.index.get_level_values("sku")
    orderable = price.reindex(skus.unique()).dropna()
    if orderable.empty:
        return mask
    racks = orderable.index[orderable >= RACK_PRICE_RATIO * float(orderable.median())]
    mask[block.positions[skus.isin(racks)]] = True
    return mask


def _racks_to_nearest(model: PlanModel, x: np.ndarray, racks: np.ndarray) -> np.ndarray:
    """The rack-scale orders of `x` rounded so each pool's racks ordered so far are the relaxation's, to the nearest
    whole rack (cumulative, as step 3 rounds up)."""
    lp = model.lp
    block = lp.variables["orders"]
    chosen = racks[block.positions]
    positions = block.positions[chosen]
    labels = block.index.to_frame(index=False)[chosen]
    counts = _cumulative_rounding(labels, np.clip(x[positions], 0.0, None), lambda v: np.floor(v + 0.5))
    whole = x.copy()
    whole[positions] = np.minimum(counts, lp.upper[positions])
    return whole


def _cumulative_rounding(labels: pd.DataFrame, relaxed: np.ndarray, rounder) -> np.ndarray:
    """Per pool (site, SKU), in order-quarter order: counts whose running sum is `rounder` of the relaxed running
    sum (kept non-decreasing), so 0.4 + 0.4 + 0.4 orders one node, not three."""
    pool = labels.groupby(["site", "sku"], sort=False).ngroup().to_numpy()
    sequence = np.lexsort((labels["order_quarter"].to_numpy(), pool))
    ordered_so_far = pd.Series(relaxed[sequence]).groupby(pool[sequence]).cumsum().to_numpy()
    rounded = pd.Series(rounder(ordered_so_far)).groupby(pool[sequence]).cummax().to_numpy()
    previous = pd.Series(rounded).groupby(pool[sequence]).shift(1, fill_value=0.0).to_numpy()
    counts = np.empty(len(relaxed))
    counts[sequence] = rounded - previous
    return counts


def _rounded_plan(model: PlanModel, session: HighsSession, x: np.ndarray,
                  time_limit_s: float) -> tuple[np.ndarray, float] | None:
    """Steps 3–4 from an LP solution `x`: round, switch on, fix every integer, solve the rest."""
    lp = model.lp
    x = round_node_counts(model, x)
    plan = _fixed_and_solved(model, session, _switch_on_active(model, x), time_limit_s)
    if plan is None or not _falls_short(model, plan[0]) or "rentals" not in lp.variables:
        return plan
    # Rounding (a node taken back under a cap) left demand unmet or a run unfinished: let rentals take it up.
    free = np.zeros(lp.num_vars, dtype=bool)
    for name in ("rentals", *ACTIVE_FAMILIES):
        if name in lp.variables:
            free[lp.variables[name].positions] = True
    session.release()
    session.fix(lp.integer & ~free, plan[0])
    refit = session.solve(time_limit_s)
    if not refit.has_solution:
        return plan
    y = refit.x.copy()
    y[lp.integer & ~free] = plan[0][lp.integer & ~free]
    rentals = lp.variables["rentals"].positions
    y[rentals] = np.ceil(y[rentals] - ROUNDING_EPS)
    trial = _fixed_and_solved(model, session, _switch_on_active(model, y), time_limit_s)
    return trial if trial is not None and trial[1] < plan[1] - IMPROVEMENT_USD else plan


def _fixed_and_solved(model: PlanModel, session: HighsSession, x: np.ndarray,
                      time_limit_s: float) -> tuple[np.ndarray, float] | None:
    """Every integer fixed to `x`'s, the rest (placement, unmet, unfinished) solved: (solution, objective)."""
    lp = model.lp
    session.fix(lp.integer, x)
    final = session.solve(time_limit_s)
    if not final.has_solution:
        return None
    solution = final.x.copy()
    solution[lp.integer] = x[lp.integer]
    return solution, float(lp.objective_coefficients() @ solution + lp.objective_offset)


def _falls_short(model: PlanModel, x: np.ndarray) -> bool:
    """Whether the plan leaves some demand unmet or some training undone."""
    lp = model.lp
    return any(name in lp.variables and float(lp.value(name, x).sum()) > ROUNDING_EPS for name in ("unmet", "left"))


def _pool_preference(model: PlanModel, x: np.ndarray) -> dict[str, list[int]]:
    """Each run's pools (positions of their `pool` variables), the pool doing most of its relaxed work first.

    Work, not the `pool` value: the relaxation may set a costless `pool` anywhere above its `active`s."""
    lp, sets = model.lp, model.sets
    if "pool" not in lp.variables:
        return {}
    keys = ["quarter", "workload", "site", "sku"]
    training = sets.placements[sets.placements["kind"] == "training"]
    busy = lp.value("busy", x).reindex(pd.MultiIndex.from_frame(training[keys])).to_numpy()
    work = pd.Series(busy * HOURS_PER_QUARTER / training["node_hours"].to_numpy(),
                     index=pd.MultiIndex.from_frame(training[["workload", "site", "sku"]]))
    if "spot_node_hours" in lp.variables:  # spot's work counts for its pool too (docs/datacenter-2026.md "Spot")
        spot = sets.spot
        done = lp.value("spot_node_hours", x).reindex(pd.MultiIndex.from_frame(spot[keys])).to_numpy() \
            * model.spot_costs.work_per_node_hour.reindex(spot["sku"]).to_numpy() / spot["node_hours"].to_numpy()
        work = pd.concat([work, pd.Series(done, index=pd.MultiIndex.from_frame(spot[["workload", "site", "sku"]]))])
    work = work.groupby(level=["workload", "site", "sku"]).sum()
    block = lp.variables["pool"]
    labels = block.index.to_frame(index=False).assign(
        position=block.positions, work=work.reindex(block.index).fillna(0.0).to_numpy(),
        value=x[block.positions])
    labels = labels.sort_values(["workload", "work", "value"], ascending=[True, False, False], kind="stable")
    return {run: group["position"].tolist() for run, group in labels.groupby("workload", sort=False)}


def _fixed_pools(model: PlanModel, choice: dict) -> tuple[np.ndarray, np.ndarray]:
    """Pool binaries fixed: 1 for each run's chosen pool, 0 for its others."""
    lp = model.lp
    mask = np.zeros(lp.num_vars, dtype=bool)
    mask[lp.variables["pool"].positions] = True
    values = np.zeros(lp.num_vars)
    values[list(choice.values())] = 1.0
    return mask, values


def _unfinished_runs(model: PlanModel, x: np.ndarray) -> list[str]:
    """Runs the plan leaves partly undone, the largest share first."""
    if "left" not in model.lp.variables:
        return []
    left = model.lp.value("left", x)
    left = left[left > ROUNDING_EPS].sort_values(ascending=False, kind="stable")
    return [label[0] if isinstance(label, tuple) else label for label in left.index]


def as_result(start: WarmStart, gap: float = 0.0, backend: str = "heuristic") -> SolveResult:
    """The warm start as a plan of its own (`planner plan --solver heuristic`), bounded by the LP relaxation:
    "optimal" when that bound proves it within `gap`, as a MILP solver would say, else "feasible"."""
    if start.x is None:
        return SolveResult(NO_SOLUTION, backend, None, None, None, start.seconds)
    status = OPTIMAL if start.proves(gap) else FEASIBLE
    return SolveResult(status, backend, start.x, start.objective, start.relaxation_bound, start.seconds)


def round_node_counts(model: PlanModel, x: np.ndarray) -> np.ndarray:
    """Rentals up; orders so that the nodes ordered *so far* at each pool are the relaxation's, rounded up
    (rounding each order up alone would buy a node for every 0.1 ordered); then, while a power, rack or
    budget row is exceeded, take back the order rounded up the most among those in that row.

    Terminates: a row the relaxation kept but the rounding exceeds has some order with x > relaxed value
    (every coefficient of these rows is positive), and each step takes one node back from such an order."""
    lp = model.lp
    x = x.copy()
    if "rentals" in lp.variables:
        positions = lp.variables["rentals"].positions
        x[positions] = np.ceil(x[positions] - ROUNDING_EPS)
    if "facility_builds" in lp.variables:
        x = _round_cumulative(lp, x, "facility_builds", "option", "build_quarter")
    if "contract_signings" in lp.variables:  # more contracted nodes only loosen capacity rows
        x = _round_cumulative(lp, x, "contract_signings", "contract", "sign_quarter")
    if "orders" not in lp.variables:
        return x
    block = lp.variables["orders"]
    orders = block.positions
    relaxed = np.clip(x[orders], 0.0, None)
    counts = _cumulative_rounding(block.index.to_frame(index=False), relaxed, lambda v: np.ceil(v - ROUNDING_EPS))
    x[orders] = np.minimum(counts, lp.upper[orders])

    names = [name for name in CAP_ROWS if name in lp.constraints]
    if not names:
        return x
    rows = np.concatenate([lp.constraints[name].positions for name in names])
    caps = lp.matrix()[rows]
    by_column = caps.tocsc()
    activity = caps @ x
    limit = lp.row_upper[rows]
    is_order = np.zeros(lp.num_vars, dtype=bool)
    is_order[orders] = True
    excess = np.zeros(lp.num_vars)
    excess[orders] = x[orders] - relaxed
    while True:
        violated = np.flatnonzero(activity > limit + ROUNDING_EPS * np.maximum(1.0, np.abs(limit)))
        if not len(violated):
            return x
        row = violated[0]
        columns = caps.indices[caps.indptr[row]:caps.indptr[row + 1]]
        columns = columns[is_order[columns] & (x[columns] >= 1.0)]
        if not len(columns):  # a budget row that facility builds alone exceed: the fixed LP will say so
            return x
        j = columns[np.argmax(excess[columns])]
        x[j] -= 1.0
        excess[j] -= 1.0
        start, end = by_column.indptr[j], by_column.indptr[j + 1]
        activity[by_column.indices[start:end]] -= by_column.data[start:end]


def _round_cumulative(lp, x: np.ndarray, family: str, group: str, quarter: str) -> np.ndarray:
    """Facility builds (or contract blocks) so that each option's (contract's) units so far are the relaxation's
    rounded up, at most its max_units (max_blocks: the bound of every variable of the family): more capacity only
    loosens the power, rack and capacity rows, and the row Σ_q units ≤ max holds by construction."""
    x = x.copy()
    block = lp.variables[family]
    positions = block.positions
    labels = block.index.to_frame(index=False)
    option = labels.groupby(group, sort=False).ngroup().to_numpy()
    sequence = np.lexsort((labels[quarter].to_numpy(), option))
    so_far = pd.Series(np.clip(x[positions], 0.0, None)[sequence]).groupby(option[sequence]).cumsum().to_numpy()
    rounded = np.minimum(np.ceil(so_far - ROUNDING_EPS), lp.upper[positions][sequence])
    rounded = pd.Series(rounded).groupby(option[sequence]).cummax().to_numpy()
    previous = pd.Series(rounded).groupby(option[sequence]).shift(1, fill_value=0.0).to_numpy()
    counts = np.empty(len(positions))
    counts[sequence] = rounded - previous
    x[positions] = counts
    return x


def _switch_on_active(model: PlanModel, x: np.ndarray) -> np.ndarray:
    """active = 1 where the pool (the chosen one, for training) holds the job's minimum nodes, else 0."""
    lp, sets = model.lp, model.sets
    x = x.copy()
    nodes = lp.evaluate(model.nodes, x).reorder_levels(["quarter", "site", "sku"])
    keys = ["quarter", "workload", "site", "sku"]
    chosen = None
    if "pool" in lp.variables:
        pool = lp.value("pool", x)
        chosen = pool[pool > 0.5].index
    for name in ACTIVE_FAMILIES:
        if name not in lp.variables:
            continue
        block = lp.variables[name]
        labels = block.index.to_frame(index=False)
        if "min_nodes" in labels.columns:  # one binary per pool and replica size (add_replica_constraints)
            minimum = labels["min_nodes"].to_numpy(dtype=float)
        else:
            minimum = sets.placements.set_index(keys)["min_nodes"].reindex(block.index).to_numpy(dtype=float)
        held = nodes.reindex(pd.MultiIndex.from_frame(labels[["quarter", "site", "sku"]])).fillna(0.0).to_numpy()
        on = held >= minimum - ROUNDING_EPS
        if name == "training_active" and chosen is not None:
            on &= pd.MultiIndex.from_frame(labels[["workload", "site", "sku"]]).isin(chosen)
        x[block.positions] = on.astype(float)
    if "spine_span" in lp.variables:  # a run spans scalable units where it keeps more busy than one SU holds
        block = lp.variables["spine_span"]
        busy = lp.value("busy", x).reindex(block.index).to_numpy()
        per_su = model.fabric_costs.nodes_per_su.reindex(block.index.get_level_values("sku")).to_numpy(dtype=float)
        x[block.positions] = (busy > per_su + ROUNDING_EPS).astype(float)
    return x
