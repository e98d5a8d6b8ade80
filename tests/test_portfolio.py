"""`planner compare` and `planner sweep`: scenarios solved on Dask give the numbers separate `plan` runs give.

Inputs are tiny and their optima worked by hand (below), so every solve takes well under a second; what costs time
is starting Dask (a LocalCluster of two processes per command, a real scheduler and worker once).

The worked example (tests/cases/worked-example/README.md) costs $111,108.18: 2027Q1 two owned nodes at A serving
1.5 node-equivalents, $34,220.25; 2027Q2 the same two nodes + one rented cloud node, $78,381.60 × 1.08^(−1/4).

"cheap power" is the same scenario with electricity at A at $0.05/kWh instead of $0.10, so A's energy halves:
per owned node in service 12,000 + 2,400 + 8,212.5 kWh × 0.05 (410.625) + 164.25 carbon = $14,974.875; per busy
node-equivalent at A 19,162.5 kWh × 0.05 (958.125) + 383.25 = $1,341.375. The plan does not change (owning still
beats renting, the cloud's busy share is still cheaper than A's: $252.945): 2027Q1 2 × 14,974.875 + 1.5 × 1,341.375
= $31,961.8125; 2027Q2 2 × 14,974.875 + 1.5 × 1,341.375 + 43,908.405 + 252.945 = $76,123.1625, discounted by
1.08^(−1/4): $106,634.33, i.e. half of A's energy bill each quarter (2 × 821.25 + 1.5 × 1,916.25 = $4,516.875)
saved: −$4,473.84, the difference the workbook computes as a formula.

"training" (for the sweep): one owned site with free energy and the round SKU `a` ($40,000, 5 years: $2,000 per
node-quarter of depreciation, nothing else), a 1B-parameter run of 15.768 B tokens at 1,000 tokens/s per node
= 4,380 node-hours = 2 node-quarters, which must finish in 2027Q1 (start = deadline), horizon 2027Q1–Q2. With a
budget of $80,000 per quarter it buys 2 nodes in 2027Q1, which stay in service in 2027Q2: 2 × 2,000 × (1 + d),
d = (1 + r)^(−1/4): $8,000 at r = 0, $7,923.77 at r = 0.08. With $40,000 per quarter it can buy one node only:
no plan (the run cannot finish). r = −1 is refused on the client, without solving.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from scenario_files import OWNED_FREE_ENERGY, sku, training, write_scenario
from test_workbook import soffice_convert

from models.errors import InputError
from planner import portfolio
from planner.cli import main
from planner.pipeline import plan_document, run_plan
from planner.portfolio import (
    Job,
    Outcome,
    SolveOptions,
    compare_document,
    grid_points,
    inputs_record,
    load_job,
    outcome_record,
    parse_settings,
    purchases_by_sku,
    solve_scenario,
)
from planner.scenario import load_scenario
from reports.cells import FORMULA_LEADS
from reports.portfolio import build_compare_workbook, build_sweep_workbook

ROOT = Path(__file__).resolve().parent.parent
WORKED = Path(__file__).resolve().parent / "cases" / "worked-example"
WORKED_OBJECTIVE_USD = 34_220.25 + 78_381.60 * 1.08 ** -0.25  # README of the case: $111,108.18
CHEAP_POWER_OBJECTIVE_USD = 31_961.8125 + 76_123.1625 * 1.08 ** -0.25
CHEAP_NAME = "=cheap power"  # a scenario name that looks like a formula: it must stay text
DASK_START_TIMEOUT_S = 60


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def cheap_power(folder: Path) -> Path:
    """The worked example with electricity at A at $0.05/kWh, named like a formula."""
    shutil.copytree(WORKED, folder)
    sites = folder / "sites.csv"
    sites.write_text(sites.read_text().replace("A,owned,0.025,1.25,0.10,", "A,owned,0.025,1.25,0.05,"))
    scenario = folder / "scenario.yaml"
    scenario.write_text(scenario.read_text().replace("name: worked-example", f'name: "{CHEAP_NAME}"'))
    return scenario


def training_scenario(folder: Path) -> Path:
    return write_scenario(folder, catalog=[sku()], sites=[OWNED_FREE_ENERGY],
                          workloads=[training("pretrain", 1, 15.768, "2027Q1", "2027Q1")],
                          throughput=[("pretrain", "a", 1000)], quarters=2)


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """`planner compare worked cheap missing` once: (result, compare.json, workbook path, scenario paths)."""
    root = tmp_path_factory.mktemp("compare")
    paths = [WORKED / "scenario.yaml", cheap_power(root / "cheap"), root / "missing.yaml"]
    result = invoke("compare", *paths, "-o", root / "compare.xlsx", "--json", root / "compare.json", "--workers", 2)
    return result, json.loads((root / "compare.json").read_text()), root / "compare.xlsx", paths


def test_compare_totals_equal_separate_plan_runs(compared):
    """Each scenario's figures are exactly those of `plan` on it alone; a missing file is reported, not fatal."""
    result, document, _, paths = compared
    assert result.exit_code == 1, result.output  # one scenario has no plan: outputs written, exit 1
    assert document["baseline"] == "worked-example"
    worked, cheap, missing = document["scenarios"]
    assert worked["objective_usd"] == pytest.approx(WORKED_OBJECTIVE_USD, abs=0.005)
    assert cheap["objective_usd"] == pytest.approx(CHEAP_POWER_OBJECTIVE_USD, abs=0.005)
    for record, path in zip((worked, cheap), paths):
        plan = plan_document(run_plan(load_scenario(path)))
        assert record["status"] == plan["status"] == "optimal" and record["error"] is None
        assert record["objective_usd"] == plan["objective_usd"] and record["gap"] == plan["gap"]
        assert {k: record["totals"][k] for k in plan["totals"]} == plan["totals"]
        assert record["totals"]["discounted_spend_usd"] == plan["discounted_spend_usd"]
        assert record["purchases_by_sku"] == {"h": 2.0}
        assert sum(record["discounted_usd_by_line"].values()) == pytest.approx(plan["objective_usd"], rel=1e-12)
    assert missing["status"] == "error" and missing["objective_usd"] is None and missing["totals"] is None
    assert "missing.yaml: scenario file not found" in missing["error"]
    lines = result.stdout.splitlines()
    assert lines[0] == f"worked-example: optimal (gap 0.00%), objective ${WORKED_OBJECTIVE_USD:,.2f}"
    difference = cheap["objective_usd"] - worked["objective_usd"]
    assert lines[1] == (f"{CHEAP_NAME}: optimal (gap 0.00%), objective ${cheap['objective_usd']:,.2f} "
                        f"({difference:+,.2f} against worked-example)")
    assert lines[2].startswith("missing: error: missing.yaml: scenario file not found")
    assert "3/3 done, 1 failed" in result.stderr and "distributed" not in result.stdout


