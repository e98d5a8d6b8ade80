"""The cost of one sampled future: a pure JAX function of (params, arrays, noise), vectorised over samples.

The model (one call of `batch_outcome` prices a batch of futures), numbered as in docs/risk.md:

1. Capacity. The plan's nodes in service per pool (site, SKU) and quarter are the starting point.
   a. Delivery slips: each purchase order independently arrives one quarter late with probability
      `slip_probability`; its nodes are then missing in their first planned quarter in service (they still
      retire when planned). Ownership (depreciation or capex, maintenance) follows the plan: the order is
      bought either way; only capacity and idle energy follow the nodes actually present.
   b. Failures: the fraction of a pool out of service in a quarter is the Binomial(n, f) fraction in its normal
      approximation, f + sqrt(f (1 − f) / n) · z, clipped to [0, 1] (n the nodes present). f combines the
      catalog's failures of the pool's SKU, u = afr_per_node_year × repair_hours / 8,760 (models/failures.py, the
      rate the plan derated its capacity by; owned or rented), with `failure_rate` ρ of owned pools (rented nodes
      are replaced by the provider), as independent causes: f = ρ + u − ρ u. Failed nodes still draw idle power.
      A deterministic evaluation (`failure_spread` 0) takes f itself, the mean the plan derated its capacity by.
   c. Training runs keep the plan's placement as a fixed busy load (node-equivalents ÷ `mfu_scale`); it is
      served first, so inference gets max((1 − headroom) · available − training, 0). Risk applies to inference.
2. Demand of inference workload w in quarter q: forecast × exp(σ_q z_wq + σc_q z_c − (σ_q² + σc_q²)/2), a
   mean-one lognormal with an idiosyncratic part (σ_q = demand_sigma · sqrt(1 + sigma_growth_per_quarter · q))
   and a common factor z_c shared by every workload and quarter of a sample (σc_q = demand_common_sigma ·
   sqrt(1 + sigma_growth_per_quarter · q)). `demand_growth` γ rescales the forecast's growth over its first
   quarter: forecast_wq = max(d_w0 + γ (d_wq − d_w0), 0).
3. Allocation (models/risk_allocation.py): (workload, pool) pairs in a fixed order, plan-first or cheapest-first.
4. Shortfall s (demand left after the allocation, tokens/s): the plan's own unmet units u0 are charged the unmet
   penalty as the plan did; the excess max(s − u0, 0) is rented on demand at the cheapest cloud option the
   workload may use (rent ÷ (1 − headroom) + carbon, per node-equivalent, ÷ tokens/s per node; billed per
   node-equivalent, not whole nodes) when that beats the penalty, else charged `unmet_usd_per_unit`.
5. Energy: kWh = kWh per idle node · nodes present + kWh per busy node-equivalent · busy + the plan's spine and
   storage kWh (held at its placement, models/risk_inputs.py PoolArrays.fixed_kwh), paid at the $ per kWh
   the cost parameters charge (owned sites) × a mean-one lognormal per-site multiplier (log-sd
   `electricity_sigma`); tCO2 likewise, at carbon_usd_per_t everywhere. Ownership, maintenance, planned rent and
   unfinished training as in the plan. Every per-unit cost comes from models/cost_parameters.py (the conventions
   are written there once), scaled by the ratio of its sensitivity input (price, rent, PUE) to its nominal value.
6. TCO = Σ_lines Σ_q (1 + r)^(−q/4) · cost_line_q: the optimiser's cost lines plus `on_demand_usd` (rent and
   carbon paid for the shortfall rented on demand), `SAMPLED_LINES_USD` (models/cost_parameters.py). It is exactly
   the optimiser's objective when
   every uncertainty is off and the plan's placement is what rule 3 picks.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import jax
import jax.numpy as jnp

from models.cost_parameters import PENALTY_LINES_USD, SAMPLED_LINES_USD
from models.risk_allocation import allocate
from models.risk_inputs import RiskArrays, RiskParams
from models.risk_sampling import Noise

PENALTY_LINES = PENALTY_LINES_USD
# A (quarter, workload) counts as short when more than this fraction of its demand is left unserved; float32
# round-off of a fully served demand stays far below it.
SHORTFALL_TOLERANCE_FRACTION = 1e-5
# ... and never for less than this many units (tokens/s): float32 residue where there is no demand at all.
SHORTFALL_TOLERANCE_UNITS = 1e-3


@dataclass(frozen=True)
class Outcome:
    """A batch of priced futures (samples last)."""

    line_usd: jnp.ndarray  # [line, sample]: discounted $ of each of SAMPLED_LINES_USD
    tco_usd: jnp.ndarray  # [sample]: Σ line_usd
    demand_tokens_per_s: jnp.ndarray  # [workload, quarter, sample]
    shortfall_tokens_per_s: jnp.ndarray  # demand the plan's fleet did not serve = on_demand + unmet
    on_demand_tokens_per_s: jnp.ndarray  # part of the shortfall rented on demand in a cloud
    unmet_tokens_per_s: jnp.ndarray  # part charged the unmet penalty (the plan's own unmet included)


jax.tree_util.register_dataclass(Outcome, data_fields=[f.name for f in dataclasses.fields(Outcome)], meta_fields=[])


def _safe_sqrt(value):
    """sqrt with a zero (not infinite) derivative at 0, so a zero failure rate differentiates cleanly."""
    positive = value > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, value, 1.0)), 0.0)


def sum_first(x, weights=None):
    """Σ_i weights_i · x[i] over the first axis, as a matrix product: XLA's CPU reduction over a leading axis
    runs about 20× slower than this (measured on [200, 16, 1179] float32)."""
    weights = jnp.ones(x.shape[0], x.dtype) if weights is None else weights
    return (weights @ x.reshape(x.shape[0], -1)).reshape(x.shape[1:])


def failed_fraction(rate, present, failure_z):
    """Rule 1b: the fraction of `present` owned nodes out of service, f + sqrt(f (1 − f) / n) · z in [0, 1]."""
    spread = _safe_sqrt(rate * (1.0 - rate) / jnp.maximum(present, 1.0))
    return jnp.clip(rate + spread * failure_z, 0.0, 1.0)


def demand_factor(u, demand_z, common_z):
    """Rule 2's mean-one lognormal multiplier of the forecast, [workload, quarter, sample] from demand_z
    [workload, quarter, sample] and common_z [sample]; `u` holds the `risk:` sigmas (UncertaintyArrays)."""
    quarter = jnp.arange(demand_z.shape[1], dtype=demand_z.dtype)
    widening = jnp.sqrt(1.0 + u.sigma_growth_per_quarter * quarter)
    own_sd, common_sd = u.demand_sigma * widening, u.demand_common_sigma * widening
    return jnp.exp(own_sd[:, None] * demand_z + common_sd[:, None] * common_z
                   - (0.5 * (own_sd ** 2 + common_sd ** 2))[:, None])


def electricity_factor(sigma, electricity_z):
    """Rule 5's mean-one lognormal multiplier of the electricity price, [site, sample]."""
    return jnp.exp(sigma * electricity_z - 0.5 * sigma ** 2)


