"""Solver-free check of a plan: every constraint and every cost line recomputed from the scenario alone.

A PLAN.json is trusted only as far as an independent reading of docs/conventions.md and docs/model.md agrees with
it. This module therefore never imports the formulation, the index sets, the LP layer or a solver: it rebuilds the
nodes in service from the plan's orders, rentals and the scenario's fleet, prices them from the catalog and the
sites, and compares each figure the plan states with the recomputed one. The only shared inputs are the performance
model (node-hours, tokens/s per node, minimum nodes and eligibility are inputs of the plan) and the quarter
conventions.

Checks, one id each (see CONSTRAINTS): horizon and capex mode; references to known sites, SKUs and workloads;
orders (owned sites, whole non-negative numbers, available_from, in_service = quarter + lead_quarters inside the
horizon, capex_usd); rentals (cloud sites, rentable SKUs, whole numbers, rent_usd); the fleet table (nodes,
it_kw, facility_kw); placement (eligible pair, allowed site, inside the workload's window, units); capacity;
inference demand; a TTFT quantile SLO (the verifier's own Erlang C); minimum nodes; spot rows (docs/datacenter-2026.md
"Spot"); training (one pool, work done with the spot work recomputed, unfinished fraction and cost); power cap;
racks; budget; every cost line of every quarter, the totals and the objective.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import gammaincc, gammaln

from models.cost_parameters import COST_LINES, USD_LINES
from models.performance import estimate_performance
from models.plan_schema import RESULT_TABLES, check_plan_document, column_kinds
from models.quarters import HOURS_PER_QUARTER, QUARTERS_PER_YEAR
from models.scenario import Scenario
from models.units import GRAMS_PER_TONNE, KW_PER_MW

# Default tolerances: solvers report integer and primal feasibility to about 1e-6 (SCIP `numerics/feastol`,
# HiGHS `primal_feasibility_tolerance` and `mip_feasibility_tolerance` all default to 1e-6).
TOLERANCE_USD = 1e-6  # absolute $, added to the relative tolerance on money
RELATIVE_TOLERANCE = 1e-6  # relative, on money and on physical quantities (kW, kWh, t, tokens/s)
TOLERANCE_NODES = 1e-6  # node-equivalents (relative above one node)
# A TTFT quantile SLO's tail probability, relative: node-equivalents a solver reports to 1e-6 move it less.
SLO_RELATIVE_TOLERANCE = 1e-4


# The line names are shared (what PLAN.json calls them); how each is computed below is the verifier's own copy.
COST_LINES_USD = USD_LINES
COST_COLUMNS = ("discount_factor", *COST_LINES, "total_usd", "discounted_usd")
OPTIONAL_COST_LINES = ("network_usd", "storage_usd")  # docs/datacenter-2026.md "Fabric and storage"

# Constraint id -> what it means, in words (the CLI prints these).
CONSTRAINTS = {
    "horizon": "plan rows inside the scenario's horizon",
    "capex_mode": "capex mode as in the scenario",
    "reference": "sites, SKUs and workloads known to the scenario",
    "order_site": "orders only at owned sites",
    "order_integer": "orders in whole, non-negative nodes",
    "order_available": "no order before the SKU's available_from",
    "order_in_service": "in service = order quarter + lead_quarters, inside the horizon",
    "order_capex": "order capex = nodes x price_usd",
    "rental_site": "rentals only of rentable, available SKUs at cloud sites",
    "rental_integer": "rentals in whole, non-negative nodes",
    "rental_cost": "rental cost = nodes x rent_usd_per_gpu_hour x gpus_per_node x 2,190 h",
    "fleet": "fleet table = nodes in service rebuilt from the fleet, orders and rentals",
    "placement_eligible": "placement only on eligible (workload, SKU) pairs at allowed sites",
    "placement_window": "placement only between the workload's start and deadline",
    "placement_units": "placement units = node-equivalents x tokens/s per node, node-equivalents >= 0",
    "capacity": "busy node-equivalents <= (1 - headroom) x availability x nodes in service",
    "ttft_slo": "a TTFT quantile SLO holds: P(queue wait + prefill > max_ttft_s) <= 1 - ttft_quantile (M/G/c)",
    "demand": "inference served + unmet = demand, unmet >= 0",
    "training_pool": "each training run in one (site, SKU) pool",
    "training_work": "training work done >= node-hours x (1 - fraction left)",
    "min_nodes": "work runs on a pool only when it holds min_nodes nodes (training, multi-node replicas)",
    "training_unfinished": "fraction left in [0, 1], 0 when runs must finish; its cost in the deadline quarter",
    "power": "facility power at full load <= site power cap",  # + the MW the plan's facility builds add
    "racks": "racks used <= racks at the site",  # at the site's rack density, + the racks its builds add
    "rack_fit": "nodes only where their rack fits: liquid-cooled SKUs in liquid-cooled halls, node_kw <= "
                "max_kw_per_rack",
    "contract": "contracts: known offer at its site and SKU, whole blocks, not before available_from, in service = "
                "quarter + lead_quarters, the whole term inside the horizon, at most max_blocks in all, nodes = "
                "blocks x min_nodes, commitment_usd = nodes x gpus_per_node x usd_per_gpu_hour x 2,190 h x term",
    "facility": "facility builds: known option at its site, whole units, not before available_from, in service = "
                "quarter + lead_quarters inside the horizon, at most max_units in all, capex_usd = units x price_usd",
    "spot": "spot: only preemptible training runs, at an allowed cloud site, on an eligible SKU with a spot price "
            "that fits there, inside the run's window and not before available_from; node_hours >= 0, spot_nodes = "
            "node_hours / 2,190 h, work_node_hours = node_hours x spot_availability x availability, energy_kwh = "
            "node_hours x node_kw x pue, spot_usd = node_hours x spot_usd_per_gpu_hour x gpus_per_node",
    "budget": "purchases per quarter <= budget",
    "cost": "cost line as recomputed from the plan's decisions",
    "totals": "totals = sum of the quarters' cost lines",
    "objective": "objective = sum of discounted quarter totals",
}

_QUARTER_PATTERN = r"^\s*(\d{4})\s*[Qq]([1-4])\s*$"

# PLAN.json tables and their columns' kinds ("quarter" labels like 2027Q1, "text" names, "number" floats), as
# models/plan_schema.py declares them: the verifier shares the document's field names and types, never its sums.
PLAN_TABLES = {name: column_kinds(name) for name in RESULT_TABLES}


@dataclass(frozen=True)
class Violation:
    """One broken constraint or wrong figure; `size` is by how much, in the unit the message names."""

    constraint: str  # an id from CONSTRAINTS
    quarter: str | None  # label, e.g. 2027Q1; None for whole-plan checks
    where: str  # site / sku / workload / cost line, joined by "/"
    message: str
    size: float

    def __str__(self) -> str:
        place = ", ".join(part for part in (self.quarter, self.where) if part)
        return f"{CONSTRAINTS.get(self.constraint, self.constraint)} [{self.constraint}]" \
               f"{f' ({place})' if place else ''}: {self.message}"


@dataclass(frozen=True)
class Verification:
    """The verdict: violations, how many comparisons were made, and the independently recomputed costs."""

    violations: tuple[Violation, ...]
    checks: int
    costs: pd.DataFrame  # recomputed cost lines by quarter label (columns as PLAN.json's costs)
    objective_usd: float  # recomputed Σ discounted_usd

    @property
    def ok(self) -> bool:
        return not self.violations


class PlanFormatError(ValueError):
    """The document is not a PLAN.json (missing tables or columns, non-numeric values, bad quarter labels)."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class Tolerances:
    usd: float = TOLERANCE_USD
    relative: float = RELATIVE_TOLERANCE
    nodes: float = TOLERANCE_NODES

    def money(self, *values) -> np.ndarray:
        return self.usd + self.relative * _scale(*values)

    def quantity(self, *values) -> np.ndarray:
        """kW, kWh, t, tokens/s: relative, with one unit as the smallest scale."""
        return self.relative * np.maximum(_scale(*values), 1.0)

    def node(self, *values) -> np.ndarray:
        return self.nodes * np.maximum(_scale(*values), 1.0)


def _scale(*values) -> np.ndarray:
    arrays = [np.abs(np.asarray(v, dtype=float)) for v in values]
    return np.nan_to_num(np.maximum.reduce(arrays) if len(arrays) > 1 else arrays[0], nan=0.0)


def verify_plan(scenario: Scenario, plan: dict, tolerance_usd: float = TOLERANCE_USD,
                relative_tolerance: float = RELATIVE_TOLERANCE, tolerance_nodes: float = TOLERANCE_NODES,
                performance: pd.DataFrame | None = None) -> list[Violation]:
    """Every violation of docs/model.md's constraints and docs/conventions.md's costs in `plan` (empty: it holds)."""
    return list(check_plan(scenario, plan, tolerance_usd, relative_tolerance, tolerance_nodes,
                           performance).violations)


def check_plan(scenario: Scenario, plan: dict, tolerance_usd: float = TOLERANCE_USD,
               relative_tolerance: float = RELATIVE_TOLERANCE, tolerance_nodes: float = TOLERANCE_NODES,
               performance: pd.DataFrame | None = None) -> Verification:
    """Recompute the plan from the scenario; raise PlanFormatError if `plan` is not a PLAN.json document."""
    tol = Tolerances(tolerance_usd, relative_tolerance, tolerance_nodes)
    horizon = scenario.horizon
    tables = read_plan_tables(plan, horizon)
    if performance is None:
        performance = estimate_performance(scenario.catalog, scenario.workloads, scenario.throughput)
    performance = _with_failure_node_hours(scenario, performance)
    ledger = _Ledger(horizon)

    _check_header(ledger, scenario, plan)
    tables = _drop_unknown(ledger, scenario, tables)
    _check_orders(ledger, scenario, tables["purchases"], tol)
    _check_rentals(ledger, scenario, tables["rentals"], tol)
    contracts = _check_contracts(ledger, scenario, _contract_records(plan, horizon), tol)
    spanning = _spanning_busy(scenario, performance, tables["placement"])
    grid = _nodes_in_service(scenario, tables["purchases"], tables["rentals"], tables["placement"], contracts,
                             spanning)
    held = _storage_held(scenario, tables["placement"])
    _check_fleet_table(ledger, scenario, grid, tables["fleet"], tol)
    placement = _check_placement(ledger, scenario, performance, tables["placement"], tol)
    _check_capacity(ledger, scenario, grid, tol)
    _check_demand(ledger, scenario, placement, tables["unmet"], tol)
    _check_ttft_slo(ledger, scenario, performance, placement, tol)
    _check_min_nodes(ledger, placement, grid, tol)
    spot = _check_spot(ledger, scenario, performance, _spot_records(plan, horizon), tol)
    _check_training(ledger, scenario, performance, placement, tables["unfinished"], tol, spot)
    facility = _check_facility(ledger, scenario, _facility_records(plan, horizon), tol)
    _check_rack_fit(ledger, scenario, grid, tol)
    _check_power_and_racks(ledger, scenario, grid, tol, facility, held)
    _check_budget(ledger, scenario, tables["purchases"], tol, facility)
    costs = recompute_costs(scenario, grid, tables["purchases"], tables["unmet"], tables["unfinished"], facility,
                            contracts, held, spot)
    objective = _check_costs(ledger, costs, tables["costs"], plan, tol)
    labelled = costs.assign(quarter=horizon.labels)
    return Verification(violations=tuple(ledger.violations), checks=ledger.checks, costs=labelled,
                        objective_usd=objective)