def test_compare_workbook_keeps_names_as_text_and_differences_as_formulas(compared):
    path = compared[2]
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Summary", "Orders", "Unmet", "Unfinished training"]
    summary = book["Summary"]
    names = [summary.cell(row=3, column=c) for c in (2, 3, 4)]
    assert [c.value for c in names] == ["worked-example", CHEAP_NAME, "missing"]
    assert all(c.data_type == "s" for c in names) and names[1].quotePrefix
    labels = {summary.cell(row=r, column=1).value: r for r in range(1, summary.max_row + 1)}
    objective = labels["Objective: spend + penalties (NPV)"]
    assert summary.cell(row=objective, column=5).value == f'=IF(OR(C{objective}="",$B{objective}=""),"",' \
                                                          f'C{objective}-$B{objective})'
    assert summary[f"D{labels['Error']}"].value.startswith("missing.yaml")
    assert len(summary._charts) == 1 and summary._charts[0].grouping == "stacked"
    orders = list(book["Orders"].iter_rows(values_only=True))
    assert orders[0] == ("scenario", "sku", "2027Q1", "2027Q2", "total_nodes")
    assert orders[1][:4] == ("worked-example", "h", 2, 0) and orders[2][:4] == (CHEAP_NAME, "h", 2, 0)
    assert book["Unmet"]["A2"].value == "(none)"


