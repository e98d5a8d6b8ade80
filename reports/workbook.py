"""The plan as an Excel workbook for finance and procurement reviews (openpyxl).

Sheets: Summary (headline totals as live formulas on the Costs sheet, native charts), Purchases, Rentals, Fleet,
Placement, Unmet, Unfinished training, Costs (every $ total a live formula), Assumptions (inputs echoed with
their SHA-256). The numbers come from `reports.tables`, shared with the CSV writer. Text taken from the inputs
(workload, site and SKU names...) is always stored as a string, never as a formula.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.chart.series import SeriesLabel
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import column_index_from_string, get_column_letter, quote_sheetname
from openpyxl.utils.cell import coordinate_from_string
from openpyxl.worksheet.table import Table, TableStyleInfo
from openpyxl.worksheet.worksheet import Worksheet

from models.scenario import Scenario
from models.units import GRAMS_PER_TONNE, KWH_PER_MWH
from reports import tables as T
from reports.atomic import write_atomic
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


def _column_format(name: str) -> str | None:
    if name in COLUMN_FORMATS:
        return COLUMN_FORMATS[name]
    if name.endswith("_usd") or "_usd_per_" in name:
        return USD
    if name.endswith("_kw"):
        return KW
    return None


def _cell_value(value):
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
    value = _cell_value(value)
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


class _Widths:
    """Tracks the widest text per column so every sheet gets fitted column widths."""

    def __init__(self):
        self.by_sheet: dict[str, dict[int, int]] = {}

    def see(self, ws: Worksheet, column: int, value, number_format: str | None = None) -> None:
        value = _cell_value(value)
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


class _Writer:
    def __init__(self, workbook: Workbook):
        self.workbook = workbook
        self.widths = _Widths()
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
        fmts = [formats.get(c, _column_format(str(c))) for c in columns]
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
        label = self.text(ws, row, _col(block, label_column), "Total", HEADER_FONT)
        label.fill = TOTAL_FILL
        for column in columns:
            cell = self.formula(ws, row, _col(block, column), f"=SUM({block.range(column)})",
                                _column_format(column), block.sums.get(column))
            cell.font, cell.fill = HEADER_FONT, TOTAL_FILL
        return row


def _col(block: Block, column: str) -> int:
    return column_index_from_string(block.letters[column])


def _sheet(workbook: Workbook, title: str, freeze: str | None = "A2") -> Worksheet:
    ws = workbook.create_sheet(title)
    if freeze:
        ws.freeze_panes = freeze
    _print_setup(ws, repeat_header=freeze == "A2")
    return ws


def _print_setup(ws: Worksheet, repeat_header: bool = False) -> None:
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


def _set_print_areas(workbook: Workbook) -> None:
    """Print exactly the used cells (and, on the Summary, the chart grid beside them)."""
    for ws in workbook.worksheets:
        last_column = ws.max_column
        last_row = ws.max_row
        for chart in ws._charts:  # anchored by a cell name ("I1") until the workbook is saved
            letters, row = coordinate_from_string(chart.anchor)
            last_column = max(last_column, column_index_from_string(letters) + CHART_COLUMNS - 1)
            last_row = max(last_row, row + CHART_ROWS - 1)
        ws.print_area = f"A1:{get_column_letter(last_column)}{last_row}"


# --- sheets -------------------------------------------------------------------------------------------

@dataclass
class _UnitCosts:
    """Where the Unit costs sheet put each parameter, so every cost formula can look its unit cost up there."""

    parameters: dict[str, str]  # name -> absolute cell reference, with the sheet
    sku: Block
    site: Block

    def of_sku(self, column: str, sku_cell: str) -> str:
        return (f"INDEX({self.sku.range(column, sheet=True)},"
                f"MATCH({sku_cell},{self.sku.range('sku', sheet=True)},0))")

    def of_site(self, column: str, site_cell: str) -> str:
        return (f"INDEX({self.site.range(column, sheet=True)},"
                f"MATCH({site_cell},{self.site.range('site', sheet=True)},0))")

    def depreciation_mode(self) -> str:
        return f'{self.parameters["capex_mode"]}="depreciation"'

    def cash_mode(self) -> str:
        return f'{self.parameters["capex_mode"]}="cash"'


def _unit_costs_sheet(w: _Writer, tables: dict[str, pd.DataFrame]) -> _UnitCosts:
    """Every unit cost the cost lines multiply, in one place: change a price here and the chain recalculates
    (Purchases, Rentals, Fleet, Unmet, Unfinished training → Costs → Summary and Orders)."""
    ws = _sheet(w.workbook, SHEET_UNIT_COSTS, freeze=None)
    w.text(ws, 1, 1, "Unit costs: change a value here and every cost line recalculates", TITLE_FONT)
    w.text(ws, 3, 1, "Finance", SECTION_FONT)
    parameters = tables["unit_costs_parameters"]
    formats = {"discount_rate": FACTOR, "carbon_usd_per_t": USD, "unmet_usd_per_unit": USD,
               "unfinished_training_usd": USD, "hours_per_quarter": COUNT, "quarters_per_year": COUNT}
    block = w.table(ws, parameters, 4, "tblUnitParameters", excel_table=False)
    cells = {}
    for offset, name in enumerate(parameters["parameter"]):
        row = block.first_row + offset
        if name in formats:
            ws.cell(row=row, column=_col(block, "value")).number_format = formats[name]
        cells[name] = f"{quote_sheetname(SHEET_UNIT_COSTS)}!{block.cell('value', row)}"
    top = block.last_row + 3
    w.text(ws, top - 1, 1, "Per SKU (node = one catalog row; per node-quarter figures are formulas)", SECTION_FONT)
    sku_frame = tables["unit_costs_sku"]
    hours, per_year = cells["hours_per_quarter"], cells["quarters_per_year"]

    def per_node_quarter(expression):
        return lambda b, r: "=" + expression.format(**{c: f"{b.letters[c]}{r}" for c in b.letters}, hours=hours,
                                                    per_year=per_year)

    sku = w.table(ws, sku_frame, top, "tblUnitSku", formulas={
        "depreciation_usd_per_node_quarter": per_node_quarter("{price_usd}/({life_years}*{per_year})"),
        "maintenance_usd_per_node_quarter": per_node_quarter("{maint_frac_per_year}*{price_usd}/{per_year}"),
        "rent_usd_per_node_quarter": per_node_quarter(
            'IF({rent_usd_per_gpu_hour}="",0,{rent_usd_per_gpu_hour}*{gpus_per_node}*{hours})')})
    top = max(sku.last_row, sku.first_row) + 3
    w.text(ws, top - 1, 1, "Per site", SECTION_FONT)
    site = w.table(ws, tables["unit_costs_site"], top, "tblUnitSite")
    return _UnitCosts(cells, sku, site)


@dataclass
class _CostsLayout:
    block: Block
    total_row: int
    npv_row: int  # the objective's NPV (spend + penalties)
    npv_column: str
    npv_rows: dict[str, int]  # "spend", "penalty", "objective" -> row of that NPV


def _costs_sheet(w: _Writer, frame: pd.DataFrame, blocks: dict[str, Block], units: _UnitCosts) -> _CostsLayout:
    """One row per quarter; every cost line a SUMIFS over the sheet whose rows make it up."""
    ws = _sheet(w.workbook, SHEET_COSTS)
    purchases, rentals, fleet = blocks["purchases"], blocks["rentals"], blocks["fleet"]
    unmet, unfinished = blocks["unmet"], blocks["unfinished"]

    def sum_of(source: Block, column: str, by: str, condition: str | None = None):
        def formula(block, r):
            total = (f"SUMIFS({source.range(column, sheet=True)},{source.range(by, sheet=True)},"
                     f"{block.letters['quarter']}{r})")
            return f"=IF({condition},{total},0)" if condition else f"={total}"
        return formula

    def subtotal(lines):
        return lambda block, r: f"=SUM({block.letters[lines[0]]}{r}:{block.letters[lines[-1]]}{r})"

    formulas = {
        "energy_kwh": sum_of(fleet, "energy_kwh", "quarter"),
        "carbon_t": sum_of(fleet, "carbon_t", "quarter"),
        "capex_usd": sum_of(purchases, "capex_usd", "order_quarter", units.cash_mode()),
        "depreciation_usd": sum_of(fleet, "depreciation_usd", "quarter"),
        "rent_usd": sum_of(rentals, "rent_usd", "quarter"),
        "energy_usd": sum_of(fleet, "energy_usd", "quarter"),
        "maintenance_usd": sum_of(fleet, "maintenance_usd", "quarter"),
        "carbon_usd": lambda b, r: f"={b.letters['carbon_t']}{r}*{units.parameters['carbon_usd_per_t']}",
        "unmet_usd": sum_of(unmet, "unmet_usd", "quarter"),
        "unfinished_training_usd": sum_of(unfinished, "cost_usd", "deadline_quarter"),
        "spend_usd": subtotal(T.SPEND_LINES),
        "penalty_usd": subtotal(T.PENALTY_LINES),
        "total_usd": lambda b, r: f"={b.letters['spend_usd']}{r}+{b.letters['penalty_usd']}{r}",
        "discounted_usd": lambda b, r: f"={b.letters['total_usd']}{r}*{b.letters['discount_factor']}{r}",
    }
    block = w.table(ws, frame, 1, "tblCosts", formulas=formulas)
    summed = [c for c in T.COSTS_SHEET_COLUMNS if c not in ("quarter", "discount_factor")]
    total_row = w.total_row(block, summed, "quarter")
    npv_column = block.letters["discounted_usd"]
    npv_rows = {}
    for offset, (key, label, column) in enumerate((("spend", "Discounted spend (NPV)", "spend_usd"),
                                                   ("penalty", "Discounted shortfall penalties (NPV)",
                                                    "penalty_usd"),
                                                   ("objective", "Objective: spend + penalties (NPV)",
                                                    "total_usd"))):
        row = total_row + 2 + offset
        w.text(ws, row, 1, label, HEADER_FONT)
        npv = w.formula(ws, row, _col(block, "discounted_usd"),
                        f"=SUMPRODUCT({block.range(column)},{block.range('discount_factor')})", USD)
        npv.font = HEADER_FONT
        npv_rows[key] = row
    notes = ("Each cost line sums its sheet: capex (cash mode) from Purchases by order quarter; depreciation, "
             "energy, maintenance and carbon from Fleet; rent from Rentals; unmet demand from Unmet; unfinished "
             "training from Unfinished training by deadline. Unit costs live on the Unit costs sheet.",
             "spend_usd = capex..carbon (what the fleet costs); penalty_usd = unmet demand + unfinished training "
             "(what leaving work undone is assumed to cost); total_usd = spend_usd + penalty_usd; "
             "discounted_usd = total_usd × discount_factor, discount_factor = (1 + discount_rate)^(−quarter "
             "index / 4).")
    for offset, text in enumerate(notes):
        put(ws, npv_rows["objective"] + 1 + offset, 1, text).font = Font(italic=True)
    return _CostsLayout(block, total_row, npv_rows["objective"], npv_column, npv_rows)


def _purchases_sheet(w: _Writer, frame: pd.DataFrame, units: _UnitCosts) -> Block:
    """Orders priced from Unit costs: capex = nodes × price; what the horizon charges; the book value left."""
    ws = _sheet(w.workbook, SHEET_PURCHASES)

    def f(expression):
        return lambda b, r: "=" + expression.format(**{c: f"{b.letters[c]}{r}" for c in b.letters})

    formulas = {
        "unit_price_usd": lambda b, r: "=" + units.of_sku("price_usd", f"{b.letters['sku']}{r}"),
        "capex_usd": f("{nodes}*{unit_price_usd}"),
        "depreciation_usd_per_quarter": lambda b, r: (
            f"={b.letters['nodes']}{r}*" + units.of_sku("depreciation_usd_per_node_quarter", f"{b.letters['sku']}{r}")),
        "charged_in_horizon_usd": lambda b, r: (
            f"=IF({units.cash_mode()},{b.letters['capex_usd']}{r},"
            f"{b.letters['depreciation_usd_per_quarter']}{r}*{b.letters['quarters_charged']}{r})"),
        "book_value_end_usd": f("{capex_usd}-{charged_in_horizon_usd}"),
    }
    block = w.table(ws, frame, 1, "tblPurchases", formulas=formulas)
    w.total_row(block, ["nodes", "gpus", "capex_usd", "charged_in_horizon_usd", "book_value_end_usd"],
                "order_quarter")
    put(ws, block.last_row + 3, 1, "quarters_charged: quarters in service inside the horizon. charged_in_horizon_usd: "
        "what the plan's cost lines charge for the order (depreciation mode: depreciation × quarters_charged; cash "
        "mode: the price). book_value_end_usd = capex_usd − charged_in_horizon_usd.").font = Font(italic=True)
    return block


def _rentals_sheet(w: _Writer, frame: pd.DataFrame, units: _UnitCosts) -> Block:
    ws = _sheet(w.workbook, SHEET_RENTALS)
    block = w.table(ws, frame, 1, "tblRentals", formulas={
        "rent_usd_per_node": lambda b, r: "=" + units.of_sku("rent_usd_per_node_quarter", f"{b.letters['sku']}{r}"),
        "rent_usd": lambda b, r: f"={b.letters['nodes']}{r}*{b.letters['rent_usd_per_node']}{r}"})
    w.total_row(block, ["nodes", "gpus", "rent_usd"], "quarter")
    return block


def _fleet_sheet(w: _Writer, frame: pd.DataFrame, units: _UnitCosts) -> Block:
    """Nodes in service with each row's energy, carbon, depreciation and maintenance as formulas on Unit costs."""
    ws = _sheet(w.workbook, SHEET_FLEET)
    owned = f'="{T.OWNED}"'

    def cell(b, column, r):
        return f"{b.letters[column]}{r}"

    formulas = {
        "energy_kwh": lambda b, r: (f"={cell(b, 'it_kw', r)}*{units.of_site('pue', cell(b, 'site', r))}"
                                    f"*{units.parameters['hours_per_quarter']}"),
        "energy_usd": lambda b, r: (f"=IF({cell(b, 'site_kind', r)}{owned},{cell(b, 'energy_kwh', r)}*"
                                    f"{units.of_site('usd_per_kwh', cell(b, 'site', r))},0)"),
        "carbon_t": lambda b, r: (f"={cell(b, 'energy_kwh', r)}*{units.of_site('gco2_per_kwh', cell(b, 'site', r))}"
                                  f"/{GRAMS_PER_TONNE:.0f}"),
        "depreciation_usd": lambda b, r: (
            f"=IF(AND({units.depreciation_mode()},{cell(b, 'site_kind', r)}{owned}),{cell(b, 'nodes', r)}*"
            f"{units.of_sku('depreciation_usd_per_node_quarter', cell(b, 'sku', r))},0)"),
        "existing_depreciation_usd": lambda b, r: (
            f"=IF({units.depreciation_mode()},{cell(b, 'existing_nodes', r)}*"
            f"{units.of_sku('depreciation_usd_per_node_quarter', cell(b, 'sku', r))},0)"),
        "maintenance_usd": lambda b, r: (
            f"=IF({cell(b, 'site_kind', r)}{owned},{cell(b, 'nodes', r)}*"
            f"{units.of_sku('maintenance_usd_per_node_quarter', cell(b, 'sku', r))},0)"),
    }
    block = w.table(ws, frame, 1, "tblFleet", formulas=formulas)
    w.total_row(block, ["energy_kwh", "energy_usd", "carbon_t", "depreciation_usd", "existing_depreciation_usd",
                        "maintenance_usd"], "quarter")
    put(ws, block.last_row + 3, 1, "existing_nodes: the already-owned fleet (sunk; its depreciation is "
        "existing_depreciation_usd). headroom_pct is at full load (Σ node_kw × nodes × pue, the power cap's own "
        "measure); it_kw and facility_kw are at the plan's utilisation (what the energy bill pays for)."
        ).font = Font(italic=True)
    return block