def _capacity(params: RiskParams, a: RiskArrays, noise: Noise) -> tuple:
    """Rule 1: (nodes present, inference capacity, training load), each [pool, quarter, sample]."""
    pools = a.pools
    n_pools, n_quarters = pools.nodes.shape
    batch = noise.common_z.shape[-1]
    slipped = jnp.where(noise.slip_u < a.uncertainty.slip_probability, a.orders.slip_nodes[:, None], 0.0)  # [O, B]
    cell = a.orders.pool * n_quarters + a.orders.in_service_quarter
    to_cell = (jnp.arange(n_pools * n_quarters)[:, None] == cell[None, :]).astype(slipped.dtype)
    missing = (to_cell @ slipped).reshape(n_pools, n_quarters, batch)
    present = jnp.maximum(pools.nodes[:, :, None] - missing, 0.0)
    rho = params.failure_rate * pools.owned  # [pool]: 0 in a cloud
    rate = rho + pools.unavailability - rho * pools.unavailability  # exactly ρ where the catalog has no failures
    down = failed_fraction(rate[:, None, None], present, noise.failure_z * a.uncertainty.failure_spread)
    training = (pools.training_node_equivalents / params.mfu_scale)[:, :, None]
    capacity = jnp.maximum((1.0 - a.headroom) * present * (1.0 - down) - training, 0.0)
    return present, capacity, training


