"""The Summary's native charts (openpyxl): spend and shortfall penalties by quarter (stacked by cost line),
GPUs in service by SKU, facility power against the cap per owned site, and this plan against the baselines."""

from __future__ import annotations

from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.chart.series import SeriesLabel
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from reports import tables as T
from reports.workbook_capacity import POWER_SERIES
from reports.workbook_cells import CHART_COLUMNS, CHART_HEIGHT_CM, CHART_ROWS, CHART_WIDTH_CM, SPEND_LABELS, Block, col


def summary_charts(ws: Worksheet, costs: Block, gpus: Block, power: Block, gpu_columns: int,
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

