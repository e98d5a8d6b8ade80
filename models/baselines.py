"""Baselines: how procurement is done without the optimiser, as rules that decide the orders and rentals.

Each baseline fixes or forbids orders and rentals through variable bounds of the same program, and the rest of
the plan (placement, unmet demand, unfinished work) is solved in it; so a baseline's plan is priced by the same
cost conventions (models/cost_parameters.py), checked by the same verifier, and its gap to the optimum is due to
procurement alone: the placement is the best one for the fleet the rule bought. planner/baselines.py solves the
programs; this module holds the rules (no I/O).

- **greedy** (`greedy_procurement`): the first-fit scheduler as a procurement rule. Training runs by deadline,
  then inference services by demand (largest total first), each quarter of each service in turn. A job takes the
  first pool (site, SKU) with room, pools ranked by the job's $ per unit of work at full load (ownership or rent
  + energy + carbon, `planner estimate`'s ranking). Where none has room, it buys, in that ranking, the first
  (site, SKU) at an allowed owned site that can be in service in time and whose power, racks and budget admit the
  order, just in time: ordered lead_quarters before the quarter it is needed (a service: that quarter; a run: its
  first quarter, and where power, racks or budget cap that order, its later quarters too, all in one pool), sized
  to what is missing. Where no purchase can be in service by then (lead time, availability,
  caps), it rents the cheapest compatible SKU at an allowed cloud site for the quarters concerned; where nothing
  can, the work is left to the optimiser's unmet-demand and unfinished-training penalties. The orders and rentals
  are then fixed, and placement is solved for them.
- **single-sku** (`only_sku`): the best plan that buys and rents one SKU only (the existing fleet stays); the
  baseline is the cheapest over all SKUs, one solve per SKU.
- **just-in-time** (`truncated_scenario`, `past_fixed`): the optimiser quarter by quarter with no lookahead. In
  quarter q the planner sees the scenario truncated after q: demand up to q, training runs started by q, each due
  its pro-rata share of its work by min(deadline, q) (work spread evenly over its window; a share behind schedule
  is priced as unfinished training, as a whole run would be). What earlier quarters decided is frozen: orders
  placed before q (none where no earlier quarter asked for them) and rentals before q. So in quarter q it may
  rent for q, or buy what is in service in q: a SKU with lead_quarters L > 0 would have had to be ordered in
  q − L, for a need it did not yet look at, so it is never bought; only lead-0 SKUs are. Its orders are valued
  over the truncated horizon (a node's depreciation up to q, the whole price in cash mode). The decisions of
  every quarter, fixed together, are priced over the whole horizon.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd

from models.cost_parameters import CostParameters
from models.lp import LinearProgram
from models.money import facility_kw, in_service_quarter, order_quarter_for
from models.quarters import HOURS_PER_QUARTER, Horizon
from models.scenario import Scenario
from models.sets import PlanningSets, life_quarters, rack_fit
from models.solve import INFEASIBLE, OPTIMAL, HighsSession
from models.unit_costs import node_hour_costs
from models.units import KW_PER_MW

GREEDY, SINGLE_SKU, JUST_IN_TIME = "greedy", "single-sku", "just-in-time"
BASELINES = (GREEDY, SINGLE_SKU, JUST_IN_TIME)
# The variable families a baseline decides by its rule; committed capacity (docs/datacenter-2026.md) is procurement
# too: greedy and just-in-time sign none (they buy and rent on demand), single-sku may sign its one SKU's offers.
PROCUREMENT = ("orders", "rentals", "contract_signings")
ROOM_EPS = 1e-9  # node-equivalents, tokens/s and kW below this are rounding, not room or need


# --- restricting the program ----------------------------------------------------------------------------

def procurement_mask(lp: LinearProgram, skus=None) -> np.ndarray:
    """Positions of the orders and rentals variables (of `skus` only, when given)."""
    mask = np.zeros(lp.num_vars, dtype=bool)
    for name in PROCUREMENT:
        if name in lp.variables:
            block = lp.variables[name]
            chosen = np.ones(len(block.index), dtype=bool) if skus is None else \
                block.index.get_level_values("sku").isin(list(skus))
            mask[block.positions[chosen]] = True
    return mask


def only_sku(lp: LinearProgram, sku: str) -> LinearProgram:
    """The program with every order and rental of another SKU bounded to 0 (the existing fleet stays)."""
    others = procurement_mask(lp) & ~procurement_mask(lp, [sku])
    return lp.with_fixed(others, np.zeros(lp.num_vars), np.zeros(lp.num_vars, dtype=bool))


def procurement_skus(lp: LinearProgram) -> list[str]:
    """SKUs the program may buy or rent (some order or rental with a positive upper bound), in catalog order."""
    upper = lp.upper
    skus: dict[str, None] = {}
    for name in PROCUREMENT:
        if name in lp.variables:
            block = lp.variables[name]
            skus.update(dict.fromkeys(block.index.get_level_values("sku")[upper[block.positions] > 0]))
    return list(skus)


def sku_lower_bounds(lp: LinearProgram, skus: list[str], time_limit_s: float) -> dict[str, float | None]:
    """Per SKU, the LP relaxation's value with only that SKU bought and rented: no plan of that SKU costs less, so
    single-sku need not solve a SKU whose bound is already above a plan found (None: the LP did not solve to
    optimality; inf: no plan at all). One HiGHS instance, re-solved from its last basis after each change."""
    session = HighsSession(lp, relax=True)
    bounds: dict[str, float | None] = {}
    for sku in skus:
        session.release()
        session.fix(procurement_mask(lp) & ~procurement_mask(lp, [sku]), np.zeros(lp.num_vars))
        relaxed = session.solve(time_limit_s)
        bounds[sku] = relaxed.objective if relaxed.status == OPTIMAL else (np.inf if relaxed.status == INFEASIBLE
                                                                           else None)
    return bounds


def with_procurement(lp: LinearProgram, orders: pd.Series, rentals: pd.Series,
                     free: np.ndarray | None = None) -> LinearProgram:
    """The program with every order and rental fixed: `orders` by (order_quarter, site, sku) and `rentals` by
    (quarter, site, sku) give the nodes, 0 elsewhere. Variables of `free` (a mask) stay the solver's choice.
    A decision without a variable (an order that could never enter service, say) is a ValueError."""
    x = np.zeros(lp.num_vars)
    for name, decided in (("orders", orders), ("rentals", rentals)):
        decided = decided[decided > 0]
        if name not in lp.variables:
            if len(decided):
                raise ValueError(f"the program has no {name}, but the rule decided {len(decided)}")
            continue
        block = lp.variables[name]
        decided = decided.reorder_levels(block.index.names) if len(decided) else decided
        unknown = decided.index.difference(block.index)
        if len(unknown):
            raise ValueError(f"{name} the program cannot make: {list(unknown)[:5]}")
        x[block.positions] = decided.reindex(block.index).fillna(0.0).to_numpy(dtype=float)
    fix = procurement_mask(lp) & (~free if free is not None else True)
    return lp.with_fixed(fix, x, np.zeros(lp.num_vars, dtype=bool))


def procurement_of(lp: LinearProgram, x: np.ndarray) -> tuple[pd.Series, pd.Series]:
    """The orders and rentals of solution `x` (whole nodes, zeros dropped)."""
    decided = []
    for name in ("orders", "rentals"):
        if name in lp.variables:
            values = lp.value(name, x).round()
            decided.append(values[values > 0])
        else:
            decided.append(pd.Series(dtype=float))
    return decided[0], decided[1]


# --- just-in-time -----------------------------------------------------------------------------------------

def truncated_scenario(scenario: Scenario, last: int):
    """The scenario as seen in quarter `last` with no lookahead: quarters 0 … last, demand up to `last`, the
    training runs started by then, each due by min(deadline, last) the share of its work its window has had so
    far: (min(deadline, last) − start + 1) / (deadline − start + 1)."""
    workloads = scenario.workloads
    training = (workloads["kind"] == "training").to_numpy()
    start = workloads["start"].to_numpy(dtype=float, na_value=0.0)
    keep = ~training | (start <= last)
    kept = workloads[keep].copy()
    runs = (kept["kind"] == "training").to_numpy()
    if runs.any():
        run_start = kept.loc[runs, "start"].to_numpy(dtype=float)
        deadline = kept.loc[runs, "deadline"].to_numpy(dtype=float)
        due = np.minimum(deadline, last)
        share = (due - run_start + 1.0) / (deadline - run_start + 1.0)
        kept.loc[runs, "tokens_b"] = kept.loc[runs, "tokens_b"].to_numpy(dtype=float) * share
        kept.loc[runs, "deadline"] = due.astype(int)
    demand = scenario.demand[(scenario.demand["quarter"] <= last)
                             & scenario.demand["workload"].isin(kept.index)]
    throughput = scenario.throughput[scenario.throughput["workload"].isin(kept.index)]
    return dataclasses.replace(scenario, horizon=Horizon(scenario.horizon.start, last + 1), workloads=kept,
                               demand=demand, throughput=throughput)


def truncation_is_whole(scenario: Scenario, last: int) -> bool:
    """Whether `truncated_scenario(scenario, last)` is the scenario itself: `last` is its final quarter and every
    training run's window ends by then (so none is cut to a pro-rata share)."""
    if last != scenario.horizon.quarters - 1:
        return False
    workloads = scenario.workloads
    runs = workloads[workloads["kind"] == "training"]
    return bool((runs["deadline"].to_numpy(dtype=float) <= last).all())