def test_libreoffice_recalculates_the_compare_differences(compared, tmp_path):
    """Recalculated by LibreOffice, each difference is the scenario's figure less the worked example's, blank for
    the scenario without a plan, and the names are still text."""
    _, document, path, _ = compared
    (converted,) = soffice_convert([path], tmp_path, "xlsx:Calc MS Excel 2007 XML")
    summary = openpyxl.load_workbook(converted, data_only=True)["Summary"]
    rows = {summary.cell(row=r, column=1).value: r for r in range(1, summary.max_row + 1)}
    worked, cheap, _ = document["scenarios"]
    for label, key in (("Objective: spend + penalties (NPV)", "discounted_usd"), ("Energy cost", "energy_usd"),
                       ("Depreciation", "depreciation_usd")):
        row = rows[label]
        assert summary.cell(row=row, column=5).value == pytest.approx(
            cheap["totals"][key] - worked["totals"][key], abs=1e-6)
        assert summary.cell(row=row, column=6).value in (None, "")
    assert summary.cell(row=rows["Objective: spend + penalties (NPV)"], column=5).value == pytest.approx(
        CHEAP_POWER_OBJECTIVE_USD - WORKED_OBJECTIVE_USD, abs=0.01)
    operating = rows["Operating: rent + energy + maintenance + carbon"]
    assert summary.cell(row=operating, column=2).value == pytest.approx(
        sum(worked["totals"][k] for k in ("rent_usd", "energy_usd", "maintenance_usd", "carbon_usd")), rel=1e-12)
    assert summary.cell(row=rows["Total (= objective)"], column=3).value == pytest.approx(cheap["objective_usd"])
    assert summary.cell(row=3, column=3).value == CHEAP_NAME


SWEEP_SETS = ("--set", "finance.budget_usd_per_quarter=80000,40000", "--set", "finance.discount_rate=0,0.08,-1")


@pytest.fixture(scope="module")
def training_base(tmp_path_factory) -> Path:
    return training_scenario(tmp_path_factory.mktemp("sweep") / "training")


@pytest.fixture(scope="module")
def sequential(training_base) -> list[tuple]:
    """The sweep's points solved one after another in this process: (status, objective, purchases, error)."""
    out = []
    for point in grid_points(parse_settings([SWEEP_SETS[1], SWEEP_SETS[3]])):
        job = load_job(training_base, overrides=point, settings=point)
        if job.scenario is None:
            out.append(("error", None, None, job.error))
            continue
        status, document, error = solve_scenario(job.scenario, inputs_record(job.scenario), SolveOptions())
        out.append((status, document and document["objective_usd"], document and purchases_by_sku(document), error))
    return out


def test_a_worker_needs_no_access_to_the_scenario_files(tmp_path):
    """What a worker gets is the loaded scenario and PLAN.json's `inputs` from the client: with the files gone,
    it still solves, and the plan records the files and hashes the client read."""
    job = load_job(training_scenario(tmp_path / "training"))
    alone = plan_document(run_plan(load_scenario(job.path)))
    inputs = inputs_record(job.scenario)
    shutil.rmtree(tmp_path / "training")
    status, document, error = solve_scenario(job.scenario, inputs, SolveOptions())
    assert (status, error) == ("optimal", None) and document["objective_usd"] == pytest.approx(8_000.0)
    assert document["inputs"] == alone["inputs"]


