"""`planner report PLAN.json -o OUT.xlsx [--csv DIR]`: re-render a saved plan without solving again.

The plan records the SHA-256 of every input; if any input file has changed since, the tables echoed beside the
plan would no longer be the ones it was made from, so the command refuses (exit 2) unless told otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from planner.errors import InputError, Problem
from planner.scenario import load_scenario
from reports.tables import check_plan_document


def load_plan(path: str | Path) -> dict:
    """Read and shape-check a PLAN.json; InputError (exit 2) for a missing, unreadable or foreign file."""
    path = Path(path)
    label = str(path)
    if not path.is_file():
        raise InputError(Problem(label, "plan file not found"))
    try:
        plan = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InputError(Problem(label, "not a PLAN.json: the file is not UTF-8 text")) from None
    except json.JSONDecodeError as error:
        raise InputError(Problem(label, f"not valid JSON: {error.msg} (line {error.lineno})")) from None
    problems = check_plan_document(plan)
    if problems:
        raise InputError([Problem(label, f"not a PLAN.json written by `planner plan`: {p}") for p in problems])
    return plan


def changed_inputs(plan: dict, scenario) -> list[Problem]:
    """One problem per input whose SHA-256 differs from the plan's record (or that appeared or vanished)."""
    recorded = plan["inputs"]["sha256"]
    now = scenario.input_hashes()
    files = {role: str(path) for role, path in scenario.input_files.items()}
    problems = []
    for role in list(recorded) + [r for r in now if r not in recorded]:
        before, after = recorded.get(role), now.get(role)
        if before == after:
            continue
        where = files.get(role, role)
        if before is None:
            message = f"{role} input was added since the plan was made"
        elif after is None:
            message = f"{role} input is no longer part of the scenario"
        else:
            message = f"{role} changed since the plan was made (sha256 {before[:12]}… now {after[:12]}…)"
        problems.append(Problem(where, message))
    return problems


RERUN_HINT = "; rerun `planner plan` on the current inputs, or pass --allow-changed-inputs"


@click.command("report")
@click.argument("plan_path", metavar="PLAN.json", type=click.Path(dir_okay=False))
@click.option("-o", "--output", "xlsx_path", type=click.Path(dir_okay=False), help="Write the workbook here.")
@click.option("--csv", "csv_dir", type=click.Path(file_okay=False), help="Write one CSV per table here.")
@click.option("--allow-changed-inputs", is_flag=True,
              help="Render even if an input file's SHA-256 differs from the one recorded in the plan.")
def command(plan_path, xlsx_path, csv_dir, allow_changed_inputs) -> None:
    """Re-render a saved PLAN.json as the Excel workbook and/or CSV tables, checking its inputs are unchanged."""
    if not xlsx_path and not csv_dir:
        raise click.UsageError("nothing to write: give -o OUT.xlsx and/or --csv DIR")
    plan = load_plan(plan_path)
    scenario_path = Path(plan["inputs"]["scenario_path"])
    if not scenario_path.is_absolute():  # relative paths are taken from the plan's own folder
        scenario_path = Path(plan_path).parent / scenario_path
    scenario = load_scenario(scenario_path)
    changed = changed_inputs(plan, scenario)
    if changed and not allow_changed_inputs:
        raise InputError([Problem(p.file, p.message + RERUN_HINT) for p in changed])
    for problem in changed:
        click.echo(f"warning: {problem}", err=True)
    if xlsx_path:
        from reports.workbook import write_workbook

        write_workbook(xlsx_path, plan, scenario)
        click.echo(f"wrote {xlsx_path}")
    if csv_dir:
        from reports.csv_writer import write_csv_tables

        written = write_csv_tables(csv_dir, plan, scenario)
        click.echo(f"wrote {len(written)} CSV files to {csv_dir}")
