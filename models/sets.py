"""Index sets of the planning model, built once from a scenario: only valid combinations get variables.

Vintage masks follow PyPSA's idea: a node ordered in quarter q of a SKU with lead time L and a life of
T quarters is in service for quarters q + L <= t < q + L + T; an order exists only if it can enter service
inside the horizon and is not before the SKU's `available_from`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.money import facility_kw, in_service_quarter, in_service_window, life_quarters
from models.quarters import QUARTERS_PER_YEAR
from models.queueing import capped_placements, size_for_slo
from models.scenario import Scenario
from models.units import KW_PER_MW

CAPACITY_ROUNDING = 1e-9  # a cap that holds exactly n nodes must not round down to n − 1
LIQUID = "liquid"  # the cooling type a `cooling_required: liquid` SKU needs (planner/schema.py COOLING_TYPES)


def discount_factors(discount_rate: float, quarters: int) -> pd.Series:
    """(1 + r)^(−i/4) for quarter i = 0 … n−1: the discounting convention of docs/conventions.md."""
    index = pd.Index(np.arange(quarters), name="quarter")
    return pd.Series((1.0 + discount_rate) ** (-index.to_numpy() / QUARTERS_PER_YEAR), index=index)


@dataclass(frozen=True)
class PlanningSets:
    quarters: pd.Index  # 0 … n−1, name "quarter"
    discount: pd.Series  # by quarter
    owned_sites: pd.Index
    cloud_sites: pd.Index
    orders: pd.DataFrame  # order_quarter, site, sku, max_nodes
    vintages: pd.DataFrame  # sku, order_quarter, quarter: orders of that vintage in service that quarter
    fleet: pd.Series  # nodes of the existing fleet in service, by (quarter, site, sku)
    rentals: pd.DataFrame  # quarter, site, sku
    placements: pd.DataFrame  # quarter, workload, site, sku, kind, tokens_per_s_per_node, node_hours, min_nodes
    demand: pd.Series  # inference demand (tokens/s) by (quarter, workload), zeros included
    training_pools: pd.DataFrame  # workload, site, sku, node_hours, min_nodes
    facility_builds: pd.DataFrame | None = None  # build_quarter, option, site, max_units (None: no options)
    facility_vintages: pd.DataFrame | None = None  # option, build_quarter, quarter: built units in service
    contract_signings: pd.DataFrame | None = None  # sign_quarter, contract, site, sku, max_blocks (None: none)
    contract_terms: pd.DataFrame | None = None  # contract, sign_quarter, quarter: signed blocks in service
    spot: pd.DataFrame | None = None  # quarter, workload, site, sku, node_hours, min_nodes (None: no spot)


def build_sets(scenario: Scenario, performance: pd.DataFrame) -> PlanningSets:
    n = scenario.horizon.quarters
    quarters = pd.Index(np.arange(n), name="quarter")
    catalog, sites = scenario.catalog, scenario.sites
    owned = sites.index[sites["kind"] == "owned"].rename("site")
    cloud = sites.index[sites["kind"] == "cloud"].rename("site")
    life = life_quarters(catalog)

    orders = _order_keys(catalog, sites.loc[owned], n, scenario)
    vintages = _vintages(catalog, n)
    fleet = fleet_in_service(scenario.fleet, life, n)
    rentable = catalog.index[catalog["rent_usd_per_gpu_hour"].notna()]
    rentals = pd.MultiIndex.from_product([quarters, cloud, rentable], names=["quarter", "site", "sku"]) \
        .to_frame(index=False)
    rentals = rentals[rentals["quarter"].to_numpy() >= catalog.loc[rentals["sku"], "available_from"].to_numpy()]

    rentals = rentals[rack_fit(sites, catalog, rentals["site"], rentals["sku"])[0]]
    builds, built = facility_sets(scenario, n)
    signings, terms = contract_sets(scenario, n)
    placements = _placement_keys(scenario, performance, orders, fleet, rentals, quarters, terms, signings)
    # A TTFT quantile SLO lowers the load a busy node-equivalent may carry (models/queueing.py); none: unchanged.
    placements = capped_placements(placements, size_for_slo(scenario, performance))
    demand = _demand(scenario, quarters)
    training = placements[placements["kind"] == "training"]
    spot = spot_sets(scenario, performance, quarters)
    pool_rows = training if spot is None else pd.concat([training, spot], ignore_index=True)
    pools = pool_rows[["workload", "site", "sku", "node_hours", "min_nodes"]].drop_duplicates(
        ["workload", "site", "sku"]).reset_index(drop=True)
    return PlanningSets(quarters=quarters, discount=discount_factors(scenario.finance.discount_rate, n),
                        owned_sites=owned, cloud_sites=cloud, orders=orders, vintages=vintages, fleet=fleet,
                        rentals=rentals.reset_index(drop=True), placements=placements, demand=demand,
                        training_pools=pools, facility_builds=builds, facility_vintages=built,
                        contract_signings=signings, contract_terms=terms, spot=spot)


def spot_offered(catalog: pd.DataFrame) -> pd.Index:
    """The SKUs with a spot price (docs/datacenter-2026.md "Spot"; none without the column)."""
    if "spot_usd_per_gpu_hour" not in catalog.columns:
        return pd.Index([], name="sku")
    return catalog.index[pd.to_numeric(catalog["spot_usd_per_gpu_hour"], errors="coerce").notna()]


def preemptible_runs(workloads: pd.DataFrame) -> pd.Index:
    """The training runs marked preemptible (checkpointing: they may run on spot capacity)."""
    if "preemptible" not in workloads.columns:
        return pd.Index([], name="workload")
    flag = workloads["preemptible"].astype(str).str.strip().str.lower() == "true"
    return workloads.index[flag.to_numpy(dtype=bool) & (workloads["kind"] == "training").to_numpy()]


def spot_sets(scenario: Scenario, performance: pd.DataFrame, quarters: pd.Index) -> pd.DataFrame | None:
    """(quarter, workload, site, sku, node_hours, min_nodes) where a preemptible run may rent spot node-hours: a
    cloud site among its allowed sites, an eligible SKU with a spot price whose rack fits there, a quarter in the
    run's window and not before the SKU's available_from. None when no run is preemptible or no SKU is offered on
    spot, so a scenario without spot builds the program it always did."""
    runs, offered = preemptible_runs(scenario.workloads), spot_offered(scenario.catalog)
    sites = scenario.sites
    cloud = sites.index[sites["kind"] == "cloud"]
    if runs.empty or offered.empty or cloud.empty:
        return None
    eligible = performance[performance["eligible"]].reset_index()[["workload", "sku", "node_hours", "min_nodes"]]
    eligible = eligible[eligible["workload"].isin(runs) & eligible["sku"].isin(offered)]
    allowed = pd.DataFrame({"workload": runs, "site": [scenario.allowed_sites(w) for w in runs]}).explode("site")
    allowed = allowed[allowed["site"].isin(cloud)]
    grid = eligible.merge(allowed, on="workload").merge(pd.DataFrame({"quarter": quarters}), how="cross")
    if grid.empty:
        return None
    w = scenario.workloads.loc[grid["workload"]]
    q = grid["quarter"].to_numpy()
    valid = (q >= w["start"].to_numpy(dtype=float, na_value=0)) \
        & (q <= w["deadline"].to_numpy(dtype=float, na_value=math.inf)) \
        & (q >= scenario.catalog.loc[grid["sku"], "available_from"].to_numpy())
    valid &= rack_fit(sites, scenario.catalog, grid["site"], grid["sku"])[0]
    spot = grid.loc[valid, ["quarter", "workload", "site", "sku", "node_hours", "min_nodes"]].reset_index(drop=True)
    return spot if len(spot) else None


def contracts_of(scenario: Scenario) -> pd.DataFrame:
    """The scenario's committed-capacity offers by contract (empty when it has none)."""
    contracts = getattr(scenario, "contracts", None)
    return contracts if contracts is not None else pd.DataFrame(
        columns=["site", "sku", "term_quarters", "usd_per_gpu_hour", "min_nodes", "available_from",
                 "lead_quarters", "max_blocks"], index=pd.Index([], name="contract"))


