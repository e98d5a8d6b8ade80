"""The allocation rule: how the demand of one sampled future meets the capacity it finds (rule 3 of the model in
models/risk_costs.py).

(workload, pool) pairs are served in one fixed order (models/risk_inputs.py `_allocation_order`: cheapest marginal
busy $ per tokens/s first); each pair takes min(remaining demand, min(remaining capacity, cap) × rate). The order
and the caps encode `risk.allocation`:
- plan-first (default): a first pass over the pairs the plan uses, each capped at the plan's node-equivalents,
  then an uncapped cheapest-first pass over every pair for what is left. It reproduces the plan's placement
  exactly when nothing is uncertain, and sends surprises to the cheapest free capacity.
- cheapest-first: the uncapped pass alone. This is the optimiser's own choice when one workload uses the pools
  (its LP fills the cheapest busy share first too); with several it is a dispatch rule, not an optimum.

Capacity versus demand is compared with a relative tolerance: a pair serves the whole of what its workload still
wants when that exceeds what the pair can serve by less than `ALLOCATION_TOLERANCE_ULPS` machine epsilons of the
scale of its quantities (the larger of its pool's capacity and its workload's forecast, in tokens/s). Where the
plan's capacity exactly meets demand, float32 rounding otherwise left ~1e-7 of the demand unserved and priced it
at the unmet penalty (0.43 % of the TCO on a small case with a $1 M penalty); with the tolerance a deterministic
float32 evaluation reproduces the plan to ~1e-7. A real shortfall (beyond the tolerance) is untouched: the pair
then serves exactly what it can.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from models.risk_inputs import RiskArrays

# A pair serves all that is wanted when it falls short by at most this many machine epsilons (of the run's dtype)
# times the scale of its quantities: max(its pool's nominal capacity in tokens/s, its workload's forecast). The
# rounding of an exact fit stays within ~10 epsilons of that scale (a few products and one subtraction per pair);
# 64 leaves a margin and is still far below any shortfall that matters (float32: 7.6e-6 of the scale; float64:
# 1.4e-14).
ALLOCATION_TOLERANCE_ULPS = 64


def served_slack(a: RiskArrays, dtype) -> jnp.ndarray:
    """[pair, quarter]: by how much (tokens/s) a pair may fall short and still serve all that is wanted."""
    pairs = a.pairs
    pool_units = pairs.tokens_per_s_per_node[:, None] * (1.0 - a.headroom) * a.pools.nodes[pairs.pool]
    scale = jnp.maximum(pool_units, a.demand_tokens_per_s[pairs.workload])
    return ALLOCATION_TOLERANCE_ULPS * jnp.finfo(dtype).eps * scale


def allocate(capacity, demand, a: RiskArrays, rate) -> tuple:
    """Serve the (workload, pool) pairs one at a time in their fixed order at tokens/s per node `rate` [pair,
    sample] (each future's own); returns (demand left [workload, quarter, sample], node-equivalents served [pool,
    quarter, sample]). Each step works on whole rows: one
    [quarter, sample] slab of a workload and of a pool.

    A step first takes what the previous pair served (carried) off its two rows, then computes what its own
    pair serves from the updated rows. So no row is read after it is overwritten, and XLA updates the state in
    place: computing and taking in the same step makes it copy the whole state every step (~100x slower).
    Taking is a one-row scatter-add, which XLA's CPU backend runs ~1.6x faster than a dynamic-update-slice.
    """
    pairs = a.pairs
    workload, pool = pairs.workload, pairs.pool
    active, cap = pairs.active, pairs.cap_node_equivalents
    slack = served_slack(a, demand.dtype)
    row = {"mode": "promise_in_bounds", "unique_indices": True, "indices_are_sorted": True}

    def served_by(e, left_demand, left_capacity):
        wanted = jax.lax.dynamic_index_in_dim(left_demand, workload[e], keepdims=False)
        room = jax.lax.dynamic_index_in_dim(left_capacity, pool[e], keepdims=False)
        can = jnp.maximum(jnp.minimum(room, cap[e][:, None]), 0.0) * rate[e][None, :]  # room < 0: served in full
        return jnp.where(wanted <= can + slack[e][:, None], wanted, can) * active[e][:, None]

    def take(e, left_demand, left_capacity, served):
        return (left_demand.at[workload[e]].add(-served, **row),
                left_capacity.at[pool[e]].add(-(served / rate[e][None, :]), **row))

    def step(e, carry):
        left_demand, left_capacity = take(e - 1, *carry)
        return left_demand, left_capacity, served_by(e, left_demand, left_capacity)

    carry = jax.lax.fori_loop(1, rate.shape[0], step, (demand, capacity, served_by(0, demand, capacity)))
    left_demand, left_capacity = take(rate.shape[0] - 1, *carry)
    return left_demand, capacity - left_capacity  # what the pairs served of each pool
