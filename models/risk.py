"""Monte-Carlo risk of a plan, with exact sensitivities: a pure JAX cost model, jit-compiled and batched over samples.

The model of one sampled future (one call of :func:`sample_outcome`), numbered as in the README:

1. Capacity. The plan's nodes in service per pool (site, SKU) and quarter are the starting point.
   a. Delivery slips: each purchase order independently arrives one quarter late with probability
      `slip_probability`; its nodes are then missing in their first planned quarter in service (they still
      retire when planned). Ownership (depreciation or capex, maintenance) follows the plan: the order is
      bought either way; only capacity and idle energy follow the nodes actually present.
   b. Failures: the fraction of an owned pool out of service in a quarter is the Binomial(n, f) fraction in
      its normal approximation, f + sqrt(f (1 − f) / n) · z, clipped to [0, 1] (f = `failure_rate`, n the nodes
      present). Failed nodes still draw idle power. Rented nodes are replaced by the provider: no failures.
   c. Training runs keep the plan's placement as a fixed busy load (node-equivalents ÷ `mfu_scale`); it is
      served first, so inference gets max((1 − headroom) · available − training, 0). Risk applies to inference.
2. Demand of inference workload w in quarter q: forecast × exp(σ_q z_wq + σc_q z_c − (σ_q² + σc_q²)/2), a
   mean-one lognormal with an idiosyncratic part (σ_q = demand_sigma · sqrt(1 + sigma_growth_per_quarter · q))
   and a common factor z_c shared by every workload and quarter of a sample (σc_q = demand_common_sigma ·
   sqrt(1 + sigma_growth_per_quarter · q)). `demand_growth` γ rescales the forecast's growth over its first
   quarter: forecast_wq = max(d_w0 + γ (d_wq − d_w0), 0).
3. Allocation: (workload, pool) pairs are served in one fixed order, cheapest marginal busy $ per tokens/s
   first (energy + carbon of the busy share of a node-equivalent ÷ tokens/s per node, at nominal prices); each
   pair takes min(remaining demand, min(remaining capacity, cap) × rate). A loop over the pairs, each step
   vectorised over quarters and samples (one row of the state). `risk.allocation` picks the passes:
   - plan-first (default): a first pass over the pairs the plan uses, each capped at the plan's node-equivalents,
     then an uncapped cheapest-first pass over every pair for what is left. It reproduces the plan's placement
     exactly when nothing is uncertain, and sends surprises to the cheapest free capacity.
   - cheapest-first: the uncapped pass alone. This is the optimiser's own choice when one workload uses the
     pools (its LP fills the cheapest busy share first too); with several it is a dispatch rule, not an optimum.
4. Shortfall s (demand left after the allocation): the plan's own unmet units u0 are charged the unmet
   penalty as the plan did; the excess max(s − u0, 0) is rented on demand at the cheapest cloud option the
   workload may use (rent ÷ (1 − headroom) + carbon, per node-equivalent, ÷ tokens/s per node; billed per
   node-equivalent, not whole nodes) when that beats the penalty, else charged `unmet_usd_per_unit`.
5. Energy: kWh = node_kw · pue · 2,190 · (idle_frac · nodes present + (1 − idle_frac) · busy), paid at owned
   sites at usd_per_kwh × a mean-one lognormal per-site multiplier (log-sd `electricity_sigma`); carbon at
   carbon_usd_per_t everywhere. Ownership, maintenance, planned rent and unfinished training as in the plan.
6. TCO = Σ_q (1 + r)^(−q/4) · cost_q, exactly the optimiser's objective when every uncertainty is off and the
   plan's placement is what rule 3 picks.

Random numbers: number j of sample i is drawn from Threefry-2x32 (jax.random's generator) at key(seed) and
counter (i, j), so a sample's future does not depend on the batch size, the device or the number of devices, and
every evaluation (the mean, the gradient, the tornado) sees the same futures.

Performance (bench/bench_risk.py; 2-core shared CPU, float32, best of 3 runs, 2 JAX CPU devices): ~0.5 million
samples/s on the example (12 workloads × 8 quarters; ~50 million workload-quarter-samples/s) and ~18,000 on the
200 × 16 benchmark scenario (2,600 allocation steps; ~60 million), 10-12× the NumPy reference. What it rests on,
each measured here:
- Samples lie on the last (minor) axis of every array, so elementwise work runs over contiguous memory.
- The allocation is a loop over (workload, pool) pairs that updates one row of the state in place per step
  (see `_allocate`); it is the sequential core: ~2,600 steps of 3 kernels on the large case, ~60 % of the time.
- Threefry is written out on the whole [number, sample] grid (~5× jax.random's per-sample draws), and the noise
  is one compiled call and the statistics another (fused, the batch ran ~2× slower).
- Sums over a leading axis and over samples are matrix products (XLA's CPU reductions were 4-20× slower).
- Batches are small enough to stay in cache (`MAX_BATCH_ELEMENTS`); with one JAX CPU device per core
  (`use_all_cpu_cores`, called by the bench) each batch is split across the cores.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from models.errors import InputError, Problem
from models.quarters import HOURS_PER_QUARTER, QUARTERS_PER_YEAR
from models.risk_inputs import RiskInputs, RiskSettings, build_risk_inputs, risk_settings
from models.units import GRAMS_PER_TONNE

# A (quarter, workload) counts as short when more than this fraction of its demand is left unserved; float32
# round-off of a fully served demand stays far below it.
SHORTFALL_TOLERANCE_FRACTION = 1e-5
# ... and never for less than this many units (tokens/s): float32 residue where there is no demand at all.
SHORTFALL_TOLERANCE_UNITS = 1e-3
# Batches are sized so the allocation's state, [workload + pool, quarter, batch], holds at most this many numbers:
# memory stays bounded and the batch's arrays stay in cache (on the 2-core CPU, 0.6-1 million ran ~1.5x faster
# per sample than 4 million: XLA's CPU kernels here are memory-bound).
MAX_BATCH_ELEMENTS = 1_000_000
# Reverse-mode keeps a few [quarter, batch] residuals per (workload, pool) pair: a tighter bound.
MAX_GRADIENT_ELEMENTS = 48_000_000
GRADIENT_RESIDUALS_PER_PAIR = 4
# ... and at most this many samples per device: on the example (12 workloads x 8 quarters) 5,000 per device ran
# ~10 % faster than 4,096 (fewer batches; each of the 118 allocation steps' kernels longer), while at ~12,000
# per device the statistics call ran 2-3x slower per sample (measured on the 2-core CPU, 2 JAX devices).
MAX_BATCH_SAMPLES = 5000
TORNADO_STEP = 0.10  # ±10 %
HISTOGRAM_BINS = 30
DEVICES = ("cpu", "gpu")


# --- random numbers ---------------------------------------------------------------------------------------

# Threefry-2x32 with 20 rounds (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11): the
# counter-based generator behind jax.random, written out so it runs on a whole [number, sample] grid at once
# (the same function as jax.extend.random.threefry_2x32; ~5x faster here than jax.random's per-sample draws).
THREEFRY_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
THREEFRY_PARITY = 0x1BD11BDA


def _threefry2x32(k0, k1, x0, x1):
    def rotate_left(x, bits):
        return (x << np.uint32(bits)) | (x >> np.uint32(32 - bits))

    keys = (k0, k1, k0 ^ k1 ^ np.uint32(THREEFRY_PARITY))
    x0, x1 = x0 + k0, x1 + k1
    for block in range(5):
        for bits in THREEFRY_ROTATIONS[block % 2]:
            x0 = x0 + x1
            x1 = rotate_left(x1, bits) ^ x0
        x0 = x0 + keys[(block + 1) % 3]
        x1 = x1 + keys[(block + 2) % 3] + np.uint32(block + 1)
    return x0, x1


def _noise_shapes(a: dict) -> dict:
    """Per-sample shape of each noise array, in the order its numbers are drawn (normals first)."""
    n_workloads, n_quarters = a["demand"].shape
    return {"demand_z": (n_workloads, n_quarters), "common_z": (), "failure_z": tuple(a["nodes"].shape),
            "electricity_z": tuple(a["gco2_per_kwh"].shape), "slip_u": tuple(a["slip_nodes"].shape)}


def _draw_noise(key, indices, a: dict, dtype) -> dict:
    """The random numbers of the given sample indices, samples on the last axis.

    Number j of sample i comes from Threefry(key, counter (i, j)) alone, so a sample's future depends only on the
    seed and its index: not on the batch size, the device or how many devices share a batch. float32 takes 23
    bits of the first output word, float64 53 bits of both. Normals are sqrt(2)·erfinv(u), u uniform on (−1, 1)
    and symmetric about 0, as jax.random.normal does. Each number is computed where it is used (one counter per
    number, no slicing of a shared block), which lets XLA fuse the generator into its consumers.
    """
    real = jnp.dtype(dtype)
    noise, offset = {}, 0
    for name, shape in _noise_shapes(a).items():
        size = int(np.prod(shape))
        counter = (offset + jnp.arange(size, dtype=jnp.uint32)).reshape(shape + (1,))
        sample = indices.astype(jnp.uint32).reshape((1,) * len(shape) + (-1,))
        full = shape + (indices.shape[0],)
        high, low = _threefry2x32(key[0], key[1], jnp.broadcast_to(sample, full), jnp.broadcast_to(counter, full))
        if real == jnp.float32:  # unit = k · 2^-23 in [0, 1)
            unit = jax.lax.bitcast_convert_type((high >> np.uint32(9)) | np.uint32(0x3F800000), jnp.float32) - 1.0
            tiny = np.float32(2.0 ** -23)
        else:  # unit = k · 2^-53 in [0, 1)
            unit = (high.astype(real) * 2.0 ** 21 + (low >> np.uint32(11)).astype(real)) * 2.0 ** -53
            tiny = 2.0 ** -53
        if name == "slip_u":
            noise[name] = unit.astype(real)
        else:  # 2·unit − 1 + tiny is exact: u in [−1 + tiny, 1 − tiny]
            noise[name] = (np.sqrt(2.0) * jax.lax.erf_inv(2.0 * unit - 1.0 + tiny)).astype(real)
        offset += size
    return noise


def _key_words(seed: int) -> np.ndarray:
    """The two 32-bit key words of jax.random.key(seed) (any seed below 2**64)."""
    return np.array([(seed >> 32) & 0xFFFFFFFF, seed & 0xFFFFFFFF], dtype=np.uint32)


@jax.jit
def batch_noise(key, indices, a: dict) -> dict:
    """Noise of a batch of sample indices (samples last); shared by the gradient and the tornado."""
    return _draw_noise(key, indices, a, a["discount"].dtype)


def sample_noise(inputs: RiskInputs, seed: int, indices, float64: bool = False) -> dict:
    """The noise of the given sample indices as NumPy arrays, samples first: what the reference is fed."""
    with precision(float64):
        _, arrays = device_arrays(inputs, float64, resolve_device("cpu"))
        noise = jax.device_get(batch_noise(_key_words(seed), np.asarray(indices, dtype=np.uint32), arrays))
        return {key: np.moveaxis(np.asarray(value), -1, 0) for key, value in noise.items()}


# --- the cost of a batch of sampled futures ---------------------------------------------------------------

def _safe_sqrt(value):
    """sqrt with a zero (not infinite) derivative at 0, so a zero failure rate differentiates cleanly."""
    positive = value > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, value, 1.0)), 0.0)


def _allocate(capacity, demand, a):
    """Rule 3: serve the (workload, pool) pairs one at a time in their fixed order; returns (demand left,
    capacity left). Each step works on whole rows: one [quarter, sample] slab of a workload and of a pool.

    A step first takes what the previous pair served (carried) off its two rows, then computes what its own
    pair serves from the updated rows. So no row is read after it is overwritten, and XLA updates the state in
    place: computing and taking in the same step makes it copy the whole state every step (~100x slower).
    Taking is a one-row scatter-add, which XLA's CPU backend runs ~1.6x faster than a dynamic-update-slice.
    """
    workload, pool, rate = a["pair_workload"], a["pair_pool"], a["pair_rate"]
    active, cap = a["pair_active"], a["pair_cap"]
    row = {"mode": "promise_in_bounds", "unique_indices": True, "indices_are_sorted": True}

    def served_by(e, left_demand, left_capacity):
        wanted = jax.lax.dynamic_index_in_dim(left_demand, workload[e], keepdims=False)
        room = jax.lax.dynamic_index_in_dim(left_capacity, pool[e], keepdims=False)
        return jnp.minimum(wanted, jnp.minimum(room, cap[e][:, None]) * rate[e]) * active[e][:, None]

    def take(e, left_demand, left_capacity, served):
        return (left_demand.at[workload[e]].add(-served, **row),
                left_capacity.at[pool[e]].add(-(served / rate[e]), **row))

    def step(e, carry):
        left_demand, left_capacity = take(e - 1, *carry)
        return left_demand, left_capacity, served_by(e, left_demand, left_capacity)

    count = rate.shape[0]
    if count == 0:  # no inference service (training only): nothing to allocate
        return demand, capacity
    carry = jax.lax.fori_loop(1, count, step, (demand, capacity, served_by(0, demand, capacity)))
    return take(count - 1, *carry)


def _sum_first(x, weights=None):
    """Σ_i weights_i · x[i] over the first axis, as a matrix product: XLA's CPU reduction over a leading axis
    runs about 20× slower than this (measured on [200, 16, 1179] float32)."""
    weights = jnp.ones(x.shape[0], x.dtype) if weights is None else weights
    return (weights @ x.reshape(x.shape[0], -1)).reshape(x.shape[1:])


def batch_outcome(params: dict, a: dict, noise: dict) -> tuple:
    """Discounted TCO [sample] of a batch of futures, with shortfall, unmet units and demand [workload, quarter,
    sample]. Samples lie on the last axis, so every elementwise step runs over contiguous memory."""
    n_quarters = a["discount"].shape[0]
    quarter = jnp.arange(n_quarters, dtype=a["discount"].dtype)
    k, s = a["pool_sku"], a["pool_site"]
    owned = a["pool_owned"][:, None, None]
    batch = noise["common_z"].shape[-1]

    # 1. Capacity after slips and failures; training load first.
    slipped = jnp.where(noise["slip_u"] < a["slip_probability"], a["slip_nodes"][:, None], 0.0)  # [O, B]
    n_pools = a["nodes"].shape[0]
    cell = a["order_pool"] * n_quarters + a["order_in_service"]
    to_cell = (jnp.arange(n_pools * n_quarters)[:, None] == cell[None, :]).astype(slipped.dtype)
    missing = (to_cell @ slipped).reshape(n_pools, n_quarters, batch)
    present = jnp.maximum(a["nodes"][:, :, None] - missing, 0.0)
    rate = params["failure_rate"]
    spread = _safe_sqrt(rate * (1.0 - rate) / jnp.maximum(present, 1.0))
    down = jnp.clip(rate + spread * noise["failure_z"], 0.0, 1.0) * owned
    training = (a["train_busy"] / params["mfu_scale"])[:, :, None]
    capacity = jnp.maximum((1.0 - a["headroom"]) * present * (1.0 - down) - training, 0.0)

    # 2. Demand.
    forecast = a["demand"]
    first = forecast[:, :1]
    forecast = jnp.maximum(first + params["demand_growth"] * (forecast - first), 0.0)
    widening = jnp.sqrt(1.0 + a["sigma_growth_per_quarter"] * quarter)
    own_sd, common_sd = a["demand_sigma"] * widening, a["demand_common_sigma"] * widening
    log_factor = (own_sd[:, None] * noise["demand_z"] + common_sd[:, None] * noise["common_z"]
                  - (0.5 * (own_sd ** 2 + common_sd ** 2))[:, None])
    demand = forecast[:, :, None] * jnp.exp(log_factor)

    # 3. Allocation.
    shortfall, capacity_left = _allocate(capacity, demand, a)
    busy = capacity - capacity_left + training

    # 4. Shortfall: the plan's unmet at the penalty, the excess rented on demand or charged the penalty.
    penalty = a["unmet_usd_per_unit"]
    carbon_usd_per_kwh = a["gco2_per_kwh"] / GRAMS_PER_TONNE * params["carbon_usd_per_t"]
    o_sku, o_site = a["option_sku"], a["option_site"]
    option_kwh = a["node_kw"][o_sku] * params["pue"][o_site] * HOURS_PER_QUARTER
    option_usd_per_node = ((params["rent_usd_per_gpu_hour"][o_sku] * a["gpus_per_node"][o_sku] * HOURS_PER_QUARTER
                            + a["idle_frac"][o_sku] * option_kwh * carbon_usd_per_kwh[o_site]) / (1.0 - a["headroom"])
                           + (1.0 - a["idle_frac"][o_sku]) * option_kwh * carbon_usd_per_kwh[o_site])
    option_usd_per_unit = option_usd_per_node / a["option_rate"]  # [W, M]
    open_now = quarter[None, None, :] >= a["option_from"][:, :, None]  # [W, M, Q]
    rent_usd_per_unit = jnp.min(jnp.where(open_now, option_usd_per_unit[:, :, None], penalty), axis=1)  # [W, Q]
    excess_usd_per_unit = jnp.minimum(rent_usd_per_unit, penalty)[:, :, None]
    planned = jnp.minimum(shortfall, a["planned_unmet"][:, :, None])
    excess = shortfall - planned
    shortfall_usd = _sum_first(penalty * planned + excess_usd_per_unit * excess)  # [Q, B]
    unmet = planned + jnp.where((rent_usd_per_unit < penalty)[:, :, None], 0.0, excess)

    # 5. Energy, carbon, ownership, rent.
    kwh = (a["node_kw"][k] * params["pue"][s] * HOURS_PER_QUARTER)[:, None, None] * (
        a["idle_frac"][k][:, None, None] * present + (1.0 - a["idle_frac"][k])[:, None, None] * busy)
    electricity_sd = a["electricity_sigma"]
    usd_per_kwh = params["usd_per_kwh"][:, None] * jnp.exp(electricity_sd * noise["electricity_z"]
                                                           - 0.5 * electricity_sd ** 2)  # [S, B]
    energy_usd = _sum_first(kwh * usd_per_kwh[s][:, None, :])
    carbon_usd = _sum_first(kwh, carbon_usd_per_kwh[s])
    price = params["price_usd"][k][:, None]
    owned_nodes = a["nodes"] * a["pool_owned"][:, None]
    depreciation_usd = (1.0 - a["cash_mode"]) * (owned_nodes * price / a["life_quarters"][k][:, None]).sum(axis=0)
    capex_usd = a["cash_mode"] * jnp.zeros(n_quarters, dtype=price.dtype).at[a["order_quarter"]].add(
        a["order_nodes"] * params["price_usd"][a["order_sku"]])
    maintenance_usd = (owned_nodes * price * a["maint_frac_per_year"][k][:, None] / QUARTERS_PER_YEAR).sum(axis=0)
    rent_usd = (a["nodes"] * (1.0 - a["pool_owned"][:, None])
                * (params["rent_usd_per_gpu_hour"][k] * a["gpus_per_node"][k] * HOURS_PER_QUARTER)[:, None]).sum(axis=0)

    # 6. Discounted total.
    fixed_usd = depreciation_usd + capex_usd + maintenance_usd + rent_usd + a["unfinished_usd"]
    total_usd = fixed_usd[:, None] + energy_usd + carbon_usd + shortfall_usd
    return _sum_first(total_usd, a["discount"]), shortfall, unmet, demand


def evaluate_samples(inputs: RiskInputs, noise: dict, params: dict | None = None, float64: bool = True) -> tuple:
    """(TCO, shortfall, unmet, demand) of given noise (samples first) as NumPy arrays, samples first: for tests."""
    with precision(float64):
        base, arrays = device_arrays(inputs, float64, resolve_device("cpu"))
        if params is not None:
            base = {key: jnp.asarray(np.asarray(value), dtype=base[key].dtype) for key, value in params.items()}
        noise = {key: jnp.asarray(np.moveaxis(np.asarray(value), 0, -1), dtype=arrays["discount"].dtype)
                 for key, value in noise.items()}
        out = jax.device_get(jax.jit(batch_outcome)(base, arrays, noise))
        return tuple(np.moveaxis(np.asarray(x), -1, 0) for x in out)


def _statistics(params: dict, a: dict, noise: dict, weights) -> dict:
    """TCO per sample, and the batch's weighted sums of shortfall indicators and units (weights mask padding).
    The sums over samples are matrix-vector products: ~4x faster than XLA's CPU reductions here."""
    tco, shortfall, unmet, demand = batch_outcome(params, a, noise)
    threshold = jnp.maximum(SHORTFALL_TOLERANCE_FRACTION * demand, SHORTFALL_TOLERANCE_UNITS)
    short = (shortfall > threshold).astype(weights.dtype)
    return {
        "tco": tco,
        "short_count": short @ weights,
        "short_any_count": (_sum_first(short) > 0).astype(weights.dtype) @ weights,
        "shortfall_units": shortfall @ weights,
        "unmet_units": unmet @ weights,
    }


