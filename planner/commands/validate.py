"""`planner validate SCENARIO`: check everything, report all problems at once."""

from __future__ import annotations

import click

from planner.scenario import load_scenario


@click.command("validate")
@click.argument("scenario", type=click.Path(dir_okay=False))
def command(scenario: str) -> None:
    """Check a scenario and every table it names; exit 2 listing all problems, 0 if valid."""
    loaded = load_scenario(scenario)
    for warning in loaded.warnings:
        click.echo(f"warning: {warning}", err=True)
    w = loaded.workloads
    click.echo(f"{loaded.name}: valid: {len(loaded.catalog)} SKUs, {len(loaded.sites)} sites, "
               f"{(w['kind'] == 'training').sum()} training runs, {(w['kind'] == 'inference').sum()} inference "
               f"services, {loaded.horizon.quarters} quarters from {loaded.quarters[0]}")