def contract_sets(scenario: Scenario, n: int) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Signings (sign_quarter, contract, site, sku) whose whole term lies inside the horizon, not before
    available_from, where the SKU's rack fits the site; and the terms (contract, sign_quarter, quarter) in service:
    sign_quarter + lead ≤ quarter < sign_quarter + lead + term. (None, None) without contracts."""
    contracts = contracts_of(scenario)
    if contracts.empty:
        return None, None
    grid = pd.MultiIndex.from_product([pd.RangeIndex(n, name="sign_quarter"), contracts.index.rename("contract")]) \
        .to_frame(index=False)
    offer = contracts.loc[grid["contract"]]
    start = in_service_quarter(grid["sign_quarter"].to_numpy(), offer["lead_quarters"].to_numpy())
    valid = (grid["sign_quarter"].to_numpy() >= offer["available_from"].to_numpy()) \
        & (start + offer["term_quarters"].to_numpy() <= n)
    grid["site"] = offer["site"].to_numpy()
    grid["sku"] = offer["sku"].to_numpy()
    grid["max_blocks"] = offer["max_blocks"].to_numpy(dtype=float)
    valid &= rack_fit(scenario.sites, scenario.catalog, grid["site"], grid["sku"])[0]
    signings = grid[valid].reset_index(drop=True)
    terms = signings[["contract", "sign_quarter"]].merge(pd.DataFrame({"quarter": np.arange(n)}), how="cross")
    first = in_service_quarter(terms["sign_quarter"].to_numpy(),
                               contracts.loc[terms["contract"], "lead_quarters"].to_numpy())
    term = contracts.loc[terms["contract"], "term_quarters"].to_numpy()
    live = (terms["quarter"].to_numpy() >= first) & (terms["quarter"].to_numpy() < first + term)
    return signings, terms[live].reset_index(drop=True)


def cooling_columns(frame: pd.DataFrame, *names: str) -> list[pd.Series]:
    """The optional 2026 columns of a sites or catalog frame (all missing: an older table, no limit)."""
    return [frame[name] if name in frame.columns else pd.Series(np.nan, index=frame.index, dtype=object)
            for name in names]


def rack_fit(sites: pd.DataFrame, catalog: pd.DataFrame, site_labels, sku_labels) -> tuple[np.ndarray, np.ndarray]:
    """Whether a node of SKU k may be placed at site s, and how many fit one rack there, row by row.

    fits[s,k]: cooling_required[k] is not liquid, or cooling[s] is liquid or not given; and node_kw[k] ≤
    max_kw_per_rack[s] where the site gives a density (a node is never split across racks).
    nodes_per_rack[s,k] = min(nodes_per_rack[k], ⌊max_kw_per_rack[s] / node_kw[k]⌋): an air hall at 30 kW a rack
    holds two 10.2 kW DGX H100 per rack, not the four of a 41 kW rack. Without the columns: every pair fits, at
    the catalog's nodes_per_rack (docs/datacenter-2026.md)."""
    cooling, max_kw = cooling_columns(sites, "cooling", "max_kw_per_rack")
    (required,) = cooling_columns(catalog, "cooling_required")
    site_cooling = cooling.reindex(site_labels).to_numpy(dtype=object)
    needs_liquid = (required.reindex(sku_labels).to_numpy(dtype=object) == LIQUID)
    cooled = ~needs_liquid | (site_cooling == LIQUID) | pd.isna(site_cooling)
    density = pd.to_numeric(max_kw, errors="coerce").reindex(site_labels).to_numpy(dtype=float)
    node_kw = catalog["node_kw"].reindex(sku_labels).to_numpy(dtype=float)
    per_rack = catalog["nodes_per_rack"].reindex(sku_labels).to_numpy(dtype=float)
    by_density = np.floor(density / node_kw + CAPACITY_ROUNDING)
    limited = ~np.isnan(density)
    nodes_per_rack = np.where(limited, np.minimum(per_rack, np.nan_to_num(by_density, nan=0.0)), per_rack)
    return cooled & (nodes_per_rack >= 1), nodes_per_rack


