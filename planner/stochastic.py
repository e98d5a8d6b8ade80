"""`planner plan --stochastic N`: the deterministic plan, the two-stage solve on N futures, the forecast re-solve
with the purchases fixed, and the in-sample figures (models/stochastic.py holds the mathematics)."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np

from models.errors import InputError, Problem
from models.risk_inputs import build_risk_inputs
from models.risk_settings import allocation_label, risk_settings
from models.risk_schema import OPTIMAL, assemble_risk
from models.risk_summary import tco_statistics
from models.scenario import Scenario
from models.stochastic import (
    HELD_FAMILIES,
    RECOURSE_CHUNK_FUTURES,
    Futures,
    build_two_stage,
    cvar,
    catalog_unavailability,
    draw_futures,
    first_stage_from_plan,
    first_stage_held,
    first_stage_values,
    hold_columns,
    recourse_costs,
    rounded_relaxation,
    solve_two_stage,
)
from models.scenario_reduction import fast_forward_selection, future_features
from models.plan_schema import assemble
from models.stochastic_limits import (
    AUTO_FIRST_FUTURES,
    AUTO_MAX_FUTURES,
    DEFAULT_AUTO_TOLERANCE,
    DEFAULT_CVAR_ALPHA,
    converge_futures,
)
from planner.pipeline import PlanRun, build_plan, plan_document, solve_plan
from planner.progress import stderr_say  # noqa: F401  (its home before planner/progress.py)


@dataclass
class StochasticRun:
    run: PlanRun  # the stochastic plan: purchases and training fixed, rentals and placement re-solved on the forecast
    document: dict  # its PLAN.json, with `stochastic`
    deterministic: PlanRun
    deterministic_document: dict
    costs_usd: np.ndarray  # [future] this plan's TCO in each future (recourse optimal)
    deterministic_costs_usd: np.ndarray

    @property
    def figures(self) -> dict:
        """PLAN.json's `stochastic`."""
        return self.document["stochastic"]


def run_stochastic_auto(scenario: Scenario, tolerance: float = DEFAULT_AUTO_TOLERANCE, cap: int = AUTO_MAX_FUTURES,
                        first: int = AUTO_FIRST_FUTURES, say=None, **options) -> StochasticRun:
    """`plan --stochastic auto`: `run_stochastic_plan` at N = first, 2·first, … until the SAA optimism's 95 %
    half-width is within `tolerance` × the held-out E[TCO] (models/stochastic_limits.py `converge_futures`); the
    last run, its figures gaining `convergence`."""
    say = say or (lambda text: None)

    def solve(samples: int) -> StochasticRun:
        say(f"convergence check: N = {samples:,}")
        return run_stochastic_plan(scenario, samples, say=say, **options)

    result, steps, converged = converge_futures(solve, first=first, cap=cap, tolerance=tolerance)
    figures = {**result.figures, "convergence": {"tolerance": float(tolerance), "cap": int(cap),
                                                 "converged": bool(converged), "steps": steps}}
    say(f"convergence: {'met' if converged else 'not met'} at N = {steps[-1]['samples']:,} (half-width "
        f"{steps[-1]['half_width_fraction']:.2%} of E[TCO], tolerance {tolerance:.2%})")
    return dataclasses.replace(result, document=assemble({**result.document, "stochastic": figures}))


