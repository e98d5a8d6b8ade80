"""What every workbook sheet shares: number formats, fonts, the one cell writer, table blocks, fitted column
widths and print setup (openpyxl).

`put` is the only way a value reaches a cell: strings are stored as literal text (never formulas, OWASP), so text
from the inputs (workload, site and SKU names...) cannot become a formula. The sheet modules
(`reports/workbook_*.py`, `reports/risk_sheets.py`) import from here; nothing here imports them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.drawing.spreadsheet_drawing import AnchorMarker, OneCellAnchor, TwoCellAnchor
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import column_index_from_string, get_column_letter, quote_sheetname
from openpyxl.utils.cell import coordinate_from_string
from openpyxl.worksheet.pagebreak import Break
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
CENTRED = Alignment(horizontal="center")
QUARTER_COLUMNS = ("in_service", "installed", "start", "deadline")  # quarter labels under other names
TITLE_FONT = Font(bold=True, size=14)
SECTION_FONT = Font(bold=True, size=12)
TOTAL_FILL = PatternFill("solid", fgColor="DDEBF7")
TABLE_STYLE = "TableStyleMedium2"
CHART_WIDTH_CM = 13.5  # two side by side fill an A4 landscape page's printable width (27.7 cm)
CHART_HEIGHT_CM = 7.5
CHART_ROWS = 16  # rows one chart covers at the default row height (0.53 cm), with a gap
CHART_COLUMNS = 8  # columns one chart covers, with a gap ...
CHART_COLUMN_WIDTH = 11.0  # ... at this width (characters; ~2.1 cm), set explicitly so every viewer agrees
# Page geometry (A4 landscape, the margins `print_setup` sets, in cm) and how cells measure on it: Excel and
# LibreOffice draw a column of width w characters as 7w + 5 pixels at 96 dpi, a default row as 15 pt.
PAGE_WIDTH_CM, PAGE_HEIGHT_CM = 29.7, 21.0
MARGIN_SIDE_IN, MARGIN_TOP_IN = 0.4, 0.5
HEADER_FOOTER_CM = 0.0  # LibreOffice prints an .xlsx without header or footer areas (34 default rows a page)
# LibreOffice headless (the PDF this project checks) draws a column wider than Excel does, as the default font is
# substituted: 20 columns of width 11 printed one page wide give 69 default rows a page against 34 unscaled, so
# 2.81 cm a column, ~0.26 cm per character (measured here with libreoffice-calc-nogui, as CI installs it).
PRINTED_CM_PER_CHARACTER = 0.26
CM_PER_INCH = 2.54
POINTS_PER_INCH, PIXELS_PER_INCH = 72.0, 96.0
EMU_PER_CM = 360_000  # drawing units (English Metric Units)
DEFAULT_COLUMN_WIDTH = 8.43  # characters, a column no one sized
DEFAULT_ROW_HEIGHT_PT = 15.0
TITLE_ROW_HEIGHT_PT, SECTION_ROW_HEIGHT_PT = 21.0, 18.0  # rows of 14 pt and 12 pt text
PAGE_SAFETY = 0.95  # fill at most this share of a page's height when keeping a chart whole (our estimate of
# LibreOffice's column widths and row heights is close, not exact)
NOTE_CHARS_PER_WIDTH_UNIT = 1.0  # italic notes: about one character per unit of column width, rounded down


class _LineLabels(dict):
    """Cost line → its short label in charts and tables; a line not named here (one added to
    models/cost_parameters.py later) is labelled from its name: `fabric_usd` → "fabric"."""

    def __missing__(self, line: str) -> str:
        return line.removesuffix("_usd").replace("_", " ")


SPEND_LABELS = _LineLabels({"capex_usd": "capex", "depreciation_usd": "depreciation", "rent_usd": "rent",
                            "energy_usd": "energy", "maintenance_usd": "maintenance", "carbon_usd": "carbon",
                            "unmet_usd": "unmet demand", "unfinished_training_usd": "unfinished training"})

SHEET_SUMMARY, SHEET_PURCHASES, SHEET_RENTALS = "Summary", "Purchases", "Rentals"
SHEET_FLEET, SHEET_PLACEMENT, SHEET_UNMET = "Fleet", "Placement", "Unmet"
SHEET_UNFINISHED, SHEET_COSTS, SHEET_ASSUMPTIONS = "Unfinished training", "Costs", "Assumptions"
SHEET_WHY, SHEET_ORDERS, SHEET_UNIT_COSTS = "Why", "Orders", "Unit costs"
SHEET_CHART_DATA = "Chart data"
SHEETS = (SHEET_SUMMARY, SHEET_ORDERS, SHEET_PURCHASES, SHEET_RENTALS, SHEET_FLEET, SHEET_PLACEMENT, SHEET_UNMET,
          SHEET_UNFINISHED, SHEET_COSTS, SHEET_UNIT_COSTS, SHEET_WHY, SHEET_CHART_DATA, SHEET_ASSUMPTIONS)
RISK_SHEETS = ("Risk", "Sensitivity")  # written by reports/risk_sheets.py, placed before Assumptions

COLUMN_FORMATS = {
    "nodes": COUNT, "gpus": COUNT, "pool_nodes": COUNT, "pool_gpus": COUNT, "node_equivalents": DECIMAL,
    "energy_kwh": KWH, "carbon_t": TONNES, "discount_factor": FACTOR,
    "tokens_per_s": TOKENS, "demand_tokens_per_s": TOKENS, "unmet_tokens_per_s": TOKENS,
    "utilisation": PERCENT, "headroom_pct": PERCENT, "fraction_left": PERCENT, "existing_nodes": COUNT,
    "quarters_charged": COUNT, "idle_frac": DECIMAL, "maint_frac_per_year": FACTOR, "discount_rate": FACTOR,
    "life_years": DECIMAL, "pue": DECIMAL, "usd_per_kwh": '"$"#,##0.0000', "gco2_per_kwh": KW,
    "rent_usd_per_gpu_hour": USD, "spot_availability": DECIMAL,
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
            # the digits plus whatever the format adds ("$", " kWh", " t"), with room for a bold total; a format's
            # positive section only, its trailing commas scaling by thousands ('#,##0.00,,"M"' shows millions)
            positive = (number_format or "").split(";")[0]
            digits = re.sub(r'"[^"]*"', "", positive)
            scale = 1000 ** (len(digits) - len(digits.rstrip(",")))
            literal = positive.replace('"', "").replace("#", "").replace("0", "").replace(",", "")
            text = f"{value / scale:,.2f}" + literal.replace(".", "")
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
        self.notes: list[tuple[Worksheet, int, str, int, Font | None]] = []
        self.wrapped_headers: list[tuple[Worksheet, int, int, list[str]]] = []
        self.wrapped_cells: list[tuple[Worksheet, int, str, int]] = []

    def note(self, ws: Worksheet, row: int, text: str, last_column: int, font: Font | None = None) -> None:
        """A wrapped note across columns A..last_column (italic unless `font`), sized once the widths are known
        (`finish`)."""
        self.notes.append((ws, row, text, last_column, font))

    def finish(self) -> None:
        """Fit every column to its widest text, then size the notes' rows to their wrapped lines."""
        self.widths.apply(self.workbook)
        for ws, row, text, last_column, font in self.notes:
            put_note(ws, row, text, last_column, font=font)
        for ws, row, left, names in self.wrapped_headers:
            lines = max(wrapped_lines(name, (ws.column_dimensions[get_column_letter(left + i)].width
                                             or DEFAULT_COLUMN_WIDTH) - 1) for i, name in enumerate(names))
            ws.row_dimensions[row].height = DEFAULT_ROW_HEIGHT_PT * max(1, lines)
        for ws, row, text, width in self.wrapped_cells:
            height = DEFAULT_ROW_HEIGHT_PT * wrapped_lines(text, width)
            ws.row_dimensions[row].height = max(ws.row_dimensions[row].height or 0, height)
            for cell in ws[row]:  # the row's other cells line up with the wrapped text's first line
                if cell.value is not None:
                    cell.alignment = Alignment(horizontal=cell.alignment.horizontal,
                                               wrap_text=cell.alignment.wrap_text, vertical="top")

    def text(self, ws, row, column, value, font=None, number_format=None):
        cell = put(ws, row, column, value, number_format)
        if font is not None:
            cell.font = font
        if font is not TITLE_FONT and font is not SECTION_FONT:  # titles overflow into the empty cells beside
            self.widths.see(ws, column, value, number_format)
        else:  # a larger font's row, sized as viewers draw it, so the page breaks are computed on true heights
            height = TITLE_ROW_HEIGHT_PT if font is TITLE_FONT else SECTION_ROW_HEIGHT_PT
            ws.row_dimensions[row].height = max(ws.row_dimensions[row].height or 0, height)
        return cell

    def formula(self, ws, row, column, formula, number_format=None, width_hint=None):
        cell = put_formula(ws, row, column, formula, number_format)
        self.widths.see(ws, column, width_hint, number_format)
        return cell

    def table(self, ws: Worksheet, frame: pd.DataFrame, top: int, name: str, formulas: dict | None = None,
              formats: dict | None = None, left: int = 1, excel_table: bool = True,
              wrap_header: bool = False, wrap: dict[str, int] | None = None) -> Block:
        """Write `frame` with a bold header at row `top`; `formulas[column](block, row)` gives live cells.
        `wrap`: columns whose text wraps at the given width (characters), their rows made tall enough.
        `wrap_header`: long headers wrap onto several lines (and do not widen their column), for wide tables of
        narrow numbers such as chart data."""
        formulas, formats, wrap = formulas or {}, formats or {}, wrap or {}
        columns = list(frame.columns)
        numeric = frame.select_dtypes("number")
        block = Block(ws, top, top + 1, top + len(frame),
                      {c: get_column_letter(left + i) for i, c in enumerate(columns)},
                      {str(c): float(numeric[c].abs().sum()) for c in numeric.columns})
        for i, column in enumerate(columns):
            if wrap_header:
                cell = put(ws, top, left + i, str(column))
                cell.font = HEADER_FONT
                cell.alignment = Alignment(horizontal="center", vertical="bottom", wrap_text=True)
            else:
                cell = self.text(ws, top, left + i, str(column), HEADER_FONT)
                cell.alignment = Alignment(horizontal="center")
        fmts = [formats.get(c, column_format(str(c))) for c in columns]
        centred = [is_quarter_column(str(c)) for c in columns]
        for r, values in enumerate(frame.itertuples(index=False, name=None), start=block.first_row):
            for i, (column, value) in enumerate(zip(columns, values)):
                if column in formulas:
                    hint = value if value is not None else (FORMULA_WIDTH_HINT if fmts[i] == USD else None)
                    cell = self.formula(ws, r, left + i, formulas[column](block, r), fmts[i], hint)
                    if centred[i]:
                        cell.alignment = CENTRED
                else:
                    if column in wrap and isinstance(value, str):
                        cell = put(ws, r, left + i, value)
                        cell.alignment = Alignment(wrap_text=True, vertical="top")
                        self.widths.see(ws, left + i, value[:wrap[column]])
                        self.wrapped_cells.append((ws, r, value, wrap[column]))
                        continue
                    cell = self.text(ws, r, left + i, value, number_format=fmts[i])
                    if centred[i]:
                        cell.alignment = CENTRED
                    if isinstance(value, str) and len(value) > MAX_COLUMN_WIDTH:  # long free text wraps
                        cell.alignment = Alignment(wrap_text=True, vertical="top")
        if wrap_header:
            self.wrapped_headers.append((ws, top, left, [str(c) for c in columns]))
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


