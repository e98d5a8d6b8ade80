"""`planner diff -o DIFF.xlsx`: the diff of two plans as one sheet, figures as values, totals as live formulas.

The Diff sheet holds three tables (cost lines, order changes, input changes) one under the other, so a
reviewer prints one page; the cost-line total is a SUM formula whose value equals the objective delta.
"""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from models.plan_diff import PlanDiff
from reports.atomic import write_atomic
from reports.cells import neutral_text

USD_FORMAT = '#,##0.00;[Red]-#,##0.00'
NODES_FORMAT = '#,##0.##'
BOLD = Font(bold=True)
TITLE = Font(bold=True, size=13)
COLUMN_WIDTHS = (16, 22, 18, 10, 12, 12, 18)


def _row(ws, row: int, values: list, formats: dict[int, str] | None = None, font: Font | None = None) -> None:
    for column, value in enumerate(values, start=1):
        cell = ws.cell(row=row, column=column, value=neutral_text(value))
        if formats and column in formats:
            cell.number_format = formats[column]
        if font:
            cell.font = font


def build_diff_workbook(diff: PlanDiff, old_name: str, new_name: str) -> Workbook:
    workbook = Workbook()
    ws = workbook.active
    ws.title = "Diff"
    _row(ws, 1, [f"What changed: {old_name} → {new_name}"], font=TITLE)
    _row(ws, 2, ["old objective $", diff.old_objective_usd], {2: USD_FORMAT})
    _row(ws, 3, ["new objective $", diff.new_objective_usd], {2: USD_FORMAT})
    ws.cell(row=4, column=1, value="delta $").font = BOLD
    ws.cell(row=4, column=2, value="=B3-B2").number_format = USD_FORMAT

    row = 6
    _row(ws, row, ["Discounted TCO delta by cost line (largest first)"], font=BOLD)
    _row(ws, row + 1, ["cost line", "delta $"], font=BOLD)
    first = row + 2
    for offset, (line, delta) in enumerate(diff.cost_line_deltas_usd.items()):
        _row(ws, first + offset, [line, delta], {2: USD_FORMAT})
    last = first + len(diff.cost_line_deltas_usd) - 1
    total_row = last + 1
    ws.cell(row=total_row, column=1, value="total (= delta)").font = BOLD
    ws.cell(row=total_row, column=2, value=f"=SUM(B{first}:B{last})" if last >= first else 0).number_format = \
        USD_FORMAT

    row = total_row + 2
    _row(ws, row, ["Order changes (largest capex change first)"], font=BOLD)
    _row(ws, row + 1, ["change", "site", "sku", "nodes", "old quarter", "new quarter", "capex delta $"], font=BOLD)
    row += 2
    for change in diff.order_changes or ():
        _row(ws, row, [change.kind, change.site, change.sku, change.nodes, change.old_quarter or "",
                       change.new_quarter or "", change.capex_delta_usd], {4: NODES_FORMAT, 7: USD_FORMAT})
        row += 1
    if not diff.order_changes:
        _row(ws, row, ["(no order changed)"])
        row += 1

    row += 1
    _row(ws, row, ["Inputs that changed"], font=BOLD)
    row += 1
    for text in diff.input_changes or ("(none recorded)",):
        _row(ws, row, [text])
        row += 1
    for column, width in enumerate(COLUMN_WIDTHS, start=1):
        ws.column_dimensions[get_column_letter(column)].width = width
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    return workbook


def write_diff_workbook(path: str | Path, diff: PlanDiff, old_name: str, new_name: str) -> Path:
    workbook = build_diff_workbook(diff, old_name, new_name)
    return write_atomic(path, lambda tmp: workbook.save(tmp))
