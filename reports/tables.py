"""PLAN.json + scenario → tidy pandas tables, one per workbook sheet / CSV file. No spreadsheet code here.

Quantities (orders, nodes, kW, placement, unmet units) come from PLAN.json. The $ of each row (a purchase's
depreciation, a fleet row's energy and maintenance) are docs/conventions.md applied to those quantities
with the scenario's unit costs (the Unit costs table), which the workbook then shows as live formulas; on
unchanged inputs they add up to PLAN.json's cost lines, and `planner report` refuses changed inputs by default.
"""

from __future__ import annotations

import pandas as pd

from models.cost_parameters import PENALTY_LINES_USD, SPEND_LINES_USD, USD_LINES, build_cost_parameters
from models.money import (carbon_t, charged_usd_per_kwh, facility_kw, facility_kwh_per_quarter, life_quarters,
                          purchase_book_values)
from models.plan_schema import RESULT_TABLES, table_columns
from models.quarters import HOURS_PER_QUARTER, QUARTERS_PER_YEAR
from models.scenario import Scenario
from models.sets import fleet_in_service
from models.units import KW_PER_MW

# The PLAN.json tables the reports read, with their columns as models/plan_schema.py declares them.
PLAN_RECORD_FIELDS: dict[str, tuple[str, ...]] = {name: tuple(table_columns(name)) for name in RESULT_TABLES}

# The cost components that add up to a quarter's total_usd, in the order the Costs sheet shows them.
USD_COMPONENTS = USD_LINES
# Spend (what the fleet costs) and shortfall penalties (what leaving work undone is assumed to cost), as
# models/cost_parameters.py defines them; the sheets and the CSV show them under these short names.
SPEND_LINES, PENALTY_LINES = SPEND_LINES_USD, PENALTY_LINES_USD
COSTS_COLUMNS = ("quarter", "discount_factor", "energy_kwh", "carbon_t", *USD_COMPONENTS, "total_usd",
                 "discounted_usd")
# The Costs table as shown and written as CSV: spend and penalties subtotalled apart before their sum.
COSTS_SHEET_COLUMNS = ("quarter", "discount_factor", "energy_kwh", "carbon_t", *SPEND_LINES, "spend_usd",
                       *PENALTY_LINES, "penalty_usd", "total_usd", "discounted_usd")
OWNED = "owned"


def _frame(plan: dict, name: str) -> pd.DataFrame:
    fields = PLAN_RECORD_FIELDS[name]
    return pd.DataFrame(plan.get(name) or [], columns=list(fields))


def _site_info(scenario: Scenario) -> pd.DataFrame:
    sites = scenario.sites
    return pd.DataFrame({"site_kind": sites["kind"].astype(object),
                         "site_cap_kw": sites["power_mw"].where(sites["kind"] == OWNED) * 1_000.0},
                        index=pd.Index(sites.index.astype(object), name="site"))


def _gpus_per_node(scenario: Scenario) -> pd.Series:
    return scenario.catalog["gpus_per_node"].astype(float).rename_axis("sku")


def purchases_table(plan: dict, scenario: Scenario) -> pd.DataFrame:
    purchases = _frame(plan, "purchases")  # book values recomputed: older plans lack the columns
    book = purchase_book_values(purchases, scenario.catalog, scenario.horizon, build_cost_parameters(scenario))
    frame = purchases.drop(columns=list(book.columns), errors="ignore").join(book)
    frame = frame.rename(columns={"quarter": "order_quarter", "in_service": "in_service_quarter"})
    frame["gpus"] = frame["nodes"] * frame["sku"].map(_gpus_per_node(scenario))
    frame["unit_price_usd"] = (frame["capex_usd"] / frame["nodes"].where(frame["nodes"] != 0)).astype(float)
    frame = frame.sort_values(["order_quarter", "site", "sku"], kind="stable").reset_index(drop=True)
    return frame[["order_quarter", "in_service_quarter", "site", "sku", "nodes", "gpus", "unit_price_usd",
                  "capex_usd", "depreciation_usd_per_quarter", "quarters_charged", "charged_in_horizon_usd",
                  "book_value_end_usd"]]


