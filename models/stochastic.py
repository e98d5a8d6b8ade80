"""Two-stage stochastic planning on sampled futures: purchases are decided once, then each future is served.

The model (sample average approximation over N futures n, each of probability 1/N):

1. Futures. Future n is sample n of `planner evaluate`'s sampler (models/risk_sampling.py, the scenario's `risk:`
   settings and seed), drawn on the scenario's own grids, so the same future meets every plan: demand factor
   φ_n[w,t] (per-workload part and common factor, models/risk_costs.py `demand_factor`), electricity factor
   μ_n[s] per owned site, and the failed fraction δ_n[t,s,k] of an owned pool (`failed_fraction`, evaluated at the
   nodes of the reference plan while optimising and at the plan's own nodes when a plan is evaluated).
2. First stage x (shared by every future): the deterministic MILP's orders (integer), rentals (integer), and the
   training runs' pools, active quarters, node-equivalents and unfinished fractions, with their rows (training
   work, one pool, minimum nodes, power, racks, budget, and capacity for the training load alone). Training is
   first-stage because the sampler carries no uncertainty for it (evaluate keeps a plan's training placement as a
   fixed load).
3. Recourse of future n: inference node-equivalents y_n[t,c,s,k] ≥ 0 on every eligible pool (the placement
   columns of the deterministic model, per service class) and shortfall z_n[t,c] ∈ [0, demand_n[t,c]]:
       Σ_{s,k} rate[c,k] · y_n[t,c,s,k] + z_n[t,c] = demand_n[t,c] = Σ_{w∈c} φ_n[w,t] · forecast[w,t]
       Σ_c y_n[t,c,s,k] / (1 − δ_n[t,s,k]) + training(x)[t,s,k] ≤ (1 − headroom) · nodes(x)[t,s,k]
   i.e. a failed fraction δ takes that share of every busy node-equivalent's node (training and inference alike).
   A shortfall unit costs min(on-demand $, unmet penalty) as in evaluate's rule 4 (rent ÷ (1 − headroom) + carbon
   at the cheapest cloud option the service may use, per node-equivalent). Replica sizes (minimum nodes per
   inference replica) are not recourse constraints, as in evaluate.
4. Cost of future n: cost_n = g_n · x + c_n · (y_n, z_n) + k_n, where g_n is the deterministic objective on
   the first-stage columns with each owned site's energy $ scaled by μ_n[s] (idle draw of every node in service
   and busy draw of training), c_n prices busy energy at μ_n[s] and carbon, and k_n is the fleet's constant.
5. Objective: (1/N) Σ_n cost_n + λ · CVaR_α(cost) with Rockafellar–Uryasev's linearisation
       CVaR_α = min_η η + 1/((1 − α) N) Σ_n u_n,   u_n ≥ cost_n − η,  u_n ≥ 0.

Not carried: delivery slips (an order late by one quarter would make a future's capacity depend on which orders
slipped, and a training pool could then fall below its load, which evaluate ignores). When a written plan is priced,
its rentals beyond what its training needs are re-decided in each future (rented on demand, `rentals_on_demand`);
evaluate's plan-first rule pays them in every future instead.

The extensive form stacks N copies of the recourse block next to the first-stage block with vectorised sparse
assembly (one COO triple per block family, offsets by broadcasting). `recourse_costs` solves the recourse of
every future for a fixed first stage (the same program with x pinned): the one notion of recourse behind the
in-sample expected TCO of a plan, the deterministic plan's, and the value of the stochastic solution (VSS).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import scipy.sparse as sp

from models.failures import availability
from models.formulation import PlanModel
from models.stochastic_limits import DEFAULT_CVAR_ALPHA
from models.lp import LinearProgram
from models.risk_costs import (
    SHORTFALL_TOLERANCE_FRACTION,
    SHORTFALL_TOLERANCE_UNITS,
    demand_factor,
    electricity_factor,
    failed_fraction,
    on_demand_usd_per_unit,
)
from models.risk_devices import precision
from models.risk_inputs import RiskInputs
from models.risk_sampling import draw_grid_noise, grid_shapes, key_words
from models.risk_summary import cvar  # noqa: F401  (the one CVaR; models.stochastic.cvar kept for callers)
from models.solve import OPTIMAL, HighsSession, SolveResult
from models.warm_start import round_node_counts

# Held at the deterministic plan's choice while the first stage is optimised: which pool each training run uses
# and in which quarters. Training carries no uncertainty in the sampler, and these binaries are what makes the
# extensive form slow (measured on the example, 20 futures: 82 s with them free, 5 s for 50 futures with them held).
HELD_FAMILIES = ("pool", "training_active")
RECOURSE_FAMILIES = ("demand", "capacity")  # rows copied per future
DROPPED_FAMILIES = ("replica_active", "replica_min_nodes")  # inference replica sizes: not recourse constraints
DROPPED_VARIABLES = ("replica_active",)
# A pool entirely out of service keeps this sliver: 1 / (1 − δ) stays finite (evaluate then gives it no capacity).
MAX_FAILED_FRACTION = 1.0 - 1e-9
# Futures per recourse LP when a fixed plan is evaluated: they decouple, and HiGHS solves 100 futures of the example
# (~180,000 columns) in well under a second, where one LP over 4,000 would need gigabytes.
RECOURSE_CHUNK_FUTURES = 100


@dataclass(frozen=True)
class Futures:
    """N sampled futures on the scenario's grids (futures first)."""

    demand_factor: np.ndarray  # [future, workload, quarter]: × the forecast (inference workloads of `workloads`)
    electricity_factor: np.ndarray  # [future, site]: × the owned site's $ per kWh
    failure_z: np.ndarray  # [future, site, sku, quarter]: standard normal of the failed fraction
    failure_rate: float
    workloads: list[str]
    sites: list[str]
    skus: list[str]
    # [sku]: the catalog's mean failed fraction u = afr_per_node_year × repair_hours / 8,760 (models/failures.py),
    # owned or rented, the share the deterministic capacity rows already derate by; None: no catalog failures.
    unavailability: np.ndarray | None = None

    @property
    def count(self) -> int:
        return self.demand_factor.shape[0]

    def select(self, indices: np.ndarray) -> Futures:
        """The futures at `indices`, in that order (a reduced set, models/scenario_reduction.py)."""
        return Futures(demand_factor=self.demand_factor[indices], electricity_factor=self.electricity_factor[indices],
                       failure_z=self.failure_z[indices], failure_rate=self.failure_rate, workloads=self.workloads,
                       sites=self.sites, skus=self.skus, unavailability=self.unavailability)

    def take(self, start: int, stop: int) -> Futures:
        """Futures start … stop−1."""
        return Futures(demand_factor=self.demand_factor[start:stop],
                       electricity_factor=self.electricity_factor[start:stop], failure_z=self.failure_z[start:stop],
                       failure_rate=self.failure_rate, workloads=self.workloads, sites=self.sites, skus=self.skus,
                       unavailability=self.unavailability)