def _unmet_sheet(w: _Writer, frame: pd.DataFrame, units: _UnitCosts) -> Block:
    ws = _sheet(w.workbook, SHEET_UNMET)
    block = w.table(ws, frame, 1, "tblUnmet", formulas={
        "unmet_usd": lambda b, r: f"={b.letters['unmet_tokens_per_s']}{r}*{units.parameters['unmet_usd_per_unit']}"})
    w.total_row(block, ["unmet_tokens_per_s", "unmet_usd"], "quarter")
    return block


def _unfinished_sheet(w: _Writer, frame: pd.DataFrame, units: _UnitCosts) -> Block:
    ws = _sheet(w.workbook, SHEET_UNFINISHED)
    block = w.table(ws, frame, 1, "tblUnfinished", formulas={
        "cost_usd": lambda b, r: f"={b.letters['fraction_left']}{r}*{units.parameters['unfinished_training_usd']}"})
    w.total_row(block, ["cost_usd"], "workload")
    return block


def _orders_sheet(w: _Writer, plan: dict, purchases: Block, fleet: Block, costs: _CostsLayout) -> None:
    """The executive table (what to buy, where, when, delivered when, cash by year), then the cash view (capex
    committed by order quarter and year) beside the P&L view (depreciation charged, new orders vs the sunk fleet)."""
    ws = _sheet(w.workbook, SHEET_ORDERS)
    quarters = list(plan["horizon"]["quarters"])
    years = list(dict.fromkeys(q[:4] for q in quarters))
    n = purchases.rows
    frame = pd.DataFrame({"order_quarter": [None] * n, "sku": None, "site": None, "nodes": None,
                          "delivered_quarter": None, "capex_usd": None, "book_value_end_usd": None,
                          **{f"cash_{year}_usd": None for year in years}})

    def same_row(column):
        sheet = quote_sheetname(SHEET_PURCHASES)
        return lambda b, r: f"={sheet}!{purchases.letters[column]}{purchases.first_row + r - b.first_row}"

    def cash_in(year):
        return lambda b, r: f'=IF(LEFT({b.letters["order_quarter"]}{r},4)="{year}",{b.letters["capex_usd"]}{r},0)'

    formulas = {"order_quarter": same_row("order_quarter"), "sku": same_row("sku"), "site": same_row("site"),
                "nodes": same_row("nodes"), "delivered_quarter": same_row("in_service_quarter"),
                "capex_usd": same_row("capex_usd"), "book_value_end_usd": same_row("book_value_end_usd"),
                **{f"cash_{year}_usd": cash_in(year) for year in years}}
    widths = {"order_quarter": "2027Q1", "sku": "x" * 14, "site": "x" * 10, "nodes": 1e4, "delivered_quarter": "2027Q1"}
    block = w.table(ws, frame.astype(object), 1, "tblOrders", formulas=formulas)
    for column, hint in widths.items():
        w.widths.see(ws, _col(block, column), hint)
    w.total_row(block, ["nodes", "capex_usd", "book_value_end_usd", *(f"cash_{y}_usd" for y in years)],
                "order_quarter")

    top = max(block.last_row, block.first_row) + 4
    w.text(ws, top - 1, 1, "Cash (capex committed when ordered) beside P&L (depreciation charged) by quarter",
           SECTION_FONT)
    by_quarter = pd.DataFrame({"quarter": quarters, "capex_committed_usd": None, "depreciation_usd": None,
                               "new_orders_depreciation_usd": None, "existing_fleet_depreciation_usd": None})
    cb = costs.block
    costs_row = {q: cb.first_row + i for i, q in enumerate(quarters)}

    def by_quarter_formula(column):
        def formula(b, r):
            q = f"{b.letters['quarter']}{r}"
            if column == "capex_committed_usd":
                return (f"=SUMIFS({purchases.range('capex_usd', sheet=True)},"
                        f"{purchases.range('order_quarter', sheet=True)},{q})")
            if column == "depreciation_usd":
                costs_cell = f"{cb.letters['depreciation_usd']}{costs_row[quarters[r - b.first_row]]}"
                return f"={quote_sheetname(SHEET_COSTS)}!{costs_cell}"
            if column == "existing_fleet_depreciation_usd":
                return (f"=SUMIFS({fleet.range('existing_depreciation_usd', sheet=True)},"
                        f"{fleet.range('quarter', sheet=True)},{q})")
            return f"={b.letters['depreciation_usd']}{r}-{b.letters['existing_fleet_depreciation_usd']}{r}"
        return formula

    money = [c for c in by_quarter.columns if c != "quarter"]
    quarter_block = w.table(ws, by_quarter, top, "tblCashPnlByQuarter",
                            formulas={c: by_quarter_formula(c) for c in money})
    w.total_row(quarter_block, money, "quarter")

    top = quarter_block.last_row + 5
    w.text(ws, top - 1, 1, "Cash and P&L by year", SECTION_FONT)
    by_year = pd.DataFrame({"year": years, **{c: None for c in money}})

    def yearly(column):
        return lambda b, r: (f'=SUMPRODUCT((LEFT({quarter_block.range("quarter")},4)={b.letters["year"]}{r})*'
                             f'{quarter_block.range(column)})')

    year_block = w.table(ws, by_year, top, "tblCashPnlByYear", formulas={c: yearly(c) for c in money})
    w.total_row(year_block, money, "year")
    put(ws, year_block.last_row + 3, 1, "Cash: the purchase price in the quarter the order is placed (how budgets "
        "count it). P&L: depreciation charged per quarter (depreciation mode; zero in cash mode), split into new "
        "orders (this plan's decisions) and the existing fleet (sunk). Book value left at the end is on Purchases."
        ).font = Font(italic=True)