def throughput_factor(sigma, throughput_z):
    """Each pair's tokens/s multiplier in each future, [pair, sample]: max(1 + sigma z, 0), mean 1 and standard
    deviation sigma (the measurement's stated interval; models/risk_inputs.THROUGHPUT_CI95_Z). 1 where sigma is 0."""
    return jnp.maximum(1.0 + sigma[:, None] * throughput_z, 0.0)


def pair_rate(a: RiskArrays, noise: Noise):
    """Tokens/s per node of each pair in each future, [pair, sample]."""
    return a.pairs.tokens_per_s_per_node[:, None] * throughput_factor(a.pairs.throughput_sigma, noise.throughput_z)


def _demand(params: RiskParams, a: RiskArrays, noise: Noise):
    """Rule 2: demand [workload, quarter, sample] in tokens/s."""
    forecast = a.demand_tokens_per_s
    first = forecast[:, :1]
    forecast = jnp.maximum(first + params.demand_growth * (forecast - first), 0.0)
    return forecast[:, :, None] * demand_factor(a.uncertainty, noise.demand_z, noise.common_z)


def _on_demand_usd_per_unit(params: RiskParams, a: RiskArrays, ratios: dict):
    """Rule 4's cheapest cloud option per (workload, quarter), $ per tokens/s per quarter all in (rent ÷ (1 −
    headroom) and carbon of the busy share and of the idle share, per node-equivalent); the penalty where no
    option is open."""
    o = a.options
    quarter = jnp.arange(a.discount.shape[0])
    rent = (o.rent_usd_per_node_quarter * ratios["rent"][o.sku])[:, :, None]  # [W, M, 1]
    pue_ratio = ratios["pue"][o.site][:, :, None]  # the sampled PUE over the one the tCO2 were computed at
    carbon_usd_per_t = params.carbon_usd_per_t
    usd_per_node = ((rent + pue_ratio * o.carbon_t_per_idle_node * carbon_usd_per_t) / (1.0 - a.headroom)
                    + pue_ratio * o.carbon_t_per_busy_node * carbon_usd_per_t)  # [W, M, Q]
    open_now = quarter[None, None, :] >= o.available_from_quarter[:, :, None]
    return jnp.min(jnp.where(open_now, usd_per_node / o.tokens_per_s_per_node[:, :, None], a.unmet_usd_per_unit),
                   axis=1)


def on_demand_usd_per_unit(params: RiskParams, a: RiskArrays):
    """Rule 4 at the given inputs: $ per tokens/s per quarter of the cheapest cloud option, [workload, quarter]."""
    return _on_demand_usd_per_unit(params, a, _ratios(params, a))


def _ratios(params: RiskParams, a: RiskArrays) -> dict:
    """Each sensitivity input over the value the unit costs were computed at: 1.0 at nominal inputs."""
    u = a.unit_costs
    return {"price": params.price_usd / u.price_usd, "rent": params.rent_usd_per_gpu_hour / u.rent_usd_per_gpu_hour,
            "pue": params.pue / u.pue}


