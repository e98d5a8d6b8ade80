"""The Summary (what the plan buys, its headline totals as live formulas on the Costs sheet, the baselines, the
charts and their data) and the Orders sheet (the executive table, then cash beside P&L)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
from openpyxl.styles import Font
from openpyxl.utils import quote_sheetname
from openpyxl.worksheet.worksheet import Worksheet

from models.units import KWH_PER_MWH
from reports import tables as T
from reports.workbook_capacity import POWER_SERIES, site_power_wide
from reports.workbook_cells import (
    CHART_ROWS,
    COUNT,
    FORMULA_WIDTH_HINT,
    HEADER_FONT,
    MWH,
    PERCENT,
    SECTION_FONT,
    SHEET_COSTS,
    SHEET_ORDERS,
    SHEET_PURCHASES,
    SHEET_RENTALS,
    SHEET_SUMMARY,
    SPEND_LABELS,
    TITLE_FONT,
    TOKENS,
    TONNES,
    USD,
    USD_MILLIONS,
    Block,
    Writer,
    cell_anchor,
    col,
    new_sheet,
)
from reports.workbook_charts import chart_data_sheet, summary_charts
from reports.workbook_finance import CostsLayout, cash_pnl_tables

SUMMARY_TABLE_COLUMNS = 6  # the order list's width (quarter, site, sku, nodes, gpus, capex): notes wrap inside it
SUMMARY_LABEL_WIDTH = 44
BASELINE_DETAIL_WIDTH = 24  # characters; a baseline's detail wraps inside it
SUMMARY_COLUMN_WIDTH = 22  # characters: B..F no wider (a longer fact overflows into the empty cell beside it)
MIN_CHART_COLUMN_WIDTH = 12  # characters: B..F no narrower, so the charts over them keep their size
CHART_GAP_CM = 0.5  # between the two charts of a row
# The headline's row for each cost line: its label where the line's short label is not enough, and the rows that
# go with it. A line named in neither (added to models/cost_parameters.py later) gets a row of its own all the same.
HEADLINE_LABELS = {"capex_usd": "Capex charged (cash mode)", "energy_usd": "Energy cost", "carbon_usd": "Carbon cost",
                   "unmet_usd": "Unmet demand cost", "unfinished_training_usd": "Unfinished training cost"}


@dataclass
class SummaryLayout:
    """The Summary's charts, placed once the column widths are final (`finish_summary`), from `charts_row`."""

    charts: list
    charts_row: int


def summary_sheet(w: Writer, plan: dict, tables: dict[str, pd.DataFrame], costs: CostsLayout,
                  blocks: dict[str, Block]) -> SummaryLayout:
    """What to buy first (the order list, then rentals, each with GPUs beside nodes), then the problems, the facts,
    the headline totals (live formulas on the Costs sheet), GPUs in service at the end, the charts in a two-wide
    grid and, below them, the baselines and the charts' data."""
    ws = w.workbook[SHEET_SUMMARY]
    summary = tables["summary"].set_index("metric")["value"]
    quarters = list(plan["horizon"]["quarters"])
    gpus, power_wide = tables["gpus_by_sku"], site_power_wide(tables["site_power"], quarters)
    penalties = bool((tables["costs"]["penalty_usd"].abs() > 0).any())
    baselines = tables["baselines"]
    w.text(ws, 1, 1, f"Capacity plan: {plan['scenario']}", TITLE_FONT)
    gpus_per_node = tables["unit_costs_sku"].set_index("sku")["gpus_per_node"]
    row = _order_list(w, ws, tables["purchases"], blocks["purchases"], gpus_per_node, 3)
    row = _rental_list(w, ws, tables["rentals"], blocks["rentals"], row)
    row = _problems(w, ws, tables["warnings"], row, SUMMARY_TABLE_COLUMNS) + 1
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
    npv = {key: f"={quote_sheetname(SHEET_COSTS)}!${costs.npv_column}${r}" for key, r in costs.npv_rows.items()}
    for label, formula, fmt in _headline(costs, blocks, npv):
        w.text(ws, row, 1, label, HEADER_FONT)
        w.formula(ws, row, 2, formula, fmt, FORMULA_WIDTH_HINT)
        row += 1

    row += 1
    w.text(ws, row, 1, f"In service at the end ({quarters[-1] if quarters else 'n/a'}), by SKU", SECTION_FONT)
    row += 1
    fleet = tables["fleet"]
    at_end = fleet[fleet["quarter"] == quarters[-1]] if quarters else fleet.iloc[:0]
    skus = [c for c in gpus.columns if c != "quarter"]
    end_frame = (at_end.groupby("sku")[["nodes", "gpus"]].sum().reindex(skus, fill_value=0)
                 .rename_axis("sku").reset_index())
    end_block = w.table(ws, end_frame, row, "tblGpusAtEnd", excel_table=False)
    row = w.total_row(end_block, ["gpus"], "sku") + 2

    n_charts = 1 + penalties + (len(gpus) > 0 and len(gpus.columns) > 1) + (len(power_wide.columns) - 1) // len(
        POWER_SERIES) + (not baselines.empty)
    charts_row = row
    row = charts_row + math.ceil(n_charts / 2) * CHART_ROWS + 1  # the baselines below the grid, never under it
    baseline_block = None
    if not baselines.empty:
        row, baseline_block = _baselines_section(w, ws, baselines, npv["objective"], row)
    gpu_block, power_block = chart_data_sheet(w, gpus, power_wide)
    charts = summary_charts(costs.block, gpu_block, power_block, penalties, baseline_block)
    return SummaryLayout(charts, charts_row)


