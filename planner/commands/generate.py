"""`planner generate OUTDIR --workloads W --quarters Q --owned-sites S --skus K --seed N`: a synthetic scenario.

The drawing is `models.synthetic` (pure); this command reads the shipped catalog, checks the options, validates
the result exactly as `planner validate` would (a failure there is our bug, exit 1), then writes the tables and
scenario.yaml, each atomically, scenario.yaml last: an interrupted run never leaves a scenario.yaml that names
missing or stale tables.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import click
import pandas as pd
import yaml

from models.quarters import parse_quarter
from models.synthetic import DEFAULT, STRUCTURES, earliest_start, synthesize_scenario
from models.errors import InputError, Problem
from planner.resources import shipped_catalog_path
from planner.scenario import load_scenario
from reports.atomic import check_writable, write_atomic

SCENARIO_FILE = "scenario.yaml"


def render_files(scenario) -> dict[str, str]:
    """File name → text: one CSV per table, then scenario.yaml (last, so it is written last)."""
    files = {f"{role}.csv": frame.to_csv(index=False, lineterminator="\n") for role, frame in scenario.tables.items()}
    files[SCENARIO_FILE] = yaml.safe_dump(scenario.config, sort_keys=False)
    return files


def _check_start(ctx, param, value: str) -> str:
    try:
        parse_quarter(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a quarter like 2027Q1") from None
    first = earliest_start(pd.read_csv(shipped_catalog_path()))
    if parse_quarter(value) < parse_quarter(first):
        raise click.BadParameter(f"{value} is before {first}, when the shipped catalog's newest SKU can first be "
                                 f"ordered; choose {first} or later")
    return value.strip().upper()


@click.command("generate")
@click.argument("outdir", type=click.Path(file_okay=False))
@click.option("--workloads", type=click.IntRange(min=1), required=True,
              help="Workloads: about 10 % training runs, the rest inference services.")
@click.option("--quarters", type=click.IntRange(min=1), required=True, help="Quarters in the horizon.")
@click.option("--owned-sites", type=click.IntRange(min=1), required=True, help="Owned sites (power-capped).")
@click.option("--skus", type=click.IntRange(min=1), required=True,
              help="SKUs: the shipped catalog plus vendor/contract variants (a cut of it below 6).")
@click.option("--seed", type=click.IntRange(min=0), required=True, help="Random seed: same seed, same files.")
@click.option("--cloud-sites", type=click.IntRange(min=0), default=2, show_default=True, help="Cloud sites.")
@click.option("--start", default="2027Q1", show_default=True, callback=_check_start, help="First quarter.")
@click.option("--structure", "structures", type=click.Choice((DEFAULT, *STRUCTURES)), multiple=True,
              help="A fleet structure unlike the default (repeat to combine): power-tight sites, a budget-tight "
                   "purchase cap, rack-scale SKUs with long lead times, a large old fleet that retires "
                   "(docs/scale.md).")
@click.option("--force", is_flag=True, help="Write into a non-empty OUTDIR, replacing the scenario's files.")
def command(outdir, workloads, quarters, owned_sites, skus, seed, cloud_sites, start, structures, force) -> None:
    """Write a realistic synthetic scenario (valid by construction) into OUTDIR.

    \b
    OUTDIR/scenario.yaml  names the tables beside it and sets finance, headroom and solver
    OUTDIR/catalog.csv    the shipped catalog with vendor/contract variants (price, lead, power varied)
    OUTDIR/sites.csv      owned sites with power caps 1.3-2x what the forecast needs, plus cloud sites
    OUTDIR/fleet.csv      nodes already installed before the start
    OUTDIR/workloads.csv  training runs (8B-405B, 1-4 quarter windows) and inference services
    OUTDIR/demand.csv     tokens/s per service and quarter, growing

    --structure power-tight / budget-tight / rack-scale / old-fleet changes those draws (docs/scale.md).
    """
    folder = Path(outdir)
    if folder.exists() and any(folder.iterdir()) and not force:
        names = sorted(entry.name for entry in folder.iterdir())
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        raise InputError(Problem(str(folder), f"directory is not empty ({shown}); choose an empty or new directory, "
                                              f"or pass --force to replace the scenario's files in it"))
    scenario = synthesize_scenario(pd.read_csv(shipped_catalog_path()), workloads=workloads, quarters=quarters,
                                   owned_sites=owned_sites, skus=skus, seed=seed, cloud_sites=cloud_sites,
                                   start=start, structures=structures)
    files = render_files(scenario)
    _check_valid(files)
    check_writable(folder, directory=True)
    for name, text in files.items():
        write_atomic(folder / name, lambda tmp, text=text: tmp.write_text(text))
    tables = scenario.tables
    kinds = tables["workloads"]["kind"].value_counts()
    click.echo(f"{scenario.name}: wrote {folder / SCENARIO_FILE} and {len(files) - 1} tables: "
               f"{len(tables['catalog'])} SKUs, {owned_sites} owned + {cloud_sites} cloud sites, "
               f"{kinds.get('training', 0)} training runs, {kinds.get('inference', 0)} inference services, "
               f"{len(tables['demand']):,} demand rows, {int(tables['fleet']['nodes'].sum()):,} fleet nodes, "
               f"{quarters} quarters from {start}"
               + (f"; structure {' + '.join(dict.fromkeys(structures))}" if structures else ""))


def _check_valid(files: dict[str, str]) -> None:
    """Load the scenario from a scratch copy with the full validation; a problem here is a generator bug."""
    with tempfile.TemporaryDirectory(prefix="planner-generate-") as scratch:
        for name, text in files.items():
            (Path(scratch) / name).write_text(text)
        try:
            load_scenario(Path(scratch) / SCENARIO_FILE)
        except InputError as error:
            listed = "".join(f"\n  - {problem}" for problem in error.problems[:20])
            raise click.ClickException(f"the generated scenario failed validation (a bug in the generator; nothing was "
                              f"written):{listed}") from None
