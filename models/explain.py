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
from models.money import facility_kw
from models.quarters import Horizon
from models.scenario import Scenario
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
    result = solve(around_plan, backend="highs", time_limit_s=time_limit_s, relax=True)
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


# --- warnings: every shortfall named, with the caps that bind around it -------------------------------------

CAP_FAMILIES = (("power_usd_per_mw", "power cap", "usd_per_mw", "per MW"),
                ("racks_usd_per_rack", "racks", "usd_per_rack", "per rack"),
                ("budget_usd_per_usd", "purchase budget", "usd_per_usd", "per $ of budget"))


def plan_warnings(scenario: Scenario, unfinished: pd.DataFrame, unmet: pd.DataFrame, fleet: pd.DataFrame,
                  duals: dict) -> list[dict]:
    """One warning per unfinished training run and per service with unmet demand, dearest first.

    `cause` names the caps whose shadow price is non-zero where the shortfall is: power and racks at the sites the
    workload may use, in the quarters concerned (a training run's whole window, a service's unmet quarters), and
    the purchase budget in any quarter up to the last of them (an order's lead time moves its effect later). A
    cap can hold with a zero price where the LP is degenerate (an order's own upper bound, set from the same cap,
    takes the dual), so a site whose power or racks leave no room for one more node is named too.
    With neither, the shortfall is the optimiser's choice at the penalty the scenario sets, and it says so.
    """
    workloads, sites, horizon = scenario.workloads, scenario.sites, scenario.horizon
    unmet_usd_per_unit = scenario.finance.unmet_usd_per_unit
    caps = pd.concat([_binding_caps(duals, horizon), _full_caps(scenario, fleet)], ignore_index=True)

    def cause(quarters, workload: str, otherwise: str) -> str:
        return _cause(caps, list(quarters), _owned_sites(workloads, workload, owned), horizon, otherwise)

    owned = [str(s) for s in sites.index[sites["kind"] == "owned"]]
    warnings = []
    for row in unfinished.to_dict("records"):
        workload = row["workload"]
        start, deadline = int(workloads.at[workload, "start"]), int(workloads.at[workload, "deadline"])
        because = cause(range(start, deadline + 1), workload,
                        "no cap binds during the run: finishing it would cost more than its unfinished-training "
                        "penalty")
        fraction = float(row["fraction_left"])
        warnings.append({
            "kind": "unfinished_training", "workload": workload, "quarters": [row["deadline"]],
            "amount": fraction, "unit": "fraction of the run", "cost_usd": float(row["cost_usd"]), "cause": because,
            "message": f"{workload}: {fraction:.1%} of the run is not done by its {row['deadline']} deadline, "
                       f"{_money(row['cost_usd'])} penalty; {because}"})
    if len(unmet):
        units = unmet.assign(q=[horizon.relative(q) for q in unmet["quarter"]])
        for workload, rows in units.groupby("workload", sort=False):
            rows = rows.sort_values("q")
            total, peak = float(rows["units"].sum()), float(rows["units"].max())
            cost = total * unmet_usd_per_unit
            because = cause(rows["q"].tolist(), workload,
                            f"no cap binds in those quarters: serving it would cost more than the "
                            f"{_money(unmet_usd_per_unit)} per tokens/s per quarter unmet-demand penalty")
            warnings.append({
                "kind": "unmet_demand", "workload": workload, "quarters": list(rows["quarter"]),
                "amount": total, "unit": "tokens/s × quarters", "cost_usd": cost, "cause": because,
                "message": f"{workload}: demand unmet in {_quarter_ranges(rows['q'].tolist(), horizon)} "
                           f"(up to {peak:,.0f} tokens/s; {total:,.0f} tokens/s × quarters), {_money(cost)} "
                           f"penalty; {because}"})
    return sorted(warnings, key=lambda w: -w["cost_usd"])


def _binding_caps(duals: dict, horizon: Horizon) -> pd.DataFrame:
    rows = [{"cap": label, "site": row.get("site"), "q": horizon.relative(row["quarter"]), "value": row[value],
             "per": per}
            for key, label, value, per in CAP_FAMILIES for row in (duals or {}).get(key) or []]
    return pd.DataFrame(rows, columns=["cap", "site", "q", "value", "per"])


def _full_caps(scenario: Scenario, fleet: pd.DataFrame) -> pd.DataFrame:
    """(cap, site, q) where an owned site has no room for one more node of any SKU: its power at full load
    (Σ node_kw × nodes × pue, the cap's own definition) or its racks."""
    sites, catalog, horizon = scenario.sites, scenario.catalog, scenario.horizon
    owned = sites[sites["kind"] == "owned"]
    rows = fleet[fleet["site"].isin(owned.index)]
    if rows.empty:
        return pd.DataFrame(columns=["cap", "site", "q", "value", "per"])
    sku = catalog.loc[rows["sku"]]
    used = pd.DataFrame({"site": rows["site"].to_numpy(), "q": [horizon.relative(q) for q in rows["quarter"]],
                         "kw": facility_kw(sku["node_kw"].to_numpy(), owned.loc[rows["site"], "pue"].to_numpy(),
                                           nodes=rows["nodes"].to_numpy()),
                         "racks": rows["nodes"].to_numpy() / sku["nodes_per_rack"].to_numpy()})
    used = used.groupby(["site", "q"], as_index=False).sum()
    site = owned.loc[used["site"]]
    power_full = site["power_mw"].to_numpy() * KW_PER_MW - used["kw"].to_numpy() \
        < facility_kw(catalog["node_kw"].min(), site["pue"].to_numpy()) - 1e-9
    racks_full = site["racks"].to_numpy() - used["racks"].to_numpy() < 1.0 / catalog["nodes_per_rack"].max() - 1e-9
    full = [used[power_full].assign(cap="power cap"), used[racks_full].assign(cap="racks")]
    frame = pd.concat(full, ignore_index=True).assign(value=np.nan, per="full")
    return frame[["cap", "site", "q", "value", "per"]]


