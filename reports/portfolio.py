"""What-if workbooks: `planner compare` (scenarios side by side) and `planner sweep` (one row per grid point).

Figures are the PLAN.json values each scenario's plan carries (compare.json / sweep.json records, built in
planner/portfolio.py); what the workbook adds is live formulas: on the compare Summary, every difference against
the first scenario, and the capital and operating subtotals. Every cell goes through the plan workbook's `put`, so
scenario names, SKUs, workloads and swept keys are stored as text, never as formulas (reports/cells.py).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from models.cost_parameters import USD_LINES
from models.units import KWH_PER_MWH
from reports.atomic import write_atomic
from reports.workbook import (
    CHART_HEIGHT_CM,
    CHART_WIDTH_CM,
    COUNT,
    HEADER_FONT,
    MWH,
    PERCENT,
    SECTION_FONT,
    SPEND_LABELS,
    TITLE_FONT,
    TOKENS,
    TONNES,
    USD,
    put,
    put_formula,
)

SHEET_SUMMARY, SHEET_ORDERS, SHEET_UNMET, SHEET_UNFINISHED = "Summary", "Orders", "Unmet", "Unfinished training"
SHEET_SWEEP, SHEET_CHART = "Sweep", "TCO chart"
LABEL_WIDTH, VALUE_WIDTH = 46, 20  # characters
HEADER_ROW_HEIGHT = 30  # points: two lines of a wrapped scenario name
ERROR_ROW_HEIGHT = 60  # points: room for a wrapped error message (an infeasibility diagnosis runs long)
BAD_FONT_COLOR = "C00000"
PROVEN = "optimal"  # PLAN.json status of a plan proven within its gap

# Summary rows: (label, key of the record's `totals`, number format). Discounted figures first, as the plan's
# own Summary shows them; then the undiscounted cost lines of PLAN.json `totals`.
HEADLINE = (
    ("Discounted spend (NPV)", "discounted_spend_usd", USD),
    ("Discounted shortfall penalties (NPV)", "discounted_penalty_usd", USD),
    ("Objective: spend + penalties (NPV)", "discounted_usd", USD),
    ("Undiscounted total", "total_usd", USD),
    ("Purchases ordered (price × nodes)", "purchases_usd", USD),
    ("Nodes ordered", "nodes_ordered", COUNT),
    ("Capex charged (cash mode)", "capex_usd", USD),
    ("Depreciation", "depreciation_usd", USD),
    ("Rent", "rent_usd", USD),
    ("Energy cost", "energy_usd", USD),
    ("Maintenance", "maintenance_usd", USD),
    ("Carbon cost", "carbon_usd", USD),
    ("Energy", "energy_mwh", MWH),
    ("Carbon", "carbon_t", TONNES),
    ("Unmet demand (tokens/s × quarters)", "unmet_tokens_per_s_quarters", TOKENS),
    ("Unmet demand cost", "unmet_usd", USD),
    ("Unfinished training cost", "unfinished_training_usd", USD),
)
# Subtotals written as formulas over the rows above: (label, cost lines added up).
SUBTOTALS = (("Capital: capex + depreciation", ("capex_usd", "depreciation_usd")),
             ("Operating: rent + energy + maintenance + carbon",
              ("rent_usd", "energy_usd", "maintenance_usd", "carbon_usd")))


def _text_row(ws: Worksheet, row: int, label: str, values: list, number_format: str | None = None) -> None:
    put(ws, row, 1, label).font = HEADER_FONT
    for offset, value in enumerate(values):
        put(ws, row, 2 + offset, value, number_format)


def _difference(column: str, baseline: str, row: int) -> str:
    """Live: the scenario's figure less the baseline's, blank where either has none (a failed scenario)."""
    return f'=IF(OR({column}{row}="",{baseline}{row}=""),"",{column}{row}-{baseline}{row})'


def _compare_summary(ws: Worksheet, compare: dict) -> None:
    records = compare["scenarios"]
    n = len(records)
    value_letters = [get_column_letter(2 + j) for j in range(n)]
    diff_columns = list(range(2 + n, 2 * n + 1))  # one per scenario after the first
    baseline = f"${value_letters[0]}"
    put(ws, 1, 1, f"What-if comparison: {n} scenarios, differences against the first").font = TITLE_FONT
    put(ws, 3, 1, "Scenario").font = HEADER_FONT
    for j, record in enumerate(records):
        put(ws, 3, 2 + j, record["name"]).font = HEADER_FONT
    for j, column in enumerate(diff_columns, start=1):
        put(ws, 3, column, f"{records[j]['name']} − {records[0]['name']}").font = HEADER_FONT
    for column in range(2, 2 * n + 1):  # long names wrap instead of running into the next column
        ws.cell(row=3, column=column).alignment = Alignment(wrap_text=True, vertical="bottom")
    ws.row_dimensions[3].height = HEADER_ROW_HEIGHT
    _text_row(ws, 4, "Scenario file", [r["path"] for r in records])
    _text_row(ws, 5, "Status", [r["status"] for r in records])
    _text_row(ws, 6, "Optimality gap", [r["gap"] for r in records], "0.000%")
    _text_row(ws, 7, "Error", [r["error"] for r in records])
    ws.cell(row=7, column=1).alignment = Alignment(vertical="top")
    for j, record in enumerate(records):
        cell = ws.cell(row=7, column=2 + j)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        if record["error"]:
            cell.font = Font(color=BAD_FONT_COLOR)
            ws.row_dimensions[7].height = ERROR_ROW_HEIGHT
        if record["status"] != PROVEN:  # no plan, or a time limit stopped the solve: not comparable as it stands
            ws.cell(row=5, column=2 + j).font = Font(bold=True, color=BAD_FONT_COLOR)
    put(ws, 8, 1, "A difference smaller than the gaps is solver tolerance, not the what-if (tighten with --gap).")

    put(ws, 9, 1, "Headline totals (each scenario's PLAN.json; differences and subtotals are live formulas)"
        ).font = SECTION_FONT
    row = 10
    rows: dict[str, int] = {}
    for label, key, fmt in HEADLINE:
        totals = [_total(record, key) for record in records]
        _text_row(ws, row, label, totals, fmt)
        rows[key] = row
        for j, column in enumerate(diff_columns, start=1):
            put_formula(ws, row, column, _difference(value_letters[j], baseline, row), fmt)
        row += 1
    for label, lines in SUBTOTALS:
        put(ws, row, 1, label).font = HEADER_FONT
        for j, letter in enumerate(value_letters):
            if records[j]["totals"] is not None:
                put_formula(ws, row, 2 + j, "=" + "+".join(f"{letter}{rows[line]}" for line in lines), USD)
        for j, column in enumerate(diff_columns, start=1):
            put_formula(ws, row, column, _difference(value_letters[j], baseline, row), USD)
        row += 1

    row += 1
    put(ws, row, 1, "Discounted TCO by cost line (chart data; Σ = the objective)").font = SECTION_FONT
    header = row + 1
    put(ws, header, 1, "cost line").font = HEADER_FONT
    for j, record in enumerate(records):
        put(ws, header, 2 + j, record["name"]).font = HEADER_FONT
    for i, line in enumerate(USD_LINES, start=1):
        by_line = [None if r["discounted_usd_by_line"] is None else r["discounted_usd_by_line"][line]
                   for r in records]
        _text_row(ws, header + i, SPEND_LABELS[line], by_line, USD)
    last = header + len(USD_LINES)
    put(ws, last + 1, 1, "Total (= objective)").font = HEADER_FONT
    for j, letter in enumerate(value_letters):
        if records[j]["totals"] is not None:
            put_formula(ws, last + 1, 2 + j, f"=SUM({letter}{header + 1}:{letter}{last})", USD)

    chart = BarChart()
    chart.type, chart.grouping, chart.overlap = "col", "stacked", 100
    chart.title = "Discounted TCO by scenario and cost line"
    chart.y_axis.title, chart.x_axis.title = "discounted USD", "scenario"
    chart.y_axis.number_format = '"$"#,##0'
    chart.add_data(Reference(ws, min_col=1, max_col=1 + n, min_row=header + 1, max_row=last), from_rows=True,
                   titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=2, max_col=1 + n, min_row=header, max_row=header))
    _place_chart(ws, chart, f"A{last + 3}")
    _widths(ws, 2 * n)


def _total(record: dict, key: str):
    totals = record["totals"]
    if totals is None:
        return None
    if key == "energy_mwh":
        return totals["energy_kwh"] / KWH_PER_MWH
    return totals[key]


def _print_setup(workbook: Workbook) -> None:
    """Every sheet prints landscape, one page wide (as many pages down as needed)."""
    for ws in workbook.worksheets:
        ws.page_setup.orientation, ws.sheet_properties.pageSetUpPr.fitToPage = "landscape", True
        ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0


# Portfolio charts are drawn half as large again as the plan workbook's: they carry one bar or line per scenario or
# grid point and a legend below, more categories than a plan chart shows in the same space.
PORTFOLIO_CHART_SCALE = 1.5


def _place_chart(ws: Worksheet, chart, anchor: str) -> None:
    chart.width, chart.height = CHART_WIDTH_CM * PORTFOLIO_CHART_SCALE, CHART_HEIGHT_CM * PORTFOLIO_CHART_SCALE
    chart.legend.position = "b"
    chart.x_axis.delete = chart.y_axis.delete = False
    ws.add_chart(chart, anchor)


def _widths(ws: Worksheet, value_columns: int) -> None:
    ws.column_dimensions["A"].width = LABEL_WIDTH
    for column in range(2, 2 + value_columns):
        ws.column_dimensions[get_column_letter(column)].width = VALUE_WIDTH


def _table(ws: Worksheet, frame: pd.DataFrame, top: int = 1, formats: dict | None = None) -> int:
    """`frame` with a bold header at row `top`; returns the last row written ("(none)" when empty)."""
    formats = formats or {}
    for i, column in enumerate(frame.columns, start=1):
        put(ws, top, i, str(column)).font = HEADER_FONT
        ws.column_dimensions[get_column_letter(i)].width = max(len(str(column)) + 4, 14)
    if frame.empty:
        put(ws, top + 1, 1, "(none)")
        return top + 1
    for r, values in enumerate(frame.itertuples(index=False, name=None), start=top + 1):
        for i, (column, value) in enumerate(zip(frame.columns, values), start=1):
            put(ws, r, i, value, formats.get(column))
    return top + len(frame)


def orders_frame(records: list[dict], plans: list[dict | None]) -> pd.DataFrame:
    """Nodes ordered by scenario × SKU (rows) and order quarter (columns, every quarter of any horizon)."""
    quarters = sorted({q for plan in plans if plan for q in plan["horizon"]["quarters"]})
    frames = []
    for record, plan in zip(records, plans):
        purchases = pd.DataFrame((plan or {}).get("purchases") or [], columns=["quarter", "sku", "nodes"])
        wide = purchases.pivot_table(index="sku", columns="quarter", values="nodes", aggfunc="sum", fill_value=0)
        wide = wide.reindex(columns=quarters, fill_value=0).reset_index()
        wide.insert(0, "scenario", record["name"])
        frames.append(wide)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["scenario", "sku", *quarters])


def _per_scenario(records: list[dict], plans: list[dict | None], table: str, columns: list[str]) -> pd.DataFrame:
    """PLAN.json `table` of every scenario one under another, with the scenario's name in front."""
    frames = [pd.DataFrame(plan[table], columns=columns).assign(scenario=record["name"])
              for record, plan in zip(records, plans) if plan]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[*columns, "scenario"])
    return frame[["scenario", *columns]]