def run_stochastic_plan(scenario: Scenario, samples: int, seed: int | None = None, cvar_weight: float = 0.0,
                        cvar_alpha: float = DEFAULT_CVAR_ALPHA, backend: str | None = None,
                        time_limit_s: float | None = None,
                        gap: float | None = None, progress=None, say=None,
                        futures: Futures | None = None,
                        validation_futures: Futures | None = None, reduce_to: int | None = None,
                        evpi_futures: int = 0) -> StochasticRun:
    """Deterministic plan → N futures → extensive form (training pools held at the deterministic choice) →
    purchases and training → forecast re-solve with those fixed → both plans' TCO over the same futures. Each of the
    three solves (deterministic, extensive form, re-solve) gets `time_limit_s`.
    `futures` replaces the sampled ones (a test's hand-made futures), `validation_futures` the unseen ones the
    returned plan is chosen on (default: as many futures of seed + VALIDATION_SEED_OFFSET).
    `reduce_to` K: the extensive form is solved on K of the N futures chosen by fast forward selection, with their
    probabilities (models/scenario_reduction.py); every figure is still priced on all N. `evpi_futures` M: the
    first M in-sample futures are also solved with perfect information (wait-and-see), for EVPI."""
    say = say or (lambda text: None)
    settings = risk_settings(scenario, samples=samples, seed=seed)
    time_limit_s = scenario.solver.time_limit_s if time_limit_s is None else time_limit_s
    gap = scenario.solver.gap if gap is None else gap
    started = time.perf_counter()
    built = build_plan(scenario)
    model = built.model
    if "unmet" not in model.lp.variables:
        raise InputError(Problem(scenario.path.name, "--stochastic needs inference demand to sample"))
    deterministic = solve_plan(built, backend=backend, time_limit_s=time_limit_s, gap=gap)
    deterministic_document = plan_document(deterministic)
    say(f"deterministic plan: objective ${deterministic_document['objective_usd']:,.0f} "
        f"({time.perf_counter() - started:.1f} s)")

    inputs = build_risk_inputs(scenario, deterministic_document, settings)
    if futures is None:
        futures = draw_futures(inputs, settings.seed, settings.samples, settings.failure_rate,
                                   catalog_unavailability(scenario.catalog, inputs.skus))
    x_det = deterministic.result.x
    det_nodes = _nodes(model, x_det)
    solved_on, probabilities, reduction = futures, None, {}
    if reduce_to is not None and reduce_to < futures.count:
        reduced_at = time.perf_counter()
        chosen, probabilities = fast_forward_selection(
            future_features(futures.demand_factor, futures.electricity_factor), reduce_to)
        solved_on = futures.select(chosen)
        reduction = {"reduced_to": int(reduce_to), "reduction_seconds": time.perf_counter() - reduced_at}
        say(f"scenario reduction: {futures.count:,} futures → {reduce_to:,} by fast forward selection "
            f"({reduction['reduction_seconds']:.1f} s; largest probability {probabilities.max():.3f})")
    two_stage = build_two_stage(model, built.classes, inputs, solved_on, det_nodes, cvar_weight, cvar_alpha,
                                probabilities=probabilities)
    hold_columns(two_stage, model, HELD_FAMILIES, x_det)
    say(f"extensive form: {solved_on.count:,} futures, {two_stage.num_vars:,} variables "
        f"({int(two_stage.integer.sum()):,} integer), {two_stage.num_rows:,} rows, "
        f"{two_stage.lp_matrix.nnz:,} non-zeros")
    # Two complete incumbents: the deterministic plan's first stage, and the rounded relaxation; the better one
    # starts the branch and bound, which keeps it if it finds nothing better in time.
    _, hint = recourse_costs(two_stage, x_det, time_limit_s)  # complete, η and u_n included
    cost = two_stage.objective_coefficients()
    say(f"deterministic plan's purchases on the futures: ${cost @ hint + two_stage.offset:,.0f}")
    rounded = rounded_relaxation(two_stage, model, time_limit_s)
    if rounded is None:
        say("rounded relaxation: no feasible rounding")
    else:
        say(f"rounded relaxation: ${cost @ rounded + two_stage.offset:,.0f}")
        if cost @ rounded < cost @ hint:
            hint = rounded
    result = solve_two_stage(two_stage, hint, time_limit_s, gap, progress=progress)
    x_two_stage = result.x if result.has_solution and cost @ result.x <= cost @ hint else hint
    first = first_stage_values(two_stage, x_two_stage, model.lp.num_vars)

    say(f"two-stage solution: ${cost @ x_two_stage + two_stage.offset:,.0f} ({result.status}, "
        f"{result.seconds:.1f} s)")
    held = first_stage_held(model)  # purchases and training as the two stages chose them
    fixed_model = dataclasses.replace(model, lp=model.lp.with_fixed(held, first, relax=np.zeros_like(held)))
    stochastic = solve_plan(dataclasses.replace(built, model=fixed_model), backend=backend,
                            time_limit_s=time_limit_s, gap=gap)
    say(f"stochastic purchases re-solved on the forecast: objective ${stochastic.result.objective:,.0f}")

    # Both plans as written, over the same futures, by evaluate's optimal allocation (one notion of recourse).
    document = plan_document(stochastic)
    costs = optimal_recourse(built, inputs, futures, document, time_limit_s)["costs_usd"]
    det_costs = optimal_recourse(built, inputs, futures, deterministic_document, time_limit_s)["costs_usd"]
    figures = {"samples": futures.count, "seed": settings.seed, "cvar_weight": float(cvar_weight),
               "cvar_alpha": float(cvar_alpha), "expected_tco_usd": float(costs.mean()),
               "cvar_usd": cvar(costs, cvar_alpha), "deterministic_expected_tco_usd": float(det_costs.mean()),
               "vss_usd": float(det_costs.mean() - costs.mean()),
               "vss_ci95_usd": _mean_and_ci95(det_costs - costs)[1], **reduction}
    if evpi_futures:
        started_evpi = time.perf_counter()
        sample = futures.take(0, min(evpi_futures, futures.count))
        wait_and_see = wait_and_see_costs(model, built.classes, inputs, sample, det_nodes, x_det, time_limit_s, gap)
        figures.update(evpi_figures(costs[:sample.count], wait_and_see))
        say(f"EVPI on {sample.count:,} futures solved with perfect information: ${figures['evpi_usd']:,.0f} ± "
            f"${figures['evpi_ci95_usd']:,.0f} (95 %; {time.perf_counter() - started_evpi:.1f} s)")

    # The SAA plan is optimal on the futures it saw; whether it holds is asked of futures it did not see.
    if validation_futures is None:
        validation_futures = draw_futures(inputs, settings.seed + VALIDATION_SEED_OFFSET, futures.count,
                                          settings.failure_rate, catalog_unavailability(scenario.catalog, inputs.skus))
    held_out = optimal_recourse(built, inputs, validation_futures, document, time_limit_s)["costs_usd"]
    det_held_out = optimal_recourse(built, inputs, validation_futures, deterministic_document,
                                    time_limit_s)["costs_usd"]
    check = validation_figures(costs, held_out, det_held_out, cvar_weight, cvar_alpha)
    figures.update(check, validation_seed=settings.seed + VALIDATION_SEED_OFFSET)
    say(f"validation on {validation_futures.count:,} unseen futures: E[TCO] stochastic "
        f"${check['validation_expected_tco_usd']:,.0f} vs deterministic "
        f"${check['validation_deterministic_expected_tco_usd']:,.0f} (difference "
        f"{check['validation_difference_usd']:+,.0f} $ ± {check['validation_difference_ci95_usd']:,.0f} $, 95 %); "
        f"in-sample optimism {check['in_sample_optimism_usd']:+,.0f} $ ± {check['in_sample_optimism_ci95_usd']:,.0f} $")
    if check["chosen"] == "deterministic":
        say("the two-stage plan loses to the deterministic plan on the unseen futures: returning the deterministic "
            "plan (more futures, --stochastic N, may change that)")
        stochastic, costs = deterministic, det_costs
    document = plan_document(stochastic, stochastic=figures)
    return StochasticRun(run=stochastic, document=document, deterministic=deterministic,
                         deterministic_document=deterministic_document, costs_usd=costs,
                         deterministic_costs_usd=det_costs)