batch_statistics = jax.jit(_statistics)
_STATISTICS = ("tco", "short_count", "short_any_count", "shortfall_units", "unmet_units")


@jax.jit
def batch_gradient(params: dict, a: dict, noise: dict, weights):
    """Σ weight · TCO over the batch and its gradient with respect to every entry of `params`."""
    def total(p):
        return (weights * batch_outcome(p, a, noise)[0]).sum()

    return jax.value_and_grad(total)(params)


def _split_calls(mesh) -> tuple:
    """(noise, statistics) of one batch split across the mesh's devices along the sample axis. Each device draws
    its own samples' noise from their indices, so the result does not depend on the split. Two compiled calls,
    not one: with the generator in the same XLA program the batch ran ~2x slower (measured on the example)."""
    spec = jax.sharding.PartitionSpec

    def along_samples(tree):
        return jax.tree.map(lambda x: spec(*([None] * (np.ndim(x) - 1)), "samples"), tree)

    def noise(key, indices, a):
        return _draw_noise(key, indices, a, a["discount"].dtype)

    def statistics(params, a, noise, weights):
        out = _statistics(params, a, noise, weights)
        return {key: value if key == "tco" else jax.lax.psum(value, "samples") for key, value in out.items()}

    def noise_call(key, indices, a):
        shapes = jax.eval_shape(noise, key, indices, a)
        return jax.shard_map(noise, mesh=mesh, in_specs=(spec(), spec("samples"), spec()),
                             out_specs=along_samples(shapes), check_vma=False)(key, indices, a)

    def statistics_call(params, a, noise, weights):
        out_specs = {key: spec("samples") if key == "tco" else spec() for key in _STATISTICS}
        return jax.shard_map(statistics, mesh=mesh, in_specs=(spec(), spec(), along_samples(noise), spec("samples")),
                             out_specs=out_specs, check_vma=False)(params, a, noise, weights)

    return jax.jit(noise_call), jax.jit(statistics_call)


