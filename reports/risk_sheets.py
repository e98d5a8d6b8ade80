"""The workbook's Risk and Sensitivity sheets, from a RISK document (models/risk.py `evaluate_plan`).

Risk: the TCO percentiles, a histogram of sampled TCO (a native bar chart over the binned counts the RISK
document carries) and the shortfall table. Sensitivity: d E[TCO] / d input and the ±10 % tornado, as a
horizontal bar chart of the two deltas against the base mean. Cells hold values (no formulas), so the charts
render in any viewer without a recalculation. Every cell goes through the workbook's `put`, so text from the
inputs (workload, site and SKU names inside the labels) is stored as text, never as a formula.
"""

from __future__ import annotations

from openpyxl.chart import BarChart, Reference
from openpyxl.chart.series import SeriesLabel
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from reports.workbook_cells import print_setup, put, put_note

USD = '"$"#,##0'
USD_CENTS = '"$"#,##0.00'
PERCENT = "0.0%"
UNITS = "#,##0.0"
BOLD = Font(bold=True)
TITLE_FONT = Font(bold=True, size=13)
RISK_WIDTHS = [30, 22, 30, 30, 26]  # characters: each header fits ("Expected shortfall (tokens/s)")
SENSITIVITY_WIDTHS = [36, 14, 30, 22, 22, 20, 20, 16]
TCO_ROWS = (("mean", "Mean"), ("p5", "P5"), ("p50", "P50 (median)"), ("p95", "P95"), ("p99", "P99"),
            ("cvar95", "CVaR95 (mean of the worst 5 %)"))


def add_risk_sheets(workbook, risk: dict) -> None:
    """Append the "Risk" and "Sensitivity" sheets to an openpyxl workbook."""
    _risk_sheet(workbook.create_sheet("Risk"), risk)
    _sensitivity_sheet(workbook.create_sheet("Sensitivity"), risk)
    for ws in (workbook["Risk"], workbook["Sensitivity"]):
        # Printed (or converted to PDF) like every other sheet: A4 landscape, one page wide.
        print_setup(ws)


COMPARISON_ROWS = (("objective_usd", "Objective on the forecast", USD), ("mean_usd", "E[TCO]", USD),
                   ("p95_usd", "P95", USD), ("cvar95_usd", "CVaR95", USD),
                   ("shortfall_probability", "Shortfall probability (worst quarter)", PERCENT))
COMPARISON_COLUMN = 6  # the comparison sits right of the percentiles (column F on)


def _comparison_table(ws, risk: dict) -> int:
    """`plan --stochastic`: the deterministic and the stochastic plan on the same fresh futures, the in-sample
    figures, and the purchases that differ; returns the last row written."""
    c = COMPARISON_COLUMN
    comparison = risk["comparison"]
    put(ws, 4, c, f"Deterministic vs stochastic plan, out of sample ({risk['samples']:,} futures, seed "
                  f"{risk['seed']})").font = BOLD
    put(ws, 5, c, "Statistic").font = BOLD
    put(ws, 5, c + 1, "Deterministic").font = BOLD
    put(ws, 5, c + 2, "Stochastic").font = BOLD
    put(ws, 5, c + 3, "Change").font = BOLD
    plans = comparison["plans"]
    row = 6
    row = _side_by_side(ws, row, c, plans, COMPARISON_ROWS)
    if comparison.get("optimal_recourse"):
        put(ws, row, c, "Same futures, recourse solved optimally (evaluate --allocation optimal)").font = BOLD
        row = _side_by_side(ws, row + 1, c, comparison["optimal_recourse"], COMPARISON_ROWS[1:])
    inside = comparison["in_sample"]
    put(ws, row + 1, c, f"In sample ({inside['samples']:,} futures, seed {inside['seed']}, recourse solved "
                        f"optimally)").font = BOLD
    for offset, (label, value) in enumerate((("E[TCO], deterministic plan", inside["deterministic_expected_tco_usd"]),
                                             ("E[TCO], stochastic plan", inside["expected_tco_usd"]),
                                             ("VSS", inside["vss_usd"]))):
        put(ws, row + 2 + offset, c, label)
        put(ws, row + 2 + offset, c + 1, value, USD)
    row += 6
    put(ws, row, c, "Purchases that differ").font = BOLD
    for column, name in enumerate(("Quarter", "Site", "SKU", "Deterministic nodes", "Stochastic nodes")):
        put(ws, row + 1, c + column, name).font = BOLD
    for i, order in enumerate(comparison["purchases_differ"]):
        for column, key in enumerate(("quarter", "site", "sku", "deterministic_nodes", "stochastic_nodes")):
            put(ws, row + 2 + i, c + column, order[key])
    return row + 1 + len(comparison["purchases_differ"])


