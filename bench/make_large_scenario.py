"""Write a large scenario (default 200 inference workloads × 16 quarters) and a plan for it, for bench_risk.py.

The plan is built by a simple rule, not the optimiser (a MILP of this size is not what the benchmark measures):
every workload runs on one of its three fastest eligible SKUs at one of three owned sites (round-robin), and each pool is given
the nodes its workloads need at forecast demand, bought in the quarter it is first needed (the shipped catalog's
lead times are honoured by ordering early; nodes not yet deliverable in the first quarter become fleet). The
evaluator only needs the plan's tables, so this is enough to time it.

    python bench/make_large_scenario.py OUT_DIR [--workloads 200] [--quarters 16] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.performance import estimate_performance  # noqa: E402
from models.quarters import format_quarter, parse_quarter  # noqa: E402
from planner.resources import shipped_catalog_path  # noqa: E402
from planner.scenario import load_scenario  # noqa: E402

SITES = pd.DataFrame({
    "site": ["virginia", "texas", "oregon", "cloud"], "kind": ["owned", "owned", "owned", "cloud"],
    "power_mw": [400.0, 400.0, 400.0, np.nan], "pue": [1.3, 1.15, 1.1, 1.15],
    "usd_per_kwh": [0.09, 0.066, 0.075, np.nan], "gco2_per_kwh": [270.0, 365.0, 288.0, 270.0],
    "racks": [20000.0, 20000.0, 20000.0, np.nan]})
MODEL_SIZES_B = [8, 13, 34, 70, 405]
PRECISIONS = ["bf16", "fp8", "int8", "int4"]
HEADROOM = 0.1


def write_large_scenario(folder: Path, workloads: int = 200, quarters: int = 16, seed: int = 0) -> tuple[Path, Path]:
    """Return (scenario.yaml, plan.json) paths."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"svc-{i:03d}" for i in range(workloads)]
    frame = pd.DataFrame({
        "workload": names, "kind": "inference", "params_b": rng.choice(MODEL_SIZES_B, workloads),
        "precision": rng.choice(PRECISIONS, workloads), "tokens_b": np.nan, "start": "", "deadline": "",
        "context_tokens": rng.choice([2000, 4000, 8000], workloads), "min_tokens_per_s_per_user": "",
        "sites": "", "mfu": ""})
    frame.to_csv(folder / "workloads.csv", index=False)
    SITES.to_csv(folder / "sites.csv", index=False)
    start = parse_quarter("2027Q1")
    labels = [format_quarter(start + q) for q in range(quarters)]
    base = rng.lognormal(np.log(20_000), 1.0, workloads)
    growth = rng.uniform(0.0, 0.08, workloads)
    demand = base[:, None] * (1 + growth[:, None]) ** np.arange(quarters)[None]
    pd.DataFrame({"workload": np.repeat(names, quarters), "quarter": labels * workloads,
                  "tokens_per_s": demand.ravel().round(1)}).to_csv(folder / "demand.csv", index=False)
    config = {"name": f"large-{workloads}x{quarters}", "start": labels[0], "quarters": quarters,
              "catalog": str(shipped_catalog_path()), "sites": "sites.csv", "workloads": "workloads.csv",
              "demand": "demand.csv",
              "finance": {"discount_rate": 0.08, "capex_mode": "depreciation", "carbon_usd_per_t": 50,
                          "unmet_usd_per_unit": 1000},
              "planning": {"headroom": HEADROOM}, "solver": {"backend": "highs", "time_limit_s": 60}}
    scenario_path = folder / "scenario.yaml"
    scenario_path.write_text(yaml.safe_dump(config, sort_keys=False))

    scenario = load_scenario(scenario_path)
    plan = _rule_plan(scenario, demand, names, labels)
    plan_path = folder / "plan.json"
    plan_path.write_text(json.dumps(plan))
    return scenario_path, plan_path


def _rule_plan(scenario, demand: np.ndarray, names: list[str], labels: list[str]) -> dict:
    performance = estimate_performance(scenario.catalog, scenario.workloads, scenario.throughput).reset_index()
    eligible = performance[performance["eligible"]].sort_values(["workload", "tokens_per_s_per_node"],
                                                                 ascending=[True, False])
    choices = {name: rows for name, rows in eligible.groupby("workload")}
    owned = ["virginia", "texas", "oregon"]
    placement, need = [], {}
    for i, name in enumerate(names):
        if name not in choices:
            continue
        rows = choices[name]
        pick = rows.iloc[(i // 3) % min(3, len(rows))]  # one of its three fastest SKUs, so pools are varied
        site, sku_name = owned[i % 3], pick["sku"]
        rate = float(pick["tokens_per_s_per_node"])
        busy = demand[i] / rate
        need[(site, sku_name)] = need.get((site, sku_name), 0.0) + busy
        placement += [{"quarter": q, "workload": name, "site": site, "sku": sku_name, "node_equivalents": float(b),
                       "units": float(b * rate)} for q, b in zip(labels, busy)]
    fleet, purchases = [], []
    for (site, sku_name), busy in need.items():
        nodes = np.ceil(np.maximum.accumulate(busy / (1 - HEADROOM)))
        lead = int(scenario.catalog.at[sku_name, "lead_quarters"])
        added = np.diff(np.concatenate([[0.0], nodes]))
        for q, count in enumerate(added):
            if count > 0 and q >= lead:
                purchases.append({"quarter": labels[q - lead], "site": site, "sku": sku_name, "nodes": float(count),
                                  "in_service": labels[q], "capex_usd": 0.0})
        fleet += [{"quarter": q, "site": site, "sku": sku_name, "nodes": float(n)} for q, n in zip(labels, nodes)]
    return {"scenario": scenario.name, "status": "rule-based", "objective_usd": None,
            "horizon": {"start": labels[0], "quarters": labels}, "purchases": purchases, "rentals": [],
            "fleet": fleet, "placement": placement, "unmet": [], "unfinished": []}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--workloads", type=int, default=200)
    parser.add_argument("--quarters", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    scenario_path, plan_path = write_large_scenario(args.out_dir, args.workloads, args.quarters, args.seed)
    print(f"wrote {scenario_path} and {plan_path}")


if __name__ == "__main__":
    main()