VALIDATION_SEED_OFFSET = 2  # the selection's unseen futures: not the in-sample seed, nor out_of_sample's (+1)
Z_95 = 1.959963984540054  # two-sided 95 % normal quantile, for the confidence half-widths


def _mean_and_ci95(values: np.ndarray) -> tuple[float, float]:
    """Sample mean and the half-width of its normal 95 % confidence interval (0 with fewer than two values)."""
    values = np.asarray(values, dtype=float)
    if values.size < 2:
        return float(values.mean()), 0.0
    return float(values.mean()), float(Z_95 * values.std(ddof=1) / np.sqrt(values.size))


def validation_figures(in_sample_usd: np.ndarray, held_out_usd: np.ndarray,
                       deterministic_held_out_usd: np.ndarray, cvar_weight: float = 0.0,
                       cvar_alpha: float = DEFAULT_CVAR_ALPHA) -> dict:
    """Both plans on the same unseen futures, judged by the objective the two stages minimised, mean + λ·CVaR_α
    (the mean when λ = 0): its difference (stochastic − deterministic), the 95 % interval of the paired mean
    difference, the SAA optimism (held-out mean − in-sample mean, independent samples), and which plan is returned:
    the stochastic one unless it is dearer on the unseen futures."""
    def objective(costs: np.ndarray) -> float:
        return float(np.mean(costs)) + (cvar_weight * cvar(costs, cvar_alpha) if cvar_weight else 0.0)

    _, difference_ci = _mean_and_ci95(held_out_usd - deterministic_held_out_usd)
    difference = objective(held_out_usd) - objective(deterministic_held_out_usd)
    held_mean, held_ci = _mean_and_ci95(held_out_usd)
    in_mean, in_ci = _mean_and_ci95(in_sample_usd)
    return {"validation_samples": int(held_out_usd.size), "validation_expected_tco_usd": held_mean,
            "validation_deterministic_expected_tco_usd": float(np.mean(deterministic_held_out_usd)),
            "validation_difference_usd": difference, "validation_difference_ci95_usd": difference_ci,
            "in_sample_optimism_usd": held_mean - in_mean,
            "in_sample_optimism_ci95_usd": float(np.hypot(held_ci, in_ci)),
            "chosen": "deterministic" if difference > 0 else "stochastic"}


