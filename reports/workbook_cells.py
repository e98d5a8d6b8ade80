"""What every workbook sheet shares: number formats, fonts, the one cell writer, table blocks, fitted column
widths and print setup (openpyxl).

`put` is the only way a value reaches a cell: strings are stored as literal text (never formulas, OWASP), so text
from the inputs (workload, site and SKU names...) cannot become a formula. The sheet modules
(`reports/workbook_*.py`, `reports/risk_sheets.py`) import from here; nothing here imports them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import column_index_from_string, get_column_letter, quote_sheetname
from openpyxl.utils.cell import coordinate_from_string
from openpyxl.worksheet.table import Table, TableStyleInfo
from openpyxl.worksheet.worksheet import Worksheet

from reports.cells import FORMULA_LEADS  # the one rule for text that looks like a formula (OWASP)

USD = '"$"#,##0.00'
# Millions of dollars, for money in the Summary's chart-grid columns (fixed at CHART_COLUMN_WIDTH, too narrow for
# "$75,487,937.67"): shown as "$75.49M", while the cell keeps the exact dollars for formulas and the formula bar.
USD_MILLIONS = '"$"#,##0.00,,"M";-"$"#,##0.00,,"M"'
KWH = '#,##0" kWh"'
MWH = '#,##0.0" MWh"'
KW = '#,##0.0'
TONNES = '#,##0.00" t"'
PERCENT = '0.0%'
COUNT = '#,##0'
DECIMAL = '#,##0.00'
FACTOR = '0.000000'
TOKENS = '#,##0.0'

MAX_COLUMN_WIDTH = 60  # characters; long free text (catalog sources, paths) is cut off visually, not in data
MIN_COLUMN_WIDTH = 8
FORMULA_WIDTH_HINT = 1e9  # formula cells have no value to measure: size their column for $1,000,000,000.00
HEADER_FONT = Font(bold=True)
TITLE_FONT = Font(bold=True, size=14)
SECTION_FONT = Font(bold=True, size=12)
TOTAL_FILL = PatternFill("solid", fgColor="DDEBF7")
TABLE_STYLE = "TableStyleMedium2"
CHART_WIDTH_CM = 16.0
CHART_HEIGHT_CM = 8.0
CHART_ROWS = 18  # rows one chart covers at the default row height (0.53 cm), with a gap
CHART_COLUMNS = 8  # columns one chart covers, with a gap ...
CHART_COLUMN_WIDTH = 11.0  # ... at this width (characters; ~2.1 cm), set explicitly so every viewer agrees
SPEND_LABELS = {"capex_usd": "capex", "depreciation_usd": "depreciation", "rent_usd": "rent",
                "energy_usd": "energy", "maintenance_usd": "maintenance", "carbon_usd": "carbon",
                "unmet_usd": "unmet demand", "unfinished_training_usd": "unfinished training"}

SHEET_SUMMARY, SHEET_PURCHASES, SHEET_RENTALS = "Summary", "Purchases", "Rentals"
SHEET_FLEET, SHEET_PLACEMENT, SHEET_UNMET = "Fleet", "Placement", "Unmet"
SHEET_UNFINISHED, SHEET_COSTS, SHEET_ASSUMPTIONS = "Unfinished training", "Costs", "Assumptions"
SHEET_WHY, SHEET_ORDERS, SHEET_UNIT_COSTS = "Why", "Orders", "Unit costs"
SHEETS = (SHEET_SUMMARY, SHEET_ORDERS, SHEET_PURCHASES, SHEET_RENTALS, SHEET_FLEET, SHEET_PLACEMENT, SHEET_UNMET,
          SHEET_UNFINISHED, SHEET_COSTS, SHEET_UNIT_COSTS, SHEET_WHY, SHEET_ASSUMPTIONS)
RISK_SHEETS = ("Risk", "Sensitivity")  # written by reports/risk_sheets.py, placed before Assumptions

COLUMN_FORMATS = {
    "nodes": COUNT, "gpus": COUNT, "pool_nodes": COUNT, "node_equivalents": DECIMAL,
    "energy_kwh": KWH, "carbon_t": TONNES, "discount_factor": FACTOR,
    "tokens_per_s": TOKENS, "demand_tokens_per_s": TOKENS, "unmet_tokens_per_s": TOKENS,
    "utilisation": PERCENT, "headroom_pct": PERCENT, "fraction_left": PERCENT, "existing_nodes": COUNT,
    "quarters_charged": COUNT, "idle_frac": DECIMAL, "maint_frac_per_year": FACTOR, "discount_rate": FACTOR,
    "life_years": DECIMAL, "pue": DECIMAL, "usd_per_kwh": '"$"#,##0.0000', "gco2_per_kwh": KW,
    "rent_usd_per_gpu_hour": USD,
}


def column_format(name: str) -> str | None:
    if name in COLUMN_FORMATS:
        return COLUMN_FORMATS[name]
    if name.endswith("_usd") or "_usd_per_" in name:
        return USD
    if name.endswith("_kw"):
        return KW
    return None


def cell_value(value):
    """A Python scalar openpyxl can store: numpy → Python, NaN/NA → empty."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def put(ws: Worksheet, row: int, column: int, value, number_format: str | None = None):
    """Write one cell; strings are always literal text (never formulas), numbers get `number_format`."""
    cell = ws.cell(row=row, column=column)
    value = cell_value(value)
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
        cell.value = value
        cell.data_type = "s"
        if value.startswith(FORMULA_LEADS):
            cell.quotePrefix = True
    else:
        cell.value = value
        if number_format and value is not None and not isinstance(value, bool):
            cell.number_format = number_format
    return cell


