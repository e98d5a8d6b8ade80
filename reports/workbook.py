"""The plan as an Excel workbook for finance and procurement reviews (openpyxl): the assembler.

Sheets, in print order: Summary, Orders (`reports/workbook_summary.py`), Purchases, Rentals
(`reports/workbook_finance.py`), Fleet, Placement (`reports/workbook_capacity.py`), Unmet, Unfinished training,
Costs, Unit costs (`reports/workbook_finance.py`), Why (`reports/workbook_why.py`), the risk sheets
(`reports/risk_sheets.py`) when a risk evaluation is given, and Assumptions last. Charts:
`reports/workbook_charts.py`; cell writer, formats and print setup: `reports/workbook_cells.py`. The numbers come
from `reports.tables`, shared with the CSV writer. Text taken from the inputs is always stored as a string, never
as a formula.
"""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook

from models.scenario import Scenario
from reports import tables as T
from reports.atomic import write_atomic
from reports.risk_sheets import add_risk_sheets
from reports.workbook_capacity import fleet_sheet, placement_sheet
from reports.workbook_cells import (  # noqa: F401  (re-exported: the workbook's public names)
    CHART_HEIGHT_CM,
    CHART_WIDTH_CM,
    COUNT,
    DECIMAL,
    FACTOR,
    HEADER_FONT,
    KW,
    KWH,
    MWH,
    PERCENT,
    RISK_SHEETS,
    SECTION_FONT,
    SHEET_PLACEMENT,
    SHEET_SUMMARY,
    SHEETS,
    SPEND_LABELS,
    TITLE_FONT,
    TOKENS,
    TONNES,
    USD,
    USD_MILLIONS,
    Block,
    Writer,
    chart_extent,
    print_setup,
    put,
    put_formula,
    set_print_areas,
)
from reports.workbook_finance import (
    costs_sheet,
    purchases_sheet,
    rentals_sheet,
    unfinished_sheet,
    unit_costs_sheet,
    unmet_sheet,
)
from reports.workbook_summary import finish_summary, orders_sheet, summary_sheet
from reports.workbook_why import assumptions_sheet, why_sheet


def _fixed_charges(plan: dict, scenario: Scenario) -> dict[str, list[float]] | None:
    """By cost line and quarter, the charges no Fleet or Rentals row holds: build-out, committed capacity and spot
    (docs/datacenter-2026.md) in capex, depreciation and rent, and the energy of the plan's storage and spot
    (PLAN.json `storage` and `spot`: their kWh, their $ at owned sites and their tCO2); None for a plan without any (the Costs sheet is
    then unchanged)."""
    storage = plan.get("storage") or []
    spot = plan.get("spot") or []  # spot node-hours: rent and the kWh they draw (docs/datacenter-2026.md "Spot")
    if not (plan.get("facility") or plan.get("contracts") or storage or spot):
        return None
    from models.cost_parameters import build_cost_parameters
    from models.risk_inputs import fixed_charges

    charges = fixed_charges(scenario, plan, build_cost_parameters(scenario).charges_depreciation)
    fixed = {line: [float(v) for v in charges[f"fixed_{line}"]] for line in ("capex_usd", "depreciation_usd",
                                                                            "rent_usd")}
    if storage or spot:
        fixed.update(_storage_energy(storage + spot, scenario))
    return fixed


def _storage_energy(storage: list[dict], scenario: Scenario) -> dict[str, list[float]]:
    """energy_kwh, energy_usd and carbon_t by quarter of the plan's storage (or spot) rows (models/money.py
    conventions)."""
    from models.money import carbon_t, charged_usd_per_kwh

    sites, horizon = scenario.sites, scenario.horizon
    price, grams = charged_usd_per_kwh(sites), sites["gco2_per_kwh"].astype(float)
    out = {line: [0.0] * horizon.quarters for line in ("energy_kwh", "energy_usd", "carbon_t")}
    for row in storage:
        q, kwh = horizon.relative(row["quarter"]), float(row["energy_kwh"])
        out["energy_kwh"][q] += kwh
        out["energy_usd"][q] += kwh * float(price[row["site"]])
        out["carbon_t"][q] += float(carbon_t(kwh, grams[row["site"]]))
    return out


def build_workbook(plan: dict, scenario: Scenario, risk: dict | None = None) -> Workbook:
    """The workbook in memory (nothing written): the sheets in `SHEETS` order, the risk sheets (if given) just
    before Assumptions, which prints last."""
    tables = T.build_tables(plan, scenario)
    workbook = Workbook()
    workbook.active.title = SHEET_SUMMARY
    summary_ws = workbook.active
    print_setup(summary_ws)
    w = Writer(workbook)
    units = unit_costs_sheet(w, tables)
    blocks = {
        "purchases": purchases_sheet(w, tables["purchases"], units),
        "rentals": rentals_sheet(w, tables["rentals"], units),
        "fleet": fleet_sheet(w, tables["fleet"], units),
        "placement": placement_sheet(w, tables),
        "unmet": unmet_sheet(w, tables["unmet"], units),
        "unfinished": unfinished_sheet(w, tables["unfinished_training"], units),
    }
    costs = costs_sheet(w, tables["costs"], blocks, units, _fixed_charges(plan, scenario))
    orders_sheet(w, plan, tables["purchases"], blocks["purchases"], blocks["fleet"], costs)
    why_sheet(w, tables, plan)
    assumptions_sheet(w, tables)
    layout = summary_sheet(w, plan, tables, costs, blocks)
    w.finish()
    finish_summary(summary_ws, layout)
    if risk is not None:
        add_risk_sheets(workbook, risk)
    set_print_areas(workbook)
    order = [*SHEETS[:-1], *RISK_SHEETS, SHEETS[-1]]
    workbook._sheets.sort(key=lambda ws: order.index(ws.title) if ws.title in order else len(order) - 1)
    workbook.active = 0
    return workbook


def write_workbook(path: str | Path, plan: dict, scenario: Scenario, risk: dict | None = None) -> Path:
    """Write the plan's workbook to `path` atomically (a failure leaves any previous file untouched)."""
    workbook = build_workbook(plan, scenario, risk)
    return write_atomic(path, lambda tmp: workbook.save(tmp))
