"""Golden fingerprints of every test scenario: the LP, PLAN.json, the report tables and RISK.json, bit for bit.

`tests/test_golden.py` recomputes them and compares: a refactor that is meant to change nothing (issue 20: one owner
for the money conventions) proves it by leaving every fingerprint unchanged. Each fingerprint is a SHA-256 of a
canonical dump (JSON, keys sorted, floats written by `repr`, which round-trips exactly), kept per part (one per
variable family, constraint family, PLAN.json field, report table, RISK.json field) so a failure names the part.

What is fingerprinted, per scenario:
- lp: every variable family (its labels, bounds, integrality, objective coefficients) and every constraint family
  (its labels, row bounds and coefficients, each coefficient named by its variable's family and labels), in
  canonical order: families by name, labels sorted, so the order in which the model is built does not matter but
  every number does; plus the objective offset.
- plan: PLAN.json as `planner plan` writes it (the optimum and its baselines, solved with the scenario's own
  solver settings), less what depends on the machine or the moment: `solve_seconds`, `build_seconds`,
  `tool_version`, and the input paths (made relative to the repository; their SHA-256s stay).
- tables: every report table `reports/tables.py` `build_tables` makes of that plan (the workbook's and CSV's
  figures).
- risk_inputs: every labelled array the risk evaluator prices that plan with (`models/risk_inputs.py`), and, for
  the worked example alone (JAX compiles for ~10 s), RISK.json itself with every uncertainty off
  (`deterministic=True`), less `timing` and `device`.

What each scenario gets is in SCENARIOS. Times measured on the shared 2-core build machine: the shipped
`example` and its `high-growth` variant take 17 s and 35 s to solve (and 14 s and 25 s more for the baselines),
so they keep their LP fingerprint only: the LP is what the money conventions feed, and it builds in a second.
`example-h100-only` solves in 2.5 s but its baselines take 12-28 s (time-limited solves, so not even
reproducible under load): its plan is fingerprinted without them, `baselines` empty.

When a change is MEANT to change behaviour (a new cost convention or cost parameter such as cooling, contracts or
fabric, a changed shipped example or catalog under data/, a changed test case under tests/cases/, a new PLAN.json or
RISK.json field, a new constraint, a new solver default), regenerate and commit the new goldens in the same commit,
saying why:

    .venv/bin/python tests/golden/regenerate.py            # all scenarios
    .venv/bin/python tests/golden/regenerate.py nvl72      # one

and read `git diff tests/golden/` to check that only the parts you meant to change moved (the parts are named:
`lp.parts.constraints:power`, `plan.costs`, `tables.fleet`, ...). History: the money refactor of issue 20 moved
`tables.fleet` alone, by design (a fleet row's carbon_t became kWh × (g/kWh / 10^6), the cost lines' own order:
at most 1 ulp).
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent
ROOT_PREFIX = f"{ROOT}/"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

LP, PLAN, BASELINES, RISK = "lp", "plan", "baselines", "risk"
# name -> (scenario file relative to the repository, what is fingerprinted beyond the LP)
SCENARIOS = {
    "worked-example": ("tests/cases/worked-example/scenario.yaml", (PLAN, BASELINES, RISK)),
    "nvl72": ("tests/cases/nvl72/scenario.yaml", (PLAN, BASELINES)),
    "example": ("data/examples/example/scenario.yaml", ()),
    "example-h100-only": ("data/examples/example/h100-only.yaml", (PLAN,)),
    "example-high-growth": ("data/examples/example/high-growth.yaml", ()),
    "moe_2026": ("data/examples/moe_2026/scenario.yaml", (PLAN, BASELINES)),
}
PLAN_VOLATILE_FIELDS = ("solve_seconds", "build_seconds", "tool_version")
RISK_VOLATILE_FIELDS = ("timing", "device")
RISK_SAMPLES = 8


def canonical(value):
    """Plain JSON-able value with exact floats; NaN and infinities as strings (JSON has neither)."""
    if isinstance(value, dict):
        return {str(key): canonical(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical(item) for item in value]
    if isinstance(value, np.ndarray):
        return {"dtype": str(value.dtype), "shape": list(value.shape), "values": canonical(value.tolist())}
    if isinstance(value, np.generic):
        return canonical(value.item())
    if isinstance(value, float):
        return repr(value) if not math.isfinite(value) else value
    if isinstance(value, str):  # an input's path, wherever the checkout is
        return value.replace(ROOT_PREFIX, "")
    if value is None or isinstance(value, (bool, int)):
        return value
    if value is pd.NaT:
        return "NaT"
    return str(value)


def digest(value) -> str:
    text = json.dumps(canonical(value), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _labels(index: pd.MultiIndex) -> list[str]:
    return [json.dumps(canonical(list(key) if isinstance(key, tuple) else [key])) for key in index]


def lp_fingerprint(lp) -> dict:
    """Per family: SHA-256 of its canonical dump (see the module's docstring), and the LP's sizes."""
    names = np.empty(lp.num_vars, dtype=object)
    for name, block in lp.variables.items():
        names[block.positions] = [f"{name}{label}" for label in _labels(block.index)]
    lower, upper, integer, objective = lp.lower, lp.upper, lp.integer, lp.objective_coefficients()
    parts = {}
    for name, block in sorted(lp.variables.items()):
        pos = block.positions
        rows = sorted(zip(names[pos], lower[pos].tolist(), upper[pos].tolist(), integer[pos].tolist(),
                          objective[pos].tolist()))
        parts[f"variables:{name}"] = digest(rows)
    matrix = lp.matrix().tocsr()
    matrix.sort_indices()
    row_lower, row_upper = lp.row_lower, lp.row_upper
    for name, block in sorted(lp.constraints.items()):
        rows = []
        for label, r in zip(_labels(block.index), block.positions):
            start, end = matrix.indptr[r], matrix.indptr[r + 1]
            coefficients = sorted(zip(names[matrix.indices[start:end]], matrix.data[start:end].tolist()))
            rows.append((label, row_lower[r], row_upper[r], coefficients))
        parts[f"constraints:{name}"] = digest(sorted(rows))
    parts["objective_offset"] = digest(lp.objective_offset)
    return {"num_vars": lp.num_vars, "num_rows": lp.num_rows, "nnz": int(matrix.nnz), "parts": parts}


def _relative(path: str) -> str:
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return path


def stable_plan(document: dict) -> dict:
    """PLAN.json less its timing and version fields, input paths relative to the repository."""
    kept = {key: value for key, value in document.items() if key not in PLAN_VOLATILE_FIELDS}
    inputs = dict(kept["inputs"])
    inputs["scenario_path"] = _relative(inputs["scenario_path"])
    inputs["chain"] = [{**link, "path": _relative(link["path"])} for link in inputs["chain"]]
    kept["inputs"] = inputs
    return kept


def _frame_dump(frame: pd.DataFrame) -> dict:
    frame = frame.reset_index() if not isinstance(frame.index, pd.RangeIndex) else frame
    return {"columns": [str(c) for c in frame.columns], "dtypes": [str(t) for t in frame.dtypes],
            "rows": [list(row) for row in frame.itertuples(index=False, name=None)]}


def fingerprint(name: str) -> dict:
    """Every fingerprint of one scenario (see the module's docstring)."""
    from planner.baselines import compare_with_baselines, options_for
    from planner.pipeline import build_plan, plan_document, solve_plan
    from planner.scenario import load_scenario

    relative, parts = SCENARIOS[name]
    scenario = load_scenario(ROOT / relative)
    built = build_plan(scenario)
    out = {"scenario": relative, LP: lp_fingerprint(built.model.lp)}
    if PLAN not in parts:
        return out
    run = solve_plan(built)
    document = plan_document(run, compare_with_baselines(run, options_for(built)) if BASELINES in parts else [])
    out[PLAN] = {key: digest(value) for key, value in sorted(stable_plan(document).items())}

    from reports.tables import build_tables

    steady = {**document, **{field: None for field in PLAN_VOLATILE_FIELDS}}  # the Summary sheet shows them
    out["tables"] = {key: digest(_frame_dump(frame)) for key, frame in sorted(build_tables(steady, scenario).items())}

    from models.risk_inputs import build_risk_inputs, labelled_arrays
    from models.risk_settings import risk_settings

    inputs = build_risk_inputs(scenario, document, risk_settings(scenario, samples=RISK_SAMPLES, deterministic=True))
    out["risk_inputs"] = {
        **{f"{group}.{array}": digest(np.asarray(value))
           for group, tree in (("params", inputs.params), ("arrays", inputs.arrays))
           for array, _, value in labelled_arrays(tree)},
        "labels": digest([inputs.quarters, inputs.sites, inputs.skus, inputs.pools, inputs.workloads,
                          inputs.sensitivity_inputs]),
        "plan": digest([inputs.objective_usd, inputs.plan_line_usd])}
    if RISK in parts:
        from models.risk import evaluate_plan

        risk = evaluate_plan(scenario, document, samples=RISK_SAMPLES, deterministic=True)
        out[RISK] = {key: digest(value) for key, value in sorted(risk.items()) if key not in RISK_VOLATILE_FIELDS}
    return out


def golden_path(name: str) -> Path:
    return GOLDEN / f"{name}.json"


def main(names: list[str]) -> None:
    for name in names or list(SCENARIOS):
        result = fingerprint(name)
        golden_path(name).write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
        count = len(result[LP]["parts"]) + sum(len(v) for k, v in result.items() if k != LP and isinstance(v, dict))
        print(f"{name}: {count} fingerprints", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
