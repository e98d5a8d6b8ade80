"""The only module that talks to solvers: SCIP, HiGHS and CP-SAT through OR-Tools, CBC through PuLP.

Every backend receives the same sparse matrix from `LinearProgram`, honours the time limit and relative gap,
and its status is mapped to our own closed set of statuses.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from models.lp import LinearProgram

OPTIMAL, FEASIBLE, INFEASIBLE, NO_SOLUTION = "optimal", "feasible", "infeasible", "no-solution-in-time"
BACKENDS = ("scip", "highs", "cp-sat", "cbc")
_ORTOOLS_NAMES = {"scip": "scip", "highs": "highs", "cp-sat": "sat", "glop": "glop"}
# CP-SAT is an integer solver: it discretises continuous variables (node-equivalents, tokens/s) to steps of
# 1 / CP_SAT_VAR_SCALING. 1,000 keeps the rounding far below a cent on the shipped tests while the search
# stays small; optima agree with SCIP/HiGHS/CBC only up to that granularity.
CP_SAT_VAR_SCALING = 1000.0
# CP-SAT runs one worker: with two, the workers race and return different equal-cost plans under CPU load
# (seen in tests/test_cross_check.py), and the same inputs must give the same PLAN.json.


@dataclass
class SolveResult:
    status: str
    backend: str
    x: np.ndarray | None
    objective: float | None
    bound: float | None
    seconds: float
    duals: np.ndarray | None = None

    @property
    def gap(self) -> float | None:
        if self.objective is None or self.bound is None or not math.isfinite(self.bound):
            return None
        return abs(self.objective - self.bound) / max(abs(self.objective), 1e-9)

    @property
    def has_solution(self) -> bool:
        return self.x is not None


def solve(lp: LinearProgram, backend: str = "scip", time_limit_s: float = 60.0, gap: float = 0.005,
          relax: bool = False, hint: np.ndarray | None = None, progress: Callable | None = None,
          cutoff_usd: float | None = None) -> SolveResult:
    """Solve `lp`; `relax` drops integrality (used for duals once integer decisions are fixed).

    `hint` is a complete feasible solution (a warm start: the incumbent to beat); `progress(elapsed_s,
    incumbent, bound)` is called while HiGHS solves (the other backends report only when they finish).
    `cutoff_usd` (SCIP only; ignored elsewhere): stop as soon as the dual bound reaches it, i.e. once no plan
    cheaper than it can exist (SCIP's `limits/dual`); the result's bound then says so (`bound >= cutoff_usd`).
    """
    if backend == "highs":
        return _solve_highspy(lp, time_limit_s, gap, relax, hint, progress)
    if backend == "cbc":
        result = _solve_pulp(lp, time_limit_s, gap, relax)
        return result if relax or not result.has_solution else _polish_continuous(lp, result, time_limit_s)
    if backend not in _ORTOOLS_NAMES:
        raise ValueError(f"unknown solver backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    return _solve_ortools(lp, backend, time_limit_s, gap, relax, hint, cutoff_usd)


def _solve_ortools(lp: LinearProgram, backend: str, time_limit_s: float, gap: float, relax: bool,
                   hint: np.ndarray | None = None, cutoff_usd: float | None = None) -> SolveResult:
    from ortools.linear_solver.python import model_builder as mb

    model = mb.Model()
    model.helper.fill_model_from_sparse_data(lp.lower, lp.upper, lp.objective_coefficients(), lp.row_lower,
                                             lp.row_upper, lp.matrix())
    model.helper.set_objective_offset(lp.objective_offset)
    if not relax:
        for column in np.flatnonzero(lp.integer):
            model.helper.set_var_integrality(int(column), True)
    if hint is not None and not relax:
        for column, value in enumerate(np.asarray(hint, dtype=float)):
            model.helper.add_hint(column, float(value))
    solver = mb.Solver(_ORTOOLS_NAMES[backend])
    solver.set_time_limit_in_seconds(float(time_limit_s))
    params = {"scip": f"limits/gap = {gap}", "highs": f"mip_rel_gap = {gap}\noutput_flag = false",
              "cp-sat": f"relative_gap_limit: {gap}\nnum_workers: 1\nmip_var_scaling: {CP_SAT_VAR_SCALING}"
              }.get(backend)
    params = None if relax else params
    if backend == "scip" and cutoff_usd is not None and not relax and math.isfinite(cutoff_usd):
        params = "\n".join(filter(None, [params, f"limits/dual = {float(cutoff_usd)!r}"]))
    if backend == "scip":  # Ctrl-C is the caller's (planner/interrupts.py aborts), never a 'feasible' early stop
        params = "\n".join(filter(None, [params, "misc/catchctrlc = FALSE"]))
    if params:
        solver.set_solver_specific_parameters(params)
    started = time.perf_counter()
    status = solver.solve(model)
    seconds = time.perf_counter() - started
    status_name = status.name
    if status_name in ("OPTIMAL", "FEASIBLE"):
        x = solver.values(model.get_variables()).to_numpy(dtype=float)
        x = _round_integers(x, lp, relax)
        # model_builder hands back HiGHS's incumbent as its "bound" (seen on the example: "optimal" at 131.52 M$
        # while SCIP found a 130.99 M$ plan): report no bound rather than a false 0 % gap.
        bound = solver.objective_value if relax else (None if backend == "highs" else solver.best_objective_bound)
        duals = None
        if relax and lp.num_rows:
            duals = solver.dual_values(model.get_linear_constraints()).to_numpy(dtype=float)
        mapped = OPTIMAL if status_name == "OPTIMAL" else FEASIBLE
        objective = float(lp.objective_coefficients() @ x + lp.objective_offset)
        bound = float(bound) if bound is not None and math.isfinite(bound) else None
        return SolveResult(mapped, backend, x, objective, bound, seconds, duals)
    if status_name == "INFEASIBLE":
        return SolveResult(INFEASIBLE, backend, None, None, None, seconds)
    bound = None  # stopped at the cutoff with no plan: the bound says so (model_builder gives NA when it has none)
    if backend == "scip" and cutoff_usd is not None:
        try:
            bound = float(solver.best_objective_bound)
        except (TypeError, ValueError):
            bound = None
        bound = bound if bound is not None and math.isfinite(bound) else None
    return SolveResult(NO_SOLUTION, backend, None, None, bound, seconds)


def build_pulp_problem(lp: LinearProgram, relax: bool = False):
    """The same rows as a PuLP problem, variable by variable: the independent second modelling path (and the
    per-element build the vectorised path is measured against in bench/bench_scale.py)."""
    import pulp

    problem = pulp.LpProblem(lp.name.replace(" ", "_") or "plan", pulp.LpMinimize)
    lower, upper, integer = lp.lower, lp.upper, lp.integer & (not relax)
    variables = [problem.add_variable(f"x{j}", lowBound=_finite(lower[j]), upBound=_finite(upper[j]),
                                      cat=pulp.LpInteger if integer[j] else pulp.LpContinuous)
                 for j in range(lp.num_vars)]
    objective = lp.objective_coefficients()
    nonzero = np.flatnonzero(objective)
    problem += pulp.LpAffineExpression([(variables[j], objective[j]) for j in nonzero]) + lp.objective_offset
    matrix = lp.matrix()
    row_lower, row_upper = lp.row_lower, lp.row_upper
    constraints = []
    for i in range(lp.num_rows):
        start, end = matrix.indptr[i], matrix.indptr[i + 1]
        expr = pulp.LpAffineExpression([(variables[j], v) for j, v in
                                        zip(matrix.indices[start:end], matrix.data[start:end])])
        lo, hi = row_lower[i], row_upper[i]
        if lo == hi:
            constraint = expr == lo
        elif math.isfinite(hi) and not math.isfinite(lo):
            constraint = expr <= hi
        elif math.isfinite(lo) and not math.isfinite(hi):
            constraint = expr >= lo
        else:
            problem += expr >= lo, f"r{i}_lo"
            constraint = expr <= hi
        problem += constraint, f"r{i}"
        constraints.append(problem.get_constraint_by_name(f"r{i}"))
    return problem, variables, constraints


def _solve_pulp(lp: LinearProgram, time_limit_s: float, gap: float, relax: bool) -> SolveResult:
    """CBC through PuLP: a second solver stack, fed the same rows, variable by variable."""
    import pulp

    problem, variables, constraints = build_pulp_problem(lp, relax)
    objective = lp.objective_coefficients()
    solver = pulp.PULP_CBC_CMD(msg=False, timeLimit=float(time_limit_s), gapRel=None if relax else gap)
    started = time.perf_counter()
    problem.solve(solver)
    seconds = time.perf_counter() - started
    status = pulp.LpStatus[problem.status]
    has_values = all(v.varValue is not None for v in variables) and problem.sol_status in (
        pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible)
    if not has_values:
        if status == "Infeasible":
            return SolveResult(INFEASIBLE, "cbc", None, None, None, seconds)
        return SolveResult(NO_SOLUTION, "cbc", None, None, None, seconds)
    x = _round_integers(np.array([v.varValue for v in variables], dtype=float), lp, relax)
    value = float(objective @ x + lp.objective_offset)
    optimal = problem.sol_status == pulp.LpSolutionOptimal
    # PuLP does not pass CBC's dual bound back: report none (the status says whether CBC proved the gap).
    bound = value if relax else None
    duals = np.array([c.pi if c.pi is not None else 0.0 for c in constraints]) if relax else None
    return SolveResult(OPTIMAL if optimal else FEASIBLE, "cbc", x, value, bound, seconds, duals)


def _polish_continuous(lp: LinearProgram, result: SolveResult, time_limit_s: float) -> SolveResult:
    """CBC's solution file carries 8 significant digits (busy = 1.5944444 for 2870/1800), which can miss the optimum
    in the ninth digit. Keep CBC's integer decisions and re-solve the remaining LP with them fixed, exactly."""
    fixed = lp.with_fixed(lp.integer, result.x, relax=lp.integer)
    polished = _solve_ortools(fixed, "glop", time_limit_s, 0.0, relax=True)
    if not polished.has_solution:
        return result
    x = polished.x.copy()
    x[lp.integer] = result.x[lp.integer]
    objective = float(lp.objective_coefficients() @ x + lp.objective_offset)
    return SolveResult(result.status, result.backend, x, objective, result.bound, result.seconds + polished.seconds)


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _round_integers(x: np.ndarray, lp: LinearProgram, relax: bool) -> np.ndarray:
    """Snap integer variables to the nearest integer (solvers return 2.9999999) and every value into its bounds
    (CP-SAT's scaled continuous variables can land a hair below 0, which a $1e9 penalty turns into dollars)."""
    x = np.clip(x, lp.lower, lp.upper)
    if relax:
        return x
    integer = lp.integer
    x[integer] = np.round(x[integer])
    return x


class HighsSession:
    """One HiGHS instance holding `lp`, solved repeatedly with some variables fixed in between.

    HiGHS through its own API: unlike OR-Tools' model_builder it hands back the MIP dual bound, takes a warm
    start, and reports incumbent and bound while it runs. Kept open, it re-solves an LP after bound changes
    from the previous basis (the warm start's three LPs) instead of from scratch.
    """

    def __init__(self, lp: LinearProgram, relax: bool = False):
        import highspy

        self.lp, self.relax = lp, relax
        with _stdout_silenced():  # the constructor prints a banner on stdout, whatever output_flag says
            self.highs = highspy.Highs()
        self.highs.setOptionValue("output_flag", False)
        model = highspy.HighsLp()
        model.num_col_, model.num_row_ = lp.num_vars, lp.num_rows
        model.col_cost_ = lp.objective_coefficients()
        model.col_lower_, model.col_upper_ = lp.lower, lp.upper
        model.row_lower_, model.row_upper_ = lp.row_lower, lp.row_upper
        model.offset_ = lp.objective_offset
        matrix = lp.matrix().tocsc()
        model.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        model.a_matrix_.start_, model.a_matrix_.index_, model.a_matrix_.value_ = \
            matrix.indptr, matrix.indices, matrix.data
        if not relax and lp.integer.any():
            model.integrality_ = np.where(lp.integer, highspy.HighsVarType.kInteger,
                                          highspy.HighsVarType.kContinuous)
        self.highs.passModel(model)

    def release(self) -> None:
        """Every variable back to its own bounds."""
        columns = np.arange(self.lp.num_vars, dtype=np.int32)
        self.highs.changeColsBounds(len(columns), columns, self.lp.lower, self.lp.upper)

    def fix(self, mask: np.ndarray, values: np.ndarray) -> None:
        """Pin the variables of `mask` to `values` (both full-length) for the next solves."""
        columns = np.flatnonzero(mask).astype(np.int32)
        if len(columns):
            self.highs.changeColsBounds(len(columns), columns, values[columns], values[columns])

    def solve(self, time_limit_s: float = 60.0, gap: float = 0.005, hint: np.ndarray | None = None,
              progress: Callable | None = None) -> SolveResult:
        import highspy

        highs, lp, relax = self.highs, self.lp, self.relax
        highs.setOptionValue("time_limit", float(time_limit_s))
        highs.setOptionValue("mip_rel_gap", float(gap))
        if hint is not None and not relax:
            start = highspy.HighsSolution()
            start.col_value = list(np.asarray(hint, dtype=float))
            start.value_valid = True
            highs.setSolution(start)
        if progress is not None and not relax:
            def report(event) -> None:
                out = event.data_out
                progress(out.running_time, out.objective_function_value, out.mip_dual_bound)
            highs.cbMipInterrupt.subscribe(report)
        started = time.perf_counter()
        with _stdout_silenced():  # HiGHS's MIP solver prints debugging lines on stdout in some releases
            highs.run()
        seconds = time.perf_counter() - started
        status = highs.getModelStatus()
        info = highs.getInfo()
        has_solution = info.primal_solution_status == highspy.SolutionStatus.kSolutionStatusFeasible
        if status == highspy.HighsModelStatus.kInfeasible:
            return SolveResult(INFEASIBLE, "highs", None, None, None, seconds)
        if not has_solution:
            return SolveResult(NO_SOLUTION, "highs", None, None, None, seconds)
        solution = highs.getSolution()
        x = _round_integers(np.array(solution.col_value, dtype=float), lp, relax)
        objective = float(lp.objective_coefficients() @ x + lp.objective_offset)
        mapped = OPTIMAL if status == highspy.HighsModelStatus.kOptimal else FEASIBLE
        if relax:
            duals = np.array(solution.row_dual, dtype=float) if lp.num_rows else None
            return SolveResult(mapped, "highs", x, objective, objective, seconds, duals)
        bound = float(info.mip_dual_bound) if lp.integer.any() else objective
        bound = bound if math.isfinite(bound) and abs(bound) < highspy.kHighsInf else None
        return SolveResult(mapped, "highs", x, objective, bound, seconds)


def _solve_highspy(lp: LinearProgram, time_limit_s: float, gap: float, relax: bool, hint: np.ndarray | None,
                   progress: Callable | None) -> SolveResult:
    return HighsSession(lp, relax=relax).solve(time_limit_s, gap, hint, progress)


@contextmanager
def _stdout_silenced():
    """Point file descriptor 1 at /dev/null for the duration: C++ solvers print there behind Python's back."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
