"""Scenario + PLAN.json → the labelled arrays the risk evaluator works on (NumPy; no I/O).

Everything the Monte-Carlo cost function needs is fixed here, once, in frozen dataclasses whose every array
names its dimensions (`dims` in the field's metadata; sizes in `RiskInputs.sizes`): the plan's nodes in service
per pool (a pool is one (site, sku)), its orders (for delivery slips), the training runs' busy load, the
inference demand forecast, the (workload, pool) pairs in the order the allocation rule serves them, and the
cloud options an operator could rent from when demand outruns the plan. The JAX evaluator (models/risk_*.py)
and the NumPy reference (bench/numpy_reference.py) read the same `RiskInputs`.

The dataclasses are registered as JAX pytrees (metadata only: nothing here runs JAX), so whole groups travel
to a device, through `jit` and `grad`, as one argument.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import jax
import numpy as np
import pandas as pd

from models.errors import InputError, Problem
from models.failures import availability
from models.cost_parameters import build_cost_parameters
from models.money import charged_usd_per_kwh, life_quarters
from models.performance import estimate_performance
from models.plan_schema import columns_of
from models.risk_settings import RiskSettings
from models.scenario import Scenario

# A throughput row's `ci95_tokens_per_s_per_node` is a 95 % half-width: the risk model samples the pair's tokens/s
# per node as measured x max(1 + sigma z, 0), z standard normal, sigma = half-width / 1.959964 / measured, so 95 % of
# the futures fall inside the stated interval (the normal quantile of 0.975).
THROUGHPUT_CI95_Z = 1.959964

# Stands for "no cap" on a pair in the second allocation pass (node-equivalents; finite so float32 and
# reverse-mode AD never meet inf × 0).
UNCAPPED_NODES = 1e30


def _dims(*names: str):
    """A dataclass field holding an array over these named dimensions (() for a scalar)."""
    return field(metadata={"dims": names})


@dataclass(frozen=True)
class RiskParams:
    """The inputs sensitivities are taken against, in natural units: the gradient is a `RiskParams` too."""

    usd_per_kwh: np.ndarray = _dims("site")  # electricity price at owned sites; 0 at cloud sites (in the rent)
    price_usd: np.ndarray = _dims("sku")  # per node
    pue: np.ndarray = _dims("site")
    rent_usd_per_gpu_hour: np.ndarray = _dims("sku")  # 0 where the SKU is not rentable
    carbon_usd_per_t: np.ndarray = _dims()
    demand_growth: np.ndarray = _dims()  # γ: scales the forecast's growth over its first quarter (1 = as given)
    mfu_scale: np.ndarray = _dims()  # divides training runs' busy node-equivalents (1 = as planned)
    failure_rate: np.ndarray = _dims()  # mean fraction of an owned pool out of service


@dataclass(frozen=True)
class UnitCosts:
    """Per-unit costs of models/cost_parameters.py, where every cost convention is written (the evaluator keeps no
    copy), and the inputs they were computed at. Each is proportional to one sensitivity input (price, rent or
    PUE): the evaluator scales it by that input over its value here, so the gradient still reaches the raw input."""

    depreciation_usd_per_node_quarter: np.ndarray = _dims("sku")  # charged unless capex is cash
    maintenance_usd_per_node_quarter: np.ndarray = _dims("sku")
    capex_usd_per_node_ordered: np.ndarray = _dims("sku")  # charged in the order quarter when capex is cash
    price_usd: np.ndarray = _dims("sku")  # the price the three above were computed at
    rent_usd_per_gpu_hour: np.ndarray = _dims("sku")  # the rent rents were computed at (1.0 where not rentable)
    pue: np.ndarray = _dims("site")  # the PUE kWh and tCO2 were computed at


@dataclass(frozen=True)
class PoolArrays:
    """Every (site, sku) with nodes in service in the plan, owned or rented (one inert pool if none)."""

    site: np.ndarray = _dims("pool")  # index into sites
    sku: np.ndarray = _dims("pool")  # index into skus
    owned: np.ndarray = _dims("pool")  # 1.0 at an owned site, 0.0 in a cloud
    nodes: np.ndarray = _dims("pool", "quarter")  # the plan's nodes in service (owned or rented)
    training_node_equivalents: np.ndarray = _dims("pool", "quarter")  # busy load of training runs (the plan's)
    rent_usd_per_node_quarter: np.ndarray = _dims("pool")  # 0 at an owned pool
    kwh_per_idle_node: np.ndarray = _dims("pool", "quarter")  # per node present
    kwh_per_busy_node: np.ndarray = _dims("pool", "quarter")  # per busy node-equivalent, on top of its idle draw
    carbon_t_per_kwh: np.ndarray = _dims("pool", "quarter")  # the same for idle and busy draw
    committed_nodes: np.ndarray = _dims("pool", "quarter")  # of `nodes`, those under a contract (paid in fixed rent)
    # afr_per_node_year × repair_hours / 8,760 of the pool's SKU (models/failures.py): the mean fraction of its nodes,
    # owned or rented, down for repair; 0 where the catalog states no failures.
    unavailability: np.ndarray = _dims("pool")
    # kWh (at the scenario's PUE) the plan's spine and storage draw (docs/datacenter-2026.md "Fabric and storage"),
    # held at the plan's placement in every future like their $ lines: the spine of a spanning training run in its
    # own pool, a workload's storage in the first pool of the site that holds it (every pool of a site pays the
    # site's $ per kWh and emits its gCO2 per kWh, so which one carries it does not change a cost).
    fixed_kwh: np.ndarray = _dims("pool", "quarter")


@dataclass(frozen=True)
class OrderArrays:
    """The plan's purchase orders (one inert order if none); a slipped order misses its first quarter."""

    order_quarter: np.ndarray = _dims("order")
    in_service_quarter: np.ndarray = _dims("order")  # clipped to the horizon's last quarter
    pool: np.ndarray = _dims("order")
    sku: np.ndarray = _dims("order")
    nodes: np.ndarray = _dims("order")
    # Nodes missing in the first quarter in service if the order slips: 0 when it enters service after the
    # horizon or on a pool the plan never has in service.
    slip_nodes: np.ndarray = _dims("order")


