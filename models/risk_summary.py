"""The RISK.json document: sampled TCO, its decomposition by cost line, shortfall measures and sensitivities, from
the sums the runs collected (NumPy only).

Every figure that is shown twice comes from one value here: the tornado's points are E[TCO] (the main run's mean,
the one base every sheet shows) plus the change the sensitivity pass measured on its common-random-number
subsample, so the base of the Risk and the Sensitivity outputs is the same number.
"""

from __future__ import annotations

import numpy as np

from models.cost_parameters import SAMPLED_LINES_USD
from models.risk_costs import PENALTY_LINES, SHORTFALL_TOLERANCE_FRACTION, SHORTFALL_TOLERANCE_UNITS
from models.risk_inputs import RiskInputs
from models.risk_schema import assemble_risk
from models.stochastic_limits import DEFAULT_CVAR_ALPHA
from models.risk_settings import RiskSettings

HISTOGRAM_BINS = 30
SENSITIVITY_BASIS = (
    "purchases held fixed: each input is moved by -10 % / +10 % (and differentiated) with the plan's orders, "
    "fleet, rentals and placement unchanged; only how each sampled future's demand is served adapts. A re-planned "
    "counterpart needs a new plan for the changed scenario (`planner plan`).")
DEFINITIONS = {
    "tco_usd": "discounted total cost of one sampled future, USD: the cost lines below summed over quarters with "
               "the plan's discount factors; with every uncertainty off it equals PLAN.json objective_usd",
    "expected_tco_usd": "mean over the sampled futures, USD, of the total and of each cost line; spend_usd + "
                        "on_demand_usd + penalty_usd = total_usd = tco_usd.mean",
    "plan_tco_usd": "the same split of PLAN.json's own discounted cost lines (the forecast future)",
    "spend_usd": "the plan's spend lines: capex or depreciation, planned rent, energy, maintenance, carbon",
    "on_demand_usd": "rent and carbon paid for shortfall rented on demand in a cloud site beyond the plan's "
                     "rentals (billed per node-equivalent, with headroom)",
    "penalty_usd": "shortfall penalties: unmet_usd (unmet_usd_per_unit per tokens/s per quarter) and "
                   "unfinished_training_usd (the plan's own, fixed)",
    "probability": "fraction of sampled futures in which the plan's fleet (owned nodes and planned rentals) "
                   f"leaves more than max({SHORTFALL_TOLERANCE_FRACTION:g} x demand, "
                   f"{SHORTFALL_TOLERANCE_UNITS:g} tokens/s) of the demand unserved; by quarter: any workload",
    "expected_shortfall_tokens_per_s": "mean over futures of the demand the plan's fleet does not serve, tokens/s "
                                       "in the quarter; = expected_on_demand_tokens_per_s + "
                                       "expected_unmet_tokens_per_s",
    "expected_on_demand_tokens_per_s": "the part of the shortfall rented on demand (when a cloud site the "
                                       "workload may use is cheaper than the unmet penalty); its cost is "
                                       "on_demand_usd",
    "expected_unmet_tokens_per_s": "the part of the shortfall charged the unmet penalty, the plan's own unmet "
                                   "demand included; its cost is unmet_usd",
    "shortfall_by_workload": "the same means summed over the horizon's quarters (tokens/s x quarters)",
}


def _decomposition(lines: dict[str, float]) -> dict:
    """Discounted $ per cost line, and the split total = spend + on-demand rent + penalties."""
    lines = {name: lines.get(name, 0.0) for name in SAMPLED_LINES_USD}
    penalty = sum(lines[name] for name in PENALTY_LINES)
    on_demand = lines["on_demand_usd"]
    spend = sum(value for name, value in lines.items() if name not in PENALTY_LINES and name != "on_demand_usd")
    return {"total_usd": spend + on_demand + penalty, "spend_usd": spend, "on_demand_usd": on_demand,
            "penalty_usd": penalty, "by_line_usd": lines}


def _shortfall_rows(inputs: RiskInputs, sums: dict, n: int) -> tuple[list, list, list]:
    """(by quarter and workload, by quarter, by workload) shortfall measures (see DEFINITIONS)."""
    on_demand = np.maximum(sums["shortfall_tokens_per_s"] - sums["unmet_tokens_per_s"], 0.0)
    measures = {"expected_shortfall_tokens_per_s": sums["shortfall_tokens_per_s"],
                "expected_on_demand_tokens_per_s": on_demand,
                "expected_unmet_tokens_per_s": sums["unmet_tokens_per_s"]}
    real = len(inputs.workloads)
    pairs = [{"quarter": quarter, "workload": inputs.workloads[w],
              "probability": float(sums["short_count"][w, q]) / n,
              **{name: float(value[w, q]) / n for name, value in measures.items()}}
             for q, quarter in enumerate(inputs.quarters) for w in range(real)]
    by_quarter = [{"quarter": quarter, "probability": float(sums["short_any_count"][q]) / n if real else 0.0,
                   **{name: float(value[:real, q].sum()) / n for name, value in measures.items()}}
                  for q, quarter in enumerate(inputs.quarters)]
    by_workload = [{"workload": workload,
                    **{f"{name}_quarters": float(value[w].sum()) / n for name, value in measures.items()}}
                   for w, workload in enumerate(inputs.workloads)]
    return pairs, by_quarter, by_workload


