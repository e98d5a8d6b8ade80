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
from openpyxl.worksheet.table import Table, TableStyleInfo
from openpyxl.worksheet.worksheet import Worksheet

from reports import tables as T
from reports.atomic import write_atomic
from reports.cells import FORMULA_LEADS  # the one rule for text that looks like a formula (OWASP)

USD = '"$"#,##0.00'
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
SHEET_WHY = "Why"
SHEETS = (SHEET_SUMMARY, SHEET_PURCHASES, SHEET_RENTALS, SHEET_FLEET, SHEET_PLACEMENT, SHEET_UNMET,
          SHEET_UNFINISHED, SHEET_COSTS, SHEET_WHY, SHEET_ASSUMPTIONS)

COLUMN_FORMATS = {
    "nodes": COUNT, "gpus": COUNT, "pool_nodes": COUNT, "node_equivalents": DECIMAL,
    "energy_kwh": KWH, "carbon_t": TONNES, "discount_factor": FACTOR,
    "tokens_per_s": TOKENS, "demand_tokens_per_s": TOKENS, "unmet_tokens_per_s": TOKENS,
    "utilisation": PERCENT, "headroom_pct": PERCENT, "fraction_left": PERCENT,
}


def _column_format(name: str) -> str | None:
    if name in COLUMN_FORMATS:
        return COLUMN_FORMATS[name]
    if name.endswith("_usd") or name.endswith("_usd_per_node"):
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
        if font is not TITLE_FONT:
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
                    self.formula(ws, r, left + i, formulas[column](block, r), fmts[i], value)
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


def _sheet(workbook: Workbook, title: str, freeze: str | None = "A2", fit_width: bool = True) -> Worksheet:
    ws = workbook.create_sheet(title)
    if freeze:
        ws.freeze_panes = freeze
    _print_setup(ws, fit_width)
    return ws


def _print_setup(ws: Worksheet, fit_width: bool = True) -> None:
    """Landscape; one page wide where the sheet is narrow enough to stay legible when printed."""
    ws.page_setup.orientation = "landscape"
    if fit_width:
        ws.sheet_properties.pageSetUpPr.fitToPage = True
        ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0


# --- sheets -------------------------------------------------------------------------------------------

@dataclass
class _CostsLayout:
    block: Block
    total_row: int
    npv_row: int
    npv_column: str


def _costs_sheet(w: _Writer, frame: pd.DataFrame) -> _CostsLayout:
    ws = _sheet(w.workbook, SHEET_COSTS)
    first_usd, last_usd = T.USD_COMPONENTS[0], T.USD_COMPONENTS[-1]

    def total(block, r):
        return f"=SUM({block.letters[first_usd]}{r}:{block.letters[last_usd]}{r})"

    def discounted(block, r):
        return f"={block.letters['total_usd']}{r}*{block.letters['discount_factor']}{r}"

    block = w.table(ws, frame, 1, "tblCosts", formulas={"total_usd": total, "discounted_usd": discounted})
    summed = [c for c in T.COSTS_COLUMNS if c not in ("quarter", "discount_factor")]
    total_row = w.total_row(block, summed, "quarter")
    npv_row = total_row + 2
    w.text(ws, npv_row, 1, "NPV (discounted TCO)", HEADER_FONT)
    npv = w.formula(ws, npv_row, _col(block, "discounted_usd"),
                    f"=SUMPRODUCT({block.range('total_usd')},{block.range('discount_factor')})", USD)
    npv.font = HEADER_FONT
    note = put(ws, npv_row + 1, 1, "total_usd is the sum of the $ columns capex_usd..unfinished_training_usd; "
                                   "discounted_usd = total_usd × discount_factor, "
                                   "discount_factor = (1 + discount_rate)^(−quarter index / 4).")
    note.font = Font(italic=True)
    return _CostsLayout(block, total_row, npv_row, block.letters["discounted_usd"])