def rentals_table(plan: dict, scenario: Scenario) -> pd.DataFrame:
    frame = _frame(plan, "rentals")
    frame["gpus"] = frame["nodes"] * frame["sku"].map(_gpus_per_node(scenario))
    frame["rent_usd_per_node"] = (frame["rent_usd"] / frame["nodes"].where(frame["nodes"] != 0)).astype(float)
    frame = frame.sort_values(["quarter", "site", "sku"], kind="stable").reset_index(drop=True)
    return frame[["quarter", "site", "sku", "nodes", "gpus", "rent_usd_per_node", "rent_usd"]]


def _full_load_facility_kw(frame: pd.DataFrame, scenario: Scenario) -> pd.Series:
    """node_kw × nodes × pue: the facility power the nodes would draw all busy, the power cap's own measure."""
    node_kw = frame["sku"].map(scenario.catalog["node_kw"].astype(float))
    pue = frame["site"].map(scenario.sites["pue"].astype(float))
    return facility_kw(node_kw, pue, nodes=frame["nodes"])


def fleet_table(plan: dict, scenario: Scenario) -> pd.DataFrame:
    """Nodes in service per quarter × site × SKU, with the site's power cap and its headroom that quarter.

    Headroom is measured at full load, as the cap is (Σ node_kw × nodes × pue); it_kw and facility_kw are at the
    plan's utilisation (what the energy bill pays for).
    """
    frame = _frame(plan, "fleet").join(_site_info(scenario), on="site")
    frame["gpus"] = frame["nodes"] * frame["sku"].map(_gpus_per_node(scenario))
    frame["full_load_facility_kw"] = _full_load_facility_kw(frame, scenario)
    by_site = frame.groupby(["quarter", "site"], sort=False)
    frame["site_facility_kw"] = by_site["facility_kw"].transform("sum")
    frame["site_full_load_kw"] = by_site["full_load_facility_kw"].transform("sum")
    frame["headroom_pct"] = 1.0 - frame["site_full_load_kw"] / frame["site_cap_kw"]
    frame = frame.join(_fleet_costs(frame, scenario))
    frame = frame.sort_values(["quarter", "site", "sku"], kind="stable").reset_index(drop=True)
    return frame[["quarter", "site", "site_kind", "sku", "nodes", "existing_nodes", "gpus", "it_kw", "facility_kw",
                  "full_load_facility_kw", "site_facility_kw", "site_full_load_kw", "site_cap_kw", "headroom_pct",
                  *FLEET_COST_COLUMNS]]


FLEET_COST_COLUMNS = ("energy_kwh", "energy_usd", "carbon_t", "depreciation_usd", "existing_depreciation_usd",
                      "maintenance_usd")


def existing_fleet_nodes(scenario: Scenario) -> pd.Series:
    """Nodes of the already-owned fleet in service, by (quarter label, site, sku): the sunk part of the fleet."""
    fleet = fleet_in_service(scenario.fleet, life_quarters(scenario.catalog), scenario.horizon.quarters)
    labels = [scenario.horizon.label(int(q)) for q in fleet.index.get_level_values("quarter")]
    return pd.Series(fleet.to_numpy(), index=pd.MultiIndex.from_arrays(
        [labels, fleet.index.get_level_values("site").astype(object),
         fleet.index.get_level_values("sku").astype(object)], names=["quarter", "site", "sku"]), dtype=float)