def draw_futures(inputs: RiskInputs, seed: int, samples: int, failure_rate: float,
                 unavailability: np.ndarray | None = None) -> Futures:
    """Futures 0 … samples−1 of `seed` exactly as `planner evaluate` draws them (float64); `unavailability` by
    sku of inputs.skus (the catalog's failures, `catalog_unavailability`)."""
    a = inputs.arrays
    workloads, quarters = a.demand_tokens_per_s.shape
    shapes = grid_shapes(workloads, quarters, len(inputs.sites), len(inputs.skus))
    with precision(True):
        factor, electricity, failure_z = (np.asarray(value, dtype=float) for value in _futures_arrays(
            key_words(seed), np.arange(samples, dtype=np.uint32), a.uncertainty, tuple(shapes.items())))
    return Futures(demand_factor=np.moveaxis(factor, -1, 0), electricity_factor=np.moveaxis(electricity, -1, 0),
                   failure_z=np.moveaxis(failure_z, -1, 0),
                   failure_rate=float(failure_rate), workloads=list(inputs.workloads), sites=list(inputs.sites),
                   skus=list(inputs.skus),
                   unavailability=None if unavailability is None else np.asarray(unavailability, dtype=float))


@partial(jax.jit, static_argnames=("shapes",))
def _futures_arrays(key, indices, uncertainty, shapes):
    """(demand factor, electricity factor, failure z), samples last: one compiled function (drawn op by op, the
    generator's ~100 small operations each compiled on their own, ~15 s)."""
    noise = draw_grid_noise(key, indices, dict(shapes), jnp.float64)
    return (demand_factor(uncertainty, noise["demand_z"], noise["common_z"]),
            electricity_factor(uncertainty.electricity_sigma, noise["electricity_z"]), noise["failure_z"])


