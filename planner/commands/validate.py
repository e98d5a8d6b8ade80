"""`planner validate SCENARIO [--set KEY=VALUE …] [--show] [--json]`: check everything, report all problems at once."""

from __future__ import annotations

import dataclasses
import json

import click

from models.errors import InputError
from planner.inheritance import changes, describe, resolve, set_options
from planner.scenario import load_scenario


@click.command("validate")
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE",
              help="Override one key or cell after the file's own overrides (the `overrides:` syntax, e.g. "
                   "finance.discount_rate=0.1 or catalog.b200-x8.lead_quarters=3); repeatable.")
@click.option("--show", is_flag=True,
              help="Also print the scenario files read and every change against the base, row by row.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the verdict as JSON on stdout, with every problem (stderr lists the first 200).")
def command(scenario: str, assignments: tuple[str, ...], show: bool, as_json: bool) -> None:
    """Check a scenario and every table it names; exit 2 listing all problems, 0 if valid."""
    try:
        overrides = set_options(assignments)
        loaded = load_scenario(scenario, overrides)
    except InputError as error:
        if as_json:
            click.echo(json.dumps({"valid": False, "problems": [dataclasses.asdict(p) for p in error.problems]}))
        raise
    for warning in loaded.warnings:
        click.echo(f"warning: {warning}", err=True)
    w = loaded.workloads
    counts = {"skus": len(loaded.catalog), "sites": len(loaded.sites),
              "training_runs": int((w["kind"] == "training").sum()),
              "inference_services": int((w["kind"] == "inference").sum()),
              "quarters": loaded.horizon.quarters, "start": loaded.quarters[0]}
    resolution = resolve(scenario, overrides) if show else None
    if as_json:
        inputs = loaded.inputs_record()
        shown = ({"chain": inputs["chain"], "overrides": inputs["overrides"], "changes": changes(resolution)}
                 if show else {})
        click.echo(json.dumps({"valid": True, "scenario": loaded.name, **counts, "warnings": list(loaded.warnings),
                               **shown}))
        return
    click.echo(f"{loaded.name}: valid: {counts['skus']} SKUs, {counts['sites']} sites, "
               f"{counts['training_runs']} training runs, {counts['inference_services']} inference "
               f"services, {counts['quarters']} quarters from {counts['start']}")
    for line in describe(resolution) if show else ():
        click.echo(line)