# --- driving the batches ----------------------------------------------------------------------------------

def resolve_device(device: str):
    if device not in DEVICES:
        raise InputError(Problem("--device", f"must be one of {', '.join(DEVICES)}, got {device!r}"))
    try:
        return jax.devices(device)[0]
    except RuntimeError:
        found = ", ".join(sorted({d.platform for d in jax.devices()}))
        raise InputError(Problem("--device", f"no {device.upper()} backend is available to JAX here (found: "
                                             f"{found}); use --device cpu")) from None


def use_all_cpu_cores() -> int:
    """Give JAX one CPU device per core, so the main run splits each batch across the cores (XLA runs one
    elementwise kernel on one thread). Call before JAX first touches a device (at process start: the bench and
    the command line); afterwards it changes nothing. Returns the CPU devices JAX will have."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    with contextlib.suppress(RuntimeError):  # the backend is already up: keep its devices
        jax.config.update("jax_num_cpu_devices", max(cores, 1))
    return len(jax.devices("cpu"))


def run_devices(target) -> list:
    """Devices the main run splits batches across: every CPU device JAX has (see `use_all_cpu_cores`) when
    running on the CPU, else the one accelerator."""
    return list(jax.devices("cpu")) if target.platform == "cpu" else [target]


def device_arrays(inputs: RiskInputs, float64: bool, device) -> tuple[dict, dict]:
    """params and arrays as JAX arrays of the run's dtype on the chosen device or sharding (ints stay int32)."""
    real = np.float64 if float64 else np.float32

    def cast(value):
        value = np.asarray(value)
        return value.astype(np.int32) if value.dtype.kind in "iub" and value.dtype != bool else value.astype(real)

    params = {key: cast(value) for key, value in inputs.params.items()}
    arrays = {key: cast(value) for key, value in inputs.arrays.items()}
    return jax.device_put(params, device), jax.device_put(arrays, device)