def past_fixed(lp: LinearProgram, orders: pd.Series, rentals: pd.Series, quarter: int) -> LinearProgram:
    """Quarter `quarter`'s program of just-in-time: orders placed and rentals made before it fixed to what the
    earlier quarters decided (0 where they decided nothing); those of `quarter` itself free."""
    free = np.zeros(lp.num_vars, dtype=bool)
    for name, level in (("orders", "order_quarter"), ("rentals", "quarter")):
        if name in lp.variables:
            block = lp.variables[name]
            free[block.positions[block.index.get_level_values(level) == quarter]] = True
    return with_procurement(lp, orders, rentals, free=free)


# --- greedy -------------------------------------------------------------------------------------------------

class _Fleet:
    """What the greedy rule has bought and rented so far, and what it uses, quarter by quarter."""

    def __init__(self, scenario: Scenario, sets: PlanningSets):
        self.n = len(sets.quarters)
        self.headroom = scenario.headroom
        self.catalog, self.sites = scenario.catalog, scenario.sites
        self._racks_per: dict | None = None
        self.life = life_quarters(scenario.catalog)
        # Scalars the rule reads per job and quarter, looked up once (pandas' .at costs ~30 µs a call: measured 7 s
        # of 16 s on a W = 100 fleet); the same values, so the same orders.
        self._lead: dict = {}  # filled on first use: a rent-only SKU has no lead time, price or life to read
        self._life: dict = {}
        self._price: dict = {}
        self._kw: dict[tuple, float] = {}
        self._caps: dict[str, tuple[float, float]] = {}
        self.budget = scenario.finance.budget_usd_per_quarter
        self.valid_orders = set(map(tuple, sets.orders[["order_quarter", "site", "sku"]].itertuples(index=False)))
        self.valid_rentals = set(map(tuple, sets.rentals[["quarter", "site", "sku"]].itertuples(index=False)))
        self.nodes: dict[tuple, np.ndarray] = {}
        self.busy: dict[tuple, np.ndarray] = {}
        self.site_kw = {s: np.zeros(self.n) for s in sets.owned_sites}
        self.site_racks = {s: np.zeros(self.n) for s in sets.owned_sites}
        self.spend_usd = np.zeros(self.n)
        self.orders: dict[tuple, int] = {}
        self.rentals: dict[tuple, int] = {}
        for (quarter, site, sku), count in sets.fleet.items():
            self._add(site, sku, np.array([quarter]), float(count))

    def _pool(self, site, sku) -> tuple[np.ndarray, np.ndarray]:
        key = (site, sku)
        if key not in self.nodes:
            self.nodes[key], self.busy[key] = np.zeros(self.n), np.zeros(self.n)
        return self.nodes[key], self.busy[key]

    def _add(self, site, sku, quarters: np.ndarray, count: float) -> None:
        nodes, _ = self._pool(site, sku)
        nodes[quarters] += count
        if site in self.site_kw:
            self.site_kw[site][quarters] += count * self._facility_kw(site, sku)
            self.site_racks[site][quarters] += count / self._per_rack(site, sku)

    def _per_rack(self, site, sku) -> float:
        """Nodes one rack holds at the site (its rack density, docs/datacenter-2026.md)."""
        if self._racks_per is None:
            pairs = pd.MultiIndex.from_product([self.sites.index, self.catalog.index])
            per_rack = rack_fit(self.sites, self.catalog, pairs.get_level_values(0), pairs.get_level_values(1))[1]
            self._racks_per = dict(zip(pairs, per_rack.astype(float)))
        return max(self._racks_per[(site, sku)], 1.0)  # an unfitting pair is never bought (no order variable)

    def _facility_kw(self, site, sku) -> float:
        key = (site, sku)
        if key not in self._kw:
            self._kw[key] = float(facility_kw(self.catalog.at[sku, "node_kw"], self.sites.at[site, "pue"]))
        return self._kw[key]

    def lead(self, sku) -> int:
        if sku not in self._lead:
            self._lead[sku] = int(self.catalog.at[sku, "lead_quarters"])
        return self._lead[sku]

    def price(self, sku) -> float:
        if sku not in self._price:
            self._price[sku] = self.catalog.at[sku, "price_usd"]
        return self._price[sku]

    def life_of(self, sku) -> int:
        if sku not in self._life:
            self._life[sku] = int(self.life.at[sku])
        return self._life[sku]

    def free(self, site, sku, min_nodes: float) -> np.ndarray:
        """Node-equivalents still free per quarter, where the pool holds the job's minimum nodes (else 0)."""
        nodes, busy = self._pool(site, sku)
        room = (1.0 - self.headroom) * nodes - busy
        return np.where(nodes >= min_nodes - ROOM_EPS, np.maximum(room, 0.0), 0.0)

    def use(self, site, sku, quarter: int, node_equivalents: float) -> None:
        self._pool(site, sku)[1][quarter] += node_equivalents

    def in_service(self, sku, order_quarter: int) -> np.ndarray:
        first = in_service_quarter(order_quarter, self.lead(sku))
        return np.arange(first, min(first + self.life_of(sku), self.n))

    def room_to_buy(self, site, sku, order_quarter: int) -> int:
        """Most nodes an order may add: power, racks and budget in every quarter the nodes are in service."""
        if (order_quarter, site, sku) not in self.valid_orders:
            return 0
        quarters = self.in_service(sku, order_quarter)
        if not len(quarters):
            return 0
        if site not in self._caps:
            self._caps[site] = (float(self.sites.at[site, "power_mw"]) * KW_PER_MW, float(self.sites.at[site, "racks"]))
        cap_kw, racks = self._caps[site]
        per_rack = self._per_rack(site, sku)
        by_power = (cap_kw - self.site_kw[site][quarters]) / self._facility_kw(site, sku)
        by_racks = (racks - self.site_racks[site][quarters]) * per_rack
        room = min(by_power.min(), by_racks.min())
        if self.budget is not None:
            room = min(room, (self.budget - self.spend_usd[order_quarter]) / self.price(sku))
        return max(math.floor(room + ROOM_EPS), 0)

    def buy(self, site, sku, order_quarter: int, count: int) -> None:
        key = (order_quarter, site, sku)
        self.orders[key] = self.orders.get(key, 0) + count
        self.spend_usd[order_quarter] += count * self.price(sku)
        self._add(site, sku, self.in_service(sku, order_quarter), float(count))

    def state(self) -> tuple:
        """What buying changes, copied: `restore` takes the fleet back to it."""
        return ({k: v.copy() for k, v in self.nodes.items()}, {k: v.copy() for k, v in self.busy.items()},
                {k: v.copy() for k, v in self.site_kw.items()}, {k: v.copy() for k, v in self.site_racks.items()},
                self.spend_usd.copy(), dict(self.orders))

    def restore(self, state: tuple) -> None:
        self.nodes, self.busy, self.site_kw, self.site_racks, self.spend_usd, self.orders = state

    def can_rent(self, site, sku, quarter: int) -> bool:
        return (quarter, site, sku) in self.valid_rentals

    def rent(self, site, sku, quarter: int, count: int) -> None:
        key = (quarter, site, sku)
        self.rentals[key] = self.rentals.get(key, 0) + count
        self._add(site, sku, np.array([quarter]), float(count))

    def nodes_needed(self, site, sku, quarter: int, node_equivalents: float, min_nodes: float) -> int:
        """Nodes to add to the pool in `quarter` so it holds the job's minimum and has `node_equivalents` free."""
        nodes, busy = self._pool(site, sku)
        for_work = (node_equivalents + busy[quarter]) / (1.0 - self.headroom) - nodes[quarter]
        return max(math.ceil(max(for_work, min_nodes - nodes[quarter]) - ROOM_EPS), 1)


