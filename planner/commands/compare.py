"""`planner compare S1.yaml S2.yaml … -o compare.xlsx`: scenarios solved in parallel and set side by side."""

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
from planner.portfolio import compare_document, compare_jobs
from reports.atomic import check_writable, write_json_atomic


@click.command("compare")
@click.argument("scenarios", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--output", "xlsx_path", type=click.Path(dir_okay=False), help="Write the workbook here.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write compare.json here.")
@portfolio_options
def command(scenarios, xlsx_path, json_path, workers, scheduler, solver, time_limit, gap, quiet) -> None:
    """Solve each scenario (in parallel, on Dask) and compare them against the first.

    The workbook's Summary shows every scenario's headline totals side by side with the difference against the
    first as live formulas, and a chart of discounted TCO by scenario and cost line; then orders by SKU x quarter,
    unmet demand and unfinished training per scenario. A scenario that fails (bad input, infeasible) is reported
    with its message and the others still solve; the exit code is then 1. When no scenario loads, that is an
    input error: exit 2, nothing solved or written.
    """
    check_cluster_options(workers, scheduler)
    for path in (json_path, xlsx_path):
        if path:
            check_writable(path)
    jobs = compare_jobs(scenarios)
    outcomes = solve_with_progress(jobs, lambda job: job.name, workers, scheduler, solver, time_limit, gap, quiet)
    document = compare_document(outcomes)
    if json_path:
        write_json_atomic(json_path, document)
    if xlsx_path:
        from reports.portfolio import write_compare_workbook

        write_compare_workbook(xlsx_path, document, [outcome.document for outcome in outcomes])
    for outcome in outcomes:
        click.echo(result_line(outcome.job.name, outcome, baseline=outcomes[0]))
    echo_deltas(outcomes, lambda outcome: outcome.job.name)
    finish(outcomes)
