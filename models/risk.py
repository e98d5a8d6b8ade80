"""Monte-Carlo risk of a plan, with exact sensitivities: a pure JAX cost model, jit-compiled and vmapped over samples.

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
   pair takes min(remaining demand, min(remaining capacity, cap) × rate). A `lax.scan` over levels of pairs
   that share no workload or pool (same result as one pair at a time), vectorised over quarters and samples. `risk.allocation` picks the passes:
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

Random numbers come from `fold_in(key(seed), sample index)`, so a sample's future does not depend on the batch
size or device, and every evaluation (the mean, the gradient, the tornado) sees the same futures.
"""

from __future__ import annotations

import contextlib
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from models.quarters import HOURS_PER_QUARTER
from models.risk_inputs import GRAMS_PER_TONNE, RiskInputs, RiskSettings, build_risk_inputs, risk_settings
from planner.errors import InputError, Problem

# A (quarter, workload) counts as short when more than this fraction of its demand is left unserved; float32
# round-off of a fully served demand stays far below it.
SHORTFALL_TOLERANCE_FRACTION = 1e-5
# Batches are sized so one [batch, workload, quarter] array holds at most this many numbers (bounded memory).
MAX_BATCH_ELEMENTS = 2_000_000
# Reverse-mode keeps a few [batch, quarter] residuals per (workload, pool) pair: a tighter bound.
MAX_GRADIENT_ELEMENTS = 48_000_000
MAX_BATCH_SAMPLES = 4096
TORNADO_STEP = 0.10  # ±10 %
HISTOGRAM_BINS = 30
DEVICES = ("cpu", "gpu")


# --- the cost of one sampled future ----------------------------------------------------------------------

def _safe_sqrt(value):
    """sqrt with a zero (not infinite) derivative at 0, so a zero failure rate differentiates cleanly."""
    positive = value > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, value, 1.0)), 0.0)


def _allocate(capacity, demand, a):
    """Rule 3: serve (workload, pool) pairs in their fixed order; returns (demand left, capacity left).

    Scans the pairs' levels (models/risk_inputs._levels): the pairs of a level share no workload and no pool,
    so serving them at once gives exactly the one-pair-at-a-time result in far fewer sequential steps.
    """
    width = a["level_rate"].shape[1]
    n_workloads, n_pools = demand.shape[0], capacity.shape[0]
    spare = jnp.zeros((width, demand.shape[1]), dtype=demand.dtype)

    def step(carry, level):
        left_demand, left_capacity = carry
        w, p, rate, active, cap = level
        wanted, room = left_demand[w], left_capacity[p]
        served = jnp.minimum(wanted, jnp.minimum(room, cap) * rate[:, None]) * active
        return (left_demand.at[w].set(wanted - served, unique_indices=True),
                left_capacity.at[p].set(room - served / rate[:, None], unique_indices=True)), None

    (left_demand, left_capacity), _ = jax.lax.scan(
        step, (jnp.concatenate([demand, spare]), jnp.concatenate([capacity, spare])),
        (a["level_workload"], a["level_pool"], a["level_rate"], a["level_active"], a["level_cap"]))
    return left_demand[:n_workloads], left_capacity[:n_pools]


