"""The Summary's native charts (openpyxl): spend and shortfall penalties by quarter (stacked by cost line),
GPUs in service by SKU, facility power against the cap per owned site, and this plan against the baselines; and
the Chart data sheet they draw from."""

from __future__ import annotations

import pandas as pd
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.chart.series import SeriesLabel
from openpyxl.chart.text import RichText, Text
from openpyxl.chart.title import Title
from openpyxl.drawing.text import (
    CharacterProperties,
    Paragraph,
    ParagraphProperties,
    RegularTextRun,
    RichTextProperties,
)
from openpyxl.worksheet.worksheet import Worksheet

from reports import tables as T
from reports.workbook_capacity import POWER_SERIES
from reports.workbook_cells import (
    CHART_HEIGHT_CM,
    CHART_WIDTH_CM,
    COUNT,
    KW,
    SECTION_FONT,
    SHEET_CHART_DATA,
    SPEND_LABELS,
    TITLE_FONT,
    Block,
    Writer,
    col,
    new_sheet,
)

CHART_TITLE_PT = 11


def chart_data_sheet(w: Writer, gpus: pd.DataFrame, power_wide: pd.DataFrame) -> tuple[Block, Block]:
    """The Summary charts' data on a sheet of its own (wide tables of narrow numbers, their headers wrapped), so
    the Summary stays one readable page wide: GPUs in service by SKU, and facility kW per owned site."""
    ws = new_sheet(w.workbook, SHEET_CHART_DATA, freeze=None)
    w.text(ws, 1, 1, "Chart data: what the Summary's charts draw", TITLE_FONT)
    w.text(ws, 3, 1, "GPUs in service by SKU", SECTION_FONT)
    gpu_block = w.table(ws, gpus, 4, "tblGpusBySku", formats={c: COUNT for c in gpus.columns if c != "quarter"},
                        excel_table=False, wrap_header=True)
    row = max(gpu_block.last_row, gpu_block.first_row) + 2
    w.text(ws, row, 1, "Facility power at owned sites, kW", SECTION_FONT)
    w.note(ws, row + 1, "Per site: at full load (what the cap limits: Σ node_kw × nodes × pue), at the plan's "
                        "utilisation (what is paid for), and the cap.", len(power_wide.columns))
    power_block = w.table(ws, power_wide, row + 2, "tblSitePower", formats={c: KW for c in power_wide.columns},
                          excel_table=False, wrap_header=True)
    return gpu_block, power_block


def summary_charts(costs: Block, gpus: Block, power: Block, penalties: bool,
                   baselines: Block | None = None) -> list:
    """Spend, shortfall penalties (when there are any: never stacked on spend), GPUs and one power-vs-cap chart
    per owned site, then this plan against the baselines; sized, not yet placed (the Summary places them)."""
    charts = [_spend_chart(costs)]
    if penalties:
        charts.append(_penalty_chart(costs))
    if gpus.rows > 0 and len(gpus.letters) > 1:
        charts.append(_gpu_chart(gpus.sheet, gpus, len(gpus.letters)))
    if power.rows > 0:
        headers = [power.sheet.cell(row=power.header_row, column=c).value for c in range(2, len(power.letters) + 1)]
        per_site = len(POWER_SERIES)
        charts += [_power_chart(power.sheet, power, 2 + offset, headers[offset].removesuffix(f" {POWER_SERIES[0][1]}"))
                   for offset in range(0, len(headers), per_site)]
    if baselines is not None:
        charts.append(_baselines_chart(baselines.sheet, baselines))
    for chart in charts:
        chart.width, chart.height = CHART_WIDTH_CM, CHART_HEIGHT_CM
        chart.x_axis.txPr = _rotated_labels()  # quarter labels slanted, never run together
        chart.title = _title("".join(run.t for p in chart.title.tx.rich.p for run in p.r or []))
        chart.legend.position = "b"
        chart.x_axis.delete = chart.y_axis.delete = False
        chart.y_axis.scaling.min = 0  # costs, GPUs and kW are never negative (solver noise is ~1e-8)
    return charts


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
        column = col(costs, component)
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
    column = col(baselines, "objective_usd")
    chart.add_data(Reference(ws, min_col=column, min_row=baselines.first_row, max_row=baselines.last_row),
                   titles_from_data=False)
    chart.series[-1].tx = SeriesLabel(v="discounted TCO")
    chart.set_categories(Reference(ws, min_col=col(baselines, "plan"), min_row=baselines.first_row,
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



def _title(text: str) -> Title:
    """A chart title in bold CHART_TITLE_PT points (the default 14 pt takes a third of a small chart)."""
    properties = CharacterProperties(sz=int(CHART_TITLE_PT * 100), b=True)
    rich = RichText(p=[Paragraph(pPr=ParagraphProperties(defRPr=properties),
                                 r=[RegularTextRun(rPr=properties, t=text)])])
    return Title(tx=Text(rich=rich), overlay=False)


def _rotated_labels() -> RichText:
    """Axis tick labels turned 45° (rotation in 60,000ths of a degree), at 8 pt."""
    return RichText(bodyPr=RichTextProperties(rot=-2_700_000, vert="horz"),
                    p=[Paragraph(pPr=ParagraphProperties(defRPr=CharacterProperties(sz=800)), endParaRPr=None)])
