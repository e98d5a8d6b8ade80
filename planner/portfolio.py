"""What-if portfolios: several scenarios side by side (`compare`) or a grid of overrides (`sweep`), on Dask.

The client (this process) loads and validates every scenario or grid point first, so a bad file or value is
reported with its message without solving anything. What travels to a worker is the loaded `Scenario` (a frozen,
picklable object) and the SHA-256 of its files, so a remote worker needs the code but not the files. Each worker
runs the `plan` pipeline unchanged (run_plan → plan_document → verify_document) and returns the PLAN.json document,
or the message of what went wrong (infeasible: its diagnosis). Results are ordered like the inputs, never by
arrival, and one failure never stops the others. The same code path serves a LocalCluster (N processes, one thread
each) and an existing cluster (`--scheduler tcp://HOST:PORT`).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from models.cost_parameters import USD_LINES
from models.errors import InputError, Problem, SolverError
from planner.pipeline import plan_document, run_plan, verify_document
from planner.scenario import Scenario, load_scenario, parse_override_value

ERROR = "error"  # the status of a scenario or point that produced no plan
CONNECT_TIMEOUT_S = 30  # how long to wait for an existing scheduler before reporting it unreachable
# The scheduler always serves HTTP (health checks, and the dashboard where bokeh is installed): on a free port, so a
# second sweep, or anything else on 8787, never makes it warn.
RANDOM_PORT = ":0"
DASK_LOGGERS = ("distributed", "dask", "bokeh", "tornado")  # Dask's chatter: warnings only, on stderr
# The most grid points one sweep may have, checked on the product of the value counts before the grid is built:
# each point is a full MILP solve and a row of the workbook, so 10,000 is already far more than a review reads,
# and a slip such as 100 values on each of 3 keys (a million points) is refused before any memory or time is spent.
MAX_SWEEP_POINTS = 10_000


@dataclass(frozen=True)
class SolveOptions:
    """The solver settings every scenario or point is solved with (None: each scenario's own `solver:`)."""

    backend: str | None = None
    time_limit_s: float | None = None
    gap: float | None = None


@dataclass(frozen=True)
class Job:
    """One scenario to solve: `scenario` once loaded, else `error` (why it could not be loaded)."""

    name: str
    path: str
    settings: dict = field(default_factory=dict)  # a sweep point's {KEY: value}; empty for compare
    scenario: Scenario | None = None
    error: str | None = None
    problems: tuple[Problem, ...] = ()  # what made loading fail, as the InputError gave them


@dataclass(frozen=True)
class Outcome:
    """A job's result: the PLAN.json document when a plan was found, else the error's message."""

    job: Job
    status: str
    document: dict | None = None
    error: str | None = None

    @property
    def solved(self) -> bool:
        return self.document is not None


# --- loading on the client ----------------------------------------------------------------------------

def load_job(path: str | Path, overrides: Mapping[str, object] | None = None, settings: dict | None = None) -> Job:
    """Load and validate one scenario (with its overrides); an input error becomes the job's message."""
    try:
        scenario = load_scenario(path, overrides=overrides)
    except InputError as error:
        return Job(name=Path(path).stem, path=str(path), settings=dict(settings or {}), error=_message(error),
                   problems=tuple(error.problems))
    return Job(name=scenario.name, path=str(path), settings=dict(settings or {}), scenario=scenario)


def parse_settings(texts: Sequence[str]) -> list[tuple[str, list]]:
    """`--set KEY=V1,V2,…` options → [(KEY, [values…])] in the order given; values parsed as YAML scalars."""
    problems, settings = [], []
    for text in texts:
        key, equals, values = text.partition("=")
        key = key.strip()
        items = [item.strip() for item in values.split(",")]
        if not equals or not key or not all(items):
            problems.append(Problem("--set", f"expected KEY=V1,V2,… (e.g. demand.scale=1.0,1.3), got {text!r}"))
        elif key in dict(settings):
            problems.append(Problem("--set", f"key '{key}' is given twice; list all its values in one --set"))
        else:
            try:
                values = [parse_override_value(item, label=f"--set {key}") for item in items]
            except InputError as error:
                problems.extend(error.problems)
                continue
            # YAML reads .inf, .nan and 1e400 as floats, which no scenario value can be and JSON cannot hold
            problems.extend(Problem(f"--set {key}", f"{item!r} is not a finite number")
                            for item, value in zip(items, values)
                            if isinstance(value, float) and not math.isfinite(value))
            settings.append((key, values))
    if problems:
        raise InputError(problems)
    if not settings:
        raise InputError(Problem("--set", "give at least one --set KEY=V1,V2,…"))
    points = math.prod(len(values) for _, values in settings)
    if points > MAX_SWEEP_POINTS:
        raise InputError(Problem("--set", f"the grid has {points:,} points (the product of the value counts); "
                                          f"at most {MAX_SWEEP_POINTS:,} are solved in one sweep"))
    return settings


def grid_points(settings: list[tuple[str, list]]) -> list[dict]:
    """The Cartesian grid of every key's values, the first key varying slowest: [{KEY: value, …}, …]."""
    keys = [key for key, _ in settings]
    return [dict(zip(keys, values)) for values in itertools.product(*(values for _, values in settings))]


def sweep_jobs(base: str | Path, settings: list[tuple[str, list]]) -> list[Job]:
    """One job per grid point, each validated here. A point whose value is bad is reported without solving;
    when every point fails to load (a broken base file, an unknown key) that is an input error of the command."""
    return _some_loaded([load_job(base, overrides=point, settings=point) for point in grid_points(settings)])


def compare_jobs(paths: Sequence[str | Path]) -> list[Job]:
    """One job per scenario file, each validated here; as for a sweep, when no scenario loads that is an input
    error of the command (exit 2, nothing solved or written), reporting every scenario's problems."""
    return _some_loaded([load_job(path) for path in paths])


def _some_loaded(jobs: list[Job]) -> list[Job]:
    if jobs and all(job.scenario is None for job in jobs):
        raise InputError(list(dict.fromkeys(problem for job in jobs for problem in job.problems)))
    return jobs


def _message(error: Exception) -> str:
    if isinstance(error, InputError):
        return "; ".join(str(problem) for problem in error.problems)
    return str(error)


# --- solving on a worker --------------------------------------------------------------------------------

def inputs_record(scenario: Scenario) -> dict:
    """PLAN.json's `inputs` (the files, their SHA-256, the chain it extends, the overrides), read here, on the
    client, where the files are."""
    return scenario.inputs_record()


def solve_scenario(scenario: Scenario, inputs: dict, options: SolveOptions) -> tuple[str, dict | None, str | None]:
    """On a worker: the `plan` pipeline on one loaded scenario → (status, PLAN.json document or None, error).

    No file is read here (a remote worker may not see them): `inputs` is PLAN.json's `inputs`, from the client.
    """
    detached = dataclasses.replace(scenario, input_files={}, chain=())
    try:
        run = run_plan(detached, backend=options.backend, time_limit_s=options.time_limit_s, gap=options.gap)
        document = plan_document(run)
        document["inputs"] = inputs
        verify_document(detached, document)
    except (InputError, SolverError) as error:
        return ERROR, None, _message(error)
    return document["status"], document, None


def solve_jobs(jobs: Sequence[Job], options: SolveOptions, workers: int | None = None, scheduler: str | None = None,
               progress: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Solve every loaded job on Dask (a LocalCluster of `workers` processes, or the cluster at `scheduler`);
    jobs that failed to load come back as they are. Ordered like `jobs`; `progress(outcome)` after each one."""
    outcomes: list[Outcome | None] = [None] * len(jobs)
    for i, job in enumerate(jobs):
        if job.scenario is None:
            outcomes[i] = Outcome(job, ERROR, error=job.error)
            if progress is not None:
                progress(outcomes[i])
    todo = [i for i, job in enumerate(jobs) if job.scenario is not None]
    if todo:
        from dask.distributed import as_completed

        inputs = [inputs_record(jobs[i].scenario) for i in todo]  # files hashed before any worker starts
        with dask_client(workers or min(len(todo), os.cpu_count() or 1), scheduler) as client:
            futures = client.map(solve_scenario, [jobs[i].scenario for i in todo], inputs, options=options,
                                 pure=False)
            position = {future.key: i for future, i in zip(futures, todo)}
            for future in as_completed(futures):
                i = position[future.key]
                outcomes[i] = _outcome(jobs[i], future)
                if progress is not None:
                    progress(outcomes[i])
    return outcomes


def _outcome(job: Job, future) -> Outcome:
    """A finished future as an Outcome; anything the worker raised (a bug, a lost worker) is this job's error."""
    error = future.exception()
    if error is not None:
        return Outcome(job, ERROR, error=f"{type(error).__name__}: {error}")
    status, document, message = future.result()
    return Outcome(job, status, document=document, error=message)


@contextmanager
def dask_client(workers: int, scheduler: str | None = None) -> Iterator:
    """A Dask client: on the cluster at `scheduler`, else on a LocalCluster of `workers` processes with one
    thread each (a MILP solve is single-threaded; processes keep the solvers' global state apart)."""
    from dask.distributed import Client, LocalCluster

    quiet_dask()
    if scheduler:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError) as error:
            raise InputError(Problem("--scheduler", f"cannot reach the Dask scheduler at {scheduler}: {error}")) \
                from None
        with client:
            yield client
        return
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=RANDOM_PORT) as cluster, \
            Client(cluster) as client:
        yield client