def sample_outcome(params: dict, a: dict, noise: dict) -> tuple:
    """Discounted TCO of one future, with its shortfall and unmet units by (workload, quarter)."""
    n_quarters = a["discount"].shape[0]
    quarter = jnp.arange(n_quarters, dtype=a["discount"].dtype)
    k, s = a["pool_sku"], a["pool_site"]
    owned = a["pool_owned"][:, None]

    # 1. Capacity after slips and failures; training load first.
    slipped = jnp.where(noise["slip_u"] < a["slip_probability"], a["slip_nodes"], 0.0)
    missing = jnp.zeros_like(a["nodes"]).at[a["order_pool"], a["order_in_service"]].add(slipped)
    present = jnp.maximum(a["nodes"] - missing, 0.0)
    rate = params["failure_rate"]
    spread = _safe_sqrt(rate * (1.0 - rate) / jnp.maximum(present, 1.0))
    down = jnp.clip(rate + spread * noise["failure_z"], 0.0, 1.0) * owned
    training = a["train_busy"] / params["mfu_scale"]
    capacity = jnp.maximum((1.0 - a["headroom"]) * present * (1.0 - down) - training, 0.0)

    # 2. Demand.
    forecast = a["demand"]
    first = forecast[:, :1]
    forecast = jnp.maximum(first + params["demand_growth"] * (forecast - first), 0.0)
    widening = jnp.sqrt(1.0 + a["sigma_growth_per_quarter"] * quarter)
    own_sd, common_sd = a["demand_sigma"] * widening, a["demand_common_sigma"] * widening
    log_factor = own_sd * noise["demand_z"] + common_sd * noise["common_z"] - 0.5 * (own_sd ** 2 + common_sd ** 2)
    demand = forecast * jnp.exp(log_factor)

    # 3. Allocation.
    shortfall, capacity_left = _allocate(capacity, demand, a)
    busy = capacity - capacity_left + training

    # 4. Shortfall: the plan's unmet at the penalty, the excess rented on demand or charged the penalty.
    penalty = a["unmet_usd_per_unit"]
    carbon_usd_per_kwh = a["gco2_per_kwh"] / GRAMS_PER_TONNE * params["carbon_usd_per_t"]
    ok, os = a["option_sku"], a["option_site"]
    option_kwh = a["node_kw"][ok] * params["pue"][os] * HOURS_PER_QUARTER
    option_usd_per_node = ((params["rent_usd_per_gpu_hour"][ok] * a["gpus_per_node"][ok] * HOURS_PER_QUARTER
                            + a["idle_frac"][ok] * option_kwh * carbon_usd_per_kwh[os]) / (1.0 - a["headroom"])
                           + (1.0 - a["idle_frac"][ok]) * option_kwh * carbon_usd_per_kwh[os])
    option_usd_per_unit = option_usd_per_node / a["option_rate"]  # [W, M]
    open_now = quarter[None, None, :] >= a["option_from"][:, :, None]  # [W, M, Q]
    rent_usd_per_unit = jnp.min(jnp.where(open_now, option_usd_per_unit[:, :, None], penalty), axis=1)
    excess_usd_per_unit = jnp.minimum(rent_usd_per_unit, penalty)
    planned = jnp.minimum(shortfall, a["planned_unmet"])
    excess = shortfall - planned
    shortfall_usd = (penalty * planned + excess_usd_per_unit * excess).sum(axis=0)
    unmet = planned + jnp.where(rent_usd_per_unit < penalty, 0.0, excess)

    # 5. Energy, carbon, ownership, rent.
    kwh = (a["node_kw"][k] * params["pue"][s] * HOURS_PER_QUARTER)[:, None] * (
        a["idle_frac"][k][:, None] * present + (1.0 - a["idle_frac"][k])[:, None] * busy)
    electricity_sd = a["electricity_sigma"]
    usd_per_kwh = params["usd_per_kwh"] * jnp.exp(electricity_sd * noise["electricity_z"]
                                                  - 0.5 * electricity_sd ** 2)
    energy_usd = (kwh * usd_per_kwh[s][:, None]).sum(axis=0)
    carbon_usd = (kwh * carbon_usd_per_kwh[s][:, None]).sum(axis=0)
    price = params["price_usd"][k][:, None]
    owned_nodes = a["nodes"] * owned
    depreciation_usd = (1.0 - a["cash_mode"]) * (owned_nodes * price / a["life_quarters"][k][:, None]).sum(axis=0)
    capex_usd = a["cash_mode"] * jnp.zeros(n_quarters, dtype=price.dtype).at[a["order_quarter"]].add(
        a["order_nodes"] * params["price_usd"][a["order_sku"]])
    maintenance_usd = (owned_nodes * price * a["maint_frac_per_year"][k][:, None] / 4.0).sum(axis=0)
    rent_usd = (a["nodes"] * (1.0 - owned) * (params["rent_usd_per_gpu_hour"][k] * a["gpus_per_node"][k]
                                               * HOURS_PER_QUARTER)[:, None]).sum(axis=0)

    # 6. Discounted total.
    total_usd = (depreciation_usd + capex_usd + maintenance_usd + rent_usd + energy_usd + carbon_usd
                 + shortfall_usd + a["unfinished_usd"])
    return (total_usd * a["discount"]).sum(), shortfall, unmet, demand


