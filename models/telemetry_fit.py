"""A fleet's own measurements turned into the planning model's throughput and power: fits with uncertainty.

Every operator has telemetry (DCGM exporter, Prometheus scrapes): per node and scrape, the tokens/s a workload
served, the GPUs' power and their utilisation. The performance model (models/performance.py) predicts tokens/s per
node from roofline physics and fitted efficiencies; a fleet's scrapes say what that node really does.

Throughput, per (workload, SKU):
- a scrape's capacity is tokens_per_s / utilisation: tokens/s per node at 100 % busy (the planning model's unit);
  scrapes below MIN_UTILISATION_FOR_FIT are left out (dividing by a small utilisation amplifies noise, and an idle
  node's tokens/s is set by latency, not capacity);
- scrapes of one node are averaged first (they are not independent: a node's own factor, e.g. its cooling or
  firmware, repeats in each), then the estimate is the mean of the node means, with a Student-t 95 % interval over
  nodes (none with one node);
- correction = estimate / model prediction; leave-one-node-out error = |mean of the other nodes − the node| /
  the node, per node, for pairs with two nodes or more.

Power, per SKU: the nodes' GPU power P = idle_w + (peak_w − idle_w) · utilisation by least squares over every
scrape; idle_frac = idle_w / peak_w (the catalog's idle_frac, but of the GPUs alone); leave-one-node-out error of
the fit's prediction of a node's mean power.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

MIN_UTILISATION_FOR_FIT = 0.2  # scrapes below 20 % busy are latency-bound, not capacity: left out of the fit
CONFIDENCE = 0.95


def _t_half_width(values: np.ndarray) -> float:
    """Half-width of the Student-t interval of the mean of `values` (NaN with fewer than two)."""
    n = len(values)
    if n < 2:
        return float("nan")
    return float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1) * np.std(values, ddof=1) / np.sqrt(n))


def node_capacities(scrapes: pd.DataFrame) -> pd.DataFrame:
    """Mean tokens/s per node at 100 % busy, per (workload, sku, node), from scrapes at or above the floor."""
    kept = scrapes[scrapes["utilisation"] >= MIN_UTILISATION_FOR_FIT]
    capacity = kept["tokens_per_s"] / kept["utilisation"]
    return (capacity.groupby([kept["workload"], kept["sku"], kept["node"]]).agg(["mean", "size"])
            .rename(columns={"mean": "tokens_per_s_per_node", "size": "scrapes"}).reset_index())


def fit_throughput(scrapes: pd.DataFrame, predicted: pd.Series) -> pd.DataFrame:
    """Per (workload, sku): nodes, scrapes, measured tokens/s per node with its 95 % half-width, the model's
    prediction (`predicted`, indexed by (workload, sku)), the correction, and the leave-one-node-out errors."""
    nodes = node_capacities(scrapes)
    rows = []
    for (workload, sku), group in nodes.groupby(["workload", "sku"], sort=True):
        values = group["tokens_per_s_per_node"].to_numpy(dtype=float)
        estimate = float(values.mean())
        loo = _leave_one_out_errors(values)
        model = float(predicted.get((workload, sku), np.nan))
        rows.append({"workload": workload, "sku": sku, "nodes": len(values), "scrapes": int(group["scrapes"].sum()),
                     "tokens_per_s_per_node": estimate, "ci95_tokens_per_s_per_node": _t_half_width(values),
                     "model_tokens_per_s_per_node": model,
                     "correction": estimate / model if model > 0 else float("nan"),
                     "loo_median_error": float(np.median(loo)) if len(loo) else float("nan"),
                     "loo_max_error": float(np.max(loo)) if len(loo) else float("nan")})
    return pd.DataFrame(rows, columns=["workload", "sku", "nodes", "scrapes", "tokens_per_s_per_node",
                                       "ci95_tokens_per_s_per_node", "model_tokens_per_s_per_node", "correction",
                                       "loo_median_error", "loo_max_error"])


def _leave_one_out_errors(values: np.ndarray) -> np.ndarray:
    """|mean of the others − value| / value for each value (empty with fewer than two values)."""
    n = len(values)
    if n < 2:
        return np.zeros(0)
    others = (values.sum() - values) / (n - 1)
    return np.abs(others - values) / values


def _line(utilisation: np.ndarray, power_w: np.ndarray) -> tuple[float, float]:
    """Least-squares idle_w and peak_w of P = idle + (peak − idle)·u."""
    slope, intercept = np.polyfit(utilisation, power_w, 1)
    return float(intercept), float(intercept + slope)


def fit_power(scrapes: pd.DataFrame) -> pd.DataFrame:
    """Per SKU: idle_w, peak_w, idle_frac of the nodes' GPU power, and the leave-one-node-out error of the
    fit's prediction of each node's mean power (median and max, relative)."""
    rows = []
    for sku, group in scrapes.groupby("sku", sort=True):
        u, p = group["utilisation"].to_numpy(dtype=float), group["gpu_power_w"].to_numpy(dtype=float)
        if len(np.unique(u)) < 2:
            continue  # one utilisation level cannot separate idle from peak
        idle_w, peak_w = _line(u, p)
        errors = []
        for node in group["node"].unique():
            mine = (group["node"] == node).to_numpy()
            if len(np.unique(u[~mine])) < 2:
                continue
            idle, peak = _line(u[~mine], p[~mine])
            predicted = idle + (peak - idle) * u[mine].mean()
            errors.append(abs(predicted - p[mine].mean()) / p[mine].mean())
        rows.append({"sku": sku, "scrapes": len(group), "nodes": int(group["node"].nunique()), "idle_w": idle_w,
                     "peak_w": peak_w, "idle_frac": idle_w / peak_w if peak_w > 0 else float("nan"),
                     "loo_median_error": float(np.median(errors)) if errors else float("nan"),
                     "loo_max_error": float(np.max(errors)) if errors else float("nan")})
    return pd.DataFrame(rows, columns=["sku", "scrapes", "nodes", "idle_w", "peak_w", "idle_frac",
                                       "loo_median_error", "loo_max_error"])