def _simple_sheet(w: _Writer, title: str, frame: pd.DataFrame, name: str, totals: list[str] | None = None,
                  label: str | None = None) -> Block:
    ws = _sheet(w.workbook, title)
    block = w.table(ws, frame, 1, name)
    if totals:
        w.total_row(block, totals, label or frame.columns[0])
    return block


def _why_sheet(w: _Writer, tables: dict[str, pd.DataFrame], plan: dict) -> None:
    """Why each order is made (the workloads its pool serves) and what one more unit of each cap is worth."""
    ws = _sheet(w.workbook, SHEET_WHY)
    orders = w.table(ws, tables["why_orders"], 1, "tblWhyOrders")
    top = orders.last_row + 3
    method = (plan.get("duals") or {}).get("method", "")
    w.text(ws, top, 1, f"Shadow prices ({method})", HEADER_FONT)
    w.table(ws, tables["why_shadow_prices"], top + 1, "tblShadowPrices")


def _assumptions_sheet(w: _Writer, tables: dict[str, pd.DataFrame]) -> None:
    ws = _sheet(w.workbook, SHEET_ASSUMPTIONS, freeze=None)
    row = 1
    w.text(ws, row, 1, "Assumptions: the scenario parameters and every input table, as used for this plan",
           TITLE_FONT)
    row += 2
    sections = [("Scenario parameters", "assumptions_parameters", "tblParameters"),
                ("Input files (SHA-256 recorded in the plan, and now)", "assumptions_input_files",
                 "tblInputFiles"),
                ("Catalog", "assumptions_catalog", "tblCatalog"), ("Sites", "assumptions_sites", "tblSites"),
                ("Existing fleet", "assumptions_fleet", "tblExistingFleet"),
                ("Workloads", "assumptions_workloads", "tblWorkloads"),
                ("Demand (tokens/s)", "assumptions_demand", "tblDemand"),
                ("Throughput (tokens/s per node)", "assumptions_throughput", "tblThroughput")]
    for title, key, name in sections:
        w.text(ws, row, 1, title, SECTION_FONT)
        frame = tables[key]
        formats = {c: None for c in frame.columns}  # inputs shown as given
        block = w.table(ws, frame, row + 1, name, formats=formats)
        row = max(block.last_row, block.first_row) + 3


