"""`planner validate SCENARIO [--json]`: check everything, report all problems at once."""

from __future__ import annotations

import dataclasses
import json

import click

from models.errors import InputError
from planner.scenario import load_scenario


@click.command("validate")
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True,
              help="Print the verdict as JSON on stdout, with every problem (stderr lists the first 200).")
def command(scenario: str, as_json: bool) -> None:
    """Check a scenario and every table it names; exit 2 listing all problems, 0 if valid."""
    try:
        loaded = load_scenario(scenario)
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
    if as_json:
        click.echo(json.dumps({"valid": True, "scenario": loaded.name, **counts, "warnings": list(loaded.warnings)}))
        return
    click.echo(f"{loaded.name}: valid: {counts['skus']} SKUs, {counts['sites']} sites, "
               f"{counts['training_runs']} training runs, {counts['inference_services']} inference "
               f"services, {counts['quarters']} quarters from {counts['start']}")
