"""The `planner` command group: registers the commands, maps our errors to exit codes. No maths here."""

from __future__ import annotations

import sys

import click

from models.errors import InputError, SolverError
from planner import __version__


class PlannerGroup(click.Group):
    """Turns user errors into a clear message and exit code 2 (solver trouble: 1), never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except InputError as error:
            click.echo(f"error: {len(error.problems)} problem(s) in the input:", err=True)
            for problem in error.problems:
                click.echo(f"  {problem}", err=True)
            sys.exit(InputError.exit_code)
        except SolverError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(SolverError.exit_code)


@click.group(cls=PlannerGroup)
@click.version_option(__version__, prog_name="planner")
def main() -> None:
    """Capacity planning for AI datacenters: which GPU nodes to buy or rent, where and when.

    \b
    Typical session:
      planner validate scenario.yaml     check every input table, report all problems
      planner estimate scenario.yaml     per workload x SKU: fit, node-hours, tokens/s, $ per unit
      planner catalog                    the shipped hardware catalog with price/performance ratios
      planner plan scenario.yaml --json plan.json -o plan.xlsx
      planner verify scenario.yaml plan.json            recheck every constraint and cost, no solver
      planner evaluate scenario.yaml --plan plan.json   Monte-Carlo risk and sensitivities (JAX)
      planner report plan.json -o plan.xlsx             re-render a saved plan

    Start from the shipped example: data/examples/example/scenario.yaml in the repository
    (planner/data/examples/example/ once installed). Exit codes: 0 ok, 1 no plan or a failed
    verification, 2 bad input.
    """


def _register() -> None:
    from planner.commands import catalog, estimate, validate

    for module in (validate, estimate, catalog):
        main.add_command(module.command)
    for name in ("plan", "report", "verify", "evaluate"):
        try:
            module = __import__(f"planner.commands.{name}", fromlist=["command"])
        except ModuleNotFoundError:
            continue
        main.add_command(module.command)


_register()