def _orders_sheet(ws: Worksheet, records: list[dict], plans: list[dict | None]) -> None:
    frame = orders_frame(records, plans)
    last = _table(ws, frame, formats={q: COUNT for q in frame.columns[2:]})
    total = len(frame.columns) + 1
    put(ws, 1, total, "total_nodes").font = HEADER_FONT
    if not frame.empty and len(frame.columns) > 2:
        first, final = get_column_letter(3), get_column_letter(len(frame.columns))
        for row in range(2, last + 1):
            put_formula(ws, row, total, f"=SUM({first}{row}:{final}{row})", COUNT)
    ws.freeze_panes = "C2"


def build_compare_workbook(compare: dict, plans: list[dict | None]) -> Workbook:
    """Summary (side by side, differences against the first scenario as formulas, the TCO chart), Orders (nodes
    by SKU × quarter per scenario), Unmet and Unfinished training (per scenario)."""
    records = compare["scenarios"]
    workbook = Workbook()
    workbook.active.title = SHEET_SUMMARY
    _compare_summary(workbook.active, compare)
    _orders_sheet(workbook.create_sheet(SHEET_ORDERS), records, plans)
    _table(workbook.create_sheet(SHEET_UNMET), _per_scenario(records, plans, "unmet", ["quarter", "workload", "units"]),
           formats={"units": TOKENS})
    _table(workbook.create_sheet(SHEET_UNFINISHED),
           _per_scenario(records, plans, "unfinished", ["workload", "deadline", "fraction_left", "cost_usd"]),
           formats={"fraction_left": PERCENT, "cost_usd": USD})
    _print_setup(workbook)
    return workbook