def is_quarter_column(name: str) -> bool:
    """A column of quarter labels ("2027Q3"): centred, so it never runs into a right-aligned count beside it."""
    return (name == "quarter" or name.endswith("_quarter") and "_per_" not in name  # not a rate per quarter
            or name in QUARTER_COLUMNS)


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
    ws.page_margins.left = ws.page_margins.right = MARGIN_SIDE_IN
    ws.page_margins.top = ws.page_margins.bottom = MARGIN_TOP_IN
    if repeat_header:
        ws.print_title_rows = "1:1"


def column_width_cm(ws: Worksheet, column: int, printed: bool = False) -> float:
    """A column's width on screen in Excel (7 px per character + 5 px at 96 dpi; the narrower measure, so a
    chart placed by it never overlaps its neighbour) or, `printed`, on LibreOffice's PDF page."""
    width = ws.column_dimensions[get_column_letter(column)].width or DEFAULT_COLUMN_WIDTH
    if printed:
        return width * PRINTED_CM_PER_CHARACTER
    return (7 * width + 5) / PIXELS_PER_INCH * CM_PER_INCH


def row_height_cm(ws: Worksheet, row: int) -> float:
    height = ws.row_dimensions[row].height if row in ws.row_dimensions else None
    return (height or DEFAULT_ROW_HEIGHT_PT) / POINTS_PER_INCH * CM_PER_INCH


