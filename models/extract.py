"""Solved model → the plan's tidy tables (the content of PLAN.json), labelled with quarters, sites and SKUs.

Cost lines are evaluated from the same labelled expressions the objective was built from, so
`objective_usd == Σ costs.discounted_usd` holds by construction, not by coincidence.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.cost_parameters import USD_LINES
from models.formulation import PlanModel
from models.money import facility_kw, facility_kwh_per_quarter, in_service_quarter
from models.plan_schema import table_columns
from models.quarters import HOURS_PER_QUARTER, Horizon
from models.scenario import Scenario

NEGLIGIBLE = 1e-9  # node-equivalents / tokens/s below this are solver noise, not decisions

COST_COLUMNS = table_columns("costs")  # PLAN.json's costs table (models/plan_schema.py)


def extract_tables(model: PlanModel, scenario: Scenario, x: np.ndarray) -> dict[str, pd.DataFrame]:
    lp, sets, horizon = model.lp, model.sets, scenario.horizon
    catalog, prices = scenario.catalog, model.cost_parameters
    tables: dict[str, pd.DataFrame] = {}

    orders = lp.value("orders", x)
    purchases = orders[orders > 0.5].rename("nodes").reset_index()
    purchases["in_service"] = in_service_quarter(purchases["order_quarter"],
                                                 catalog.loc[purchases["sku"], "lead_quarters"].to_numpy())
    purchases["capex_usd"] = purchases["nodes"] * prices.capex_usd_per_node_ordered.loc[purchases["sku"]].to_numpy()
    purchases = purchases.rename(columns={"order_quarter": "quarter"})
    tables["purchases"] = _label(purchases, horizon, ("quarter", "in_service"))[
        ["quarter", "site", "sku", "nodes", "in_service", "capex_usd"]]

    rentals = lp.value("rentals", x)
    rentals = rentals[rentals > 0.5].rename("nodes").reset_index()
    rent_per_node = prices.rent_usd_per_node_quarter.loc[pd.MultiIndex.from_frame(rentals[["site", "sku"]])]
    rentals["rent_usd"] = rentals["nodes"] * rent_per_node.to_numpy()
    tables["rentals"] = _label(rentals, horizon, ("quarter",))[["quarter", "site", "sku", "nodes", "rent_usd"]]

    nodes = lp.evaluate(model.nodes, x).rename("nodes")
    it_kw = lp.evaluate(model.it_kw, x).rename("it_kw")
    fleet = pd.concat([nodes, it_kw.reindex(nodes.index)], axis=1).reset_index()
    fleet = fleet[fleet["nodes"] > 0.5]
    fleet["facility_kw"] = facility_kw(fleet["it_kw"], scenario.sites.loc[fleet["site"], "pue"].to_numpy())
    fleet = fleet.sort_values(["quarter", "site", "sku"])
    tables["fleet"] = _label(fleet, horizon, ("quarter",))[["quarter", "site", "sku", "nodes", "it_kw",
                                                              "facility_kw"]]

    busy = lp.value("busy", x)
    placement = busy[busy > NEGLIGIBLE].rename("node_equivalents").reset_index()
    rate = sets.placements.set_index(["quarter", "workload", "site", "sku"])["tokens_per_s_per_node"]
    placement["units"] = placement["node_equivalents"] * rate.reindex(
        pd.MultiIndex.from_frame(placement[["quarter", "workload", "site", "sku"]])).to_numpy()
    placement = placement.sort_values(["quarter", "workload", "site", "sku"])
    tables["placement"] = _label(placement, horizon, ("quarter",))[
        ["quarter", "workload", "site", "sku", "node_equivalents", "units"]]

    if "unmet" in lp.variables:
        unmet = lp.value("unmet", x)
        unmet = unmet[unmet > NEGLIGIBLE].rename("units").reset_index()
    else:
        unmet = pd.DataFrame({"quarter": pd.Series(dtype=int), "workload": pd.Series(dtype=object),
                              "units": pd.Series(dtype=float)})
    tables["unmet"] = _label(unmet, horizon, ("quarter",))[["quarter", "workload", "units"]]

    if "left" in lp.variables:
        left = lp.value("left", x)
        left = left[left > NEGLIGIBLE].rename("fraction_left").reset_index()
        left["deadline"] = [horizon.label(int(q)) for q in scenario.workloads.loc[left["workload"], "deadline"]]
        left["cost_usd"] = left["fraction_left"] * (prices.unfinished_training_usd or 0.0)
    else:
        left = pd.DataFrame(columns=["workload", "deadline", "fraction_left", "cost_usd"])
    tables["unfinished"] = left[["workload", "deadline", "fraction_left", "cost_usd"]]

    if "facility_builds" in lp.variables:
        tables["facility"] = facility_table(model, x, horizon)
    if "contract_signings" in lp.variables:
        tables["contracts"] = contract_table(model, x, horizon)
    if model.storage_share is not None:
        tables["storage"] = storage_table(model, scenario, x)
    if "spot_node_hours" in lp.variables:
        tables["spot"] = spot_table(model, scenario, x)
    tables["costs"] = cost_table(model, x, horizon)
    return tables


def storage_table(model: PlanModel, scenario: Scenario, x: np.ndarray) -> pd.DataFrame:
    """PLAN.json's `storage`: each workload's share of its storage_tb held at each site each quarter, its IT kW,
    kWh (× PUE × 2,190 h, models/money.py) and $ (docs/datacenter-2026.md "Fabric and storage")."""
    storage = model.storage_costs
    share = model.lp.evaluate(model.storage_share, x).groupby(level=["quarter", "workload", "site"]).sum()
    share = share[share > NEGLIGIBLE].rename("share").reset_index()
    share["storage_tb"] = storage.storage_tb.reindex(share["workload"]).to_numpy()
    held_tb = share["storage_tb"] * share["share"]
    share["storage_kw"] = held_tb * storage.kw_per_tb.reindex(share["site"]).to_numpy()
    pue = scenario.sites["pue"].reindex(share["site"]).to_numpy(dtype=float)
    share["energy_kwh"] = facility_kwh_per_quarter(facility_kw(share["storage_kw"], pue))
    share["storage_usd"] = held_tb * storage.usd_per_tb_quarter.reindex(share["site"]).to_numpy()
    share = share.sort_values(["quarter", "workload", "site"])
    return _label(share, scenario.horizon, ("quarter",))[table_columns("storage")]


def spot_table(model: PlanModel, scenario: Scenario, x: np.ndarray) -> pd.DataFrame:
    """PLAN.json's `spot`: the spot node-hours each preemptible run rents (docs/datacenter-2026.md "Spot"), the
    average nodes they make over the quarter (node_hours / 2,190), the hours of work they deliver, their kWh
    (node_kw × PUE per node-hour, models/money.py) and their price, which costs.rent_usd includes."""
    spot = model.spot_costs
    hours = model.lp.value("spot_node_hours", x)
    hours = hours[hours > NEGLIGIBLE].rename("node_hours").reset_index()
    hours["spot_nodes"] = hours["node_hours"] / HOURS_PER_QUARTER
    hours["work_node_hours"] = hours["node_hours"] * spot.work_per_node_hour.reindex(hours["sku"]).to_numpy()
    it_kw = hours["spot_nodes"] * spot.it_kw_per_node.reindex(hours["sku"]).to_numpy()
    pue = scenario.sites["pue"].reindex(hours["site"]).to_numpy(dtype=float)
    hours["energy_kwh"] = facility_kwh_per_quarter(facility_kw(it_kw, pue))
    hours["spot_usd"] = hours["node_hours"] * spot.usd_per_node_hour.reindex(hours["sku"]).to_numpy()
    hours = hours.sort_values(["quarter", "workload", "site", "sku"])
    return _label(hours, scenario.horizon, ("quarter",))[table_columns("spot")]


def contract_table(model: PlanModel, x: np.ndarray, horizon: Horizon) -> pd.DataFrame:
    """PLAN.json's `contracts`: each signing of committed capacity, its nodes, term and what the term costs."""
    contracts = model.contract_costs
    signed = model.lp.value("contract_signings", x).round()
    signed = signed[signed > 0.5].rename("contract_blocks").reset_index()
    offer = signed["contract"]
    signed["nodes"] = signed["contract_blocks"] * contracts.nodes_per_block.reindex(offer).to_numpy()
    signed["in_service"] = in_service_quarter(signed["sign_quarter"], contracts.lead_quarters.reindex(offer).to_numpy())
    term = contracts.term_quarters.reindex(offer).to_numpy()
    signed["term_end"] = signed["in_service"] + term - 1
    signed["commitment_usd"] = signed["contract_blocks"] * contracts.usd_per_block_quarter.reindex(offer).to_numpy() \
        * term
    signed = signed.rename(columns={"sign_quarter": "quarter"}).sort_values(["quarter", "contract"])
    return _label(signed, horizon, ("quarter", "in_service", "term_end"))[table_columns("contracts")]


