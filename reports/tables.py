"""PLAN.json + scenario → tidy pandas tables, one per workbook sheet / CSV file. No spreadsheet code here.

Every $ figure is taken from PLAN.json itself (unit prices are capex ÷ nodes, rent per node is rent ÷ nodes), so
the tables reproduce the saved plan exactly even when the catalog has moved on since; the scenario supplies only
descriptive context (GPUs per node, site kind, power caps) and the echoed inputs.
"""

from __future__ import annotations

import pandas as pd

from models.plan_schema import RESULT_TABLES, table_columns

# The PLAN.json tables the reports read, with their columns as models/plan_schema.py declares them.
PLAN_RECORD_FIELDS: dict[str, tuple[str, ...]] = {name: tuple(table_columns(name)) for name in RESULT_TABLES}

# The cost components that add up to a quarter's total_usd, in the order the Costs sheet shows them.
USD_COMPONENTS = ("capex_usd", "depreciation_usd", "rent_usd", "energy_usd", "maintenance_usd", "carbon_usd",
                  "unmet_usd", "unfinished_training_usd")
COSTS_COLUMNS = ("quarter", "discount_factor", "energy_kwh", "carbon_t", *USD_COMPONENTS, "total_usd",
                 "discounted_usd")
OWNED = "owned"


def _frame(plan: dict, name: str) -> pd.DataFrame:
    fields = PLAN_RECORD_FIELDS[name]
    return pd.DataFrame(plan.get(name) or [], columns=list(fields))


def _site_info(scenario) -> pd.DataFrame:
    sites = scenario.sites
    return pd.DataFrame({"site_kind": sites["kind"].astype(object),
                         "site_cap_kw": sites["power_mw"].where(sites["kind"] == OWNED) * 1_000.0},
                        index=pd.Index(sites.index.astype(object), name="site"))


def _gpus_per_node(scenario) -> pd.Series:
    return scenario.catalog["gpus_per_node"].astype(float).rename_axis("sku")


def purchases_table(plan: dict, scenario) -> pd.DataFrame:
    frame = _frame(plan, "purchases").rename(columns={"quarter": "order_quarter",
                                                      "in_service": "in_service_quarter"})
    frame["gpus"] = frame["nodes"] * frame["sku"].map(_gpus_per_node(scenario))
    frame["unit_price_usd"] = (frame["capex_usd"] / frame["nodes"].where(frame["nodes"] != 0)).astype(float)
    frame = frame.sort_values(["order_quarter", "site", "sku"], kind="stable").reset_index(drop=True)
    return frame[["order_quarter", "in_service_quarter", "site", "sku", "nodes", "gpus", "unit_price_usd",
                  "capex_usd"]]


def rentals_table(plan: dict, scenario) -> pd.DataFrame:
    frame = _frame(plan, "rentals")
    frame["gpus"] = frame["nodes"] * frame["sku"].map(_gpus_per_node(scenario))
    frame["rent_usd_per_node"] = (frame["rent_usd"] / frame["nodes"].where(frame["nodes"] != 0)).astype(float)
    frame = frame.sort_values(["quarter", "site", "sku"], kind="stable").reset_index(drop=True)
    return frame[["quarter", "site", "sku", "nodes", "gpus", "rent_usd_per_node", "rent_usd"]]


def fleet_table(plan: dict, scenario) -> pd.DataFrame:
    """Nodes in service per quarter × site × SKU, with the site's power cap and its headroom that quarter."""
    frame = _frame(plan, "fleet").join(_site_info(scenario), on="site")
    frame["gpus"] = frame["nodes"] * frame["sku"].map(_gpus_per_node(scenario))
    site_kw = frame.groupby(["quarter", "site"], sort=False)["facility_kw"].transform("sum")
    frame["site_facility_kw"] = site_kw
    frame["headroom_pct"] = 1.0 - site_kw / frame["site_cap_kw"]
    frame = frame.sort_values(["quarter", "site", "sku"], kind="stable").reset_index(drop=True)
    return frame[["quarter", "site", "site_kind", "sku", "nodes", "gpus", "it_kw", "facility_kw",
                  "site_facility_kw", "site_cap_kw", "headroom_pct"]]


def placement_table(plan: dict, scenario) -> pd.DataFrame:
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


def unmet_table(plan: dict, scenario) -> pd.DataFrame:
    frame = _frame(plan, "unmet").rename(columns={"units": "unmet_tokens_per_s"})
    demand = scenario.demand.assign(quarter=scenario.demand["quarter"].map(scenario.horizon.label))
    demand = demand.groupby(["workload", "quarter"])["tokens_per_s"].sum().rename("demand_tokens_per_s")
    frame = frame.join(demand, on=["workload", "quarter"])
    frame["unmet_usd"] = frame["unmet_tokens_per_s"] * scenario.finance.unmet_usd_per_unit
    frame = frame.sort_values(["quarter", "workload"], kind="stable").reset_index(drop=True)
    return frame[["quarter", "workload", "demand_tokens_per_s", "unmet_tokens_per_s", "unmet_usd"]]


