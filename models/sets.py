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

from models.quarters import QUARTERS_PER_YEAR
from models.scenario import Scenario
from models.units import KW_PER_MW

CAPACITY_ROUNDING = 1e-9  # a cap that holds exactly n nodes must not round down to n − 1


def discount_factors(discount_rate: float, quarters: int) -> pd.Series:
    """(1 + r)^(−i/4) for quarter i = 0 … n−1: the README's discounting convention."""
    index = pd.Index(np.arange(quarters), name="quarter")
    return pd.Series((1.0 + discount_rate) ** (-index.to_numpy() / QUARTERS_PER_YEAR), index=index)


def life_quarters(catalog: pd.DataFrame) -> pd.Series:
    """Quarters a node stays in service: life_years × 4, rounded to whole quarters."""
    return (catalog["life_years"] * QUARTERS_PER_YEAR).round().astype(int)


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


def build_sets(scenario: Scenario, performance: pd.DataFrame) -> PlanningSets:
    n = scenario.horizon.quarters
    quarters = pd.Index(np.arange(n), name="quarter")
    catalog, sites = scenario.catalog, scenario.sites
    owned = sites.index[sites["kind"] == "owned"].rename("site")
    cloud = sites.index[sites["kind"] == "cloud"].rename("site")
    life = life_quarters(catalog)

    orders = _order_keys(catalog, sites.loc[owned], n)
    vintages = _vintages(catalog, life, n)
    fleet = fleet_in_service(scenario.fleet, life, n)
    rentable = catalog.index[catalog["rent_usd_per_gpu_hour"].notna()]
    rentals = pd.MultiIndex.from_product([quarters, cloud, rentable], names=["quarter", "site", "sku"]) \
        .to_frame(index=False)
    rentals = rentals[rentals["quarter"].to_numpy() >= catalog.loc[rentals["sku"], "available_from"].to_numpy()]

    placements = _placement_keys(scenario, performance, orders, fleet, rentals, quarters)
    demand = _demand(scenario, quarters)
    training = placements[placements["kind"] == "training"]
    pools = training[["workload", "site", "sku", "node_hours", "min_nodes"]].drop_duplicates(
        ["workload", "site", "sku"]).reset_index(drop=True)
    return PlanningSets(quarters=quarters, discount=discount_factors(scenario.finance.discount_rate, n),
                        owned_sites=owned, cloud_sites=cloud, orders=orders, vintages=vintages, fleet=fleet,
                        rentals=rentals.reset_index(drop=True), placements=placements, demand=demand,
                        training_pools=pools)


def site_node_capacity(sites: pd.DataFrame, catalog: pd.DataFrame, keys: pd.DataFrame) -> np.ndarray:
    """Most nodes of SKU k site s can hold at once, by (site, sku) rows of `keys`: ⌊power_mw · 1,000 /
    (node_kw · pue)⌋ and ⌊racks · nodes_per_rack⌋ at owned sites (every node in service counts against the cap
    at full load), unbounded at cloud sites."""
    site = sites.loc[keys["site"]]
    sku = catalog.loc[keys["sku"]]
    by_power = np.floor(site["power_mw"].to_numpy(dtype=float) * KW_PER_MW
                        / (sku["node_kw"].to_numpy() * site["pue"].to_numpy(dtype=float)) + CAPACITY_ROUNDING)
    by_racks = np.floor(site["racks"].to_numpy(dtype=float) * sku["nodes_per_rack"].to_numpy() + CAPACITY_ROUNDING)
    owned = site["kind"].to_numpy() == "owned"
    return np.where(owned, np.minimum(by_power, by_racks), np.inf)


def _order_keys(catalog: pd.DataFrame, owned_sites: pd.DataFrame, n: int) -> pd.DataFrame:
    grid = pd.MultiIndex.from_product([pd.RangeIndex(n, name="order_quarter"), owned_sites.index,
                                       catalog.index], names=["order_quarter", "site", "sku"]).to_frame(index=False)
    sku = catalog.loc[grid["sku"]]
    in_service = grid["order_quarter"].to_numpy() + sku["lead_quarters"].to_numpy()
    valid = (grid["order_quarter"].to_numpy() >= sku["available_from"].to_numpy()) & (in_service < n)
    # The tightest bound we know for free: the nodes that fit the site's power cap and racks.
    grid["max_nodes"] = site_node_capacity(owned_sites, catalog, grid)
    # Orders that no cap admits stay (bounded to 0), so infeasibility diagnosis can relax the cap and see them.
    return grid[valid].reset_index(drop=True)


def _vintages(catalog: pd.DataFrame, life: pd.Series, n: int) -> pd.DataFrame:
    grid = pd.MultiIndex.from_product([catalog.index, pd.RangeIndex(n, name="order_quarter"),
                                       pd.RangeIndex(n, name="quarter")]).to_frame(index=False)
    first = grid["order_quarter"].to_numpy() + catalog.loc[grid["sku"], "lead_quarters"].to_numpy()
    live = (grid["quarter"].to_numpy() >= first) & (grid["quarter"].to_numpy()
                                                   < first + life.loc[grid["sku"]].to_numpy())
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


def _placement_keys(scenario: Scenario, performance, orders, fleet, rentals, quarters) -> pd.DataFrame:
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
    first_owned = orders.assign(first=orders["order_quarter"] + scenario.catalog.loc[orders["sku"],
                                "lead_quarters"].to_numpy()).groupby(["site", "sku"])["first"].min()
    first_fleet = fleet.reset_index().groupby(["site", "sku"])["quarter"].min() if len(fleet) else None
    first_rental = rentals.groupby(["site", "sku"])["quarter"].min()
    first = pd.concat([s for s in (first_owned, first_fleet, first_rental) if s is not None]) \
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
