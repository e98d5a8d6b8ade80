"""Scenario reduction: K representative futures with probabilities, in place of N equally likely ones.

The extensive form grows with N (models/stochastic_limits.py), so `plan --stochastic 1000 --reduce-to K` solves it
on K futures chosen by **fast forward selection** (Heitsch & Römisch 2003, "Scenario reduction algorithms in
stochastic programming", Computational Optimization and Applications 24, algorithm 2.4), then prices the plan on
all N. With futures ξ_i of probability p_i and distances c_ij = ‖ξ_i − ξ_j‖₂:

1. u_1 = argmin_u Σ_{i ≠ u} p_i c_iu; J = {1 … N} \\ {u_1}.
2. For k = 2 … K: c_iu ← min(c_iu, c_i,u_{k−1}) for i, u ∈ J; u_k = argmin_{u ∈ J} Σ_{i ∈ J \\ {u}} p_i c_iu;
   J ← J \\ {u_k}.
3. Redistribution: each future left out gives its probability to its nearest selected future, so the selected
   probabilities add up to 1 (the optimal redistribution for the Kantorovich distance, their theorem 2).

A set of N futures with only K distinct ones is reduced exactly: the duplicates are at distance 0, selection takes
one of each, and each keeps the probability of its copies.
"""

from __future__ import annotations

import numpy as np


def fast_forward_selection(points: np.ndarray, count: int,
                           probabilities: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(indices of the `count` selected points in selection order, their probabilities after redistribution);
    `points` [N, d], `probabilities` [N] (None: 1/N each). Ties go to the lowest index."""
    points = np.asarray(points, dtype=float)
    n = len(points)
    if not 1 <= count <= n:
        raise ValueError(f"cannot select {count} of {n} futures")
    p = np.full(n, 1.0 / n) if probabilities is None else np.asarray(probabilities, dtype=float)
    squared = (points * points).sum(axis=1)
    distance = np.sqrt(np.maximum(squared[:, None] + squared[None, :] - 2.0 * points @ points.T, 0.0))
    np.fill_diagonal(distance, 0.0)
    left = np.ones(n, dtype=bool)
    selected: list[int] = []
    cost = distance.copy()
    for _ in range(count):
        if selected:
            cost = np.minimum(cost, cost[:, [selected[-1]]])
        score = (p * left) @ cost  # Σ_{i ∈ J} p_i c_iu (c_uu = 0)
        score[~left] = np.inf
        chosen = int(np.argmin(score))
        selected.append(chosen)
        left[chosen] = False
    indices = np.asarray(selected)
    nearest = indices[np.argmin(distance[:, indices], axis=1)]
    nearest[indices] = indices  # a selected future keeps its own probability (ties among duplicates)
    weights = np.zeros(n)
    np.add.at(weights, nearest, p)
    return indices, weights[indices]


def future_features(demand_factor: np.ndarray, electricity_factor: np.ndarray) -> np.ndarray:
    """[future, feature]: what the distance compares, the demand factor of every (workload, quarter) and the
    electricity factor of every site (both multiplicative, about 1, so unscaled). Failures are not compared: the
    selected futures keep their own failures, but the reduction does not aim to represent them."""
    count = demand_factor.shape[0]
    return np.concatenate([demand_factor.reshape(count, -1), electricity_factor.reshape(count, -1)], axis=1)
