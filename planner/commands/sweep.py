"""`planner sweep BASE.yaml --set KEY=V1,V2,… -o sweep.xlsx`: a grid of overrides solved on Dask."""

from __future__ import annotations

import click

from planner.commands.portfolio_common import (
    check_cluster_options,
    echo_deltas,
    finish,
    portfolio_options,
    result_line,
    solve_with_progress,
)
from planner.portfolio import parse_settings, sweep_document, sweep_jobs
from reports.atomic import check_writable, write_json_atomic


def point_label(settings: dict) -> str:
    return ", ".join(f"{key}={value}" for key, value in settings.items())


@click.command("sweep")
@click.argument("base", type=click.Path(dir_okay=False))
@click.option("--set", "sets", multiple=True, required=True, metavar="KEY=V1,V2,…",
              help="A dotted override key (as in a scenario's `overrides:`) and the values to try; repeat for more "
                   "keys: every combination is solved.")
@click.option("-o", "--output", "xlsx_path", type=click.Path(dir_okay=False), help="Write the workbook here.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write sweep.json here.")
@portfolio_options
def command(base, sets, xlsx_path, json_path, workers, scheduler, solver, time_limit, gap, quiet) -> None:
    """Solve BASE with every combination of the --set values, on a local Dask cluster or an existing one.

    Every point is validated here first (a bad value is reported without solving), then the loaded scenarios are
    sent to the workers, which need no access to the files. A failed point (bad value, infeasible) is reported
    with its message and the others still solve; the exit code is then 1. Results equal a sequential run.
    """
    check_cluster_options(workers, scheduler)
    settings = parse_settings(sets)
    for path in (json_path, xlsx_path):
        if path:
            check_writable(path)
    jobs = sweep_jobs(base, settings)
    outcomes = solve_with_progress(jobs, lambda job: point_label(job.settings), workers, scheduler, solver,
                                   time_limit, gap, quiet)
    document = sweep_document(base, settings, outcomes)
    if json_path:
        write_json_atomic(json_path, document)
    if xlsx_path:
        from reports.portfolio import write_sweep_workbook

        write_sweep_workbook(xlsx_path, document)
    for outcome in outcomes:
        click.echo(result_line(point_label(outcome.job.settings), outcome))
    echo_deltas(outcomes, lambda outcome: point_label(outcome.job.settings))
    finish(outcomes)