def greedy_procurement(scenario: Scenario, sets: PlanningSets, prices: CostParameters) -> tuple[pd.Series, pd.Series]:
    """The greedy rule's orders (by order_quarter, site, sku) and rentals (by quarter, site, sku): see the module
    docstring. `sets` are the user's services' (not merged into classes), so each service is sized on its own."""
    fleet = _Fleet(scenario, sets)
    usd_per_node_hour = node_hour_costs(prices, scenario.sites["kind"])["usd_per_node_hour"]
    placements = sets.placements.copy()
    pool_keys = pd.MultiIndex.from_frame(placements[["site", "sku"]])
    rate_or_hours = np.where(placements["kind"].to_numpy() == "training", placements["node_hours"].to_numpy(),
                             1.0 / placements["tokens_per_s_per_node"].to_numpy())
    placements["usd_per_unit"] = usd_per_node_hour.reindex(pool_keys).fillna(np.inf).to_numpy() * rate_or_hours
    placements["owned"] = placements["site"].isin(sets.owned_sites).to_numpy()
    placements = placements.sort_values(["usd_per_unit", "site", "sku"], kind="stable")

    workloads = scenario.workloads
    runs = workloads[workloads["kind"] == "training"].sort_values(["deadline", "start"], kind="stable").index
    total_demand = sets.demand.groupby(level="workload").sum()
    services = total_demand[total_demand > 0].sort_values(ascending=False, kind="stable").index
    by_workload = dict(tuple(placements.groupby("workload", sort=False)))
    for run in runs:
        if run in by_workload:
            _place_run(fleet, by_workload[run])
    # Each (service, quarter)'s pools in the ranking's order, once per (site, SKU), as plain tuples: one pandas pass
    # here instead of a filter and a drop_duplicates per service and quarter.
    columns = ["site", "sku", "tokens_per_s_per_node", "min_nodes", "owned"]
    serving = placements[placements["workload"].isin(services)].drop_duplicates(["workload", "quarter", "site", "sku"])
    pools_of: dict[tuple, list[tuple]] = {}
    for key, pool in zip(zip(serving["workload"], serving["quarter"]), serving[columns].itertuples(index=False,
                                                                                                   name=None)):
        pools_of.setdefault(key, []).append(pool)
    for service in services:
        if service in by_workload:
            for quarter, demand in sets.demand.xs(service, level="workload").items():
                if demand > ROOM_EPS:
                    _serve(fleet, pools_of.get((service, quarter), []), int(quarter), float(demand))
    return _labelled(fleet.orders, ["order_quarter", "site", "sku"]), _labelled(fleet.rentals,
                                                                                 ["quarter", "site", "sku"])