def draw_noise(key, index, a: dict, dtype) -> dict:
    """The random numbers of sample `index` (independent of batch size and device): one normal and one
    uniform draw, sliced, because each separate draw adds to the compilation time."""
    n_workloads, n_quarters = a["demand"].shape
    shapes = {"demand_z": (n_workloads, n_quarters), "common_z": (), "failure_z": a["nodes"].shape,
              "electricity_z": a["gco2_per_kwh"].shape}
    sizes = [int(np.prod(shape)) for shape in shapes.values()]
    key = jax.random.fold_in(key, index)
    normal = jax.random.normal(key, (sum(sizes),), dtype)
    noise, start = {}, 0
    for (name, shape), size in zip(shapes.items(), sizes):
        noise[name] = normal[start:start + size].reshape(shape)
        start += size
    noise["slip_u"] = jax.random.uniform(jax.random.fold_in(key, 1), a["slip_nodes"].shape, dtype)
    return noise


@jax.jit
def batch_noise(seed, indices, a: dict) -> dict:
    """Noise of a batch of sample indices (samples first); shared by the statistics, gradient and tornado."""
    key = jax.random.key(seed)
    return jax.vmap(lambda i: draw_noise(key, i, a, a["discount"].dtype))(indices)


def sample_noise(inputs: RiskInputs, seed: int, indices, float64: bool = False) -> dict:
    """The noise of the given sample indices as NumPy arrays (samples first): what the reference is fed."""
    with precision(float64):
        _, arrays = device_arrays(inputs, float64, resolve_device("cpu"))
        noise = batch_noise(seed, np.asarray(indices, dtype=np.int32), arrays)
        return {key: np.asarray(value) for key, value in jax.device_get(noise).items()}


def evaluate_samples(inputs: RiskInputs, noise: dict, params: dict | None = None, float64: bool = True) -> tuple:
    """(TCO, shortfall, unmet, demand) of given noise (samples first) as NumPy arrays: for tests and checks."""
    with precision(float64):
        base, arrays = device_arrays(inputs, float64, resolve_device("cpu"))
        if params is not None:
            base = {key: jnp.asarray(np.asarray(value), dtype=base[key].dtype) for key, value in params.items()}
        noise = {key: jnp.asarray(np.asarray(value), dtype=arrays["discount"].dtype) for key, value in noise.items()}
        return tuple(np.asarray(x) for x in jax.device_get(jax.jit(_batch_tco)(base, arrays, noise)))


def _batch_tco(params, a, noise):
    return jax.vmap(sample_outcome, in_axes=(None, None, 0))(params, a, noise)


@jax.jit
def batch_statistics(params: dict, a: dict, noise: dict, weights) -> dict:
    """TCO per sample, and the batch's weighted sums of shortfall indicators and units (weights mask padding)."""
    tco, shortfall, unmet, demand = _batch_tco(params, a, noise)
    short = shortfall > SHORTFALL_TOLERANCE_FRACTION * demand
    w = weights[:, None, None]
    return {
        "tco": tco,
        "short_count": (w * short).sum(axis=0),
        "short_any_count": (weights[:, None] * short.any(axis=1)).sum(axis=0),
        "shortfall_units": (w * shortfall).sum(axis=0),
        "unmet_units": (w * unmet).sum(axis=0),
    }


@jax.jit
def batch_gradient(params: dict, a: dict, noise: dict, weights):
    """Σ weight · TCO over the batch and its gradient with respect to every entry of `params`."""
    def total(p):
        return (weights * _batch_tco(p, a, noise)[0]).sum()

    return jax.value_and_grad(total)(params)


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


def device_arrays(inputs: RiskInputs, float64: bool, device) -> tuple[dict, dict]:
    """params and arrays as JAX arrays of the run's dtype on the chosen device (ints stay int32)."""
    real = np.float64 if float64 else np.float32

    def cast(value):
        value = np.asarray(value)
        return value.astype(np.int32) if value.dtype.kind in "iub" and value.dtype != bool else value.astype(real)

    params = {key: cast(value) for key, value in inputs.params.items()}
    arrays = {key: cast(value) for key, value in inputs.arrays.items()}
    return jax.device_put(params, device), jax.device_put(arrays, device)


