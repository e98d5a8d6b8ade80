"""What `planner compare` and `planner sweep` share on the command line: the solve and Dask options, the progress
bar, the one-line-per-scenario result on stdout, and the exit code.

Exit codes: 0 every scenario or point has a plan; 1 at least one has none (its input was bad, it is infeasible, or
nothing was found in time): the outputs are still written, with that scenario's or point's message in them;
2 the command itself cannot run (a bad --set, an unreadable output path, a base scenario no point can load, an
unreachable --scheduler): nothing is written.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

import click

from models.errors import SolverError
from planner.portfolio import Job, Outcome, SolveOptions, failures, solve_jobs
from planner.progress import PointsProgress
from planner.scenario import SOLVER_BACKENDS
from planner.tables import printable
from reports import atomic


def portfolio_options(command: Callable) -> Callable:
    """--workers/--scheduler, --solver/--time-limit/--gap and --quiet, as `planner plan` names them."""
    options = [
        click.option("--workers", type=click.IntRange(min=1), default=None,
                     help="Worker processes of the local Dask cluster (default: one per CPU core, at most one per "
                          "scenario)."),
        click.option("--scheduler", metavar="tcp://HOST:PORT", default=None,
                     help="Solve on this existing Dask cluster instead of a local one (`dask scheduler`, then "
                          "`dask worker tcp://HOST:PORT` on each machine)."),
        click.option("--solver", type=click.Choice(SOLVER_BACKENDS), default=None,
                     help="MILP backend (default: each scenario's solver.backend, else scip)."),
        click.option("--time-limit", type=click.FloatRange(min=0, min_open=True), default=None,
                     help="Seconds per solve before the best plan found so far is returned."),
        click.option("--gap", type=click.FloatRange(min=0), default=None, help="Relative optimality gap to stop at."),
        click.option("--quiet", is_flag=True, help="No progress bar on stderr."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def check_cluster_options(workers: int | None, scheduler: str | None) -> None:
    """--workers sizes the local cluster; with --scheduler the cluster is someone else's: not both."""
    if workers is not None and scheduler is not None:
        raise click.UsageError("--workers and --scheduler exclude each other: an existing cluster has its workers")


def solve_with_progress(jobs: Sequence[Job], label: Callable[[Job], str], workers: int | None, scheduler: str | None,
                        solver: str | None, time_limit: float | None, gap: float | None,
                        quiet: bool) -> list[Outcome]:
    """Every job solved on Dask, with a progress bar (done/total, failures) on stderr."""
    options = SolveOptions(backend=solver, time_limit_s=time_limit, gap=gap)
    with PointsProgress(len(jobs), quiet=quiet) as progress:
        return solve_jobs(jobs, options, workers=workers, scheduler=scheduler,
                          progress=lambda o: progress(printable(label(o.job)), o.status, not o.solved))


def result_line(label: str, outcome: Outcome, baseline: Outcome | None = None) -> str:
    """`label: status (gap), objective $X` (and the difference against the baseline), or `label: error: message`.
    A `feasible` status with a large gap says the time limit stopped the solve: the figure is not comparable."""
    if not outcome.solved:
        return f"{printable(label)}: error: {printable(outcome.error or '')}"
    objective, gap = outcome.document["objective_usd"], outcome.document["gap"]
    gap_text = f"gap {gap:.2%}" if gap is not None else "gap n/a"
    line = f"{printable(label)}: {outcome.status} ({gap_text}), objective ${objective:,.2f}"
    if baseline is not None and baseline is not outcome and baseline.solved:
        line += f" ({objective - baseline.document['objective_usd']:+,.2f} against {printable(baseline.job.name)})"
    return line


def echo_deltas(outcomes: Sequence[Outcome], label: Callable[[Outcome], str]) -> None:
    """Per scenario or point after the first: its TCO delta and order deltas against the first (SKU × site, nodes
    and GPUs), from the same `against_first` compare.json / sweep.json carry."""
    from planner.portfolio import outcome_against_first
    from reports.console import delta_lines

    for outcome in outcomes[1:]:
        delta = outcome_against_first(outcome, outcomes)
        if delta is not None:
            for line in delta_lines(label(outcome), label(outcomes[0]), delta):
                click.echo(line)


def finish(outcomes: Sequence[Outcome]) -> None:
    """Exit 1 when a scenario or point has no plan, after committing the outputs that report it."""
    failed = failures(outcomes)
    if failed:
        click.echo(f"{failed} of {len(outcomes)} without a plan (see the error of each)", err=True)
        atomic.commit_batch()  # the outputs say what failed: keep them, though the exit code is not 0
        sys.exit(SolverError.exit_code)