def _owned_sites(workloads: pd.DataFrame, workload: str, owned: list[str]) -> list[str]:
    allowed = workloads.at[workload, "sites"] if "sites" in workloads else ()
    return [s for s in owned if not allowed or s in allowed]


def _cause(caps: pd.DataFrame, quarters: list[int], sites: list[str], horizon: Horizon, otherwise: str) -> str:
    if caps.empty or not quarters:
        return otherwise
    at_site = caps["site"].isin(sites) & caps["q"].isin(quarters)
    budget = caps["site"].isna() & (caps["q"] <= max(quarters))
    relevant = caps[at_site | budget]
    if relevant.empty:
        return otherwise
    parts = []
    priced = relevant["value"].notna()
    for (cap, site), group in relevant[priced].groupby(["cap", relevant["site"].fillna("")], sort=False):
        where = f"{cap} at {site}" if site else cap
        parts.append(f"{where} binds in {_quarter_ranges(group['q'].tolist(), horizon)} "
                     f"(worth up to {_money(group['value'].max(), small=True)} {group['per'].iloc[0]})")
    named = set(zip(relevant.loc[priced, "cap"], relevant.loc[priced, "site"], relevant.loc[priced, "q"]))
    unnamed = np.array([k not in named for k in zip(relevant["cap"], relevant["site"], relevant["q"])], dtype=bool)
    full = relevant[~priced.to_numpy() & unnamed]
    for (cap, site), group in full.groupby(["cap", "site"], sort=False):
        parts.append(f"{cap} at {site} is full in {_quarter_ranges(group['q'].tolist(), horizon)} "
                     f"(no room for another node at full load)")
    return "; ".join(parts)  # power, racks, budget: prices in different units are not ranked against each other


def _quarter_ranges(quarters: list[int], horizon: Horizon) -> str:
    """[4, 5, 6, 9] -> "2028Q1–Q3, 2029Q2": consecutive quarters as ranges, the year repeated only when it changes."""
    runs: list[list[int]] = []
    for q in sorted({int(q) for q in quarters}):
        if runs and q == runs[-1][1] + 1:
            runs[-1][1] = q
        else:
            runs.append([q, q])
    texts = []
    for first, last in runs:
        a, b = horizon.label(first), horizon.label(last)
        texts.append(a if first == last else f"{a}–{b[4:] if a[:4] == b[:4] else b}")
    return ", ".join(texts)


def _money(usd: float, small: bool = False) -> str:
    """$43.9 M, $946 k, $1,000; cents for small per-unit values (a shadow price of $0.08 per $)."""
    usd = float(usd)
    if abs(usd) >= 1e6:
        return f"${usd / 1e6:,.1f} M"
    if abs(usd) >= 1e4:
        return f"${usd / 1e3:,.0f} k"
    return f"${usd:,.2f}" if small and abs(usd) < 100 else f"${usd:,.0f}"


def facility_reasons(facility: pd.DataFrame, fleet: pd.DataFrame, scenario: Scenario, horizon: Horizon) -> list[str]:
    """For each build-out decision (PLAN.json `facility`), why the plan makes it, in words: what its site holds in
    the build's first quarter in service (nodes by SKU, the racks they fill at the site's density and their kW at
    full load × PUE) against the site's racks and power cap without any build."""
    from models.sets import rack_fit

    sites, catalog = scenario.sites, scenario.catalog
    reasons = []
    for row in facility.to_dict("records"):
        site, when = row["site"], row["in_service"]
        there = fleet[(fleet["site"] == site) & (fleet["quarter"] == when)]
        _, per_rack = rack_fit(sites, catalog, pd.Index([site] * len(there)), there["sku"])
        racks = float((there["nodes"].to_numpy() / per_rack).sum()) if len(there) else 0.0
        it_kw = (there["nodes"].to_numpy() * catalog["node_kw"].reindex(there["sku"]).to_numpy()).sum()
        kw = float(facility_kw(it_kw, sites.at[site, "pue"]))
        held = ", ".join(f"{n:g} {sku}" for sku, n in zip(there["sku"], there["nodes"])) or "no nodes"
        base_racks, base_kw = float(sites.at[site, "racks"]), float(sites.at[site, "power_mw"]) * KW_PER_MW
        short = [f"{racks:,.1f} racks of {base_racks:,.0f}" if racks > base_racks + 1e-9 else "",
                 f"{kw:,.0f} kW of {base_kw:,.0f} kW" if kw > base_kw + 1e-6 else ""]
        short = " and ".join(part for part in short if part)
        reasons.append(f"{row['facility_units']:g} x {row['option']} at {site} from {when}: the site then holds "
                       f"{held} ({racks:,.1f} racks, {kw:,.0f} kW at full load x PUE)"
                       + (f", beyond its own {short}" if short else ", within its own racks and power"))
    return reasons