def _order_list(w: Writer, ws: Worksheet, purchases: pd.DataFrame, purchases_block: Block,
                gpus_per_node: pd.Series, row: int) -> int:
    """What to buy: one row per order (quarter, site, SKU, nodes, GPUs, capex as a live formula on Purchases),
    the GPUs and capex in total, then nodes per SKU (nodes add up within a SKU only: a node of one SKU is 8 GPUs,
    of another a 72-GPU rack). Returns the next free row."""
    orders = purchases[["order_quarter", "site", "sku", "nodes", "gpus", "capex_usd"]].rename(
        columns={"order_quarter": "quarter"})
    total_gpus = int(orders["gpus"].sum()) if len(orders) else 0
    w.text(ws, row, 1, f"What to buy: {_count(len(orders), 'order')}, {total_gpus:,} GPUs", SECTION_FONT)
    sheet = quote_sheetname(SHEET_PURCHASES)

    def capex(b: Block, r: int) -> str:
        return f"={sheet}!{purchases_block.cell('capex_usd', purchases_block.first_row + r - b.first_row)}"

    block = w.table(ws, orders, row + 1, "tblSummaryOrders", excel_table=False, formulas={"capex_usd": capex})
    row = w.total_row(block, ["gpus", "capex_usd"], "quarter") + 2
    if orders.empty:
        return row
    w.text(ws, row, 1, "Ordered, by SKU", SECTION_FONT)
    skus = list(dict.fromkeys(orders["sku"]))
    sums = orders.groupby("sku", sort=False)[["nodes", "gpus", "capex_usd"]].sum()  # the formulas' values, to size
    by_sku = pd.DataFrame({"sku": skus, "nodes": sums["nodes"].to_numpy(),
                           "gpus_per_node": gpus_per_node.reindex(skus).to_numpy(), "gpus": sums["gpus"].to_numpy(),
                           "capex_usd": sums["capex_usd"].to_numpy()})

    def sumifs(column: str):
        return lambda b, r: (f"=SUMIFS({block.range(column)},{block.range('sku')},"
                             f"{b.letters['sku']}{r})")

    sku_block = w.table(ws, by_sku.astype(object), row + 1, "tblSummaryOrdersBySku", excel_table=False,
                        formulas={c: sumifs(c) for c in ("nodes", "gpus", "capex_usd")},
                        formats={"nodes": COUNT, "gpus_per_node": COUNT, "gpus": COUNT, "capex_usd": USD})
    return w.total_row(sku_block, ["gpus", "capex_usd"], "sku") + 2