# --- reading the document ---------------------------------------------------------------------------------

def read_plan_tables(plan: dict, horizon) -> dict[str, pd.DataFrame]:
    """PLAN.json's tables as typed frames, quarter labels turned into quarters relative to the start."""
    problems = check_plan_document(plan)
    if problems:
        raise PlanFormatError(problems)
    tables = {}
    for name, columns in PLAN_TABLES.items():
        records = plan[name]
        frame = pd.DataFrame.from_records(records, columns=list(columns)) if records else \
            pd.DataFrame({column: pd.Series(dtype=object) for column in columns})
        for column, kind in columns.items():
            try:
                frame[column] = _typed_column(frame[column], kind, horizon)
            except ValueError as error:
                problems.append(f"'{name}.{column}': {error}")
        if name == "costs":  # lines added after plans were first written: an older plan charged none of them
            for column in OPTIONAL_COST_LINES:
                if records and all(column not in record for record in records):
                    frame[column] = 0.0
        tables[name] = frame
    if problems:
        raise PlanFormatError(problems)
    return tables


def _typed_column(values: pd.Series, kind: str, horizon) -> pd.Series:
    if kind == "text":
        if values.isna().any():
            raise ValueError("empty name")
        return values.astype(str).astype(object)
    if kind == "number":
        if values.map(lambda v: isinstance(v, (bool, str))).any():
            raise ValueError("values must be numbers")
        return pd.to_numeric(values, errors="raise").astype(float)
    parts = values.astype(str).str.extract(_QUARTER_PATTERN)
    if parts.isna().any().any():
        bad = values[parts.isna().any(axis=1)].iloc[0]
        raise ValueError(f"{bad!r} is not a quarter like 2027Q1")
    ordinal = parts[0].astype(int) * QUARTERS_PER_YEAR + parts[1].astype(int) - 1
    return (ordinal - horizon.start).astype(int)


# --- the ledger of checks ---------------------------------------------------------------------------------

class _Ledger:
    """Counts comparisons and collects violations (a NaN figure counts as violated)."""

    def __init__(self, horizon):
        self.horizon = horizon
        self.violations: list[Violation] = []
        self.checks = 0

    def record(self, constraint: str, frame: pd.DataFrame, excess, tolerance, message) -> None:
        """One check per row of `frame`: violated where `excess` > `tolerance`; `message(row, excess)` says why."""
        excess = np.asarray(excess, dtype=float).reshape(-1)
        tolerance = np.broadcast_to(np.asarray(tolerance, dtype=float), excess.shape)
        self.checks += len(excess)
        bad = ~(excess <= tolerance)
        if not bad.any():
            return
        rows = frame.reset_index(drop=True)[bad]
        for (_, row), amount in zip(rows.iterrows(), excess[bad]):
            quarter = row.get("quarter")
            label = None if quarter is None or pd.isna(quarter) else self.horizon.label(int(quarter))
            where = "/".join(str(row[c]) for c in ("site", "sku", "workload", "line") if c in row.index)
            self.violations.append(Violation(constraint, label, where, message(row, float(amount)),
                                             float(amount)))

    def fail(self, constraint: str, quarter: int | None, where: str, message: str, size: float) -> None:
        self.checks += 1
        label = None if quarter is None else self.horizon.label(int(quarter))
        self.violations.append(Violation(constraint, label, where, message, float(size)))


def _record_equal_money(ledger, constraint, frame, stated, recomputed, tol: Tolerances, what: str,
                        scale=0.0) -> None:
    """stated == recomputed within the money tolerance, relative to the larger of the two and `scale`."""
    stated, recomputed = np.asarray(stated, dtype=float), np.asarray(recomputed, dtype=float)
    frame = frame.assign(_stated=stated, _recomputed=recomputed)
    scale = np.broadcast_to(np.asarray(scale, dtype=float), stated.shape)
    ledger.record(constraint, frame, np.abs(stated - recomputed), tol.money(stated, recomputed, scale),
                  lambda r, size: f"{what} is ${r['_stated']:,.6f}, recomputed ${r['_recomputed']:,.6f} "
                                  f"(off by ${size:,.6f})")


# --- header and references --------------------------------------------------------------------------------

def _check_header(ledger: _Ledger, scenario: Scenario, plan: dict) -> None:
    labels = (plan.get("horizon") or {}).get("quarters") if isinstance(plan.get("horizon"), dict) else None
    ledger.checks += 1
    if labels is not None and list(labels) != list(scenario.horizon.labels):
        ledger.fail("horizon", None, "", f"plan covers {labels}, the scenario {scenario.horizon.labels}",
                    abs(len(labels) - scenario.horizon.quarters))
    mode = plan.get("capex_mode")
    ledger.checks += 1
    if mode is not None and mode != scenario.finance.capex_mode:
        ledger.fail("capex_mode", None, "", f"plan priced in '{mode}' mode, the scenario uses "
                                            f"'{scenario.finance.capex_mode}'", 1.0)


