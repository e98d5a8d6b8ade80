"""Optimiser benchmark: model build and solve times per backend on the shipped example (or a given scenario).

Prints one table; ratios are against SCIP measured in the same run (never asserted in tests).
    python bench/bench_plan.py [SCENARIO] [--time-limit S]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.formulation import build_plan_model  # noqa: E402
from models.performance import estimate_performance  # noqa: E402
from models.sets import build_sets  # noqa: E402
from models.solve import solve  # noqa: E402
from planner.resources import example_scenario_path  # noqa: E402
from planner.scenario import load_scenario  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("scenario", nargs="?", default=str(example_scenario_path()))
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--gap", type=float, default=0.005)
    parser.add_argument("--backends", default="scip,highs,cbc,cp-sat")
    args = parser.parse_args()

    scenario = load_scenario(args.scenario)
    started = time.perf_counter()
    performance = estimate_performance(scenario.catalog, scenario.workloads, scenario.throughput)
    sets = build_sets(scenario, performance)
    model = build_plan_model(scenario, sets)
    build_s = time.perf_counter() - started
    lp = model.lp
    print(f"{scenario.name}: {lp.num_vars:,} variables ({int(lp.integer.sum()):,} integer), {lp.num_rows:,} rows, "
          f"{lp.matrix().nnz:,} nonzeros; build {build_s:.2f} s")
    print(f"{'backend':<8} {'status':<20} {'objective $':>18} {'gap':>8} {'solve s':>8} {'vs scip':>8}")
    reference = None
    for backend in args.backends.split(","):
        result = solve(lp, backend=backend, time_limit_s=args.time_limit, gap=args.gap)
        reference = reference or result.seconds
        gap = f"{result.gap:.3%}" if result.gap is not None else "n/a"
        objective = f"{result.objective:,.2f}" if result.objective is not None else "-"
        print(f"{backend:<8} {result.status:<20} {objective:>18} {gap:>8} {result.seconds:>8.2f} "
              f"{result.seconds / reference:>7.2f}x")


if __name__ == "__main__":
    main()
