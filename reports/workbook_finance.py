"""The finance sheets: Unit costs (every price the cost lines multiply), Purchases, Rentals, Unmet, Unfinished
training, Costs (one row per quarter, every cost line a live formula), and the Orders sheet's cash beside P&L
tables. Every $ is a formula over Unit costs, so changing one price recalculates the chain up to the Summary.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from openpyxl.utils import quote_sheetname

from reports import tables as T
from reports.workbook_cells import (
    COUNT,
    FACTOR,
    HEADER_FONT,
    SECTION_FONT,
    SHEET_COSTS,
    SHEET_PURCHASES,
    SHEET_RENTALS,
    SHEET_UNFINISHED,
    SHEET_UNIT_COSTS,
    SHEET_UNMET,
    SPEND_LABELS,
    TITLE_FONT,
    USD,
    Block,
    Writer,
    col,
    new_sheet,
)


@dataclass
class UnitCosts:
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


def unit_costs_sheet(w: Writer, tables: dict[str, pd.DataFrame]) -> UnitCosts:
    """Every unit cost the cost lines multiply, in one place: change a price here and the chain recalculates
    (Purchases, Rentals, Fleet, Unmet, Unfinished training → Costs → Summary and Orders)."""
    ws = new_sheet(w.workbook, SHEET_UNIT_COSTS, freeze=None)
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
            ws.cell(row=row, column=col(block, "value")).number_format = formats[name]
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
    return UnitCosts(cells, sku, site)


@dataclass
class CostsLayout:
    block: Block
    total_row: int
    npv_row: int  # the objective's NPV (spend + penalties)
    npv_column: str
    npv_rows: dict[str, int]  # "spend", "penalty", "objective" -> row of that NPV


# Where each cost line's formula takes its rows from (the Costs sheet's note); a line without an entry here (one
# added to models/cost_parameters.py later) still gets its column, holding PLAN.json's values.
LINE_SOURCES = {"capex_usd": "(cash mode) from Purchases by order quarter", "depreciation_usd": "from Fleet",
                "rent_usd": "from Rentals", "energy_usd": "from Fleet", "maintenance_usd": "from Fleet",
                "carbon_usd": "from Fleet's tonnes × the carbon price", "unmet_usd": "from Unmet",
                "unfinished_training_usd": "from Unfinished training by deadline",
                "network_usd": "as PLAN.json gives it (leaf per owned node, spine per node of runs spanning "
                               "scalable units: docs/datacenter-2026.md)",
                "storage_usd": "as PLAN.json gives it (storage_tb × $/TB-quarter × share held: "
                               "docs/datacenter-2026.md)"}


def costs_sheet(w: Writer, frame: pd.DataFrame, blocks: dict[str, Block], units: UnitCosts,
                fixed: dict[str, list[float]] | None = None) -> CostsLayout:
    """One row per quarter; every cost line a SUMIFS over the sheet whose rows make it up. `fixed`: by line and
    quarter, the build-out and contract charges no sheet row holds (PLAN.json `facility`, `contracts`), added as
    numbers to their line's formula."""
    ws = new_sheet(w.workbook, SHEET_COSTS)
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
    for line, by_quarter in (fixed or {}).items():
        formulas[line] = _plus_fixed(formulas[line], by_quarter)
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
        npv = w.formula(ws, row, col(block, "discounted_usd"),
                        f"=SUMPRODUCT({block.range(column)},{block.range('discount_factor')})", USD)
        npv.font = HEADER_FONT
        npv_rows[key] = row
    sources = "; ".join(f"{SPEND_LABELS[line]} {LINE_SOURCES.get(line, 'as PLAN.json gives it (a value)')}"
                        for line in T.SPEND_LINES + T.PENALTY_LINES)
    notes = (f"Each cost line sums its sheet: {sources}. Unit costs live on the Unit costs sheet.",
             f"spend_usd = {' + '.join(SPEND_LABELS[line] for line in T.SPEND_LINES)} (what the fleet costs); "
             f"penalty_usd = {' + '.join(SPEND_LABELS[line] for line in T.PENALTY_LINES)} (what leaving work "
             "undone is assumed to cost); total_usd = spend_usd + penalty_usd; discounted_usd = total_usd × "
             "discount_factor, discount_factor = (1 + discount_rate)^(−quarter index / 4).")
    if fixed:
        notes += ("capex, depreciation and rent also add, as numbers, the build-out and committed-capacity charges "
                  "no Fleet or Rentals row holds (PLAN.json facility and contracts; docs/datacenter-2026.md); "
                  "energy and carbon add the storage's (PLAN.json storage).",)
    for offset, text in enumerate(notes):
        w.note(ws, npv_rows["objective"] + 2 + offset, text, len(block.letters))
    return CostsLayout(block, total_row, npv_rows["objective"], npv_column, npv_rows)