def _summary_sheet(w: _Writer, plan: dict, tables: dict[str, pd.DataFrame], costs: _CostsLayout,
                   blocks: dict[str, Block]) -> None:
    ws = w.workbook[SHEET_SUMMARY]
    summary = tables["summary"].set_index("metric")["value"]
    quarters = list(plan["horizon"]["quarters"])
    gpus, power_wide = tables["gpus_by_sku"], _power_wide(tables["site_power"], quarters)
    penalties = bool((tables["costs"]["penalty_usd"].abs() > 0).any())
    baselines = tables["baselines"]
    n_charts = 1 + penalties + (len(gpus) > 0 and len(gpus.columns) > 1) + (len(power_wide.columns) - 1) // len(
        POWER_SERIES) + (not baselines.empty)
    charts_end_row = 1 + math.ceil(n_charts / 2) * CHART_ROWS  # the chart grid sits right of the headline ...
    row = 1
    w.text(ws, row, 1, f"Capacity plan: {plan['scenario']}", TITLE_FONT)
    row = _problems(w, ws, tables["warnings"], 3, SUMMARY_CHART_COLUMN - 1) + 1
    gap = plan.get("gap")
    facts = [("Scenario", plan["scenario"], None), ("Horizon", summary["horizon"], None),
             ("Solver status", plan["status"], None), ("Solver", plan["solver"], None),
             ("Optimality gap", gap if gap is not None else "n/a", "0.000%"),
             ("Solve time (s)", plan.get("solve_seconds"), "0.0"),
             ("Capex mode", summary["capex_mode"], None), ("Tool version", plan.get("tool_version"), None)]
    for label, value, fmt in facts:
        w.text(ws, row, 1, label, HEADER_FONT)
        w.text(ws, row, 2, value, number_format=fmt)
        row += 1

    row += 1
    w.text(ws, row, 1, "Headline totals (live formulas on the Costs sheet)", SECTION_FONT)
    row += 1
    cb, total_row = costs.block, costs.total_row
    unmet, placement, fleet, purchases = (blocks[k] for k in ("unmet", "placement", "fleet", "purchases"))
    npv = {key: f"={quote_sheetname(SHEET_COSTS)}!${costs.npv_column}${row}" for key, row in costs.npv_rows.items()}
    headline = [
        ("Discounted spend (NPV)", npv["spend"], USD),
        ("Discounted shortfall penalties (NPV)", npv["penalty"], USD),
        ("Objective: spend + penalties (NPV)", npv["objective"], USD),
        ("Undiscounted spend", f"={cb.cell('spend_usd', total_row, sheet=True)}", USD),
        ("Undiscounted shortfall penalties", f"={cb.cell('penalty_usd', total_row, sheet=True)}", USD),
        ("Undiscounted total", f"={cb.cell('total_usd', total_row, sheet=True)}", USD),
        ("Capex charged (cash mode)", f"={cb.cell('capex_usd', total_row, sheet=True)}", USD),
        ("Purchases ordered (price × nodes)", f"=SUM({purchases.range('capex_usd', sheet=True)})", USD),
        ("Depreciation", f"={cb.cell('depreciation_usd', total_row, sheet=True)}", USD),
        ("  of which the existing fleet (sunk)", f"=SUM({fleet.range('existing_depreciation_usd', sheet=True)})",
         USD),
        ("  of which new orders (this plan's decisions)",
         f"={cb.cell('depreciation_usd', total_row, sheet=True)}"
         f"-SUM({fleet.range('existing_depreciation_usd', sheet=True)})", USD),
        ("Book value of new orders left at the end", f"=SUM({purchases.range('book_value_end_usd', sheet=True)})",
         USD),
        ("Rent", f"={cb.cell('rent_usd', total_row, sheet=True)}", USD),
        ("Energy", f"={cb.cell('energy_kwh', total_row, sheet=True)}/{KWH_PER_MWH:g}", MWH),
        ("Energy cost", f"={cb.cell('energy_usd', total_row, sheet=True)}", USD),
        ("Maintenance", f"={cb.cell('maintenance_usd', total_row, sheet=True)}", USD),
        ("Carbon", f"={cb.cell('carbon_t', total_row, sheet=True)}", TONNES),
        ("Carbon cost", f"={cb.cell('carbon_usd', total_row, sheet=True)}", USD),
        ("Unmet demand (tokens/s × quarters)", f"=SUM({unmet.range('unmet_tokens_per_s', sheet=True)})",
         TOKENS),
        ("Unmet demand cost", f"={cb.cell('unmet_usd', total_row, sheet=True)}", USD),
        ("Unfinished training cost", f"={cb.cell('unfinished_training_usd', total_row, sheet=True)}", USD),
        ("Average utilisation of owned nodes",
         f"=IFERROR(SUMIFS({placement.range('node_equivalents', sheet=True)},"
         f"{placement.range('site_kind', sheet=True)},\"{T.OWNED}\")/"
         f"SUMIFS({fleet.range('nodes', sheet=True)},{fleet.range('site_kind', sheet=True)},\"{T.OWNED}\"),0)",
         PERCENT),
    ]
    for label, formula, fmt in headline:
        w.text(ws, row, 1, label, HEADER_FONT)
        w.formula(ws, row, 2, formula, fmt, FORMULA_WIDTH_HINT)
        row += 1

    row += 1
    w.text(ws, row, 1, f"GPUs in service at the end ({quarters[-1] if quarters else 'n/a'})", SECTION_FONT)
    row += 1
    last = gpus.drop(columns="quarter").iloc[-1] if len(gpus) else pd.Series(dtype=float)
    end_frame = pd.DataFrame({"sku": list(last.index), "gpus": list(last.to_numpy())})
    end_block = w.table(ws, end_frame, row, "tblGpusAtEnd", excel_table=False)
    row = w.total_row(end_block, ["gpus"], "sku") + 2

    row = max(row, charts_end_row + 1)  # ... and the wide chart data below both, never under a chart
    baseline_block = None
    if not baselines.empty:
        row, baseline_block = _baselines_section(w, ws, baselines, npv["objective"], row)
    w.text(ws, row, 1, "GPUs in service by SKU (chart data)", SECTION_FONT)
    row += 1
    gpu_block = w.table(ws, gpus, row, "tblGpusBySku", formats={c: COUNT for c in gpus.columns if c != "quarter"},
                        excel_table=False)
    row = max(gpu_block.last_row, gpu_block.first_row) + 2

    w.text(ws, row, 1, "Facility power at owned sites, kW: at full load (what the cap limits) and at the plan's "
                       "utilisation (what is paid for) (chart data)", SECTION_FONT)
    row += 1
    power_block = w.table(ws, power_wide, row, "tblSitePower", formats={c: KW for c in power_wide.columns},
                          excel_table=False)

    _summary_charts(ws, costs.block, gpu_block, power_block, len(gpus.columns), len(power_wide.columns), penalties,
                    SUMMARY_CHART_COLUMN, baseline_block)


