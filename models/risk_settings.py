"""The `risk:` section of a scenario: the distributions of one evaluation, their defaults and their validation.

The loader checks the raw section once (`parse_risk_settings`: every problem at once, named by key) and keeps the
settings on the scenario; `risk_settings` applies the command line's samples and seed over them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from models.errors import InputError, Problem

# --- Default distributions of the `risk:` section (each overridable in the scenario) -----------------
# Per-workload, per-quarter demand noise: lognormal with this log-sd in the first quarter. 15 % is the
# typical one-quarter-ahead error of a capacity forecast for a growing service; an assumption to override.
DEFAULT_DEMAND_SIGMA = 0.15
# A shock common to every workload of a sample (the market as a whole running hot or cold).
DEFAULT_DEMAND_COMMON_SIGMA = 0.10
# Uncertainty widens with the horizon: sigma_q = sigma × sqrt(1 + growth × q) (q = 0 at the start),
# the square-root law of a random walk; 1.0 doubles the variance after one quarter, i.e. 8 quarters out the
# log-sd is 3× the first quarter's.
DEFAULT_SIGMA_GROWTH_PER_QUARTER = 1.0
# Fraction of owned nodes out of service in a quarter (hardware failures awaiting repair). 2 % is the order of
# the ~1.5-2 % of GPU-node interruptions per month reported for Llama 3's 16k-H100 run (Llama 3 Herd, §3.3.4),
# treated as a fraction of capacity lost; an assumption to override.
DEFAULT_FAILURE_RATE = 0.02
# Probability that one purchase order arrives one quarter later than its lead time says.
DEFAULT_SLIP_PROBABILITY = 0.10
# Log-sd of a per-site multiplier on the electricity price.
DEFAULT_ELECTRICITY_SIGMA = 0.10
DEFAULT_SAMPLES = 4000
DEFAULT_SEED = 0
# Gradients and the ±10 % tornado (two extra evaluations per input) use the first this-many samples, with the
# same random numbers as the main run, so their cost stays bounded on large scenarios.
DEFAULT_SENSITIVITY_SAMPLES = 1000
# How demand meets capacity in each sampled future (models/risk_allocation.py):
#   plan-first: each workload first runs where the plan placed it, up to the plan's node-equivalents there
#     (cheapest pair first); what is left is then served cheapest-pair-first from any capacity still free.
#     With every uncertainty off it reproduces the plan's placement exactly, whatever the number of workloads.
#   cheapest-first: only the second pass; a pure dispatch rule that ignores the plan's placement.
ALLOCATION_RULES = ("plan-first", "cheapest-first")
DEFAULT_ALLOCATION = "plan-first"
# `planner evaluate`'s own default: each future's inference re-placed by the recourse LP of models/stochastic.py
# (what a planner would do when demand moves); the rules above are fast greedy dispatches, kept as options (on the
# example they price E[TCO] 2.3x the LP's: shortfall a better placement would have served goes to the penalty).
OPTIMAL_ALLOCATION = "optimal"
ALLOCATION_LABELS = {
    OPTIMAL_ALLOCATION: "optimal recourse (an LP per future re-places inference on the plan's capacity)",
    "plan-first": "plan-first greedy dispatch (the plan's placement first, then the cheapest free capacity)",
    "cheapest-first": "cheapest-first greedy dispatch (the plan's placement ignored)",
}


def allocation_label(allocation: str) -> str:
    """What an allocation rule means, in words, for the console, RISK.json and the Risk sheet."""
    return ALLOCATION_LABELS.get(allocation, allocation)

# The keys of a scenario's `risk:` section (RISK.json's own fields are models/risk_schema.py's).
RISK_SETTING_KEYS = ("samples", "seed", "sensitivity_samples", "allocation", "demand_sigma", "demand_common_sigma",
                     "sigma_growth_per_quarter", "failure_rate", "slip_probability", "electricity_sigma")


@dataclass(frozen=True)
class RiskSettings:
    """The distributions of one evaluation (see the DEFAULT_* constants for their meaning and sources)."""

    samples: int = DEFAULT_SAMPLES
    seed: int = DEFAULT_SEED
    sensitivity_samples: int = DEFAULT_SENSITIVITY_SAMPLES
    allocation: str = DEFAULT_ALLOCATION
    demand_sigma: float = DEFAULT_DEMAND_SIGMA
    demand_common_sigma: float = DEFAULT_DEMAND_COMMON_SIGMA
    sigma_growth_per_quarter: float = DEFAULT_SIGMA_GROWTH_PER_QUARTER
    failure_rate: float = DEFAULT_FAILURE_RATE
    slip_probability: float = DEFAULT_SLIP_PROBABILITY
    electricity_sigma: float = DEFAULT_ELECTRICITY_SIGMA
    # 1.0: a pool's failed fraction is sampled around its mean (the Binomial spread of rule 1b, models/risk_costs.py);
    # 0.0: it is the mean itself, the catalog's afr_per_node_year × repair_hours / 8,760 the plan derated by (not a
    # `risk:` key: `deterministic` sets it, so a plan is reproduced even where the catalog states failures).
    failure_spread: float = 1.0
    # The keys the scenario's `risk:` section gave (not a setting: `evaluate` defaults to the optimal recourse and
    # 1,000 futures only where the scenario chose no allocation or samples).
    given: frozenset = field(default=frozenset(), compare=False, repr=False)

    def deterministic(self) -> "RiskSettings":
        """Every source of uncertainty off: one sample reproduces the plan's own forecast."""
        return replace(self, samples=1, demand_sigma=0.0, demand_common_sigma=0.0, failure_rate=0.0,
                       slip_probability=0.0, electricity_sigma=0.0, failure_spread=0.0)


