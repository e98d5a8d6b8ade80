"""`planner alternatives SCENARIO --slack 0.02 --count N [--avoid-vendor V] [--direction sku|vendor|site]`."""

from __future__ import annotations

from pathlib import Path

import click

from models.alternatives import DIRECTIONS
from planner.alternatives import run_alternatives, summary_rows
from planner.progress import SolveProgress
from planner.scenario import SOLVER_BACKENDS, load_scenario
from planner.tables import printable
from reports.atomic import check_writable, write_json_atomic


def alternatives_text(rows: list[dict], direction: str) -> str:
    lines = [f"{'plan':<15} {'discounted TCO':>18} {'vs optimum':>10}  GPU-quarters by {direction}; avoids"]
    for row in rows:
        usage = ", ".join(f"{printable(group)} {value:,.0f}" for group, value in
                          sorted(row["gpu_quarters"].items(), key=lambda item: -item[1]))
        avoids = f"; avoids {', '.join(map(printable, row['avoids']))}" if row["avoids"] else ""
        lines.append(f"{row['name']:<15} {'$' + format(row['objective_usd'], ',.0f'):>18} {row['excess_pct']:>+9.2f}%  "
                     f"{usage}{avoids}")
    return "\n".join(lines)


@click.command("alternatives")
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("--slack", type=click.FloatRange(min=0, max=1), default=0.02, show_default=True,
              help="Alternatives cost at most (1 + slack) × the optimum's discounted TCO.")
@click.option("--count", type=click.IntRange(min=1, max=20), default=1, show_default=True,
              help="How many alternatives, each away from every plan before it.")
@click.option("--direction", type=click.Choice(DIRECTIONS), default="sku", show_default=True,
              help="The groups alternatives move away from.")
@click.option("--avoid-vendor", "avoid_vendors", multiple=True, help="Minimise this vendor's GPUs (sets "
                                                                       "--direction vendor).")
@click.option("--avoid-sku", "avoid_skus", multiple=True, help="Minimise this SKU's GPUs (--direction sku).")
@click.option("--avoid-site", "avoid_sites", multiple=True, help="Minimise GPUs at this site (--direction site).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the summary table as JSON.")
@click.option("--out-dir", type=click.Path(file_okay=False), help="Write each plan's PLAN.json here.")
@click.option("--solver", type=click.Choice(SOLVER_BACKENDS), default=None, help="MILP backend.")
@click.option("--time-limit", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Seconds per solve.")
@click.option("--gap", type=click.FloatRange(min=0), default=None, help="Relative optimality gap per solve.")
@click.option("--quiet", is_flag=True, help="No progress on stderr.")
def command(scenario, slack, count, direction, avoid_vendors, avoid_skus, avoid_sites, json_path, out_dir, solver,
            time_limit, gap, quiet) -> None:
    """Near-optimal plans (modelling to generate alternatives): within --slack of the optimum, each minimising
    the GPU-quarters of the groups to avoid (or, without --avoid-*, of every group an earlier plan used)."""
    given = [(name, values) for name, values in (("vendor", avoid_vendors), ("sku", avoid_skus),
                                                 ("site", avoid_sites)) if values]
    if len(given) > 1:
        raise click.UsageError("--avoid-vendor, --avoid-sku and --avoid-site do not combine: pick one direction")
    avoid: tuple[str, ...] = ()
    if given:
        direction, values = given[0]
        avoid = tuple(value.upper() if direction == "vendor" else value for value in values)
    loaded = load_scenario(scenario)
    if json_path:
        check_writable(json_path)
    if out_dir:
        check_writable(out_dir, directory=True)
    say = (lambda text: None) if quiet else (lambda text: click.echo(text, err=True))
    with SolveProgress(quiet=quiet) as progress:
        plans = run_alternatives(loaded, slack, count, direction, avoid, backend=solver, time_limit_s=time_limit,
                                 gap=gap, progress=progress, say=say)
    rows = summary_rows(plans)
    if json_path:
        write_json_atomic(json_path, {"scenario": loaded.name, "slack": slack, "direction": direction,
                                      "avoid": list(avoid), "plans": rows})
    if out_dir:
        for plan in plans:
            write_json_atomic(Path(out_dir) / f"{plan.name.replace(' ', '-')}.json", plan.document)
    click.echo(alternatives_text(rows, direction))