def _baselines_section(w: _Writer, ws: Worksheet, baselines: pd.DataFrame, objective_formula: str,
                       row: int) -> tuple[int, Block]:
    """This plan beside each baseline (README, Baselines): this plan's objective is the Costs sheet's NPV, and
    the savings are live formulas against it; returns the next free row and the table's block."""
    w.text(ws, row, 1, "Baselines: procurement without the optimiser, priced alike (saving = baseline − this plan)",
           SECTION_FONT)

    def saving(block: Block, r: int) -> str:
        if r == block.first_row or pd.isna(baselines["objective_usd"].iloc[r - block.first_row]):
            return '=""'
        return f"={block.cell('objective_usd', r)}-{block.cell('objective_usd', block.first_row)}"

    def saving_pct(block: Block, r: int) -> str:
        if r == block.first_row or pd.isna(baselines["objective_usd"].iloc[r - block.first_row]):
            return '=""'
        return f"=IFERROR({block.cell('saving_usd', r)}/{block.cell('objective_usd', r)},\"\")"

    block = w.table(ws, baselines, row + 1, "tblBaselines", excel_table=False,
                    formulas={"saving_usd": saving, "saving_pct": saving_pct},
                    formats={"objective_usd": USD_MILLIONS, "saving_usd": USD_MILLIONS, "saving_pct": PERCENT})
    w.formula(ws, block.first_row, _col(block, "objective_usd"), objective_formula, USD_MILLIONS,
              FORMULA_WIDTH_HINT)
    return block.last_row + 2, block


