"""`planner plan --stochastic N`: the deterministic plan, the two-stage solve on N futures, the forecast re-solve
with the purchases fixed, and the in-sample figures (models/stochastic.py holds the mathematics)."""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass

import numpy as np

from models.errors import InputError, Problem
from models.risk_inputs import build_risk_inputs
from models.risk_settings import risk_settings
from models.risk_summary import tco_statistics
from models.scenario import Scenario
from models.stochastic import (
    HELD_FAMILIES,
    RECOURSE_CHUNK_FUTURES,
    Futures,
    build_two_stage,
    cvar,
    draw_futures,
    first_stage_from_plan,
    first_stage_held,
    first_stage_values,
    hold_columns,
    recourse_costs,
    rounded_relaxation,
    solve_two_stage,
)
from models.stochastic_limits import DEFAULT_CVAR_ALPHA
from planner.pipeline import PlanRun, build_plan, plan_document, solve_plan


@dataclass
class StochasticRun:
    run: PlanRun  # the stochastic plan: purchases and training fixed, rentals and placement re-solved on the forecast
    document: dict  # its PLAN.json, with `stochastic`
    deterministic: PlanRun
    deterministic_document: dict
    costs_usd: np.ndarray  # [future] this plan's TCO in each future (recourse optimal)
    deterministic_costs_usd: np.ndarray


def run_stochastic_plan(scenario: Scenario, samples: int, seed: int | None = None, cvar_weight: float = 0.0,
                        cvar_alpha: float = DEFAULT_CVAR_ALPHA, backend: str | None = None,
                        time_limit_s: float | None = None,
                        gap: float | None = None, progress=None, say=None,
                        futures: Futures | None = None) -> StochasticRun:
    """Deterministic plan → N futures → extensive form (training pools held at the deterministic choice) →
    purchases and training → forecast re-solve with those fixed → both plans' TCO over the same futures. Each of the
    three solves (deterministic, extensive form, re-solve) gets `time_limit_s`.
    `futures` replaces the sampled ones (a test's hand-made futures)."""
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
        futures = draw_futures(inputs, settings.seed, settings.samples, settings.failure_rate)
    x_det = deterministic.result.x
    det_nodes = _nodes(model, x_det)
    two_stage = build_two_stage(model, built.classes, inputs, futures, det_nodes, cvar_weight, cvar_alpha)
    hold_columns(two_stage, model, HELD_FAMILIES, x_det)
    say(f"extensive form: {futures.count:,} futures, {two_stage.num_vars:,} variables "
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
               "vss_usd": float(det_costs.mean() - costs.mean())}
    document = plan_document(stochastic, stochastic=figures)
    return StochasticRun(run=stochastic, document=document, deterministic=deterministic,
                         deterministic_document=deterministic_document, costs_usd=costs,
                         deterministic_costs_usd=det_costs)


def _nodes(model, x):
    return model.lp.evaluate(model.nodes, x).reorder_levels(["quarter", "site", "sku"])


def optimal_recourse(built, inputs, futures: Futures, plan: dict, time_limit_s: float, progress=None) -> dict:
    """A PLAN.json's TCO in each future with the recourse solved optimally (`evaluate --allocation optimal`):
    its purchases and training held, rentals beyond training's re-decided on demand, failed fractions at its own
    nodes. Returns costs_usd [future] and the worst quarter's shortfall probability."""
    model = built.model
    x = first_stage_from_plan(model, plan, built.scenario.horizon, built.solved.headroom)
    nodes = _nodes(model, x)
    costs, short = [], []
    for start in range(0, futures.count, RECOURSE_CHUNK_FUTURES):  # futures decouple: one LP per chunk
        chunk = futures.take(start, start + RECOURSE_CHUNK_FUTURES)
        two_stage = build_two_stage(model, built.classes, inputs, chunk, nodes)
        chunk_costs, solution = recourse_costs(two_stage, x, time_limit_s)
        costs.append(chunk_costs)
        short.append(two_stage.shortfall_by_quarter(solution))
        if progress is not None:
            progress(chunk.count)
    return {"costs_usd": np.concatenate(costs),
            "shortfall_probability": float(np.concatenate(short).mean(axis=0).max())}


def evaluate_optimal(scenario: Scenario, plan: dict, samples: int | None = None, seed: int | None = None,
                     progress=None) -> dict:
    """`planner evaluate --allocation optimal`: the plan's TCO over evaluate's futures with the recourse LP of
    models/stochastic.py in each (delivery slips are not carried; README, Stochastic planning). `progress(n)` is
    called as each chunk of n futures is priced."""
    settings = risk_settings(scenario, samples=samples, seed=seed)
    built = build_plan(scenario)
    inputs = build_risk_inputs(scenario, plan, settings)
    futures = draw_futures(inputs, settings.seed, settings.samples, settings.failure_rate)
    out = optimal_recourse(built, inputs, futures, plan, scenario.solver.time_limit_s, progress)
    costs = out["costs_usd"]
    return {"samples": settings.samples, "seed": settings.seed, "allocation": "optimal", "dtype": "float64",
            "plan_objective_usd": plan.get("objective_usd"),
            "tco_usd": tco_statistics(costs),
            "shortfall_probability_worst_quarter": out["shortfall_probability"]}


def stderr_say(quiet: bool):
    """A line of progress on stderr, or nothing under --quiet."""
    def say(text: str) -> None:
        if not quiet:
            sys.stderr.write(f"stochastic: {text}\n")
            sys.stderr.flush()
    return say


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
    return {**risk, "comparison": comparison(stochastic.document, stochastic.deterministic_document, risk, other,
                                             optimal)}


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