def batch_size_for(inputs: RiskInputs, gradient: bool = False) -> int:
    """Samples per batch: bounded by the [workload or pool, quarter, batch] state of the allocation, and for the
    gradient by the few [quarter, batch] residuals reverse-mode keeps per (workload, pool) pair."""
    n_workloads, n_quarters = inputs.arrays["demand"].shape
    per_sample = max(n_workloads + len(inputs.pools), 1) * n_quarters
    size = MAX_BATCH_ELEMENTS // per_sample
    if gradient:
        size = min(size, MAX_GRADIENT_ELEMENTS // (GRADIENT_RESIDUALS_PER_PAIR * n_quarters
                                                   * max(inputs.arrays["pair_rate"].size, 1)))
    return int(max(16, min(MAX_BATCH_SAMPLES, size)))


def shared_batch_sizes(inputs: RiskInputs, settings: RiskSettings) -> tuple[int, int]:
    """(main, sensitivity) batch sizes."""
    sensitivity = min(batch_size_for(inputs, gradient=True), settings.samples, settings.sensitivity_samples)
    return min(batch_size_for(inputs), settings.samples), sensitivity


def _even_batch(samples: int, limit: int, devices: int = 1) -> int:
    """The batch size for `samples` in batches of at most `limit` (per-device bound × devices), evened out so the
    last batch is not mostly padding, and a multiple of `devices` so each gets whole samples."""
    count = -(-samples // max(min(limit, samples), 1))
    batch = -(-samples // count)
    return -(-batch // devices) * devices


def _batches(samples: int, batch: int):
    """(first index, weights, samples used) per batch, padded to a fixed size so one compilation serves all.

    A batch may exceed `samples` (one sample on two devices is a batch of 2): the padding has weight 0."""
    for start in range(0, samples, batch):
        indices = np.arange(start, start + batch)
        yield start, (indices < samples).astype(np.float64), int(min(batch, samples - start))


@contextlib.contextmanager
def precision(float64: bool):
    """float64 on request, for this evaluation only."""
    with jax.enable_x64(bool(float64)):
        yield


_COMPILED: dict = {}


def _compiled(function, *args) -> tuple:
    """(executable, compile seconds now spent) of a jitted function for these arguments' shapes, dtypes and
    placements, through an ahead-of-time compilation cache, so timings can report compilation (paid once per
    shape, dtype and device) apart from the run."""
    signature = jax.tree.map(lambda x: (np.shape(x), str(getattr(x, "dtype", type(x).__name__)),
                                        str(getattr(x, "sharding", ""))), args)
    key = (function.__name__, str(signature))
    seconds = 0.0
    if key not in _COMPILED:
        started = time.perf_counter()
        _COMPILED[key] = function.lower(*args).compile()
        seconds = time.perf_counter() - started
    return _COMPILED[key], seconds


def _call(function, *args) -> tuple:
    """Call a jitted function through the compilation cache; returns (result, compile seconds now spent)."""
    executable, seconds = _compiled(function, *args)
    return executable(*args), seconds


def _noisy_batches(arrays, seed, samples, size, target, real, clock: dict):
    """(noise, weights, samples used) per batch, on the target device; compile time accrues in clock."""
    key = jax.device_put(_key_words(seed), target)
    for start, weights, used in _batches(samples, min(size, samples)):
        indices = jax.device_put(np.arange(start, start + len(weights), dtype=np.uint32), target)
        noise, seconds = _call(batch_noise, key, indices, arrays)
        clock["compile"] += seconds
        yield noise, jax.device_put(weights.astype(real), target), used


def simulate(inputs: RiskInputs, settings: RiskSettings, device="cpu", float64: bool = False,
             batch: int | None = None, progress: Callable[[int], None] | None = None) -> dict:
    """Main Monte-Carlo run: TCO of every sample plus shortfall sums. Returns NumPy arrays and timings.

    Each batch is split across `run_devices`; the next batch is dispatched before the last one is read back,
    so Python and the transfers overlap the computation.
    """
    target = resolve_device(device)
    devices = run_devices(target)
    with precision(float64):
        real = np.float64 if float64 else np.float32
        batch = _even_batch(settings.samples, batch or batch_size_for(inputs) * len(devices), len(devices))
        mesh = jax.sharding.Mesh(np.array(devices), ("samples",))
        replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
        split = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("samples"))
        params, arrays = device_arrays(inputs, float64, replicated)
        key = jax.device_put(_key_words(settings.seed), replicated)
        noise_call, statistics_call = _split_calls(mesh)
        tco, sums, compile_s = [], {}, 0.0
        started = time.perf_counter()

        def collect(out, used):
            out = jax.device_get(out)
            tco.append(np.asarray(out.pop("tco"), dtype=np.float64)[:used])
            for name, value in out.items():
                sums[name] = sums.get(name, 0.0) + np.asarray(value, dtype=np.float64)
            if progress:
                progress(used)

        pending, draw, evaluate = None, None, None
        for start, weights, used in _batches(settings.samples, batch):
            indices = jax.device_put(np.arange(start, start + len(weights), dtype=np.uint32), split)
            weights = jax.device_put(weights.astype(real), split)
            if draw is None:  # every batch has the same shapes: look the executables up once, not per batch
                draw, seconds = _compiled(noise_call, key, indices, arrays)
                compile_s += seconds
            noise = draw(key, indices, arrays)
            if evaluate is None:
                evaluate, seconds = _compiled(statistics_call, params, arrays, noise, weights)
                compile_s += seconds
            out = evaluate(params, arrays, noise, weights)
            if pending is not None:
                collect(*pending)
            pending = (out, used)
        collect(*pending)
        total_s = time.perf_counter() - started - compile_s
    return {"tco": np.concatenate(tco), "sums": sums, "batch": batch, "devices": len(devices), "seconds": total_s,
            "compile_seconds": compile_s}


def sensitivities(inputs: RiskInputs, settings: RiskSettings, device="cpu", float64: bool = False,
                  batch: int | None = None, progress: Callable[[int], None] | None = None) -> dict:
    """d E[TCO] / d input by reverse-mode AD, and E[TCO] at −10 % / +10 % of each input (common random numbers).

    One pass over the first `sensitivity_samples` samples: each batch's noise is drawn once and feeds the
    gradient and every tornado point (one `batch_statistics` call per point), so all see the same futures.
    """
    target = resolve_device(device)
    samples = min(settings.samples, settings.sensitivity_samples)
    with precision(float64):
        params, arrays = device_arrays(inputs, float64, target)
        real = np.float64 if float64 else np.float32
        points = [jax.device_put({key: np.asarray(value, dtype=real) for key, value in point.items()}, target)
                  for point in _tornado_parameters(inputs)]
        base_sum, grad_sum = 0.0, None
        tornado_sum = np.zeros(len(points))
        clock = {"compile": 0.0, "gradient": 0.0, "tornado": 0.0}
        for noise, weights, used in _noisy_batches(arrays, settings.seed, samples,
                                                   batch or batch_size_for(inputs, gradient=True),
                                                   target, real, clock):
            started = time.perf_counter()
            (value, grad), seconds = _call(batch_gradient, params, arrays, noise, weights)
            value, grad = jax.device_get((value, grad))
            clock["compile"] += seconds
            clock["gradient"] += time.perf_counter() - started - seconds
            base_sum += float(value)
            grad_sum = grad if grad_sum is None else jax.tree.map(lambda x, y: x + y, grad_sum, grad)
            if progress:
                progress(used)
            started, compiling, evaluate = time.perf_counter(), 0.0, None
            for i, point in enumerate(points):
                if evaluate is None:  # every point has the same shapes: look the executable up once per batch
                    evaluate, compiling = _compiled(batch_statistics, point, arrays, noise, weights)
                out = evaluate(point, arrays, noise, weights)
                tornado_sum[i] += float(np.dot(np.asarray(jax.device_get(out["tco"]), dtype=np.float64),
                                               np.asarray(weights, dtype=np.float64)))
            clock["tornado"] += time.perf_counter() - started - compiling
            clock["compile"] += compiling
            if progress:
                progress(used)

    rows = []
    for i, (label, key, index) in enumerate(inputs.sensitivity_inputs):
        derivative = np.asarray(grad_sum[key], dtype=np.float64)
        derivative = derivative if index is None else derivative[index]
        value = inputs.params[key] if index is None else inputs.params[key][index]
        rows.append({"input": label, "value": float(value),
                     "d_tco_usd_per_unit": float(derivative) / samples,
                     "tco_usd_at_minus_10pct": float(tornado_sum[2 * i]) / samples,
                     "tco_usd_at_plus_10pct": float(tornado_sum[2 * i + 1]) / samples})
    return {"rows": rows, "samples": samples, "tco_usd_base": base_sum / samples,
            "gradient_seconds": clock["gradient"], "tornado_seconds": clock["tornado"],
            "compile_seconds": clock["compile"]}


def _tornado_parameters(inputs: RiskInputs) -> list[dict]:
    """Parameter sets: input i at ×0.9 (entry 2i) and ×1.1 (entry 2i + 1), everything else nominal."""
    points = []
    for _, key, index in inputs.sensitivity_inputs:
        for factor in (1.0 - TORNADO_STEP, 1.0 + TORNADO_STEP):
            point = {name: np.array(value, dtype=np.float64, copy=True) for name, value in inputs.params.items()}
            if index is None:
                point[key] = point[key] * factor
            else:
                point[key][index] *= factor
            points.append(point)
    return points


# --- the RISK document ------------------------------------------------------------------------------------

def summarise(inputs: RiskInputs, settings: RiskSettings, run: dict, sens: dict, device: str,
              float64: bool, deterministic: bool) -> dict:
    """The RISK.json document (see README)."""
    tco = run["tco"]
    n = len(tco)
    p5, p50, p95, p99 = (float(v) for v in np.percentile(tco, [5, 50, 95, 99]))
    tail = tco[tco >= p95]
    lo, hi = float(tco.min()), float(tco.max())
    if hi <= lo:
        hi = lo + max(abs(lo) * 1e-9, 1.0)
    counts, edges = np.histogram(tco, bins=HISTOGRAM_BINS, range=(lo, hi))
    sums = run["sums"]
    shortfall = []
    real_workloads = len(inputs.workloads)
    for qi, quarter in enumerate(inputs.quarters):
        for wi in range(real_workloads):
            shortfall.append({
                "quarter": quarter, "workload": inputs.workloads[wi],
                "probability": float(sums["short_count"][wi, qi]) / n,
                "expected_unmet_units": float(sums["unmet_units"][wi, qi]) / n,
                "expected_shortfall_units": float(sums["shortfall_units"][wi, qi]) / n,
            })
    by_quarter = [{"quarter": quarter,
                   "probability": float(sums["short_any_count"][qi]) / n if real_workloads else 0.0,
                   "expected_unmet_units": float(sums["unmet_units"][:real_workloads, qi].sum()) / n,
                   "expected_shortfall_units": float(sums["shortfall_units"][:real_workloads, qi].sum()) / n}
                  for qi, quarter in enumerate(inputs.quarters)]
    by_workload = [{"workload": w,
                    "expected_unmet_units": float(sums["unmet_units"][wi].sum()) / n,
                    "expected_shortfall_units": float(sums["shortfall_units"][wi].sum()) / n}
                   for wi, w in enumerate(inputs.workloads)]
    mean = float(tco.mean())
    return {
        "samples": n, "seed": settings.seed, "device": device, "dtype": "float64" if float64 else "float32",
        "deterministic": deterministic,
        "settings": {key: getattr(settings, key) for key in settings.__dataclass_fields__},
        "plan_objective_usd": inputs.objective_usd,
        "tco_usd": {"mean": mean, "p5": p5, "p50": p50, "p95": p95, "p99": p99,
                    "cvar95": float(tail.mean()), "std": float(tco.std(ddof=1)) if n > 1 else 0.0},
        "histogram": {"bin_edges_usd": [float(e) for e in edges], "counts": [int(c) for c in counts]},
        "shortfall_probability": shortfall,
        "shortfall_by_quarter": by_quarter,
        "shortfall_by_workload": by_workload,
        "sensitivity_samples": sens["samples"],
        "sensitivity_tco_usd_base": sens["tco_usd_base"],
        "sensitivities": sens["rows"],
        "timing": {
            "compile_seconds": round(run["compile_seconds"] + sens["compile_seconds"], 4),
            "samples_seconds": round(run["seconds"], 4),
            "gradient_seconds": round(sens["gradient_seconds"], 4),
            "tornado_seconds": round(sens["tornado_seconds"], 4),
            "batch_size": run["batch"],
            "samples_per_second": round(n / run["seconds"], 1) if run["seconds"] > 0 else None,
            "workload_quarter_samples_per_second": round(n * max(real_workloads, 1) * len(inputs.quarters)
                                                         / run["seconds"], 1) if run["seconds"] > 0 else None,
        },
    }


def evaluate_plan(scenario, plan: dict, samples: int | None = None, seed: int | None = None, device: str = "cpu",
                  float64: bool = False, deterministic: bool = False,
                  progress: Callable[[int], None] | None = None) -> dict:
    """The RISK document of `plan` under `scenario`'s `risk:` distributions (see the module docstring).

    `progress`, if given, is called with a number of samples each time a batch finishes; the total it will be
    called for is `evaluation_work(scenario, samples, deterministic)`.
    """
    settings = risk_settings(scenario, samples=samples, seed=seed, deterministic=deterministic)
    resolve_device(device)
    inputs = build_risk_inputs(scenario, plan, settings)
    main_batch, sensitivity_batch = shared_batch_sizes(inputs, settings)
    run = simulate(inputs, settings, device=device, float64=float64, batch=main_batch, progress=progress)
    sens = sensitivities(inputs, settings, device=device, float64=float64, batch=sensitivity_batch,
                         progress=progress)
    return summarise(inputs, settings, run, sens, device, float64, deterministic)


def evaluation_work(scenario, samples: int | None = None, deterministic: bool = False) -> int:
    """Samples `evaluate_plan` reports to `progress` in all (main run, gradient pass, tornado pass)."""
    settings = risk_settings(scenario, samples=samples, deterministic=deterministic)
    sensitivity = min(settings.samples, settings.sensitivity_samples)
    return settings.samples + 2 * sensitivity