def facility_table(model: PlanModel, x: np.ndarray, horizon: Horizon) -> pd.DataFrame:
    """PLAN.json's `facility`: each build-out decision (units of an option built in a quarter), when it enters
    service, and the cash it costs (units × price_usd; charged as capex in cash mode, depreciated otherwise)."""
    facility = model.facility_costs
    builds = model.lp.value("facility_builds", x).round()
    builds = builds[builds > 0.5].rename("facility_units").reset_index()
    builds["site"] = facility.site.reindex(builds["option"]).to_numpy()
    builds["in_service"] = in_service_quarter(builds["build_quarter"],
                                              facility.lead_quarters.reindex(builds["option"]).to_numpy())
    builds["capex_usd"] = builds["facility_units"] * facility.capex_usd_per_unit.reindex(builds["option"]).to_numpy()
    builds = builds.rename(columns={"build_quarter": "quarter"}).sort_values(["quarter", "option"])
    return _label(builds, horizon, ("quarter", "in_service"))[table_columns("facility")[:-1]]


def cost_table(model: PlanModel, x: np.ndarray, horizon: Horizon) -> pd.DataFrame:
    # Every cost line is keyed by quarter alone (see formulation.cost_lines).
    costs = pd.DataFrame({name: model.lp.evaluate(expr, x).groupby(level="quarter").sum()
                          for name, expr in model.costs.items()})
    costs = costs.reindex(model.sets.quarters.to_numpy()).fillna(0.0)
    costs["discount_factor"] = model.cost_parameters.discount_factor.reindex(costs.index).to_numpy()
    costs["total_usd"] = costs[list(USD_LINES)].sum(axis=1)  # by name: the column order does not matter
    costs["discounted_usd"] = costs["total_usd"] * costs["discount_factor"]
    costs.index.name = "quarter"
    costs = costs.reset_index()
    costs["quarter"] = [horizon.label(int(q)) for q in costs["quarter"]]
    return costs[COST_COLUMNS]


def _label(frame: pd.DataFrame, horizon: Horizon, columns: tuple[str, ...]) -> pd.DataFrame:
    frame = frame.copy()
    for column in columns:
        frame[column] = [horizon.label(int(q)) for q in frame[column]]
    return frame.reset_index(drop=True)
