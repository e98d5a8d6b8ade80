"""`planner explain PLAN.json ORDER`: why one order of a saved plan is made (reports/console.py `explain_order`)."""

from __future__ import annotations

import click

from planner.plan_file import load_plan
from reports.console import explain_order, find_order


@click.command("explain")
@click.argument("plan_path", metavar="PLAN.json", type=click.Path(dir_okay=False))
@click.argument("order")
@click.option("--scenario", "scenario_path", type=click.Path(dir_okay=False), default=None,
              help="The plan's scenario, for the order's GPU count (its catalog's gpus_per_node).")
def command(plan_path, order, scenario_path) -> None:
    """Why ORDER is made: the work its nodes serve, the caps priced around the plan at its site and the budget,
    and the marginal cost of the demand it serves. ORDER is its number in `planner plan`'s order table or
    QUARTER/SITE/SKU (2027Q1/texas/gb200-nvl72). Reads PLAN.json only: no solve."""
    plan = load_plan(plan_path)
    try:
        position = find_order(plan, order)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="ORDER") from None
    gpus = {}
    if scenario_path:
        from planner.scenario import load_scenario

        gpus = gpus_per_node(load_scenario(scenario_path))
    for line in explain_order(plan, position, gpus):
        click.echo(line)


def gpus_per_node(scenario) -> dict[str, float]:
    """SKU → GPUs per node, from the scenario's catalog."""
    return {str(sku): float(n) for sku, n in scenario.catalog["gpus_per_node"].items()}