def _drop_unknown(ledger: _Ledger, scenario: Scenario, tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Flag and drop rows naming unknown sites/SKUs/workloads or quarters outside the horizon."""
    known = {"site": set(scenario.sites.index), "sku": set(scenario.catalog.index),
             "workload": set(scenario.workloads.index)}
    n = scenario.horizon.quarters
    kept = {}
    for name, frame in tables.items():
        keep = np.ones(len(frame), dtype=bool)
        for column, names in known.items():
            if column not in frame:
                continue
            unknown = ~frame[column].isin(names).to_numpy()
            ledger.record("reference", frame, unknown.astype(float), 0.0,
                          lambda r, size, c=column, t=name: f"{t} names unknown {c} '{r[c]}'")
            keep &= ~unknown
        for column in ("quarter", "in_service", "deadline"):
            if column not in frame or (name == "purchases" and column == "in_service"):
                continue
            outside = ((frame[column] < 0) | (frame[column] >= n)).to_numpy()
            ledger.record("horizon", frame.assign(quarter=np.nan, _q=frame[column]), outside.astype(float), 0.0,
                          lambda r, size, c=column, t=name: f"{t}.{c} {scenario.horizon.label(int(r['_q']))} "
                                                            f"is outside the horizon")
            keep &= ~outside
        kept[name] = frame[keep].reset_index(drop=True)
    return kept


# --- orders and rentals -----------------------------------------------------------------------------------

def _check_orders(ledger: _Ledger, scenario: Scenario, purchases: pd.DataFrame, tol: Tolerances) -> None:
    catalog, sites, horizon = scenario.catalog, scenario.sites, scenario.horizon
    sku = catalog.reindex(purchases["sku"])
    kind = sites["kind"].reindex(purchases["site"]).to_numpy()
    nodes = purchases["nodes"].to_numpy()
    ledger.record("order_site", purchases, (kind != "owned").astype(float), 0.0,
                  lambda r, size: f"{r['nodes']:g} node(s) ordered at '{r['site']}', which is not an owned site")
    off_integer = np.abs(nodes - np.round(nodes))
    ledger.record("order_integer", purchases, np.maximum(off_integer, -nodes), tol.node(nodes),
                  lambda r, size: f"{r['nodes']!r} nodes is not a whole, non-negative number (off by {size:g})")
    available = sku["available_from"].to_numpy()
    ledger.record("order_available", purchases, available - purchases["quarter"].to_numpy(), 0.0,
                  lambda r, size: f"{r['sku']} ordered {size:g} quarter(s) before its available_from "
                                  f"{horizon.label(int(r['quarter'] + size))}")
    first = purchases["quarter"].to_numpy() + sku["lead_quarters"].to_numpy()
    frame = purchases.assign(_first=first)
    wrong = np.abs(purchases["in_service"].to_numpy() - first) + np.maximum(first - (horizon.quarters - 1), 0)
    ledger.record("order_in_service", frame, wrong, 0.0,
                  lambda r, size: f"in service {horizon.label(int(r['in_service']))}, but order quarter + "
                                  f"lead_quarters is {horizon.label(int(r['_first']))}"
                                  + ("" if r["_first"] < horizon.quarters else ", after the horizon"))
    _record_equal_money(ledger, "order_capex", purchases, purchases["capex_usd"],
                        nodes * sku["price_usd"].to_numpy(), tol, "capex_usd")


def _check_rentals(ledger: _Ledger, scenario: Scenario, rentals: pd.DataFrame, tol: Tolerances) -> None:
    catalog, sites = scenario.catalog, scenario.sites
    sku = catalog.reindex(rentals["sku"])
    kind = sites["kind"].reindex(rentals["site"]).to_numpy()
    rent_per_node = (sku["rent_usd_per_gpu_hour"] * sku["gpus_per_node"] * HOURS_PER_QUARTER).to_numpy()
    not_cloud = kind != "cloud"
    not_rentable = np.isnan(rent_per_node)
    early = rentals["quarter"].to_numpy() < sku["available_from"].to_numpy()
    frame = rentals.assign(_why=np.select([not_cloud, not_rentable, early],
                                          ["site is not a cloud site", "SKU has no rent_usd_per_gpu_hour",
                                           "before the SKU's available_from"], ""))
    ledger.record("rental_site", frame, (not_cloud | not_rentable | early).astype(float), 0.0,
                  lambda r, size: f"{r['nodes']:g} {r['sku']} node(s) rented at '{r['site']}': {r['_why']}")
    nodes = rentals["nodes"].to_numpy()
    ledger.record("rental_integer", rentals, np.maximum(np.abs(nodes - np.round(nodes)), -nodes), tol.node(nodes),
                  lambda r, size: f"{r['nodes']!r} nodes is not a whole, non-negative number (off by {size:g})")
    _record_equal_money(ledger, "rental_cost", rentals[~not_rentable], rentals["rent_usd"].to_numpy()[~not_rentable],
                        (nodes * rent_per_node)[~not_rentable], tol, "rent_usd")


# --- nodes in service -------------------------------------------------------------------------------------

def life_in_quarters(catalog: pd.DataFrame) -> pd.Series:
    """Quarters in service before retirement: round(life_years × 4) (docs/conventions.md)."""
    return pd.Series(np.rint(catalog["life_years"].to_numpy(dtype=float) * QUARTERS_PER_YEAR).astype(int),
                     index=catalog.index)


def _contract_terms(contracts: pd.DataFrame | None, n: int) -> pd.DataFrame:
    """(quarter, site, sku, nodes, usd) of every signing's term quarters: from in_service to term_end."""
    if contracts is None or contracts.empty:
        return pd.DataFrame({"quarter": pd.Series(dtype=int), "site": pd.Series(dtype=object),
                             "sku": pd.Series(dtype=object), "nodes": pd.Series(dtype=float),
                             "usd": pd.Series(dtype=float)})
    grid = contracts.drop(columns=["quarter"]).merge(pd.DataFrame({"quarter": np.arange(n)}), how="cross")
    live = (grid["quarter"] >= grid["in_service"]) & (grid["quarter"] <= grid["term_end"])
    grid = grid[live.to_numpy()].reset_index(drop=True)
    return grid.assign(usd=grid["nodes"] * grid["_usd_per_node_quarter"])[["quarter", "site", "sku", "nodes", "usd"]]


def _nodes_in_service(scenario: Scenario, purchases: pd.DataFrame, rentals: pd.DataFrame,
                      placement: pd.DataFrame, contracts: pd.DataFrame | None = None,
                      spanning: pd.Series | None = None) -> pd.DataFrame:
    """Every (quarter, site, sku) of the horizon with owned, rented, busy and total nodes; `spanning` the busy
    node-equivalents of runs that span scalable units (their spine draws kW)."""
    n = scenario.horizon.quarters
    keys = ["quarter", "site", "sku"]
    grid = pd.MultiIndex.from_product([pd.RangeIndex(n, name="quarter"), scenario.sites.index.rename("site"),
                                       scenario.catalog.index.rename("sku")]).to_frame(index=False)
    life = life_in_quarters(scenario.catalog)
    quarters = pd.DataFrame({"quarter": np.arange(n)})

    # Existing fleet: counts from `installed`, retires after its life.
    fleet = scenario.fleet.merge(quarters, how="cross")
    live = (fleet["quarter"] >= fleet["installed"]) & (fleet["quarter"]
                                                       < fleet["installed"] + life.reindex(fleet["sku"]).to_numpy())
    existing = fleet[live].groupby(keys)["nodes"].sum().astype(float)

    # Orders: in service from order quarter + lead_quarters, for the SKU's life.
    ordered = purchases[["quarter", "site", "sku", "nodes"]].rename(columns={"quarter": "ordered"}) \
        .merge(quarters, how="cross")
    first = ordered["ordered"] + scenario.catalog["lead_quarters"].reindex(ordered["sku"]).to_numpy()
    live = (ordered["quarter"] >= first) & (ordered["quarter"] < first + life.reindex(ordered["sku"]).to_numpy())
    bought = ordered[live].groupby(keys)["nodes"].sum()

    rented = rentals.groupby(keys)["nodes"].sum()
    busy = placement.groupby(keys)["node_equivalents"].sum()
    index = pd.MultiIndex.from_frame(grid)
    grid["fleet"] = existing.reindex(index, fill_value=0.0).to_numpy()
    grid["owned"] = grid["fleet"] + bought.reindex(index, fill_value=0.0).to_numpy()
    grid["rented"] = rented.reindex(index, fill_value=0.0).to_numpy()
    committed = _contract_terms(contracts, n).groupby(keys)["nodes"].sum()
    grid["contracted"] = committed.reindex(index, fill_value=0.0).to_numpy()
    grid["nodes"] = grid["owned"] + grid["rented"] + grid["contracted"]
    grid["busy"] = busy.reindex(index, fill_value=0.0).to_numpy()
    sku = scenario.catalog.reindex(grid["sku"])
    grid["it_kw"] = sku["node_kw"].to_numpy() * (sku["idle_frac"].to_numpy() * grid["nodes"].to_numpy()
                                                 + (1.0 - sku["idle_frac"].to_numpy()) * grid["busy"].to_numpy())
    grid["spanning"] = (spanning.reindex(index, fill_value=0.0).to_numpy() if spanning is not None
                        else np.zeros(len(grid)))
    fabric = _fabric_by_sku(scenario).reindex(grid["sku"])
    # docs/datacenter-2026.md: a node's leaf ports draw always, the spine per busy node-equivalent of a spanning run
    grid["it_kw"] = grid["it_kw"] + fabric["leaf_kw_per_node"].to_numpy() * grid["nodes"].to_numpy() \
        + fabric["spine_kw_per_node"].to_numpy() * grid["spanning"].to_numpy()
    grid["facility_kw"] = grid["it_kw"] * scenario.sites["pue"].reindex(grid["site"]).to_numpy()
    return grid


def _fabric_by_sku(scenario: Scenario) -> pd.DataFrame:
    """The fabric table by sku, every SKU of the catalog present (zeros where it has no row; no SKU spans)."""
    fabric = getattr(scenario, "fabric", None)
    columns = ["leaf_usd_per_node", "leaf_kw_per_node", "spine_usd_per_node", "spine_kw_per_node"]
    frame = pd.DataFrame(0.0, index=scenario.catalog.index, columns=columns)
    frame["nodes_per_su"] = np.inf
    if fabric is not None and not fabric.empty:
        frame.loc[fabric.index, columns] = fabric[columns].astype(float).to_numpy()
        frame.loc[fabric.index, "nodes_per_su"] = fabric["nodes_per_su"].astype(float).to_numpy()
    return frame


def _spanning_busy(scenario: Scenario, performance: pd.DataFrame, placement: pd.DataFrame) -> pd.Series:
    """By (quarter, site, sku): node-equivalents of training that spans scalable units at owned sites (docs/
    datacenter-2026.md): a run whose minimum footprint exceeds one SU (min_nodes > nodes_per_su), or that keeps more
    node-equivalents busy in the quarter than one SU holds. They need the spine."""
    kind = scenario.workloads["kind"].reindex(placement["workload"]).to_numpy()
    owned = (scenario.sites["kind"].reindex(placement["site"]) == "owned").to_numpy()
    min_nodes = performance["min_nodes"].reindex(pd.MultiIndex.from_frame(placement[["workload", "sku"]])) \
        .to_numpy(dtype=float)
    per_su = _fabric_by_sku(scenario)["nodes_per_su"].reindex(placement["sku"]).to_numpy(dtype=float)
    busy = placement["node_equivalents"].to_numpy(dtype=float)
    wide = (np.nan_to_num(min_nodes, nan=0.0) > per_su) | (busy > per_su + TOLERANCE_NODES * np.maximum(1.0, per_su))
    spans = (kind == "training") & owned & wide
    return placement[spans].groupby(["quarter", "site", "sku"])["node_equivalents"].sum().astype(float)


def _storage_held(scenario: Scenario, placement: pd.DataFrame) -> pd.DataFrame:
    """(quarter, workload, site, tb, kw, usd): the storage each workload holds where it runs (docs/datacenter-2026.md):
    an inference service's storage_tb × the tokens/s it serves there ÷ its demand; a training run's whole storage_tb
    at its site in each quarter it has work there. kw = TB × storage_kw_per_pb / 1,000; usd = TB × $/TB-quarter."""
    tb = scenario.workloads["storage_tb"] if "storage_tb" in scenario.workloads.columns else None
    columns = ["quarter", "workload", "site", "tb", "kw", "usd"]
    if tb is None or not (tb.fillna(0.0) > 0).any() or placement.empty:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in columns})
    tb = tb.fillna(0.0).astype(float)
    rows = placement[placement["workload"].map(tb).fillna(0.0).to_numpy() > 0]
    by_site = rows.groupby(["quarter", "workload", "site"])["units"].sum().reset_index()
    demand = scenario.demand.groupby(["quarter", "workload"])["tokens_per_s"].sum()
    wanted = demand.reindex(pd.MultiIndex.from_frame(by_site[["quarter", "workload"]])).to_numpy(dtype=float)
    inference = (scenario.workloads["kind"].reindex(by_site["workload"]) == "inference").to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(inference, by_site["units"].to_numpy() / wanted, 1.0)
    held_tb = by_site["workload"].map(tb).to_numpy() * np.nan_to_num(share, nan=0.0, posinf=0.0)
    sites = scenario.sites
    usd = _site_column(sites, "storage_usd_per_tb_quarter").astype(float).fillna(0.0)
    kw_per_pb = _site_column(sites, "storage_kw_per_pb").astype(float).fillna(0.0)
    return by_site.assign(tb=held_tb, kw=held_tb * kw_per_pb.reindex(by_site["site"]).to_numpy() / 1_000.0,
                          usd=held_tb * usd.reindex(by_site["site"]).to_numpy())[columns]


def _check_fleet_table(ledger: _Ledger, scenario: Scenario, grid: pd.DataFrame, stated: pd.DataFrame,
                       tol: Tolerances) -> None:
    keys = ["quarter", "site", "sku"]
    duplicated = stated.duplicated(keys, keep=False).to_numpy()
    ledger.record("fleet", stated, duplicated.astype(float), 0.0,
                  lambda r, size: "the fleet table lists this quarter, site and SKU more than once")
    stated = stated.drop_duplicates(keys)
    rebuilt = grid[grid["nodes"] > tol.nodes]
    both = rebuilt.merge(stated, on=keys, how="outer", suffixes=("", "_plan"), indicator=True)
    for column in ("nodes", "it_kw", "facility_kw", "nodes_plan", "it_kw_plan", "facility_kw_plan"):
        both[column] = both[column].fillna(0.0)
    ledger.record("fleet", both, np.abs(both["nodes_plan"] - both["nodes"]), tol.node(both["nodes"]),
                  lambda r, size: f"plan has {r['nodes_plan']:g} node(s) in service, fleet + orders + rentals "
                                  f"give {r['nodes']:g} (off by {size:g} nodes)")
    for column in ("it_kw", "facility_kw"):
        ledger.record("fleet", both, np.abs(both[f"{column}_plan"] - both[column]),
                      tol.quantity(both[column], both[f"{column}_plan"]),
                      lambda r, size, c=column: f"{c} is {r[f'{c}_plan']:,.6f} kW, recomputed {r[c]:,.6f} kW "
                                                f"(off by {size:,.6f} kW)")


# --- placement, capacity, demand --------------------------------------------------------------------------

