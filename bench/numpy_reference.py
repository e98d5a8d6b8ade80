"""Plain NumPy implementation of the risk cost function (models/risk.py), the reference the JAX model is tested
and benchmarked against. Written independently of the JAX code from the same numbered model: samples along the
first axis of every noise array, a Python loop over the (workload, pool) pairs of the allocation.
"""

from __future__ import annotations

import numpy as np

from models.quarters import HOURS_PER_QUARTER
from models.units import GRAMS_PER_TONNE


def reference_outcome(params: dict, a: dict, noise: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(TCO [B], shortfall [B, W, Q], unmet [B, W, Q], demand [B, W, Q]) for B samples of noise."""
    p = {key: np.asarray(value, dtype=np.float64) for key, value in params.items()}
    samples = noise["demand_z"].shape[0]
    n_quarters = len(a["discount"])
    quarter = np.arange(n_quarters)
    sku, site = a["pool_sku"], a["pool_site"]
    owned = a["pool_owned"][:, None]

    # 1. capacity
    present = np.repeat(a["nodes"][None], samples, axis=0)
    slipped = np.where(noise["slip_u"] < a["slip_probability"], a["slip_nodes"][None], 0.0)
    for order in range(len(a["slip_nodes"])):
        present[:, a["order_pool"][order], a["order_in_service"][order]] -= slipped[:, order]
    present = np.maximum(present, 0.0)
    f = float(p["failure_rate"])
    spread = np.sqrt(f * (1.0 - f) / np.maximum(present, 1.0))
    down = np.clip(f + spread * noise["failure_z"], 0.0, 1.0) * owned
    training = a["train_busy"] / p["mfu_scale"]
    capacity = np.maximum((1.0 - a["headroom"]) * present * (1.0 - down) - training, 0.0)

    # 2. demand
    forecast = a["demand"]
    forecast = np.maximum(forecast[:, :1] + p["demand_growth"] * (forecast - forecast[:, :1]), 0.0)
    widening = np.sqrt(1.0 + a["sigma_growth_per_quarter"] * quarter)
    own_sd = a["demand_sigma"] * widening
    common_sd = a["demand_common_sigma"] * widening
    demand = forecast[None] * np.exp(own_sd * noise["demand_z"] + common_sd * noise["common_z"][:, None, None]
                                     - 0.5 * (own_sd ** 2 + common_sd ** 2))

    # 3. allocation
    left_demand, left_capacity = demand.copy(), capacity.copy()
    for w, pool, rate, active, cap in zip(a["pair_workload"], a["pair_pool"], a["pair_rate"], a["pair_active"],
                                          a["pair_cap"]):
        served = np.minimum(left_demand[:, w], np.minimum(left_capacity[:, pool], cap) * rate) * active
        left_demand[:, w] -= served
        left_capacity[:, pool] -= served / rate
    shortfall = left_demand
    busy = capacity - left_capacity + training

    # 4. shortfall cost
    penalty = float(a["unmet_usd_per_unit"])
    co2_usd_per_kwh = a["gco2_per_kwh"] / GRAMS_PER_TONNE * p["carbon_usd_per_t"]
    n_workloads, width = a["option_sku"].shape
    rent_usd_per_unit = np.full((n_workloads, n_quarters), penalty)
    for w in range(n_workloads):
        for m in range(width):
            k, c = a["option_sku"][w, m], a["option_site"][w, m]
            kwh = a["node_kw"][k] * p["pue"][c] * HOURS_PER_QUARTER
            per_node = ((p["rent_usd_per_gpu_hour"][k] * a["gpus_per_node"][k] * HOURS_PER_QUARTER
                         + a["idle_frac"][k] * kwh * co2_usd_per_kwh[c]) / (1.0 - a["headroom"])
                        + (1.0 - a["idle_frac"][k]) * kwh * co2_usd_per_kwh[c])
            open_now = quarter >= a["option_from"][w, m]
            rent_usd_per_unit[w] = np.where(open_now, np.minimum(rent_usd_per_unit[w], per_node / a["option_rate"][w, m]),
                                            rent_usd_per_unit[w])
    planned = np.minimum(shortfall, a["planned_unmet"][None])
    excess = shortfall - planned
    shortfall_usd = (penalty * planned + np.minimum(rent_usd_per_unit, penalty)[None] * excess).sum(axis=1)
    unmet = planned + np.where(rent_usd_per_unit < penalty, 0.0, excess)

    # 5. energy and fixed lines
    kwh = (a["node_kw"][sku] * p["pue"][site] * HOURS_PER_QUARTER)[None, :, None] * (
        a["idle_frac"][sku][None, :, None] * present + (1.0 - a["idle_frac"][sku])[None, :, None] * busy)
    sd = a["electricity_sigma"]
    usd_per_kwh = p["usd_per_kwh"][None] * np.exp(sd * noise["electricity_z"] - 0.5 * sd ** 2)
    energy_usd = (kwh * usd_per_kwh[:, site][:, :, None]).sum(axis=1)
    carbon_usd = (kwh * co2_usd_per_kwh[site][None, :, None]).sum(axis=1)
    owned_nodes = a["nodes"] * owned
    price = p["price_usd"][sku][:, None]
    depreciation = (1.0 - a["cash_mode"]) * (owned_nodes * price / a["life_quarters"][sku][:, None]).sum(axis=0)
    capex = np.zeros(n_quarters)
    np.add.at(capex, a["order_quarter"], a["order_nodes"] * p["price_usd"][a["order_sku"]])
    capex = a["cash_mode"] * capex
    maintenance = (owned_nodes * price * a["maint_frac_per_year"][sku][:, None] / 4.0).sum(axis=0)
    rent = (a["nodes"] * (1.0 - owned) * (p["rent_usd_per_gpu_hour"][sku] * a["gpus_per_node"][sku]
                                          * HOURS_PER_QUARTER)[:, None]).sum(axis=0)
    fixed = depreciation + capex + maintenance + rent + a["unfinished_usd"]
    total = fixed[None] + energy_usd + carbon_usd + shortfall_usd
    return (total * a["discount"][None]).sum(axis=1), shortfall, unmet, demand


def reference_noise(a: dict, samples: int, seed: int) -> dict:
    """Noise of the same distributions from NumPy's generator (for the benchmark; tests pass JAX's own draws)."""
    rng = np.random.default_rng(seed)
    n_workloads, n_quarters = a["demand"].shape
    return {"demand_z": rng.standard_normal((samples, n_workloads, n_quarters)),
            "common_z": rng.standard_normal(samples),
            "failure_z": rng.standard_normal((samples,) + a["nodes"].shape),
            "slip_u": rng.random((samples,) + a["slip_nodes"].shape),
            "electricity_z": rng.standard_normal((samples, len(a["gco2_per_kwh"])))}