SUMMARY_CHART_COLUMN = 4  # charts from column D: right of the labels (A), values (B) and a gap (C)
SUMMARY_LABEL_WIDTH = 44


def _fix_summary_widths(ws: Worksheet) -> None:
    """Labels in A, values in B, then the chart grid at a fixed width (a chart's size is in cm, its anchor in
    cells: columns of another width would make charts overlap or leave gaps)."""
    ws.column_dimensions["A"].width = SUMMARY_LABEL_WIDTH
    ws.column_dimensions["B"].width = max(ws.column_dimensions["B"].width or 0, 20)
    ws.column_dimensions["C"].width = CHART_COLUMN_WIDTH
    for offset in range(2 * CHART_COLUMNS):
        ws.column_dimensions[get_column_letter(SUMMARY_CHART_COLUMN + offset)].width = CHART_COLUMN_WIDTH


POWER_SERIES = (("full_load_facility_kw", "full load kW"), ("facility_kw", "at plan utilisation kW"),
                ("site_cap_kw", "cap kW"))
CHARS_PER_WIDTH_UNIT = 1.1  # a wrapped line holds about this many characters per unit of column width


def _power_wide(power: pd.DataFrame, quarters: list[str]) -> pd.DataFrame:
    """One row per quarter; per owned site its facility kW at full load, at the plan's utilisation, and its cap."""
    wide = pd.DataFrame({"quarter": quarters})
    for site in dict.fromkeys(power["site"]):
        one = power[power["site"] == site].set_index("quarter").reindex(quarters)
        for column, label in POWER_SERIES:
            wide[f"{site} {label}"] = one[column].to_numpy()
    return wide


