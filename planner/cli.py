"""The `planner` command group: registers the commands, maps our errors to exit codes. No maths here."""

from __future__ import annotations

import importlib
import signal
import sys

import click

from models.errors import InputError, SolverError
from planner import __version__, interrupts
from planner.tables import printable
from reports import atomic

MAX_PROBLEMS_SHOWN = 200  # a 200,000-row sheet of bad rows printed 25 MB; the first 200 say what is wrong


def printable_lines(text: str) -> str:
    """Escape control characters line by line, keeping the message's own line breaks."""
    return "\n".join(printable(line) for line in text.split("\n"))


class PlannerGroup(click.Group):
    """Turns user errors into a clear message and exit code 2 (solver trouble: 1), never a traceback."""

    def invoke(self, ctx: click.Context):
        """One command = one batch of outputs (reports/atomic.py): committed together when it succeeds, none
        of them when it fails or a signal arrives (planner/interrupts.py)."""
        with interrupts.guard():
            return self._invoke_in_batch(ctx)

    def _invoke_in_batch(self, ctx: click.Context):
        atomic.begin_batch()
        try:
            try:
                result = super().invoke(ctx)
            except (click.exceptions.Exit, SystemExit) as done:
                code = done.exit_code if isinstance(done, click.exceptions.Exit) else done.code
                if code in (0, None):
                    atomic.commit_batch()
                raise
            atomic.commit_batch()
            return result
        except atomic.Interrupted as stop:
            click.echo(f"interrupted ({signal.Signals(stop.signum).name}): no output was written", err=True)
            sys.exit(interrupts.exit_code(stop.signum))
        except KeyboardInterrupt:  # off the main thread no watcher runs; Python's own Ctrl-C lands here
            click.echo("interrupted (SIGINT): no output was written", err=True)
            sys.exit(interrupts.exit_code(signal.SIGINT))
        except InputError as error:
            problems = error.problems
            click.echo(f"error: {len(problems)} problem(s) in the input:", err=True)
            for problem in problems[:MAX_PROBLEMS_SHOWN]:
                click.echo(f"  {printable(problem)}", err=True)
            if len(problems) > MAX_PROBLEMS_SHOWN:
                click.echo(f"  ... and {len(problems) - MAX_PROBLEMS_SHOWN:,} more", err=True)
            sys.exit(InputError.exit_code)
        except SolverError as error:
            click.echo(f"error: {printable_lines(str(error))}", err=True)
            sys.exit(SolverError.exit_code)
        finally:
            atomic.discard_batch()


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
      planner compare base.yaml high.yaml -o compare.xlsx   scenarios side by side
      planner sweep base.yaml --set demand.scale=1.0,1.3 -o sweep.xlsx   a grid, on Dask

    Start from the shipped example: data/examples/example/scenario.yaml in the repository
    (planner/data/examples/example/ once installed). Exit codes: 0 ok, 1 no plan or a failed
    verification, 2 bad input.
    """


COMMANDS = ("validate", "estimate", "catalog", "plan", "explain", "report", "verify", "evaluate", "generate", "compare",
            "sweep", "diff", "replan", "alternatives", "calibrate")
BROKEN_EXIT_CODE = 1  # the install is broken, not the input (2)


def register_commands(group: click.Group, package: str, names: tuple[str, ...]) -> None:
    """Each command `NAME` from its module `PACKAGE.NAME` (its `command`). A module that fails to import is
    registered as a command that says so, module and exception named, and exits 1; `--help` lists it as broken.
    A command never silently disappears."""
    for name in names:
        module_name = f"{package}.{name}"
        try:
            command = importlib.import_module(module_name).command
        except Exception as error:  # noqa: BLE001 (whatever the import raised is reported, by its kind)
            command = _broken_command(name, module_name, error)
        group.add_command(command, name)


def _broken_command(name: str, module_name: str, error: Exception) -> click.Command:
    message = f"command '{name}' is unavailable: importing {module_name} failed: {type(error).__name__}: {error}"

    def fail(args: tuple[str, ...]) -> None:
        click.echo(f"error: {printable_lines(message)}", err=True)
        sys.exit(BROKEN_EXIT_CODE)

    return click.Command(name, callback=fail, help=f"BROKEN: {message}",
                         short_help=f"BROKEN: {module_name} failed to import",
                         params=[click.Argument(["args"], nargs=-1, type=click.UNPROCESSED)],
                         context_settings={"ignore_unknown_options": True, "allow_extra_args": True})


register_commands(main, "planner.commands", COMMANDS)
