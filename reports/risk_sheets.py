"""The workbook's Risk and Sensitivity sheets, from a RISK document (models/risk.py `evaluate_plan`).

Risk: the TCO percentiles, a histogram of sampled TCO (a native bar chart over the binned counts the RISK
document carries) and the shortfall table. Sensitivity: d E[TCO] / d input and the ±10 % tornado, as a
horizontal bar chart of the two deltas against the base mean. Cells hold values (no formulas), so the charts
render in any viewer without a recalculation.
"""

from __future__ import annotations

from openpyxl.chart import BarChart, Reference
from openpyxl.chart.series import SeriesLabel
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

USD = '"$"#,##0'
USD_CENTS = '"$"#,##0.00'
PERCENT = "0.0%"
UNITS = "#,##0.0"
BOLD = Font(bold=True)
TCO_ROWS = (("mean", "Mean"), ("p5", "P5"), ("p50", "P50 (median)"), ("p95", "P95"), ("p99", "P99"),
            ("cvar95", "CVaR95 (mean of the worst 5 %)"))


def add_risk_sheets(workbook, risk: dict) -> None:
    """Append the "Risk" and "Sensitivity" sheets to an openpyxl workbook."""
    _risk_sheet(workbook.create_sheet("Risk"), risk)
    _sensitivity_sheet(workbook.create_sheet("Sensitivity"), risk)
    for ws in (workbook["Risk"], workbook["Sensitivity"]):
        # Printed (or converted to PDF) one page wide, landscape, so a chart is never cut at a page edge.
        ws.page_setup.orientation = "landscape"
        ws.sheet_properties.pageSetUpPr.fitToPage = True
        ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0


def _header(ws, row: int, names: list[str]) -> None:
    for column, name in enumerate(names, start=1):
        ws.cell(row=row, column=column, value=name).font = BOLD


def _widths(ws, widths: list[int]) -> None:
    for column, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(column)].width = width


def _risk_sheet(ws, risk: dict) -> None:
    ws["A1"] = "Discounted TCO over sampled futures"
    ws["A1"].font = Font(bold=True, size=13)
    ws["A2"] = (f"{risk['samples']:,} samples, seed {risk['seed']}, {risk['dtype']} on {risk['device']}"
                + (" (deterministic: every uncertainty off)" if risk.get("deterministic") else ""))
    _header(ws, 4, ["Statistic", "TCO (USD)"])
    row = 5
    for key, label in TCO_ROWS:
        ws.cell(row=row, column=1, value=label)
        ws.cell(row=row, column=2, value=risk["tco_usd"][key]).number_format = USD
        row += 1
    if risk.get("plan_objective_usd") is not None:
        ws.cell(row=row, column=1, value="Plan's objective (forecast)")
        ws.cell(row=row, column=2, value=risk["plan_objective_usd"]).number_format = USD
        row += 1

    # Histogram: bin midpoints and counts, then a column chart over them.
    hist_top = row + 2
    ws.cell(row=hist_top - 1, column=1, value="Histogram of sampled TCO").font = BOLD
    _header(ws, hist_top, ["Bin from (USD)", "Bin to (USD)", "Samples"])
    edges, counts = risk["histogram"]["bin_edges_usd"], risk["histogram"]["counts"]
    for i, count in enumerate(counts):
        r = hist_top + 1 + i
        ws.cell(row=r, column=1, value=edges[i]).number_format = USD
        ws.cell(row=r, column=2, value=edges[i + 1]).number_format = USD
        ws.cell(row=r, column=3, value=count)
    last = hist_top + len(counts)
    chart = BarChart()
    chart.type = "col"
    chart.title = "Sampled discounted TCO"
    chart.x_axis.title = "TCO bin (from, USD)"
    chart.y_axis.title = "Samples"
    chart.gapWidth = 10
    chart.legend = None
    chart.add_data(Reference(ws, min_col=3, min_row=hist_top, max_row=last), titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=hist_top + 1, max_row=last))
    chart.width, chart.height = 18, 9
    ws.add_chart(chart, "E4")

    # Shortfall: by quarter, then every (quarter, workload) with any chance of falling short.
    top = max(last + 3, 24)
    ws.cell(row=top - 1, column=1, value="Shortfall by quarter (any workload)").font = BOLD
    _header(ws, top, ["Quarter", "P(shortfall)", "Expected shortfall (tokens/s)", "Expected unmet (tokens/s)"])
    r = top
    for r, item in enumerate(risk.get("shortfall_by_quarter", []), start=top + 1):
        ws.cell(row=r, column=1, value=item["quarter"])
        ws.cell(row=r, column=2, value=item["probability"]).number_format = PERCENT
        ws.cell(row=r, column=3, value=item["expected_shortfall_tokens_per_s"]).number_format = UNITS
        ws.cell(row=r, column=4, value=item["expected_unmet_tokens_per_s"]).number_format = UNITS
    top = r + 3
    rows = [item for item in risk["shortfall_probability"]
            if item["probability"] > 0 or item["expected_unmet_tokens_per_s"] > 0]
    ws.cell(row=top - 1, column=1,
            value=f"Shortfall by quarter and workload ({len(rows)} of {len(risk['shortfall_probability'])} "
                  "pairs with any shortfall; demand beyond the plan's capacity is rented on demand where a "
                  "cloud site allows it, else unmet)").font = BOLD
    _header(ws, top, ["Quarter", "Workload", "P(shortfall)", "Expected shortfall (tokens/s)",
                      "Expected unmet (tokens/s)"])
    for r, item in enumerate(rows, start=top + 1):
        ws.cell(row=r, column=1, value=item["quarter"])
        ws.cell(row=r, column=2, value=item["workload"])
        ws.cell(row=r, column=3, value=item["probability"]).number_format = PERCENT
        ws.cell(row=r, column=4, value=item["expected_shortfall_tokens_per_s"]).number_format = UNITS
        ws.cell(row=r, column=5, value=item["expected_unmet_tokens_per_s"]).number_format = UNITS
    _widths(ws, [30, 18, 16, 28, 26])


