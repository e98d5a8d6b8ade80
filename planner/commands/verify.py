"""`planner verify SCENARIO PLAN.json`: recheck a plan against the scenario without any solver."""

from __future__ import annotations

import json
from pathlib import Path

import click

from models.verify import PlanFormatError, check_plan
from planner.errors import InputError, Problem
from planner.scenario import load_scenario


@click.command("verify")
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.argument("plan_path", metavar="PLAN.json", type=click.Path(dir_okay=False))
def command(scenario, plan_path) -> None:
    """Recompute every constraint and cost line of PLAN.json from SCENARIO's inputs; exit 1 on any violation."""
    loaded = load_scenario(scenario)
    plan = read_plan_json(plan_path)
    try:
        result = check_plan(loaded, plan)
    except PlanFormatError as error:
        raise InputError([Problem(Path(plan_path).name, problem) for problem in error.problems]) from None
    for role in _changed_inputs(plan, loaded.input_hashes()):
        click.echo(f"warning: PLAN.json was made from a different {role} file (sha256 differs)", err=True)
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


def read_plan_json(path: str) -> dict:
    """The PLAN.json document; InputError (exit 2) when it is missing or not JSON."""
    name = Path(path).name
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise InputError(Problem(name, f"cannot read the plan: {error.strerror or error}")) from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(Problem(name, f"not valid JSON: {error.msg}", row=error.lineno)) from None
    if not isinstance(document, dict):
        raise InputError(Problem(name, "a PLAN.json document is a JSON object"))
    return document


def _changed_inputs(plan: dict, hashes: dict[str, str]) -> list[str]:
    inputs = plan.get("inputs") if isinstance(plan.get("inputs"), dict) else {}
    stated = inputs.get("sha256") if isinstance(inputs.get("sha256"), dict) else {}
    return [role for role, digest in stated.items() if role in hashes and hashes[role] != digest]

