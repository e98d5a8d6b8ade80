"""`planner report PLAN.json -o OUT.xlsx [--csv DIR] [--html OUT.html]`: re-render a saved plan without solving again.

The plan records the SHA-256 of every input; if any input file has changed since, the tables echoed beside the
plan would no longer be the ones it was made from, so the command refuses (exit 2) unless told otherwise.
"""

from __future__ import annotations

import math
from pathlib import Path

import click

from models.errors import InputError, Problem
from models.risk_schema import RISK_KEYS  # what the Risk and Sensitivity sheets read
from planner.plan_file import changed_inputs, load_plan, read_json_object, recorded_set_overrides
from planner.scenario import load_scenario

RERUN_HINT = "; rerun `planner plan` on the current inputs, or pass --allow-changed-inputs"
NO_RISK_NOTE = ("note: the workbook has no Risk and Sensitivity sheets: PLAN.json does not hold risk results; "
                "pass --risk RISK.json (written by `planner evaluate SCENARIO --plan PLAN.json --json RISK.json`) "
                "to include them")
NO_RISK_HTML_NOTE = ("note: the HTML report has no risk charts (the page says so): PLAN.json does not hold risk "
                     "results; pass --risk RISK.json to include them")
SAME_PLAN_REL = 1e-9  # a RISK.json records the objective of the plan it priced; another plan's differs


def load_risk(path: str | Path, plan: dict) -> dict:
    """Read a RISK.json and check it was evaluated on this plan; InputError (exit 2) otherwise."""
    label = str(path)
    risk = read_json_object(path, "risk")
    missing = [key for key in RISK_KEYS if key not in risk]
    if missing:
        raise InputError(Problem(label, "not a RISK.json written by `planner evaluate --json`: missing key(s) "
                                        + ", ".join(missing)))
    priced = risk.get("plan_objective_usd")
    if isinstance(priced, (int, float)) and not math.isclose(priced, plan["objective_usd"], rel_tol=SAME_PLAN_REL):
        raise InputError(Problem(label, f"evaluated a different plan (its plan objective ${priced:,.2f}, this "
                                        f"plan's ${plan['objective_usd']:,.2f}); rerun `planner evaluate` on "
                                        f"this plan"))
    return risk


@click.command("report")
@click.argument("plan_path", metavar="PLAN.json", type=click.Path(dir_okay=False))
@click.option("-o", "--output", "xlsx_path", type=click.Path(dir_okay=False), help="Write the workbook here.")
@click.option("--csv", "csv_dir", type=click.Path(file_okay=False), help="Write one CSV per table here.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False),
              help="Write a self-contained HTML report with interactive charts here (docs/html-report.md).")
@click.option("--risk", "risk_path", type=click.Path(dir_okay=False),
              help="RISK.json of this plan (from `planner evaluate --json`): adds the Risk and Sensitivity sheets "
                   "and the HTML report's risk charts.")
@click.option("--allow-changed-inputs", is_flag=True,
              help="Render even if an input file's SHA-256 differs from the one recorded in the plan.")
def command(plan_path, xlsx_path, csv_dir, html_path, risk_path, allow_changed_inputs) -> None:
    """Re-render a saved PLAN.json as the Excel workbook, CSV tables and/or an HTML page, checking its inputs are
    unchanged.

    PLAN.json holds no risk results: give --risk RISK.json for the Risk and Sensitivity sheets and the HTML
    report's risk charts.
    """
    if not xlsx_path and not csv_dir and not html_path:
        raise click.UsageError("nothing to write: give -o OUT.xlsx, --csv DIR and/or --html OUT.html")
    plan = load_plan(plan_path)
    risk = load_risk(risk_path, plan) if risk_path else None
    scenario_path = Path(plan["inputs"]["scenario_path"])
    if not scenario_path.is_absolute():  # relative paths are taken from the plan's own folder
        scenario_path = Path(plan_path).parent / scenario_path
    scenario = load_scenario(scenario_path, recorded_set_overrides(plan))
    changed = changed_inputs(plan, scenario)
    if changed and not allow_changed_inputs:
        raise InputError([Problem(p.file, p.message + RERUN_HINT) for p in changed])
    for problem in changed:
        click.echo(f"warning: {problem}", err=True)
    if xlsx_path:
        from reports.workbook import write_workbook

        write_workbook(xlsx_path, plan, scenario, risk=risk)
        if risk is None:
            click.echo(NO_RISK_NOTE, err=True)
        click.echo(f"wrote {xlsx_path}")
    if csv_dir:
        from reports.csv_writer import write_csv_tables

        written = write_csv_tables(csv_dir, plan, scenario)
        click.echo(f"wrote {len(written)} CSV files to {csv_dir}")
    if html_path:
        from reports.html_report import write_html_report

        write_html_report(html_path, plan, scenario, risk=risk)
        if risk is None:
            click.echo(NO_RISK_HTML_NOTE, err=True)
        click.echo(f"wrote {html_path}")