def _sensitivity_rows(inputs: RiskInputs, sens: dict, base_usd: float) -> list[dict]:
    """One row per input: derivative, and E[TCO] at ∓10 % as the common base plus the measured change."""
    rows = []
    for i, (label, name, index) in enumerate(inputs.sensitivity_inputs):
        value = np.asarray(getattr(inputs.params, name))
        minus = sens["tco_usd_at_points"][2 * i] - sens["tco_usd_base"]
        plus = sens["tco_usd_at_points"][2 * i + 1] - sens["tco_usd_base"]
        rows.append({"input": label, "value": float(value if index is None else value[index]),
                     "d_tco_usd_per_unit": sens["d_tco_usd_per_unit"][i],
                     "delta_tco_usd_at_minus_10pct": minus, "delta_tco_usd_at_plus_10pct": plus,
                     "tco_usd_at_minus_10pct": base_usd + minus, "tco_usd_at_plus_10pct": base_usd + plus})
    return rows


def cvar(costs: np.ndarray, alpha: float = DEFAULT_CVAR_ALPHA) -> float:
    """CVaR_α of equally likely costs, exactly the minimum of Rockafellar–Uryasev's
    η + E[(cost − η)+] / (1 − α): the mean of the worst (1 − α) N costs, the last one counted by its fraction.
    The one definition: RISK.json's `cvar95`, `evaluate --allocation optimal` and the stochastic objective."""
    worst = np.sort(np.asarray(costs, dtype=float))[::-1]
    tail = (1.0 - alpha) * len(worst)
    whole = min(int(np.floor(tail)), len(worst))
    partial_cost = worst[whole] * (tail - whole) if whole < len(worst) else 0.0
    return float((worst[:whole].sum() + partial_cost) / tail)


def tco_statistics(tco: np.ndarray) -> dict:
    """RISK.json's `tco_usd`: mean, P5/P50/P95/P99, CVaR95 and the sample standard deviation of the futures' TCO."""
    p5, p50, p95, p99 = (float(v) for v in np.percentile(tco, [5, 50, 95, 99]))
    return {"mean": float(np.mean(tco)), "p5": p5, "p50": p50, "p95": p95, "p99": p99,
            "cvar95": cvar(tco, DEFAULT_CVAR_ALPHA), "std": float(np.std(tco, ddof=1)) if len(tco) > 1 else 0.0}


def summarise(inputs: RiskInputs, settings: RiskSettings, run: dict, sens: dict, device: str,
              float64: bool, deterministic: bool) -> dict:
    """The RISK.json document (models/risk_schema.py RISK_FIELDS; docs/risk-json.md), checked against its schema."""
    tco = run["tco_usd"]
    n = len(tco)
    lo, hi = float(tco.min()), float(tco.max())
    if hi <= lo:
        hi = lo + max(abs(lo) * 1e-9, 1.0)
    counts, edges = np.histogram(tco, bins=HISTOGRAM_BINS, range=(lo, hi))
    sums = run["sums"]
    mean = float(tco.mean())
    by_pair, by_quarter, by_workload = _shortfall_rows(inputs, sums, n)
    real_workloads = max(len(inputs.workloads), 1)
    return assemble_risk({
        "samples": n, "seed": settings.seed, "device": device, "dtype": "float64" if float64 else "float32",
        "deterministic": deterministic,
        "settings": {key: getattr(settings, key) for key in settings.__dataclass_fields__ if key != "given"},
        "plan_objective_usd": inputs.objective_usd,
        "tco_usd": tco_statistics(tco),
        "expected_tco_usd": _decomposition({name: float(sums["line_usd"][i]) / n
                                            for i, name in enumerate(SAMPLED_LINES_USD)}),
        "plan_tco_usd": _decomposition(inputs.plan_line_usd) if inputs.plan_line_usd is not None else None,
        "histogram": {"bin_edges_usd": [float(e) for e in edges], "counts": [int(c) for c in counts]},
        "shortfall_probability": by_pair,
        "shortfall_by_quarter": by_quarter,
        "shortfall_by_workload": by_workload,
        "definitions": DEFINITIONS,
        "sensitivity_basis": SENSITIVITY_BASIS,
        "sensitivity_samples": sens["samples"],
        "sensitivities": _sensitivity_rows(inputs, sens, mean),
        "timing": {
            "compile_seconds": round(run["compile_seconds"] + sens["compile_seconds"], 4),
            "samples_seconds": round(run["seconds"], 4),
            "gradient_seconds": round(sens["gradient_seconds"], 4),
            "tornado_seconds": round(sens["tornado_seconds"], 4),
            "batch_size": run["batch"],
            "samples_per_second": round(n / run["seconds"], 1) if run["seconds"] > 0 else None,
            "workload_quarter_samples_per_second": round(n * real_workloads * len(inputs.quarters)
                                                         / run["seconds"], 1) if run["seconds"] > 0 else None,
        },
    })
