"""Re-planning from what was committed: the decisions a saved plan made before the as-of quarter, pinned.

A quarterly review does not plan from scratch: last quarters' orders are signed, rentals paid, training runs
partly done. `frozen_columns` marks those columns of the program (models/formulation.py); the re-plan is the same
MILP with them fixed at the saved plan's values, so it keeps a frozen order even where it is no longer optimal,
and everything from the as-of quarter on is re-decided on the scenario's current data (prices, demand, lead
times). Frozen: orders, facility builds and contract signings placed before as-of; rentals of quarters before
as-of; training work (busy node-equivalents, active quarters and spot node-hours) in quarters before as-of, and the pool of every run
that worked before as-of. Inference
placement of past quarters is re-derived (it carries nothing into the future); its cost is sunk either way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Variable families whose index has a quarter level, and that level's name.
QUARTER_LEVEL = {"orders": "order_quarter", "rentals": "quarter", "training_active": "quarter",
                 "facility_builds": "build_quarter", "contract_signings": "sign_quarter",
                 "spot_node_hours": "quarter"}  # spot rented for preemptible training (docs/datacenter-2026.md)


def _before(lp, name: str, as_of: int) -> np.ndarray:
    """Positions of family `name`'s columns whose quarter is before `as_of` (relative index)."""
    family = lp.variables[name]
    quarters = family.index.get_level_values(QUARTER_LEVEL.get(name, "quarter")).to_numpy()
    return family.positions[quarters < as_of]


def frozen_columns(model, plan_x: np.ndarray, as_of: int) -> np.ndarray:
    """Mask of the columns fixed by a re-plan at quarter index `as_of`, given the saved plan as a vector over the
    program's columns (models/stochastic.py `first_stage_from_plan`)."""
    lp = model.lp
    mask = np.zeros(lp.num_vars, dtype=bool)
    for name in QUARTER_LEVEL:
        if name in lp.variables:
            mask[_before(lp, name, as_of)] = True
    training = model.sets.placements["kind"].to_numpy() == "training"
    busy = lp.variables["busy"]
    past = busy.index.get_level_values("quarter").to_numpy() < as_of
    mask[busy.positions[training & past]] = True
    if "pool" in lp.variables:
        started = set(busy.index[training & past & (plan_x[busy.positions] > 0)].get_level_values("workload"))
        if "spot_node_hours" in lp.variables:  # a run that rented spot before as-of has started in its pool too
            spot = lp.variables["spot_node_hours"]
            worked = (spot.index.get_level_values("quarter").to_numpy() < as_of) & (plan_x[spot.positions] > 0)
            started |= set(spot.index[worked].get_level_values("workload"))
        pool = lp.variables["pool"]
        mask[pool.positions[pool.index.get_level_values("workload").isin(started)]] = True
    return mask


def sunk_and_remaining_usd(costs: list[dict], quarters: list[str], as_of_label: str) -> tuple[float, float]:
    """Discounted cost of the quarters before as-of (sunk: already spent or committed) and of the rest."""
    cut = quarters.index(as_of_label)
    past = {q for q in quarters[:cut]}
    sunk = sum(row["discounted_usd"] for row in costs if row["quarter"] in past)
    rest = sum(row["discounted_usd"] for row in costs if row["quarter"] not in past)
    return float(sunk), float(rest)


def committed_part(plan: dict, quarters: list[str], as_of_label: str) -> dict:
    """The saved plan cut to what was decided before as-of: its orders and training placement of earlier quarters
    (later orders may no longer even be decisions of the current data, e.g. after a lead-time slip)."""
    past = set(quarters[:quarters.index(as_of_label)])
    return {**plan, "purchases": [row for row in plan["purchases"] if row["quarter"] in past],
            "placement": [row for row in plan["placement"] if row["quarter"] in past],
            "rentals": [row for row in plan["rentals"] if row["quarter"] in past], "unfinished": [],
            "spot": [row for row in plan.get("spot") or [] if row["quarter"] in past]}


def with_rentals(model, x: np.ndarray, rentals: list[dict], horizon) -> np.ndarray:
    """`x` with the rentals columns set to the plan's rentals (nodes per quarter, site, SKU), as they were paid."""
    if "rentals" not in model.lp.variables or not rentals:
        return x
    x = x.copy()
    family = model.lp.variables["rentals"]
    frame = pd.DataFrame(rentals, columns=["quarter", "site", "sku", "nodes"])
    keys = pd.MultiIndex.from_arrays([[horizon.relative(q) for q in frame["quarter"]], frame["site"], frame["sku"]])
    at = family.index.get_indexer(keys)
    if (at < 0).any():
        raise ValueError(f"the plan's rentals {list(keys[at < 0])[:3]} are not decisions of this scenario")
    x[family.positions[at]] = frame["nodes"].to_numpy(dtype=float)
    return x
