"""The purchase, rental and placement MILP, one function per family; costs are decisions × the per-unit prices of
models/cost_parameters.py, which implements the cost conventions of docs/conventions.md.

Sets: quarters t, owned sites s ∈ O, cloud sites s ∈ C, SKUs k, workloads w (training R, inference I).
Decisions: orders[q,s,k] ∈ ℤ+ (s ∈ O), rentals[t,s,k] ∈ ℤ+ (s ∈ C), busy[t,w,s,k] ≥ 0 node-equivalents,
unmet[t,w] ≥ 0 tokens/s (w ∈ I), pool[w,s,k] ∈ {0,1} and active[t,w,s,k] ∈ {0,1} (w ∈ R), left[w] ∈ [0,1].
Each add_* docstring repeats its line of docs/model.md's math.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.cost_parameters import (COST_LINES, USD_LINES, ContractCosts, CostParameters, FabricCosts, FacilityCosts,
                                    SpotCosts, StorageCosts, build_contract_costs, build_cost_parameters,
                                    build_facility_costs, build_fabric_costs, build_spot_costs, build_storage_costs,
                                    site_energy_rates, spans_scalable_units)
from models.failures import availability, failures_apply
from models.lp import Expr, LinearProgram, Variables
from models.money import facility_kw
from models.quarters import HOURS_PER_QUARTER
from models.scenario import Scenario
from models.sets import (PlanningSets, contracts_of, density_applies, facility_options_of, rack_fit,
                         site_node_capacity)
from models.units import KW_PER_MW


@dataclass
class PlanModel:
    """The built program plus the labelled expressions reports need (costs, power, nodes in service)."""

    lp: LinearProgram
    sets: PlanningSets
    nodes: Expr  # nodes in service by (quarter, site, sku), owned and rented
    busy_nodes: Expr  # busy node-equivalents by (quarter, site, sku)
    it_kw: Expr  # IT power by (quarter, site, sku)
    costs: dict[str, Expr]  # undiscounted $ (and kWh, t) by quarter, one entry per cost line, in COST_LINES order
    strict: bool
    cost_parameters: CostParameters  # the per-unit prices the costs were built from
    facility_costs: FacilityCosts | None = None  # build-out options' prices (None: the scenario has none)
    contract_costs: ContractCosts | None = None  # committed-capacity offers' prices (None: the scenario has none)
    fabric_costs: FabricCosts | None = None  # the fabric table's prices (None: the scenario has none)
    storage_costs: StorageCosts | None = None  # storage prices (None: no workload needs priced storage)
    storage_share: Expr | None = None  # by (quarter, workload, site, sku): the share of storage_tb held there
    spot_costs: SpotCosts | None = None  # spot prices (None: no preemptible run may use spot)


def build_plan_model(scenario: Scenario, sets: PlanningSets, strict: bool = False, elastic_caps: bool = False,
                     elastic_requirements: bool = False) -> PlanModel:
    """The MILP. For infeasibility diagnosis (diagnose.py), `elastic_caps` lets power, racks and budget be
    exceeded through slack variables and `elastic_requirements` lets demand and training go undone."""
    lp = LinearProgram(scenario.name)
    orders = lp.add_variables("orders", pd.MultiIndex.from_frame(sets.orders[["order_quarter", "site", "sku"]]),
                              upper=np.inf if elastic_caps else sets.orders["max_nodes"].to_numpy(), integer=True)
    rentals = lp.add_variables("rentals", pd.MultiIndex.from_frame(sets.rentals), integer=True)
    busy = lp.add_variables("busy", pd.MultiIndex.from_frame(sets.placements[["quarter", "workload", "site",
                                                                              "sku"]]),
                            upper=busy_upper_bounds(sets, scenario, physical=not elastic_caps))
    owned_nodes = nodes_in_service(orders, sets)
    nodes = owned_nodes + rentals.expr()
    contract_prices = build_contract_costs(contracts_of(scenario), scenario.catalog) \
        if sets.contract_signings is not None else None
    signings, contracted = add_contract_constraints(lp, sets, contract_prices)
    if contracted is not None:
        nodes = nodes + contracted
    busy_nodes = busy.expr().sum("workload")

    add_capacity_constraints(lp, busy_nodes, nodes, scenario.headroom,
                             availability(scenario.catalog) if failures_apply(scenario.catalog) else None)
    unmet = add_demand_constraints(lp, busy, sets, allow_unmet=elastic_requirements or not strict)
    priced_unfinished = not strict and scenario.finance.unfinished_training_usd is not None
    spot_costs = build_spot_costs(scenario.catalog) if sets.spot is not None else None
    spot = add_spot_variables(lp, sets, spot_costs)
    left = add_training_constraints(lp, busy, nodes, sets, allow_unfinished=elastic_requirements or priced_unfinished,
                                    spot=spot, spot_costs=spot_costs)
    add_replica_constraints(lp, busy, nodes, sets)
    facility = build_facility_costs(facility_options_of(scenario)) if sets.facility_builds is not None else None
    builds, built = add_facility_constraints(lp, sets, facility)
    fabric = fabric_of(scenario)
    storage = build_storage_costs(scenario)
    spanning = spanning_busy(lp, busy, sets, fabric)
    share = add_storage_shares(lp, busy, sets, storage)
    extra_it_kw = fabric_and_storage_it_kw(spanning, share, fabric, storage, scenario)
    if spot is not None:  # spot nodes draw full power for the hours rented (cloud sites: kWh and tCO2, no cap)
        spot_kw = (spot.expr() * (spot_costs.it_kw_per_node / HOURS_PER_QUARTER)).sum("workload", "sku")
        extra_it_kw = spot_kw if extra_it_kw is None else extra_it_kw + spot_kw
    add_power_constraints(lp, nodes, scenario, elastic=elastic_caps, built=built, facility=facility, fabric=fabric,
                          extra_it_kw=extra_it_kw)
    add_rack_constraints(lp, nodes, scenario, elastic=elastic_caps, built=built, facility=facility)
    add_budget_constraints(lp, orders, scenario, elastic=elastic_caps, builds=builds, facility=facility)

    prices = build_cost_parameters(scenario)
    it_kw = it_power_kw(nodes, busy_nodes, prices)
    if spanning is not None:
        it_kw = it_kw + (spanning * fabric.spine_kw_per_node).sum("workload")
    costs = cost_lines(prices, scenario, sets, orders, rentals, owned_nodes, nodes, busy_nodes, unmet, left,
                       extra_it_kw=extra_it_kw)
    add_network_costs(costs, prices, fabric, orders, owned_nodes, spanning, sets)
    add_storage_costs(costs, storage, share, sets)
    if builds is not None:
        add_facility_costs(costs, prices, facility, builds, built, sets)
    if signings is not None:
        add_contract_costs(costs, contract_prices, signings, sets)
    if spot is not None:
        add_spot_costs(costs, spot_costs, spot, sets)
    lp.minimize(discounted_total(costs, prices.discount_factor))
    return PlanModel(lp=lp, sets=sets, nodes=nodes, busy_nodes=busy_nodes, it_kw=it_kw, costs=costs,
                     strict=strict, cost_parameters=prices, facility_costs=facility,
                     contract_costs=contract_prices, fabric_costs=fabric, storage_costs=storage, storage_share=share,
                     spot_costs=spot_costs)


def busy_upper_bounds(sets: PlanningSets, scenario: Scenario, physical: bool = True) -> np.ndarray:
    """Finite bounds every backend can use (CP-SAT needs them): serving more than the quarter's demand, or
    running more node-equivalents than the whole run in one quarter, is never useful. With `physical`, also no
    more than an owned site can ever hold of that SKU (its power cap and racks, less headroom): the tighter the
    bound, the tighter every big-M row built on it (add_min_nodes_constraints)."""
    p = sets.placements
    demand = sets.demand.reindex(pd.MultiIndex.from_frame(p[["quarter", "workload"]])).to_numpy()
    inference_bound = np.nan_to_num(demand, nan=0.0) / p["tokens_per_s_per_node"].to_numpy()
    training_bound = p["node_hours"].to_numpy() / HOURS_PER_QUARTER
    bound = np.where(p["kind"].to_numpy() == "inference", inference_bound, training_bound)
    if not physical:  # caps made elastic (infeasibility diagnosis): what a site holds is not a bound then
        return bound
    held = site_node_capacity(scenario.sites, scenario.catalog, p, scenario)
    return np.minimum(bound, held * (1.0 - scenario.headroom))


def nodes_in_service(orders: Variables, sets: PlanningSets) -> Expr:
    """owned[t,s,k] = fleet[t,s,k] + Σ_{q: q+L_k ≤ t < q+L_k+T_k} orders[q,s,k]."""
    ordered = orders.expr().join(sets.vintages).sum("order_quarter")
    return ordered + sets.fleet if len(sets.fleet) else ordered


def add_capacity_constraints(lp: LinearProgram, busy_nodes: Expr, nodes: Expr, headroom: float,
                             available: pd.Series | None = None) -> None:
    """Σ_w busy[t,w,s,k] ≤ (1 − headroom) · a[k] · nodes[t,s,k]   ∀ t, s, k with any placement, a[k] the SKU's
    availability under failures (models/failures.py; a = 1, the row it always was, without failure columns)."""
    used = busy_nodes.terms[["quarter", "site", "sku"]].drop_duplicates()
    usable = nodes.select(used) * (1.0 - headroom)
    if available is not None:
        usable = usable * available
    lp.add_constraints("capacity", busy_nodes - usable, "<=", 0.0)


def add_demand_constraints(lp: LinearProgram, busy: Variables, sets: PlanningSets,
                           allow_unmet: bool) -> Variables | None:
    """Σ_{s,k} tokens_per_s_per_node[w,k] · busy[t,w,s,k] + unmet[t,w] = demand[t,w]   ∀ t, w ∈ I."""
    if sets.demand.empty:
        return None
    rate = sets.placements.set_index(["quarter", "workload", "site", "sku"])["tokens_per_s_per_node"]
    inference = sets.placements["kind"].to_numpy() == "inference"
    served = busy.expr().mul(rate[inference], filter=True).sum("site", "sku")  # filter: inference work only
    unmet = lp.add_variables("unmet", sets.demand.index, upper=sets.demand.to_numpy() if allow_unmet else 0.0)
    lp.add_constraints("demand", served + unmet.expr(), "==", sets.demand)
    return unmet


def add_spot_variables(lp: LinearProgram, sets: PlanningSets, spot_costs: SpotCosts | None) -> Variables | None:
    """spot[t,w,s,k] ≥ 0: spot node-hours a preemptible run rents at cloud site s in quarter t (docs/datacenter-2026.md
    "Spot"), at most what would do its whole run there: node_hours[w,k] / work_per_node_hour[k]. Continuous: spot is
    rented by the hour, on as many nodes as the run needs (at least its min_nodes), so no whole-node decision.
    None without spot (the program is then the one without it)."""
    if sets.spot is None or spot_costs is None:
        return None
    keys = sets.spot
    work = spot_costs.work_per_node_hour.reindex(keys["sku"]).to_numpy(dtype=float)
    return lp.add_variables("spot_node_hours", pd.MultiIndex.from_frame(keys[["quarter", "workload", "site", "sku"]]),
                            upper=keys["node_hours"].to_numpy(dtype=float) / work)


def add_spot_costs(costs: dict[str, Expr], spot_costs: SpotCosts, spot: Variables, sets: PlanningSets) -> None:
    """rent_usd[t] += Σ_{w,s,k} usd_per_node_hour[k] · spot[t,w,s,k]: spot is rent, paid per node-hour rented."""
    paid = (spot.expr() * spot_costs.usd_per_node_hour).sum("workload", "site", "sku")
    costs["rent_usd"] = _by_quarter(costs["rent_usd"] + paid, sets)


def add_training_constraints(lp: LinearProgram, busy: Variables, nodes: Expr, sets: PlanningSets,
                             allow_unfinished: bool, spot: Variables | None = None,
                             spot_costs: SpotCosts | None = None) -> Variables | None:
    """A run's work is done in one pool, in quarters when that pool holds its minimum node count.

    done[w,s,k] = Σ_{t ∈ [start, deadline]} (2,190 · busy[t,w,s,k] + work_per_node_hour[k] · spot[t,w,s,k])
                  / node_hours[w,k]   (the spot term only for preemptible runs: docs/datacenter-2026.md "Spot")
    Σ_{s,k} done[w,s,k] + left[w] ≥ 1;   Σ_{s,k} pool[w,s,k] ≤ 1   (one site, one SKU)
    active[t,w,s,k] ≤ pool[w,s,k]   (busy > 0 only where active: add_min_nodes_constraints)
    spot[t,w,s,k] ≤ bound[t,w,s,k] · pool[w,s,k]   (spot only in the run's pool; bound its upper bound)
    """
    placements = sets.placements[sets.placements["kind"] == "training"]
    pools = sets.training_pools
    if placements.empty and spot is None:
        return None
    keys = ["quarter", "workload", "site", "sku"]
    pool = lp.add_variables("pool", pd.MultiIndex.from_frame(pools[["workload", "site", "sku"]]), upper=1.0,
                            integer=True)
    runs = pd.Index(pools["workload"].unique(), name="workload")
    left = lp.add_variables("left", runs, upper=1.0 if allow_unfinished else 0.0)

    done = None
    if len(placements):
        per_quarter_share = (HOURS_PER_QUARTER / placements.set_index(keys)["node_hours"])
        done = busy.expr().mul(per_quarter_share, filter=True).sum("quarter").sum("site", "sku")  # training only
    if spot is not None:
        work = spot_costs.work_per_node_hour.reindex(sets.spot["sku"]).to_numpy(dtype=float)
        per_node_hour = pd.Series(work / sets.spot["node_hours"].to_numpy(dtype=float), index=spot.index)
        by_spot = spot.expr().mul(per_node_hour).sum("quarter", "site", "sku")
        done = by_spot if done is None else done + by_spot
    # "at least" rather than "exactly": no solver overworks a run for nothing, and CP-SAT, whose continuous
    # variables live on a 1/1,000 grid, could otherwise miss a run's work by a rounding step and call it infeasible.
    lp.add_constraints("training_work", done + left.expr(), ">=", 1.0)
    lp.add_constraints("training_one_pool", pool.expr().sum("site", "sku"), "<=", 1.0)

    if spot is not None:
        bound = pd.Series(lp.upper[spot.positions], index=spot.index)
        in_pool = pool.expr().join(sets.spot[keys], filter=True)  # filter: pools where the run may rent spot
        lp.add_constraints("spot_pool", spot.expr() - in_pool.mul(bound), "<=", 0.0)
    if placements.empty:
        return left
    active = add_min_nodes_constraints(lp, busy, nodes, placements, "training")
    # filter: a pool only spot can serve (docs/datacenter-2026.md "Spot") has no placement, hence no `active`
    lp.add_constraints("training_active_pool", active.expr() - pool.expr().join(placements[keys], filter=True),
                       "<=", 0.0)
    return left


def add_min_nodes_constraints(lp: LinearProgram, busy: Variables, nodes: Expr, placements: pd.DataFrame,
                              family: str) -> Variables:
    """Work runs on a pool only while it holds the job's minimum node count (memory fit, replica size).

    busy[t,w,s,k] ≤ bound[t,w,s,k] · active[t,w,s,k];   nodes[t,s,k] ≥ min_nodes[w,k] · active[t,w,s,k]
    with active ∈ {0,1} and bound the largest useful busy value (busy_upper_bounds).
    """
    keys = ["quarter", "workload", "site", "sku"]
    active = lp.add_variables(f"{family}_active", pd.MultiIndex.from_frame(placements[keys]), upper=1.0,
                              integer=True)
    bound = pd.Series(lp.upper[busy.positions], index=busy.index).reindex(active.index)
    lp.add_constraints(f"{family}_active", busy.expr().select(placements[keys])
                       - active.expr() * bound, "<=", 0.0)
    min_nodes = placements.set_index(keys)["min_nodes"].astype(float)
    pool_nodes = nodes.join(placements[keys], filter=True)  # filter: pools where this family runs
    lp.add_constraints(f"{family}_min_nodes", pool_nodes - active.expr() * min_nodes, ">=", 0.0)
    return active


def add_replica_constraints(lp: LinearProgram, busy: Variables, nodes: Expr, sets: PlanningSets) -> None:
    """An inference replica that spans several nodes needs that many nodes in the pool before it serves.

    One binary per pool, quarter and replica size m, shared by every service of that size on the pool:
    busy[t,w,s,k] ≤ bound[t,w,s,k] · replica[t,s,k,m(w,k)];   nodes[t,s,k] ≥ m · replica[t,s,k,m].
    Exact (a pool serving any replica of size m must hold m nodes, whichever service it is), with far fewer
    binaries than one per service, and a relaxation at least as tight (replica ≥ the largest busy / bound)."""
    p = sets.placements
    multi_node = p[(p["kind"] == "inference") & (p["min_nodes"] > 1)]
    if multi_node.empty:
        return
    keys = ["quarter", "workload", "site", "sku"]
    sizes = multi_node[["quarter", "site", "sku", "min_nodes"]].drop_duplicates()
    replica = lp.add_variables("replica_active", pd.MultiIndex.from_frame(sizes), upper=1.0, integer=True)
    bound = pd.Series(lp.upper[busy.positions], index=busy.index).reindex(
        pd.MultiIndex.from_frame(multi_node[keys]))
    per_service = replica.expr().join(multi_node[["quarter", "site", "sku", "min_nodes", "workload"]]) \
        .sum("min_nodes")
    lp.add_constraints("replica_active", busy.expr().select(multi_node[keys]) - per_service.mul(bound), "<=", 0.0)
    size = pd.Series(sizes["min_nodes"].to_numpy(dtype=float), index=replica.index)
    pool_nodes = nodes.join(sizes, filter=True)  # filter: only pools where a multi-node replica may run
    lp.add_constraints("replica_min_nodes", pool_nodes - replica.expr().mul(size), ">=", 0.0)


def add_facility_constraints(lp: LinearProgram, sets: PlanningSets,
                             facility: FacilityCosts | None) -> tuple[Variables | None, Expr | None]:
    """Facility build-out (docs/datacenter-2026.md), like orders of nodes:

    builds[q,o] ∈ ℤ+ for available_from[o] ≤ q, q + lead[o] inside the horizon;   Σ_q builds[q,o] ≤ max_units[o]
    built[t,o] = Σ_{q: q+lead[o] ≤ t < q+lead[o]+life[o]} builds[q,o]   (units in service; returned)
    (None, None) without options: the program is then exactly the one without facility decisions."""
    if sets.facility_builds is None or facility is None:
        return None, None
    keys = sets.facility_builds
    builds = lp.add_variables("facility_builds", pd.MultiIndex.from_frame(keys[["build_quarter", "option"]]),
                              upper=keys["max_units"].to_numpy(), integer=True)
    most = keys.drop_duplicates("option").set_index("option")["max_units"]
    lp.add_constraints("facility_units", builds.expr().sum("build_quarter"), "<=", most)
    built = builds.expr().join(sets.facility_vintages).sum("build_quarter")
    return builds, built


def add_contract_constraints(lp: LinearProgram, sets: PlanningSets,
                             contracts: ContractCosts | None) -> tuple[Variables | None, Expr | None]:
    """Committed capacity (docs/datacenter-2026.md) beside on-demand rent:

    signed[q,c] ∈ ℤ+ blocks, for available_from[c] ≤ q with the whole term inside the horizon;
    Σ_q signed[q,c] ≤ max_blocks[c];
    contracted[t,s,k] = Σ_{c at (s,k)} min_nodes[c] · Σ_{q: q+lead[c] ≤ t < q+lead[c]+term[c]} signed[q,c]
    (nodes in service, returned; they join nodes[t,s,k], so work may run on them and they are paid whether busy
    or not). (None, None) without contracts."""
    if sets.contract_signings is None or contracts is None:
        return None, None
    keys = sets.contract_signings
    signed = lp.add_variables("contract_signings",
                              pd.MultiIndex.from_frame(keys[["sign_quarter", "contract", "site", "sku"]]),
                              upper=keys["max_blocks"].to_numpy(), integer=True)
    most = keys.drop_duplicates("contract").set_index("contract")["max_blocks"]
    lp.add_constraints("contract_blocks", signed.expr().sum("sign_quarter", "site", "sku"), "<=", most)
    in_term = signed.expr().join(sets.contract_terms).sum("sign_quarter")
    contracted = (in_term * contracts.nodes_per_block).sum("contract")
    return signed, contracted


def add_contract_costs(costs: dict[str, Expr], contracts: ContractCosts, signed: Variables,
                       sets: PlanningSets) -> None:
    """rent_usd[t] += Σ_c usd_per_block_quarter[c] · (blocks of c in their term at t): paid whether used or not."""
    in_term = signed.expr().join(sets.contract_terms).sum("sign_quarter")
    paid = (in_term * contracts.usd_per_block_quarter).sum("contract", "site", "sku")
    costs["rent_usd"] = _by_quarter(costs["rent_usd"] + paid, sets)


def _added_by_facility(built: Expr | None, facility: FacilityCosts | None, per_unit: str) -> Expr | None:
    """Σ_{o at s} per_unit[o] · built[t,o], keyed by (quarter, site): the kW or racks the options add."""
    if built is None or facility is None:
        return None
    sites = pd.DataFrame({"option": facility.site.index, "site": facility.site.to_numpy()})
    return (built * getattr(facility, per_unit)).join(sites).sum("option")


def add_power_constraints(lp: LinearProgram, nodes: Expr, scenario: Scenario, elastic: bool = False,
                          built: Expr | None = None, facility: FacilityCosts | None = None,
                          fabric: FabricCosts | None = None, extra_it_kw: Expr | None = None) -> None:
    """Σ_k (node_kw[k] + leaf_kw[k]) · pue[s] · nodes[t,s,k] + pue[s] · extra_it_kw[t,s]
    ≤ power_mw[s] · 1,000 + Σ_{o at s} kw_per_unit[o] · built[t,o]   ∀ t, owned s (all nodes at full load; leaf_kw
    only with a fabric table, extra_it_kw the spine and storage kW (fabric_and_storage_it_kw), the last term only
    with facility options)."""
    sites = scenario.sites[scenario.sites["kind"] == "owned"]
    node_kw = scenario.catalog["node_kw"]
    if fabric is not None:
        node_kw = node_kw + fabric.leaf_kw_per_node.reindex(node_kw.index).fillna(0.0)
    full_load_kw = facility_kw(node_kw, sites["pue"], nodes=_at_sites(nodes, sites.index))
    used_kw = full_load_kw.sum("sku")
    if extra_it_kw is not None:
        owned_extra = _at_sites(extra_it_kw, sites.index)
        if len(owned_extra.terms) or len(owned_extra.const):
            used_kw = used_kw + facility_kw(1.0, sites["pue"], nodes=owned_extra)
    added = _added_by_facility(built, facility, "kw_per_unit")
    if added is not None:
        used_kw = used_kw - added
    lp.add_constraints("power", used_kw, "<=", sites["power_mw"] * KW_PER_MW, elastic=elastic)


def add_rack_constraints(lp: LinearProgram, nodes: Expr, scenario: Scenario, elastic: bool = False,
                         built: Expr | None = None, facility: FacilityCosts | None = None) -> None:
    """Σ_k nodes[t,s,k] / nodes_per_rack[s,k] ≤ racks[s] + Σ_{o at s} racks_per_unit[o] · built[t,o]   ∀ t, owned s.

    nodes_per_rack[s,k] is the catalog's, or fewer where the site's max_kw_per_rack holds fewer nodes a rack
    (models/sets.py rack_fit); without densities and options this is the row it always was."""
    sites = scenario.sites[scenario.sites["kind"] == "owned"]
    at_owned = _at_sites(nodes, sites.index)
    if density_applies(scenario.sites):
        pairs = pd.MultiIndex.from_product([sites.index, scenario.catalog.index], names=["site", "sku"])
        fits, per_rack = rack_fit(scenario.sites, scenario.catalog, pairs.get_level_values("site"),
                                  pairs.get_level_values("sku"))
        usable = np.where(fits, per_rack, scenario.catalog["nodes_per_rack"].reindex(
            pairs.get_level_values("sku")).to_numpy(dtype=float))  # unfitting pairs have no nodes
        racks_used = at_owned * pd.Series(1.0 / usable, index=pairs)
    else:
        racks_used = at_owned * (1.0 / scenario.catalog["nodes_per_rack"])
    used = racks_used.sum("sku")
    added = _added_by_facility(built, facility, "racks_per_unit")
    if added is not None:
        used = used - added
    lp.add_constraints("racks", used, "<=", sites["racks"], elastic=elastic)


MIN_RUNNING_NODE_EQUIVALENTS = 1e-3  # a training quarter that holds storage does at least this much work


def fabric_of(scenario: Scenario) -> FabricCosts | None:
    """The scenario's fabric prices, None without a fabric table (the program is then the one without fabric)."""
    fabric = getattr(scenario, "fabric", None)
    return None if fabric is None or fabric.empty else build_fabric_costs(fabric, scenario.catalog)


MIN_SPAN_EXCESS_NODE_EQUIVALENTS = 1e-3  # a quarter that spans SUs keeps more than nodes_per_su + this busy


def spanning_busy(lp: LinearProgram, busy: Variables, sets: PlanningSets, fabric: FabricCosts | None) -> Expr | None:
    """The busy node-equivalents of training that spans scalable units, by (quarter, workload, site, sku), owned
    sites only (docs/datacenter-2026.md; a rent includes the provider's spine). None when there are none.

    A run spans in a quarter when its footprint cannot stay inside one SU of nodes_per_su[k] nodes: always when
    min_nodes[w,k] > nodes_per_su[k] (spans_scalable_units; those rows need no decision), else exactly when
    busy[t,w,s,k] > nodes_per_su[k] (more node-equivalents than one SU holds all quarter). For the latter, with
    span ∈ {0,1}, U = nodes_per_su, B the busy bound (busy_upper_bounds) and ε = 10⁻³:
    busy ≤ U + (B − U)·span;   busy ≥ (U + ε)·span;   0 ≤ spanned ≤ busy;   spanned ≤ B·span;
    spanned ≥ busy − B·(1 − span): spanned = busy when the run spans, 0 when it does not."""
    if fabric is None:
        return None
    keys = ["quarter", "workload", "site", "sku"]
    p = sets.placements
    rows = p[(p["kind"] == "training") & p["site"].isin(sets.owned_sites) & p["sku"].isin(fabric.nodes_per_su.index)]
    if rows.empty:
        return None
    per_su = fabric.nodes_per_su.reindex(rows["sku"]).to_numpy(dtype=float)
    index = pd.MultiIndex.from_frame(rows[keys])
    bound = pd.Series(lp.upper[busy.positions], index=busy.index).reindex(index).to_numpy()
    always = spans_scalable_units(rows["min_nodes"].to_numpy(dtype=float), per_su)
    maybe = ~always & (bound > per_su + MIN_SPAN_EXCESS_NODE_EQUIVALENTS)
    parts = []
    if always.any():
        parts.append(busy.expr().select(rows.loc[always, keys]))
    if maybe.any():
        chosen = index[maybe]
        su, most = (pd.Series(values[maybe], index=chosen) for values in (per_su, bound))
        span = lp.add_variables("spine_span", chosen, upper=1.0, integer=True)
        spanned = lp.add_variables("spine_busy", chosen, upper=most.to_numpy())
        run = busy.expr().select(rows.loc[maybe, keys])
        lp.add_constraints("spine_span_above", run - span.expr().mul(most - su), "<=", su)
        lp.add_constraints("spine_span_below", run - span.expr().mul(su + MIN_SPAN_EXCESS_NODE_EQUIVALENTS),
                           ">=", 0.0)
        lp.add_constraints("spine_busy_at_most", spanned.expr() - run, "<=", 0.0)
        lp.add_constraints("spine_busy_off", spanned.expr() - span.expr().mul(most), "<=", 0.0)
        lp.add_constraints("spine_busy_on", spanned.expr() - run - span.expr().mul(most), ">=", -most)
        parts.append(spanned.expr())
    if not parts:
        return None
    return parts[0] + parts[1] if len(parts) == 2 else parts[0]


def add_storage_shares(lp: LinearProgram, busy: Variables, sets: PlanningSets,
                       storage: StorageCosts | None) -> Expr | None:
    """share[t,w,s,k], the part of a workload's storage_tb held at s in quarter t (cost_parameters.StorageCosts):
    inference: tokens_per_s_per_node[w,k] · busy[t,w,s,k] / demand[t,w] (its served share);
    training: active[t,w,s,k] (1 in each quarter the run works in its pool), with
    busy[t,w,s,k] ≥ min(10⁻³, bound) · active[t,w,s,k] so a quarter holding storage is one the run works in.
    None without storage (the program is then the one without it)."""
    if storage is None:
        return None
    keys = ["quarter", "workload", "site", "sku"]
    p = sets.placements
    held = p[p["workload"].isin(storage.storage_tb.index)]
    parts = []
    inference = held[held["kind"] == "inference"]
    if len(inference):
        demand = sets.demand.reindex(pd.MultiIndex.from_frame(inference[["quarter", "workload"]])).to_numpy()
        rate = inference["tokens_per_s_per_node"].to_numpy(dtype=float)
        served_share = np.where(demand > 0, rate / np.where(demand > 0, demand, 1.0), np.nan)
        parts.append(busy.expr().mul(pd.Series(served_share, index=pd.MultiIndex.from_frame(inference[keys])),
                                     filter=True))
    training = held[held["kind"] == "training"]
    if len(training) and "training_active" in lp.variables:
        active = lp.variables["training_active"].expr().select(training[keys])
        bound = pd.Series(lp.upper[busy.positions], index=busy.index).reindex(pd.MultiIndex.from_frame(
            training[keys]))
        least = np.minimum(MIN_RUNNING_NODE_EQUIVALENTS, bound.to_numpy())
        lp.add_constraints("storage_training_running", busy.expr().select(training[keys])
                           - active.mul(pd.Series(least, index=bound.index)), ">=", 0.0)
        parts.append(active)
    if not parts:
        return None
    share = parts[0]
    for part in parts[1:]:
        share = share + part
    return share


def fabric_and_storage_it_kw(spanning: Expr | None, share: Expr | None, fabric: FabricCosts | None,
                             storage: StorageCosts | None, scenario: Scenario) -> Expr | None:
    """IT kW by (quarter, site) beyond the nodes' own draw and their leaf share: spine_kw[k] · spanning busy
    node-equivalents + storage_tb[w] · kw_per_tb[s] · share[t,w,s,k]. None when there is neither."""
    parts = []
    if spanning is not None:
        parts.append((spanning * fabric.spine_kw_per_node).sum("workload", "sku"))
    if share is not None:
        parts.append((share * storage.storage_tb * storage.kw_per_tb).sum("workload", "sku"))
    if not parts:
        return None
    return parts[0] + parts[1] if len(parts) == 2 else parts[0]


def add_network_costs(costs: dict[str, Expr], prices: CostParameters, fabric: FabricCosts | None,
                      orders: Variables, owned_nodes: Expr, spanning: Expr | None, sets: PlanningSets) -> None:
    """network_usd[t] (docs/datacenter-2026.md "Fabric and storage"), owned nodes only:
    depreciation mode Σ_{s,k} network_usd_per_node_quarter[k] · owned[t,s,k] (fleet included), cash mode
    Σ_{s,k} leaf_usd[k] · orders[t,s,k]; either mode + Σ spine_usd_per_node_quarter[k] · spanning busy[t,w,s,k] at
    owned sites."""
    if fabric is None:
        return
    if prices.charges_depreciation:
        line = owned_nodes.mul(fabric.network_usd_per_node_quarter, filter=True).sum("site", "sku")
    else:
        paid = orders.expr().mul(fabric.network_usd_per_node_ordered, filter=True).sum("site", "sku")
        line = paid.join(pd.DataFrame({"order_quarter": sets.quarters.to_numpy(),
                                       "quarter": sets.quarters.to_numpy()})).sum("order_quarter")
    if spanning is not None:  # owned sites only (spanning_busy)
        line = line + (spanning * fabric.spine_usd_per_node_quarter).sum("workload", "site", "sku")
    costs["network_usd"] = _by_quarter(costs["network_usd"] + line, sets)


def add_storage_costs(costs: dict[str, Expr], storage: StorageCosts | None, share: Expr | None,
                      sets: PlanningSets) -> None:
    """storage_usd[t] = Σ_{w,s,k} storage_tb[w] · usd_per_tb_quarter[s] · share[t,w,s,k]."""
    if storage is None or share is None:
        return
    line = (share * storage.storage_tb * storage.usd_per_tb_quarter).sum("workload", "site", "sku")
    costs["storage_usd"] = _by_quarter(costs["storage_usd"] + line, sets)


def add_facility_costs(costs: dict[str, Expr], prices: CostParameters, facility: FacilityCosts,
                       builds: Variables, built: Expr, sets: PlanningSets) -> None:
    """Build-out priced like nodes, into the same lines: depreciation mode adds
    depreciation_usd_per_unit_quarter[o] · built[t,o] to depreciation_usd[t]; cash mode adds
    capex_usd_per_unit[o] · builds[t,o] to capex_usd[t]."""
    if prices.charges_depreciation:
        line = (built * facility.depreciation_usd_per_unit_quarter).sum("option")
        costs["depreciation_usd"] = _by_quarter(costs["depreciation_usd"] + line, sets)
    else:
        paid = (builds.expr() * facility.capex_usd_per_unit).sum("option")
        line = paid.join(pd.DataFrame({"build_quarter": sets.quarters.to_numpy(),
                                       "quarter": sets.quarters.to_numpy()})).sum("build_quarter")
        costs["capex_usd"] = _by_quarter(costs["capex_usd"] + line, sets)


def add_budget_constraints(lp: LinearProgram, orders: Variables, scenario: Scenario, elastic: bool = False,
                           builds: Variables | None = None, facility: FacilityCosts | None = None) -> None:
    """Σ_{s,k} price_usd[k] · orders[t,s,k] + Σ_o price_usd[o] · builds[t,o] ≤ budget_usd_per_quarter   ∀ t:
    what is bought in a quarter, nodes and facility build-out alike, whatever the capex mode (the build-out term
    only with facility options; docs/datacenter-2026.md)."""
    budget = scenario.finance.budget_usd_per_quarter
    has_builds = builds is not None and facility is not None and len(builds.index)
    if budget is None or not (len(orders.index) or has_builds):
        return
    spend = (orders.expr() * scenario.catalog["price_usd"]).sum("site", "sku")
    if has_builds:
        quarters = np.arange(scenario.horizon.quarters)
        built_usd = (builds.expr() * facility.capex_usd_per_unit).sum("option").join(
            pd.DataFrame({"build_quarter": quarters, "order_quarter": quarters})).sum("build_quarter")
        spend = spend + built_usd if len(orders.index) else built_usd
    lp.add_constraints("budget", spend, "<=", budget, elastic=elastic)


def it_power_kw(nodes: Expr, busy_nodes: Expr, prices: CostParameters) -> Expr:
    """IT kW[t,s,k] = node_kw · (idle_frac · nodes + (1 − idle_frac) · busy node-equivalents)."""
    return nodes * prices.it_kw_per_idle_node + busy_nodes * prices.it_kw_per_busy_node


def cost_lines(prices: CostParameters, scenario: Scenario, sets: PlanningSets, orders: Variables, rentals: Variables,
               owned_nodes: Expr, nodes: Expr, busy_nodes: Expr, unmet: Variables | None,
               left: Variables | None, extra_it_kw: Expr | None = None) -> dict[str, Expr]:
    """Every cost line by quarter (undiscounted), in COST_LINES order: decisions × the per-unit prices.

    The conventions themselves (what a node, an order, a kWh costs) live in models/cost_parameters.py.
    `extra_it_kw` (by quarter, site: spine and storage) adds its kWh, $ and tCO2 at the site's rates; network_usd
    and storage_usd start at 0 (add_network_costs, add_storage_costs fill them).
    """
    per_quarter = {}
    if prices.charges_depreciation:
        per_quarter["depreciation_usd"] = (owned_nodes * prices.depreciation_usd_per_node_quarter).sum("site", "sku")
        per_quarter["capex_usd"] = _zero_by_quarter(sets)
    else:
        ordered_usd = (orders.expr() * prices.capex_usd_per_node_ordered).sum("site", "sku")
        per_quarter["capex_usd"] = ordered_usd.join(pd.DataFrame({"order_quarter": sets.quarters,
                                                                  "quarter": sets.quarters})).sum("order_quarter")
        per_quarter["depreciation_usd"] = _zero_by_quarter(sets)
    per_quarter["rent_usd"] = (rentals.expr() * prices.rent_usd_per_node_quarter).sum("site", "sku")
    per_quarter["maintenance_usd"] = (owned_nodes * prices.maintenance_usd_per_node_quarter).sum("site", "sku")
    per_quarter["energy_kwh"] = _idle_plus_busy(nodes, busy_nodes, prices.kwh_per_idle_node,
                                                prices.kwh_per_busy_node)
    per_quarter["energy_usd"] = _idle_plus_busy(nodes, busy_nodes, prices.energy_usd_per_idle_node,
                                                prices.energy_usd_per_busy_node)
    per_quarter["carbon_t"] = _idle_plus_busy(nodes, busy_nodes, prices.carbon_t_per_idle_node,
                                              prices.carbon_t_per_busy_node)
    if extra_it_kw is not None:
        rates = site_energy_rates(scenario.sites)
        for line, rate in (("energy_kwh", "kwh"), ("energy_usd", "usd"), ("carbon_t", "carbon_t")):
            per_quarter[line] = per_quarter[line] + (extra_it_kw * rates[rate]).sum("site")
    per_quarter["network_usd"] = _zero_by_quarter(sets)
    per_quarter["storage_usd"] = _zero_by_quarter(sets)
    per_quarter["carbon_usd"] = per_quarter["carbon_t"] * prices.carbon_usd_per_t
    per_quarter["unmet_usd"] = ((unmet.expr() * prices.unmet_usd_per_unit).sum("workload")
                                if unmet is not None else _zero_by_quarter(sets))
    per_quarter["unfinished_training_usd"] = _unfinished_cost(prices, scenario, left, sets)
    return {name: _by_quarter(per_quarter[name], sets) for name in COST_LINES}


def discounted_total(costs: dict[str, Expr], discount: pd.Series) -> Expr:
    """Σ_t discount[t] · Σ_{$ lines} line[t]: the objective, summed over the $ lines by name."""
    total = costs[USD_LINES[0]]
    for name in USD_LINES[1:]:
        total = total + costs[name]
    return (total * discount).sum()


def _at_sites(nodes: Expr, sites: pd.Index) -> Expr:
    """nodes[t,s,k] for s in `sites` only (power and racks bind owned sites; cloud sites have no caps)."""
    return nodes.select(pd.DataFrame({"site": sites.to_numpy()}))


def _idle_plus_busy(nodes: Expr, busy_nodes: Expr, per_idle_node: pd.Series, per_busy_node: pd.Series) -> Expr:
    """Σ_{s,k} per_idle_node · nodes + per_busy_node · busy node-equivalents, by quarter."""
    return (nodes * per_idle_node + busy_nodes * per_busy_node).sum("site", "sku")


def _unfinished_cost(prices: CostParameters, scenario: Scenario, left: Variables | None, sets: PlanningSets) -> Expr:
    """unfinished_training_usd · left[w], charged in the run's deadline quarter."""
    if left is None or prices.unfinished_training_usd is None:
        return _zero_by_quarter(sets)
    deadline = scenario.workloads.loc[left.index.get_level_values("workload"), "deadline"].astype(int)
    mapping = pd.DataFrame({"workload": left.index.get_level_values("workload"), "quarter": deadline.to_numpy()})
    return (left.expr() * prices.unfinished_training_usd).join(mapping).sum("workload")


def _zero_by_quarter(sets: PlanningSets) -> Expr:
    return Expr.constant(pd.Series(0.0, index=sets.quarters))


def _by_quarter(expr: Expr, sets: PlanningSets) -> Expr:
    """Make sure every quarter has a row (a zero where the line has no terms)."""
    return expr + _zero_by_quarter(sets)