def _check_placement(ledger: _Ledger, scenario: Scenario, performance: pd.DataFrame, placement: pd.DataFrame,
                     tol: Tolerances) -> pd.DataFrame:
    """Eligibility, allowed sites, windows, units; returns placement with the performance columns joined."""
    workloads, horizon = scenario.workloads, scenario.horizon
    pair = performance.reindex(pd.MultiIndex.from_frame(placement[["workload", "sku"]]))
    frame = placement.assign(kind=workloads["kind"].reindex(placement["workload"]).to_numpy(),
                             rate=pair["tokens_per_s_per_node"].to_numpy(dtype=float),
                             node_hours=pair["node_hours"].to_numpy(dtype=float),
                             min_nodes=pair["min_nodes"].to_numpy(dtype=float),
                             _reason=pair["reason"].fillna("not in the performance model").to_numpy())
    eligible = pair["eligible"].fillna(False).to_numpy(dtype=bool)
    ledger.record("placement_eligible", frame, (~eligible).astype(float), 0.0,
                  lambda r, size: f"{r['workload']} placed on {r['sku']}, which cannot run it ({r['_reason']})")

    allowed = pd.DataFrame({"workload": workloads.index,
                            "site": [scenario.allowed_sites(w) for w in workloads.index]}).explode("site")
    allowed_keys = pd.MultiIndex.from_frame(allowed[["workload", "site"]])
    on_allowed = pd.MultiIndex.from_frame(placement[["workload", "site"]]).isin(allowed_keys)
    ledger.record("placement_eligible", frame, (~on_allowed).astype(float), 0.0,
                  lambda r, size: f"{r['workload']} placed at '{r['site']}', not among its allowed sites")

    start = workloads["start"].reindex(placement["workload"]).to_numpy(dtype=float, na_value=-np.inf)
    deadline = workloads["deadline"].reindex(placement["workload"]).to_numpy(dtype=float, na_value=np.inf)
    quarter = placement["quarter"].to_numpy(dtype=float)
    outside = np.maximum(start - quarter, quarter - deadline)
    ledger.record("placement_window", frame.assign(_start=start, _deadline=deadline), outside, 0.0,
                  lambda r, size: f"{r['workload']} runs {size:g} quarter(s) outside its window "
                                  f"{_window_text(horizon, r['_start'], r['_deadline'])}")

    ne = placement["node_equivalents"].to_numpy()
    ledger.record("placement_units", frame, -ne, tol.nodes,
                  lambda r, size: f"negative node-equivalents {r['node_equivalents']:g}")
    units = ne * frame["rate"].to_numpy()
    # A TTFT quantile SLO serves below the roofline (what it may serve there is the ttft_slo check's): units are
    # then at most node-equivalents x tokens/s per node, and the demand check counts the units stated.
    queued = placement["workload"].isin(_queued_services(scenario)).to_numpy()
    stated = placement["units"].to_numpy(dtype=float)
    units = np.where(queued & (stated <= units), stated, units)
    ledger.record("placement_units", frame.assign(_units=units), np.abs(placement["units"].to_numpy() - units),
                  tol.quantity(units, placement["units"]),
                  lambda r, size: f"units {r['units']:,.6f} tokens/s, but {r['node_equivalents']:g} "
                                  f"node-equivalents x {r['rate']:,.6g} tokens/s per node = {r['_units']:,.6f} "
                                  f"(off by {size:,.6f} tokens/s)")
    return frame.assign(eligible=eligible, units_recomputed=units)


def _window_text(horizon, start: float, deadline: float) -> str:
    first = horizon.label(int(start)) if np.isfinite(start) else "the start"
    last = horizon.label(int(deadline)) if np.isfinite(deadline) else "the end"
    return f"{first}..{last}"


def _availability(catalog: pd.DataFrame, sku_labels) -> np.ndarray:
    """The verifier's copy of the failure derate: a node is up 1 − afr_per_node_year × repair_hours / 8,760 of
    the year (docs/datacenter-2026.md, "Failures"); 1 where the catalog states no failures."""
    down_hours = np.ones(len(sku_labels))
    for name in ("afr_per_node_year", "repair_hours"):
        column = catalog[name] if name in catalog.columns else pd.Series(0.0, index=catalog.index)
        down_hours = down_hours * pd.to_numeric(column, errors="coerce").fillna(0.0).reindex(sku_labels).to_numpy()
    return 1.0 - down_hours / (QUARTERS_PER_YEAR * HOURS_PER_QUARTER)


def _with_failure_node_hours(scenario: Scenario, performance: pd.DataFrame) -> pd.DataFrame:
    """Training node-hours under failures, recomputed: the undisrupted node-hours (the performance model without
    the catalog's failure columns) over 1 − f, f = sqrt(2 δ / M) + R / M the loss at Young's optimum checkpoint
    interval, M = 8,760 / (N · afr) the job's hours between interruptions on the N nodes that finish the run in
    its window (at least min_nodes; docs/datacenter-2026.md, "Failures"). Unchanged without failure rates."""
    catalog = scenario.catalog
    if "afr_per_node_year" not in catalog.columns or not (pd.to_numeric(
            catalog["afr_per_node_year"], errors="coerce").fillna(0.0) > 0).any():
        return performance
    from models.failures import CHECKPOINT_WRITE_HOURS, FAILURE_COLUMNS, RESTART_HOURS  # the assumptions only

    plain = estimate_performance(catalog.drop(columns=[c for c in FAILURE_COLUMNS if c in catalog.columns]),
                                 scenario.workloads, scenario.throughput)
    runs = plain.index.get_level_values("workload")
    workloads = scenario.workloads.reindex(runs)
    training = (workloads["kind"] == "training").to_numpy()
    first = workloads["start"].to_numpy(dtype=float, na_value=0.0)
    last = workloads["deadline"].to_numpy(dtype=float, na_value=np.nan)
    hours = (np.nan_to_num(last, nan=-1.0) - np.nan_to_num(first, nan=0.0) + 1.0) * HOURS_PER_QUARTER
    plain_hours = plain["node_hours"].to_numpy(dtype=float)
    pool = np.maximum(np.where(np.isnan(last), 0.0, plain_hours / np.where(hours > 0, hours, 1.0)),
                      plain["min_nodes"].to_numpy(dtype=float))
    afr = pd.to_numeric(catalog["afr_per_node_year"], errors="coerce").fillna(0.0).reindex(
        plain.index.get_level_values("sku")).to_numpy()
    interruptions_per_hour = np.nan_to_num(pool) * afr / (QUARTERS_PER_YEAR * HOURS_PER_QUARTER)
    lost = np.sqrt(2.0 * CHECKPOINT_WRITE_HOURS * interruptions_per_hour) + RESTART_HOURS * interruptions_per_hour
    kept = 1.0 - lost
    node_hours = np.where(training & (kept > 0), plain_hours / np.where(kept > 0, kept, 1.0), plain_hours)
    eligible = plain["eligible"].to_numpy(dtype=bool) & ~(training & (kept <= 0))
    reason = np.where(training & (kept <= 0), "interruptions lose the whole run", plain["reason"].to_numpy())
    return plain.assign(node_hours=node_hours, eligible=eligible, reason=reason)


def _check_capacity(ledger: _Ledger, scenario: Scenario, grid: pd.DataFrame, tol: Tolerances) -> None:
    """Σ_w busy[t,w,s,k] ≤ (1 − headroom) · a[k] · nodes[t,s,k], a[k] the availability under failures."""
    usable = (1.0 - scenario.headroom) * _availability(scenario.catalog, grid["sku"]) * grid["nodes"].to_numpy()
    frame = grid.assign(_usable=usable)
    ledger.record("capacity", frame, grid["busy"].to_numpy() - usable, tol.node(usable),
                  lambda r, size: f"{r['busy']:,.6g} busy node-equivalents on {r['nodes']:g} node(s) in service "
                                  f"(usable {r['_usable']:,.6g} at headroom {scenario.headroom:g}): "
                                  f"over by {size:,.6g} node-equivalents")


def _check_demand(ledger: _Ledger, scenario: Scenario, placement: pd.DataFrame, unmet: pd.DataFrame,
                  tol: Tolerances) -> None:
    """Σ_{s,k} tokens_per_s_per_node · busy + unmet = demand, for every quarter and inference workload."""
    workloads = scenario.workloads
    inference = workloads.index[workloads["kind"] == "inference"]
    index = pd.MultiIndex.from_product([pd.RangeIndex(scenario.horizon.quarters), inference],
                                       names=["quarter", "workload"])
    demand = scenario.demand.groupby(["quarter", "workload"])["tokens_per_s"].sum().reindex(index, fill_value=0.0)
    served = placement[placement["kind"] == "inference"].groupby(["quarter", "workload"])["units_recomputed"] \
        .sum().reindex(index, fill_value=0.0)
    not_inference = ~unmet["workload"].isin(inference).to_numpy()
    ledger.record("demand", unmet, not_inference.astype(float), 0.0,
                  lambda r, size: f"unmet demand reported for '{r['workload']}', which is not an inference service")
    ledger.record("demand", unmet, -unmet["units"].to_numpy(), tol.quantity(unmet["units"]),
                  lambda r, size: f"negative unmet demand {r['units']:g} tokens/s")
    left = unmet[~not_inference].groupby(["quarter", "workload"])["units"].sum().reindex(index, fill_value=0.0)
    frame = pd.DataFrame({"demand": demand.to_numpy(), "served": served.to_numpy(), "unmet": left.to_numpy()},
                         index=index).reset_index()
    gap = frame["served"] + frame["unmet"] - frame["demand"]
    ledger.record("demand", frame, np.abs(gap.to_numpy()), tol.quantity(frame["demand"]),
                  lambda r, size: f"served {r['served']:,.6f} + unmet {r['unmet']:,.6f} tokens/s != demand "
                                  f"{r['demand']:,.6f} tokens/s (off by {size:,.6f} tokens/s)")


def _queued_services(scenario: Scenario) -> pd.Index:
    """Inference services with a TTFT quantile SLO (the verifier's own reading of the column)."""
    workloads = scenario.workloads
    if "ttft_quantile" not in workloads:
        return pd.Index([])
    return workloads.index[(workloads["kind"] == "inference") & workloads["ttft_quantile"].notna()]