def _problems(w: _Writer, ws: Worksheet, warnings: pd.DataFrame, row: int, last_column: int) -> int:
    """The plan's warnings at the top of the Summary, each wrapped across columns A..last_column; returns the row
    after the last one."""
    red = Font(bold=True, color="C00000")
    if warnings.empty:
        w.text(ws, row, 1, "No shortfall: every training run finishes by its deadline and all demand is served.",
               SECTION_FONT)
        return row + 1
    w.text(ws, row, 1, f"Problems in this plan ({len(warnings)}): work left undone", Font(bold=True, size=12,
                                                                                          color="C00000"))
    width = SUMMARY_LABEL_WIDTH + CHART_COLUMN_WIDTH * max(last_column - 1, 0)
    for message in warnings["message"]:
        row += 1
        cell = put(ws, row, 1, message)
        cell.font, cell.alignment = red, Alignment(wrap_text=True, vertical="top")
        if last_column > 1:
            ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=last_column)
        ws.row_dimensions[row].height = 15 * math.ceil(len(message) / (width * CHARS_PER_WIDTH_UNIT))
    return row + 1


def _summary_charts(ws: Worksheet, costs: Block, gpus: Block, power: Block, gpu_columns: int,
                    power_columns: int, penalties: bool, first_column: int, baselines: Block | None = None) -> None:
    """Spend, shortfall penalties (when there are any: never stacked on spend), GPUs and one power-vs-cap chart
    per owned site, in a two-wide grid right of the chart data; then this plan against the baselines."""
    charts = [_spend_chart(costs)]
    if penalties:
        charts.append(_penalty_chart(costs))
    if gpus.rows > 0 and gpu_columns > 1:
        charts.append(_gpu_chart(ws, gpus, gpu_columns))
    if power.rows > 0:
        headers = [ws.cell(row=power.header_row, column=c).value for c in range(2, power_columns + 1)]
        per_site = len(POWER_SERIES)
        charts += [_power_chart(ws, power, 2 + offset, headers[offset].removesuffix(f" {POWER_SERIES[0][1]}"))
                   for offset in range(0, len(headers), per_site)]
    if baselines is not None:
        charts.append(_baselines_chart(ws, baselines))
    for index, chart in enumerate(charts):
        row, column = divmod(index, 2)
        chart.width, chart.height = CHART_WIDTH_CM, CHART_HEIGHT_CM
        chart.legend.position = "b"
        chart.x_axis.delete = chart.y_axis.delete = False
        chart.y_axis.scaling.min = 0  # costs, GPUs and kW are never negative (solver noise is ~1e-8)
        anchor = f"{get_column_letter(first_column + column * CHART_COLUMNS)}{1 + row * CHART_ROWS}"
        ws.add_chart(chart, anchor)


def _spend_chart(costs: Block) -> BarChart:
    return _cost_lines_chart(costs, T.SPEND_LINES, "Spend by quarter (undiscounted; shortfall penalties apart)")


def _penalty_chart(costs: Block) -> BarChart:
    return _cost_lines_chart(costs, T.PENALTY_LINES, "Shortfall penalties by quarter (undiscounted; not spend)")