def _priced_sheet(w: _Writer, title: str, frame: pd.DataFrame, name: str, price: str, amount: str,
                  label: str) -> Block:
    """Purchases and Rentals: the $ column is a live nodes × unit-price formula, with a total row."""
    ws = _sheet(w.workbook, title)

    def nodes_times_price(block, r):
        return f"={block.letters['nodes']}{r}*{block.letters[price]}{r}"

    block = w.table(ws, frame, 1, name, formulas={amount: nodes_times_price})
    w.total_row(block, ["nodes", "gpus", amount], label)
    return block


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
    ws = _sheet(w.workbook, SHEET_ASSUMPTIONS, freeze=None, fit_width=False)  # wide hashes, paths: print at 100 %
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
    row = 1
    w.text(ws, row, 1, f"Capacity plan: {plan['scenario']}", TITLE_FONT)
    row += 2
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
    headline = [
        ("Discounted TCO (NPV)", f"={quote_sheetname(SHEET_COSTS)}!${costs.npv_column}${costs.npv_row}", USD),
        ("Undiscounted total", f"={cb.cell('total_usd', total_row, sheet=True)}", USD),
        ("Capex charged (cash mode)", f"={cb.cell('capex_usd', total_row, sheet=True)}", USD),
        ("Purchases ordered (price × nodes)", f"=SUM({purchases.range('capex_usd', sheet=True)})", USD),
        ("Depreciation", f"={cb.cell('depreciation_usd', total_row, sheet=True)}", USD),
        ("Rent", f"={cb.cell('rent_usd', total_row, sheet=True)}", USD),
        ("Energy", f"={cb.cell('energy_kwh', total_row, sheet=True)}/1000", MWH),
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

    gpus = tables["gpus_by_sku"]
    quarters = list(plan["horizon"]["quarters"])
    row += 1
    w.text(ws, row, 1, f"GPUs in service at the end ({quarters[-1] if quarters else 'n/a'})", SECTION_FONT)
    row += 1
    last = gpus.drop(columns="quarter").iloc[-1] if len(gpus) else pd.Series(dtype=float)
    end_frame = pd.DataFrame({"sku": list(last.index), "gpus": list(last.to_numpy())})
    end_block = w.table(ws, end_frame, row, "tblGpusAtEnd", excel_table=False)
    row = w.total_row(end_block, ["gpus"], "sku") + 2

    w.text(ws, row, 1, "GPUs in service by SKU (chart data)", SECTION_FONT)
    row += 1
    gpu_block = w.table(ws, gpus, row, "tblGpusBySku", formats={c: COUNT for c in gpus.columns if c != "quarter"},
                        excel_table=False)
    row = max(gpu_block.last_row, gpu_block.first_row) + 2

    power = tables["site_power"]
    w.text(ws, row, 1, "Facility power at owned sites, kW (chart data)", SECTION_FONT)
    row += 1
    power_wide = pd.DataFrame({"quarter": quarters})
    for site in dict.fromkeys(power["site"]):
        one = power[power["site"] == site].set_index("quarter").reindex(quarters)
        power_wide[f"{site} facility kW"] = one["facility_kw"].to_numpy()
        power_wide[f"{site} cap kW"] = one["site_cap_kw"].to_numpy()
    power_block = w.table(ws, power_wide, row, "tblSitePower", formats={c: KW for c in power_wide.columns},
                          excel_table=False)

    _summary_charts(ws, costs.block, gpu_block, power_block, len(gpus.columns), len(power_wide.columns))
    ws.column_dimensions["A"].width = 38


def _summary_charts(ws: Worksheet, costs: Block, gpus: Block, power: Block, gpu_columns: int,
                    power_columns: int) -> None:
    """Spend, GPUs and one power-vs-cap chart per owned site, in a two-wide grid right of the chart data."""
    charts = [_spend_chart(costs)]
    if gpus.rows > 0 and gpu_columns > 1:
        charts.append(_gpu_chart(ws, gpus, gpu_columns))
    if power.rows > 0:
        headers = [ws.cell(row=power.header_row, column=c).value for c in range(2, power_columns + 1)]
        charts += [_power_chart(ws, power, 2 + offset, headers[offset].removesuffix(" facility kW"))
                   for offset in range(0, len(headers), 2)]
    first_column = max(gpu_columns, power_columns, 3) + 2
    for index, chart in enumerate(charts):
        row, column = divmod(index, 2)
        chart.width, chart.height = CHART_WIDTH_CM, CHART_HEIGHT_CM
        chart.legend.position = "b"
        chart.x_axis.delete = chart.y_axis.delete = False
        chart.y_axis.scaling.min = 0  # costs, GPUs and kW are never negative (solver noise is ~1e-8)
        anchor = f"{get_column_letter(first_column + column * CHART_COLUMNS)}{1 + row * CHART_ROWS}"
        ws.add_chart(chart, anchor)
    for offset in range(2 * CHART_COLUMNS):
        ws.column_dimensions[get_column_letter(first_column + offset)].width = CHART_COLUMN_WIDTH


def _spend_chart(costs: Block) -> BarChart:
    chart = BarChart()
    chart.type, chart.grouping, chart.overlap = "col", "stacked", 100
    chart.title = "Spend by quarter (undiscounted)"
    chart.y_axis.title, chart.x_axis.title = "USD", "quarter"
    chart.y_axis.number_format = '"$"#,##0'
    n_quarters = max(costs.rows, 1)
    for component in T.USD_COMPONENTS:
        column = _col(costs, component)
        chart.add_data(Reference(costs.sheet, min_col=column, min_row=costs.first_row,
                                 max_row=costs.first_row + n_quarters - 1), titles_from_data=False)
        chart.series[-1].tx = SeriesLabel(v=SPEND_LABELS[component])
    chart.set_categories(Reference(costs.sheet, min_col=1, min_row=costs.first_row,
                                   max_row=costs.first_row + n_quarters - 1))
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
    chart = LineChart()
    chart.title = f"Facility power vs cap: {site}"
    chart.y_axis.title, chart.x_axis.title = "kW", "quarter"
    chart.y_axis.number_format = "#,##0"
    chart.add_data(Reference(ws, min_col=column, max_col=column + 1, min_row=power.header_row,
                             max_row=power.last_row), titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=power.first_row, max_row=power.last_row))
    for series in chart.series:
        series.smooth = False  # a straight line between quarters: no invented overshoot above the cap
    chart.series[1].graphicalProperties.line.dashStyle = "dash"
    chart.series[1].graphicalProperties.line.solidFill = "C00000"
    return chart


