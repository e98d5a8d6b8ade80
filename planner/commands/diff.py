"""`planner diff OLD.json NEW.json`: what changed between two plans, largest drivers first."""

from __future__ import annotations

from pathlib import Path

import click

from models.plan_diff import PlanDiff, diff_plans
from planner.plan_file import load_plan
from planner.tables import printable
from reports.atomic import check_writable, write_json_atomic
from reports.diff_workbook import write_diff_workbook


def _money(value: float) -> str:
    return f"{'+' if value >= 0 else '−'}${abs(value):,.2f}"


def diff_text(diff: PlanDiff, old_name: str, new_name: str) -> str:
    """The console view: objective delta, cost lines, order changes, input changes."""
    lines = [f"{printable(old_name)} → {printable(new_name)}: discounted TCO ${diff.old_objective_usd:,.2f} → "
             f"${diff.new_objective_usd:,.2f} ({_money(diff.objective_delta_usd)})", "",
             "cost line                      delta (discounted)"]
    shown = [(line, delta) for line, delta in diff.cost_line_deltas_usd.items() if abs(delta) >= 0.005]
    lines += [f"  {line:<28} {_money(delta):>20}" for line, delta in shown] or ["  (no cost line changed)"]
    lines += ["", "orders                                          nodes   capex delta"]
    for change in diff.order_changes:
        where = {"added": f"added in {change.new_quarter}", "cancelled": f"cancelled in {change.old_quarter}",
                 "moved": f"moved {change.old_quarter} → {change.new_quarter}"}[change.kind]
        label = f"{printable(change.sku)} @ {printable(change.site)}: {where}"
        lines.append(f"  {label:<44} {change.nodes:>7,.0f} {_money(change.capex_delta_usd):>15}")
    if not diff.order_changes:
        lines.append("  (no order changed)")
    lines += ["", "inputs"] + [f"  {printable(text)}" for text in diff.input_changes or ("(none changed)",)]
    return "\n".join(lines)


@click.command("diff")
@click.argument("old_path", metavar="OLD.json", type=click.Path(dir_okay=False))
@click.argument("new_path", metavar="NEW.json", type=click.Path(dir_okay=False))
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the diff as JSON here.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the diff as a workbook (Diff sheet).")
def command(old_path, new_path, json_path, output) -> None:
    """Orders added, cancelled and moved, the TCO delta by cost line, and the inputs that changed, OLD → NEW."""
    for path in (json_path, output):
        if path:
            check_writable(path)
    old, new = load_plan(old_path), load_plan(new_path)
    diff = diff_plans(old, new)
    old_name, new_name = Path(old_path).name, Path(new_path).name
    click.echo(diff_text(diff, old_name, new_name))
    if json_path:
        write_json_atomic(json_path, {"old": str(old_path), "new": str(new_path), **diff.as_document()})
    if output:
        write_diff_workbook(output, diff, old_name, new_name)
