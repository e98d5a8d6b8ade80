"""Per workload × SKU: the performance model's figures plus energy and $ per unit of work at the best site.

A unit of work is the whole run for training and one million served tokens for inference; the site is the
cheapest allowed one where the SKU can be used (owned: bought; cloud: rented). This is the planner's first
look, before optimisation: it ignores caps, lead times and budgets.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.cost_parameters import build_cost_parameters
from models.performance import estimate_performance
from models.scenario import Scenario
from models.unit_costs import TOKENS_PER_INFERENCE_UNIT, node_hour_costs
from models.units import SECONDS_PER_HOUR

ESTIMATE_COLUMNS = ["workload", "sku", "eligible", "reason", "min_nodes", "node_hours", "gpu_hours",
                    "tokens_per_s_per_node", "ttft_s", "kwh_per_unit", "usd_per_unit", "site", "cheapest"]


def estimate_workloads(scenario: Scenario) -> pd.DataFrame:
    performance = estimate_performance(scenario.catalog, scenario.workloads, scenario.throughput)
    costs = node_hour_costs(build_cost_parameters(scenario), scenario.sites["kind"])

    allowed = pd.DataFrame({"workload": scenario.workloads.index,
                            "site": [scenario.allowed_sites(w) for w in scenario.workloads.index]})
    allowed = allowed.explode("site")
    rows = performance.reset_index()
    options = rows.merge(allowed, on="workload").merge(costs.reset_index(), on=["site", "sku"])
    kind = scenario.workloads["kind"].reindex(options["workload"]).to_numpy()
    node_hours_per_unit = np.where(kind == "training", options["node_hours"],
                                   TOKENS_PER_INFERENCE_UNIT / (options["tokens_per_s_per_node"]
                                                                * SECONDS_PER_HOUR))
    options["usd_per_unit"] = node_hours_per_unit * options["usd_per_node_hour"]
    options["kwh_per_unit"] = node_hours_per_unit * options["facility_kwh_per_node_hour"]
    options = options[options["eligible"] & np.isfinite(options["usd_per_unit"])]
    best_site = options.loc[options.groupby(["workload", "sku"])["usd_per_unit"].idxmin(),
                            ["workload", "sku", "site", "usd_per_unit", "kwh_per_unit"]]

    table = rows.merge(best_site, on=["workload", "sku"], how="left")
    cheapest = table.loc[table["usd_per_unit"].notna()].groupby("workload")["usd_per_unit"].idxmin()
    table["cheapest"] = False
    table.loc[cheapest.to_numpy(), "cheapest"] = True
    table.loc[table["eligible"] & table["usd_per_unit"].isna(), "reason"] = "no allowed site offers this SKU"
    return table[ESTIMATE_COLUMNS]
