"""Monte-Carlo risk of a plan, with exact sensitivities: `evaluate_plan` prices the plan's orders and rentals in
sampled futures with a pure JAX cost model, jit-compiled and batched over samples.

One concern per module:
- models/risk_settings.py    the `risk:` section: distributions, defaults, validation
- models/risk_inputs.py      scenario + PLAN.json → frozen dataclasses of labelled arrays (NumPy)
- models/risk_sampling.py    the random numbers of each future (Threefry, keyed by sample index)
- models/risk_allocation.py  how a future's demand meets its capacity (plan-first / cheapest-first)
- models/risk_costs.py       the cost of one future, line by line (the numbered model)
- models/risk_devices.py     devices, dtype, batch sizes, the split across devices, the compilation cache
- models/risk_summary.py     the RISK.json document
- this module                the runs (main, gradient and tornado passes) and `evaluate_plan`
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from models.risk_costs import batch_gradient, batch_outcome, batch_statistics
from models.risk_devices import (  # noqa: F401  (resolve_device, use_all_cpu_cores: the command line's)
    batch_size_for, batches, call, compiled, device_arrays, even_batch, precision, real_dtype, resolve_device,
    run_devices, shared_batch_sizes, split_calls, use_all_cpu_cores)
from models.risk_inputs import RiskInputs, RiskParams, build_risk_inputs
from models.risk_sampling import Noise, batch_noise, key_words
from models.risk_settings import RiskSettings, risk_settings
from models.risk_summary import summarise
from models.scenario import Scenario

TORNADO_STEP = 0.10  # ±10 %


def sample_noise(inputs: RiskInputs, seed: int, indices, float64: bool = False) -> Noise:
    """The noise of the given sample indices as NumPy arrays, samples first: what the reference is fed."""
    with precision(float64):
        _, arrays = device_arrays(inputs, float64, resolve_device("cpu"))
        noise = jax.device_get(batch_noise(key_words(seed), np.asarray(indices, dtype=np.uint32), arrays))
        return jax.tree.map(lambda value: np.moveaxis(np.asarray(value), -1, 0), noise)


def evaluate_samples(inputs: RiskInputs, noise: Noise, params: RiskParams | None = None,
                     float64: bool = True) -> dict:
    """The outcome of given noise (samples first) as NumPy arrays, samples first (for tests): tco_usd [sample],
    line_usd [sample, line], and demand, shortfall, on-demand and unmet tokens/s [sample, workload, quarter]."""
    with precision(float64):
        base, arrays = device_arrays(inputs, float64, resolve_device("cpu"))
        if params is not None:
            base = jax.tree.map(lambda mine, given: jnp.asarray(np.asarray(given), dtype=mine.dtype), base, params)
        noise = jax.tree.map(lambda value: jnp.asarray(np.moveaxis(np.asarray(value), 0, -1),
                                                       dtype=arrays.discount.dtype), noise)
        out = jax.device_get(jax.jit(batch_outcome)(base, arrays, noise))
        return {field.name: np.moveaxis(np.asarray(getattr(out, field.name)), -1, 0)
                for field in dataclasses.fields(out)}


def simulate(inputs: RiskInputs, settings: RiskSettings, device="cpu", float64: bool = False,
             batch: int | None = None, progress: Callable[[int], None] | None = None) -> dict:
    """Main Monte-Carlo run: TCO of every sample plus the sums of cost lines and shortfall measures. Returns NumPy
    arrays and timings.

    Each batch is split across `run_devices`; the next batch is dispatched before the last one is read back,
    so Python and the transfers overlap the computation.
    """
    target = resolve_device(device)
    devices = run_devices(target)
    with precision(float64):
        real = real_dtype(float64)
        batch = even_batch(settings.samples, batch or batch_size_for(inputs) * len(devices), len(devices))
        mesh = jax.sharding.Mesh(np.array(devices), ("samples",))
        replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
        split = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("samples"))
        params, arrays = device_arrays(inputs, float64, replicated)
        key = jax.device_put(key_words(settings.seed), replicated)
        noise_call, statistics_call = split_calls(mesh)
        tco, sums, compile_s = [], {}, 0.0
        started = time.perf_counter()

        def collect(out, used):
            out = jax.device_get(out)
            tco.append(np.asarray(out.pop("tco_usd"), dtype=np.float64)[:used])
            for name, value in out.items():
                sums[name] = sums.get(name, 0.0) + np.asarray(value, dtype=np.float64)
            if progress:
                progress(used)

        pending, draw, evaluate = None, None, None
        for start, weights, used in batches(settings.samples, batch):
            indices = jax.device_put(np.arange(start, start + len(weights), dtype=np.uint32), split)
            weights = jax.device_put(weights.astype(real), split)
            if draw is None:  # every batch has the same shapes: look the executables up once, not per batch
                draw, seconds = compiled(noise_call, key, indices, arrays)
                compile_s += seconds
            noise = draw(key, indices, arrays)
            if evaluate is None:
                evaluate, seconds = compiled(statistics_call, params, arrays, noise, weights)
                compile_s += seconds
            out = evaluate(params, arrays, noise, weights)
            if pending is not None:
                collect(*pending)
            pending = (out, used)
        collect(*pending)
        total_s = time.perf_counter() - started - compile_s
    return {"tco_usd": np.concatenate(tco), "sums": sums, "batch": batch, "devices": len(devices),
            "seconds": total_s, "compile_seconds": compile_s}


def _noisy_batches(arrays, seed, samples, size, target, real, clock: dict):
    """(noise, weights, samples used) per batch, on the target device; compile time accrues in clock."""
    key = jax.device_put(key_words(seed), target)
    for start, weights, used in batches(samples, min(size, samples)):
        indices = jax.device_put(np.arange(start, start + len(weights), dtype=np.uint32), target)
        noise, seconds = call(batch_noise, key, indices, arrays)
        clock["compile"] += seconds
        yield noise, jax.device_put(weights.astype(real), target), used


def tornado_parameters(inputs: RiskInputs) -> list[RiskParams]:
    """Parameter sets: input i at ×0.9 (entry 2i) and ×1.1 (entry 2i + 1), everything else nominal."""
    points = []
    for _, name, index in inputs.sensitivity_inputs:
        for factor in (1.0 - TORNADO_STEP, 1.0 + TORNADO_STEP):
            value = np.array(getattr(inputs.params, name), dtype=np.float64, copy=True)
            if index is None:
                value = value * factor
            else:
                value[index] *= factor
            points.append(dataclasses.replace(inputs.params, **{name: value}))
    return points


def sensitivities(inputs: RiskInputs, settings: RiskSettings, device="cpu", float64: bool = False,
                  batch: int | None = None, progress: Callable[[int], None] | None = None) -> dict:
    """d E[TCO] / d input by reverse-mode AD, and E[TCO] at −10 % / +10 % of each input (common random numbers),
    with the plan's purchases, fleet and placement held fixed.

    One pass over the first `sensitivity_samples` samples: each batch's noise is drawn once and feeds the
    gradient and every tornado point (one `batch_statistics` call per point), so all see the same futures.
    Returns means over that subsample: `tco_usd_base` (nominal inputs), `tco_usd_at_points` (per tornado
    point) and `d_tco_usd_per_unit` (per sensitivity input).
    """
    target = resolve_device(device)
    samples = min(settings.samples, settings.sensitivity_samples)
    with precision(float64):
        params, arrays = device_arrays(inputs, float64, target)
        real = real_dtype(float64)
        points = [jax.device_put(jax.tree.map(lambda value: np.asarray(value, dtype=real), point), target)
                  for point in tornado_parameters(inputs)]
        base_sum, grad_sum = 0.0, None
        tornado_sum = np.zeros(len(points))
        clock = {"compile": 0.0, "gradient": 0.0, "tornado": 0.0}
        for noise, weights, used in _noisy_batches(arrays, settings.seed, samples,
                                                   batch or batch_size_for(inputs, gradient=True),
                                                   target, real, clock):
            started = time.perf_counter()
            (value, grad), seconds = call(batch_gradient, params, arrays, noise, weights)
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
                    evaluate, compiling = compiled(batch_statistics, point, arrays, noise, weights)
                out = evaluate(point, arrays, noise, weights)
                tornado_sum[i] += float(np.dot(np.asarray(jax.device_get(out["tco_usd"]), dtype=np.float64),
                                               np.asarray(weights, dtype=np.float64)))
            clock["tornado"] += time.perf_counter() - started - compiling
            clock["compile"] += compiling
            if progress:
                progress(used)

    derivatives = []
    for _, name, index in inputs.sensitivity_inputs:
        derivative = np.asarray(getattr(grad_sum, name), dtype=np.float64)
        derivatives.append(float(derivative if index is None else derivative[index]) / samples)
    return {"samples": samples, "tco_usd_base": base_sum / samples,
            "tco_usd_at_points": [float(total) / samples for total in tornado_sum],
            "d_tco_usd_per_unit": derivatives, "gradient_seconds": clock["gradient"],
            "tornado_seconds": clock["tornado"], "compile_seconds": clock["compile"]}


def evaluate_plan(scenario: Scenario, plan: dict, samples: int | None = None, seed: int | None = None,
                  device: str = "cpu", float64: bool = False, deterministic: bool = False,
                  progress: Callable[[int], None] | None = None) -> dict:
    """The RISK document of `plan` under `scenario`'s `risk:` distributions (see models/risk_costs.py).

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


def evaluation_work(scenario: Scenario, samples: int | None = None, deterministic: bool = False) -> int:
    """Samples `evaluate_plan` reports to `progress` in all (main run, gradient pass, tornado pass)."""
    settings = risk_settings(scenario, samples=samples, deterministic=deterministic)
    sensitivity = min(settings.samples, settings.sensitivity_samples)
    return settings.samples + 2 * sensitivity
