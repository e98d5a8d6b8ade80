"""Rolling-horizon (myopic) planning: what a planner that sees only H quarters ahead would commit to.

Perfect foresight solves the whole horizon at once. A myopic planner, as in TIMES's time-stepped mode and PyPSA's
`optimize_with_rolling_horizon(horizon=H, overlap=O)`, solves windows of H quarters: window j covers quarters
[0, e_j) with e_j = min(n, s_j + H), s_j = j · (H − O); everything decided before s_j is frozen at the earlier
windows' choices (models/replan.py `frozen_columns`: orders, rentals, training work, the pools of started runs,
facility builds and contract signings), so decisions of the overlap's O quarters are re-decided by the next window,
as PyPSA overwrites them. The last window ends at n: it is the full program with the myopic past frozen, so its
objective is the myopic plan's TCO on exactly the perfect-foresight conventions, and

    cost of myopia = TCO(myopic plan) − TCO(perfect-foresight plan)   (both discounted, the same program).

What a window sees (`window_scenario`), and so where myopia comes from:
1. Quarters 0 … e_j − 1 only: demand, prices and the discounting of later quarters are not in view.
2. Lead times crossing the window: an order exists only if it is in service before e_j (models/sets.py), so a
   long-lead SKU cannot be ordered for a need beyond the window; a contract only if its whole term fits.
3. End of window: in depreciation mode the window charges a node only for its quarters in service inside it (the
   rest is book value, as at the horizon's end); in cash mode it charges the whole price, so late purchases look
   dearer to a short window than they are.
4. Training runs: a run that starts after the window is not in view; a run whose deadline is after it is seen on
   pace: deadline e_j − 1 and the share (e_j − start) / (deadline − start + 1) of its tokens, i.e. the work of its
   quarters inside the window. The work a window did is frozen; the next window asks for the rest.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from models.quarters import Horizon
from models.scenario import Scenario


def windows(quarters: int, horizon_quarters: int, overlap_quarters: int = 0) -> list[tuple[int, int]]:
    """(first re-decided quarter s_j, window end e_j) of each window, PyPSA's schedule: s_j = j · (H − O),
    e_j = min(n, s_j + H), until a window reaches n. 8 quarters, H = 3, O = 1: (0, 3), (2, 5), (4, 7), (6, 8)."""
    if horizon_quarters < 1:
        raise ValueError("the window must hold at least one quarter")
    if not 0 <= overlap_quarters < horizon_quarters:
        raise ValueError("the overlap must be smaller than the window")
    step = horizon_quarters - overlap_quarters
    out = []
    for start in range(0, quarters, step):
        end = min(quarters, start + horizon_quarters)
        out.append((start, end))
        if end == quarters:
            break
    return out


def window_scenario(scenario: Scenario, end: int) -> Scenario:
    """The scenario as a planner sees it who plans quarters 0 … end − 1 (module docstring, points 1 and 4); the
    scenario itself where the window reaches its horizon's end."""
    if end >= scenario.horizon.quarters:
        return scenario
    workloads = scenario.workloads
    training = (workloads["kind"] == "training").to_numpy()
    start = workloads["start"].to_numpy(dtype=float, na_value=0.0)
    deadline = workloads["deadline"].to_numpy(dtype=float, na_value=np.nan)
    visible = ~training | (start < end)
    workloads = workloads[visible].copy()
    start, deadline, training = start[visible], deadline[visible], training[visible]
    spans = training & (deadline >= end)
    if spans.any():
        share = (end - start[spans]) / (deadline[spans] - start[spans] + 1.0)
        rows = workloads.index[spans]
        workloads.loc[rows, "tokens_b"] = workloads.loc[rows, "tokens_b"].to_numpy(dtype=float) * share
        workloads.loc[rows, "deadline"] = end - 1
    kept = workloads.index
    return dataclasses.replace(
        scenario, horizon=Horizon(scenario.horizon.start, end), workloads=workloads,
        demand=scenario.demand[(scenario.demand["quarter"] < end) & scenario.demand["workload"].isin(kept)],
        throughput=scenario.throughput[scenario.throughput["workload"].isin(kept)])
