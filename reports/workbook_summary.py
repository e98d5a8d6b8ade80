"""The Summary (what the plan buys, its headline totals as live formulas on the Costs sheet, the baselines, the
charts and their data) and the Orders sheet (the executive table, then cash beside P&L)."""

from __future__ import annotations

import math

import pandas as pd
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.worksheet.worksheet import Worksheet

from models.units import KWH_PER_MWH
from reports import tables as T
from reports.workbook_capacity import POWER_SERIES, site_power_wide
from reports.workbook_cells import (
    CHART_COLUMN_WIDTH,
    CHART_COLUMNS,
    CHART_ROWS,
    COUNT,
    FORMULA_WIDTH_HINT,
    HEADER_FONT,
    KW,
    MWH,
    PERCENT,
    SECTION_FONT,
    SHEET_COSTS,
    SHEET_ORDERS,
    SHEET_PURCHASES,
    SHEET_SUMMARY,
    TITLE_FONT,
    TOKENS,
    TONNES,
    USD,
    USD_MILLIONS,
    Block,
    Writer,
    col,
    new_sheet,
    put,
)
from reports.workbook_charts import summary_charts
from reports.workbook_finance import CostsLayout, cash_pnl_tables


def summary_sheet(w: Writer, plan: dict, tables: dict[str, pd.DataFrame], costs: CostsLayout,
                   blocks: dict[str, Block]) -> None:
    ws = w.workbook[SHEET_SUMMARY]
    summary = tables["summary"].set_index("metric")["value"]
    quarters = list(plan["horizon"]["quarters"])
    gpus, power_wide = tables["gpus_by_sku"], site_power_wide(tables["site_power"], quarters)
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

    summary_charts(ws, costs.block, gpu_block, power_block, len(gpus.columns), len(power_wide.columns), penalties,
                    SUMMARY_CHART_COLUMN, baseline_block)


def _baselines_section(w: Writer, ws: Worksheet, baselines: pd.DataFrame, objective_formula: str,
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
    w.formula(ws, block.first_row, col(block, "objective_usd"), objective_formula, USD_MILLIONS,
              FORMULA_WIDTH_HINT)
    return block.last_row + 2, block


SUMMARY_CHART_COLUMN = 4  # charts from column D: right of the labels (A), values (B) and a gap (C)
SUMMARY_LABEL_WIDTH = 44
CHARS_PER_WIDTH_UNIT = 1.1  # a wrapped line holds about this many characters per unit of column width


def fix_summary_widths(ws: Worksheet) -> None:
    """Labels in A, values in B, then the chart grid at a fixed width (a chart's size is in cm, its anchor in
    cells: columns of another width would make charts overlap or leave gaps)."""
    ws.column_dimensions["A"].width = SUMMARY_LABEL_WIDTH
    ws.column_dimensions["B"].width = max(ws.column_dimensions["B"].width or 0, 20)
    ws.column_dimensions["C"].width = CHART_COLUMN_WIDTH
    for offset in range(2 * CHART_COLUMNS):
        ws.column_dimensions[get_column_letter(SUMMARY_CHART_COLUMN + offset)].width = CHART_COLUMN_WIDTH



def _problems(w: Writer, ws: Worksheet, warnings: pd.DataFrame, row: int, last_column: int) -> int:
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



def orders_sheet(w: Writer, plan: dict, purchases: Block, fleet: Block, costs: CostsLayout) -> None:
    """The executive table (what to buy, where, when, delivered when, cash by year), then the cash view (capex
    committed by order quarter and year) beside the P&L view (depreciation charged, new orders vs the sunk fleet)."""
    ws = new_sheet(w.workbook, SHEET_ORDERS)
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
        w.widths.see(ws, col(block, column), hint)
    w.total_row(block, ["nodes", "capex_usd", "book_value_end_usd", *(f"cash_{y}_usd" for y in years)],
                "order_quarter")

    cash_pnl_tables(w, ws, max(block.last_row, block.first_row) + 4, quarters, purchases, fleet, costs)