def wait_and_see_costs(model, classes, inputs, futures: Futures, reference_nodes, x_det, time_limit_s: float,
                       gap: float) -> np.ndarray:
    """[future]: each future's TCO with perfect information, its first stage optimised for that future alone (the
    extensive form with N = 1, training pools held as the two-stage solve holds them), then priced like the
    in-sample figures: failed fractions at that first stage's own nodes, recourse solved optimally."""
    out = []
    for index in range(futures.count):
        single = build_two_stage(model, classes, inputs, futures.take(index, index + 1), reference_nodes)
        hold_columns(single, model, HELD_FAMILIES, x_det)
        _, hint = recourse_costs(single, x_det, time_limit_s)
        result = solve_two_stage(single, hint, time_limit_s, gap)
        cost = single.objective_coefficients()
        x = result.x if result.has_solution and cost @ result.x <= cost @ hint else hint
        first = first_stage_values(single, x, model.lp.num_vars)
        priced = build_two_stage(model, classes, inputs, futures.take(index, index + 1), _nodes(model, first))
        out.append(float(recourse_costs(priced, first, time_limit_s)[0][0]))
    return np.asarray(out)


def evpi_figures(stochastic_usd: np.ndarray, wait_and_see_usd: np.ndarray) -> dict:
    """EVPI = E[TCO of the stochastic plan] − E[wait-and-see TCO], the paired mean over the same futures, with the
    half-width of its 95 % interval."""
    difference, half_width = _mean_and_ci95(np.asarray(stochastic_usd) - np.asarray(wait_and_see_usd))
    return {"evpi_samples": int(len(wait_and_see_usd)),
            "wait_and_see_expected_tco_usd": float(np.mean(wait_and_see_usd)),
            "evpi_usd": difference, "evpi_ci95_usd": half_width}


def _nodes(model, x):
    return model.lp.evaluate(model.nodes, x).reorder_levels(["quarter", "site", "sku"])


def optimal_recourse(built, inputs, futures: Futures, plan: dict, time_limit_s: float, progress=None) -> dict:
    """A PLAN.json's TCO in each future with the recourse solved optimally (`evaluate --allocation optimal`):
    its purchases and training held, rentals beyond training's re-decided on demand, failed fractions at its own
    nodes. Returns costs_usd [future] and the worst quarter's shortfall probability."""
    model = built.model
    x = first_stage_from_plan(model, plan, built.scenario.horizon, built.solved.headroom)
    nodes = _nodes(model, x)
    costs, short, splits = [], [], []
    for start in range(0, futures.count, RECOURSE_CHUNK_FUTURES):  # futures decouple: one LP per chunk
        chunk = futures.take(start, start + RECOURSE_CHUNK_FUTURES)
        two_stage = build_two_stage(model, built.classes, inputs, chunk, nodes)
        chunk_costs, solution = recourse_costs(two_stage, x, time_limit_s)
        costs.append(chunk_costs)
        splits.append(two_stage.future_cost_split(solution))
        short.append(two_stage.shortfall_by_quarter(solution))
        if progress is not None:
            progress(chunk.count)
    return {"costs_usd": np.concatenate(costs),
            "split_usd": {key: np.concatenate([split[key] for split in splits]) for key in splits[0]},
            "shortfall_probability": float(np.concatenate(short).mean(axis=0).max())}


