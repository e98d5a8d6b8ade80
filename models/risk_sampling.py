"""Random numbers of the sampled futures: which numbers a future needs, and how each is drawn.

Number j of sample i is drawn from Threefry-2x32 (jax.random's generator) at key(seed) and counter (i, j), so a
sample's future does not depend on the batch size, the device or the number of devices, and every evaluation
(the mean, the gradient, the tornado) sees the same futures. Samples lie on the last axis of every array.

The numbers are laid out on the scenario's own grids, never on the plan's: failures on every (site, SKU,
quarter), slips on every (order quarter, site, SKU) an order could have. So sample i is the same future for every
plan of a scenario (common random numbers): two plans are compared on identical futures, and the two-stage
stochastic model (models/stochastic.py) is solved on exactly the futures `planner evaluate` then draws.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from models.risk_inputs import RiskArrays

# Threefry-2x32 with 20 rounds (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11): the
# counter-based generator behind jax.random, written out so it runs on a whole [number, sample] grid at once
# (the same function as jax.extend.random.threefry_2x32; ~5x faster here than jax.random's per-sample draws).
THREEFRY_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
THREEFRY_PARITY = 0x1BD11BDA


@dataclass(frozen=True)
class Noise:
    """The random numbers of a batch of futures, each array [its dims..., sample]. Fields are in the order their
    numbers are drawn (the counter runs through them), so adding one at the end keeps every existing draw."""

    demand_z: object  # [workload, quarter, sample] standard normal: own demand shock
    common_z: object  # [sample] standard normal: the demand shock shared by every workload and quarter
    failure_z: object  # [pool, quarter, sample] standard normal: failed fraction around its mean
    electricity_z: object  # [site, sample] standard normal: electricity price multiplier
    slip_u: object  # [order, sample] uniform on [0, 1): the order slips when below slip_probability
    throughput_z: object  # [pair, sample] standard normal: the pair's tokens/s per node within its stated interval


jax.tree_util.register_dataclass(Noise, data_fields=[f.name for f in dataclasses.fields(Noise)], meta_fields=[])
UNIFORM_NOISE = ("slip_u",)


def grid_shapes(workloads: int, quarters: int, sites: int, skus: int) -> dict[str, tuple[int, ...]]:
    """Per-sample shape of each noise array on the scenario's grids, in drawing order: demand [workload,
    quarter] (inference workloads, at least one), common [], failures [site, sku, quarter], electricity [site],
    slips [order quarter, site, sku], throughput [workload, sku] (last, so the earlier draws are unchanged)."""
    return {"demand_z": (workloads, quarters), "common_z": (), "failure_z": (sites, skus, quarters),
            "electricity_z": (sites,), "slip_u": (quarters, sites, skus), "throughput_z": (workloads, skus)}


def noise_shapes(a: RiskArrays) -> dict[str, tuple[int, ...]]:
    """The grids of `grid_shapes` for the scenario behind `a`."""
    workloads, quarters = a.demand_tokens_per_s.shape
    return grid_shapes(workloads, quarters, a.unit_costs.pue.shape[0], a.unit_costs.price_usd.shape[0])


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


def draw_noise(key, indices, a: RiskArrays, dtype) -> Noise:
    """The random numbers of the given sample indices for the plan behind `a`, samples on the last axis: the
    scenario's grids (`draw_grid_noise`) read at the plan's pools (failures), orders (slips) and (workload, pool)
    pairs (throughput: both allocation passes of a pair see one draw, as does every pool of its SKU)."""
    grid = draw_grid_noise(key, indices, noise_shapes(a), dtype)
    order_site = a.pools.site[a.orders.pool]
    return Noise(demand_z=grid["demand_z"], common_z=grid["common_z"],
                 failure_z=grid["failure_z"][a.pools.site, a.pools.sku],
                 electricity_z=grid["electricity_z"],
                 slip_u=grid["slip_u"][a.orders.order_quarter, order_site, a.orders.sku],
                 throughput_z=grid["throughput_z"][a.pairs.workload, a.pools.sku[a.pairs.pool]])


def draw_grid_noise(key, indices, shapes: dict[str, tuple[int, ...]], dtype) -> dict:
    """The random numbers of the given sample indices on the grids of `grid_shapes`, samples on the last axis.

    Number j of sample i comes from Threefry(key, counter (i, j)) alone, so a sample's future depends only on the
    seed and its index: not on the batch size, the device or how many devices share a batch. float32 takes 23
    bits of the first output word, float64 53 bits of both. Normals are sqrt(2)·erfinv(u), u uniform on (−1, 1)
    and symmetric about 0, as jax.random.normal does. Each number is computed where it is used (one counter per
    number, no slicing of a shared block), which lets XLA fuse the generator into its consumers.
    """
    real = jnp.dtype(dtype)
    noise, offset = {}, 0
    for name, shape in shapes.items():
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
        if name in UNIFORM_NOISE:
            noise[name] = unit.astype(real)
        else:  # 2·unit − 1 + tiny is exact: u in [−1 + tiny, 1 − tiny]
            noise[name] = (np.sqrt(2.0) * jax.lax.erf_inv(2.0 * unit - 1.0 + tiny)).astype(real)
        offset += size
    return noise


def key_words(seed: int) -> np.ndarray:
    """The two 32-bit key words of jax.random.key(seed) (any seed below 2**64)."""
    return np.array([(seed >> 32) & 0xFFFFFFFF, seed & 0xFFFFFFFF], dtype=np.uint32)


@jax.jit
def batch_noise(key, indices, a: RiskArrays) -> Noise:
    """Noise of a batch of sample indices (samples last); shared by the gradient and the tornado."""
    return draw_noise(key, indices, a, a.discount.dtype)
