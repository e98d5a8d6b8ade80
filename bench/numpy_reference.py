"""Plain NumPy implementation of the risk cost function (models/risk_costs.py), the reference the JAX model is
tested and benchmarked against. Written independently of the JAX code from the same numbered model and the same
unit costs (models/cost_parameters.py, through RiskInputs): samples along the first axis of every noise array, a
Python loop over the (workload, pool) pairs of the allocation and over the cloud options, each cost line summed on
its own.
"""

from __future__ import annotations

import numpy as np

from models.risk_allocation import ALLOCATION_TOLERANCE_ULPS
from models.cost_parameters import SAMPLED_LINES_USD
from models.risk_inputs import RiskArrays, RiskParams
from models.risk_sampling import Noise


def reference_outcome(params: RiskParams, a: RiskArrays, noise: Noise) -> dict[str, np.ndarray]:
    """tco_usd [B], line_usd [B, line] (SAMPLED_LINES_USD, discounted), and demand, shortfall, on-demand and unmet
    tokens/s [B, W, Q] for B samples of noise (samples first)."""
    p = {name: np.asarray(getattr(params, name), dtype=np.float64) for name in params.__dataclass_fields__}
    samples = noise.demand_z.shape[0]
    n_quarters = len(a.discount)
    quarter = np.arange(n_quarters)
    pools = a.pools
    sku, site = pools.sku, pools.site
    owned = pools.owned[:, None]
    headroom = float(a.headroom)

    # 1. capacity
    present = np.repeat(pools.nodes[None], samples, axis=0)
    slipped = np.where(noise.slip_u < a.uncertainty.slip_probability, a.orders.slip_nodes[None], 0.0)
    for order in range(len(a.orders.slip_nodes)):
        present[:, a.orders.pool[order], a.orders.in_service_quarter[order]] -= slipped[:, order]
    present = np.maximum(present, 0.0)
    rho = float(p["failure_rate"]) * owned  # the `risk:` rate, owned pools only
    u = pools.unavailability[:, None]  # the catalog's, owned or rented
    f = rho + u - rho * u
    spread = np.sqrt(f * (1.0 - f) / np.maximum(present, 1.0))
    down = np.clip(f + spread * noise.failure_z * float(a.uncertainty.failure_spread), 0.0, 1.0)
    training = pools.training_node_equivalents / p["mfu_scale"]
    capacity = np.maximum((1.0 - headroom) * present * (1.0 - down) - training, 0.0)

    # 2. demand
    forecast = a.demand_tokens_per_s
    forecast = np.maximum(forecast[:, :1] + p["demand_growth"] * (forecast - forecast[:, :1]), 0.0)
    spread = a.uncertainty
    widening = np.sqrt(1.0 + spread.sigma_growth_per_quarter * quarter)
    own_sd = spread.demand_sigma * widening
    common_sd = spread.demand_common_sigma * widening
    demand = forecast[None] * np.exp(own_sd * noise.demand_z + common_sd * noise.common_z[:, None, None]
                                     - 0.5 * (own_sd ** 2 + common_sd ** 2))

    # 3. allocation: a pair serves all that is wanted when within the rounding slack of what it can serve
    left_demand, left_capacity = demand.copy(), capacity.copy()
    pairs = a.pairs
    rates = pairs.tokens_per_s_per_node[None, :] * np.maximum(1.0 + pairs.throughput_sigma[None, :]
                                                              * noise.throughput_z, 0.0)  # [sample, pair]
    for e, (w, pool, nominal, active, cap) in enumerate(zip(pairs.workload, pairs.pool, pairs.tokens_per_s_per_node,
                                                            pairs.active, pairs.cap_node_equivalents)):
        rate = rates[:, e][:, None]
        scale = np.maximum(nominal * (1.0 - headroom) * pools.nodes[pool], a.demand_tokens_per_s[w])
        slack = ALLOCATION_TOLERANCE_ULPS * np.finfo(np.float64).eps * scale
        can = np.maximum(np.minimum(left_capacity[:, pool], cap), 0.0) * rate
        wanted = left_demand[:, w]
        served = np.where(wanted <= can + slack, wanted, can) * active
        left_demand[:, w] -= served
        left_capacity[:, pool] -= served / rate
    shortfall = left_demand
    busy = capacity - left_capacity + training

    # 4. shortfall: the cheapest open cloud option per (workload, quarter), all in
    penalty = float(a.unmet_usd_per_unit)
    u, o = a.unit_costs, a.options
    price_ratio = p["price_usd"] / u.price_usd
    rent_ratio = p["rent_usd_per_gpu_hour"] / u.rent_usd_per_gpu_hour
    pue_ratio = p["pue"] / u.pue
    c = float(p["carbon_usd_per_t"])
    n_workloads, width = o.sku.shape
    best = np.full((n_workloads, n_quarters), penalty)
    for w in range(n_workloads):
        for m in range(width):
            k, site_m = o.sku[w, m], o.site[w, m]
            per_node = ((o.rent_usd_per_node_quarter[w, m] * rent_ratio[k]
                         + pue_ratio[site_m] * o.carbon_t_per_idle_node[w, m] * c) / (1.0 - headroom)
                        + pue_ratio[site_m] * o.carbon_t_per_busy_node[w, m] * c)
            open_now = quarter >= o.available_from_quarter[w, m]
            best[w] = np.where(open_now, np.minimum(best[w], per_node / o.tokens_per_s_per_node[w, m]), best[w])
    rented = best < penalty
    planned = np.minimum(shortfall, a.planned_unmet_tokens_per_s[None])
    excess = shortfall - planned
    on_demand = np.where(rented[None], excess, 0.0)
    unmet = planned + np.where(rented[None], 0.0, excess)

    # 5. energy and the other lines, each [Q] or [B, Q]
    kwh = pue_ratio[site][None, :, None] * (pools.kwh_per_idle_node[None] * present
                                            + pools.kwh_per_busy_node[None] * busy + pools.fixed_kwh[None])
    carbon_t = kwh * pools.carbon_t_per_kwh[None]
    sd = float(a.uncertainty.electricity_sigma)
    usd_per_kwh = p["usd_per_kwh"][None] * np.exp(sd * noise.electricity_z - 0.5 * sd ** 2)
    owned_nodes = pools.nodes * owned
    capex = np.zeros(n_quarters)
    capex_usd_per_node = u.capex_usd_per_node_ordered * price_ratio
    np.add.at(capex, a.orders.order_quarter, a.orders.nodes * capex_usd_per_node[a.orders.sku])
    fixed = {
        "capex_usd": float(a.cash_capex) * capex + a.fixed_capex_usd,
        "depreciation_usd": (1.0 - float(a.cash_capex)) * (owned_nodes * (u.depreciation_usd_per_node_quarter
                                                                          * price_ratio)[sku][:, None]).sum(axis=0)
        + a.fixed_depreciation_usd,
        "rent_usd": ((pools.nodes - pools.committed_nodes)
                     * (pools.rent_usd_per_node_quarter * rent_ratio[sku])[:, None]).sum(axis=0) + a.fixed_rent_usd,
        "maintenance_usd": (owned_nodes * (u.maintenance_usd_per_node_quarter * price_ratio)[sku][:, None]).sum(axis=0),
        "network_usd": a.fixed_network_usd,
        "storage_usd": a.fixed_storage_usd,
        "unfinished_training_usd": a.unfinished_training_usd,
    }
    varying = {
        "on_demand_usd": (on_demand * best[None]).sum(axis=1),
        "energy_usd": (kwh * usd_per_kwh[:, site][:, :, None]).sum(axis=1),
        "carbon_usd": carbon_t.sum(axis=1) * c,
        "unmet_usd": (penalty * unmet).sum(axis=1),
    }
    line_usd = np.stack([(np.broadcast_to(fixed[name][None], (samples, n_quarters)) if name in fixed
                          else varying[name]) @ a.discount for name in SAMPLED_LINES_USD], axis=1)
    return {"line_usd": line_usd, "tco_usd": line_usd.sum(axis=1), "demand_tokens_per_s": demand,
            "shortfall_tokens_per_s": shortfall, "on_demand_tokens_per_s": on_demand, "unmet_tokens_per_s": unmet}


def reference_noise(a: RiskArrays, samples: int, seed: int) -> Noise:
    """Noise of the same distributions from NumPy's generator (for the benchmark; tests pass JAX's own draws)."""
    rng = np.random.default_rng(seed)
    demand_z = rng.standard_normal((samples,) + a.demand_tokens_per_s.shape)
    common_z = rng.standard_normal(samples)
    failure_z = rng.standard_normal((samples,) + a.pools.nodes.shape)
    slip_u = rng.random((samples,) + a.orders.slip_nodes.shape)
    electricity_z = rng.standard_normal((samples, len(a.unit_costs.pue)))
    throughput_z = rng.standard_normal((samples,) + a.pairs.throughput_sigma.shape)
    return Noise(demand_z=demand_z, common_z=common_z, failure_z=failure_z, electricity_z=electricity_z,
                 slip_u=slip_u, throughput_z=throughput_z)