def _cost_lines_chart(costs: Block, lines: tuple[str, ...], title: str) -> BarChart:
    chart = BarChart()
    chart.type, chart.grouping, chart.overlap = "col", "stacked", 100
    chart.title = title
    chart.y_axis.title, chart.x_axis.title = "USD", "quarter"
    chart.y_axis.number_format = '"$"#,##0'
    n_quarters = max(costs.rows, 1)
    for component in lines:
        column = _col(costs, component)
        chart.add_data(Reference(costs.sheet, min_col=column, min_row=costs.first_row,
                                 max_row=costs.first_row + n_quarters - 1), titles_from_data=False)
        chart.series[-1].tx = SeriesLabel(v=SPEND_LABELS[component])
    chart.set_categories(Reference(costs.sheet, min_col=1, min_row=costs.first_row,
                                   max_row=costs.first_row + n_quarters - 1))
    return chart


def _baselines_chart(ws: Worksheet, baselines: Block) -> BarChart:
    """Discounted TCO of this plan and of each baseline, side by side."""
    chart = BarChart()
    chart.type = "col"
    chart.title = "Discounted TCO: this plan vs baselines"
    chart.y_axis.title, chart.x_axis.title = "USD (NPV)", "plan"
    chart.y_axis.number_format = '"$"#,##0'
    column = _col(baselines, "objective_usd")
    chart.add_data(Reference(ws, min_col=column, min_row=baselines.first_row, max_row=baselines.last_row),
                   titles_from_data=False)
    chart.series[-1].tx = SeriesLabel(v="discounted TCO")
    chart.set_categories(Reference(ws, min_col=_col(baselines, "plan"), min_row=baselines.first_row,
                                   max_row=baselines.last_row))
    return chart


def _gpu_chart(ws: Worksheet, gpus: Block, gpu_columns: int) -> BarChart:
    chart = BarChart()
    chart.type, chart.grouping, chart.overlap = "col", "stacked", 100
    chart.title = "GPUs in service by SKU"
    chart.y_axis.title, chart.x_axis.title = "GPUs", "quarter"
    chart.y_axis.number_format = "#,##0"
    chart.add_data(Reference(ws, min_col=2, max_col=gpu_columns, min_row=gpus.header_row,
                             max_row=gpus.last_row), titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=gpus.first_row, max_row=gpus.last_row))
    return chart


def _power_chart(ws: Worksheet, power: Block, column: int, site: str) -> LineChart:
    """Full load (the cap's own definition: Σ node_kw × nodes × pue), the plan's utilisation, and the cap."""
    chart = LineChart()
    chart.title = f"Facility power at full load vs cap: {site}"
    chart.y_axis.title, chart.x_axis.title = "kW", "quarter"
    chart.y_axis.number_format = "#,##0"
    chart.add_data(Reference(ws, min_col=column, max_col=column + len(POWER_SERIES) - 1, min_row=power.header_row,
                             max_row=power.last_row), titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=power.first_row, max_row=power.last_row))
    for series in chart.series:
        series.smooth = False  # a straight line between quarters: no invented overshoot above the cap
    chart.series[1].graphicalProperties.line.dashStyle = "sysDot"
    chart.series[1].graphicalProperties.line.solidFill = "7F7F7F"
    chart.series[2].graphicalProperties.line.dashStyle = "dash"
    chart.series[2].graphicalProperties.line.solidFill = "C00000"
    return chart


# --- entry point --------------------------------------------------------------------------------------

def build_workbook(plan: dict, scenario: Scenario, risk: dict | None = None) -> Workbook:
    """The workbook in memory (nothing written): the sheets in `SHEETS` order, the risk sheets (if given) just
    before Assumptions, which prints last."""
    tables = T.build_tables(plan, scenario)
    workbook = Workbook()
    workbook.active.title = SHEET_SUMMARY
    summary_ws = workbook.active
    _print_setup(summary_ws)
    w = _Writer(workbook)
    units = _unit_costs_sheet(w, tables)
    blocks = {
        "purchases": _purchases_sheet(w, tables["purchases"], units),
        "rentals": _rentals_sheet(w, tables["rentals"], units),
        "fleet": _fleet_sheet(w, tables["fleet"], units),
        "placement": _simple_sheet(w, SHEET_PLACEMENT, tables["placement"], "tblPlacement"),
        "unmet": _unmet_sheet(w, tables["unmet"], units),
        "unfinished": _unfinished_sheet(w, tables["unfinished_training"], units),
    }
    costs = _costs_sheet(w, tables["costs"], blocks, units)
    _orders_sheet(w, plan, blocks["purchases"], blocks["fleet"], costs)
    _why_sheet(w, tables, plan)
    _assumptions_sheet(w, tables)
    _summary_sheet(w, plan, tables, costs, blocks)
    w.widths.apply(workbook)
    _fix_summary_widths(summary_ws)
    if risk is not None:
        from reports.risk_sheets import add_risk_sheets

        add_risk_sheets(workbook, risk)
    _set_print_areas(workbook)
    order = [*SHEETS[:-1], *RISK_SHEETS, SHEETS[-1]]
    workbook._sheets.sort(key=lambda ws: order.index(ws.title) if ws.title in order else len(order) - 1)
    workbook.active = 0
    return workbook


def write_workbook(path: str | Path, plan: dict, scenario: Scenario, risk: dict | None = None) -> Path:
    """Write the plan's workbook to `path` atomically (a failure leaves any previous file untouched)."""
    workbook = build_workbook(plan, scenario, risk)
    return write_atomic(path, lambda tmp: workbook.save(tmp))