def put_formula(ws: Worksheet, row: int, column: int, formula: str, number_format: str | None = None):
    cell = ws.cell(row=row, column=column, value=formula)
    if number_format:
        cell.number_format = number_format
    return cell


@dataclass
class Block:
    """Where a table landed on a sheet: header row, data rows, and each column's letter."""

    sheet: Worksheet
    header_row: int
    first_row: int
    last_row: int  # == first_row - 1 when the table has no rows
    letters: dict[str, str] = field(default_factory=dict)
    sums: dict[str, float] = field(default_factory=dict)  # numeric column totals, to size the Total row

    @property
    def rows(self) -> int:
        return self.last_row - self.first_row + 1

    def range(self, column: str, absolute: bool = True, sheet: bool = False) -> str:
        """The data cells of `column` as A1 text (one empty row when there is no data, so SUM gives 0)."""
        letter = self.letters[column]
        last = max(self.last_row, self.first_row)
        dollar = "$" if absolute else ""
        text = f"{dollar}{letter}{dollar}{self.first_row}:{dollar}{letter}{dollar}{last}"
        return f"{quote_sheetname(self.sheet.title)}!{text}" if sheet else text

    def cell(self, column: str, row: int, sheet: bool = False) -> str:
        text = f"${self.letters[column]}${row}"
        return f"{quote_sheetname(self.sheet.title)}!{text}" if sheet else text


class Widths:
    """Tracks the widest text per column so every sheet gets fitted column widths."""

    def __init__(self):
        self.by_sheet: dict[str, dict[int, int]] = {}

    def see(self, ws: Worksheet, column: int, value, number_format: str | None = None) -> None:
        value = cell_value(value)
        if value is None:
            return
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            # the digits plus whatever the format adds ("$", " kWh", " t"), with room for a bold total
            literal = (number_format or "").replace('"', "").replace("#", "").replace("0", "").replace(",", "")
            text = f"{value:,.2f}" + literal.replace(".", "")
            pad = 4
        else:
            text, pad = str(value), 2
        widths = self.by_sheet.setdefault(ws.title, {})
        widths[column] = max(widths.get(column, 0), len(text) + pad)

    def apply(self, workbook: Workbook) -> None:
        for title, widths in self.by_sheet.items():
            ws = workbook[title]
            for column, width in widths.items():
                ws.column_dimensions[get_column_letter(column)].width = \
                    max(MIN_COLUMN_WIDTH, min(MAX_COLUMN_WIDTH, width))