def write_compare_workbook(path: str | Path, compare: dict, plans: list[dict | None]) -> Path:
    workbook = build_compare_workbook(compare, plans)
    return write_atomic(path, lambda tmp: workbook.save(tmp))


# --- sweep -------------------------------------------------------------------------------------------------

SWEEP_TOTALS = ("discounted_spend_usd", "discounted_penalty_usd", *USD_LINES, "total_usd", "energy_kwh", "carbon_t",
                "purchases_usd", "nodes_ordered", "unmet_tokens_per_s_quarters")


def sweep_frame(sweep: dict) -> pd.DataFrame:
    """One row per point: its settings, status, objective, PLAN.json totals, nodes ordered by SKU, error."""
    keys = sweep["keys"]
    skus = sorted({sku for p in sweep["points"] for sku in (p["purchases_by_sku"] or {})})
    rows = []
    for point in sweep["points"]:
        totals, bought = point["totals"] or {}, point["purchases_by_sku"]
        rows.append({**{key: point["settings"][key] for key in keys}, "status": point["status"],
                     "objective_usd": point["objective_usd"], "gap": point["gap"],
                     **{name: totals.get(name) for name in SWEEP_TOTALS},
                     **{f"nodes[{sku}]": None if bought is None else bought.get(sku, 0.0) for sku in skus},
                     "error": point["error"]})
    return pd.DataFrame(rows, columns=[*keys, "status", "objective_usd", "gap", *SWEEP_TOTALS,
                                       *(f"nodes[{sku}]" for sku in skus), "error"])


