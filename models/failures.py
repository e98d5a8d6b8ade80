"""Hardware failures (issue 21, item 4): what a node's failure rate and repair time cost in usable capacity, and
what a training run loses to the interruptions they cause (docs/datacenter-2026.md, "Failures").

1. Availability. A node of SKU k fails `afr_per_node_year[k]` times a year and is out for `repair_hours[k]` each
   time, so it is in service a fraction a[k] = 1 − afr · repair_hours / 8,760 of the time (the steady-state
   availability of an alternating renewal process, repairs short against the time between failures). Work may
   use a[k] of the nodes in service: busy ≤ (1 − headroom) · a[k] · nodes.
2. Checkpoint loss. A run on N nodes is interrupted at rate N · afr / 8,760 per hour: a job MTBF of
   M = 8,760 / (N · afr) hours. Checkpointing every τ hours (each write costing δ hours of the run) loses, per
   interruption, half an interval of work on average and a restart of R hours, so the expected lost fraction is
   f = δ/τ + (τ/2 + R)/M, least at Young's interval τ* = sqrt(2 δ M) (Young 1974; Daly 2006 to first order),
   where f = sqrt(2 δ / M) + R / M. The run then needs node_hours / (1 − f) node-hours.
   N is the run's planned pool, evaluated before the solve so the program stays linear: the nodes that finish
   the run's undisrupted node-hours in its window (at least its minimum nodes; the minimum nodes when it has no
   deadline).

Calibration (Llama Team 2024, "The Llama 3 Herd of Models", §3.3.4): 54 days of Llama 3 405B pre-training on
16,384 H100 (2,048 nodes of 8) had 419 unexpected interruptions (148 faulty GPUs, 72 HBM3) and "higher than 90%
effective training time". That is 1.383 interruptions per node-year and a job MTBF of 3.09 h. The paper gives no
checkpoint or restart times; δ = 30 s (an asynchronous snapshot) and R = 4 min are chosen so that the model gives
90.5 % at those figures (tests/test_failures_spot.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.units import HOURS_PER_YEAR, SECONDS_PER_HOUR  # 8,760 h: the year an annual failure rate counts

CHECKPOINT_WRITE_HOURS = 30.0 / SECONDS_PER_HOUR  # δ: estimate (asynchronous checkpoint snapshot); calibrated, see above
RESTART_HOURS = 4.0 / 60.0  # R: estimate (detect, reschedule, reload the last checkpoint); calibrated, see above
FAILURE_COLUMNS = ("afr_per_node_year", "repair_hours")  # optional catalog columns; empty = no failures

# Llama 3 405B (Llama Team 2024, §3.3.4 and Table 5), the calibration point.
LLAMA3_INTERRUPTIONS = 419
LLAMA3_DAYS = 54
LLAMA3_GPUS = 16_384
LLAMA3_GPUS_PER_NODE = 8
LLAMA3_EFFECTIVE_TIME_FRACTION = 0.90  # "higher than 90%"


def failure_columns(catalog: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """afr_per_node_year and repair_hours by SKU, 0 where the catalog leaves them out."""
    return tuple(pd.to_numeric(catalog[name], errors="coerce").fillna(0.0) if name in catalog.columns
                 else pd.Series(0.0, index=catalog.index) for name in FAILURE_COLUMNS)


def failures_apply(catalog: pd.DataFrame) -> bool:
    """Whether any SKU states a failure rate (otherwise the program is the one without failures)."""
    afr, _ = failure_columns(catalog)
    return bool((afr > 0).any())


def availability(catalog: pd.DataFrame) -> pd.Series:
    """a[k] = 1 − afr_per_node_year · repair_hours / 8,760, by SKU (1 without failure columns)."""
    afr, repair_hours = failure_columns(catalog)
    return (1.0 - afr * repair_hours / HOURS_PER_YEAR).rename("availability")


def job_mtbf_hours(nodes, afr_per_node_year):
    """M = 8,760 / (N · afr): hours between interruptions of a job on N nodes (inf without failures)."""
    rate = np.asarray(nodes, dtype=float) * np.asarray(afr_per_node_year, dtype=float)
    with np.errstate(divide="ignore"):
        return np.where(rate > 0, HOURS_PER_YEAR / np.where(rate > 0, rate, 1.0), np.inf)


def young_daly_interval_hours(mtbf_hours, write_hours: float = CHECKPOINT_WRITE_HOURS):
    """τ* = sqrt(2 δ M): the checkpoint interval that loses least."""
    return np.sqrt(2.0 * write_hours * np.asarray(mtbf_hours, dtype=float))


def lost_fraction(mtbf_hours, write_hours: float = CHECKPOINT_WRITE_HOURS, restart_hours: float = RESTART_HOURS):
    """f = δ/τ* + (τ*/2 + R)/M at Young's interval: the share of a run's time lost to checkpoints and interruptions
    (0 without failures)."""
    m = np.asarray(mtbf_hours, dtype=float)
    finite = np.isfinite(m)
    safe = np.where(finite, m, 1.0)
    tau = young_daly_interval_hours(safe, write_hours)
    return np.where(finite, write_hours / tau + (tau / 2.0 + restart_hours) / safe, 0.0)


def effective_time_fraction(nodes, afr_per_node_year):
    """1 − f at N nodes: the share of a run's node-hours that trains (1 without failures)."""
    return 1.0 - lost_fraction(job_mtbf_hours(nodes, afr_per_node_year))


def run_nodes(node_hours, min_nodes, window_hours):
    """The pool a run is planned at: node_hours / window hours, at least min_nodes (min_nodes without a deadline)."""
    window = np.asarray(window_hours, dtype=float)
    spread = np.where(np.isfinite(window) & (window > 0), np.asarray(node_hours, dtype=float)
                      / np.where(np.isfinite(window) & (window > 0), window, 1.0), 0.0)
    return np.maximum(np.nan_to_num(spread, nan=0.0), np.asarray(min_nodes, dtype=float))


def llama3_interruptions_per_node_year() -> float:
    """419 interruptions / (2,048 nodes × 54 days): 1.383 per node-year."""
    node_years = LLAMA3_GPUS / LLAMA3_GPUS_PER_NODE * LLAMA3_DAYS * 24.0 / HOURS_PER_YEAR
    return LLAMA3_INTERRUPTIONS / node_years