def evaluate_optimal(scenario: Scenario, plan: dict, samples: int | None = None, seed: int | None = None,
                     progress=None) -> dict:
    """`planner evaluate --allocation optimal`: the plan's TCO over evaluate's futures with the recourse LP of
    models/stochastic.py in each (delivery slips are not carried; docs/stochastic.md). `progress(n)` is
    called as each chunk of n futures is priced."""
    settings = risk_settings(scenario, samples=samples, seed=seed)
    built = build_plan(scenario)
    inputs = build_risk_inputs(scenario, plan, settings)
    futures = draw_futures(inputs, settings.seed, settings.samples, settings.failure_rate,
                           catalog_unavailability(scenario.catalog, inputs.skus))
    out = optimal_recourse(built, inputs, futures, plan, scenario.solver.time_limit_s, progress)
    costs = out["costs_usd"]
    split = {key: float(values.mean()) for key, values in out["split_usd"].items()}
    return assemble_risk({"samples": settings.samples, "seed": settings.seed, "allocation": OPTIMAL,
                          "allocation_label": allocation_label(OPTIMAL), "dtype": "float64",
                          "plan_objective_usd": plan.get("objective_usd"), "tco_usd": tco_statistics(costs),
                          # E[TCO] split as evaluate's rule-based allocations split it (spend, rented, penalties)
                          "expected_tco_usd": {"total_usd": float(costs.mean()), **split},
                          "shortfall_probability_worst_quarter": out["shortfall_probability"]}, OPTIMAL)


OUT_OF_SAMPLE_SEED_OFFSET = 1  # fresh futures: the seed after the one the plan was solved on


def out_of_sample(scenario: Scenario, stochastic: StochasticRun, samples: int | None = None) -> dict:
    """`planner evaluate` of the stochastic plan (its RISK document, for the Risk sheet) with the deterministic plan
    evaluated on the same fresh futures beside it, under `comparison`."""
    from models.risk import evaluate_plan

    seed = stochastic.document["stochastic"]["seed"] + OUT_OF_SAMPLE_SEED_OFFSET
    risk = evaluate_plan(scenario, stochastic.document, samples=samples, seed=seed)
    other = evaluate_plan(scenario, stochastic.deterministic_document, samples=samples, seed=seed)
    optimal = {name: evaluate_optimal(scenario, document, samples=samples, seed=seed)
               for name, document in (("deterministic", stochastic.deterministic_document),
                                      ("stochastic", stochastic.document))}
    return assemble_risk({**risk, "comparison": comparison(stochastic.document, stochastic.deterministic_document,
                                                           risk, other, optimal)})


def comparison(plan: dict, deterministic: dict, risk: dict, deterministic_risk: dict, optimal: dict) -> dict:
    """Both plans side by side on the same futures (evaluate's plan-first allocation, and the optimal recourse),
    and the purchases where they differ."""
    def row(document: dict, result: dict) -> dict:
        by_quarter = result["shortfall_by_quarter"]
        return {"objective_usd": document["objective_usd"], "mean_usd": result["tco_usd"]["mean"],
                "p95_usd": result["tco_usd"]["p95"], "cvar95_usd": result["tco_usd"]["cvar95"],
                "shortfall_probability": max((r["probability"] for r in by_quarter), default=0.0)}

    def nodes(document: dict) -> dict:
        out: dict = {}
        for p in document["purchases"]:
            key = (p["quarter"], p["site"], p["sku"])
            out[key] = out.get(key, 0.0) + p["nodes"]
        return out

    mine, theirs = nodes(plan), nodes(deterministic)
    differ = [{"quarter": q, "site": s, "sku": k, "deterministic_nodes": theirs.get((q, s, k), 0.0),
               "stochastic_nodes": mine.get((q, s, k), 0.0)}
              for q, s, k in sorted(set(mine) | set(theirs)) if mine.get((q, s, k), 0.0) != theirs.get((q, s, k), 0.0)]
    def optimal_row(result: dict) -> dict:
        return {"mean_usd": result["tco_usd"]["mean"], "p95_usd": result["tco_usd"]["p95"],
                "cvar95_usd": result["tco_usd"]["cvar95"],
                "shortfall_probability": result["shortfall_probability_worst_quarter"]}

    return {"plans": {"deterministic": row(deterministic, deterministic_risk), "stochastic": row(plan, risk)},
            "optimal_recourse": {name: optimal_row(result) for name, result in optimal.items()},
            "in_sample": plan["stochastic"], "purchases_differ": differ}