def tco_pivot(sweep: dict) -> pd.DataFrame:
    """The objective by the first key's values (rows, in the order given) and the other keys' combinations
    (columns, labelled `key=value, …`; one column "objective_usd" when only one key is swept)."""
    keys = sweep["keys"]
    first, others = keys[0], keys[1:]
    values = list(dict.fromkeys(p["settings"][first] for p in sweep["points"]))
    pivot = pd.DataFrame({first: values})
    series: dict[str, list] = {}
    for point in sweep["points"]:
        label = ", ".join(f"{k}={point['settings'][k]}" for k in others) or "objective_usd"
        series.setdefault(label, [None] * len(values))[values.index(point["settings"][first])] = \
            point["objective_usd"]
    for label, column in series.items():
        pivot[label] = column
    return pivot


def build_sweep_workbook(sweep: dict) -> Workbook:
    """Sweep (one row per point) and TCO chart (the objective against the first swept key)."""
    workbook = Workbook()
    ws = workbook.active
    ws.title = SHEET_SWEEP
    frame = sweep_frame(sweep)
    formats = {name: USD for name in frame.columns if name.endswith("_usd")}
    formats.update({"gap": "0.000%", "energy_kwh": COUNT, "carbon_t": TONNES, "nodes_ordered": COUNT,
                    "unmet_tokens_per_s_quarters": TOKENS,
                    **{name: COUNT for name in frame.columns if name.startswith("nodes[")}})
    _table(ws, frame, formats=formats)
    ws.freeze_panes = get_column_letter(len(sweep["keys"]) + 1) + "2"

    chart_ws = workbook.create_sheet(SHEET_CHART)
    pivot = tco_pivot(sweep)
    last = _table(chart_ws, pivot, formats={name: USD for name in pivot.columns[1:]})
    chart = LineChart()
    chart.title = f"Discounted TCO against {sweep['keys'][0]}"
    chart.y_axis.title, chart.x_axis.title = "objective (discounted USD)", sweep["keys"][0]
    chart.y_axis.number_format = '"$"#,##0'
    chart.add_data(Reference(chart_ws, min_col=2, max_col=len(pivot.columns), min_row=1, max_row=last),
                   titles_from_data=True)
    chart.set_categories(Reference(chart_ws, min_col=1, min_row=2, max_row=last))
    for series in chart.series:
        series.smooth = False
    _place_chart(chart_ws, chart, f"A{last + 3}")
    _print_setup(workbook)
    return workbook


def write_sweep_workbook(path: str | Path, sweep: dict) -> Path:
    workbook = build_sweep_workbook(sweep)
    return write_atomic(path, lambda tmp: workbook.save(tmp))

