"""Text from inputs never becomes a formula in `planner diff -o` and `planner calibrate --throughput-out`."""

from __future__ import annotations

import csv

import pandas as pd
from openpyxl import load_workbook

from models.plan_diff import OrderChange, PlanDiff
from planner.telemetry import write_throughput_table
from reports.diff_workbook import write_diff_workbook

HOSTILE = "=cmd|' /C calc'!A0"


def test_diff_workbook_stores_hostile_names_as_text(tmp_path):
    change = OrderChange("added", HOSTILE, "+SUM(1,2)", 1.0, None, "2027Q1", 100.0)
    diff = PlanDiff(0.0, 100.0, {"capex_usd": 100.0}, (change,), (f"{HOSTILE}: file changed",))
    write_diff_workbook(tmp_path / "d.xlsx", diff, "@old.json", "new.json")
    sheet = load_workbook(tmp_path / "d.xlsx")["Diff"]
    texts = [cell for row in sheet.iter_rows() for cell in row if isinstance(cell.value, str)]
    hostile = [cell for cell in texts if HOSTILE in cell.value or "SUM(1,2)" in cell.value]
    assert len(hostile) == 3
    for cell in hostile:
        assert cell.data_type == "s" and not cell.value.startswith(("=", "+", "@"))
    formulas = [cell.value for cell in texts if cell.data_type == "f"]
    assert all(HOSTILE not in formula for formula in formulas)


def test_throughput_table_quotes_a_formula_like_workload(tmp_path):
    fit = pd.DataFrame([{"workload": HOSTILE, "sku": "@sku", "tokens_per_s_per_node": 1000.0,
                         "ci95_tokens_per_s_per_node": 12.0}])  # the fit's shape (models/telemetry_fit.py)
    write_throughput_table(tmp_path / "t.csv", fit)
    with open(tmp_path / "t.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[1][0] == "'" + HOSTILE and rows[1][1] == "'@sku"