@dataclass(frozen=True)
class PairArrays:
    """(workload, pool) pairs in the order the allocation serves them (see models/risk_allocation.py)."""

    workload: np.ndarray = _dims("pair")
    pool: np.ndarray = _dims("pair")
    tokens_per_s_per_node: np.ndarray = _dims("pair")
    active: np.ndarray = _dims("pair", "quarter")  # 1.0 inside the workload's start..deadline window
    cap_node_equivalents: np.ndarray = _dims("pair", "quarter")  # the plan's placement, or UNCAPPED_NODES
    # Relative standard deviation of the pair's tokens/s per node: its throughput row's stated 95 % half-width /
    # THROUGHPUT_CI95_Z / the measured tokens/s (0: known exactly, or modelled).
    throughput_sigma: np.ndarray = _dims("pair")


@dataclass(frozen=True)
class CloudOptionArrays:
    """Per inference workload, the cloud (site, SKU) pairs it may rent from on demand (padded to `option`)."""

    site: np.ndarray = _dims("workload", "option")
    sku: np.ndarray = _dims("workload", "option")
    tokens_per_s_per_node: np.ndarray = _dims("workload", "option")
    available_from_quarter: np.ndarray = _dims("workload", "option")  # past the horizon for padding
    rent_usd_per_node_quarter: np.ndarray = _dims("workload", "option")
    carbon_t_per_idle_node: np.ndarray = _dims("workload", "option", "quarter")
    carbon_t_per_busy_node: np.ndarray = _dims("workload", "option", "quarter")


@dataclass(frozen=True)
class UncertaintyArrays:
    """The `risk:` distributions (failure_rate is a `RiskParams` entry: it has a sensitivity)."""

    demand_sigma: np.ndarray = _dims()
    demand_common_sigma: np.ndarray = _dims()
    sigma_growth_per_quarter: np.ndarray = _dims()
    slip_probability: np.ndarray = _dims()
    electricity_sigma: np.ndarray = _dims()
    failure_spread: np.ndarray = _dims()  # 1: failed fractions sampled around their mean; 0: the mean (deterministic)


@dataclass(frozen=True)
class RiskArrays:
    """Everything fixed during an evaluation."""

    discount: np.ndarray = _dims("quarter")  # (1 + r)^(−q/4)
    unfinished_training_usd: np.ndarray = _dims("quarter")  # the plan's charge, at each run's deadline
    demand_tokens_per_s: np.ndarray = _dims("workload", "quarter")  # inference forecast
    planned_unmet_tokens_per_s: np.ndarray = _dims("workload", "quarter")  # what the plan itself leaves unmet
    headroom: np.ndarray = _dims()
    unmet_usd_per_unit: np.ndarray = _dims()
    cash_capex: np.ndarray = _dims()  # 1.0: capex charged in the order quarter; 0.0: depreciated
    # What the plan's facility builds and contract signings charge whatever the future (docs/datacenter-2026.md),
    # priced by models/cost_parameters.py: build-out capex (cash mode) or depreciation, and committed rent.
    fixed_capex_usd: np.ndarray = _dims("quarter")
    fixed_depreciation_usd: np.ndarray = _dims("quarter")
    fixed_rent_usd: np.ndarray = _dims("quarter")
    # The plan's own network and storage lines (docs/datacenter-2026.md "Fabric and storage"), charged as they are
    # in every future: the leaf follows the plan's nodes; spine and storage are held at the plan's placement.
    fixed_network_usd: np.ndarray = _dims("quarter")
    fixed_storage_usd: np.ndarray = _dims("quarter")
    unit_costs: UnitCosts
    pools: PoolArrays
    orders: OrderArrays
    pairs: PairArrays
    options: CloudOptionArrays
    uncertainty: UncertaintyArrays


for _cls in (RiskParams, UnitCosts, PoolArrays, OrderArrays, PairArrays, CloudOptionArrays, UncertaintyArrays,
             RiskArrays):
    jax.tree_util.register_dataclass(_cls, data_fields=[f.name for f in dataclasses.fields(_cls)], meta_fields=[])


def labelled_arrays(tree) -> list[tuple[str, tuple[str, ...], object]]:
    """(dotted name, dims, value) of every array in a RiskParams/RiskArrays, nested groups included."""
    found = []
    for item in dataclasses.fields(tree):
        value = getattr(tree, item.name)
        if dataclasses.is_dataclass(value):
            found += [(f"{item.name}.{name}", dims, inner) for name, dims, inner in labelled_arrays(value)]
        else:
            found.append((item.name, item.metadata["dims"], value))
    return found