def batch_outcome(params: RiskParams, a: RiskArrays, noise: Noise) -> Outcome:
    """Discounted cost lines and TCO of a batch of futures, with demand, shortfall, on-demand and unmet tokens/s.
    Samples lie on the last axis, so every elementwise step runs over contiguous memory."""
    n_quarters = a.discount.shape[0]
    pools, u = a.pools, a.unit_costs
    k, s = pools.sku, pools.site
    ratios = _ratios(params, a)

    # 1-3. Capacity, demand, allocation.
    present, capacity, training = _capacity(params, a, noise)
    demand = _demand(params, a, noise)
    shortfall, served = allocate(capacity, demand, a, pair_rate(a, noise))
    busy = served + training

    # 4. Shortfall: the plan's unmet at the penalty, the excess rented on demand or charged the penalty.
    penalty = a.unmet_usd_per_unit
    on_demand_usd_per_unit = _on_demand_usd_per_unit(params, a, ratios)  # [W, Q]
    rented = (on_demand_usd_per_unit < penalty)[:, :, None]
    planned = jnp.minimum(shortfall, a.planned_unmet_tokens_per_s[:, :, None])
    excess = shortfall - planned
    on_demand = jnp.where(rented, excess, 0.0)
    unmet = planned + jnp.where(rented, 0.0, excess)

    # 5. Energy and carbon of the nodes present and busy; ownership, rent (unit costs × their input's ratio).
    pue_ratio = ratios["pue"][s][:, None, None]  # the plan's kWh were computed at the base PUE
    kwh = pue_ratio * (pools.kwh_per_idle_node[:, :, None] * present + pools.kwh_per_busy_node[:, :, None] * busy
                       + pools.fixed_kwh[:, :, None])
    usd_per_kwh = params.usd_per_kwh[:, None] * electricity_factor(a.uncertainty.electricity_sigma,
                                                                   noise.electricity_z)  # [S, B]
    price = ratios["price"]
    owned_nodes = pools.nodes * pools.owned[:, None]
    by_quarter = {  # [Q] (fixed) or [Q, B]
        "capex_usd": a.cash_capex * jnp.zeros(n_quarters, dtype=price.dtype).at[a.orders.order_quarter].add(
            a.orders.nodes * (u.capex_usd_per_node_ordered * price)[a.orders.sku]) + a.fixed_capex_usd,
        "depreciation_usd": (1.0 - a.cash_capex) * (owned_nodes * (u.depreciation_usd_per_node_quarter
                                                                   * price)[k][:, None]).sum(axis=0)
        + a.fixed_depreciation_usd,
        "rent_usd": ((pools.nodes - pools.committed_nodes)
                     * (pools.rent_usd_per_node_quarter * ratios["rent"][k])[:, None]).sum(axis=0) + a.fixed_rent_usd,
        "on_demand_usd": sum_first(on_demand * on_demand_usd_per_unit[:, :, None]),
        "energy_usd": sum_first(kwh * usd_per_kwh[s][:, None, :]),
        "maintenance_usd": (owned_nodes * (u.maintenance_usd_per_node_quarter * price)[k][:, None]).sum(axis=0),
        "network_usd": a.fixed_network_usd,
        "storage_usd": a.fixed_storage_usd,
        "carbon_usd": sum_first(kwh * pools.carbon_t_per_kwh[:, :, None]) * params.carbon_usd_per_t,
        "unmet_usd": sum_first(penalty * unmet),
        "unfinished_training_usd": a.unfinished_training_usd,
    }

    # 6. Discounted lines and their total.
    batch = shortfall.shape[-1]
    line_usd = jnp.stack([jnp.broadcast_to(a.discount @ by_quarter[name], (batch,))
                          for name in SAMPLED_LINES_USD])
    return Outcome(line_usd=line_usd, tco_usd=sum_first(line_usd), demand_tokens_per_s=demand,
                   shortfall_tokens_per_s=shortfall, on_demand_tokens_per_s=on_demand, unmet_tokens_per_s=unmet)


def _statistics(params: RiskParams, a: RiskArrays, noise: Noise, weights) -> dict:
    """TCO per sample, and the batch's weighted sums of cost lines, shortfall indicators and tokens/s (weights
    mask padding). The sums over samples are matrix-vector products: ~4x faster than XLA's CPU reductions here."""
    out = batch_outcome(params, a, noise)
    threshold = jnp.maximum(SHORTFALL_TOLERANCE_FRACTION * out.demand_tokens_per_s, SHORTFALL_TOLERANCE_UNITS)
    short = (out.shortfall_tokens_per_s > threshold).astype(weights.dtype)
    return {
        "tco_usd": out.tco_usd,
        "line_usd": out.line_usd @ weights,
        "short_count": short @ weights,
        "short_any_count": (sum_first(short) > 0).astype(weights.dtype) @ weights,
        "shortfall_tokens_per_s": out.shortfall_tokens_per_s @ weights,
        "unmet_tokens_per_s": out.unmet_tokens_per_s @ weights,
    }


batch_statistics = jax.jit(_statistics)
STATISTICS = ("tco_usd", "line_usd", "short_count", "short_any_count", "shortfall_tokens_per_s",
              "unmet_tokens_per_s")
# Statistics that are per sample (the rest are sums over the batch).
PER_SAMPLE_STATISTICS = ("tco_usd",)


@jax.jit
def batch_gradient(params: RiskParams, a: RiskArrays, noise: Noise, weights):
    """Σ weight · TCO over the batch and its gradient with respect to every entry of `params`."""
    def total(p):
        return (weights * batch_outcome(p, a, noise).tco_usd).sum()

    return jax.value_and_grad(total)(params)