def unfinished_table(plan: dict, scenario) -> pd.DataFrame:
    frame = _frame(plan, "unfinished")
    return frame.rename(columns={"deadline": "deadline_quarter"}).reset_index(drop=True)


def costs_table(plan: dict, scenario) -> pd.DataFrame:
    return _frame(plan, "costs")[list(COSTS_COLUMNS)].reset_index(drop=True)


def gpus_by_sku_table(plan: dict, scenario) -> pd.DataFrame:
    """GPUs in service per quarter (rows) and SKU (columns), every planning quarter present."""
    fleet = fleet_table(plan, scenario)
    wide = fleet.pivot_table(index="quarter", columns="sku", values="gpus", aggfunc="sum", fill_value=0.0)
    wide = wide.reindex(_quarters(plan), fill_value=0.0)
    wide.columns = [str(c) for c in wide.columns]
    return wide.rename_axis("quarter").reset_index()


def site_power_table(plan: dict, scenario) -> pd.DataFrame:
    """Facility kW drawn at each owned site per quarter against its cap (every quarter, zero when empty)."""
    info = _site_info(scenario)
    owned = info.index[info["site_kind"] == OWNED]
    fleet = _frame(plan, "fleet")
    drawn = fleet.groupby(["site", "quarter"])[["it_kw", "facility_kw"]].sum()
    grid = pd.MultiIndex.from_product([owned, _quarters(plan)], names=["site", "quarter"])
    frame = drawn.reindex(grid, fill_value=0.0).reset_index()
    frame["site_cap_kw"] = frame["site"].map(info["site_cap_kw"])
    frame["headroom_pct"] = 1.0 - frame["facility_kw"] / frame["site_cap_kw"]
    return frame[["site", "quarter", "it_kw", "facility_kw", "site_cap_kw", "headroom_pct"]]


def owned_utilisation(plan: dict, scenario) -> float:
    """Busy node-equivalents ÷ owned nodes in service, summed over the horizon (0 with no owned nodes)."""
    placement, fleet = placement_table(plan, scenario), fleet_table(plan, scenario)
    owned_nodes = fleet.loc[fleet["site_kind"] == OWNED, "nodes"].sum()
    busy = placement.loc[placement["site_kind"] == OWNED, "node_equivalents"].sum()
    return float(busy / owned_nodes) if owned_nodes > 0 else 0.0


def summary_table(plan: dict, scenario) -> pd.DataFrame:
    """Headline figures as (metric, value, unit) rows: what the Summary sheet shows, as plain values."""
    totals, horizon = plan["totals"], plan["horizon"]["quarters"]
    unmet = _frame(plan, "unmet")
    rows = [
        ("scenario", plan["scenario"], ""),
        ("horizon", f"{horizon[0]}–{horizon[-1]} ({len(horizon)} quarters)" if horizon else "", ""),
        ("status", plan["status"], ""),
        ("solver", plan["solver"], ""),
        ("gap", plan.get("gap"), "fraction"),
        ("solve_seconds", plan.get("solve_seconds"), "s"),
        ("capex_mode", plan.get("capex_mode", scenario.finance.capex_mode), ""),
        ("discounted_tco_usd", totals["discounted_usd"], "USD"),
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


def gpus_in_service_at_end(plan: dict, scenario) -> pd.Series:
    wide = gpus_by_sku_table(plan, scenario)
    if wide.empty:
        return pd.Series(dtype=float)
    return wide.drop(columns="quarter").iloc[-1].rename_axis("sku")


# --- assumptions: the inputs echoed, quarters shown as labels -----------------------------------------

def parameters_table(plan: dict, scenario) -> pd.DataFrame:
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


def input_files_table(plan: dict, scenario) -> pd.DataFrame:
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


def input_tables(scenario) -> dict[str, pd.DataFrame]:
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
    return {"catalog": catalog, "sites": scenario.sites.reset_index(), "fleet": fleet, "workloads": workloads,
            "demand": demand, "throughput": scenario.throughput.copy()}


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


def build_tables(plan: dict, scenario) -> dict[str, pd.DataFrame]:
    """Every table the workbook and the CSV writer show, keyed by a file-name-safe name, in sheet order."""
    tables = {
        "summary": summary_table(plan, scenario),
        "purchases": purchases_table(plan, scenario),
        "rentals": rentals_table(plan, scenario),
        "fleet": fleet_table(plan, scenario),
        "placement": placement_table(plan, scenario),
        "unmet": unmet_table(plan, scenario),
        "unfinished_training": unfinished_table(plan, scenario),
        "costs": costs_table(plan, scenario),
        "why_orders": order_uses_table(plan),
        "why_shadow_prices": shadow_prices_table(plan),
        "gpus_by_sku": gpus_by_sku_table(plan, scenario),
        "site_power": site_power_table(plan, scenario),
        "assumptions_parameters": parameters_table(plan, scenario),
        "assumptions_input_files": input_files_table(plan, scenario),
    }
    tables.update({f"assumptions_{role}": frame for role, frame in input_tables(scenario).items()})
    return tables