# --- entry point --------------------------------------------------------------------------------------

def build_workbook(plan: dict, scenario, risk: dict | None = None) -> Workbook:
    """The workbook in memory (nothing written): the sheets in `SHEETS` order, plus risk sheets if given."""
    tables = T.build_tables(plan, scenario)
    workbook = Workbook()
    workbook.active.title = SHEET_SUMMARY
    summary_ws = workbook.active
    _print_setup(summary_ws)
    w = _Writer(workbook)
    blocks = {
        "purchases": _priced_sheet(w, SHEET_PURCHASES, tables["purchases"], "tblPurchases", "unit_price_usd",
                                   "capex_usd", "order_quarter"),
        "rentals": _priced_sheet(w, SHEET_RENTALS, tables["rentals"], "tblRentals", "rent_usd_per_node", "rent_usd",
                                 "quarter"),
        "fleet": _simple_sheet(w, SHEET_FLEET, tables["fleet"], "tblFleet"),
        "placement": _simple_sheet(w, SHEET_PLACEMENT, tables["placement"], "tblPlacement"),
        "unmet": _simple_sheet(w, SHEET_UNMET, tables["unmet"], "tblUnmet",
                               ["unmet_tokens_per_s", "unmet_usd"], "quarter"),
        "unfinished": _simple_sheet(w, SHEET_UNFINISHED, tables["unfinished_training"], "tblUnfinished",
                                    ["cost_usd"], "workload"),
    }
    costs = _costs_sheet(w, tables["costs"])
    _why_sheet(w, tables, plan)
    _assumptions_sheet(w, tables)
    _summary_sheet(w, plan, tables, costs, blocks)
    w.widths.apply(workbook)
    summary_ws.column_dimensions["A"].width = 38
    if risk is not None:
        from reports.risk_sheets import add_risk_sheets

        add_risk_sheets(workbook, risk)
    return workbook


def write_workbook(path: str | Path, plan: dict, scenario, risk: dict | None = None) -> Path:
    """Write the plan's workbook to `path` atomically (a failure leaves any previous file untouched)."""
    workbook = build_workbook(plan, scenario, risk)
    return write_atomic(path, lambda tmp: workbook.save(tmp))