def density_applies(sites: pd.DataFrame) -> bool:
    """Whether any site gives a rack density (otherwise racks are counted at the catalog's nodes_per_rack)."""
    (max_kw,) = cooling_columns(sites, "max_kw_per_rack")
    return bool(pd.to_numeric(max_kw, errors="coerce").notna().any())


def facility_options_of(scenario: Scenario) -> pd.DataFrame:
    """The scenario's build-out options by option (empty when it has none)."""
    options = getattr(scenario, "facility_options", None)
    return options if options is not None else pd.DataFrame(
        columns=["site", "racks", "power_mw", "price_usd", "lead_quarters", "available_from", "life_years",
                 "max_units"], index=pd.Index([], name="option"))


def facility_sets(scenario: Scenario, n: int) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Build decisions (build_quarter, option) that enter service inside the horizon, not before available_from,
    and their vintages (option, build_quarter, quarter) in service: build_quarter + lead ≤ quarter < that + life.
    (None, None) without options, so a scenario without them builds the same program as before."""
    options = facility_options_of(scenario)
    if options.empty:
        return None, None
    grid = pd.MultiIndex.from_product([pd.RangeIndex(n, name="build_quarter"), options.index.rename("option")]) \
        .to_frame(index=False)
    option = options.loc[grid["option"]]
    first = in_service_quarter(grid["build_quarter"].to_numpy(), option["lead_quarters"].to_numpy())
    valid = (grid["build_quarter"].to_numpy() >= option["available_from"].to_numpy()) & (first < n)
    grid["site"] = option["site"].to_numpy()
    grid["max_units"] = option["max_units"].to_numpy(dtype=float)
    builds = grid[valid].reset_index(drop=True)
    life = life_quarters(options)  # round(life_years × 4), like a node's
    vintages = builds[["option", "build_quarter"]].merge(pd.DataFrame({"quarter": np.arange(n)}), how="cross")
    start = in_service_quarter(vintages["build_quarter"].to_numpy(),
                               options.loc[vintages["option"], "lead_quarters"].to_numpy())
    live = (vintages["quarter"].to_numpy() >= start) & (vintages["quarter"].to_numpy()
                                                       < start + life.loc[vintages["option"]].to_numpy())
    return builds, vintages[live].reset_index(drop=True)


def facility_headroom(scenario: Scenario, sites: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """By row of `sites`: the most kW and racks the site's options can ever add (max_units × each)."""
    options = facility_options_of(scenario)
    if options.empty:
        return np.zeros(len(sites)), np.zeros(len(sites))
    most = options.assign(kw=options["power_mw"] * KW_PER_MW * options["max_units"],
                          racks=options["racks"] * options["max_units"]).groupby("site")[["kw", "racks"]].sum()
    most = most.reindex(sites.index, fill_value=0.0)
    return most["kw"].to_numpy(dtype=float), most["racks"].to_numpy(dtype=float)


