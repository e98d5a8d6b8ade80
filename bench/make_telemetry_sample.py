"""Write data/telemetry/sample.csv: a synthetic DCGM/Prometheus-style export with a known ground truth.

Truth: for each (workload, SKU) of GROUND_TRUTH, a node at 100 % busy serves `correction` × the performance
model's tokens/s per node; each node has its own factor (N(1, NODE_SIGMA): cooling, firmware), each scrape its own
noise (N(1, SCRAPE_SIGMA)); utilisation is uniform in [0.3, 1.0]; GPU power = idle_w + (peak_w − idle_w) · u plus
N(0, POWER_SIGMA_W). Fitting it (`planner calibrate`) must recover `correction` within the fit's interval
(tests/test_telemetry.py). Run from the repository root: python bench/make_telemetry_sample.py
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from planner.scenario import load_scenario  # noqa: E402
from planner.telemetry import model_predictions  # noqa: E402

SEED = 20261207
NODES_PER_PAIR = 4
SCRAPES_PER_NODE = 48  # 12 minutes at one scrape every 15 s
SCRAPE_INTERVAL_S = 15
NODE_SIGMA = 0.03
SCRAPE_SIGMA = 0.05
POWER_SIGMA_W = 60.0
# (workload, sku): correction of the model's tokens/s per node
GROUND_TRUTH = {("chat-8b", "h100-80gb-x8"): 0.85, ("chat-70b", "h100-80gb-x8"): 1.05,
                ("chat-70b", "b200-x8"): 0.70}
# sku: (idle_w, peak_w) of the node's 8 GPUs together (H100 SXM 700 W TDP, B200 1,000 W; idle ~15 %)
GPU_POWER_W = {"h100-80gb-x8": (840.0, 5600.0), "b200-x8": (1200.0, 8000.0)}
SCENARIO = ROOT / "data" / "examples" / "example" / "scenario.yaml"
OUT = ROOT / "data" / "telemetry" / "sample.csv"


def sample_frame() -> pd.DataFrame:
    scenario = load_scenario(SCENARIO)
    predicted = model_predictions(scenario)
    rng = np.random.default_rng(SEED)
    start = datetime(2026, 11, 2, tzinfo=timezone.utc)
    rows = []
    for (workload, sku), correction in GROUND_TRUTH.items():
        truth = correction * float(predicted[(workload, sku)])
        idle_w, peak_w = GPU_POWER_W[sku]
        for n in range(NODES_PER_PAIR):
            node = f"{sku}-{workload}-{n + 1:02d}"
            factor = rng.normal(1.0, NODE_SIGMA)
            for s in range(SCRAPES_PER_NODE):
                u = rng.uniform(0.3, 1.0)
                rows.append({"timestamp": (start + timedelta(seconds=SCRAPE_INTERVAL_S * s)).isoformat(),
                             "node": node, "workload": workload, "sku": sku,
                             "precision": str(scenario.workloads.at[workload, "precision"]),
                             "tokens_per_s": round(truth * factor * u * rng.normal(1.0, SCRAPE_SIGMA), 1),
                             "gpu_power_w": round(idle_w + (peak_w - idle_w) * u + rng.normal(0, POWER_SIGMA_W), 1),
                             "utilisation": round(u, 4)})
    return pd.DataFrame(rows)


if __name__ == "__main__":
    OUT.parent.mkdir(parents=True, exist_ok=True)
    sample_frame().to_csv(OUT, index=False)
    print(f"wrote {OUT}")