@dataclass(frozen=True)
class RiskInputs:
    """The labelled arrays of one plan under one scenario, with the labels of their dimensions.

    `params` are the inputs sensitivities are taken against (float64 here); `arrays` are fixed.
    `sensitivity_inputs`: (label, RiskParams field, index or None) for every input the report covers.
    """

    quarters: list[str]
    sites: list[str]
    skus: list[str]
    pools: list[tuple[str, str]]
    workloads: list[str]  # inference workloads
    params: RiskParams
    arrays: RiskArrays
    sensitivity_inputs: list[tuple[str, str, int | None]]
    objective_usd: float | None = None
    plan_line_usd: dict[str, float] | None = None  # PLAN.json's discounted $ per cost line (None if absent)

    @property
    def sizes(self) -> dict[str, int]:
        """Size of every dimension; pool, workload, order, pair and option hold one inert entry when empty."""
        a = self.arrays
        return {"quarter": len(self.quarters), "site": len(self.sites), "sku": len(self.skus),
                "pool": max(len(self.pools), 1), "workload": max(len(self.workloads), 1),
                "order": len(a.orders.nodes), "pair": len(a.pairs.workload), "option": a.options.site.shape[1]}

    def check_shapes(self) -> None:
        """Every array has the shape its dims name (a programming error otherwise, not an input error)."""
        sizes = self.sizes
        for tree in (self.params, self.arrays):
            for name, dims, value in labelled_arrays(tree):
                expected = tuple(sizes[d] for d in dims)
                if np.shape(value) != expected:
                    raise AssertionError(f"{name} has shape {np.shape(value)}, expected {expected} for {dims}")


def _plan_problem(message: str) -> InputError:
    return InputError(Problem("PLAN.json", message))


def _quarter_numbers(labels, horizon) -> np.ndarray:
    return np.array([horizon.relative(str(q)) for q in labels], dtype=int)