def _waiting_probability(servers: np.ndarray, load: np.ndarray) -> np.ndarray:
    """Erlang C, the verifier's own copy, in the form T / (P(N ≤ c − 1) + T) with T = P(N = c) c / (c − a) for N
    Poisson(a) (Gross & Harris §2.3), through log-gamma and Q(c, a) so real c in the millions stay finite."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        top = np.exp(servers * np.log(np.maximum(load, 1e-300)) - load - gammaln(servers + 1.0)) \
            * servers / (servers - load)
        waiting = top / (gammaincc(servers, load) + top)
    return np.where(load <= 0, 0.0, np.where(load < servers, np.clip(waiting, 0.0, 1.0), 1.0))


def _check_ttft_slo(ledger: _Ledger, scenario: Scenario, performance: pd.DataFrame, placement: pd.DataFrame,
                    tol: Tolerances) -> None:
    """P(wait + prefill > max_ttft_s) ≤ 1 − ttft_quantile per quarter and SLO service, all its pools one FCFS queue
    of slots (replicas × batch). With λ_k = units_k / output_tokens and S_k = output_tokens × batch / replica
    tokens/s on SKU k: c = Σ slots_k, μ = Σ slots_k / S_k / c, a = λ / μ, and (Allen–Cunneen, Poisson arrivals)
    P = Σ_k (λ_k / λ) · C(c, a) · exp(−(c μ − λ) · 2 / (1 + cv²) · (max_ttft_s − ttft_s[k]))."""
    services = _queued_services(scenario)
    rows = placement[placement["workload"].isin(services) & (placement["node_equivalents"] > tol.nodes)
                     & placement["eligible"]]
    if services.empty or rows.empty:
        return
    pair = performance.reindex(pd.MultiIndex.from_frame(rows[["workload", "sku"]]))
    w = scenario.workloads.reindex(rows["workload"])
    output = w["output_tokens"].to_numpy(dtype=float)
    cv = (w["output_tokens_cv"].to_numpy(dtype=float) if "output_tokens_cv" in w else np.full(len(rows), np.nan))
    per_node = pair["replicas_per_node"].to_numpy(dtype=float)
    batch = pair["batch"].to_numpy(dtype=float)
    slots = rows["node_equivalents"].to_numpy(dtype=float) * per_node * batch
    service_s = output * batch * per_node / rows["rate"].to_numpy(dtype=float)
    arrivals = rows["units"].to_numpy(dtype=float) / output
    budget_s = w["max_ttft_s"].to_numpy(dtype=float) - pair["ttft_s"].to_numpy(dtype=float)
    frame = pd.DataFrame({"quarter": rows["quarter"].to_numpy(), "workload": rows["workload"].to_numpy(),
                          "slots": slots, "rate": slots / service_s, "arrivals": arrivals})
    queue = frame.groupby(["quarter", "workload"])[["slots", "rate", "arrivals"]].transform("sum")
    load = queue["arrivals"].to_numpy() * queue["slots"].to_numpy() / queue["rate"].to_numpy()
    decay = (queue["rate"].to_numpy() - queue["arrivals"].to_numpy()) * 2.0 / (1.0 + np.nan_to_num(cv, nan=1.0) ** 2)
    with np.errstate(over="ignore", invalid="ignore"):
        late = np.where(budget_s >= 0, _waiting_probability(queue["slots"].to_numpy(), load)
                        * np.exp(-decay * np.maximum(budget_s, 0.0)), 1.0)
    frame["late"] = np.where(load < queue["slots"].to_numpy(), late, 1.0) * frame["arrivals"]
    per_service = frame.groupby(["quarter", "workload"])[["late", "arrivals", "slots"]].sum().reset_index()
    allowed = 1.0 - scenario.workloads["ttft_quantile"].reindex(per_service["workload"]).to_numpy(dtype=float)
    limit = scenario.workloads["max_ttft_s"].reindex(per_service["workload"]).to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        share_late = np.where(per_service["arrivals"] > 0, per_service["late"] / per_service["arrivals"], 0.0)
    checked = per_service.assign(_late=share_late, _allowed=allowed, _limit=limit)
    ledger.record("ttft_slo", checked, share_late - allowed, allowed * SLO_RELATIVE_TOLERANCE,
                  lambda r, size: f"{r['workload']}: {r['_late']:.4%} of requests wait past the {r['_limit']:g} s "
                                  f"TTFT SLO on {r['slots']:,.1f} slots, more than the {r['_allowed']:.4%} allowed")


def _check_min_nodes(ledger: _Ledger, placement: pd.DataFrame, grid: pd.DataFrame, tol: Tolerances) -> None:
    """nodes[t,s,k] ≥ min_nodes[w,k] wherever w is busy on (s, k) in t: a training run, or an inference replica
    spanning several nodes, cannot run on fewer nodes than it needs (docs/model.md, "minimum nodes")."""
    busy = placement[(placement["node_equivalents"] > tol.nodes) & placement["eligible"]].reset_index(drop=True)
    nodes = grid.set_index(["quarter", "site", "sku"])["nodes"].reindex(
        pd.MultiIndex.from_frame(busy[["quarter", "site", "sku"]])).to_numpy()
    frame = busy.assign(_nodes=nodes)
    ledger.record("min_nodes", frame, busy["min_nodes"].to_numpy() - nodes, tol.node(nodes),
                  lambda r, size: f"{r['workload']} runs on {r['_nodes']:g} node(s), fewer than its minimum of "
                                  f"{r['min_nodes']:g} (short by {size:g} nodes)")


# --- training ---------------------------------------------------------------------------------------------

def _check_training(ledger: _Ledger, scenario: Scenario, performance: pd.DataFrame, placement: pd.DataFrame,
                    unfinished: pd.DataFrame, tol: Tolerances, spot: pd.DataFrame | None = None) -> None:
    workloads, finance = scenario.workloads, scenario.finance
    runs = workloads.index[workloads["kind"] == "training"]
    training = placement[(placement["kind"] == "training")
                         & (placement["node_equivalents"] > tol.nodes)].reset_index(drop=True)
    # Spot node-hours (docs/datacenter-2026.md "Spot") count as the run's work in its pool: node-equivalents of
    # 2,190 h each, of the work they deliver (the recomputed work_node_hours, not the plan's).
    if spot is not None and len(spot):
        used = spot[spot["node_hours"] > tol.nodes]
        training = pd.concat([training, pd.DataFrame({
            "quarter": used["quarter"].to_numpy(), "workload": used["workload"].to_numpy(),
            "site": used["site"].to_numpy(), "sku": used["sku"].to_numpy(),
            "node_equivalents": used["_work"].to_numpy() / HOURS_PER_QUARTER,
            "node_hours": used["_run_node_hours"].to_numpy()})], ignore_index=True)

    # One (site, sku) pool per run.
    pools = training.drop_duplicates(["workload", "site", "sku"])
    count = pools.groupby("workload").size().reindex(runs, fill_value=0)
    names = pools.assign(pool=pools["site"] + "/" + pools["sku"]).groupby("workload")["pool"] \
        .agg(", ".join).reindex(runs, fill_value="")
    frame = pd.DataFrame({"workload": runs, "pools": count.to_numpy(), "_names": names.to_numpy()})
    ledger.record("training_pool", frame, frame["pools"].to_numpy() - 1.0, 0.0,
                  lambda r, size: f"{r['workload']} is split across {r['pools']} pools ({r['_names']}): "
                                  f"{size:g} pool(s) too many")

    # Work: Σ_t 2,190 · busy / node_hours ≥ 1 − fraction_left.
    share = training["node_equivalents"] * HOURS_PER_QUARTER / training["node_hours"]
    done = share.groupby(training["workload"]).sum().reindex(runs, fill_value=0.0)
    bad_rows = ~unfinished["workload"].isin(runs).to_numpy()
    ledger.record("training_unfinished", unfinished, bad_rows.astype(float), 0.0,
                  lambda r, size: f"unfinished work reported for '{r['workload']}', which is not a training run")
    unfinished = unfinished[~bad_rows]
    left = unfinished.groupby("workload")["fraction_left"].sum().reindex(runs, fill_value=0.0)
    node_hours = _run_node_hours(performance, runs, pools)
    frame = pd.DataFrame({"workload": runs, "done": done.to_numpy(), "left": left.to_numpy(),
                          "node_hours": node_hours})
    missing = 1.0 - frame["left"] - frame["done"]
    ledger.record("training_work", frame, missing.to_numpy(), tol.nodes,
                  lambda r, size: f"{r['workload']} does {r['done']:.6%} of its run and reports {r['left']:.6%} "
                                  f"left undone: {size:.6%} of the run ({size * r['node_hours']:,.1f} node-hours) "
                                  f"unaccounted for")

    # Fraction left: in [0, 1]; 0 when every run must finish.
    must_finish = finance.unfinished_training_usd is None
    upper = np.where(must_finish, 0.0, 1.0)
    excess = np.maximum(frame["left"].to_numpy() - upper, -frame["left"].to_numpy())
    ledger.record("training_unfinished", frame, excess, tol.nodes,
                  lambda r, size: f"{r['workload']} leaves {r['left']:.6%} of its run undone"
                                  + (", but the scenario has no unfinished_training_usd: runs must finish"
                                     if must_finish else ", outside [0, 1]"))
    deadline = workloads["deadline"].reindex(unfinished["workload"]).to_numpy(dtype=float, na_value=np.nan)
    ledger.record("training_unfinished", unfinished.assign(_deadline=deadline),
                  np.abs(unfinished["deadline"].to_numpy() - deadline), 0.0,
                  lambda r, size: f"unfinished cost dated {scenario.horizon.label(int(r['deadline']))}, but the "
                                  f"run's deadline is "
                                  + (scenario.horizon.label(int(r['_deadline'])) if np.isfinite(r['_deadline'])
                                     else "not set"))
    penalty = finance.unfinished_training_usd or 0.0
    _record_equal_money(ledger, "training_unfinished", unfinished, unfinished["cost_usd"],
                        unfinished["fraction_left"].to_numpy() * penalty, tol, "unfinished cost_usd")


def _run_node_hours(performance: pd.DataFrame, runs: pd.Index, pools: pd.DataFrame) -> np.ndarray:
    """Node-hours of each run on the SKU of its (first) pool; on its fastest eligible SKU when it has none."""
    used = pools.drop_duplicates("workload").set_index("workload")["node_hours"].reindex(runs)
    eligible = performance[performance["eligible"]]["node_hours"]
    fastest = eligible.groupby(level="workload").min().reindex(runs)
    return used.fillna(fastest).to_numpy(dtype=float)


# --- spot -------------------------------------------------------------------------------------------------

def _spot_records(plan: dict, horizon) -> pd.DataFrame:
    """PLAN.json's optional `spot` table, quarters relative to the start (empty without one)."""
    columns = {"quarter": "quarter", "workload": "text", "site": "text", "sku": "text", "spot_nodes": "number",
               "node_hours": "number", "work_node_hours": "number", "energy_kwh": "number", "spot_usd": "number"}
    return _optional_records(plan, "spot", columns, horizon)


