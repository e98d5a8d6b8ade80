"""`planner evaluate SCENARIO --plan PLAN.json`: Monte-Carlo risk and sensitivities of a plan (models/risk.py)."""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from pathlib import Path

import click

from models.errors import InputError, Problem
from models.risk_settings import allocation_label
from planner.plan_file import changed_inputs, load_plan
from planner.scenario import Scenario, load_scenario
from reports.atomic import write_json_atomic

TOP_SENSITIVITIES_SHOWN = 5
OPTIMAL = "optimal"  # the default allocation: the recourse LP of models/stochastic.py (models/risk_settings.py)
# Futures the optimal recourse prices when neither --samples nor risk.samples says: each costs an LP share (~40 ms
# on the example, against ~0.03 ms for a JAX dispatch rule). Measured on the example's plan (seed 0): E[TCO]
# $86,115,133 over 1,000 futures vs $85,999,846 over 4,000 (0.13 % apart; standard error of the mean 0.6 %), in
# 43 s against 179 s (2 shared cores), so `make demo` stays within ~20 s of the old 26 s rule-based evaluation.
DEFAULT_OPTIMAL_SAMPLES = 1000


def _check_plan_holds(scenario: Scenario, plan: dict, plan_path) -> None:
    """Price only plans that hold for this scenario: a fractional order or a quarter outside the horizon would
    give risk figures for a plan nobody can carry out."""
    from models.verify import PlanFormatError, verify_plan

    label = Path(plan_path).name
    try:
        violations = verify_plan(scenario, plan)
    except PlanFormatError as error:
        raise InputError([Problem(label, problem) for problem in error.problems]) from None
    if violations:
        shown = [Problem(label, f"{violation} (run `planner verify` for all {len(violations)})")
                 for violation in violations[:10]]
        raise InputError(shown)


@contextlib.contextmanager
def _progress_bar(show: bool, length: int):
    if not show:
        yield None
        return
    with click.progressbar(length=length, label="evaluating", file=sys.stderr) as bar:
        yield bar.update


@click.command("evaluate")
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("--plan", "plan_path", required=True, type=click.Path(dir_okay=False),
              help="PLAN.json written by `planner plan --json`.")
@click.option("--samples", type=click.IntRange(min=1), default=None,
              help="Sampled futures (default: the scenario's risk.samples, else 4,000).")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Random seed (default: risk.seed, else 0).")
@click.option("--device", type=click.Choice(["cpu", "gpu"]), default="cpu", show_default=True,
              help="Where JAX runs; gpu fails with exit 2 when no GPU backend is installed.")
@click.option("--float64", is_flag=True, help="Compute in float64 (default float32).")
@click.option("--deterministic", is_flag=True,
              help="Switch every uncertainty off: one future, the plan's own forecast.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write RISK.json here.")
@click.option("-o", "--output", "xlsx_path", type=click.Path(dir_okay=False),
              help="Write the plan's workbook with the Risk and Sensitivity sheets here.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on stderr (default: when stderr is a terminal).")
@click.option("--allocation", type=click.Choice([OPTIMAL, "plan-first", "cheapest-first"]), default=None,
              help="How each future's demand meets the plan's capacity. optimal (the default): the recourse LP of "
                   "`plan --stochastic` re-places inference in each future (TCO, its split and shortfall). "
                   "plan-first / cheapest-first: fast greedy dispatch rules in JAX, which also give the workbook's "
                   "Risk and Sensitivity sheets, --deterministic and --device gpu (the default with those, or when "
                   "the scenario sets risk.allocation).")