def _positions(index: pd.Index, frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Position in `index` of each row's key (−1 when absent)."""
    keys = pd.MultiIndex.from_frame(frame[columns]) if len(columns) > 1 else pd.Index(frame[columns[0]])
    return index.get_indexer(keys)


def build_risk_inputs(scenario: Scenario, plan: dict, settings: RiskSettings) -> RiskInputs:
    """The labelled arrays for the evaluator; raises InputError (file PLAN.json) when the plan does not fit
    the scenario."""
    horizon = scenario.horizon
    n_quarters = horizon.quarters
    plan_quarters = list((plan.get("horizon") or {}).get("quarters") or [])
    if plan_quarters != horizon.labels:
        raise _plan_problem(f"the plan covers {plan_quarters[:1] + plan_quarters[-1:]} but the scenario's horizon is "
                            f"{horizon.labels[0]}..{horizon.labels[-1]}: was it made for this scenario?")
    catalog, sites = scenario.catalog, scenario.sites
    site_list, sku_list = list(sites.index), list(catalog.index)

    fleet = pd.DataFrame(plan.get("fleet") or [], columns=columns_of("fleet", "quarter", "site", "sku", "nodes"))
    purchases = pd.DataFrame(plan.get("purchases") or [],
                             columns=columns_of("purchases", "quarter", "site", "sku", "nodes", "in_service"))
    placement = pd.DataFrame(plan.get("placement") or [],
                             columns=columns_of("placement", "quarter", "workload", "site", "sku", "node_equivalents"))
    unmet = pd.DataFrame(plan.get("unmet") or [], columns=columns_of("unmet", "quarter", "workload", "units"))
    unfinished = pd.DataFrame(plan.get("unfinished") or [],
                              columns=columns_of("unfinished", "workload", "deadline", "cost_usd"))
    for name, frame in (("fleet", fleet), ("purchases", purchases), ("placement", placement)):
        unknown = ~frame["site"].isin(site_list) | ~frame["sku"].isin(sku_list)
        if unknown.any():
            bad = frame.loc[unknown, ["site", "sku"]].iloc[0].tolist()
            raise _plan_problem(f"{name} names pool {bad[0]}/{bad[1]}, which the scenario does not have")
    if (~placement["workload"].isin(scenario.workloads.index)).any() \
            or (~unmet["workload"].isin(scenario.workloads.index)).any():
        raise _plan_problem("the plan names a workload the scenario does not have")

    site_owned = (sites["kind"] == "owned").to_numpy(dtype=float)
    pools, pool_index, pool_arrays = _pools(scenario, fleet, placement, site_owned)
    pool_arrays = dataclasses.replace(pool_arrays, committed_nodes=_committed_nodes(plan, pool_index, horizon,
                                                                                    pool_arrays.nodes.shape))
    orders = _orders(purchases, pool_index, sku_list, horizon)

    # Inference demand, the demand the plan itself leaves unmet, and the plan's unfinished-training charges.
    kind = scenario.workloads["kind"]
    workloads = [w for w in scenario.workloads.index if kind[w] == "inference"]
    workload_index = pd.Index(workloads, name="workload")
    demand = np.zeros((max(len(workloads), 1), n_quarters))
    planned_unmet = np.zeros_like(demand)
    rows = scenario.demand[scenario.demand["workload"].isin(workloads)
                           & scenario.demand["quarter"].between(0, n_quarters - 1)]
    np.add.at(demand, (workload_index.get_indexer(rows["workload"]), rows["quarter"].to_numpy(dtype=int)),
              rows["tokens_per_s"].to_numpy(dtype=float))
    unmet = unmet[unmet["workload"].isin(workloads)]
    np.add.at(planned_unmet, (workload_index.get_indexer(unmet["workload"]),
                              _quarter_numbers(unmet["quarter"], horizon)), unmet["units"].to_numpy(dtype=float))
    unfinished_usd = np.zeros(n_quarters)
    np.add.at(unfinished_usd, _quarter_numbers(unfinished["deadline"], horizon),
              unfinished["cost_usd"].to_numpy(dtype=float))

    costs = build_cost_parameters(scenario)
    rent = catalog["rent_usd_per_gpu_hour"].to_numpy(dtype=float)
    unit_costs = UnitCosts(
        depreciation_usd_per_node_quarter=costs.depreciation_usd_per_node_quarter.reindex(sku_list).to_numpy(),
        maintenance_usd_per_node_quarter=costs.maintenance_usd_per_node_quarter.reindex(sku_list).to_numpy(),
        capex_usd_per_node_ordered=costs.capex_usd_per_node_ordered.reindex(sku_list).to_numpy(),
        price_usd=catalog["price_usd"].to_numpy(dtype=float), rent_usd_per_gpu_hour=np.nan_to_num(rent, nan=1.0),
        pue=sites["pue"].to_numpy(dtype=float))
    params = RiskParams(usd_per_kwh=charged_usd_per_kwh(sites).reindex(site_list).to_numpy(dtype=float),
                        price_usd=catalog["price_usd"].to_numpy(dtype=float),
                        pue=sites["pue"].to_numpy(dtype=float), rent_usd_per_gpu_hour=np.nan_to_num(rent, nan=0.0),
                        carbon_usd_per_t=np.array(costs.carbon_usd_per_t), demand_growth=np.array(1.0),
                        mfu_scale=np.array(1.0), failure_rate=np.array(float(settings.failure_rate)))
    pool_arrays = _with_pool_costs(pool_arrays, costs, site_list, sku_list, n_quarters)

    performance = estimate_performance(catalog, scenario.workloads, scenario.throughput)
    pool_arrays = dataclasses.replace(pool_arrays, fixed_kwh=_fabric_and_storage_kwh(
        scenario, plan, placement, performance, pool_index, pool_arrays.nodes.shape))
    pairs, options = _pairs_and_options(scenario, workloads, pools, performance, n_quarters)
    pairs["planned"] = _planned_node_equivalents(placement, pairs, workload_index, pool_index, horizon, n_quarters)
    pairs = _allocation_order(pairs, pool_arrays, costs, site_list, sku_list, settings, n_quarters)

    arrays = RiskArrays(
        discount=costs.discount_factor.to_numpy(dtype=float),
        unfinished_training_usd=unfinished_usd, demand_tokens_per_s=demand,
        planned_unmet_tokens_per_s=planned_unmet,
        headroom=np.array(float(scenario.headroom)), unmet_usd_per_unit=np.array(costs.unmet_usd_per_unit),
        cash_capex=np.array(0.0 if costs.charges_depreciation else 1.0),
        **fixed_charges(scenario, plan, costs.charges_depreciation),
        unit_costs=unit_costs, pools=pool_arrays, orders=orders,
        pairs=PairArrays(workload=pairs["workload"], pool=pairs["pool"], tokens_per_s_per_node=pairs["rate"],
                         active=pairs["active"], cap_node_equivalents=pairs["cap"],
                         throughput_sigma=pairs["sigma"]),
        options=_cloud_options(options, costs, catalog, site_list, sku_list, n_quarters),
        uncertainty=UncertaintyArrays(
            demand_sigma=np.array(settings.demand_sigma), demand_common_sigma=np.array(settings.demand_common_sigma),
            sigma_growth_per_quarter=np.array(settings.sigma_growth_per_quarter),
            slip_probability=np.array(settings.slip_probability),
            electricity_sigma=np.array(settings.electricity_sigma),
            failure_spread=np.array(float(settings.failure_spread))))
    sensitivity_inputs = _sensitivity_inputs(site_list, sku_list, pools, pool_arrays, options, ~np.isnan(rent))
    inputs = RiskInputs(quarters=horizon.labels, sites=site_list, skus=sku_list, pools=pools, workloads=workloads,
                        params=params, arrays=arrays, sensitivity_inputs=sensitivity_inputs,
                        objective_usd=plan.get("objective_usd"), plan_line_usd=_plan_lines(plan))
    inputs.check_shapes()
    return inputs


def _plan_lines(plan: dict) -> dict[str, float] | None:
    """Σ_q line × discount factor per cost line of PLAN.json's `costs` table (None when the plan has none)."""
    costs = pd.DataFrame(plan.get("costs") or [])
    if costs.empty or "discount_factor" not in costs:
        return None
    lines = [name for name in costs.columns if name.endswith("_usd") and name not in ("total_usd", "discounted_usd")]
    return {name: float((costs[name] * costs["discount_factor"]).sum()) for name in lines}


def _pools(scenario: Scenario, fleet: pd.DataFrame, placement: pd.DataFrame, site_owned: np.ndarray):
    """(pool labels, their index, PoolArrays): nodes in service and training load per pool and quarter."""
    horizon, n_quarters = scenario.horizon, scenario.horizon.quarters
    pool_frame = fleet[["site", "sku"]].drop_duplicates().sort_values(["site", "sku"]).reset_index(drop=True)
    pools = list(map(tuple, pool_frame.to_numpy()))
    pool_index = pd.MultiIndex.from_tuples(pools, names=["site", "sku"]) if pools else \
        pd.MultiIndex.from_arrays([[], []], names=["site", "sku"])
    site = scenario.sites.index.get_indexer(pool_frame["site"]) if pools else np.zeros(1, dtype=int)
    sku = scenario.catalog.index.get_indexer(pool_frame["sku"]) if pools else np.zeros(1, dtype=int)
    nodes = np.zeros((max(len(pools), 1), n_quarters))
    np.add.at(nodes, (_positions(pool_index, fleet, ["site", "sku"]), _quarter_numbers(fleet["quarter"], horizon)),
              fleet["nodes"].to_numpy(dtype=float))

    # Training runs: their placement is a fixed busy load.
    training = placement[placement["workload"].map(scenario.workloads["kind"]).eq("training").to_numpy(dtype=bool)]
    training_busy = np.zeros_like(nodes)
    at = _positions(pool_index, training, ["site", "sku"])
    if (at < 0).any():
        raise _plan_problem("a training placement runs on a pool with no nodes in service")
    np.add.at(training_busy, (at, _quarter_numbers(training["quarter"], horizon)),
              training["node_equivalents"].to_numpy(dtype=float))
    owned = site_owned[site] * (1.0 if pools else 0.0)
    zero = np.zeros_like(nodes)
    return pools, pool_index, PoolArrays(site=site, sku=sku, owned=owned, nodes=nodes,
                                         training_node_equivalents=training_busy,
                                         rent_usd_per_node_quarter=np.zeros(len(site)), kwh_per_idle_node=zero,
                                         kwh_per_busy_node=zero, carbon_t_per_kwh=zero, committed_nodes=zero,
                                         unavailability=1.0 - availability(scenario.catalog).to_numpy()[sku],
                                         fixed_kwh=zero)


def _committed_nodes(plan: dict, pool_index: pd.MultiIndex, horizon, shape: tuple) -> np.ndarray:
    """Nodes of each pool and quarter under the plan's contracts (PLAN.json `contracts`: in_service..term_end)."""
    committed = np.zeros(shape)
    for row in plan.get("contracts") or []:
        at = pool_index.get_indexer(pd.MultiIndex.from_tuples([(row["site"], row["sku"])]))[0]
        if at < 0:
            raise _plan_problem(f"contract {row['contract']} names pool {row['site']}/{row['sku']} with no nodes")
        first, last = (int(q) for q in _quarter_numbers([row["in_service"], row["term_end"]], horizon))
        committed[at, first:last + 1] += float(row["nodes"])
    return committed


def fixed_charges(scenario: Scenario, plan: dict, charges_depreciation: bool) -> dict[str, np.ndarray]:
    """By quarter, the charges of the plan's facility builds, contract signings and spot node-hours, priced by
    models/cost_parameters.py (FacilityCosts, ContractCosts, SpotCosts): they do not vary with a sampled future (and no
    Fleet or Rentals row of the workbook carries them: its Costs sheet adds them, reports/workbook.py)."""
    from models.cost_parameters import build_contract_costs, build_facility_costs

    horizon, n = scenario.horizon, scenario.horizon.quarters
    capex, depreciation, rent = np.zeros(n), np.zeros(n), np.zeros(n)
    builds = plan.get("facility") or []
    if builds:
        facility = build_facility_costs(scenario.facility_options)
        for row in builds:
            units, option = float(row["facility_units"]), row["option"]
            if charges_depreciation:
                first = int(_quarter_numbers([row["in_service"]], horizon)[0])
                life = int(life_quarters(scenario.facility_options).at[option])  # round(life_years × 4)
                depreciation[first:first + life] += units * facility.depreciation_usd_per_unit_quarter[option]
            else:
                capex[int(_quarter_numbers([row["quarter"]], horizon)[0])] += units * facility.capex_usd_per_unit[option]
    signed = plan.get("contracts") or []
    if signed:
        contracts = build_contract_costs(scenario.contracts, scenario.catalog)
        for row in signed:
            first, last = (int(q) for q in _quarter_numbers([row["in_service"], row["term_end"]], horizon))
            rent[first:last + 1] += float(row["contract_blocks"]) * contracts.usd_per_block_quarter[row["contract"]]
    rented_spot = plan.get("spot") or []
    if rented_spot:  # spot node-hours are rent (docs/datacenter-2026.md "Spot"), the same in every future
        from models.cost_parameters import build_spot_costs

        per_node_hour = build_spot_costs(scenario.catalog).usd_per_node_hour
        spot = pd.DataFrame(rented_spot)
        np.add.at(rent, _quarter_numbers(spot["quarter"], horizon).astype(int),
                  spot["node_hours"].to_numpy(dtype=float) * per_node_hour.reindex(spot["sku"]).to_numpy())
    lines = _plan_cost_lines(plan, horizon, ("network_usd", "storage_usd"))
    return {"fixed_capex_usd": capex, "fixed_depreciation_usd": depreciation, "fixed_rent_usd": rent,
            "fixed_network_usd": lines["network_usd"], "fixed_storage_usd": lines["storage_usd"]}


# A training quarter spans scalable units when it keeps more than nodes_per_su node-equivalents busy; the
# formulation's binary can only be 1 above nodes_per_su + 10^-3 (models/formulation.py
# MIN_SPAN_EXCESS_NODE_EQUIVALENTS), so half that excess separates the two cases in a solved plan.
SPAN_EXCESS_NODE_EQUIVALENTS = 0.5e-3


def _fabric_and_storage_kwh(scenario: Scenario, plan: dict, placement: pd.DataFrame, performance: pd.DataFrame,
                            pool_index: pd.MultiIndex, shape: tuple) -> np.ndarray:
    """[pool, quarter]: the kWh of the plan's spine and storage (see PoolArrays.fixed_kwh). Spine: spine_kw_per_node
    × the node-equivalents of training at owned sites that span scalable units (min_nodes > nodes_per_su, or busy
    above nodes_per_su) × pue × 2,190 h (models/money.py kwh_per_it_kw_quarter), as the optimiser prices them;
    storage: PLAN.json's `storage` rows' energy_kwh."""
    from models.cost_parameters import site_energy_rates

    horizon = scenario.horizon
    out = np.zeros(shape)
    if not len(pool_index):
        return out
    rates = site_energy_rates(scenario.sites)
    fabric = getattr(scenario, "fabric", None)
    if fabric is not None and not fabric.empty and len(placement):
        kind = scenario.workloads["kind"].reindex(placement["workload"]).to_numpy()
        owned = (scenario.sites["kind"].reindex(placement["site"]) == "owned").to_numpy()
        per_su = fabric["nodes_per_su"].reindex(placement["sku"]).to_numpy(dtype=float)
        min_nodes = performance["min_nodes"].reindex(pd.MultiIndex.from_frame(placement[["workload", "sku"]])) \
            .to_numpy(dtype=float)
        busy = placement["node_equivalents"].to_numpy(dtype=float)
        spans = (kind == "training") & owned & ~np.isnan(per_su) & (
            (np.nan_to_num(min_nodes, nan=0.0) > per_su) | (busy > per_su + SPAN_EXCESS_NODE_EQUIVALENTS))
        rows = placement[spans]
        kw = busy[spans] * fabric["spine_kw_per_node"].reindex(rows["sku"]).fillna(0.0).to_numpy(dtype=float)
        kwh = kw * rates["kwh"].reindex(rows["site"]).to_numpy(dtype=float)
        np.add.at(out, (_positions(pool_index, rows, ["site", "sku"]), _quarter_numbers(rows["quarter"], horizon)),
                  kwh)
    storage = pd.DataFrame(plan.get("storage") or [], columns=columns_of("storage", "quarter", "site", "energy_kwh"))
    if len(storage):
        first = pd.Series(np.arange(len(pool_index)), index=pool_index.get_level_values("site")).groupby(level=0).min()
        at = first.reindex(storage["site"]).to_numpy()
        if np.isnan(at).any():
            raise _plan_problem("the plan holds storage at a site where it has no nodes")
        np.add.at(out, (at.astype(int), _quarter_numbers(storage["quarter"], horizon)),
                  storage["energy_kwh"].to_numpy(dtype=float))
    return out


def _plan_cost_lines(plan: dict, horizon, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """By quarter, PLAN.json's `costs` lines `names` (zeros where a plan lacks the line: older plans)."""
    out = {name: np.zeros(horizon.quarters) for name in names}
    costs = pd.DataFrame(plan.get("costs") or [])
    if costs.empty:
        return out
    quarters = _quarter_numbers(costs["quarter"], horizon).astype(int)
    for name in names:
        if name in costs:
            np.add.at(out[name], quarters, pd.to_numeric(costs[name], errors="coerce").fillna(0.0).to_numpy())
    return out


def _orders(purchases: pd.DataFrame, pool_index: pd.MultiIndex, sku_list: list[str], horizon) -> OrderArrays:
    """The plan's orders; a slipped order misses its first quarter in service (models/risk_costs.py)."""
    n_quarters = horizon.quarters
    if len(purchases) == 0:  # one inert order keeps the arrays non-empty
        zero = np.zeros(1, dtype=int)
        return OrderArrays(order_quarter=zero, in_service_quarter=zero, pool=zero, sku=zero, nodes=np.zeros(1),
                           slip_nodes=np.zeros(1))
    in_service = _quarter_numbers(purchases["in_service"], horizon)
    pool = _positions(pool_index, purchases, ["site", "sku"])
    nodes = purchases["nodes"].to_numpy(dtype=float)
    return OrderArrays(order_quarter=_quarter_numbers(purchases["quarter"], horizon),
                       in_service_quarter=np.minimum(in_service, n_quarters - 1), pool=np.maximum(pool, 0),
                       sku=pd.Index(sku_list).get_indexer(purchases["sku"]), nodes=nodes,
                       slip_nodes=np.where((pool >= 0) & (in_service < n_quarters), nodes, 0.0))


def _by_site_sku(series: pd.Series, sites: np.ndarray, skus: np.ndarray, site_list, sku_list,
                 quarters: np.ndarray | None = None) -> np.ndarray:
    """Values of a cost-parameter Series indexed by (site, sku) or (quarter, site, sku) at the given positions
    (0 where the Series has no entry, e.g. no rent at an owned site)."""
    site_labels, sku_labels = np.asarray(site_list, dtype=object)[sites], np.asarray(sku_list, dtype=object)[skus]
    if quarters is None:
        keys = pd.MultiIndex.from_arrays([site_labels.ravel(), sku_labels.ravel()])
        return series.reindex(keys).fillna(0.0).to_numpy(dtype=float).reshape(np.shape(sites))
    shape = np.broadcast_shapes(np.shape(sites), np.shape(quarters))
    keys = pd.MultiIndex.from_arrays([np.broadcast_to(quarters, shape).ravel(),
                                      np.broadcast_to(site_labels, shape).ravel(),
                                      np.broadcast_to(sku_labels, shape).ravel()])
    return series.reindex(keys).fillna(0.0).to_numpy(dtype=float).reshape(shape)


def _with_pool_costs(pools: PoolArrays, costs, site_list, sku_list, n_quarters: int) -> PoolArrays:
    """The pools with their per-unit rent, kWh and tCO2 from the cost parameters."""
    quarter = np.arange(n_quarters)[None, :]
    site, sku = pools.site[:, None], pools.sku[:, None]

    def per_quarter(series):
        return _by_site_sku(series, site, sku, site_list, sku_list, quarter)

    kwh_idle, kwh_busy = per_quarter(costs.kwh_per_idle_node), per_quarter(costs.kwh_per_busy_node)
    kwh = kwh_idle + kwh_busy  # a node fully busy
    carbon_t = per_quarter(costs.carbon_t_per_idle_node) + per_quarter(costs.carbon_t_per_busy_node)
    return dataclasses.replace(
        pools, rent_usd_per_node_quarter=_by_site_sku(costs.rent_usd_per_node_quarter, pools.site, pools.sku,
                                                      site_list, sku_list) * (1.0 - pools.owned),
        kwh_per_idle_node=kwh_idle, kwh_per_busy_node=kwh_busy,
        carbon_t_per_kwh=np.divide(carbon_t, kwh, out=np.zeros_like(kwh), where=kwh > 0))


def _cloud_options(options: dict, costs, catalog, site_list, sku_list, n_quarters: int) -> CloudOptionArrays:
    """The cloud options with their availability, rent and tCO2 per node from the cost parameters."""
    quarter = np.arange(n_quarters)[None, None, :]
    site, sku = options["site"][:, :, None], options["sku"][:, :, None]
    return CloudOptionArrays(
        site=options["site"], sku=options["sku"], tokens_per_s_per_node=options["rate"],
        available_from_quarter=np.where(options["valid"], catalog["available_from"].to_numpy(dtype=int)[
            options["sku"]], n_quarters + 1),
        rent_usd_per_node_quarter=_by_site_sku(costs.rent_usd_per_node_quarter, options["site"], options["sku"],
                                               site_list, sku_list),
        carbon_t_per_idle_node=_by_site_sku(costs.carbon_t_per_idle_node, site, sku, site_list, sku_list, quarter),
        carbon_t_per_busy_node=_by_site_sku(costs.carbon_t_per_busy_node, site, sku, site_list, sku_list, quarter))


def _allocation_order(pairs: dict, pools: PoolArrays, costs, site_list, sku_list, settings, n_quarters: int) -> dict:
    """The pairs as the allocation serves them: cheapest marginal busy $ per tokens/s first (energy + carbon of
    the busy share in the first quarter, at nominal prices; ties to the faster pair, then input order, so the
    order is deterministic); under plan-first, the pairs the plan uses (capped at its placement) come first, then
    every pair uncapped."""
    if not len(pairs["rate"]):  # one inert pair keeps the allocation loop non-empty
        return {"workload": np.zeros(1, dtype=int), "pool": np.zeros(1, dtype=int), "rate": np.ones(1), "sigma": np.zeros(1),
                "active": np.zeros((1, n_quarters)), "cap": np.zeros((1, n_quarters))}
    busy_usd_per_node = _by_site_sku(costs.running_usd_per_busy_node(), pools.site, pools.sku, site_list, sku_list,
                                     np.zeros_like(pools.site))
    usd_per_unit = busy_usd_per_node[pairs["pool"]] / pairs["rate"]
    order = np.lexsort((pairs["pool"], pairs["workload"], -pairs["rate"], usd_per_unit))
    pairs = {key: value[order] for key, value in pairs.items()}
    second = {**pairs, "cap": np.full((len(order), n_quarters), UNCAPPED_NODES)}
    if settings.allocation != "plan-first":
        return second
    planned = pairs["planned"].any(axis=1)
    first = {key: value[planned] for key, value in pairs.items()}
    first["cap"] = first["planned"]
    return {key: np.concatenate([first[key], second[key]]) for key in second}


def throughput_sigma_of(throughput: pd.DataFrame) -> pd.Series:
    """Relative standard deviation per (workload, sku) of a throughput table: its stated 95 % half-width /
    THROUGHPUT_CI95_Z / the measured tokens/s per node; 0 where no half-width is given (the last row wins)."""
    if throughput is None or len(throughput) == 0 or "ci95_tokens_per_s_per_node" not in throughput:
        return pd.Series(dtype=float, index=pd.MultiIndex.from_arrays([[], []], names=["workload", "sku"]))
    rows = throughput.drop_duplicates(["workload", "sku"], keep="last").set_index(["workload", "sku"])
    measured = pd.to_numeric(rows["tokens_per_s_per_node"], errors="coerce")
    half_width = pd.to_numeric(rows["ci95_tokens_per_s_per_node"], errors="coerce")
    return (half_width / THROUGHPUT_CI95_Z / measured.where(measured > 0)).fillna(0.0)


def _throughput_sigma(throughput: pd.DataFrame, pair_frame: pd.DataFrame) -> np.ndarray:
    sigma = throughput_sigma_of(throughput)
    keys = pd.MultiIndex.from_arrays([pair_frame["workload"], pair_frame["sku"]])
    return sigma.reindex(keys).fillna(0.0).to_numpy(dtype=float)


def _pairs_and_options(scenario: Scenario, workloads: list[str], pools: list[tuple[str, str]],
                       performance: pd.DataFrame, n_quarters: int) -> tuple[dict, dict]:
    """(workload, pool) pairs that may serve demand, and the cloud (site, SKU) options to rent from."""
    sites, catalog = scenario.sites, scenario.catalog
    eligible = performance[performance["eligible"]].reset_index()[["workload", "sku", "tokens_per_s_per_node"]]
    eligible = eligible[eligible["workload"].isin(workloads)]
    allowed = pd.DataFrame({"workload": pd.Series(workloads, dtype=object),
                            "site": pd.Series([scenario.allowed_sites(w) for w in workloads], dtype=object)}) \
        .explode("site").dropna()
    candidates = eligible.merge(allowed, on="workload")
    workload_index = pd.Index(workloads)

    pool_frame = pd.DataFrame(pools, columns=["site", "sku"]).reset_index().rename(columns={"index": "pool"})
    pair_frame = candidates.merge(pool_frame, on=["site", "sku"])
    start = scenario.workloads["start"].reindex(pair_frame["workload"]).to_numpy(dtype=float, na_value=0.0)
    deadline = scenario.workloads["deadline"].reindex(pair_frame["workload"]).to_numpy(dtype=float,
                                                                                       na_value=np.inf)
    quarter = np.arange(n_quarters)
    pairs = {"workload": workload_index.get_indexer(pair_frame["workload"]),
             "pool": pair_frame["pool"].to_numpy(dtype=int),
             "rate": pair_frame["tokens_per_s_per_node"].to_numpy(dtype=float),
             "sigma": _throughput_sigma(scenario.throughput, pair_frame),
             "active": ((quarter[None, :] >= start[:, None]) & (quarter[None, :] <= deadline[:, None])).astype(float)}

    cloud = candidates[candidates["site"].map(sites["kind"]).eq("cloud")
                       & candidates["sku"].map(catalog["rent_usd_per_gpu_hour"]).notna()]
    cloud = cloud.assign(w=workload_index.get_indexer(cloud["workload"])).sort_values(["w", "site", "sku"])
    slot = cloud.groupby("w").cumcount().to_numpy()
    width = max(int(slot.max()) + 1 if len(cloud) else 1, 1)
    shape = (max(len(workloads), 1), width)
    options = {"site": np.zeros(shape, dtype=int), "sku": np.zeros(shape, dtype=int), "rate": np.ones(shape),
               "valid": np.zeros(shape, dtype=bool)}
    if len(cloud):
        at = (cloud["w"].to_numpy(dtype=int), slot)
        options["site"][at] = sites.index.get_indexer(cloud["site"])
        options["sku"][at] = catalog.index.get_indexer(cloud["sku"])
        options["rate"][at] = cloud["tokens_per_s_per_node"].to_numpy(dtype=float)
        options["valid"][at] = True
    return pairs, options


def _planned_node_equivalents(placement: pd.DataFrame, pairs: dict, workload_index: pd.Index,
                              pool_index: pd.MultiIndex, horizon, n_quarters: int) -> np.ndarray:
    """[pair, quarter]: the node-equivalents the plan gives each inference (workload, pool) pair."""
    planned = np.zeros((len(pairs["rate"]), n_quarters))
    rows = placement[placement["workload"].isin(workload_index)]
    if not len(rows) or not len(pairs["rate"]):
        return planned
    pair_index = pd.MultiIndex.from_arrays([pairs["workload"], pairs["pool"]])
    keys = pd.MultiIndex.from_arrays([workload_index.get_indexer(rows["workload"]),
                                      _positions(pool_index, rows, ["site", "sku"])])
    at = pair_index.get_indexer(keys)
    if (at < 0).any():
        raise _plan_problem("an inference placement is on a pool the workload may not use or that has no nodes")
    np.add.at(planned, (at, _quarter_numbers(rows["quarter"], horizon)), rows["node_equivalents"].to_numpy(dtype=float))
    return planned


def _sensitivity_inputs(sites: list[str], skus: list[str], pools: list, pool_arrays: PoolArrays, options: dict,
                        rentable: np.ndarray) -> list[tuple[str, str, int | None]]:
    """Inputs the plan's cost depends on: sites and SKUs it uses, plus the scalar drivers."""
    real = np.arange(len(pools))
    owned = pool_arrays.owned[real] > 0
    pool_site, pool_sku = pool_arrays.site[real], pool_arrays.sku[real]
    used_sites = sorted(set(pool_site.tolist()) | set(options["site"][options["valid"]].tolist()))
    owned_sites = set(pool_site[owned].tolist())
    owned_skus = sorted(set(pool_sku[owned].tolist()))
    rented_skus = sorted(set(pool_sku[~owned].tolist()) | set(options["sku"][options["valid"]].tolist()))
    inputs = [(f"usd_per_kwh[{sites[s]}]", "usd_per_kwh", s) for s in used_sites if s in owned_sites]
    inputs += [(f"price_usd[{skus[k]}]", "price_usd", k) for k in owned_skus]
    inputs += [(f"rent_usd_per_gpu_hour[{skus[k]}]", "rent_usd_per_gpu_hour", k) for k in rented_skus if rentable[k]]
    inputs += [(f"pue[{sites[s]}]", "pue", s) for s in used_sites]
    inputs += [("demand_growth", "demand_growth", None), ("failure_rate", "failure_rate", None),
               ("carbon_usd_per_t", "carbon_usd_per_t", None)]
    if pool_arrays.training_node_equivalents.any():
        inputs.insert(-2, ("mfu_scale", "mfu_scale", None))
    return inputs