def _rental_list(w: Writer, ws: Worksheet, rentals: pd.DataFrame, rentals_block: Block, row: int) -> int:
    """Rentals: quarter, site, SKU, nodes, GPUs, rent (a live formula on Rentals); the GPUs and rent in total."""
    frame = rentals[["quarter", "site", "sku", "nodes", "gpus", "rent_usd"]]
    w.text(ws, row, 1, f"Rentals: {_count(len(frame), 'rental')} (quarter × site × SKU)", SECTION_FONT)
    sheet = quote_sheetname(SHEET_RENTALS)

    def rent(b: Block, r: int) -> str:
        return f"={sheet}!{rentals_block.cell('rent_usd', rentals_block.first_row + r - b.first_row)}"

    block = w.table(ws, frame, row + 1, "tblSummaryRentals", excel_table=False, formulas={"rent_usd": rent})
    return w.total_row(block, ["gpus", "rent_usd"], "quarter") + 2


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _headline(costs: CostsLayout, blocks: dict[str, Block], npv: dict[str, str]) -> list[tuple[str, str, str]]:
    """(label, formula, format) of each headline total: the NPVs and undiscounted totals, then one row per cost
    line in `models/cost_parameters.py` order with the quantities and splits that explain it, then utilisation."""
    cb, total_row = costs.block, costs.total_row
    unmet, placement, fleet, purchases = (blocks[k] for k in ("unmet", "placement", "fleet", "purchases"))

    def total(column: str) -> str:
        return f"={cb.cell(column, total_row, sheet=True)}"

    existing = f"SUM({fleet.range('existing_depreciation_usd', sheet=True)})"
    before = {"energy_usd": [("Energy", f"{total('energy_kwh')}/{KWH_PER_MWH:g}", MWH)],
              "carbon_usd": [("Carbon", total("carbon_t"), TONNES)],
              "unmet_usd": [("Unmet demand (tokens/s × quarters)",
                             f"=SUM({unmet.range('unmet_tokens_per_s', sheet=True)})", TOKENS)]}
    after = {"capex_usd": [("Purchases ordered (price × nodes)", f"=SUM({purchases.range('capex_usd', sheet=True)})",
                            USD)],
             "depreciation_usd": [("  of which the existing fleet (sunk)", f"={existing}", USD),
                                  ("  of which new orders (this plan's decisions)",
                                   f"{total('depreciation_usd')}-{existing}", USD),
                                  ("Book value of new orders left at the end",
                                   f"=SUM({purchases.range('book_value_end_usd', sheet=True)})", USD)]}
    rows = [("Discounted spend (NPV)", npv["spend"], USD),
            ("Discounted shortfall penalties (NPV)", npv["penalty"], USD),
            ("Objective: spend + penalties (NPV)", npv["objective"], USD),
            ("Undiscounted spend", total("spend_usd"), USD),
            ("Undiscounted shortfall penalties", total("penalty_usd"), USD),
            ("Undiscounted total", total("total_usd"), USD)]
    for line in (*T.SPEND_LINES, *T.PENALTY_LINES):
        rows += before.get(line, [])
        rows.append((HEADLINE_LABELS.get(line, SPEND_LABELS[line].capitalize()), total(line), USD))
        rows += after.get(line, [])
    owned = f'"{T.OWNED}"'
    rows.append(("Average utilisation of owned nodes",
                 f"=IFERROR(SUMIFS({placement.range('node_equivalents', sheet=True)},"
                 f"{placement.range('site_kind', sheet=True)},{owned})/"
                 f"SUMIFS({fleet.range('nodes', sheet=True)},{fleet.range('site_kind', sheet=True)},{owned}),0)",
                 PERCENT))
    return rows


def _baselines_section(w: Writer, ws: Worksheet, baselines: pd.DataFrame, objective_formula: str,
                       row: int) -> tuple[int, Block]:
    """This plan beside each baseline (docs/baselines.md): this plan's objective is the Costs sheet's NPV, and
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

    block = w.table(ws, baselines, row + 1, "tblBaselines", excel_table=False, wrap={"detail": BASELINE_DETAIL_WIDTH},
                    formulas={"saving_usd": saving, "saving_pct": saving_pct},
                    formats={"objective_usd": USD_MILLIONS, "saving_usd": USD_MILLIONS, "saving_pct": PERCENT})
    w.formula(ws, block.first_row, col(block, "objective_usd"), objective_formula, USD_MILLIONS,
              FORMULA_WIDTH_HINT)
    return block.last_row + 2, block


def finish_summary(ws: Worksheet, layout: SummaryLayout) -> None:
    """Once the widths are fitted: the columns capped so the sheet prints one readable page wide, then the charts
    two to a row, the left one over columns A..B, the right one over C..F (stretched over their cells, so they
    meet without overlapping in any viewer)."""
    ws.column_dimensions["A"].width = min(max(ws.column_dimensions["A"].width or 0, 12), SUMMARY_LABEL_WIDTH)
    for letter in "BCDEF":
        fitted = ws.column_dimensions[letter].width or MIN_CHART_COLUMN_WIDTH
        ws.column_dimensions[letter].width = max(MIN_CHART_COLUMN_WIDTH, min(fitted, SUMMARY_COLUMN_WIDTH))
    for index, chart in enumerate(layout.charts):
        row, right = divmod(index, 2)
        top = layout.charts_row + row * CHART_ROWS
        first, last = (3, SUMMARY_TABLE_COLUMNS) if right else (1, 2)
        ws.add_chart(chart, cell_anchor(first, top, last, top + CHART_ROWS - 2, CHART_GAP_CM if right else 0.0))


def _problems(w: Writer, ws: Worksheet, warnings: pd.DataFrame, row: int, last_column: int) -> int:
    """The plan's warnings, each wrapped across columns A..last_column; returns the row after the last one."""
    if warnings.empty:
        w.text(ws, row, 1, "No shortfall: every training run finishes by its deadline and all demand is served.",
               SECTION_FONT)
        return row + 1
    w.text(ws, row, 1, f"Problems in this plan ({len(warnings)}): work left undone", Font(bold=True, size=12,
                                                                                          color="C00000"))
    for message in warnings["message"]:
        row += 1
        w.note(ws, row, message, last_column, Font(bold=True, color="C00000"))
    return row + 1