def _side_by_side(ws, row: int, c: int, plans: dict, rows) -> int:
    """One row per statistic: deterministic, stochastic, relative change; returns the next free row."""
    for key, label, style in rows:
        put(ws, row, c, label)
        put(ws, row, c + 1, plans["deterministic"][key], style)
        put(ws, row, c + 2, plans["stochastic"][key], style)
        if style == USD and plans["deterministic"][key]:
            put(ws, row, c + 3, plans["stochastic"][key] / plans["deterministic"][key] - 1.0, PERCENT)
        row += 1
    return row


def _header(ws, row: int, names: list[str]) -> None:
    for column, name in enumerate(names, start=1):
        put(ws, row, column, name).font = BOLD


def _widths(ws, widths: list[int]) -> None:
    for column, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(column)].width = width


def _risk_sheet(ws, risk: dict) -> None:
    put(ws, 1, 1, "Discounted TCO over sampled futures").font = TITLE_FONT
    about = (f"{risk['samples']:,} samples, seed {risk['seed']}, {risk['dtype']} on {risk['device']}"
             + (" (deterministic: every uncertainty off)" if risk.get("deterministic") else "")
             + f"; allocation: {risk.get('allocation_label') or risk['settings']['allocation']}")
    _header(ws, 4, ["Statistic", "TCO (USD)"])
    row = 5
    for key, label in TCO_ROWS:
        put(ws, row, 1, label)
        put(ws, row, 2, risk["tco_usd"][key], USD)
        row += 1
    if risk.get("plan_objective_usd") is not None:
        put(ws, row, 1, "Plan's objective (forecast)")
        put(ws, row, 2, risk["plan_objective_usd"], USD)
        row += 1
    row = _decomposition_table(ws, risk, row + 1)
    chart_row = 4
    if risk.get("comparison"):
        chart_row = _comparison_table(ws, risk) + 2  # the histogram below the comparison, never over it

    # Histogram: bin midpoints and counts, then a column chart over them.
    hist_top = row + 2
    put(ws, hist_top - 1, 1, "Histogram of sampled TCO").font = BOLD
    _header(ws, hist_top, ["Bin from (USD)", "Bin to (USD)", "Samples"])
    edges, counts = risk["histogram"]["bin_edges_usd"], risk["histogram"]["counts"]
    for i, count in enumerate(counts):
        r = hist_top + 1 + i
        put(ws, r, 1, edges[i], USD)
        put(ws, r, 2, edges[i + 1], USD)
        put(ws, r, 3, count)
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
    ws.add_chart(chart, f"E{chart_row}")

    # Shortfall: by quarter, then every (quarter, workload) with any chance of falling short.
    top = max(last + 3, 24)
    put(ws, top - 1, 1, "Shortfall by quarter (any workload)").font = BOLD
    _header(ws, top, ["Quarter", "P(shortfall)", "Expected shortfall (tokens/s)", "Expected unmet (tokens/s)"])
    r = top
    for r, item in enumerate(risk.get("shortfall_by_quarter", []), start=top + 1):
        put(ws, r, 1, item["quarter"])
        put(ws, r, 2, item["probability"], PERCENT)
        put(ws, r, 3, item["expected_shortfall_tokens_per_s"], UNITS)
        put(ws, r, 4, item["expected_unmet_tokens_per_s"], UNITS)
    top = r + 3
    rows = [item for item in risk["shortfall_probability"]
            if item["probability"] > 0 or item["expected_unmet_tokens_per_s"] > 0]
    put(ws, top - 1, 1,
        f"Shortfall by quarter and workload ({len(rows)} of {len(risk['shortfall_probability'])} "
        "pairs with any shortfall; demand beyond the plan's capacity is rented on demand where a "
        "cloud site allows it, else unmet)").font = BOLD
    _header(ws, top, ["Quarter", "Workload", "P(shortfall)", "Expected shortfall (tokens/s)",
                      "Expected unmet (tokens/s)"])
    for r, item in enumerate(rows, start=top + 1):
        put(ws, r, 1, item["quarter"])
        put(ws, r, 2, item["workload"])
        put(ws, r, 3, item["probability"], PERCENT)
        put(ws, r, 4, item["expected_shortfall_tokens_per_s"], UNITS)
        put(ws, r, 5, item["expected_unmet_tokens_per_s"], UNITS)
    _widths(ws, RISK_WIDTHS)
    put_note(ws, 2, about, len(RISK_WIDTHS), font=Font())
    _definitions(ws, risk, r + 3)