def _sensitivity_sheet(ws, risk: dict) -> None:
    base = risk.get("sensitivity_tco_usd_base", risk["tco_usd"]["mean"])
    ws["A1"] = "Sensitivity of expected TCO to each input"
    ws["A1"].font = Font(bold=True, size=13)
    ws["A2"] = (f"Derivatives by automatic differentiation; tornado at -10 % / +10 % of each input, over "
                f"{risk.get('sensitivity_samples', risk['samples']):,} samples with common random numbers.")
    ws["A3"] = "Base E[TCO] (USD)"
    ws["B3"] = base
    ws["B3"].number_format = USD
    top = 5
    _header(ws, top, ["Input", "Value", "dE[TCO]/d input (USD per unit)", "E[TCO] at -10 % (USD)",
                      "E[TCO] at +10 % (USD)", "Delta at -10 % (USD)", "Delta at +10 % (USD)", "Swing (USD)"])
    rows = sorted(risk["sensitivities"], key=lambda item: -abs(item["tco_usd_at_plus_10pct"]
                                                                - item["tco_usd_at_minus_10pct"]))
    for r, item in enumerate(rows, start=top + 1):
        ws.cell(row=r, column=1, value=item["input"])
        ws.cell(row=r, column=2, value=item.get("value"))
        ws.cell(row=r, column=3, value=item["d_tco_usd_per_unit"]).number_format = USD_CENTS
        ws.cell(row=r, column=4, value=item["tco_usd_at_minus_10pct"]).number_format = USD
        ws.cell(row=r, column=5, value=item["tco_usd_at_plus_10pct"]).number_format = USD
        minus, plus = item["tco_usd_at_minus_10pct"] - base, item["tco_usd_at_plus_10pct"] - base
        ws.cell(row=r, column=6, value=minus).number_format = USD
        ws.cell(row=r, column=7, value=plus).number_format = USD
        ws.cell(row=r, column=8, value=abs(plus - minus)).number_format = USD
    _widths(ws, [36, 14, 30, 22, 22, 20, 20, 16])
    if not rows:
        return
    last = top + len(rows)
    chart = BarChart()
    chart.type = "bar"  # horizontal bars: a tornado
    chart.grouping = "clustered"
    chart.overlap = 100
    chart.gapWidth = 40
    chart.title = "Tornado: change in E[TCO] at -10 % / +10 % of each input"
    chart.x_axis.title = "Input"
    chart.y_axis.title = "Change in E[TCO] (USD)"
    chart.x_axis.scaling.orientation = "maxMin"  # largest swing on top
    chart.x_axis.tickLblPos = "low"  # input names left of the plot, not on top of the bars crossing zero
    for column, name in ((6, "-10 %"), (7, "+10 %")):
        chart.add_data(Reference(ws, min_col=column, min_row=top + 1, max_row=last), titles_from_data=False)
        chart.series[-1].tx = SeriesLabel(v=name)
    chart.set_categories(Reference(ws, min_col=1, min_row=top + 1, max_row=last))
    chart.width, chart.height = 20, max(8, 0.6 * len(rows) + 3)
    ws.add_chart(chart, f"A{last + 3}")