def _labelled(decided: dict[tuple, int], names: list[str]) -> pd.Series:
    """Nodes by (quarter, site, sku) keys, as a Series labelled like the program's variables."""
    keys = list(decided)
    index = pd.MultiIndex.from_tuples(keys, names=names) if keys else \
        pd.MultiIndex.from_arrays([[], [], []], names=names)
    return pd.Series([float(v) for v in decided.values()], index=index, dtype=float)


def _serve(fleet: _Fleet, pools: list[tuple], quarter: int, demand: float) -> None:
    """One service's demand in one quarter: first pools with room, then a purchase in time, then a rental.
    `pools`: (site, sku, tokens/s per node, min_nodes, owned) in the ranking's order, each (site, SKU) once."""
    need = demand
    for site, sku, rate, min_nodes, _ in pools:
        need = _take(fleet, site, sku, quarter, rate, min_nodes, need)
        if need <= ROOM_EPS:
            return
    for site, sku, rate, min_nodes, owned in pools:
        if not owned:
            continue
        order_quarter = order_quarter_for(quarter, fleet.lead(sku))
        room = fleet.room_to_buy(site, sku, order_quarter)
        wanted = fleet.nodes_needed(site, sku, quarter, need / rate, min_nodes)
        count = min(wanted, room)
        if count <= 0 or fleet.nodes[(site, sku)][quarter] + count < min_nodes:
            continue
        fleet.buy(site, sku, order_quarter, count)
        need = _take(fleet, site, sku, quarter, rate, min_nodes, need)
        if need <= ROOM_EPS:
            return
    for site, sku, rate, min_nodes, owned in pools:
        if not owned and fleet.can_rent(site, sku, quarter):
            fleet.rent(site, sku, quarter, fleet.nodes_needed(site, sku, quarter, need / rate, min_nodes))
            _take(fleet, site, sku, quarter, rate, min_nodes, need)
            return