def site_node_capacity(sites: pd.DataFrame, catalog: pd.DataFrame, keys: pd.DataFrame,
                       scenario: Scenario | None = None) -> np.ndarray:
    """Most nodes of SKU k site s can hold at once, by (site, sku) rows of `keys`: ⌊power_mw · 1,000 /
    (node_kw · pue)⌋ and ⌊racks · nodes_per_rack⌋ at owned sites (every node in service counts against the cap
    at full load), unbounded at cloud sites; 0 where the SKU's rack does not fit the site (rack_fit). With
    `scenario`, power and racks include the most its facility options can add."""
    site = sites.loc[keys["site"]]
    sku = catalog.loc[keys["sku"]]
    power_kw = site["power_mw"].to_numpy(dtype=float) * KW_PER_MW
    racks = site["racks"].to_numpy(dtype=float)
    if scenario is not None:
        extra_kw, extra_racks = facility_headroom(scenario, sites)
        power_kw = power_kw + pd.Series(extra_kw, index=sites.index).reindex(keys["site"]).to_numpy()
        racks = racks + pd.Series(extra_racks, index=sites.index).reindex(keys["site"]).to_numpy()
    fits, per_rack = rack_fit(sites, catalog, keys["site"], keys["sku"])
    by_power = np.floor(power_kw / facility_kw(sku["node_kw"].to_numpy(), site["pue"].to_numpy(dtype=float))
                        + CAPACITY_ROUNDING)
    by_racks = np.floor(racks * per_rack + CAPACITY_ROUNDING)
    owned = site["kind"].to_numpy() == "owned"
    return np.where(fits, np.where(owned, np.minimum(by_power, by_racks), np.inf), 0.0)


def _order_keys(catalog: pd.DataFrame, owned_sites: pd.DataFrame, n: int, scenario: Scenario | None = None) -> pd.DataFrame:
    grid = pd.MultiIndex.from_product([pd.RangeIndex(n, name="order_quarter"), owned_sites.index,
                                       catalog.index], names=["order_quarter", "site", "sku"]).to_frame(index=False)
    sku = catalog.loc[grid["sku"]]
    in_service = in_service_quarter(grid["order_quarter"].to_numpy(), sku["lead_quarters"].to_numpy())
    valid = (grid["order_quarter"].to_numpy() >= sku["available_from"].to_numpy()) & (in_service < n)
    valid &= rack_fit(owned_sites, catalog, grid["site"], grid["sku"])[0]  # cooling and density
    # The tightest bound we know for free: the nodes that fit the site's power cap and racks.
    grid["max_nodes"] = site_node_capacity(owned_sites, catalog, grid, scenario)
    # Orders that no cap admits stay (bounded to 0), so infeasibility diagnosis can relax the cap and see them.
    return grid[valid].reset_index(drop=True)


