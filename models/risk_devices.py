"""Where and in what pieces the evaluator runs: devices, dtype, batch sizes, the split of a batch across devices,
and the ahead-of-time compilation cache.

What the speed rests on (bench/bench_risk.py; 2-core shared CPU, float32), each measured here:
- Samples lie on the last (minor) axis of every array, so elementwise work runs over contiguous memory.
- The allocation (models/risk_allocation.py) is a loop over (workload, pool) pairs that updates one row of the
  state in place per step; it is the sequential core: ~2,600 steps of 3 kernels on the large case, ~60 % of the
  time.
- Threefry is written out on the whole [number, sample] grid (~5× jax.random's per-sample draws), and the noise
  is one compiled call and the statistics another (fused, the batch ran ~2× slower).
- Sums over a leading axis and over samples are matrix products (XLA's CPU reductions were 4-20× slower).
- Batches are small enough to stay in cache (`MAX_BATCH_ELEMENTS`); with one JAX CPU device per core
  (`use_all_cpu_cores`, called by the bench and the command line) each batch is split across the cores.
"""

from __future__ import annotations

import contextlib
import os
import time

import jax
import numpy as np

from models.risk_costs import PER_SAMPLE_STATISTICS, STATISTICS, _statistics
from models.risk_inputs import RiskInputs
from models.risk_sampling import draw_noise
from models.risk_settings import RiskSettings
from models.errors import InputError, Problem

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
DEVICES = ("cpu", "gpu")


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


@contextlib.contextmanager
def precision(float64: bool):
    """float64 on request, for this evaluation only."""
    with jax.enable_x64(bool(float64)):
        yield


def real_dtype(float64: bool):
    return np.float64 if float64 else np.float32


def device_arrays(inputs: RiskInputs, float64: bool, device) -> tuple:
    """(params, arrays) as JAX arrays of the run's dtype on the chosen device or sharding (ints stay int32)."""
    real = real_dtype(float64)

    def cast(value):
        value = np.asarray(value)
        return value.astype(np.int32) if value.dtype.kind in "iub" and value.dtype != bool else value.astype(real)

    return jax.device_put(jax.tree.map(cast, inputs.params), device), jax.device_put(jax.tree.map(cast, inputs.arrays),
                                                                                     device)


def batch_size_for(inputs: RiskInputs, gradient: bool = False) -> int:
    """Samples per batch: bounded by the [workload or pool, quarter, batch] state of the allocation, and for the
    gradient by the few [quarter, batch] residuals reverse-mode keeps per (workload, pool) pair."""
    sizes = inputs.sizes
    n_quarters = sizes["quarter"]
    per_sample = max(sizes["workload"] + len(inputs.pools), 1) * n_quarters
    size = MAX_BATCH_ELEMENTS // per_sample
    if gradient:
        size = min(size, MAX_GRADIENT_ELEMENTS // (GRADIENT_RESIDUALS_PER_PAIR * n_quarters * max(sizes["pair"], 1)))
    return int(max(16, min(MAX_BATCH_SAMPLES, size)))


def shared_batch_sizes(inputs: RiskInputs, settings: RiskSettings) -> tuple[int, int]:
    """(main, sensitivity) batch sizes."""
    sensitivity = min(batch_size_for(inputs, gradient=True), settings.samples, settings.sensitivity_samples)
    return min(batch_size_for(inputs), settings.samples), sensitivity


def even_batch(samples: int, limit: int, devices: int = 1) -> int:
    """The batch size for `samples` in batches of at most `limit` (per-device bound × devices), evened out so the
    last batch is not mostly padding, and a multiple of `devices` so each gets whole samples."""
    count = -(-samples // max(min(limit, samples), 1))
    batch = -(-samples // count)
    return -(-batch // devices) * devices


def batches(samples: int, batch: int):
    """(first index, weights, samples used) per batch, padded to a fixed size so one compilation serves all.

    A batch may exceed `samples` (one sample on two devices is a batch of 2): the padding has weight 0."""
    for start in range(0, samples, batch):
        indices = np.arange(start, start + batch)
        yield start, (indices < samples).astype(np.float64), int(min(batch, samples - start))


_COMPILED: dict = {}


def compiled(function, *args) -> tuple:
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


def call(function, *args) -> tuple:
    """Call a jitted function through the compilation cache; returns (result, compile seconds now spent)."""
    executable, seconds = compiled(function, *args)
    return executable(*args), seconds


def split_calls(mesh) -> tuple:
    """(noise, statistics) of one batch split across the mesh's devices along the sample axis. Each device draws
    its own samples' noise from their indices, so the result does not depend on the split. Two compiled calls,
    not one: with the generator in the same XLA program the batch ran ~2x slower (measured on the example)."""
    spec = jax.sharding.PartitionSpec

    def along_samples(tree):
        return jax.tree.map(lambda x: spec(*([None] * (np.ndim(x) - 1)), "samples"), tree)

    def noise(key, indices, a):
        return draw_noise(key, indices, a, a.discount.dtype)

    def statistics(params, a, noise, weights):
        out = _statistics(params, a, noise, weights)
        return {key: value if key in PER_SAMPLE_STATISTICS else jax.lax.psum(value, "samples")
                for key, value in out.items()}

    def noise_call(key, indices, a):
        shapes = jax.eval_shape(noise, key, indices, a)
        return jax.shard_map(noise, mesh=mesh, in_specs=(spec(), spec("samples"), spec()),
                             out_specs=along_samples(shapes), check_vma=False)(key, indices, a)

    def statistics_call(params, a, noise, weights):
        out_specs = {key: spec("samples") if key in PER_SAMPLE_STATISTICS else spec() for key in STATISTICS}
        return jax.shard_map(statistics, mesh=mesh, in_specs=(spec(), spec(), along_samples(noise), spec("samples")),
                             out_specs=out_specs, check_vma=False)(params, a, noise, weights)

    return jax.jit(noise_call), jax.jit(statistics_call)