DECOMPOSITION_ROWS = (("spend_usd", "Spend (the plan's own lines)"),
                      ("on_demand_usd", "Rent for shortfall, on demand"),
                      ("penalty_usd", "Shortfall penalties"), ("total_usd", "Total"))


def _decomposition_table(ws, risk: dict, top: int) -> int:
    """E[TCO] beside the plan's own TCO, split into spend, on-demand rent and penalties: why they differ."""
    expected, plan = risk.get("expected_tco_usd"), risk.get("plan_tco_usd")
    if not expected:
        return top
    _header(ws, top, ["Expected TCO by part", "E over futures (USD)", "Plan, forecast (USD)"])
    row = top + 1
    for key, label in DECOMPOSITION_ROWS:
        put(ws, row, 1, label)
        put(ws, row, 2, expected[key], USD)
        if plan:
            put(ws, row, 3, plan[key], USD)
        row += 1
    return row


def _definitions(ws, risk: dict, top: int) -> None:
    """Every measure on this sheet, defined where it is read (RISK.json carries the same text)."""
    definitions = risk.get("definitions") or {}
    if not definitions:
        return
    put(ws, top, 1, "Definitions").font = BOLD
    for r, (name, text) in enumerate(definitions.items(), start=top + 1):
        put(ws, r, 1, name).alignment = Alignment(vertical="top")
        put_note(ws, r, text, len(RISK_WIDTHS), first_column=2, font=Font())  # wrapped across B..E


def _sensitivity_sheet(ws, risk: dict) -> None:
    base = risk.get("sensitivity_tco_usd_base", risk["tco_usd"]["mean"])
    put(ws, 1, 1, "Sensitivity of expected TCO to each input").font = TITLE_FONT
    _widths(ws, SENSITIVITY_WIDTHS)
    put_note(ws, 2, "Derivatives by automatic differentiation; tornado at -10 % / +10 % of each input, over "
                    f"{risk.get('sensitivity_samples', risk['samples']):,} samples with common random numbers.",
             len(SENSITIVITY_WIDTHS), font=Font())
    put(ws, 3, 1, "Base E[TCO] (USD)")
    put(ws, 3, 2, base, USD)
    put_note(ws, 4, risk.get("sensitivity_basis", "purchases held fixed"), len(SENSITIVITY_WIDTHS), font=Font())
    top = 5
    _header(ws, top, ["Input", "Value", "dE[TCO]/d input (USD per unit)", "E[TCO] at -10 % (USD)",
                      "E[TCO] at +10 % (USD)", "Delta at -10 % (USD)", "Delta at +10 % (USD)", "Swing (USD)"])
    rows = sorted(risk["sensitivities"], key=lambda item: -abs(item["tco_usd_at_plus_10pct"]
                                                                - item["tco_usd_at_minus_10pct"]))
    for r, item in enumerate(rows, start=top + 1):
        put(ws, r, 1, item["input"])
        put(ws, r, 2, item.get("value"))
        put(ws, r, 3, item["d_tco_usd_per_unit"], USD_CENTS)
        put(ws, r, 4, item["tco_usd_at_minus_10pct"], USD)
        put(ws, r, 5, item["tco_usd_at_plus_10pct"], USD)
        minus, plus = item["tco_usd_at_minus_10pct"] - base, item["tco_usd_at_plus_10pct"] - base
        put(ws, r, 6, minus, USD)
        put(ws, r, 7, plus, USD)
        put(ws, r, 8, abs(plus - minus), USD)
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