def _check_spot(ledger: _Ledger, scenario: Scenario, performance: pd.DataFrame, spot: pd.DataFrame,
                tol: Tolerances) -> pd.DataFrame:
    """The spot rows against the scenario, on the verifier's own reading of docs/datacenter-2026.md "Spot"; returns
    the rows it can price, with the recomputed work (_work), kWh (_kwh), $ (_usd) and the run's node-hours on the
    SKU (_run_node_hours) joined: the training and cost checks use those, never the plan's figures."""
    catalog, sites, workloads = scenario.catalog, scenario.sites, scenario.workloads
    known = spot["workload"].isin(workloads.index) & spot["site"].isin(sites.index) & spot["sku"].isin(catalog.index)
    ledger.record("reference", spot, (~known.to_numpy()).astype(float), 0.0,
                  lambda r, size: f"spot row names an unknown workload, site or SKU ({r['workload']}, {r['site']}, "
                                  f"{r['sku']})")
    spot = spot[known.to_numpy()].reset_index(drop=True)
    w = workloads.reindex(spot["workload"])
    sku = catalog.reindex(spot["sku"])
    flag = w["preemptible"] if "preemptible" in w.columns else pd.Series(None, index=w.index, dtype=object)
    preemptible = (flag.astype(str).str.strip().str.lower() == "true").to_numpy() \
        & (w["kind"].to_numpy() == "training")
    price = pd.to_numeric(_site_column(catalog, "spot_usd_per_gpu_hour"), errors="coerce").reindex(spot["sku"]) \
        .to_numpy(dtype=float)
    share = pd.to_numeric(_site_column(catalog, "spot_availability"), errors="coerce").reindex(spot["sku"]) \
        .to_numpy(dtype=float)
    cloud = (sites["kind"].reindex(spot["site"]) == "cloud").to_numpy()
    allowed_pairs = pd.DataFrame({"workload": workloads.index,
                                  "site": [scenario.allowed_sites(w) for w in workloads.index]}).explode("site")
    allowed = pd.MultiIndex.from_frame(spot[["workload", "site"]]).isin(
        pd.MultiIndex.from_frame(allowed_pairs[["workload", "site"]]))
    pair = performance.reindex(pd.MultiIndex.from_frame(spot[["workload", "sku"]]))
    eligible = pair["eligible"].fillna(False).to_numpy(dtype=bool)
    fits, _ = _nodes_per_rack_at(scenario, spot["site"], spot["sku"])
    quarter = spot["quarter"].to_numpy(dtype=float)
    in_window = (quarter >= w["start"].to_numpy(dtype=float, na_value=-np.inf)) \
        & (quarter <= w["deadline"].to_numpy(dtype=float, na_value=np.inf)) \
        & (quarter >= sku["available_from"].to_numpy(dtype=float))
    why = np.select([~preemptible, ~cloud, ~allowed, np.isnan(price) | np.isnan(share), ~eligible, ~fits, ~in_window],
                    ["the workload is not a preemptible training run", "the site is not a cloud site",
                     "the site is not among the run's allowed sites", "the SKU has no spot price and availability",
                     "the SKU cannot run it", "its rack does not fit the site",
                     "outside the run's window or before the SKU's available_from"], "")
    frame = spot.assign(_why=why)
    ledger.record("spot", frame, (why != "").astype(float), 0.0,
                  lambda r, size: f"{r['node_hours']:g} spot node-hours for {r['workload']} on {r['sku']} at "
                                  f"'{r['site']}': {r['_why']}")
    hours = spot["node_hours"].to_numpy(dtype=float)
    ledger.record("spot", spot, -hours, tol.nodes, lambda r, size: f"negative spot node-hours {r['node_hours']:g}")
    ledger.record("spot", spot, np.abs(spot["spot_nodes"].to_numpy(dtype=float) - hours / HOURS_PER_QUARTER),
                  tol.node(hours / HOURS_PER_QUARTER),
                  lambda r, size: f"spot_nodes {r['spot_nodes']:g}, but {r['node_hours']:g} node-hours / 2,190 h "
                                  f"= {r['node_hours'] / HOURS_PER_QUARTER:g}")
    work = hours * np.nan_to_num(share, nan=0.0) * _availability(catalog, spot["sku"])
    ledger.record("spot", spot.assign(_w=work), np.abs(spot["work_node_hours"].to_numpy(dtype=float) - work),
                  tol.quantity(work), lambda r, size: f"work_node_hours {r['work_node_hours']:,.6g}, recomputed "
                                                      f"{r['_w']:,.6g} (node_hours x spot_availability x "
                                                      f"availability)")
    kwh = hours * sku["node_kw"].to_numpy(dtype=float) * sites["pue"].reindex(spot["site"]).to_numpy(dtype=float)
    ledger.record("spot", spot.assign(_k=kwh), np.abs(spot["energy_kwh"].to_numpy(dtype=float) - kwh),
                  tol.quantity(kwh), lambda r, size: f"energy_kwh {r['energy_kwh']:,.6g}, recomputed {r['_k']:,.6g}")
    usd = hours * np.nan_to_num(price, nan=0.0) * sku["gpus_per_node"].to_numpy(dtype=float)
    _record_equal_money(ledger, "spot", spot, spot["spot_usd"], usd, tol, "spot_usd")
    ok = why == ""
    return spot[ok].assign(_work=work[ok], _kwh=kwh[ok], _usd=usd[ok],
                           _run_node_hours=pair["node_hours"].to_numpy(dtype=float)[ok]).reset_index(drop=True)


# --- power, racks, budget ---------------------------------------------------------------------------------

def _site_column(sites: pd.DataFrame, name: str) -> pd.Series:
    return sites[name] if name in sites.columns else pd.Series(np.nan, index=sites.index, dtype=object)


def _nodes_per_rack_at(scenario: Scenario, site_labels, sku_labels) -> tuple[np.ndarray, np.ndarray]:
    """The verifier's own reading of docs/datacenter-2026.md, row by row: (whether the SKU's node may stand at the
    site, nodes a rack holds there). A `cooling_required: liquid` SKU needs a site whose cooling is liquid (or
    unstated); where the site states max_kw_per_rack, a rack holds min(nodes_per_rack, ⌊max_kw_per_rack /
    node_kw⌋) nodes and a node above the density fits nowhere there."""
    sites, catalog = scenario.sites, scenario.catalog
    cooling = _site_column(sites, "cooling").reindex(site_labels).to_numpy(dtype=object)
    density = pd.to_numeric(_site_column(sites, "max_kw_per_rack"), errors="coerce").reindex(site_labels) \
        .to_numpy(dtype=float)
    required = _site_column(catalog, "cooling_required").reindex(sku_labels).to_numpy(dtype=object)
    node_kw = catalog["node_kw"].reindex(sku_labels).to_numpy(dtype=float)
    listed = catalog["nodes_per_rack"].reindex(sku_labels).to_numpy(dtype=float)
    cooled = (required != "liquid") | (cooling == "liquid") | pd.isna(cooling)
    with np.errstate(invalid="ignore"):
        by_kw = np.floor(density / node_kw + 1e-9)
    per_rack = np.where(np.isnan(density), listed, np.minimum(listed, np.nan_to_num(by_kw, nan=0.0)))
    return cooled & (per_rack >= 1), per_rack


def _check_rack_fit(ledger: _Ledger, scenario: Scenario, grid: pd.DataFrame, tol: Tolerances) -> None:
    """No node (owned, fleet or rented) of a SKU at a site its rack does not fit."""
    held = grid[grid["nodes"] > tol.nodes].reset_index(drop=True)
    fits, _ = _nodes_per_rack_at(scenario, held["site"], held["sku"])
    ledger.record("rack_fit", held, np.where(fits, 0.0, held["nodes"].to_numpy()), 0.0,
                  lambda r, size: f"{r['nodes']:g} {r['sku']} node(s) at '{r['site']}', where its rack does not fit "
                                  f"(cooling or rack density)")


def _contract_records(plan: dict, horizon) -> pd.DataFrame:
    """PLAN.json's optional `contracts` table, quarters relative to the start (empty without one)."""
    columns = {"quarter": "quarter", "contract": "text", "site": "text", "sku": "text", "contract_blocks": "number",
               "nodes": "number", "in_service": "quarter", "term_end": "quarter", "commitment_usd": "number"}
    return _optional_records(plan, "contracts", columns, horizon)


def _check_contracts(ledger: _Ledger, scenario: Scenario, signed: pd.DataFrame, tol: Tolerances) -> pd.DataFrame:
    """The signings against the scenario's contracts; returns the valid ones with $ per node-quarter joined."""
    offers = getattr(scenario, "contracts", None)
    if offers is None:
        offers = pd.DataFrame(columns=["site", "sku", "term_quarters", "usd_per_gpu_hour", "min_nodes",
                                       "available_from", "lead_quarters", "max_blocks"])
    n = scenario.horizon.quarters
    known = signed["contract"].isin(offers.index).to_numpy()
    ledger.record("contract", signed, (~known).astype(float), 0.0,
                  lambda r, size: f"unknown contract '{r['contract']}'")
    signed = signed[known].reset_index(drop=True)
    offer = offers.reindex(signed["contract"])
    mismatch = (offer["site"].to_numpy(dtype=object) != signed["site"].to_numpy(dtype=object)) \
        | (offer["sku"].to_numpy(dtype=object) != signed["sku"].to_numpy(dtype=object))
    ledger.record("contract", signed, mismatch.astype(float), 0.0,
                  lambda r, size: f"contract '{r['contract']}' is for {offers.at[r['contract'], 'sku']} at "
                                  f"'{offers.at[r['contract'], 'site']}', not {r['sku']} at '{r['site']}'")
    blocks = signed["contract_blocks"].to_numpy(dtype=float)
    ledger.record("contract", signed, np.maximum(np.abs(blocks - np.round(blocks)), -blocks), tol.node(blocks),
                  lambda r, size: f"{r['contract_blocks']!r} blocks is not a whole, non-negative number")
    ledger.record("contract", signed, offer["available_from"].to_numpy(dtype=float)
                  - signed["quarter"].to_numpy(dtype=float), 0.0,
                  lambda r, size: f"'{r['contract']}' signed {size:g} quarter(s) before its available_from")
    start = signed["quarter"].to_numpy(dtype=float) + offer["lead_quarters"].to_numpy(dtype=float)
    end = start + offer["term_quarters"].to_numpy(dtype=float) - 1
    wrong = np.abs(signed["in_service"].to_numpy(dtype=float) - start) \
        + np.abs(signed["term_end"].to_numpy(dtype=float) - end) + np.maximum(end - (n - 1), 0)
    ledger.record("contract", signed, wrong, 0.0,
                  lambda r, size: f"'{r['contract']}' term {scenario.horizon.label(int(r['in_service']))}.."
                                  f"{scenario.horizon.label(int(r['term_end']))} is off its sign quarter + lead and "
                                  f"term, or runs past the horizon, by {size:g} quarter(s)")
    nodes = blocks * offer["min_nodes"].to_numpy(dtype=float)
    ledger.record("contract", signed, np.abs(signed["nodes"].to_numpy(dtype=float) - nodes), tol.node(nodes),
                  lambda r, size: f"{r['nodes']:g} nodes, but {r['contract_blocks']:g} blocks of min_nodes give "
                                  f"{r['nodes'] - size:g}")
    total = signed.groupby("contract")["contract_blocks"].sum()
    frame = pd.DataFrame({"contract": total.index, "blocks": total.to_numpy(),
                          "most": offers["max_blocks"].reindex(total.index).to_numpy(dtype=float)})
    ledger.record("contract", frame, frame["blocks"].to_numpy() - frame["most"].to_numpy(), tol.nodes,
                  lambda r, size: f"{r['blocks']:g} blocks of '{r['contract']}' signed, at most {r['most']:g}")
    gpus = scenario.catalog["gpus_per_node"].reindex(signed["sku"]).to_numpy(dtype=float)
    per_node_quarter = gpus * offer["usd_per_gpu_hour"].to_numpy(dtype=float) * HOURS_PER_QUARTER
    _record_equal_money(ledger, "contract", signed, signed["commitment_usd"],
                        nodes * per_node_quarter * offer["term_quarters"].to_numpy(dtype=float), tol,
                        "commitment_usd")
    return signed.assign(nodes=nodes, _usd_per_node_quarter=per_node_quarter)