def quiet_dask() -> None:
    """Nothing from Dask on stdout, and on stderr only its warnings (it logs every worker's start at INFO)."""
    import dask

    dask.config.set({"distributed.logging": {name: "warning" for name in DASK_LOGGERS}})
    for name in DASK_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


# --- what the outputs report -----------------------------------------------------------------------------

def discounted_lines_usd(document: dict) -> dict[str, float]:
    """Σ_q line × discount factor for each $ cost line of PLAN.json's `costs` (they add up to objective_usd)."""
    costs = pd.DataFrame(document["costs"])
    return {line: float((costs[line] * costs["discount_factor"]).sum()) for line in USD_LINES}


def purchases_by_sku(document: dict) -> dict[str, float]:
    """Nodes ordered per SKU over the horizon, all sites together."""
    purchases = pd.DataFrame(document["purchases"], columns=["sku", "nodes"])
    return {str(sku): float(nodes) for sku, nodes in purchases.groupby("sku", sort=True)["nodes"].sum().items()}


def headline_totals(document: dict) -> dict[str, float]:
    """PLAN.json's `totals` plus its discounted spend and penalties, what the orders cost (Σ capex_usd of the
    purchases), the nodes ordered and the unmet demand (Σ units of `unmet`, tokens/s × quarters)."""
    return {**document["totals"],
            "discounted_spend_usd": document["discounted_spend_usd"],
            "discounted_penalty_usd": document["discounted_penalty_usd"],
            "purchases_usd": float(sum(p["capex_usd"] for p in document["purchases"])),
            "nodes_ordered": float(sum(p["nodes"] for p in document["purchases"])),
            "unmet_tokens_per_s_quarters": float(sum(u["units"] for u in document["unmet"]))}


