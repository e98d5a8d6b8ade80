"""Scenario + PLAN.json → the plain arrays the risk evaluator works on (NumPy only; no JAX, no I/O).

Everything the Monte-Carlo cost function needs is fixed here, once: the plan's nodes in service per pool
(a pool is one (site, sku)), its orders (for delivery slips), the training runs' busy load, the inference
demand forecast, the (workload, pool) pairs in the order the allocation rule serves them, and the cloud
options an operator could rent from when demand outruns the plan. The evaluator (models/risk.py) and the
NumPy reference (bench/numpy_reference.py) read the same `RiskInputs`.

The `risk:` section of the scenario is validated in models/risk_settings.py (`risk_settings`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from models.errors import InputError, Problem
from models.performance import estimate_performance
from models.plan_schema import columns_of
from models.quarters import HOURS_PER_QUARTER, QUARTERS_PER_YEAR
from models.risk_settings import RiskSettings, risk_settings  # noqa: F401  (re-exported for models/risk.py)
from models.sets import discount_factors
from models.units import GRAMS_PER_TONNE

# Stands for "no cap" on a pair in the second allocation pass (node-equivalents; finite so float32 and
# reverse-mode AD never meet inf × 0).
UNCAPPED_NODES = 1e30


@dataclass(frozen=True)
class RiskInputs:
    """Arrays of one plan under one scenario. Shapes: Q quarters, S sites, K SKUs, P pools, O orders,
    W inference workloads, E (workload, pool) pairs in allocation order, M cloud options per workload.

    `params` are the inputs sensitivities are taken against (natural units, float64); `arrays` are fixed.
    """

    quarters: list[str]
    sites: list[str]
    skus: list[str]
    pools: list[tuple[str, str]]
    workloads: list[str]
    params: dict[str, np.ndarray]
    arrays: dict[str, np.ndarray]
    sensitivity_inputs: list[tuple[str, str, int | None]]  # (label, params key, index or None)
    objective_usd: float | None = None
    notes: dict = field(default_factory=dict)


def _plan_problem(message: str) -> InputError:
    return InputError(Problem("PLAN.json", message))


def _quarter_numbers(labels, horizon) -> np.ndarray:
    return np.array([horizon.relative(str(q)) for q in labels], dtype=int)


def build_risk_inputs(scenario, plan: dict, settings: RiskSettings) -> RiskInputs:
    """Arrays for the evaluator; raises InputError (file PLAN.json) when the plan does not fit the scenario."""
    horizon = scenario.horizon
    n_quarters = horizon.quarters
    plan_quarters = list((plan.get("horizon") or {}).get("quarters") or [])
    if plan_quarters != horizon.labels:
        raise _plan_problem(f"the plan covers {plan_quarters[:1] + plan_quarters[-1:]} but the scenario's horizon is "
                            f"{horizon.labels[0]}..{horizon.labels[-1]}: was it made for this scenario?")
    catalog, sites, finance = scenario.catalog, scenario.sites, scenario.finance
    site_list, sku_list = list(sites.index), list(catalog.index)
    site_of = {s: i for i, s in enumerate(site_list)}
    sku_of = {k: i for i, k in enumerate(sku_list)}

    fleet = pd.DataFrame(plan.get("fleet") or [], columns=columns_of("fleet", "quarter", "site", "sku", "nodes"))
    purchases = pd.DataFrame(plan.get("purchases") or [],
                             columns=columns_of("purchases", "quarter", "site", "sku", "nodes", "in_service"))
    placement = pd.DataFrame(plan.get("placement") or [],
                             columns=columns_of("placement", "quarter", "workload", "site", "sku", "node_equivalents"))
    unmet = pd.DataFrame(plan.get("unmet") or [], columns=columns_of("unmet", "quarter", "workload", "units"))
    unfinished = pd.DataFrame(plan.get("unfinished") or [],
                              columns=columns_of("unfinished", "workload", "deadline", "cost_usd"))
    for name, frame in (("fleet", fleet), ("purchases", purchases), ("placement", placement)):
        unknown_site = ~frame["site"].isin(site_list)
        unknown_sku = ~frame["sku"].isin(sku_list)
        if unknown_site.any() or unknown_sku.any():
            bad = frame.loc[unknown_site | unknown_sku, ["site", "sku"]].iloc[0].tolist()
            raise _plan_problem(f"{name} names pool {bad[0]}/{bad[1]}, which the scenario does not have")
    if (~placement["workload"].isin(scenario.workloads.index)).any() \
            or (~unmet["workload"].isin(scenario.workloads.index)).any():
        raise _plan_problem("the plan names a workload the scenario does not have")

    # Pools: every (site, sku) with nodes in service in the plan, owned or rented.
    pool_frame = fleet[["site", "sku"]].drop_duplicates().sort_values(["site", "sku"]).reset_index(drop=True)
    pools = list(map(tuple, pool_frame.to_numpy()))
    pool_of = {p: i for i, p in enumerate(pools)}
    n_pools = max(len(pools), 1)  # one empty pool keeps every array non-empty
    pool_site = np.array([site_of[s] for s, _ in pools] or [0], dtype=int)
    pool_sku = np.array([sku_of[k] for _, k in pools] or [0], dtype=int)
    site_owned = (sites["kind"] == "owned").to_numpy(dtype=float)
    pool_owned = site_owned[pool_site] * (1.0 if pools else 0.0)

    nodes = np.zeros((n_pools, n_quarters))
    if len(fleet):
        np.add.at(nodes, ([pool_of[(s, k)] for s, k in zip(fleet["site"], fleet["sku"])],
                          _quarter_numbers(fleet["quarter"], horizon)), fleet["nodes"].to_numpy(dtype=float))

    # Orders: a slipped order misses its first quarter in service (see models/risk.py).
    order_quarter = _quarter_numbers(purchases["quarter"], horizon)
    order_in_service = _quarter_numbers(purchases["in_service"], horizon)
    in_pool = np.array([(s, k) in pool_of for s, k in zip(purchases["site"], purchases["sku"])], dtype=bool)
    order_pool = np.array([pool_of.get((s, k), 0) for s, k in zip(purchases["site"], purchases["sku"])], dtype=int)
    order_nodes = purchases["nodes"].to_numpy(dtype=float)
    order_sku = np.array([sku_of[k] for k in purchases["sku"]], dtype=int)
    slip_nodes = np.where(in_pool & (order_in_service < n_quarters), order_nodes, 0.0)
    if len(purchases) == 0:  # one empty order keeps the arrays non-empty
        order_quarter, order_in_service, order_pool = (np.zeros(1, dtype=int),) * 3
        order_nodes, slip_nodes, order_sku = np.zeros(1), np.zeros(1), np.zeros(1, dtype=int)
    order_in_service = np.minimum(order_in_service, n_quarters - 1)

    # Training runs: their placement is a fixed busy load.
    kind = scenario.workloads["kind"]
    train_rows = placement[placement["workload"].map(kind).eq("training").to_numpy(dtype=bool)]
    train_busy = np.zeros((n_pools, n_quarters))
    if len(train_rows):
        keys = list(zip(train_rows["site"], train_rows["sku"]))
        if any(key not in pool_of for key in keys):
            raise _plan_problem("a training placement runs on a pool with no nodes in service")
        np.add.at(train_busy, ([pool_of[key] for key in keys], _quarter_numbers(train_rows["quarter"], horizon)),
                  train_rows["node_equivalents"].to_numpy(dtype=float))

    # Inference demand, and the demand the plan itself leaves unmet.
    workloads = [w for w in scenario.workloads.index if kind[w] == "inference"]
    workload_of = {w: i for i, w in enumerate(workloads)}
    n_workloads = max(len(workloads), 1)
    demand = np.zeros((n_workloads, n_quarters))
    rows = scenario.demand[scenario.demand["workload"].isin(workload_of)
                           & scenario.demand["quarter"].between(0, n_quarters - 1)]
    np.add.at(demand, (rows["workload"].map(workload_of).to_numpy(dtype=int), rows["quarter"].to_numpy(dtype=int)),
              rows["tokens_per_s"].to_numpy(dtype=float))
    planned_unmet = np.zeros((n_workloads, n_quarters))
    unmet = unmet[unmet["workload"].isin(workload_of)]
    if len(unmet):
        np.add.at(planned_unmet, (unmet["workload"].map(workload_of).to_numpy(dtype=int),
                                  _quarter_numbers(unmet["quarter"], horizon)), unmet["units"].to_numpy(dtype=float))
    unfinished_usd = np.zeros(n_quarters)
    if len(unfinished):
        np.add.at(unfinished_usd, _quarter_numbers(unfinished["deadline"], horizon),
                  unfinished["cost_usd"].to_numpy(dtype=float))

    # Per-SKU and per-site inputs.
    node_kw = catalog["node_kw"].to_numpy(dtype=float)
    idle_frac = catalog["idle_frac"].to_numpy(dtype=float)
    gpus = catalog["gpus_per_node"].to_numpy(dtype=float)
    # Depreciation periods: price_usd / (life_years × 4) per quarter, unrounded, as the cost convention says.
    life_quarters = catalog["life_years"].to_numpy(dtype=float) * QUARTERS_PER_YEAR
    maint = catalog["maint_frac_per_year"].to_numpy(dtype=float)
    rent = catalog["rent_usd_per_gpu_hour"].to_numpy(dtype=float)
    rentable = ~np.isnan(rent)
    available_from = catalog["available_from"].to_numpy(dtype=int)
    usd_per_kwh = np.where(site_owned > 0, sites["usd_per_kwh"].to_numpy(dtype=float), 0.0)
    usd_per_kwh = np.nan_to_num(usd_per_kwh, nan=0.0)
    pue = sites["pue"].to_numpy(dtype=float)
    gco2 = sites["gco2_per_kwh"].to_numpy(dtype=float)

    performance = estimate_performance(catalog, scenario.workloads, scenario.throughput)
    pairs, options = _pairs_and_options(scenario, workloads, pools, performance, n_quarters)
    pairs["planned"] = _planned_node_equivalents(placement, pairs, workload_of, pool_of, horizon, n_quarters)

    # Allocation order: cheapest marginal busy $ per tokens/s first (energy + carbon of the busy share,
    # at nominal prices); ties go to the faster pair, then to input order, so the order is deterministic.
    carbon = finance.carbon_usd_per_t
    busy_usd_per_node = ((1.0 - idle_frac[pool_sku]) * node_kw[pool_sku] * pue[pool_site] * HOURS_PER_QUARTER
                         * (usd_per_kwh[pool_site] + gco2[pool_site] / GRAMS_PER_TONNE * carbon))
    if len(pairs):
        usd_per_unit = busy_usd_per_node[pairs["pool"]] / pairs["rate"]
        order = np.lexsort((pairs["pool"], pairs["workload"], -pairs["rate"], usd_per_unit))
        pairs = {key: value[order] for key, value in pairs.items()}
        second = {**pairs, "cap": np.full((len(order), n_quarters), UNCAPPED_NODES)}
        if settings.allocation == "plan-first":
            planned = pairs["planned"].any(axis=1)
            first = {key: value[planned] for key, value in pairs.items()}
            first["cap"] = first["planned"]
            pairs = {key: np.concatenate([first[key], second[key]]) for key in second}
        else:
            pairs = second
    else:  # one inert pair keeps the allocation loop non-empty
        pairs = {"workload": np.zeros(1, dtype=int), "pool": np.zeros(1, dtype=int), "rate": np.ones(1),
                 "active": np.zeros((1, n_quarters)), "cap": np.zeros((1, n_quarters))}

    params = {
        "usd_per_kwh": usd_per_kwh, "price_usd": catalog["price_usd"].to_numpy(dtype=float),
        "pue": pue, "rent_usd_per_gpu_hour": np.nan_to_num(rent, nan=0.0),
        "carbon_usd_per_t": np.array(float(carbon)), "demand_growth": np.array(1.0), "mfu_scale": np.array(1.0),
        "failure_rate": np.array(float(settings.failure_rate)),
    }
    arrays = {
        "discount": discount_factors(finance.discount_rate, n_quarters).to_numpy(),
        "node_kw": node_kw, "idle_frac": idle_frac, "gpus_per_node": gpus, "life_quarters": life_quarters,
        "maint_frac_per_year": maint, "rentable": rentable.astype(float), "site_owned": site_owned,
        "gco2_per_kwh": gco2, "pool_site": pool_site, "pool_sku": pool_sku, "pool_owned": pool_owned,
        "nodes": nodes, "train_busy": train_busy, "order_quarter": order_quarter, "order_in_service": order_in_service,
        "order_pool": order_pool, "order_sku": order_sku, "order_nodes": order_nodes, "slip_nodes": slip_nodes,
        "demand": demand, "planned_unmet": planned_unmet, "unfinished_usd": unfinished_usd,
        "pair_workload": pairs["workload"], "pair_pool": pairs["pool"], "pair_rate": pairs["rate"],
        "pair_active": pairs["active"], "pair_cap": pairs["cap"],
        "option_site": options["site"], "option_sku": options["sku"], "option_rate": options["rate"],
        "option_from": np.where(options["valid"], available_from[options["sku"]], n_quarters + 1),
        "headroom": np.array(float(scenario.headroom)),
        "unmet_usd_per_unit": np.array(float(finance.unmet_usd_per_unit)),
        "cash_mode": np.array(1.0 if finance.capex_mode == "cash" else 0.0),
        "demand_sigma": np.array(settings.demand_sigma), "demand_common_sigma": np.array(settings.demand_common_sigma),
        "sigma_growth_per_quarter": np.array(settings.sigma_growth_per_quarter),
        "slip_probability": np.array(settings.slip_probability), "electricity_sigma": np.array(settings.electricity_sigma),
    }
    sensitivity_inputs = _sensitivity_inputs(site_list, sku_list, pools, pool_owned, options, pool_site,
                                             train_busy, rentable)
    return RiskInputs(quarters=horizon.labels, sites=site_list, skus=sku_list, pools=pools, workloads=workloads,
                      params=params, arrays=arrays, sensitivity_inputs=sensitivity_inputs,
                      objective_usd=plan.get("objective_usd"),
                      notes={"pairs": int(len(pairs["rate"])), "options_per_workload": int(options["rate"].shape[1])})


def _pairs_and_options(scenario, workloads: list[str], pools: list[tuple[str, str]], performance: pd.DataFrame,
                       n_quarters: int) -> tuple[dict, dict]:
    """(workload, pool) pairs that may serve demand, and the cloud (site, SKU) options to rent from."""
    sites, catalog = scenario.sites, scenario.catalog
    eligible = performance[performance["eligible"]].reset_index()[["workload", "sku", "tokens_per_s_per_node"]]
    eligible = eligible[eligible["workload"].isin(workloads)]
    allowed = pd.DataFrame({"workload": pd.Series(workloads, dtype=object),
                            "site": pd.Series([scenario.allowed_sites(w) for w in workloads], dtype=object)}) \
        .explode("site").dropna()
    candidates = eligible.merge(allowed, on="workload")
    workload_of = {w: i for i, w in enumerate(workloads)}

    pool_frame = pd.DataFrame(pools, columns=["site", "sku"]).reset_index().rename(columns={"index": "pool"})
    pair_frame = candidates.merge(pool_frame, on=["site", "sku"])
    start = scenario.workloads["start"].reindex(pair_frame["workload"]).to_numpy(dtype=float, na_value=0.0)
    deadline = scenario.workloads["deadline"].reindex(pair_frame["workload"]).to_numpy(dtype=float,
                                                                                       na_value=np.inf)
    quarter = np.arange(n_quarters)
    pairs = {"workload": pair_frame["workload"].map(workload_of).to_numpy(dtype=int),
             "pool": pair_frame["pool"].to_numpy(dtype=int),
             "rate": pair_frame["tokens_per_s_per_node"].to_numpy(dtype=float),
             "active": ((quarter[None, :] >= start[:, None]) & (quarter[None, :] <= deadline[:, None])).astype(float)}

    cloud = candidates[candidates["site"].map(sites["kind"]).eq("cloud")
                       & candidates["sku"].map(catalog["rent_usd_per_gpu_hour"]).notna()]
    cloud = cloud.assign(w=cloud["workload"].map(workload_of)).sort_values(["w", "site", "sku"])
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


def _planned_node_equivalents(placement: pd.DataFrame, pairs: dict, workload_of: dict, pool_of: dict, horizon,
                              n_quarters: int) -> np.ndarray:
    """[pair, quarter]: the node-equivalents the plan gives each inference (workload, pool) pair."""
    planned = np.zeros((len(pairs["rate"]), n_quarters))
    rows = placement[placement["workload"].isin(workload_of)]
    if not len(rows) or not len(pairs["rate"]):
        return planned
    pair_of = {(w, p): i for i, (w, p) in enumerate(zip(pairs["workload"], pairs["pool"]))}
    keys = [(workload_of[w], pool_of.get((s, k), -1)) for w, s, k in zip(rows["workload"], rows["site"], rows["sku"])]
    if any(key not in pair_of for key in keys):
        raise _plan_problem("an inference placement is on a pool the workload may not use or that has no nodes")
    np.add.at(planned, ([pair_of[key] for key in keys], _quarter_numbers(rows["quarter"], horizon)),
              rows["node_equivalents"].to_numpy(dtype=float))
    return planned


def _sensitivity_inputs(sites, skus, pools, pool_owned, options, pool_site, train_busy, rentable):
    """Inputs the plan's cost depends on: sites and SKUs it uses, plus the scalar drivers."""
    used_sites = sorted(set(pool_site[: len(pools)].tolist()) | set(options["site"][options["valid"]].tolist()))
    owned_pools = [i for i in range(len(pools)) if pool_owned[i] > 0]
    owned_skus = sorted({skus.index(pools[i][1]) for i in owned_pools})
    rented_skus = sorted({skus.index(pools[i][1]) for i in range(len(pools)) if pool_owned[i] == 0}
                         | set(options["sku"][options["valid"]].tolist()))
    inputs = []
    inputs += [(f"usd_per_kwh[{sites[s]}]", "usd_per_kwh", s) for s in used_sites
               if any(pool_owned[i] > 0 and pool_site[i] == s for i in range(len(pools)))]
    inputs += [(f"price_usd[{skus[k]}]", "price_usd", k) for k in owned_skus]
    inputs += [(f"rent_usd_per_gpu_hour[{skus[k]}]", "rent_usd_per_gpu_hour", k) for k in rented_skus
               if rentable[k]]
    inputs += [(f"pue[{sites[s]}]", "pue", s) for s in used_sites]
    inputs += [("demand_growth", "demand_growth", None), ("mfu_scale", "mfu_scale", None),
               ("failure_rate", "failure_rate", None), ("carbon_usd_per_t", "carbon_usd_per_t", None)]
    if not train_busy.any():
        inputs = [entry for entry in inputs if entry[1] != "mfu_scale"]
    return inputs