class Writer:
    def __init__(self, workbook: Workbook):
        self.workbook = workbook
        self.widths = Widths()
        self.table_names: set[str] = set()

    def text(self, ws, row, column, value, font=None, number_format=None):
        cell = put(ws, row, column, value, number_format)
        if font is not None:
            cell.font = font
        if font is not TITLE_FONT and font is not SECTION_FONT:  # titles overflow into the empty cells beside
            self.widths.see(ws, column, value, number_format)
        return cell

    def formula(self, ws, row, column, formula, number_format=None, width_hint=None):
        cell = put_formula(ws, row, column, formula, number_format)
        self.widths.see(ws, column, width_hint, number_format)
        return cell

    def table(self, ws: Worksheet, frame: pd.DataFrame, top: int, name: str, formulas: dict | None = None,
              formats: dict | None = None, left: int = 1, excel_table: bool = True) -> Block:
        """Write `frame` with a bold header at row `top`; `formulas[column](block, row)` gives live cells."""
        formulas, formats = formulas or {}, formats or {}
        columns = list(frame.columns)
        numeric = frame.select_dtypes("number")
        block = Block(ws, top, top + 1, top + len(frame),
                      {c: get_column_letter(left + i) for i, c in enumerate(columns)},
                      {str(c): float(numeric[c].abs().sum()) for c in numeric.columns})
        for i, column in enumerate(columns):
            cell = self.text(ws, top, left + i, str(column), HEADER_FONT)
            cell.alignment = Alignment(horizontal="center")
        fmts = [formats.get(c, column_format(str(c))) for c in columns]
        for r, values in enumerate(frame.itertuples(index=False, name=None), start=block.first_row):
            for i, (column, value) in enumerate(zip(columns, values)):
                if column in formulas:
                    hint = value if value is not None else (FORMULA_WIDTH_HINT if fmts[i] == USD else None)
                    self.formula(ws, r, left + i, formulas[column](block, r), fmts[i], hint)
                else:
                    cell = self.text(ws, r, left + i, value, number_format=fmts[i])
                    if isinstance(value, str) and len(value) > MAX_COLUMN_WIDTH:  # long free text wraps
                        cell.alignment = Alignment(wrap_text=True, vertical="top")
        if frame.empty:
            self.text(ws, block.first_row, left, "(none)", Font(italic=True))
        elif excel_table:
            self._add_table(ws, name, f"{get_column_letter(left)}{top}:"
                                      f"{get_column_letter(left + len(columns) - 1)}{block.last_row}")
        return block

    def _add_table(self, ws: Worksheet, name: str, ref: str) -> None:
        unique, n = name, 1
        while unique.lower() in self.table_names:
            n += 1
            unique = f"{name}{n}"
        self.table_names.add(unique.lower())
        table = Table(displayName=unique, ref=ref)
        table.tableStyleInfo = TableStyleInfo(name=TABLE_STYLE, showRowStripes=True)
        ws.add_table(table)

    def total_row(self, block: Block, columns: list[str], label_column: str) -> int:
        """A `Total` row right under the block: =SUM of each listed column."""
        ws, row = block.sheet, block.last_row + 1 if block.rows > 0 else block.first_row + 1
        label = self.text(ws, row, col(block, label_column), "Total", HEADER_FONT)
        label.fill = TOTAL_FILL
        for column in columns:
            cell = self.formula(ws, row, col(block, column), f"=SUM({block.range(column)})",
                                column_format(column), block.sums.get(column))
            cell.font, cell.fill = HEADER_FONT, TOTAL_FILL
        return row


def col(block: Block, column: str) -> int:
    return column_index_from_string(block.letters[column])


def new_sheet(workbook: Workbook, title: str, freeze: str | None = "A2") -> Worksheet:
    ws = workbook.create_sheet(title)
    if freeze:
        ws.freeze_panes = freeze
    print_setup(ws, repeat_header=freeze == "A2")
    return ws


def print_setup(ws: Worksheet, repeat_header: bool = False) -> None:
    """Landscape, one page wide (as many pages down as needed), the header row repeated on every page of a long
    table, so the workbook prints as a readable pack."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.print_options.gridLines = False
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top = ws.page_margins.bottom = 0.5
    if repeat_header:
        ws.print_title_rows = "1:1"


def set_print_areas(workbook: Workbook) -> None:
    """Print exactly the used cells (and, on the Summary, the chart grid beside them)."""
    for ws in workbook.worksheets:
        last_column = ws.max_column
        last_row = ws.max_row
        for chart in ws._charts:  # anchored by a cell name ("I1") until the workbook is saved
            letters, row = coordinate_from_string(chart.anchor)
            last_column = max(last_column, column_index_from_string(letters) + CHART_COLUMNS - 1)
            last_row = max(last_row, row + CHART_ROWS - 1)
        ws.print_area = f"A1:{get_column_letter(last_column)}{last_row}"