def check_sweep(result, sweep_json: Path, sequential: list[tuple], quiet: bool = False) -> None:
    """Six points in grid order: two plans worked by hand, one infeasible with its diagnosis, bad values refused
    on the client; the same numbers as solving each point alone."""
    assert result.exit_code == 1, result.output
    points = json.loads(sweep_json.read_text())["points"]
    assert [tuple(p["settings"].values()) for p in points] == [(80000, 0), (80000, 0.08), (80000, -1),
                                                              (40000, 0), (40000, 0.08), (40000, -1)]
    assert [p["status"] for p in points] == ["optimal", "optimal", "error", "error", "error", "error"]
    assert points[0]["objective_usd"] == pytest.approx(8_000.0, abs=1e-6)
    assert points[1]["objective_usd"] == pytest.approx(4_000 * (1 + 1.08 ** -0.25), abs=1e-6)
    assert points[0]["purchases_by_sku"] == points[1]["purchases_by_sku"] == {"a": 2.0}
    assert "no plan exists" in points[3]["error"] and "budget" in points[3]["error"]
    assert "discount_rate" in points[2]["error"] and "discount_rate" in points[5]["error"]
    for point, alone in zip(points, sequential):
        assert (point["status"], point["objective_usd"], point["purchases_by_sku"], point["error"]) == alone
    assert ("6/6 done, 4 failed" in result.stderr) != quiet


def test_sweep_on_a_local_cluster_equals_a_sequential_run(training_base, sequential, tmp_path):
    result = invoke("sweep", training_base, *SWEEP_SETS, "--workers", 2, "-o", tmp_path / "sweep.xlsx", "--json",
                    tmp_path / "sweep.json")
    check_sweep(result, tmp_path / "sweep.json", sequential)
    assert result.stdout.splitlines()[0] == "finance.budget_usd_per_quarter=80000, finance.discount_rate=0: " \
                                            "optimal (gap 0.00%), objective $8,000.00"
    book = openpyxl.load_workbook(tmp_path / "sweep.xlsx")
    rows = list(book["Sweep"].iter_rows(values_only=True))
    header = rows[0]
    assert header[:4] == ("finance.budget_usd_per_quarter", "finance.discount_rate", "status", "objective_usd")
    assert "nodes[a]" in header and header[-1] == "error" and len(rows) == 7
    chart = list(book["TCO chart"].iter_rows(values_only=True))
    assert chart[0] == ("finance.budget_usd_per_quarter", "finance.discount_rate=0", "finance.discount_rate=0.08",
                        "finance.discount_rate=-1")
    assert chart[1][:3] == (80000, pytest.approx(8_000.0), pytest.approx(4_000 * (1 + 1.08 ** -0.25)))
    assert len(book["TCO chart"]._charts) == 1


def test_sweep_refuses_a_malformed_set_before_starting_anything(training_base, tmp_path):
    result = invoke("sweep", training_base, "--set", "finance.discount_rate", "-o", tmp_path / "sweep.xlsx")
    assert result.exit_code == 2
    assert "expected KEY=V1,V2,…" in result.stderr and not (tmp_path / "sweep.xlsx").exists()
    both = invoke("sweep", training_base, "--set", "demand.scale=1", "--workers", 2, "--scheduler", "tcp://h:1")
    assert both.exit_code == 2 and "--workers and --scheduler exclude each other" in both.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _kill(processes: list[subprocess.Popen]) -> None:
    for process in reversed(processes):
        process.kill()
        process.wait()