def _take(fleet: _Fleet, site, sku, quarter: int, rate: float, min_nodes: float, need: float) -> float:
    """Serve what the pool has room for; return the tokens/s still needed."""
    free = fleet.free(site, sku, min_nodes)[quarter]
    used = min(free, need / rate)
    if used > ROOM_EPS:
        fleet.use(site, sku, quarter, used)
        need -= used * rate
    return need


def _place_run(fleet: _Fleet, options: pd.DataFrame) -> None:
    """One training run: the first pool with room over its window, else purchases in one pool (`_buy_for_run`),
    else rentals; else it is left to the optimiser's unfinished-training penalty."""
    pools = options.groupby(["site", "sku"], sort=False)
    for (site, sku), rows in pools:
        window = rows["quarter"].to_numpy()
        work = float(rows["node_hours"].iloc[0]) / HOURS_PER_QUARTER
        free = fleet.free(site, sku, float(rows["min_nodes"].iloc[0]))[window]
        if free.sum() >= work - ROOM_EPS:
            _run_on(fleet, site, sku, window, work, float(rows["min_nodes"].iloc[0]))
            return
    for (site, sku), rows in pools:
        if rows["owned"].iloc[0] and _buy_for_run(fleet, site, sku, rows["quarter"].to_numpy(),
                                                  float(rows["node_hours"].iloc[0]) / HOURS_PER_QUARTER,
                                                  float(rows["min_nodes"].iloc[0])):
            return
    for (site, sku), rows in pools:
        window = rows["quarter"].to_numpy()
        if rows["owned"].iloc[0] or not all(fleet.can_rent(site, sku, int(q)) for q in window):
            continue
        work, min_nodes = float(rows["node_hours"].iloc[0]) / HOURS_PER_QUARTER, float(rows["min_nodes"].iloc[0])
        placed = 0.0
        for done, quarter in enumerate(window.astype(int)):  # the rest of the run spread over its quarters left
            share = (work - placed) / (len(window) - done)
            if share <= ROOM_EPS:
                break
            if fleet.free(site, sku, min_nodes)[quarter] < share - ROOM_EPS:
                fleet.rent(site, sku, quarter, fleet.nodes_needed(site, sku, quarter, share, min_nodes))
            used = min(fleet.free(site, sku, min_nodes)[quarter], work - placed)
            fleet.use(site, sku, quarter, used)
            placed += used
        return


