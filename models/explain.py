"""Why the plan looks as it does: shadow prices of caps and demand, and what each order's nodes serve.

Shadow prices come from the LP around the plan: the binary choices (which pool each training run uses, which
quarters a job is active) are fixed at the plan's values and node counts are relaxed to continuous, so a megawatt,
a rack or a dollar of budget has a marginal value (with node counts fixed too, every cap row would hold only
constants and price at zero). Values are in discounted $ (the objective's units): the change of the plan's NPV per
unit more of the resource, or per unit more of demand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.formulation import PlanModel
from models.quarters import Horizon
from models.solve import solve
from models.units import KW_PER_MW

BINARY_FAMILIES = ("pool", "training_active", "replica_active")
NEGLIGIBLE_USD = 1e-7


def shadow_prices(model: PlanModel, horizon: Horizon, x: np.ndarray, time_limit_s: float = 60.0) -> dict:
    lp = model.lp
    fix = np.zeros(lp.num_vars, dtype=bool)
    for name in BINARY_FAMILIES:
        if name in lp.variables:
            fix[lp.variables[name].positions] = True
    around_plan = lp.with_fixed(fix, x, relax=np.ones(lp.num_vars, dtype=bool))
    # busy ≤ demand / rate and unmet ≤ demand are valid bounds for the MILP, but a served pair at its bound would
    # hand the demand row's dual to the unmet penalty: lift them so a demand dual is the marginal serving cost.
    for name in ("busy", "unmet"):
        if name in lp.variables:
            around_plan._upper[0][lp.variables[name].positions] = np.inf
    result = solve(around_plan, backend="glop", time_limit_s=time_limit_s, relax=True)
    if result.duals is None:
        return {"method": "unavailable: the LP around the plan did not solve", "lp_objective_usd": None}

    def family(name: str, scale: float, value_name: str) -> list[dict]:
        if name not in lp.constraints:
            return []
        block = lp.constraints[name]
        values = pd.Series(result.duals[block.positions] * scale, index=block.index)
        frame = values.rename(value_name).reset_index()
        frame = frame[frame[value_name].abs() > NEGLIGIBLE_USD]
        frame = frame.rename(columns={"order_quarter": "quarter"})
        frame["quarter"] = [horizon.label(int(q)) for q in frame["quarter"]]
        return [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
                for row in frame.to_dict("records")]

    # A dual is d(objective)/d(right-hand side); one more unit of a cap lowers cost by −dual. Power rows are in kW.
    return {
        "method": "LP around the plan: binary choices fixed, node counts continuous; discounted $",
        "lp_objective_usd": result.objective,
        "power_usd_per_mw": family("power", -KW_PER_MW, "usd_per_mw"),
        "racks_usd_per_rack": family("racks", -1.0, "usd_per_rack"),
        "budget_usd_per_usd": family("budget", -1.0, "usd_per_usd"),
        "demand_usd_per_unit": family("demand", 1.0, "usd_per_unit"),
    }


def order_uses(purchases: pd.DataFrame, placement: pd.DataFrame, fleet: pd.DataFrame, life_quarters: pd.Series,
               horizon: Horizon) -> list[dict]:
    """For every order: the workloads its nodes serve, in node-equivalent-quarters, largest first.

    Nodes of one pool (site, SKU) are interchangeable, so each quarter an order is credited with its share of the
    pool's work: its nodes / the pool's nodes in service that quarter. The credits of a pool's orders and fleet
    add up to the work placed on it.
    """
    why = []
    if purchases.empty:
        return why
    work = placement.assign(q=[horizon.relative(q) for q in placement["quarter"]])
    pool_nodes = fleet.assign(q=[horizon.relative(q) for q in fleet["quarter"]]).set_index(["q", "site", "sku"])["nodes"]
    for order in purchases.to_dict("records"):
        since = horizon.relative(order["in_service"])
        until = since + int(life_quarters[order["sku"]])
        pool = work[(work["site"] == order["site"]) & (work["sku"] == order["sku"]) & (work["q"] >= since)
                    & (work["q"] < until)]
        nodes = pool_nodes.reindex(pd.MultiIndex.from_frame(pool[["q", "site", "sku"]])).to_numpy()
        share = pool["node_equivalents"].to_numpy() * order["nodes"] / nodes
        served = pd.Series(share, index=pool["workload"].to_numpy()).groupby(level=0).sum() \
            .sort_values(ascending=False)
        why.append({"quarter": order["quarter"], "site": order["site"], "sku": order["sku"],
                    "nodes": order["nodes"], "in_service": order["in_service"],
                    "serves": [{"workload": w, "node_equivalent_quarters": float(v)} for w, v in served.items()]})
    return why