def command(scenario, plan_path, samples, seed, device, float64, deterministic, json_path, xlsx_path,
            progress, allocation) -> None:
    """Sample futures around a plan (demand, failures, delivery slips, electricity prices): TCO distribution,
    shortfall probabilities and the sensitivity of expected TCO to every input."""
    from models.risk import evaluate_plan, evaluation_work, resolve_device, use_all_cpu_cores

    needs_rules = bool(xlsx_path or deterministic or device != "cpu")  # what only the JAX evaluator gives
    if allocation == OPTIMAL and needs_rules:
        raise click.UsageError("--allocation optimal gives the TCO distribution only: no -o, --deterministic or "
                               "--device gpu")
    use_all_cpu_cores()  # before JAX starts its backend: one CPU device per core
    resolve_device(device)  # fail fast, before loading anything
    loaded = load_scenario(scenario)
    plan = load_plan(plan_path)
    for problem in changed_inputs(plan, loaded):
        click.echo(f"warning: {problem}", err=True)
    _check_plan_holds(loaded, plan, plan_path)
    if allocation is None:
        allocation = default_allocation(loaded, needs_rules)
    if allocation == OPTIMAL:
        from models.risk_settings import risk_settings
        from planner.stochastic import evaluate_optimal

        if samples is None and "samples" not in loaded.risk.given:
            samples = DEFAULT_OPTIMAL_SAMPLES
        total = risk_settings(loaded, samples=samples).samples
        with _progress_bar(progress if progress is not None else sys.stderr.isatty(), total) as update:
            risk = evaluate_optimal(loaded, plan, samples=samples, seed=seed, progress=update)
        if json_path:
            write_json_atomic(json_path, risk)
        tco = risk["tco_usd"]
        click.echo(f"{loaded.name}: {risk['samples']:,} futures (float64)")
        click.echo(f"  allocation: {risk['allocation']}: {risk['allocation_label']}")
        click.echo(f"  TCO mean ${tco['mean']:,.2f}  P5 ${tco['p5']:,.0f}  P50 ${tco['p50']:,.0f}  "
                   f"P95 ${tco['p95']:,.0f}  P99 ${tco['p99']:,.0f}  CVaR95 ${tco['cvar95']:,.0f}")
        _echo_split(risk["expected_tco_usd"])
        click.echo(f"  highest shortfall probability: {risk['shortfall_probability_worst_quarter']:.1%}")
        return
    loaded = dataclasses.replace(loaded, risk=dataclasses.replace(loaded.risk, allocation=allocation))
    show = progress if progress is not None else sys.stderr.isatty()
    with _progress_bar(show, evaluation_work(loaded, samples, deterministic)) as update:
        risk = evaluate_plan(loaded, plan, samples=samples, seed=seed, device=device, float64=float64,
                             deterministic=deterministic, progress=update)
    risk = {**risk, "allocation": allocation, "allocation_label": allocation_label(allocation)}
    if json_path:
        write_json_atomic(json_path, risk)
    if xlsx_path:
        from reports.workbook import write_workbook

        write_workbook(xlsx_path, plan, loaded, risk=risk)
    _echo_summary(loaded.name, risk)


def default_allocation(scenario, needs_rules: bool) -> str:
    """The scenario's risk.allocation where it sets one, else optimal recourse, unless what was asked (-o's
    sheets, --deterministic, --device gpu) needs the JAX evaluator: then its default rule."""
    from models.risk_settings import DEFAULT_ALLOCATION

    if "allocation" in scenario.risk.given:
        return scenario.risk.allocation
    return DEFAULT_ALLOCATION if needs_rules else OPTIMAL


def _echo_split(split: dict) -> None:
    click.echo(f"  expected TCO ${split['total_usd']:,.0f} = spend ${split['spend_usd']:,.0f} + shortfall rented "
               f"on demand ${split['on_demand_usd']:,.0f} + shortfall penalties ${split['penalty_usd']:,.0f}")


def _echo_summary(name: str, risk: dict) -> None:
    tco = risk["tco_usd"]
    timing = risk["timing"]
    click.echo(f"{name}: {risk['samples']:,} futures ({risk['dtype']}, {risk['device']}, "
               f"{timing['samples_seconds']:.2f} s; compilation {timing['compile_seconds']:.1f} s)")
    click.echo(f"  allocation: {risk['allocation']}: {risk['allocation_label']}")
    if risk["deterministic"]:
        objective = risk.get("plan_objective_usd")
        line = f"  deterministic TCO ${tco['mean']:,.2f}"
        if objective:
            line += f"; plan objective ${objective:,.2f} (relative difference {tco['mean'] / objective - 1:+.2e})"
        click.echo(line)
    else:
        click.echo(f"  TCO mean ${tco['mean']:,.0f}  P5 ${tco['p5']:,.0f}  P50 ${tco['p50']:,.0f}  "
                   f"P95 ${tco['p95']:,.0f}  P99 ${tco['p99']:,.0f}  CVaR95 ${tco['cvar95']:,.0f}")
    _echo_split(risk["expected_tco_usd"])
    worst = max(risk["shortfall_by_quarter"], key=lambda row: row["probability"], default=None)
    if worst and worst["probability"] > 0:
        click.echo(f"  highest shortfall probability: {worst['probability']:.1%} in {worst['quarter']} (expected "
                   f"shortfall {worst['expected_shortfall_tokens_per_s']:,.1f} tokens/s: "
                   f"{worst['expected_on_demand_tokens_per_s']:,.1f} rented on demand, "
                   f"{worst['expected_unmet_tokens_per_s']:,.1f} unmet)")
    rows = sorted(risk["sensitivities"], key=lambda row: -abs(row["delta_tco_usd_at_plus_10pct"]
                                                              - row["delta_tco_usd_at_minus_10pct"]))
    if rows:
        click.echo("  change in E[TCO] at -10 % / +10 % of an input, purchases held fixed:")
    for row in rows[:TOP_SENSITIVITIES_SHOWN]:
        click.echo(f"  {row['input']:<40} -10%: {row['delta_tco_usd_at_minus_10pct']:+,.0f}"
                   f"  +10%: {row['delta_tco_usd_at_plus_10pct']:+,.0f} USD")