# Upper bounds of the `risk:` numbers (the lower ones are in `parse_risk_settings`'s rules): the evaluator holds
# samples x quarters x pools floats, so 10^12 samples would exhaust memory long before giving an answer.
MAX_RISK_SAMPLES = 10_000_000
MAX_RISK_SIGMA = 10.0  # a log-normal sigma of 10 spreads a forecast over 10^±4 already
RISK_UPPER_BOUNDS = {"samples": MAX_RISK_SAMPLES, "sensitivity_samples": MAX_RISK_SAMPLES,
                     "seed": 2**63 - 1, "demand_sigma": MAX_RISK_SIGMA, "demand_common_sigma": MAX_RISK_SIGMA,
                     "sigma_growth_per_quarter": MAX_RISK_SIGMA, "electricity_sigma": MAX_RISK_SIGMA}


def parse_risk_settings(raw: object, label: str) -> RiskSettings:
    """The scenario's raw `risk:` mapping (as YAML read it) as settings; InputError naming every bad key of file
    `label`. Unknown keys, the allocation rule and the lower bounds are checked first; the upper bounds only
    when those hold."""
    if not isinstance(raw, dict):
        raise InputError(Problem(label, "'risk' must be a mapping of keys to values", column="risk"))
    problems: list[Problem] = []
    for key in raw:
        if key not in RISK_SETTING_KEYS:
            problems.append(Problem(label, f"unknown key 'risk.{key}': expected one of "
                                           f"{', '.join(RISK_SETTING_KEYS)}", column=f"risk.{key}"))
    values = {}
    if raw.get("allocation") is not None:
        if raw["allocation"] in ALLOCATION_RULES:
            values["allocation"] = raw["allocation"]
        else:
            problems.append(Problem(label, f"'risk.allocation' must be one of {', '.join(ALLOCATION_RULES)}, "
                                           f"got {raw['allocation']!r}", column="risk.allocation"))
    rules = {  # key: (whole number?, low, high, high_open)
        "samples": (True, 1, None, False), "seed": (True, 0, None, False),
        "sensitivity_samples": (True, 1, None, False),
        "demand_sigma": (False, 0.0, None, False), "demand_common_sigma": (False, 0.0, None, False),
        "sigma_growth_per_quarter": (False, 0.0, None, False), "failure_rate": (False, 0.0, 1.0, True),
        "slip_probability": (False, 0.0, 1.0, False), "electricity_sigma": (False, 0.0, None, False),
    }
    for key, (whole, low, high, high_open) in rules.items():
        if key not in raw or raw[key] is None:
            continue
        value = raw[key]
        where = f"risk.{key}"
        numeric = not isinstance(value, bool) and isinstance(value, (int, float)) and np.isfinite(value)
        if not numeric or (whole and float(value) != int(value)):
            kind = "a whole number" if whole else "a finite number"
            problems.append(Problem(label, f"'{where}' must be {kind}, got {value!r}", column=where))
            continue
        if value < low or (high is not None and (value > high or (high_open and value == high))):
            bound = f">= {low}" + ("" if high is None else f" and {'<' if high_open else '<='} {high}")
            problems.append(Problem(label, f"'{where}' must be {bound}, got {value}", column=where))
            continue
        values[key] = int(value) if whole else float(value)
    if problems:
        raise InputError(problems)
    for key, high in RISK_UPPER_BOUNDS.items():
        value = raw.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > high:
            problems.append(Problem(label, f"'risk.{key}' must be <= {high:,}, got {value:,g}", column=f"risk.{key}"))
    if problems:
        raise InputError(problems)
    return RiskSettings(**values, given=frozenset(str(key) for key in raw))


class WithRiskSettings(Protocol):
    """What `risk_settings` reads of a scenario (models/scenario.py `Scenario`, which imports this module)."""

    @property
    def risk(self) -> RiskSettings: ...


def risk_settings(scenario: WithRiskSettings, samples: int | None = None, seed: int | None = None,
                  deterministic: bool = False) -> RiskSettings:
    """The scenario's `risk:` settings (validated when it was loaded); command-line samples/seed win over them."""
    settings = scenario.risk
    if samples is not None:
        settings = replace(settings, samples=int(samples))
    if seed is not None:
        settings = replace(settings, seed=int(seed))
    return settings.deterministic() if deterministic else settings