def _vintages(catalog: pd.DataFrame, n: int) -> pd.DataFrame:
    grid = pd.MultiIndex.from_product([catalog.index, pd.RangeIndex(n, name="order_quarter"),
                                       pd.RangeIndex(n, name="quarter")]).to_frame(index=False)
    first, retired = in_service_window(catalog, grid["order_quarter"].to_numpy(), grid["sku"])
    live = (grid["quarter"].to_numpy() >= first) & (grid["quarter"].to_numpy() < retired)
    return grid[live].reset_index(drop=True)


def fleet_in_service(fleet: pd.DataFrame, life: pd.Series, n: int) -> pd.Series:
    """Existing nodes count from `installed` and retire after their life, like new ones."""
    index_names = ["quarter", "site", "sku"]
    if fleet.empty:
        return pd.Series(dtype=float, index=pd.MultiIndex.from_arrays([[], [], []], names=index_names))
    grid = fleet.merge(pd.DataFrame({"quarter": np.arange(n)}), how="cross")
    installed = grid["installed"].to_numpy()
    live = (grid["quarter"].to_numpy() >= installed) & (grid["quarter"].to_numpy()
                                                      < installed + life.loc[grid["sku"]].to_numpy())
    return grid[live].groupby(index_names)["nodes"].sum().astype(float)


def _placement_keys(scenario: Scenario, performance, orders, fleet, rentals, quarters, terms=None,
                    signings=None) -> pd.DataFrame:
    """(quarter, workload, site, sku) where work may run: eligible SKU, allowed site, hardware obtainable."""
    eligible = performance[performance["eligible"]].reset_index()[
        ["workload", "sku", "tokens_per_s_per_node", "node_hours", "min_nodes"]]
    workloads = scenario.workloads
    allowed = pd.DataFrame({"workload": workloads.index,
                            "site": [scenario.allowed_sites(w) for w in workloads.index]}).explode("site")
    pairs = eligible.merge(allowed, on="workload")
    pairs["kind"] = workloads.loc[pairs["workload"], "kind"].to_numpy()

    grid = pairs.merge(pd.DataFrame({"quarter": quarters}), how="cross")
    start = workloads.loc[grid["workload"], "start"].to_numpy(dtype=float, na_value=0)
    deadline = workloads.loc[grid["workload"], "deadline"].to_numpy(dtype=float, na_value=math.inf)
    in_window = (grid["quarter"].to_numpy() >= start) & (grid["quarter"].to_numpy() <= deadline)

    # Hardware obtainable at (site, sku) in that quarter: an owned order already in service, the fleet, or a rental.
    first_owned = orders.assign(first=in_service_quarter(orders["order_quarter"], scenario.catalog.loc[
        orders["sku"], "lead_quarters"].to_numpy())).groupby(["site", "sku"])["first"].min()
    first_fleet = fleet.reset_index().groupby(["site", "sku"])["quarter"].min() if len(fleet) else None
    first_rental = rentals.groupby(["site", "sku"])["quarter"].min()
    first_contract = None
    if terms is not None and len(terms):
        pools = signings.drop_duplicates("contract").set_index("contract")[["site", "sku"]]
        first_contract = terms.assign(site=pools["site"].reindex(terms["contract"]).to_numpy(),
                                      sku=pools["sku"].reindex(terms["contract"]).to_numpy()) \
            .groupby(["site", "sku"])["quarter"].min()
    first = pd.concat([s for s in (first_owned, first_fleet, first_rental, first_contract) if s is not None]) \
        .groupby(level=["site", "sku"]).min()
    pool_first = first.reindex(pd.MultiIndex.from_frame(grid[["site", "sku"]])).to_numpy()
    obtainable = grid["quarter"].to_numpy() >= np.nan_to_num(pool_first, nan=math.inf)
    columns = ["quarter", "workload", "site", "sku", "kind", "tokens_per_s_per_node", "node_hours", "min_nodes"]
    return grid.loc[in_window & obtainable, columns].reset_index(drop=True)


def _demand(scenario: Scenario, quarters: pd.Index) -> pd.Series:
    inference = scenario.workloads.index[scenario.workloads["kind"] == "inference"]
    index = pd.MultiIndex.from_product([quarters, inference], names=["quarter", "workload"])
    given = scenario.demand.groupby(["quarter", "workload"])["tokens_per_s"].sum()
    return given.reindex(index).fillna(0.0)
