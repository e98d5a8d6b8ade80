"""Valid inequalities that tighten the LP relaxation of the plan without changing its optimum (issue 23).

Measured on the shipped example (docs/scale.md "The LP bound"): the relaxation ($74.69 M) is 2.4 % below the
optimum ($76.51 M), and all of that comes from `training_one_pool`: keeping only `pool` integer closes it, making
only node counts integer closes 3 %. The relaxation splits a run over several pools, a share of it on the free
fleet of one site, a share on another's, and lets a pool do more of a run than its `pool` value (busy is bounded
by a whole run's work a quarter, `active` by `pool`, so `pool` = 0.44 may do 0.62 of the run). Two families of
rows, each satisfied by an optimal plan, remove that (a third tightens the spine rule):

- **Work only where chosen** (`training_pool_work`): done[w,s,k] ≤ pool[w,s,k], with
  done[w,s,k] = Σ_t 2,190 · busy[t,w,s,k] / node_hours[w,k]. An integer plan has pool = 1 on the pool that does
  the run, 0 elsewhere (busy = 0 there); it may overwork the run (training_work is "at least"), but the same plan
  with that pool's busy cut back to the run's work is feasible (busy enters only ≤ rows besides training_work)
  and no dearer (busy's cost coefficients are ≥ 0; where one is not, the row is left out). So the optimum's
  value is unchanged; the rows cut off only overworked plans.
- **The fleet only where chosen** (`training_pool_fleet`, the perspective of the capacity row):
  busy[t,w,s,k] ≤ (1 − headroom) · (nodes[t,s,k] − fleet[t,s,k] + fleet[t,s,k] · pool[w,s,k]), rows only
  where fleet is in service. pool = 1 is the capacity row itself; pool = 0 forces busy = 0 already. In the
  relaxation a run half in a pool may use half of that pool's fleet: the fleet is no longer shared out by
  fractions of runs.

- **The spine rule on the run's own `active`** (`spine_span_active`, `spine_span_above_active`,
  `spine_busy_on_active`; docs/datacenter-2026.md "Fabric and storage: the rules"): span ≤ active,
  busy ≤ U·active + (B − U)·span and spanned ≥ busy − U·(active − span), the formulation's big-M rows with the
  run's `active` in place of 1 and U in place of B where the run does not span (busy ≤ U then). Every integer plan
  satisfies them (a spanning quarter has busy > U > 0, so active = 1; active = 0 forces busy = 0). With span
  fractional they give spanned ≥ B·(busy − U·active)/(B − U), the convex hull of {busy ≤ U·active, spanned = 0} ∪
  {busy > U, spanned = busy}, where the formulation's rows alone allow spanned = 0 up to busy = B²/(2B − U). On
  the fabric example (data/examples/example) the relaxation rises from $86.64 M to $87.88 M (the optimum
  $88.51–88.56 M): 65 % of the gap closed; the rest is the hull's own (B = 252 on Texas H100 against U = 32).

On the example without fabric the relaxation rises to $76.48 M (0.045 % below the optimum). The rows go to the branch-and-bound
backends and the warm start only (`strengthened`); the program itself (`PlanModel.lp`, its golden fingerprint, the
shadow prices, CBC's independent path) is unchanged. CP-SAT does not get them: its continuous variables live on a
1/1,000 grid on which done = pool exactly may be unreachable.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.formulation import PlanModel
from models.lp import LinearProgram
from models.quarters import HOURS_PER_QUARTER

KEYS = ["quarter", "workload", "site", "sku"]
COST_TOLERANCE_USD = 0.0  # busy's objective coefficients at or above this: cutting busy back never costs more


def pool_cuts(model: PlanModel, headroom: float) -> LinearProgram | None:
    """Both families above as rows over `model.lp`'s columns (LinearProgram.with_rows appends them); None when
    the program has no training pools."""
    lp = model.lp
    pool, busy = lp.variables.get("pool"), lp.variables["busy"]
    training = model.sets.placements[model.sets.placements["kind"] == "training"]
    if pool is None or training.empty:
        return None
    rows = LinearProgram(f"{lp.name} cuts")
    share = HOURS_PER_QUARTER / training.set_index(KEYS)["node_hours"]
    done = busy.expr().mul(share, filter=True).sum("quarter")  # filter: training work only
    costs = lp.objective_coefficients()[busy.positions]
    if np.all(costs[(model.sets.placements["kind"] == "training").to_numpy()] >= COST_TOLERANCE_USD):
        rows.add_constraints("training_pool_work", done - pool.expr(), "<=", 0.0)
    _add_fleet_rows(rows, model, training[KEYS], 1.0 - headroom)
    _add_spine_rows(rows, model)
    return rows if rows.num_rows else None


def _add_spine_rows(rows: LinearProgram, model: PlanModel) -> None:
    """The spine rule's big-M rows on the run's own `active` (the perspective; see the module docstring)."""
    variables = model.lp.variables
    if "spine_span" not in variables or "training_active" not in variables or model.fabric_costs is None:
        return
    span = variables["spine_span"]
    keys = span.index.to_frame(index=False)
    per_su = pd.Series(model.fabric_costs.nodes_per_su.reindex(keys["sku"]).to_numpy(dtype=float), index=span.index)
    most = pd.Series(model.lp.upper[variables["spine_busy"].positions], index=span.index)
    run = variables["busy"].expr().select(keys)
    active = variables["training_active"].expr().select(keys)
    spanned = variables["spine_busy"].expr()
    rows.add_constraints("spine_span_active", span.expr() - active, "<=", 0.0)
    # busy ≤ U·active + (B − U)·span
    rows.add_constraints("spine_span_above_active", run - active.mul(per_su) - span.expr().mul(most - per_su),
                         "<=", 0.0)
    # spanned ≥ busy − U·(active − span)
    rows.add_constraints("spine_busy_on_active", spanned - run + active.mul(per_su) - span.expr().mul(per_su),
                         ">=", 0.0)


def _add_fleet_rows(rows: LinearProgram, model: PlanModel, training: pd.DataFrame, share: float) -> None:
    fleet = model.sets.fleet[model.sets.fleet > 0]
    if not len(fleet):
        return
    with_fleet = training.merge(fleet.index.to_frame(index=False), on=["quarter", "site", "sku"], how="inner")
    if with_fleet.empty:
        return
    variables = model.lp.variables
    fleet_share = pd.Series(fleet.reindex(pd.MultiIndex.from_frame(with_fleet[["quarter", "site", "sku"]]))
                            .to_numpy(dtype=float) * share, index=pd.MultiIndex.from_frame(with_fleet[KEYS]))
    used = variables["busy"].expr().select(with_fleet)
    capacity = model.nodes.join(with_fleet, filter=True) * share  # its constant is the fleet's share
    fleet_if_chosen = variables["pool"].expr().join(with_fleet, filter=True).mul(fleet_share)
    # busy − share·nodes − share·fleet·pool + share·fleet ≤ 0; nodes' constant (the fleet) cancels the last term
    rows.add_constraints("training_pool_fleet", used - capacity - fleet_if_chosen + fleet_share, "<=", 0.0)


def strengthened(lp: LinearProgram, cuts: LinearProgram | None) -> LinearProgram:
    """`lp` (the model's program, or one restricted from it by bounds) with the cuts appended."""
    return lp if cuts is None else lp.with_rows(cuts)
