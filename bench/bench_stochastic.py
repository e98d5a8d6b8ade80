"""Two-stage stochastic plan vs the deterministic plan on the shipped example, across seeds (run by hand).

    python bench/bench_stochastic.py [--samples 50] [--seeds 0,1,2,3,4] [--out-of-sample 4000]

Per seed: wall time of `plan --stochastic N` (deterministic solve, extensive form, forecast re-solve, in-sample
figures), in-sample expected TCO of both plans (recourse solved optimally) and the VSS, then `planner evaluate`
(plan-first allocation) of both plans on 4,000 fresh futures (seed + 1): E[TCO], P95, CVaR95; and evaluate's
plan-first E[TCO] of the stochastic plan on the very futures it was solved on (float64), against the in-sample LP
figure. Out-of-sample optimal recourse: `evaluate --allocation optimal` on the same 4,000 fresh futures.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.risk import evaluate_plan
from planner.resources import example_scenario_path
from planner.scenario import load_scenario
from planner.stochastic import out_of_sample, run_stochastic_plan


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--out-of-sample", type=int, default=4000)
    args = parser.parse_args()
    scenario = load_scenario(example_scenario_path())
    print("| seed | plan s | in-sample E[TCO] det / stoch $M | VSS $M | out of sample, plan-first: E[TCO] det / stoch "
          "$M | change | P95 det / stoch $M | CVaR95 det / stoch $M | out of sample, optimal recourse: E[TCO] det / "
          "stoch $M | change | plan-first on the in-sample futures $M |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for seed in map(int, args.seeds.split(",")):
        started = time.perf_counter()
        run = run_stochastic_plan(scenario, args.samples, seed=seed)
        seconds = time.perf_counter() - started
        figures = run.document["stochastic"]
        risk = out_of_sample(scenario, run, samples=args.out_of_sample)
        det, sto = risk["comparison"]["plans"]["deterministic"], risk["comparison"]["plans"]["stochastic"]
        odet, osto = (risk["comparison"]["optimal_recourse"][k] for k in ("deterministic", "stochastic"))
        same = evaluate_plan(scenario, run.document, samples=args.samples, seed=seed, float64=True)
        m = 1e6
        print(f"| {seed} | {seconds:.0f} | {figures['deterministic_expected_tco_usd'] / m:.1f} / "
              f"{figures['expected_tco_usd'] / m:.1f} | {figures['vss_usd'] / m:.1f} | {det['mean_usd'] / m:.1f} / "
              f"{sto['mean_usd'] / m:.1f} | {sto['mean_usd'] / det['mean_usd'] - 1:+.1%} | {det['p95_usd'] / m:.1f} / "
              f"{sto['p95_usd'] / m:.1f} | {det['cvar95_usd'] / m:.1f} / {sto['cvar95_usd'] / m:.1f} | "
              f"{odet['mean_usd'] / m:.1f} / {osto['mean_usd'] / m:.1f} | "
              f"{osto['mean_usd'] / odet['mean_usd'] - 1:+.1%} "
              f"| {same['tco_usd']['mean'] / m:.1f} |", flush=True)

if __name__ == "__main__":
    main()
