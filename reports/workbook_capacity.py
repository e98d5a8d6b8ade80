"""The capacity and power sheets: Fleet (nodes and GPUs in service, power against each site's cap, and each
row's energy, carbon, depreciation and maintenance as formulas on Unit costs), Placement, and the per-site power
table the Summary charts.
"""

from __future__ import annotations

import pandas as pd

from models.units import GRAMS_PER_TONNE
from reports import tables as T
from reports.workbook_cells import SHEET_FLEET, SHEET_PLACEMENT, Block, Writer, new_sheet
from reports.workbook_finance import UnitCosts


def fleet_sheet(w: Writer, frame: pd.DataFrame, units: UnitCosts) -> Block:
    """Nodes in service with each row's energy, carbon, depreciation and maintenance as formulas on Unit costs."""
    ws = new_sheet(w.workbook, SHEET_FLEET)
    owned = f'="{T.OWNED}"'

    def cell(b, column, r):
        return f"{b.letters[column]}{r}"

    formulas = {
        "energy_kwh": lambda b, r: (f"={cell(b, 'it_kw', r)}*{units.of_site('pue', cell(b, 'site', r))}"
                                    f"*{units.parameters['hours_per_quarter']}"),
        "energy_usd": lambda b, r: (f"=IF({cell(b, 'site_kind', r)}{owned},{cell(b, 'energy_kwh', r)}*"
                                    f"{units.of_site('usd_per_kwh', cell(b, 'site', r))},0)"),
        "carbon_t": lambda b, r: (f"={cell(b, 'energy_kwh', r)}*{units.of_site('gco2_per_kwh', cell(b, 'site', r))}"
                                  f"/{GRAMS_PER_TONNE:.0f}"),
        "depreciation_usd": lambda b, r: (
            f"=IF(AND({units.depreciation_mode()},{cell(b, 'site_kind', r)}{owned}),{cell(b, 'nodes', r)}*"
            f"{units.of_sku('depreciation_usd_per_node_quarter', cell(b, 'sku', r))},0)"),
        "existing_depreciation_usd": lambda b, r: (
            f"=IF({units.depreciation_mode()},{cell(b, 'existing_nodes', r)}*"
            f"{units.of_sku('depreciation_usd_per_node_quarter', cell(b, 'sku', r))},0)"),
        "maintenance_usd": lambda b, r: (
            f"=IF({cell(b, 'site_kind', r)}{owned},{cell(b, 'nodes', r)}*"
            f"{units.of_sku('maintenance_usd_per_node_quarter', cell(b, 'sku', r))},0)"),
    }
    block = w.table(ws, frame, 1, "tblFleet", formulas=formulas)
    w.total_row(block, ["energy_kwh", "energy_usd", "carbon_t", "depreciation_usd", "existing_depreciation_usd",
                        "maintenance_usd"], "quarter")
    w.note(ws, max(block.last_row, block.first_row) + 3, "existing_nodes: the already-owned fleet (sunk; its depreciation is "
        "existing_depreciation_usd). headroom_pct is at full load (Σ node_kw × nodes × pue, the power cap's own "
        "measure); it_kw and facility_kw are at the plan's utilisation (what the energy bill pays for). gpus = nodes × the SKU's "
        "gpus_per_node.", len(block.letters))
    return block



def placement_sheet(w: Writer, tables: dict[str, pd.DataFrame]) -> Block:
    """Which pool serves each workload each quarter; the pool's size in nodes and, beside it, in GPUs."""
    frame = tables["placement"].copy()
    gpus_per_node = tables["unit_costs_sku"].set_index("sku")["gpus_per_node"]
    frame.insert(frame.columns.get_loc("pool_nodes") + 1, "pool_gpus",
                 frame["pool_nodes"] * frame["sku"].map(gpus_per_node))
    return simple_sheet(w, SHEET_PLACEMENT, frame, "tblPlacement")


def simple_sheet(w: Writer, title: str, frame: pd.DataFrame, name: str, totals: list[str] | None = None,
                  label: str | None = None) -> Block:
    ws = new_sheet(w.workbook, title)
    block = w.table(ws, frame, 1, name)
    if totals:
        w.total_row(block, totals, label or frame.columns[0])
    return block



POWER_SERIES = (("full_load_facility_kw", "full load kW"), ("facility_kw", "at plan utilisation kW"),
                ("site_cap_kw", "cap kW"))


def site_power_wide(power: pd.DataFrame, quarters: list[str]) -> pd.DataFrame:
    """One row per quarter; per owned site its facility kW at full load, at the plan's utilisation, and its cap."""
    wide = pd.DataFrame({"quarter": quarters})
    for site in dict.fromkeys(power["site"]):
        one = power[power["site"] == site].set_index("quarter").reindex(quarters)
        for column, label in POWER_SERIES:
            wide[f"{site} {label}"] = one[column].to_numpy()
    return wide