@pytest.fixture
def dask_cluster(tmp_path):
    """A real `dask scheduler` and one `dask worker` (one thread) on localhost, started as subprocesses in a
    folder without the scenario files; always killed afterwards."""
    from dask.distributed import Client

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    workdir = tmp_path / "workers"
    workdir.mkdir()
    commands = ([sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", str(port),
                 "--no-dashboard"],
                [sys.executable, "-m", "dask", "worker", address, "--nthreads", "1", "--nworkers", "1",
                 "--no-dashboard"])
    with contextlib.ExitStack() as stack:
        processes: list[subprocess.Popen] = []
        stack.callback(_kill, processes)  # runs first on the way out, before the logs close
        for name, command in zip(("scheduler", "worker"), commands):
            log = stack.enter_context(open(tmp_path / f"{name}.log", "w"))
            processes.append(subprocess.Popen(command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + DASK_START_TIMEOUT_S
        with Client(address, timeout=DASK_START_TIMEOUT_S) as client:
            client.wait_for_workers(1, timeout=max(deadline - time.monotonic(), 1))
        yield address


def test_sweep_runs_on_a_separately_started_dask_scheduler(dask_cluster, training_base, sequential, tmp_path):
    """Nothing changes for the user but --scheduler: the same points, the same numbers. Then the worked example
    with twice the demand (demand.scale=2): 3,000 tokens/s in 2027Q1 = 3 node-equivalents, A holds 2, so both run
    fully busy beside one rented node: 2 × 15,385.50 + 2 × 2,299.50 + 43,908.405 + 252.945 = $79,531.35; 5,000 in
    2027Q2 = the 2 at A + 3 rented: 30,771 + 4,599 + 3 × 44,161.35 = $167,854.05, discounted by 1.08^(−1/4)."""
    doubled = invoke("sweep", WORKED / "scenario.yaml", "--set", "demand.scale=1,2", "--scheduler", dask_cluster,
                     "--json", tmp_path / "doubled.json", "--quiet")
    assert doubled.exit_code == 0, doubled.output
    base, twice = json.loads((tmp_path / "doubled.json").read_text())["points"]
    assert base["objective_usd"] == pytest.approx(WORKED_OBJECTIVE_USD, abs=0.005)
    assert twice["objective_usd"] == pytest.approx(79_531.35 + 167_854.05 * 1.08 ** -0.25, abs=0.005)
    assert twice["purchases_by_sku"] == {"h": 2.0} and twice["totals"]["rent_usd"] == 4 * 43_800
    result = invoke("sweep", training_base, *SWEEP_SETS, "--scheduler", dask_cluster, "--json", tmp_path / "sweep.json",
                    "--quiet")
    check_sweep(result, tmp_path / "sweep.json", sequential, quiet=True)


def test_input_text_is_never_a_formula_in_the_what_if_workbooks(tmp_path):
    """Scenario names, SKUs, workloads, swept keys and values, error messages: text that looks like a formula is
    stored as text with Excel's quote prefix, and no formula the workbooks write mentions it."""
    from test_hardening import HOSTILE_NAMES, HOSTILE_SKU, hostile_scenario

    scenario = load_scenario(hostile_scenario(tmp_path / "in"))
    status, plan, error = solve_scenario(scenario, inputs_record(scenario), SolveOptions(gap=1e-9))
    assert error is None and plan["unmet"] and plan["purchases"]
    solved = Outcome(Job(scenario.name, "in/scenario.yaml", scenario=scenario), status, plan)
    failed = Outcome(Job(HOSTILE_NAMES[3], "=x.yaml", error="=1+1"), "error", error="=1+1")
    compare = build_compare_workbook(compare_document([solved, failed]), [plan, None])
    point = {"settings": {"@key": HOSTILE_NAMES[0]}, **outcome_record(solved)}
    sweep = build_sweep_workbook({"base": "x", "keys": ["@key"], "points": [point]})
    seen = set()
    for book in (compare, sweep):
        for ws in book:
            for cell in (cell for row in ws.iter_rows() for cell in row if isinstance(cell.value, str)):
                if cell.data_type == "f":
                    assert not any(name in cell.value for name in HOSTILE_NAMES), (ws.title, cell.value)
                    continue
                assert cell.quotePrefix or not cell.value.startswith(FORMULA_LEADS), (ws.title, cell.value)
                seen.add(cell.value)
    assert {scenario.name, HOSTILE_NAMES[3], "=1+1", "@key", HOSTILE_NAMES[0], HOSTILE_SKU} <= seen


def test_the_shipped_what_if_scenarios_load():
    """The manual's what-ifs (docs/what-ifs.md) are valid scenarios over the shipped example: high-growth scales every demand row by
    1.3 and slips GB200 NVL72 deliveries to 4 quarters; h100-only leaves the H100 the one SKU orderable in the
    horizon."""
    example = ROOT / "data" / "examples" / "example"
    base = load_scenario(example / "scenario.yaml")
    high, h100 = (load_scenario(example / name) for name in ("high-growth.yaml", "h100-only.yaml"))
    assert (high.name, h100.name) == ("high-growth", "h100-only")
    assert high.demand["tokens_per_s"].tolist() == pytest.approx((base.demand["tokens_per_s"] * 1.3).tolist())
    assert high.catalog.at["gb200-nvl72", "lead_quarters"] == 4
    orderable = h100.catalog.index[h100.catalog["available_from"] < h100.horizon.quarters]
    assert list(orderable) == ["h100-80gb-x8"]


@pytest.mark.parametrize("text", [".inf", ".nan", "1e400", "-.Inf"])
def test_a_non_finite_set_value_is_an_input_error(text):
    """YAML reads these as floats no scenario value can be and JSON cannot hold: refused with the user's text."""
    with pytest.raises(InputError) as raised:
        parse_settings([f"demand.scale=1.0,{text}"])
    (problem,) = raised.value.problems
    assert problem.file == "--set demand.scale" and repr(text) in problem.message


def test_sweep_with_an_infinite_value_exits_2_writing_nothing(training_base, tmp_path):
    out = tmp_path / "sw.json"
    result = invoke("sweep", training_base, "--set", "demand.scale=1.0,.inf", "--json", out, "--quiet")
    assert result.exit_code == 2, result.output
    assert "--set demand.scale" in result.stderr and "'.inf' is not a finite number" in result.stderr
    assert not out.exists()


def test_a_sweep_grid_over_the_limit_is_refused_before_it_is_built(monkeypatch):
    """3 keys × 30 values = 27,000 points > MAX_SWEEP_POINTS (10,000): refused from the counts alone."""
    values = ",".join(str(i) for i in range(1, 31))
    monkeypatch.setattr(portfolio, "grid_points", lambda settings: pytest.fail("the grid was built"))
    with pytest.raises(InputError, match="27,000 points"):
        parse_settings([f"demand.scale={values}", f"finance.discount_rate={values}", f"solver.gap={values}"])
    assert len(parse_settings([f"demand.scale={values}", f"solver.gap={values}"])) == 2  # 900 points: fine


def test_compare_with_no_scenario_loading_exits_2_and_writes_nothing(tmp_path):
    """Like sweep: when every scenario fails to load (here a cyclic `extends:` and a missing file), that is an
    input error of the command, every problem reported, no workbook or JSON."""
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    out, book = tmp_path / "compare.json", tmp_path / "compare.xlsx"
    result = invoke("compare", tmp_path / "a.yaml", tmp_path / "missing.yaml", "--json", out, "-o", book)
    assert result.exit_code == 2, result.output
    assert "a.yaml" in result.stderr and "missing.yaml" in result.stderr
    assert not out.exists() and not book.exists()



def test_the_manual_limits_table_states_the_portfolio_and_stochastic_limits():
    """docs/limits.md's "Sane bounds" rows for `sweep --set` and `plan --stochastic` state the code's limits."""
    from models.stochastic_limits import MAX_STOCHASTIC_FUTURES

    section = (ROOT / "docs" / "limits.md").read_text(encoding="utf-8").split("## Sane bounds")[1]
    rows = {line.split("|")[1].strip(): line for line in section.splitlines() if line.startswith("| `")}
    assert f"| {portfolio.MAX_SWEEP_POINTS:,}, checked" in rows["`sweep --set`"]
    assert f"| {MAX_STOCHASTIC_FUTURES:,}: " in rows["`plan --stochastic`"]