@dataclass
class TwoStage:
    """The extensive form and what is needed to read it: column 0 … first−1 are the first stage (positions
    `first_columns` in the deterministic program), then η, then N blocks of recourse, then the u_n of CVaR."""

    lp_matrix: sp.csr_matrix
    cost: np.ndarray
    offset: float
    lower: np.ndarray
    upper: np.ndarray
    integer: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    first_columns: np.ndarray  # positions in the deterministic program
    first_cost: np.ndarray  # [future, first-stage column]: g_n
    recourse_cost: np.ndarray  # [future, recourse column]: c_n
    constant: np.ndarray  # [future]: k_n
    recourse_width: int
    futures: int
    cvar_weight: float
    cvar_alpha: float
    first_rows: int  # rows 0 … first_rows−1 hold the first stage alone
    busy_count: int  # recourse columns of a future: busy_count placement columns, then one shortfall per row
    shortfall_quarter: np.ndarray  # [shortfall column]: its quarter
    shortfall_demand: np.ndarray  # [future, shortfall column]: the demand it belongs to (tokens/s)
    # [shortfall column]: True where renting on demand is cheaper than the unmet penalty (the column is priced at
    # the smaller of the two): its cost is recourse rent, else a penalty. None: all penalties.
    shortfall_rented: np.ndarray | None = None
    probabilities: np.ndarray | None = None  # [future]: each future's weight (None: 1/N each)

    @property
    def first(self) -> int:
        return len(self.first_columns)

    # The LinearProgram interface models/solve.py reads (HighsSession).
    @property
    def num_vars(self) -> int:
        return self.lp_matrix.shape[1]

    @property
    def num_rows(self) -> int:
        return self.lp_matrix.shape[0]

    @property
    def objective_offset(self) -> float:
        return self.offset

    def objective_coefficients(self) -> np.ndarray:
        return self.cost

    def matrix(self) -> sp.csr_matrix:
        return self.lp_matrix

    def shortfall_by_quarter(self, x: np.ndarray) -> np.ndarray:
        """[future, quarter]: whether some service is short beyond evaluate's tolerance (models/risk_costs.py)
        in that quarter, at the extensive form's solution x."""
        start = self.first + 1
        recourse = x[start:start + self.futures * self.recourse_width].reshape(self.futures, self.recourse_width)
        shortfall = recourse[:, self.busy_count:]
        threshold = np.maximum(SHORTFALL_TOLERANCE_FRACTION * self.shortfall_demand, SHORTFALL_TOLERANCE_UNITS)
        quarters = int(self.shortfall_quarter.max()) + 1 if len(self.shortfall_quarter) else 1
        short = np.zeros((self.futures, quarters), dtype=bool)
        np.logical_or.at(short.T, self.shortfall_quarter, (shortfall > threshold).T)
        return short

    def future_cost_split(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """cost_n of every future at x split three ways [future]: `spend_usd` (the first stage and the busy energy
        and carbon), `on_demand_usd` (shortfall rented on demand) and `penalty_usd` (shortfall left unmet); they
        add up to `future_costs(x)`."""
        first = self.first_cost @ x[:self.first]
        start = self.first + 1
        recourse = x[start:start + self.futures * self.recourse_width].reshape(self.futures, self.recourse_width)
        priced = self.recourse_cost * recourse
        rented = np.zeros(self.recourse_width, dtype=bool)
        if self.shortfall_rented is not None:
            rented[self.busy_count:] = self.shortfall_rented
        shortfall = np.arange(self.recourse_width) >= self.busy_count
        return {"spend_usd": first + priced[:, ~shortfall].sum(axis=1) + self.constant,
                "on_demand_usd": priced[:, shortfall & rented].sum(axis=1),
                "penalty_usd": priced[:, shortfall & ~rented].sum(axis=1)}

    def future_costs(self, x: np.ndarray) -> np.ndarray:
        """cost_n of every future at the extensive form's solution x."""
        first = self.first_cost @ x[:self.first]
        start = self.first + 1
        recourse = x[start:start + self.futures * self.recourse_width].reshape(self.futures, self.recourse_width)
        return first + (self.recourse_cost * recourse).sum(axis=1) + self.constant


@dataclass(frozen=True)
class _Split:
    """The deterministic program's columns and rows sorted into first stage and recourse."""

    first: np.ndarray  # column positions
    recourse: np.ndarray  # inference busy, then unmet
    busy_pool: pd.MultiIndex  # (quarter, site, sku) of each recourse busy column (unmet: none)
    busy_count: int
    first_rows: np.ndarray
    demand_rows: np.ndarray
    capacity_rows: np.ndarray


def _split(model: PlanModel) -> _Split:
    lp, sets = model.lp, model.sets
    busy = lp.variables["busy"]
    inference = sets.placements["kind"].to_numpy() == "inference"
    recourse_busy = busy.positions[inference]
    unmet = lp.variables["unmet"].positions if "unmet" in lp.variables else np.zeros(0, dtype=int)
    recourse = np.concatenate([recourse_busy, unmet])
    dropped = np.zeros(lp.num_vars, dtype=bool)
    dropped[recourse] = True
    for name in DROPPED_VARIABLES:
        if name in lp.variables:
            dropped[lp.variables[name].positions] = True
    first = np.flatnonzero(~dropped)
    rows = {name: block.positions for name, block in lp.constraints.items()}
    taken = np.zeros(lp.num_rows, dtype=bool)
    for name in RECOURSE_FAMILIES + DROPPED_FAMILIES:
        if name in rows:
            taken[rows[name]] = True
    keys = sets.placements.loc[inference, ["quarter", "site", "sku"]]
    return _Split(first=first, recourse=recourse, busy_pool=pd.MultiIndex.from_frame(keys),
                  busy_count=len(recourse_busy), first_rows=np.flatnonzero(~taken),
                  demand_rows=rows.get("demand", np.zeros(0, dtype=int)),
                  capacity_rows=rows.get("capacity", np.zeros(0, dtype=int)))


def future_demand(model: PlanModel, classes, futures: Futures, inputs: RiskInputs) -> np.ndarray:
    """[future, demand row]: Σ_{w ∈ class} φ_n[w,t] · forecast[w,t] for every (quarter, class) row of the
    deterministic program's demand family (none in a plan with no inference demand: nothing to re-place)."""
    if "demand" not in model.lp.constraints:
        return np.zeros((futures.count, 0))
    index = model.lp.constraints["demand"].index
    forecast = inputs.arrays.demand_tokens_per_s  # [workload, quarter]
    members = classes.class_of.reindex(futures.workloads).to_numpy()
    row_of = pd.Series(np.arange(len(index)), index=index)
    quarters = np.arange(forecast.shape[1])
    w_grid, q_grid = np.meshgrid(np.arange(len(futures.workloads)), quarters, indexing="ij")
    rows = row_of.reindex(pd.MultiIndex.from_arrays([q_grid.ravel(), members[w_grid.ravel()]])).to_numpy()
    known = ~np.isnan(rows)
    demand = futures.demand_factor[:, :len(futures.workloads), :] * forecast[None, :len(futures.workloads), :]
    out = np.zeros((futures.count, len(index)))
    np.add.at(out.T, rows[known].astype(int), demand.reshape(futures.count, -1)[:, known].T)
    return out


def catalog_unavailability(catalog: pd.DataFrame, skus) -> np.ndarray:
    """[sku] in the order of `skus`: the catalog's mean failed fraction u = 1 − availability (models/failures.py)."""
    return 1.0 - availability(catalog).reindex(list(skus)).fillna(1.0).to_numpy(dtype=float)


def failure_fractions(futures: Futures, pools: pd.MultiIndex, nodes: pd.Series, owned_sites) -> np.ndarray:
    """[future, pool]: failed fraction δ_n of each (quarter, site, sku) in `pools`, at `nodes` in service there,
    as evaluate samples it (models/risk_costs.py rule 1b): the `risk:` failure_rate ρ at owned sites (a cloud
    provider replaces failed nodes) and the catalog's u[k] everywhere, as independent causes, f = ρ + u − ρ u,
    spread Binomially around f."""
    site = pd.Index(futures.sites).get_indexer(pools.get_level_values("site"))
    sku = pd.Index(futures.skus).get_indexer(pools.get_level_values("sku"))
    quarter = pools.get_level_values("quarter").to_numpy(dtype=int)
    present = nodes.reindex(pools).fillna(0.0).to_numpy()
    z = futures.failure_z[:, site, sku, quarter]
    owned = pools.get_level_values("site").isin(owned_sites)
    rho = futures.failure_rate * owned
    u = np.zeros(len(pools)) if futures.unavailability is None else futures.unavailability[sku]
    rate = rho + u - rho * u
    with precision(True):
        down = np.asarray(jax.jit(failed_fraction)(rate[None, :], present[None, :], z), dtype=float)
    return np.minimum(down, MAX_FAILED_FRACTION)


def capacity_scale(futures: Futures, pools: pd.MultiIndex, nodes: pd.Series, owned_sites) -> np.ndarray:
    """[future, pool]: what one recourse node-equivalent weighs in its capacity row, (1 − u[k]) / (1 − δ_n): the
    deterministic row already derates the nodes by the catalog's availability 1 − u (models/formulation.py
    add_capacity_constraints), so a future at exactly the mean failures (δ_n = u) weighs 1, and without catalog
    failures this is 1 / (1 − δ_n) as before."""
    sku = pd.Index(futures.skus).get_indexer(pools.get_level_values("sku"))
    u = np.zeros(len(pools)) if futures.unavailability is None else futures.unavailability[sku]
    return (1.0 - u)[None, :] / (1.0 - failure_fractions(futures, pools, nodes, owned_sites))


def _energy_columns(model: PlanModel) -> tuple[list[tuple[np.ndarray, np.ndarray, np.ndarray]], pd.Series]:
    """Discounted energy $ at nominal prices of the first stage: [(site label, column, $ per unit)] per term,
    for the idle draw of nodes in service and the busy draw of training; and the fleet's constant by site."""
    prices, lp = model.cost_parameters, model.lp
    discount = prices.discount_factor
    parts = []
    idle = model.nodes.terms
    idle_usd = prices.energy_usd_per_idle_node.reindex(pd.MultiIndex.from_frame(idle[["quarter", "site", "sku"]]))
    parts.append((idle["site"].to_numpy(), idle["var"].to_numpy(dtype=int),
                  idle["coef"].to_numpy() * idle_usd.to_numpy() * discount.reindex(idle["quarter"]).to_numpy()))
    busy = lp.variables["busy"]
    training = model.sets.placements["kind"].to_numpy() == "training"
    keys = model.sets.placements.loc[training, ["quarter", "site", "sku"]]
    busy_usd = prices.energy_usd_per_busy_node.reindex(pd.MultiIndex.from_frame(keys)).to_numpy()
    parts.append((keys["site"].to_numpy(), busy.positions[training],
                  busy_usd * discount.reindex(keys["quarter"]).to_numpy()))
    const = model.nodes.const
    fleet_usd = (const * prices.energy_usd_per_idle_node.reindex(const.index).to_numpy()
                 * discount.reindex(const.index.get_level_values("quarter")).to_numpy())
    fleet_by_site = fleet_usd.groupby(level="site").sum()
    return parts, fleet_by_site


def build_two_stage(model: PlanModel, classes, inputs: RiskInputs, futures: Futures, reference_nodes: pd.Series,
                    cvar_weight: float = 0.0, cvar_alpha: float = DEFAULT_CVAR_ALPHA,
                    probabilities: np.ndarray | None = None) -> TwoStage:
    """The extensive form of the model in this module's docstring, for `futures`; failed fractions at
    `reference_nodes` (nodes in service by (quarter, site, sku), e.g. the deterministic plan's). `probabilities`
    weights the futures (a reduced set: 1/N replaced by p_n in the mean and in CVaR's u_n / ((1 − α) N) term);
    None: equally likely, the program built exactly as before."""
    lp: LinearProgram = model.lp
    split = _split(model)
    matrix = lp.matrix().tocsr()
    n, nf = futures.count, len(split.first)
    nr = len(split.recourse)
    sites = futures.sites
    prices = model.cost_parameters

    # First-stage cost per future: nominal objective + (μ_n[s] − 1) × the energy $ of owned sites.
    objective = lp.objective_coefficients()
    position = np.full(lp.num_vars, -1)
    position[split.first] = np.arange(nf)
    base = objective[split.first]
    parts, fleet_by_site = _energy_columns(model)
    site_index = pd.Index(sites)
    first_cost = np.repeat(base[None, :], n, axis=0)
    for site_labels, columns, usd in parts:
        keep = position[columns] >= 0
        extra = (futures.electricity_factor[:, site_index.get_indexer(site_labels[keep])] - 1.0) * usd[keep]
        np.add.at(first_cost.T, position[columns[keep]], extra.T)
    fleet = fleet_by_site.reindex(sites).fillna(0.0).to_numpy()
    constant = lp.objective_offset + (futures.electricity_factor - 1.0) @ fleet

    # Recourse cost per future: busy energy × μ_n[s] + carbon; shortfall at min(on-demand, penalty).
    pools = split.busy_pool
    discount = prices.discount_factor.reindex(pools.get_level_values("quarter")).to_numpy()
    energy = prices.energy_usd_per_busy_node.reindex(pools).to_numpy() * discount
    carbon = (prices.carbon_t_per_busy_node.reindex(pools).to_numpy() * prices.carbon_usd_per_t) * discount
    mu = futures.electricity_factor[:, site_index.get_indexer(pools.get_level_values("site"))]
    busy_cost = mu * energy[None, :] + carbon[None, :]
    unmet_cost = objective[split.recourse[split.busy_count:]]
    rented = np.zeros(len(unmet_cost), dtype=bool)
    if len(unmet_cost):
        on_demand = _on_demand_usd(model, classes, inputs)
        rented = on_demand < unmet_cost
        unmet_cost = np.minimum(unmet_cost, on_demand)
    recourse_cost = np.concatenate([busy_cost, np.repeat(unmet_cost[None, :], n, axis=0)], axis=1)

    # Rows: first stage | capacity × N | demand × N | CVaR × N.
    a_first = matrix[split.first_rows][:, split.first].tocoo()
    cap = matrix[split.capacity_rows]
    cap_first = cap[:, split.first].tocoo()
    cap_recourse = cap[:, split.recourse].tocoo()
    dem = matrix[split.demand_rows][:, split.recourse].tocoo()
    nc, nd = len(split.capacity_rows), len(split.demand_rows)
    cvar = cvar_weight > 0
    eta = nf  # column of η (present even when λ = 0, fixed at 0 then)
    y0 = nf + 1
    u0 = y0 + n * nr
    ncols = u0 + (n if cvar else 0)
    c_base, d_base = len(split.first_rows), len(split.first_rows) + n * nc
    v_base = d_base + n * nd
    nrows = v_base + (n if cvar else 0)

    futures_axis = np.arange(n)[:, None]
    scale = capacity_scale(futures, pools, reference_nodes, model.sets.owned_sites)  # [n, busy]
    col_scale = np.concatenate([scale, np.ones((n, nr - split.busy_count))], axis=1)
    blocks = [
        (a_first.row, a_first.col, a_first.data),
        ((c_base + futures_axis * nc + cap_first.row).ravel(), np.broadcast_to(cap_first.col, (n, cap_first.nnz))
         .ravel(), np.broadcast_to(cap_first.data, (n, cap_first.nnz)).ravel()),
        ((c_base + futures_axis * nc + cap_recourse.row).ravel(), (y0 + futures_axis * nr + cap_recourse.col).ravel(),
         (cap_recourse.data[None, :] * col_scale[:, cap_recourse.col]).ravel()),
        ((d_base + futures_axis * nd + dem.row).ravel(), (y0 + futures_axis * nr + dem.col).ravel(),
         np.broadcast_to(dem.data, (n, dem.nnz)).ravel()),
    ]
    row_lower = [lp.row_lower[split.first_rows], np.tile(lp.row_lower[split.capacity_rows], n)]
    row_upper = [lp.row_upper[split.first_rows], np.tile(lp.row_upper[split.capacity_rows], n)]
    demand = future_demand(model, classes, futures, inputs)
    if "unmet" in lp.variables:
        unmet_index = lp.variables["unmet"].index
        shortfall_demand = demand[:, lp.constraints["demand"].index.get_indexer(unmet_index)]
    else:  # no inference demand: no shortfall column
        unmet_index = pd.MultiIndex.from_arrays([np.zeros(0, dtype=int), np.zeros(0, dtype=object)],
                                                names=["quarter", "workload"])
        shortfall_demand = np.zeros((n, 0))
    row_lower.append(demand.ravel())
    row_upper.append(demand.ravel())
    if cvar:  # g_n x + c_n (y_n, z_n) − η − u_n ≤ −k_n
        fc = sp.coo_matrix(first_cost)
        blocks.append((v_base + fc.row, fc.col, fc.data))
        blocks.append(((v_base + futures_axis + np.zeros(nr, dtype=int)).ravel(),
                       (y0 + futures_axis * nr + np.arange(nr)).ravel(), recourse_cost.ravel()))
        blocks.append((v_base + np.arange(n), np.full(n, eta), np.full(n, -1.0)))
        blocks.append((v_base + np.arange(n), u0 + np.arange(n), np.full(n, -1.0)))
        row_lower.append(np.full(n, -np.inf))
        row_upper.append(-constant)
    rows, cols, vals = (np.concatenate(part) for part in zip(*blocks))
    extensive = sp.csr_matrix((vals, (rows, cols)), shape=(nrows, ncols))

    if probabilities is None:
        mean_weight = 1.0 / n
        cost = np.concatenate([first_cost.mean(axis=0), [cvar_weight if cvar else 0.0],
                               (recourse_cost * mean_weight).ravel(),
                               np.full(n if cvar else 0, cvar_weight / ((1.0 - cvar_alpha) * n))])
        offset = float(constant.mean())
    else:
        p = np.asarray(probabilities, dtype=float)
        cost = np.concatenate([p @ first_cost, [cvar_weight if cvar else 0.0], (recourse_cost * p[:, None]).ravel(),
                               cvar_weight * p / (1.0 - cvar_alpha) if cvar else np.zeros(0)])
        offset = float(p @ constant)
    recourse_upper = np.full(nr, np.inf)
    lower = np.concatenate([lp.lower[split.first], [-np.inf if cvar else 0.0], np.zeros(n * nr),
                            np.zeros(n if cvar else 0)])
    upper = np.concatenate([lp.upper[split.first], [np.inf if cvar else 0.0], np.tile(recourse_upper, n),
                            np.full(n if cvar else 0, np.inf)])
    integer = np.concatenate([lp.integer[split.first], np.zeros(ncols - nf, dtype=bool)])
    return TwoStage(lp_matrix=extensive, cost=cost, offset=offset, lower=lower, upper=upper,
                    integer=integer, row_lower=np.concatenate(row_lower), row_upper=np.concatenate(row_upper),
                    first_columns=split.first, first_cost=first_cost, recourse_cost=recourse_cost,
                    constant=constant, recourse_width=nr, futures=n, cvar_weight=cvar_weight, cvar_alpha=cvar_alpha,
                    first_rows=len(split.first_rows), busy_count=split.busy_count,
                    shortfall_quarter=unmet_index.get_level_values("quarter").to_numpy(dtype=int),
                    shortfall_demand=shortfall_demand, shortfall_rented=rented,
                    probabilities=None if probabilities is None else np.asarray(probabilities, dtype=float))


def _on_demand_usd(model: PlanModel, classes, inputs: RiskInputs) -> np.ndarray:
    """Discounted $ per unit of shortfall rented on demand, per (quarter, class) of the unmet columns (evaluate's
    rule 4; a class's members share their cloud options, so the first member's price is the class's)."""
    with precision(True):
        per_unit = np.asarray(jax.jit(on_demand_usd_per_unit)(inputs.params, inputs.arrays),
                              dtype=float)  # [workload, quarter]
    index = model.lp.variables["unmet"].index
    workload = pd.Index(inputs.workloads).get_indexer(index.get_level_values("workload"))
    quarter = index.get_level_values("quarter").to_numpy(dtype=int)
    discount = model.cost_parameters.discount_factor.reindex(quarter).to_numpy()
    return per_unit[workload, quarter] * discount


def fixed_keeping_rows(two_stage: TwoStage, first_values: np.ndarray) -> TwoStage:
    """The program with the first stage pinned and its first-stage rows kept (a candidate must satisfy them)."""
    pinned = fixed(two_stage, first_values)
    return TwoStage(**{**pinned.__dict__, "row_lower": two_stage.row_lower, "row_upper": two_stage.row_upper})


def fixed(two_stage: TwoStage, first_values: np.ndarray) -> TwoStage:
    """The same program with the first stage pinned to `first_values` (the deterministic program's columns) and
    its first-stage rows dropped: they hold constants then, and a plan read back from PLAN.json may meet them only
    to its printed precision."""
    lower, upper = two_stage.lower.copy(), two_stage.upper.copy()
    values = first_values[two_stage.first_columns]
    lower[:two_stage.first], upper[:two_stage.first] = values, values
    row_lower, row_upper = two_stage.row_lower.copy(), two_stage.row_upper.copy()
    row_lower[:two_stage.first_rows], row_upper[:two_stage.first_rows] = -np.inf, np.inf
    integer = np.zeros_like(two_stage.integer)
    return TwoStage(**{**two_stage.__dict__, "lower": lower, "upper": upper, "integer": integer,
                       "row_lower": row_lower, "row_upper": row_upper})


def first_stage_values(two_stage: TwoStage, x: np.ndarray, num_vars: int) -> np.ndarray:
    """The extensive form's first stage as a vector over the deterministic program's columns (0 elsewhere)."""
    out = np.zeros(num_vars)
    out[two_stage.first_columns] = x[:two_stage.first]
    return out


def hold_columns(two_stage: TwoStage, model: PlanModel, names: tuple[str, ...], x: np.ndarray) -> None:
    """Pin the first-stage columns of the variable families `names` to their values in `x` (a solution of the
    deterministic program), in place."""
    for name in names:
        if name not in model.lp.variables:
            continue
        at = np.searchsorted(two_stage.first_columns, model.lp.variables[name].positions)
        two_stage.lower[at] = x[model.lp.variables[name].positions]
        two_stage.upper[at] = two_stage.lower[at]


def recourse_costs(two_stage: TwoStage, x: np.ndarray, time_limit_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Every future's cost with the first stage fixed at `x` (the deterministic program's columns), recourse
    solved optimally (one LP: the futures decouple): (cost_n [future], the extensive form's solution)."""
    result = HighsSession(fixed(two_stage, x), relax=True).solve(time_limit_s)
    if result.status != OPTIMAL:
        raise RuntimeError(f"the recourse LP ended {result.status}: a fixed first stage always has a recourse "
                           f"(every shortfall may go unmet), so this is a bug")
    return two_stage.future_costs(result.x), result.x


def rounded_relaxation(two_stage: TwoStage, model: PlanModel, time_limit_s: float) -> np.ndarray | None:
    """A complete solution of the extensive form in seconds: its LP relaxation, node counts rounded as the
    deterministic warm start rounds them (models/warm_start.py: cumulative orders up, then back down one node at a
    time where a power, rack or budget row is exceeded; rentals up), and the recourse LP for those counts."""
    relaxed = HighsSession(two_stage, relax=True).solve(time_limit_s)
    if not relaxed.has_solution:
        return None
    x = round_node_counts(model, first_stage_values(two_stage, relaxed.x, model.lp.num_vars))
    held = np.zeros(model.lp.num_vars)
    held[two_stage.first_columns] = two_stage.lower[:two_stage.first]
    pinned = two_stage.lower[:two_stage.first] == two_stage.upper[:two_stage.first]
    x[two_stage.first_columns[pinned]] = held[two_stage.first_columns[pinned]]  # the held training choice
    result = HighsSession(fixed_keeping_rows(two_stage, x), relax=True).solve(time_limit_s)
    return result.x if result.status == OPTIMAL else None


def solve_two_stage(two_stage: TwoStage, hint: np.ndarray, time_limit_s: float, gap: float,
                    progress=None) -> SolveResult:
    """The extensive form by HiGHS's branch and bound, starting from `hint` (a complete solution of it)."""
    return HighsSession(two_stage).solve(time_limit_s, gap, hint=hint, progress=progress)


def rentals_on_demand(model: PlanModel, x: np.ndarray, headroom: float) -> np.ndarray:
    """`x` with every rental cut to what the training runs placed on it need, busy ÷ (1 − headroom)
    node-equivalents: the rest of a plan's rentals is re-decided in each future (rented on demand, as the
    recourse does), so a plan is not charged for cloud nodes it rented for the forecast's inference."""
    lp = model.lp
    if "rentals" not in lp.variables:
        return x
    x = x.copy()
    training = model.sets.placements["kind"].to_numpy() == "training"
    keys = model.sets.placements.loc[training, ["quarter", "site", "sku"]]
    busy = pd.Series(x[lp.variables["busy"].positions[training]], index=pd.MultiIndex.from_frame(keys))
    need = busy.groupby(level=["quarter", "site", "sku"]).sum() / (1.0 - headroom)
    rentals = lp.variables["rentals"]
    x[rentals.positions] = need.reindex(rentals.index).fillna(0.0).to_numpy()
    return x


def first_stage_from_plan(model: PlanModel, plan: dict, horizon, headroom: float) -> np.ndarray:
    """A PLAN.json's first stage as a vector over the deterministic program's columns: orders from `purchases`,
    training node-equivalents from `placement` and spot node-hours from `spot`, each run's pool and active quarters
    where it works, its unfinished fraction, and rentals as `rentals_on_demand` holds them. Recourse columns stay 0."""
    lp = model.lp
    x = np.zeros(lp.num_vars)

    def put(name: str, keys: pd.MultiIndex | pd.Index, values) -> None:
        if name not in lp.variables or not len(keys):
            return
        at = lp.variables[name].index.get_indexer(keys)
        if (at < 0).any():  # a verified plan names only decisions the program has: never drop one silently
            raise ValueError(f"the plan's {name} {list(keys[at < 0])[:3]} are not decisions of this scenario")
        np.add.at(x, lp.variables[name].positions[at], np.asarray(values, dtype=float))

    purchases = pd.DataFrame(plan["purchases"], columns=["quarter", "site", "sku", "nodes"])
    put("orders", pd.MultiIndex.from_arrays([[horizon.relative(q) for q in purchases["quarter"]],
                                             purchases["site"], purchases["sku"]]), purchases["nodes"])
    placement = pd.DataFrame(plan["placement"], columns=["quarter", "workload", "site", "sku", "node_equivalents"])
    runs = model.sets.training_pools["workload"].unique()
    training = placement[placement["workload"].isin(runs)]
    keys = pd.MultiIndex.from_arrays([[horizon.relative(q) for q in training["quarter"]], training["workload"],
                                      training["site"], training["sku"]])
    put("busy", keys, training["node_equivalents"])
    working = training["node_equivalents"].to_numpy() > 0
    put("training_active", keys[working], np.ones(int(working.sum())))
    spot = pd.DataFrame(plan.get("spot") or [], columns=["quarter", "workload", "site", "sku", "node_hours"])
    spot = spot[spot["node_hours"].to_numpy(dtype=float) > 0]
    put("spot_node_hours", pd.MultiIndex.from_arrays([[horizon.relative(q) for q in spot["quarter"]],
                                                      spot["workload"], spot["site"], spot["sku"]]),
        spot["node_hours"])  # training's spot is first stage, like its node-equivalents (docs/datacenter-2026.md)
    pools = pd.concat([training.loc[working, ["workload", "site", "sku"]], spot[["workload", "site", "sku"]]]) \
        .drop_duplicates()
    put("pool", pd.MultiIndex.from_frame(pools), np.ones(len(pools)))
    unfinished = pd.DataFrame(plan["unfinished"], columns=["workload", "fraction_left"])
    put("left", pd.MultiIndex.from_arrays([unfinished["workload"]], names=["workload"]), unfinished["fraction_left"])
    builds = pd.DataFrame(plan.get("facility") or [], columns=["quarter", "option", "facility_units"])
    put("facility_builds", pd.MultiIndex.from_arrays([[horizon.relative(q) for q in builds["quarter"]],
                                                      builds["option"]]), builds["facility_units"])
    signed = pd.DataFrame(plan.get("contracts") or [], columns=["quarter", "contract", "site", "sku",
                                                                "contract_blocks"])
    put("contract_signings", pd.MultiIndex.from_arrays([[horizon.relative(q) for q in signed["quarter"]],
                                                        signed["contract"], signed["site"], signed["sku"]]),
        signed["contract_blocks"])
    return rentals_on_demand(model, x, headroom)


def first_stage_held(model: PlanModel) -> np.ndarray:
    """Mask of the columns the forecast re-solve keeps from the two-stage solution: orders, and the training runs'
    pools, active quarters, node-equivalents, spot node-hours and unfinished fractions (the plan written then carries exactly the
    first stage its in-sample figures price; rentals and inference placement follow the forecast)."""
    lp = model.lp
    mask = np.zeros(lp.num_vars, dtype=bool)
    for name in ("orders", "left", "facility_builds", "contract_signings", "spot_node_hours") + HELD_FAMILIES:
        if name in lp.variables:
            mask[lp.variables[name].positions] = True
    mask[lp.variables["busy"].positions[model.sets.placements["kind"].to_numpy() == "training"]] = True
    return mask