def _buy_for_run(fleet: _Fleet, site, sku, window: np.ndarray, work: float, min_nodes: float) -> bool:
    """Orders in one pool, just in time: in service for the run's first quarter and, where power, racks or budget
    cap that order, more for its later quarters, until the run fits; then the run is put there. False, with
    nothing bought, when the pool's orders can never hold it."""
    saved = fleet.state()
    lead = fleet.lead(sku)
    for quarter in window.astype(int):
        order_quarter = order_quarter_for(quarter, lead)
        room = fleet.room_to_buy(site, sku, order_quarter)
        if room <= 0:
            continue
        count, enough = _nodes_for_run(fleet, site, sku, order_quarter, window, work, min_nodes, room)
        if count:
            fleet.buy(site, sku, order_quarter, count)
        if enough:
            _run_on(fleet, site, sku, window, work, min_nodes)
            return True
    fleet.restore(saved)
    return False


def _nodes_for_run(fleet: _Fleet, site, sku, order_quarter: int, window: np.ndarray, work: float,
                   min_nodes: float, room: int) -> tuple[int, bool]:
    """Fewest nodes (at most `room`) an order in `order_quarter` must add for the run to fit the pool over its
    window, and whether that many fit it (else: `room`, False). The run's room grows with the count: bisection."""
    nodes, busy = fleet._pool(site, sku)
    added = np.isin(window, fleet.in_service(sku, order_quarter))

    def fits(count: int) -> bool:
        after = nodes[window] + count * added
        room_left = np.maximum((1.0 - fleet.headroom) * after - busy[window], 0.0)
        return np.where(after >= min_nodes - ROOM_EPS, room_left, 0.0).sum() >= work - ROOM_EPS

    if not added.any():
        return 0, False  # not in service in the run's window at all
    if not fits(room):
        return room, False
    low, high = 0, room  # fits(high) holds; find the least such count
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if fits(middle) else (middle, high)
    return high, True


def _run_on(fleet: _Fleet, site, sku, window: np.ndarray, work: float, min_nodes: float) -> None:
    """Put the run's work on the pool, earliest quarters first."""
    free = fleet.free(site, sku, min_nodes)[window]
    placed = 0.0
    for quarter, room in zip(window, free):
        used = min(room, work - placed)
        if used > ROOM_EPS:
            fleet.use(site, sku, int(quarter), used)
            placed += used