def outcome_record(outcome: Outcome) -> dict:
    """The fields compare.json and sweep.json share: status, objective_usd, gap, totals, purchases_by_sku,
    discounted_usd_by_line (the objective split by cost line), error (None when a plan was found)."""
    document = outcome.document
    return {"status": outcome.status,
            "objective_usd": document["objective_usd"] if document else None,
            "gap": document["gap"] if document else None,
            "totals": headline_totals(document) if document else None,
            "purchases_by_sku": purchases_by_sku(document) if document else None,
            "discounted_usd_by_line": discounted_lines_usd(document) if document else None,
            "error": outcome.error}


def compare_document(outcomes: Sequence[Outcome]) -> dict:
    """compare.json: the first scenario is the baseline the workbook's differences are taken against."""
    return {"baseline": outcomes[0].job.name if outcomes else None,
            "scenarios": [{"name": o.job.name, "path": o.job.path, **outcome_record(o),
                           "against_first": outcome_against_first(o, outcomes)} for o in outcomes]}


def sweep_document(base: str | Path, settings: list[tuple[str, list]], outcomes: Sequence[Outcome]) -> dict:
    """sweep.json: the grid (keys and values in the order given) and one record per point, in grid order."""
    return {"base": str(base), "keys": [key for key, _ in settings],
            "points": [{"settings": o.job.settings, **outcome_record(o),
                        "against_first": outcome_against_first(o, outcomes)} for o in outcomes]}


def gpus_per_node(outcome: Outcome) -> dict[str, float]:
    scenario = outcome.job.scenario
    return {} if scenario is None else {str(k): float(v) for k, v in scenario.catalog["gpus_per_node"].items()}


def outcome_against_first(outcome: Outcome, outcomes: Sequence[Outcome]) -> dict | None:
    """reports/console.py `against_first`: the TCO delta and the order deltas (SKU × site, nodes and GPUs) of
    `outcome` against the first scenario or point; None where either has no plan (the first: all zero)."""
    from reports.console import against_first

    first = outcomes[0] if outcomes else None
    if first is None or not first.solved or not outcome.solved:
        return None
    return against_first(first.document, gpus_per_node(first), outcome.document, gpus_per_node(outcome))


def failures(outcomes: Sequence[Outcome]) -> int:
    return sum(not outcome.solved for outcome in outcomes)
