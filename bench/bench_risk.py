"""Speed of the JAX risk evaluator against the NumPy reference, on the shipped example and a large generated scenario.

Prints one table: samples/s and workload-quarter-samples/s (inference workloads × quarters × samples per second)
for JAX float32, JAX float64 and the NumPy reference (float64), and JAX's speed-up over NumPy. Compilation is
timed apart (it is paid once per scenario shape) and excluded from the rates; both sides include drawing their
random numbers. Each rate is the best of `--repeats` runs (the machine may be shared). JAX gets one CPU device
per core (models.risk.use_all_cpu_cores) unless `--one-device`; NumPy runs on one core. Not a test: run it by hand.

    python bench/bench_risk.py [--samples 20000] [--numpy-samples 2000] [--example-plan PLAN.json] [--device cpu]
                               [--repeats 3] [--one-device]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import jax

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.make_large_scenario import write_large_scenario  # noqa: E402
from bench.numpy_reference import reference_noise, reference_outcome  # noqa: E402
from models.risk import simulate, use_all_cpu_cores  # noqa: E402
from models.risk_inputs import build_risk_inputs  # noqa: E402
from models.risk_settings import risk_settings  # noqa: E402
from planner.pipeline import plan_document, run_plan  # noqa: E402
from planner.scenario import load_scenario  # noqa: E402

EXAMPLE = ROOT / "data" / "examples" / "example" / "scenario.yaml"
NUMPY_BATCH = 500  # samples per NumPy call: large enough to vectorise, small enough for memory


def time_jax(inputs, settings, device: str, float64: bool, repeats: int) -> dict:
    first = simulate(inputs, settings, device=device, float64=float64)  # compiles (and warms the caches)
    seconds = min(simulate(inputs, settings, device=device, float64=float64)["seconds"] for _ in range(repeats))
    return {"seconds": seconds, "compile_seconds": first["compile_seconds"], "batch": first["batch"],
            "devices": first["devices"]}


def time_numpy(inputs, samples: int, seed: int, repeats: int) -> dict:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for start in range(0, samples, NUMPY_BATCH):
            count = min(NUMPY_BATCH, samples - start)
            noise = reference_noise(inputs.arrays, count, seed + start)
            reference_outcome(inputs.params, inputs.arrays, noise)
        best = min(best, time.perf_counter() - started)
    return {"seconds": best, "compile_seconds": 0.0, "batch": NUMPY_BATCH, "devices": 1}


def bench_case(name: str, scenario, plan: dict, samples: int, numpy_samples: int, device: str,
               repeats: int) -> list[dict]:
    settings = risk_settings(scenario, samples=samples)
    inputs = build_risk_inputs(scenario, plan, settings)
    cells = len(inputs.workloads) * len(inputs.quarters)
    rows = []
    numpy_time = time_numpy(inputs, numpy_samples, settings.seed, repeats)
    numpy_rate = numpy_samples / numpy_time["seconds"]
    for label, float64 in (("jax float32", False), ("jax float64", True)):
        timing = time_jax(inputs, settings, device, float64, repeats)
        rows.append({"case": name, "impl": label, "samples": samples, **timing})
    rows.append({"case": name, "impl": "numpy float64", "samples": numpy_samples, **numpy_time})
    for row in rows:
        row["samples_per_s"] = row["samples"] / row["seconds"]
        row["wq_samples_per_s"] = row["samples_per_s"] * cells
        row["vs_numpy"] = row["samples_per_s"] / numpy_rate
        row["shape"] = f"{len(inputs.workloads)} wl x {len(inputs.quarters)} q, {len(inputs.pools)} pools, " \
                       f"{inputs.sizes['pair']} (workload, pool) allocation steps"
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20000, help="JAX samples per case")
    parser.add_argument("--numpy-samples", type=int, default=2000, help="NumPy reference samples per case")
    parser.add_argument("--example-plan", type=Path, help="PLAN.json of the shipped example (default: solve it)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument("--workloads", type=int, default=200)
    parser.add_argument("--quarters", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per row; the best is reported")
    parser.add_argument("--one-device", action="store_true", help="JAX on one CPU device (one core)")
    args = parser.parse_args()
    if not args.one_device:
        use_all_cpu_cores()

    example = load_scenario(EXAMPLE)
    if args.example_plan:
        example_plan = json.loads(args.example_plan.read_text())
    else:
        print("solving the shipped example for its plan ...", file=sys.stderr)
        example_plan = plan_document(run_plan(example))
    rows = bench_case("example", example, example_plan, args.samples, args.numpy_samples, args.device, args.repeats)
    with tempfile.TemporaryDirectory() as folder:
        scenario_path, plan_path = write_large_scenario(Path(folder), args.workloads, args.quarters)
        large = load_scenario(scenario_path)
        rows += bench_case(f"large {args.workloads}x{args.quarters}", large, json.loads(plan_path.read_text()),
                           args.samples, args.numpy_samples, args.device, args.repeats)

    device = jax.devices(args.device)[0]
    jax_rows = [r for r in rows if r["impl"] == "jax float32"]
    print(f"device: {device.platform} ({device.device_kind}); JAX {jax.__version__}; "
          f"{jax_rows[0]['devices']} JAX device(s) share each batch; {os.cpu_count()} CPUs; "
          f"batch size (JAX) per case: {', '.join(str(r['batch']) for r in jax_rows)}; best of {args.repeats} runs")
    header = f"{'case':<16} {'implementation':<14} {'samples':>8} {'run s':>8} {'compile s':>9} " \
             f"{'samples/s':>12} {'wl-q-samples/s':>15} {'vs NumPy':>9}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(f"{row['case']:<16} {row['impl']:<14} {row['samples']:>8,} {row['seconds']:>8.3f} "
              f"{row['compile_seconds']:>9.2f} {row['samples_per_s']:>12,.0f} {row['wq_samples_per_s']:>15,.0f} "
              f"{row['vs_numpy']:>8.1f}x")
    for name in dict.fromkeys(row["case"] for row in rows):
        print(f"{name}: {next(r['shape'] for r in rows if r['case'] == name)}")
    print(f"(NumPy reference: {args.numpy_samples:,} samples per case, vectorised over batches of {NUMPY_BATCH} "
          "samples, one Python step per (workload, pool) pair; JAX: models.risk.simulate, compiled ahead)")


if __name__ == "__main__":
    main()