def _plus_fixed(formula, by_quarter: list[float]):
    """The line's formula plus that quarter's fixed charge (rows in quarter order), where there is one."""
    def with_fixed(block, r):
        value = by_quarter[r - block.first_row]
        return formula(block, r) + (f"+{value!r}" if value else "")
    return with_fixed


def purchases_sheet(w: Writer, frame: pd.DataFrame, units: UnitCosts) -> Block:
    """Orders priced from Unit costs: capex = nodes × price; what the horizon charges; the book value left."""
    ws = new_sheet(w.workbook, SHEET_PURCHASES)

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
    # no node total: a node is one catalog row (8 GPUs, or a 72-GPU rack), so only GPUs add up across SKUs
    w.total_row(block, ["gpus", "capex_usd", "charged_in_horizon_usd", "book_value_end_usd"], "order_quarter")
    w.note(ws, max(block.last_row, block.first_row) + 3, "quarters_charged: quarters in service inside the horizon. charged_in_horizon_usd: "
        "what the plan's cost lines charge for the order (depreciation mode: depreciation × quarters_charged; cash "
        "mode: the price). book_value_end_usd = capex_usd − charged_in_horizon_usd. nodes: catalog rows of the SKU "
        "(gpus = nodes × gpus_per_node); the Total adds GPUs only.", len(block.letters))
    return block


def rentals_sheet(w: Writer, frame: pd.DataFrame, units: UnitCosts) -> Block:
    ws = new_sheet(w.workbook, SHEET_RENTALS)
    block = w.table(ws, frame, 1, "tblRentals", formulas={
        "rent_usd_per_node": lambda b, r: "=" + units.of_sku("rent_usd_per_node_quarter", f"{b.letters['sku']}{r}"),
        "rent_usd": lambda b, r: f"={b.letters['nodes']}{r}*{b.letters['rent_usd_per_node']}{r}"})
    w.total_row(block, ["gpus", "rent_usd"], "quarter")  # GPUs add up across SKUs, nodes do not
    return block



def unmet_sheet(w: Writer, frame: pd.DataFrame, units: UnitCosts) -> Block:
    ws = new_sheet(w.workbook, SHEET_UNMET)
    block = w.table(ws, frame, 1, "tblUnmet", formulas={
        "unmet_usd": lambda b, r: f"={b.letters['unmet_tokens_per_s']}{r}*{units.parameters['unmet_usd_per_unit']}"})
    w.total_row(block, ["unmet_tokens_per_s", "unmet_usd"], "quarter")
    return block


def unfinished_sheet(w: Writer, frame: pd.DataFrame, units: UnitCosts) -> Block:
    ws = new_sheet(w.workbook, SHEET_UNFINISHED)
    block = w.table(ws, frame, 1, "tblUnfinished", formulas={
        "cost_usd": lambda b, r: f"={b.letters['fraction_left']}{r}*{units.parameters['unfinished_training_usd']}"})
    w.total_row(block, ["cost_usd"], "workload")
    return block


def cash_pnl_tables(w: Writer, ws, top: int, quarters: list[str], purchases: Block, fleet: Block,
                    costs: CostsLayout) -> int:
    """Below the Orders table from row `top`: cash (capex committed by order quarter) beside P&L (depreciation
    charged, new orders vs the sunk fleet), by quarter and by year; returns the last row written."""
    years = list(dict.fromkeys(q[:4] for q in quarters))
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
    w.note(ws, year_block.last_row + 3, "Cash: the purchase price in the quarter the order is placed (how budgets "
        "count it). P&L: depreciation charged per quarter (depreciation mode; zero in cash mode), split into new "
        "orders (this plan's decisions) and the existing fleet (sunk). Book value left at the end is on Purchases.",
        len(quarter_block.letters))
    return year_block.last_row + 3
