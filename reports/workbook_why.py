"""The explanation sheets: Why (what each order serves, shadow prices of caps and demand) and Assumptions
(every input table and parameter as used, with the input files' SHA-256)."""

from __future__ import annotations

import pandas as pd

from reports.workbook_cells import (
    DECIMAL,
    SECTION_FONT,
    SHEET_ASSUMPTIONS,
    SHEET_WHY,
    TITLE_FONT,
    Writer,
    new_sheet,
)


# A build's reason names every SKU the site holds; wrapped at the width of the orders' `workload` column so the
# sheet stays one readable page wide.
REASON_WRAP_CHARS = 40


def why_sheet(w: Writer, tables: dict[str, pd.DataFrame], plan: dict) -> None:
    """Why each order is made (the workloads its pool serves), why each build-out unit is built, which capacity is
    committed and which spot node-hours are rented, and what one more unit of each cap is worth."""
    ws = new_sheet(w.workbook, SHEET_WHY)
    frame = tables["why_orders"].copy()
    if "nodes" in frame.columns and "sku" in frame.columns:  # GPUs beside nodes (a node may be 8 GPUs or 72)
        gpus_per_node = tables["unit_costs_sku"].set_index("sku")["gpus_per_node"]
        frame.insert(frame.columns.get_loc("nodes") + 1, "gpus", frame["nodes"] * frame["sku"].map(gpus_per_node))
    orders = w.table(ws, frame, 1, "tblWhyOrders", formats={"node_equivalent_quarters": DECIMAL})
    top = orders.last_row + 3
    for title, key, name in (("Facility build-out: why each unit is built", "why_facility", "tblWhyFacility"),
                             ("Committed capacity signed", "why_contracts", "tblWhyContracts"),
                             ("Spot node-hours for preemptible training (in rent_usd)", "why_spot", "tblWhySpot")):
        if key not in tables or tables[key].empty:  # no build-out, contract or spot: nothing to explain
            continue
        w.text(ws, top, 1, title, SECTION_FONT)
        block = w.table(ws, tables[key], top + 1, name, wrap={"reason": REASON_WRAP_CHARS},
                        formats={"spot_nodes": DECIMAL, "node_hours": DECIMAL, "work_node_hours": DECIMAL})
        top = block.last_row + 3
    method = (plan.get("duals") or {}).get("method", "")
    w.text(ws, top, 1, f"Shadow prices ({method})", SECTION_FONT)
    w.table(ws, tables["why_shadow_prices"], top + 1, "tblShadowPrices")


def assumptions_sheet(w: Writer, tables: dict[str, pd.DataFrame]) -> None:
    ws = new_sheet(w.workbook, SHEET_ASSUMPTIONS, freeze=None)
    row = 1
    w.text(ws, row, 1, "Assumptions: the scenario parameters and every input table, as used for this plan",
           TITLE_FONT)
    row += 2
    sections = [("Scenario parameters", "assumptions_parameters", "tblParameters"),
                ("Input files (SHA-256 recorded in the plan, and now)", "assumptions_input_files",
                 "tblInputFiles"),
                ("Catalog", "assumptions_catalog", "tblCatalog"), ("Sites", "assumptions_sites", "tblSites"),
                ("Existing fleet", "assumptions_fleet", "tblExistingFleet"),
                ("Workloads", "assumptions_workloads", "tblWorkloads"),
                ("Demand (tokens/s)", "assumptions_demand", "tblDemand"),
                ("Throughput (tokens/s per node)", "assumptions_throughput", "tblThroughput")]
    for title, key, name in sections:
        w.text(ws, row, 1, title, SECTION_FONT)
        frame = tables[key]
        formats = {c: None for c in frame.columns}  # inputs shown as given
        block = w.table(ws, frame, row + 1, name, formats=formats)
        row = max(block.last_row, block.first_row) + 3