def _optional_records(plan: dict, name: str, columns: dict, horizon) -> pd.DataFrame:
    records = plan.get(name) or []
    frame = pd.DataFrame.from_records(records, columns=list(columns)) if records else \
        pd.DataFrame({column: pd.Series(dtype=float if kind != "text" else object) for column, kind in columns.items()})
    problems = []
    for column, kind in columns.items():
        try:
            frame[column] = _typed_column(frame[column], kind, horizon) if len(frame) else frame[column]
        except ValueError as error:
            problems.append(f"'{name}.{column}': {error}")
    if problems:
        raise PlanFormatError(problems)
    return frame


def _facility_records(plan: dict, horizon) -> pd.DataFrame:
    """PLAN.json's optional `facility` table, quarters relative to the start (empty without one)."""
    columns = {"quarter": "quarter", "option": "text", "site": "text", "facility_units": "number",
               "in_service": "quarter", "capex_usd": "number"}
    return _optional_records(plan, "facility", columns, horizon)


def _check_facility(ledger: _Ledger, scenario: Scenario, facility: pd.DataFrame, tol: Tolerances) -> pd.DataFrame:
    """The build-out decisions against the scenario's facility_options; returns the valid ones with the
    options' columns (racks, power_mw, price_usd, life_years) joined, for the caps and the costs."""
    options = getattr(scenario, "facility_options", None)
    if options is None:
        options = pd.DataFrame(columns=["site", "racks", "power_mw", "price_usd", "lead_quarters",
                                        "available_from", "life_years", "max_units"])
    n = scenario.horizon.quarters
    known = facility["option"].isin(options.index).to_numpy()
    ledger.record("facility", facility, (~known).astype(float), 0.0,
                  lambda r, size: f"unknown facility option '{r['option']}'")
    facility = facility[known].reset_index(drop=True)
    option = options.reindex(facility["option"])
    wrong_site = (option["site"].to_numpy(dtype=object) != facility["site"].to_numpy(dtype=object))
    ledger.record("facility", facility, wrong_site.astype(float), 0.0,
                  lambda r, size: f"option '{r['option']}' builds at '{options.at[r['option'], 'site']}', "
                                  f"not '{r['site']}'")
    units = facility["facility_units"].to_numpy(dtype=float)
    ledger.record("facility", facility, np.maximum(np.abs(units - np.round(units)), -units), tol.node(units),
                  lambda r, size: f"{r['facility_units']!r} units is not a whole, non-negative number")
    ledger.record("facility", facility, option["available_from"].to_numpy(dtype=float)
                  - facility["quarter"].to_numpy(dtype=float), 0.0,
                  lambda r, size: f"'{r['option']}' built {size:g} quarter(s) before its available_from")
    first = facility["quarter"].to_numpy(dtype=float) + option["lead_quarters"].to_numpy(dtype=float)
    wrong = np.abs(facility["in_service"].to_numpy(dtype=float) - first) + np.maximum(first - (n - 1), 0)
    ledger.record("facility", facility, wrong, 0.0,
                  lambda r, size: f"'{r['option']}' in service {scenario.horizon.label(int(r['in_service']))}, but "
                                  f"build quarter + lead_quarters is off by {size:g} quarter(s)")
    total = facility.groupby("option")["facility_units"].sum()
    frame = pd.DataFrame({"option": total.index, "units": total.to_numpy(),
                          "most": options["max_units"].reindex(total.index).to_numpy(dtype=float)})
    ledger.record("facility", frame, frame["units"].to_numpy() - frame["most"].to_numpy(), tol.nodes,
                  lambda r, size: f"{r['units']:g} units of '{r['option']}' built, at most {r['most']:g} allowed")
    _record_equal_money(ledger, "facility", facility, facility["capex_usd"],
                        units * option["price_usd"].to_numpy(dtype=float), tol, "facility capex_usd")
    return facility.assign(racks=option["racks"].to_numpy(dtype=float),
                           power_mw=option["power_mw"].to_numpy(dtype=float),
                           price_usd=option["price_usd"].to_numpy(dtype=float),
                           life_years=option["life_years"].to_numpy(dtype=float))


def _facility_in_service(facility: pd.DataFrame, n: int) -> pd.DataFrame:
    """(quarter, site, option) rows of built units in service: from in_service for round(life_years × 4)."""
    if facility is None or facility.empty:
        return pd.DataFrame({"quarter": pd.Series(dtype=int), "site": pd.Series(dtype=object),
                             "units": pd.Series(dtype=float), "racks": pd.Series(dtype=float),
                             "power_mw": pd.Series(dtype=float), "price_usd": pd.Series(dtype=float),
                             "life_years": pd.Series(dtype=float)})
    grid = facility.drop(columns=["quarter"]).merge(pd.DataFrame({"quarter": np.arange(n)}), how="cross")
    life = np.rint(grid["life_years"].to_numpy() * QUARTERS_PER_YEAR)
    live = (grid["quarter"] >= grid["in_service"]) & (grid["quarter"] < grid["in_service"] + life)
    return grid[live.to_numpy()].rename(columns={"facility_units": "units"}).reset_index(drop=True)


def _check_power_and_racks(ledger: _Ledger, scenario: Scenario, grid: pd.DataFrame, tol: Tolerances,
                           facility: pd.DataFrame | None = None, held: pd.DataFrame | None = None) -> None:
    """Σ_k node_kw · nodes · pue ≤ power_mw · 1,000 + built MW and Σ_k nodes / nodes_per_rack[s,k] ≤ racks + built
    racks, owned sites (nodes_per_rack[s,k] at the site's rack density, built capacity from the facility table)."""
    sites = scenario.sites
    owned = sites.index[sites["kind"] == "owned"]
    at_owned = grid[grid["site"].isin(owned)]
    sku = scenario.catalog.reindex(at_owned["sku"])
    fabric = _fabric_by_sku(scenario).reindex(at_owned["sku"])
    pue = sites["pue"].reindex(at_owned["site"]).to_numpy()
    full_kw = (at_owned["nodes"].to_numpy() * (sku["node_kw"].to_numpy() + fabric["leaf_kw_per_node"].to_numpy())
               + at_owned["spanning"].to_numpy() * fabric["spine_kw_per_node"].to_numpy()) * pue
    _, per_rack = _nodes_per_rack_at(scenario, at_owned["site"], at_owned["sku"])
    listed = sku["nodes_per_rack"].to_numpy(dtype=float)  # a node that fits no rack here is a rack_fit violation
    racks_used = at_owned["nodes"].to_numpy() / np.where(per_rack >= 1, per_rack, listed)
    by_site = at_owned.assign(full_kw=full_kw, racks_used=racks_used).groupby(["quarter", "site"])[
        ["full_kw", "racks_used"]].sum().reset_index()
    if held is not None and len(held):  # storage kW × PUE where it is held
        storage_kw = held.groupby(["quarter", "site"])["kw"].sum().reindex(
            pd.MultiIndex.from_frame(by_site[["quarter", "site"]]), fill_value=0.0).to_numpy()
        by_site["full_kw"] = by_site["full_kw"] + storage_kw * sites["pue"].reindex(by_site["site"]).to_numpy()
    cap_kw = sites["power_mw"].reindex(by_site["site"]).to_numpy() * KW_PER_MW
    racks = sites["racks"].reindex(by_site["site"]).to_numpy()
    built = _facility_in_service(facility, scenario.horizon.quarters)
    if len(built):
        added = built.assign(kw=built["units"] * built["power_mw"] * KW_PER_MW,
                             added_racks=built["units"] * built["racks"]).groupby(["quarter", "site"])[
            ["kw", "added_racks"]].sum()
        keys = pd.MultiIndex.from_frame(by_site[["quarter", "site"]])
        cap_kw = cap_kw + added["kw"].reindex(keys, fill_value=0.0).to_numpy()
        racks = racks + added["added_racks"].reindex(keys, fill_value=0.0).to_numpy()
    frame = by_site.assign(_cap=cap_kw, _racks=racks)
    ledger.record("power", frame, by_site["full_kw"].to_numpy() - cap_kw, tol.quantity(cap_kw),
                  lambda r, size: f"{r['full_kw']:,.3f} kW at full load (x PUE) exceeds the {r['_cap']:,.3f} kW "
                                  f"cap by {size:,.3f} kW")
    ledger.record("racks", frame, by_site["racks_used"].to_numpy() - racks, tol.node(racks),
                  lambda r, size: f"{r['racks_used']:,.4g} racks used, the site has {r['_racks']:g} "
                                  f"(over by {size:,.4g} racks)")


def _check_budget(ledger: _Ledger, scenario: Scenario, purchases: pd.DataFrame, tol: Tolerances,
                  facility: pd.DataFrame | None = None) -> None:
    """Σ_{s,k} price_usd · orders + Σ_o price_usd · units built ≤ budget_usd_per_quarter, whatever the capex mode:
    facility build-out is bought from the same budget as nodes (docs/datacenter-2026.md)."""
    budget = scenario.finance.budget_usd_per_quarter
    if budget is None:
        return
    quarters = range(scenario.horizon.quarters)
    spend = (purchases["nodes"] * scenario.catalog["price_usd"].reindex(purchases["sku"]).to_numpy()) \
        .groupby(purchases["quarter"]).sum().reindex(quarters, fill_value=0.0)
    options = getattr(scenario, "facility_options", None)
    if facility is not None and len(facility) and options is not None:
        built_usd = facility["facility_units"].to_numpy(dtype=float) * options["price_usd"].reindex(
            facility["option"]).to_numpy(dtype=float)
        spend = spend + pd.Series(np.nan_to_num(built_usd), index=facility["quarter"].to_numpy()) \
            .groupby(level=0).sum().reindex(quarters, fill_value=0.0)
    frame = pd.DataFrame({"quarter": spend.index, "spend": spend.to_numpy()})
    ledger.record("budget", frame, frame["spend"].to_numpy() - budget, tol.money(budget),
                  lambda r, size: f"purchases (nodes and build-out) of ${r['spend']:,.2f} exceed the "
                                  f"${budget:,.2f} budget by "
                                  f"${size:,.2f}")