def chart_extent(ws: Worksheet, chart) -> tuple[int, int, int]:
    """(top row, last column, last row) a chart covers: a two-cell anchor's own cells, or from a one-cell anchor
    ("I1", as openpyxl keeps it until saved) and the chart's size in cm."""
    anchor = chart.anchor
    if isinstance(anchor, TwoCellAnchor):  # markers count from 0
        return anchor._from.row + 1, anchor.to.col + (1 if anchor.to.colOff else 0), anchor.to.row + 1
    if isinstance(anchor, OneCellAnchor):  # as a saved workbook reads back: a marker and a size in EMU
        column, top = anchor._from.col + 1, anchor._from.row + 1
        width_cm, height_cm = anchor.ext.width / EMU_PER_CM, anchor.ext.height / EMU_PER_CM
    else:
        letters, top = coordinate_from_string(anchor)
        column, width_cm, height_cm = column_index_from_string(letters), chart.width, chart.height
    covered = column_width_cm(ws, column)
    while covered < width_cm:
        column += 1
        covered += column_width_cm(ws, column)
    row, covered = top, row_height_cm(ws, top)
    while covered < height_cm:
        row += 1
        covered += row_height_cm(ws, row)
    return top, column, row


def cell_anchor(first_column: int, top_row: int, last_column: int, last_row: int,
                left_gap_cm: float = 0.0) -> TwoCellAnchor:
    """A chart stretched over columns first..last and rows top..last (1-based, inclusive): its size follows the
    cells in every viewer, so charts side by side never overlap, whatever width a viewer draws a column."""
    anchor = TwoCellAnchor()
    anchor._from = AnchorMarker(col=first_column - 1, colOff=int(left_gap_cm * EMU_PER_CM), row=top_row - 1)
    anchor.to = AnchorMarker(col=last_column, row=last_row)
    return anchor


