"""`planner verify SCENARIO PLAN.json`: recheck a plan against the scenario without any solver."""

from __future__ import annotations

from pathlib import Path

import click

from models.errors import InputError, Problem
from models.verify import PlanFormatError, check_plan
from planner.plan_file import changed_inputs, load_plan
from planner.scenario import load_scenario


@click.command("verify")
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.argument("plan_path", metavar="PLAN.json", type=click.Path(dir_okay=False))
def command(scenario, plan_path) -> None:
    """Recompute every constraint and cost line of PLAN.json from SCENARIO's inputs; exit 1 on any violation."""
    loaded = load_scenario(scenario)
    plan = load_plan(plan_path)
    try:
        result = check_plan(loaded, plan)
    except PlanFormatError as error:
        raise InputError([Problem(Path(plan_path).name, problem) for problem in error.problems]) from None
    for problem in changed_inputs(plan, loaded):
        click.echo(f"warning: {problem}", err=True)
    if result.ok:
        click.echo(f"OK: {result.checks:,} checks passed; recomputed discounted TCO "
                   f"${result.objective_usd:,.2f} matches the plan")
        return
    for violation in result.violations:
        click.echo(f"VIOLATION {violation}")
    broken = sorted({v.constraint for v in result.violations})
    click.echo(f"FAILED: {len(result.violations):,} violation(s) in {result.checks:,} checks "
               f"({', '.join(broken)}); recomputed discounted TCO ${result.objective_usd:,.2f}, "
               f"plan states ${plan['objective_usd']:,.2f}")
    raise click.exceptions.Exit(1)
