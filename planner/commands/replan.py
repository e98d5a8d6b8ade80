"""`planner replan SCENARIO --from PLAN.json --as-of QUARTER`: keep what was committed, re-plan the rest."""

from __future__ import annotations

from pathlib import Path

import click

from planner.commands.diff import diff_text
from planner.pipeline import verify_document
from planner.plan_file import load_plan
from planner.progress import SolveProgress
from planner.replan import run_replan
from planner.scenario import SOLVER_BACKENDS, load_scenario
from reports.atomic import check_writable, write_json_atomic


@click.command("replan")
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("--from", "plan_path", required=True, type=click.Path(dir_okay=False),
              help="The saved PLAN.json whose earlier decisions are kept.")
@click.option("--as-of", "as_of", required=True, help="First quarter re-decided, e.g. 2027Q3; decisions before it "
                                                      "are frozen.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the new PLAN.json here.")
@click.option("-o", "--output", "xlsx_path", type=click.Path(dir_okay=False), help="Write the workbook here.")
@click.option("--solver", type=click.Choice(SOLVER_BACKENDS), default=None, help="MILP backend.")
@click.option("--time-limit", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Seconds before the best plan found so far is returned.")
@click.option("--gap", type=click.FloatRange(min=0), default=None, help="Relative optimality gap to stop at.")
@click.option("--quiet", is_flag=True, help="No progress line on stderr while solving.")
def command(scenario, plan_path, as_of, json_path, xlsx_path, solver, time_limit, gap, quiet) -> None:
    """Re-plan SCENARIO's current data from --as-of on, keeping the saved plan's orders, rentals and training work
    before it (even where no longer optimal); print the sunk cost and what changed against the saved plan."""
    loaded = load_scenario(scenario)
    plan = load_plan(plan_path)
    for path in (json_path, xlsx_path):
        if path:
            check_writable(path)
    with SolveProgress(quiet=quiet) as progress:
        replan = run_replan(loaded, plan, plan_path, as_of.upper(), backend=solver, time_limit_s=time_limit,
                            gap=gap, progress=progress)
    document = replan.document
    verify_document(loaded, document)
    if json_path:
        write_json_atomic(json_path, document)
    if xlsx_path:
        from reports.workbook import write_workbook

        write_workbook(xlsx_path, document, loaded, risk=None)
    figures = document["replan"]
    gap_text = f"{document['gap']:.3%}" if document["gap"] is not None else "n/a"
    click.echo(f"{loaded.name}: re-planned from {as_of.upper()} ({document['status']}, gap {gap_text}): kept "
               f"{figures['frozen_orders']} order(s), {figures['frozen_nodes']:,.0f} node(s) placed before it; "
               f"discounted TCO ${document['objective_usd']:,.2f} = sunk ${figures['sunk_usd']:,.2f} + "
               f"from {as_of.upper()} ${figures['remaining_usd']:,.2f}")
    click.echo(diff_text(replan.diff, Path(plan_path).name, json_path and Path(json_path).name or "replan"))