def orders_sheet(w: Writer, plan: dict, table: pd.DataFrame, purchases: Block, fleet: Block,
                 costs: CostsLayout) -> None:
    """The executive table (what to buy, when ordered and delivered, where, nodes and GPUs, capex, book value,
    cash by year; every cell a formula on Purchases), then the cash view (capex committed by order quarter and
    year) beside the P&L view (depreciation charged, new orders vs the sunk fleet). `table` is the Purchases
    table, whose values size the columns."""
    ws = new_sheet(w.workbook, SHEET_ORDERS)
    quarters = list(plan["horizon"]["quarters"])
    years = list(dict.fromkeys(q[:4] for q in quarters))
    sources = {"order_quarter": "order_quarter", "delivered_quarter": "in_service_quarter", "site": "site",
               "sku": "sku", "nodes": "nodes", "gpus": "gpus", "capex_usd": "capex_usd",
               "book_value_end_usd": "book_value_end_usd"}
    frame = pd.DataFrame({column: table[source].to_numpy() for column, source in sources.items()})
    for year in years:  # a year's cash is at most the capex: size its column by that
        frame[f"cash_{year}_usd"] = frame["capex_usd"]

    def same_row(column):
        sheet = quote_sheetname(SHEET_PURCHASES)
        return lambda b, r: f"={sheet}!{purchases.letters[column]}{purchases.first_row + r - b.first_row}"

    def cash_in(year):
        return lambda b, r: f'=IF(LEFT({b.letters["order_quarter"]}{r},4)="{year}",{b.letters["capex_usd"]}{r},0)'

    formulas = {column: same_row(source) for column, source in sources.items()}
    formulas.update({f"cash_{year}_usd": cash_in(year) for year in years})
    block = w.table(ws, frame.astype(object), 1, "tblOrders", formulas=formulas,
                    formats={"nodes": COUNT, "gpus": COUNT})
    # GPUs add up across SKUs; nodes only within one (8 GPUs or a 72-GPU rack): their totals are by SKU below
    w.total_row(block, ["gpus", "capex_usd", "book_value_end_usd", *(f"cash_{y}_usd" for y in years)],
                "order_quarter")
    top = max(block.last_row, block.first_row) + 3
    w.text(ws, top, 1, "Ordered, by SKU", SECTION_FONT)
    skus = list(dict.fromkeys(table["sku"]))
    sums = table.groupby("sku", sort=False)[["nodes", "gpus", "capex_usd"]].sum()  # the formulas' values, to size
    by_sku = pd.DataFrame({"sku": skus, **{c: sums[c].to_numpy() for c in ("nodes", "gpus", "capex_usd")}})

    def sumifs(column: str):
        return lambda b, r: f"=SUMIFS({block.range(column)},{block.range('sku')},{b.letters['sku']}{r})"

    sku_block = w.table(ws, by_sku.astype(object), top + 1, "tblOrdersBySku",
                        formulas={c: sumifs(c) for c in ("nodes", "gpus", "capex_usd")},
                        formats={"nodes": COUNT, "gpus": COUNT, "capex_usd": USD})
    w.total_row(sku_block, ["gpus", "capex_usd"], "sku")
    cash_pnl_tables(w, ws, max(sku_block.last_row, sku_block.first_row) + 5, quarters, purchases, fleet, costs)