# --- costs ------------------------------------------------------------------------------------------------

def recompute_costs(scenario: Scenario, grid: pd.DataFrame, purchases: pd.DataFrame, unmet: pd.DataFrame,
                    unfinished: pd.DataFrame, facility: pd.DataFrame | None = None,
                    contracts: pd.DataFrame | None = None, held: pd.DataFrame | None = None,
                    spot: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every cost line by quarter (index 0 … n−1), from docs/conventions.md and the plan's decisions."""
    catalog, sites, finance = scenario.catalog, scenario.sites, scenario.finance
    n = scenario.horizon.quarters
    quarters = pd.RangeIndex(n, name="quarter")
    sku = catalog.reindex(grid["sku"])
    site = sites.reindex(grid["site"])
    owned = grid["owned"].to_numpy()
    price = sku["price_usd"].to_numpy()

    per_node = pd.DataFrame({"quarter": grid["quarter"]})
    if finance.capex_mode == "depreciation":
        per_node["depreciation_usd"] = owned * price / (sku["life_years"].to_numpy() * QUARTERS_PER_YEAR)
        capex = pd.Series(0.0, index=quarters)
    else:
        per_node["depreciation_usd"] = 0.0
        capex = (purchases["nodes"] * catalog["price_usd"].reindex(purchases["sku"]).to_numpy()) \
            .groupby(purchases["quarter"]).sum()
    rent_per_node = (sku["rent_usd_per_gpu_hour"] * sku["gpus_per_node"] * HOURS_PER_QUARTER).to_numpy()
    per_node["rent_usd"] = np.where(grid["rented"].to_numpy() > 0, grid["rented"].to_numpy() * rent_per_node, 0.0)
    per_node["maintenance_usd"] = owned * sku["maint_frac_per_year"].to_numpy() * price / QUARTERS_PER_YEAR
    kwh = grid["it_kw"].to_numpy() * site["pue"].to_numpy() * HOURS_PER_QUARTER
    per_node["energy_kwh"] = kwh
    usd_per_kwh = np.where(site["kind"].to_numpy() == "owned", site["usd_per_kwh"].to_numpy(dtype=float), 0.0)
    per_node["energy_usd"] = kwh * np.nan_to_num(usd_per_kwh, nan=0.0)
    per_node["carbon_t"] = kwh * site["gco2_per_kwh"].to_numpy() / GRAMS_PER_TONNE
    # The fabric (docs/datacenter-2026.md): an owned node's leaf priced like the node, the spine per busy
    # node-equivalent of a spanning run at an owned site, over the node's life in quarters.
    fabric = _fabric_by_sku(scenario).reindex(grid["sku"])
    life_q = sku["life_years"].to_numpy() * QUARTERS_PER_YEAR
    at_owned_site = site["kind"].to_numpy() == "owned"
    spine = np.where(at_owned_site, grid["spanning"].to_numpy(), 0.0) * fabric["spine_usd_per_node"].to_numpy() \
        / life_q
    leaf = owned * fabric["leaf_usd_per_node"].to_numpy() / life_q if finance.capex_mode == "depreciation" else 0.0
    per_node["network_usd"] = leaf + spine
    per_node["storage_usd"] = 0.0

    costs = per_node.groupby("quarter").sum().reindex(quarters, fill_value=0.0)
    if finance.capex_mode != "depreciation":  # cash mode: the leaf is paid with the order
        leaf_usd = _fabric_by_sku(scenario)["leaf_usd_per_node"]
        paid = (purchases["nodes"] * leaf_usd.reindex(purchases["sku"]).to_numpy()).groupby(purchases["quarter"]).sum()
        costs["network_usd"] = costs["network_usd"] + paid.reindex(quarters, fill_value=0.0)
    if held is not None and len(held):  # storage: $ and its kW's energy where it is held
        here = sites.reindex(held["site"])
        kwh_held = held["kw"].to_numpy() * here["pue"].to_numpy() * HOURS_PER_QUARTER
        paid_kwh = np.where(here["kind"].to_numpy() == "owned", np.nan_to_num(here["usd_per_kwh"].to_numpy(
            dtype=float), nan=0.0), 0.0)
        by_quarter = pd.DataFrame({"quarter": held["quarter"].to_numpy(), "storage_usd": held["usd"].to_numpy(),
                                   "energy_kwh": kwh_held, "energy_usd": kwh_held * paid_kwh,
                                   "carbon_t": kwh_held * here["gco2_per_kwh"].to_numpy() / GRAMS_PER_TONNE}) \
            .groupby("quarter").sum().reindex(quarters, fill_value=0.0)
        for line in ("storage_usd", "energy_kwh", "energy_usd", "carbon_t"):
            costs[line] = costs[line] + by_quarter[line]
    costs["capex_usd"] = capex.reindex(quarters, fill_value=0.0)
    committed = _contract_terms(contracts, n)
    if len(committed):  # committed capacity is rent, paid whether used or not (docs/datacenter-2026.md)
        costs["rent_usd"] = costs["rent_usd"] + committed.groupby("quarter")["usd"].sum().reindex(quarters,
                                                                                               fill_value=0.0)
    if spot is not None and len(spot):  # spot is rent per node-hour; its kWh and tCO2 at the cloud site
        here = sites.reindex(spot["site"])
        by_quarter = pd.DataFrame({"quarter": spot["quarter"].to_numpy(), "rent_usd": spot["_usd"].to_numpy(),
                                   "energy_kwh": spot["_kwh"].to_numpy(),
                                   "carbon_t": spot["_kwh"].to_numpy() * here["gco2_per_kwh"].to_numpy()
                                   / GRAMS_PER_TONNE}).groupby("quarter").sum().reindex(quarters, fill_value=0.0)
        for line in ("rent_usd", "energy_kwh", "carbon_t"):
            costs[line] = costs[line] + by_quarter[line]
    if facility is not None and len(facility):  # build-out priced like nodes (docs/datacenter-2026.md)
        if finance.capex_mode == "depreciation":
            built = _facility_in_service(facility, n)
            per_quarter = (built["units"] * built["price_usd"] / (built["life_years"] * QUARTERS_PER_YEAR)) \
                .groupby(built["quarter"]).sum()
            costs["depreciation_usd"] = costs["depreciation_usd"] + per_quarter.reindex(quarters, fill_value=0.0)
        else:
            paid = (facility["facility_units"] * facility["price_usd"]).groupby(facility["quarter"]).sum()
            costs["capex_usd"] = costs["capex_usd"] + paid.reindex(quarters, fill_value=0.0)
    costs["carbon_usd"] = costs["carbon_t"] * finance.carbon_usd_per_t
    costs["unmet_usd"] = (unmet["units"] * finance.unmet_usd_per_unit).groupby(unmet["quarter"]).sum() \
        .reindex(quarters, fill_value=0.0)
    deadline = scenario.workloads["deadline"].reindex(unfinished["workload"]).to_numpy(dtype=float,
                                                                                     na_value=np.nan)
    penalty = finance.unfinished_training_usd or 0.0
    costs["unfinished_training_usd"] = (unfinished["fraction_left"] * penalty).groupby(deadline).sum() \
        .reindex(quarters, fill_value=0.0).to_numpy()
    costs["discount_factor"] = (1.0 + finance.discount_rate) ** (-quarters.to_numpy() / QUARTERS_PER_YEAR)
    costs["total_usd"] = costs[list(COST_LINES_USD)].sum(axis=1)
    costs["discounted_usd"] = costs["total_usd"] * costs["discount_factor"]
    return costs[list(COST_COLUMNS)]


def _check_costs(ledger: _Ledger, costs: pd.DataFrame, stated: pd.DataFrame, plan: dict,
                 tol: Tolerances) -> float:
    """Each quarter's cost lines, the totals and the objective against the recomputation; returns the objective."""
    n = len(costs)
    rows = stated.groupby("quarter").size().reindex(range(n), fill_value=0)
    frame = pd.DataFrame({"quarter": rows.index, "rows": rows.to_numpy()})
    ledger.record("cost", frame, np.abs(frame["rows"].to_numpy() - 1.0), 0.0,
                  lambda r, size: f"the costs table has {r['rows']} rows for this quarter, expected 1")
    stated = stated.drop_duplicates("quarter").set_index("quarter").reindex(range(n))
    # Money is compared relative to the quarter's total: a line the solver leaves at 1e-13 of a $1e9 penalty
    # ($0.0001) is noise, not a wrong cost.
    quarter_usd = costs["total_usd"].abs().to_numpy()
    for column in COST_COLUMNS:
        frame = pd.DataFrame({"quarter": range(n), "line": column})
        mine, theirs = costs[column].to_numpy(), stated[column].to_numpy()
        if column.endswith("_usd"):
            _record_equal_money(ledger, "cost", frame, theirs, mine, tol, column, quarter_usd)
            continue
        unit = {"energy_kwh": "kWh", "carbon_t": "t", "discount_factor": ""}[column]
        ledger.record("cost", frame.assign(_stated=theirs, _mine=mine), np.abs(theirs - mine),
                      tol.quantity(mine, theirs) if unit else tol.relative,
                      lambda r, size, u=unit, c=column: f"{c} is {r['_stated']:,.9g} {u}, recomputed "
                                                        f"{r['_mine']:,.9g} {u} (off by {size:,.6g} {u})")

    totals = plan["totals"]
    plan_usd = float(costs["total_usd"].abs().sum())
    for column in COST_COLUMNS[1:]:
        if column not in totals and column not in OPTIONAL_COST_LINES:
            ledger.fail("totals", None, column, f"totals lack {column}", np.nan)
            continue
        stated_total, total = _as_float(totals.get(column, 0.0)), float(costs[column].sum())
        frame = pd.DataFrame({"line": [column]})
        if column.endswith("_usd"):
            _record_equal_money(ledger, "totals", frame, [stated_total], [total], tol, f"total {column}",
                                plan_usd)
        else:
            ledger.record("totals", frame, [abs(stated_total - total)], tol.quantity(total),
                          lambda r, size, c=column: f"total {c} is {stated_total:,.9g}, recomputed {total:,.9g} "
                                                    f"(off by {size:,.6g})")
    objective = float(costs["discounted_usd"].sum())
    _record_equal_money(ledger, "objective", pd.DataFrame({"line": ["objective_usd"]}),
                        [_as_float(plan["objective_usd"])], [objective], tol, "objective_usd")
    return objective


def _as_float(value) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else float("nan")