def wrapped_lines(text: str, width_chars: float) -> int:
    """Lines `text` takes when wrapped at spaces into lines of `width_chars` characters (a longer word alone)."""
    lines, used = 1, 0
    for word in text.split():
        if used and used + 1 + len(word) > width_chars:
            lines, used = lines + 1, 0
        used += (1 if used else 0) + len(word)
        while used > width_chars >= 1:
            lines, used = lines + 1, used - int(width_chars)
    return lines


def put_note(ws: Worksheet, row: int, text: str, last_column: int, first_column: int = 1,
             font: Font | None = None) -> None:
    """A note (a paragraph of text) merged across columns first..last and wrapped, its row tall enough for every
    line: it never runs past the table's right edge, so it is never cut at the printed page's edge. Call it once
    the column widths are final."""
    cell = put(ws, row, first_column, text)
    cell.font = font or Font(italic=True)
    cell.alignment = Alignment(wrap_text=True, vertical="top")
    last_column = max(last_column, first_column)
    if last_column > first_column:
        ws.merge_cells(start_row=row, start_column=first_column, end_row=row, end_column=last_column)
    width = sum((ws.column_dimensions[get_column_letter(c)].width or DEFAULT_COLUMN_WIDTH)
                for c in range(first_column, last_column + 1))
    lines = wrapped_lines(text, width * NOTE_CHARS_PER_WIDTH_UNIT)
    ws.row_dimensions[row].height = DEFAULT_ROW_HEIGHT_PT * lines


def set_print_areas(workbook: Workbook) -> None:
    """Print exactly the used cells and every chart whole: the print area reaches each chart's far corner, and a
    page break goes above a chart that would otherwise be cut at a page's bottom."""
    for ws in workbook.worksheets:
        last_column, last_row = ws.max_column, ws.max_row
        extents = [chart_extent(ws, chart) for chart in ws._charts]
        for _, column, row in extents:
            last_column, last_row = max(last_column, column), max(last_row, row)
        ws.print_area = f"A1:{get_column_letter(last_column)}{last_row}"
        _keep_charts_whole(ws, extents, last_column, last_row)


def _keep_charts_whole(ws: Worksheet, extents: list[tuple[int, int, int]], last_column: int, last_row: int) -> None:
    """Walk the rows as the printer lays them out (scaled to fit the page width) and break the page above each
    chart that would straddle the bottom of one (unless the chart is taller than a page)."""
    if not extents:
        return
    content_cm = sum(column_width_cm(ws, c, printed=True) for c in range(1, last_column + 1))
    printable_w = PAGE_WIDTH_CM - 2 * MARGIN_SIDE_IN * CM_PER_INCH
    printable_h = PAGE_HEIGHT_CM - 2 * MARGIN_TOP_IN * CM_PER_INCH - HEADER_FOOTER_CM
    page_cm = PAGE_SAFETY * printable_h / min(1.0, printable_w / content_cm)  # in unscaled cm
    tops: dict[int, float] = {}
    for top, _, bottom in extents:
        height = sum(row_height_cm(ws, r) for r in range(top, bottom + 1))
        tops[top] = max(tops.get(top, 0.0), height)
    page_top = y = 0.0
    for row in range(1, last_row + 1):
        if row in tops and y > page_top and y - page_top + tops[row] > page_cm >= tops[row]:
            ws.row_breaks.append(Break(id=row - 1))
            page_top = y
        height = row_height_cm(ws, row)
        if y + height - page_top > page_cm:
            page_top = y
        y += height