def _fleet_costs(frame: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """Each fleet row's share of the quarter's cost lines, by docs/conventions.md: energy (paid at owned
    sites), carbon (everywhere), and for owned nodes depreciation (depreciation mode) and maintenance; rent is on
    the Rentals table. existing_depreciation_usd is the part charged for the already-owned fleet (sunk)."""
    prices = build_cost_parameters(scenario)
    units = unit_costs_tables(scenario, prices)
    sku, site = units["sku"], units["site"]
    owned = (frame["site_kind"] == OWNED).to_numpy()
    existing = existing_fleet_nodes(scenario).reindex(
        pd.MultiIndex.from_frame(frame[["quarter", "site", "sku"]].astype(object))).fillna(0.0).to_numpy()
    kwh = facility_kwh_per_quarter(facility_kw(frame["it_kw"], frame["site"].map(site["pue"])))
    dep = frame["sku"].map(sku["depreciation_usd_per_node_quarter"]).where(owned & prices.charges_depreciation, 0.0)
    return pd.DataFrame({
        "existing_nodes": existing,
        "energy_kwh": kwh,
        "energy_usd": kwh * frame["site"].map(charged_usd_per_kwh(scenario.sites)),
        "carbon_t": carbon_t(kwh, frame["site"].map(site["gco2_per_kwh"])),
        "depreciation_usd": frame["nodes"] * dep,
        "existing_depreciation_usd": existing * dep,
        "maintenance_usd": (frame["nodes"] * frame["sku"].map(sku["maintenance_usd_per_node_quarter"]))
        .where(owned, 0.0),
    }, index=frame.index)


def unit_costs_tables(scenario: Scenario, prices=None) -> dict[str, pd.DataFrame]:
    """The unit costs every cost line multiplies (models/cost_parameters.py): finance parameters, per SKU (price,
    and depreciation, maintenance and rent per node-quarter) and per site (PUE, electricity price, carbon
    intensity, power cap). The per node-quarter figures are rent of any cloud site (the same everywhere).
    `prices`: the scenario's CostParameters, built here when not given."""
    finance, catalog, sites = scenario.finance, scenario.catalog, scenario.sites
    prices = build_cost_parameters(scenario) if prices is None else prices
    parameters = pd.DataFrame([
        ("capex_mode", prices.capex_mode, "depreciation or cash"),
        ("discount_rate", finance.discount_rate, "per year"),
        ("carbon_usd_per_t", prices.carbon_usd_per_t, "USD per t CO2"),
        ("unmet_usd_per_unit", prices.unmet_usd_per_unit, "USD per tokens/s per quarter"),
        ("unfinished_training_usd", prices.unfinished_training_usd or 0.0, "USD per whole run left undone"),
        ("hours_per_quarter", HOURS_PER_QUARTER, "h"),
        ("quarters_per_year", QUARTERS_PER_YEAR, ""),
    ], columns=["parameter", "value", "unit"])
    sku = pd.DataFrame({
        "gpus_per_node": catalog["gpus_per_node"].astype(float), "node_kw": catalog["node_kw"].astype(float),
        "idle_frac": catalog["idle_frac"].astype(float), "price_usd": catalog["price_usd"].astype(float),
        "life_years": catalog["life_years"].astype(float),
        "maint_frac_per_year": catalog["maint_frac_per_year"].astype(float),
        "rent_usd_per_gpu_hour": catalog["rent_usd_per_gpu_hour"].astype(float)},
        index=pd.Index(catalog.index.astype(object), name="sku"))
    sku["depreciation_usd_per_node_quarter"] = prices.depreciation_usd_per_node_quarter.reindex(sku.index)
    sku["maintenance_usd_per_node_quarter"] = prices.maintenance_usd_per_node_quarter.reindex(sku.index)
    rent = prices.rent_usd_per_node_quarter.groupby(level="sku").first()
    sku["rent_usd_per_node_quarter"] = rent.reindex(sku.index).fillna(0.0)  # 0: not rentable (the sheet's formula)
    site = pd.DataFrame({
        "kind": sites["kind"].astype(object), "pue": sites["pue"].astype(float),
        "usd_per_kwh": sites["usd_per_kwh"].astype(float).where(sites["kind"] == OWNED),
        "gco2_per_kwh": sites["gco2_per_kwh"].astype(float),
        "power_cap_kw": sites["power_mw"].astype(float).where(sites["kind"] == OWNED) * KW_PER_MW},
        index=pd.Index(sites.index.astype(object), name="site"))
    return {"parameters": parameters, "sku": sku, "site": site}


def placement_table(plan: dict, scenario: Scenario) -> pd.DataFrame:
    """Which pool serves each workload each quarter, and what share of that pool's nodes it keeps busy."""
    frame = _frame(plan, "placement").join(_site_info(scenario)[["site_kind"]], on="site")
    kinds = scenario.workloads["kind"].astype(object)
    frame["workload_kind"] = frame["workload"].map(kinds)
    pools = _frame(plan, "fleet").groupby(["quarter", "site", "sku"])["nodes"].sum().rename("pool_nodes")
    frame = frame.join(pools, on=["quarter", "site", "sku"])
    frame["utilisation"] = frame["node_equivalents"] / frame["pool_nodes"].where(frame["pool_nodes"] > 0)
    frame = frame.rename(columns={"units": "tokens_per_s"})
    frame = frame.sort_values(["workload", "quarter", "site", "sku"], kind="stable").reset_index(drop=True)
    return frame[["workload", "workload_kind", "quarter", "site", "site_kind", "sku", "node_equivalents",
                  "tokens_per_s", "pool_nodes", "utilisation"]]


def unmet_table(plan: dict, scenario: Scenario) -> pd.DataFrame:
    frame = _frame(plan, "unmet").rename(columns={"units": "unmet_tokens_per_s"})
    demand = scenario.demand.assign(quarter=scenario.demand["quarter"].map(scenario.horizon.label))
    demand = demand.groupby(["workload", "quarter"])["tokens_per_s"].sum().rename("demand_tokens_per_s")
    frame = frame.join(demand, on=["workload", "quarter"])
    frame["unmet_usd"] = frame["unmet_tokens_per_s"] * scenario.finance.unmet_usd_per_unit
    frame = frame.sort_values(["quarter", "workload"], kind="stable").reset_index(drop=True)
    return frame[["quarter", "workload", "demand_tokens_per_s", "unmet_tokens_per_s", "unmet_usd"]]


def unfinished_table(plan: dict, scenario: Scenario) -> pd.DataFrame:
    frame = _frame(plan, "unfinished")
    return frame.rename(columns={"deadline": "deadline_quarter"}).reset_index(drop=True)


def costs_table(plan: dict, scenario: Scenario) -> pd.DataFrame:
    """The plan's cost lines per quarter, with spend and shortfall penalties subtotalled apart."""
    frame = _frame(plan, "costs")
    frame["spend_usd"] = frame[list(SPEND_LINES)].sum(axis=1)
    frame["penalty_usd"] = frame[list(PENALTY_LINES)].sum(axis=1)
    return frame[list(COSTS_SHEET_COLUMNS)].reset_index(drop=True)


def gpus_by_sku_table(plan: dict, scenario: Scenario) -> pd.DataFrame:
    """GPUs in service per quarter (rows) and SKU (columns), every planning quarter present."""
    fleet = fleet_table(plan, scenario)
    wide = fleet.pivot_table(index="quarter", columns="sku", values="gpus", aggfunc="sum", fill_value=0.0)
    wide = wide.reindex(_quarters(plan), fill_value=0.0)
    wide.columns = [str(c) for c in wide.columns]
    return wide.rename_axis("quarter").reset_index()


def site_power_table(plan: dict, scenario: Scenario) -> pd.DataFrame:
    """Facility kW at each owned site per quarter, at full load (what the cap limits) and at the plan's
    utilisation, against its cap (every quarter, zero when empty); headroom at full load."""
    info = _site_info(scenario)
    owned = info.index[info["site_kind"] == OWNED]
    fleet = _frame(plan, "fleet")
    fleet["full_load_facility_kw"] = _full_load_facility_kw(fleet, scenario)
    drawn = fleet.groupby(["site", "quarter"])[["it_kw", "facility_kw", "full_load_facility_kw"]].sum()
    grid = pd.MultiIndex.from_product([owned, _quarters(plan)], names=["site", "quarter"])
    frame = drawn.reindex(grid, fill_value=0.0).reset_index()
    frame["site_cap_kw"] = frame["site"].map(info["site_cap_kw"])
    frame["headroom_pct"] = 1.0 - frame["full_load_facility_kw"] / frame["site_cap_kw"]
    return frame[["site", "quarter", "it_kw", "facility_kw", "full_load_facility_kw", "site_cap_kw",
                  "headroom_pct"]]


def owned_utilisation(plan: dict, scenario: Scenario) -> float:
    """Busy node-equivalents ÷ owned nodes in service, summed over the horizon (0 with no owned nodes)."""
    placement, fleet = placement_table(plan, scenario), fleet_table(plan, scenario)
    owned_nodes = fleet.loc[fleet["site_kind"] == OWNED, "nodes"].sum()
    busy = placement.loc[placement["site_kind"] == OWNED, "node_equivalents"].sum()
    return float(busy / owned_nodes) if owned_nodes > 0 else 0.0


def spend_and_penalties(plan: dict) -> dict[str, float]:
    """Discounted and undiscounted spend and shortfall penalties: PLAN.json's own figures, or (for a plan saved
    before they were recorded) the same split computed from its cost lines."""
    costs = _frame(plan, "costs")
    penalty = costs[list(PENALTY_LINES)].sum(axis=1)
    computed = {"discounted_penalty_usd": float((penalty * costs["discount_factor"]).sum()),
                "spend_usd": float(costs[list(SPEND_LINES)].sum(axis=1).sum()), "penalty_usd": float(penalty.sum())}
    computed["discounted_spend_usd"] = float(plan["objective_usd"]) - computed["discounted_penalty_usd"]
    totals = plan["totals"]
    return {"discounted_spend_usd": plan.get("discounted_spend_usd", computed["discounted_spend_usd"]),
            "discounted_penalty_usd": plan.get("discounted_penalty_usd", computed["discounted_penalty_usd"]),
            "spend_usd": totals.get("spend_usd", computed["spend_usd"]),
            "penalty_usd": totals.get("penalty_usd", computed["penalty_usd"])}


def summary_table(plan: dict, scenario: Scenario) -> pd.DataFrame:
    """Headline figures as (metric, value, unit) rows: what the Summary sheet shows, as plain values."""
    totals, horizon = plan["totals"], plan["horizon"]["quarters"]
    split = spend_and_penalties(plan)
    unmet = _frame(plan, "unmet")
    rows = [
        ("scenario", plan["scenario"], ""),
        ("horizon", f"{horizon[0]}–{horizon[-1]} ({len(horizon)} quarters)" if horizon else "", ""),
        ("status", plan["status"], ""),
        ("solver", plan["solver"], ""),
        ("gap", plan.get("gap"), "fraction"),
        ("solve_seconds", plan.get("solve_seconds"), "s"),
        ("capex_mode", plan.get("capex_mode", scenario.finance.capex_mode), ""),
        ("discounted_spend_usd", split["discounted_spend_usd"], "USD"),
        ("discounted_penalty_usd", split["discounted_penalty_usd"], "USD"),
        ("objective_usd", plan["objective_usd"], "USD"),
        ("undiscounted_spend_usd", split["spend_usd"], "USD"),
        ("undiscounted_penalty_usd", split["penalty_usd"], "USD"),
        ("undiscounted_total_usd", totals["total_usd"], "USD"),
        *((name, totals[name], "USD") for name in USD_COMPONENTS[:5]),
        ("energy_mwh", totals["energy_kwh"] / 1_000.0, "MWh"),
        ("carbon_t", totals["carbon_t"], "t CO2"),
        ("carbon_usd", totals["carbon_usd"], "USD"),
        ("unmet_tokens_per_s_quarters", float(unmet["units"].sum()), "tokens/s × quarters"),
        ("unmet_usd", totals["unmet_usd"], "USD"),
        ("unfinished_training_usd", totals["unfinished_training_usd"], "USD"),
        ("owned_utilisation", owned_utilisation(plan, scenario), "fraction"),
    ]
    end = gpus_in_service_at_end(plan, scenario)
    rows += [(f"gpus_in_service_at_end[{sku}]", gpus, "GPUs") for sku, gpus in end.items()]
    return pd.DataFrame(rows, columns=["metric", "value", "unit"])


def gpus_in_service_at_end(plan: dict, scenario: Scenario) -> pd.Series:
    wide = gpus_by_sku_table(plan, scenario)
    if wide.empty:
        return pd.Series(dtype=float)
    return wide.drop(columns="quarter").iloc[-1].rename_axis("sku")


# --- assumptions: the inputs echoed, quarters shown as labels -----------------------------------------

def parameters_table(plan: dict, scenario: Scenario) -> pd.DataFrame:
    finance, solver = scenario.finance, scenario.solver
    rows = [
        ("scenario.name", scenario.name), ("scenario.path", str(scenario.path)),
        ("horizon.start", scenario.quarters[0]), ("horizon.quarters", scenario.horizon.quarters),
        ("finance.discount_rate", finance.discount_rate), ("finance.capex_mode", finance.capex_mode),
        ("finance.budget_usd_per_quarter", finance.budget_usd_per_quarter),
        ("finance.carbon_usd_per_t", finance.carbon_usd_per_t),
        ("finance.unmet_usd_per_unit", finance.unmet_usd_per_unit),
        ("finance.unfinished_training_usd", finance.unfinished_training_usd),
        ("planning.headroom", scenario.headroom),
        ("solver.backend", solver.backend), ("solver.time_limit_s", solver.time_limit_s),
        ("solver.gap", solver.gap),
        ("plan.solver", plan.get("solver")), ("plan.status", plan.get("status")),
        ("plan.objective_usd", plan.get("objective_usd")), ("plan.bound_usd", plan.get("bound_usd")),
        ("plan.gap", plan.get("gap")), ("plan.solve_seconds", plan.get("solve_seconds")),
        ("plan.build_seconds", plan.get("build_seconds")), ("tool_version", plan.get("tool_version")),
    ]
    return pd.DataFrame(rows, columns=["parameter", "value"])


def input_files_table(plan: dict, scenario: Scenario) -> pd.DataFrame:
    """SHA-256 of each input as recorded in the plan, beside the file's hash now."""
    recorded = dict(plan["inputs"]["sha256"])
    now = scenario.input_hashes()
    roles = list(recorded) + [role for role in now if role not in recorded]
    files = {role: str(path) for role, path in scenario.input_files.items()}
    return pd.DataFrame({
        "role": roles,
        "path": [files.get(role, "") for role in roles],
        "sha256": [recorded.get(role, "") for role in roles],
        "sha256_now": [now.get(role, "") for role in roles],
        "unchanged": [recorded.get(role) == now.get(role) for role in roles],
    })


def _labels(series: pd.Series, horizon) -> pd.Series:
    return series.map(lambda q: horizon.label(int(q)) if pd.notna(q) else None).astype(object)


def input_tables(scenario: Scenario) -> dict[str, pd.DataFrame]:
    """The scenario's input tables, keyed by role, with relative quarters turned back into labels."""
    horizon = scenario.horizon
    catalog = scenario.catalog.reset_index()
    catalog["available_from"] = _labels(catalog["available_from"], horizon)
    fleet = scenario.fleet.copy()
    fleet["installed"] = _labels(fleet["installed"], horizon)
    workloads = scenario.workloads.reset_index()
    for column in ("start", "deadline"):
        workloads[column] = _labels(workloads[column], horizon)
    workloads["sites"] = workloads["sites"].map(lambda s: ";".join(map(str, s)) if s else "").astype(object)
    demand = scenario.demand.copy()
    demand["quarter"] = _labels(demand["quarter"], horizon)
    return {"catalog": _without_blank(catalog, OPTIONAL_2026_COLUMNS),
            "sites": _without_blank(scenario.sites.reset_index(), OPTIONAL_2026_COLUMNS), "fleet": fleet,
            "workloads": _without_blank(workloads, OPTIONAL_SLO_COLUMNS + ("preemptible",)), "demand": demand, "throughput": scenario.throughput.copy()}


# The optional columns of docs/datacenter-2026.md (sites' cooling and rack density, the catalog's cooling, failures
# and spot; workloads' preemptible): shown where a scenario gives them, left out where every cell is empty (a
# scenario without them shows what it always did).
OPTIONAL_2026_COLUMNS = ("cooling", "max_kw_per_rack", "cooling_required", "afr_per_node_year", "repair_hours",
                         "spot_usd_per_gpu_hour", "spot_availability")
# A TTFT quantile SLO's columns (docs/performance-model.md): likewise shown only where a scenario gives them.
OPTIONAL_SLO_COLUMNS = ("ttft_quantile", "output_tokens_cv")


def _without_blank(frame: pd.DataFrame, optional: tuple[str, ...]) -> pd.DataFrame:
    blank = [c for c in optional if c in frame.columns and frame[c].isna().all()]
    return frame.drop(columns=blank)


def _quarters(plan: dict) -> list[str]:
    return list(plan["horizon"]["quarters"])


NO_USE = {"workload": "", "node_equivalent_quarters": 0.0}  # an order whose pool serves nothing yet


def order_uses_table(plan: dict) -> pd.DataFrame:
    """One row per (order, workload its pool serves): why each purchase is made."""
    rows = [{"order_quarter": order["quarter"], "site": order["site"], "sku": order["sku"], "nodes": order["nodes"],
             "in_service": order["in_service"], "workload": use["workload"],
             "node_equivalent_quarters": use["node_equivalent_quarters"]}
            for order in plan.get("why", []) for use in (order["serves"] or [NO_USE])]
    columns = ["order_quarter", "site", "sku", "nodes", "in_service", "workload", "node_equivalent_quarters"]
    return pd.DataFrame(rows, columns=columns)


FACILITY_COLUMNS = ["quarter", "option", "site", "facility_units", "in_service", "capex_usd", "reason"]
CONTRACT_COLUMNS = ["quarter", "contract", "site", "sku", "contract_blocks", "nodes", "in_service", "term_end",
                    "commitment_usd"]


def facility_table(plan: dict) -> pd.DataFrame:
    """PLAN.json's build-out decisions (docs/datacenter-2026.md), each with the reason the plan builds it; empty
    for a plan without facility options."""
    return pd.DataFrame([{c: row.get(c) for c in FACILITY_COLUMNS} for row in plan.get("facility") or []],
                        columns=FACILITY_COLUMNS)


def contracts_table(plan: dict) -> pd.DataFrame:
    """PLAN.json's committed-capacity signings (docs/datacenter-2026.md); empty for a plan without contracts."""
    return pd.DataFrame([{c: row.get(c) for c in CONTRACT_COLUMNS} for row in plan.get("contracts") or []],
                        columns=CONTRACT_COLUMNS)


SPOT_COLUMNS = ["quarter", "workload", "site", "sku", "spot_nodes", "node_hours", "work_node_hours", "energy_kwh",
                "spot_usd"]


def spot_table(plan: dict) -> pd.DataFrame:
    """PLAN.json's spot node-hours rented for preemptible training (docs/datacenter-2026.md "Spot")."""
    return pd.DataFrame([{c: row.get(c) for c in SPOT_COLUMNS} for row in plan.get("spot") or []],
                        columns=SPOT_COLUMNS)


def shadow_prices_table(plan: dict) -> pd.DataFrame:
    """Every non-zero shadow price as (resource, quarter, where, value, unit), discounted $."""
    duals = plan.get("duals") or {}
    families = (("power_usd_per_mw", "power cap", "usd_per_mw", "site", "$ per MW"),
                ("racks_usd_per_rack", "racks", "usd_per_rack", "site", "$ per rack"),
                ("budget_usd_per_usd", "purchase budget", "usd_per_usd", None, "$ per $"),
                ("demand_usd_per_unit", "demand", "usd_per_unit", "workload", "$ per tokens/s"))
    rows = [{"resource": label, "quarter": row["quarter"], "where": row[where] if where else "",
             "value_usd": row[value], "unit": unit}
            for key, label, value, where, unit in families for row in duals.get(key, [])]
    return pd.DataFrame(rows, columns=["resource", "quarter", "where", "value_usd", "unit"])


WARNING_COLUMNS = ["kind", "workload", "quarters", "amount", "unit", "cost_usd", "cause", "message"]


def plan_warnings(plan: dict, scenario: Scenario) -> list[dict]:
    """PLAN.json's warnings, or (for a plan saved before they were recorded) the same warnings computed from it."""
    if isinstance(plan.get("warnings"), list):
        return plan["warnings"]
    from models.explain import plan_warnings as compute

    return compute(scenario, _frame(plan, "unfinished"), _frame(plan, "unmet"), _frame(plan, "fleet"),
                   plan.get("duals") or {})


def warnings_table(plan: dict, scenario: Scenario) -> pd.DataFrame:
    """One row per unfinished run or service with unmet demand: what is left undone, its penalty and why."""
    rows = [{**w, "quarters": ", ".join(map(str, w.get("quarters", [])))} for w in plan_warnings(plan, scenario)]
    return pd.DataFrame(rows, columns=WARNING_COLUMNS)


BASELINE_COLUMNS = ["plan", "status", "objective_usd", "saving_usd", "saving_pct", "detail"]
OPTIMISED_PLAN = "this plan"  # the first row of the baselines table: what each baseline is compared with


def baselines_table(plan: dict) -> pd.DataFrame:
    """This plan, then each baseline of PLAN.json's `baselines` (docs/baselines.md): objective and this plan's
    saving against it (none in a baseline's own plan, or under --no-baselines)."""
    baselines = plan.get("baselines") or []
    if not baselines:
        return pd.DataFrame(columns=BASELINE_COLUMNS)
    rows = [{"plan": OPTIMISED_PLAN, "status": plan["status"], "objective_usd": plan["objective_usd"],
             "saving_usd": None, "saving_pct": None, "detail": plan["solver"]}]
    rows += [{"plan": row["name"], **{c: row.get(c) for c in BASELINE_COLUMNS[1:]}} for row in baselines]
    return pd.DataFrame(rows, columns=BASELINE_COLUMNS)


def build_tables(plan: dict, scenario: Scenario) -> dict[str, pd.DataFrame]:
    """Every table the workbook and the CSV writer show, keyed by a file-name-safe name, in sheet order."""
    tables = {
        "summary": summary_table(plan, scenario),
        "warnings": warnings_table(plan, scenario),
        "baselines": baselines_table(plan),
        "purchases": purchases_table(plan, scenario),
        "rentals": rentals_table(plan, scenario),
        "fleet": fleet_table(plan, scenario),
        "placement": placement_table(plan, scenario),
        "unmet": unmet_table(plan, scenario),
        "unfinished_training": unfinished_table(plan, scenario),
        "costs": costs_table(plan, scenario),
        "why_orders": order_uses_table(plan),
        "why_facility": facility_table(plan),
        "why_contracts": contracts_table(plan),
        **({"why_spot": spot_table(plan)} if plan.get("spot") else {}),  # only a plan that rents spot
        "why_shadow_prices": shadow_prices_table(plan),
        "gpus_by_sku": gpus_by_sku_table(plan, scenario),
        **{f"unit_costs_{name}": (frame.reset_index() if name != "parameters" else frame)
           for name, frame in unit_costs_tables(scenario).items()},
        "site_power": site_power_table(plan, scenario),
        "assumptions_parameters": parameters_table(plan, scenario),
        "assumptions_input_files": input_files_table(plan, scenario),
    }
    tables.update({f"assumptions_{role}": frame for role, frame in input_tables(scenario).items()})
    return tables