def batch_size_for(inputs: RiskInputs, gradient: bool = False) -> int:
    """Samples per batch: bounded by the [batch, workload, quarter] arrays, and for the gradient by the
    residuals reverse-mode keeps per level of the allocation scan."""
    n_workloads, n_quarters = inputs.arrays["demand"].shape
    per_sample = max(n_workloads + len(inputs.pools), 1) * n_quarters
    size = MAX_BATCH_ELEMENTS // per_sample
    if gradient:
        size = min(size, MAX_GRADIENT_ELEMENTS // (3 * n_quarters * max(inputs.arrays["level_rate"].size, 1)))
    return int(max(16, min(MAX_BATCH_SAMPLES, size)))


def shared_batch_sizes(inputs: RiskInputs, settings: RiskSettings) -> tuple[int, int]:
    """(main, sensitivity) batch sizes; equal when that costs little, so one compilation serves both passes."""
    sensitivity = min(batch_size_for(inputs, gradient=True), settings.samples, settings.sensitivity_samples)
    main = min(batch_size_for(inputs), settings.samples)
    return (sensitivity if 2 * sensitivity >= main else main), sensitivity


def _batches(samples: int, batch: int):
    """(indices, weights) per batch, padded to a fixed size so one compilation serves every batch."""
    batch = min(batch, samples)
    for start in range(0, samples, batch):
        indices = np.arange(start, start + batch, dtype=np.int32)
        yield indices, (indices < samples).astype(np.float64), int(min(batch, samples - start))


@contextlib.contextmanager
def precision(float64: bool):
    """float64 on request, for this evaluation only."""
    with jax.enable_x64(bool(float64)):
        yield


_COMPILED: dict = {}


def _call(function, *args) -> tuple:
    """Call a jitted function through an ahead-of-time compilation cache; returns (result, compile seconds now
    spent), so timings can report compilation (paid once per shape, dtype and device) apart from the run."""
    signature = jax.tree.map(lambda x: (np.shape(x), str(getattr(x, "dtype", type(x).__name__)),
                                        str(getattr(x, "device", ""))), args)
    key = (function.__name__, str(signature))
    seconds = 0.0
    if key not in _COMPILED:
        started = time.perf_counter()
        _COMPILED[key] = function.lower(*args).compile()
        seconds = time.perf_counter() - started
    return _COMPILED[key](*args), seconds


def _noisy_batches(arrays, seed, samples, size, target, real, clock: dict):
    """(noise, weights, samples used) per batch, on the target device; compile time accrues in clock."""
    for indices, weights, used in _batches(samples, min(size, samples)):
        noise, seconds = _call(batch_noise, seed, jax.device_put(indices, target), arrays)
        clock["compile"] += seconds
        yield noise, jax.device_put(weights.astype(real), target), used


def simulate(inputs: RiskInputs, settings: RiskSettings, device="cpu", float64: bool = False,
             batch: int | None = None, progress: Callable[[int], None] | None = None) -> dict:
    """Main Monte-Carlo run: TCO of every sample plus shortfall sums. Returns NumPy arrays and timings."""
    target = resolve_device(device)
    with precision(float64):
        params, arrays = device_arrays(inputs, float64, target)
        real = np.float64 if float64 else np.float32
        batch = min(batch or batch_size_for(inputs), settings.samples)
        tco, sums, clock = [], {}, {"compile": 0.0}
        started = time.perf_counter()
        for noise, weights, used in _noisy_batches(arrays, settings.seed, settings.samples, batch, target, real,
                                                   clock):
            out, seconds = _call(batch_statistics, params, arrays, noise, weights)
            clock["compile"] += seconds
            out = jax.device_get(out)
            tco.append(np.asarray(out.pop("tco"), dtype=np.float64)[:used])
            for key, value in out.items():
                sums[key] = sums.get(key, 0.0) + np.asarray(value, dtype=np.float64)
            if progress:
                progress(used)
        total_s = time.perf_counter() - started - clock["compile"]
    return {"tco": np.concatenate(tco), "sums": sums, "batch": batch, "seconds": total_s,
            "compile_seconds": clock["compile"]}


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
        for noise, weights, used in _noisy_batches(arrays, settings.seed, samples, batch or batch_size_for(inputs),
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
            started, compiling = time.perf_counter(), 0.0
            for i, point in enumerate(points):
                out, seconds = _call(batch_statistics, point, arrays, noise, weights)
                compiling += seconds
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

