"""Modelling to generate alternatives (MGA): plans within a cost slack of the optimum that differ on purpose.

A review asks for choices, not one answer: "the cheapest plan within 2 % that does not depend on one vendor",
"how different can a near-optimal plan be". The method is the Hop-Skip-Jump MGA of Brill et al. (1982), as PyPSA
and GenX ship it: keep every constraint of the program, add one row

    Σ_j c_j x_j + offset  ≤  (1 + slack) · TCO*          (TCO* = the optimum's discounted TCO)

and replace the objective by a *direction*: the GPU-quarters in service (owned, ordered or rented; the existing
fleet is a constant) of the groups to stay away from. A group is a SKU, a vendor or a site. `avoid` minimises the
named groups; the iterative mode minimises, at step k, the groups every earlier plan used, so each alternative
moves away from all of them. Each alternative is then polished lexicographically: the direction's value it
reached becomes a cap (plus DIRECTION_TOLERANCE) and the TCO is minimised again, so it is the cheapest plan that
avoids that much (without the polish the solver is free to spend the slack on anything). Each alternative is an ordinary plan of the program: it is extracted, priced on
the cost lines and verified like the optimum.

Vendor of a SKU: the first word of its catalog `accelerator` (NVIDIA, AMD, ...), upper-cased.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from models.lp import Expr, LinearProgram

DIRECTIONS = ("sku", "vendor", "site")
DIRECTION_TOLERANCE = 1e-6  # relative room on the direction's value in the polish (solver feasibility tolerance)
USED_GPU_QUARTERS = 1e-6  # a group with fewer GPU-quarters than this in a plan is not used by it


def vendor_of(accelerator: str) -> str:
    """The vendor named by a catalog accelerator, e.g. 'NVIDIA H100 SXM 80GB' -> 'NVIDIA'."""
    words = str(accelerator).split()
    return words[0].upper() if words else ""


def group_labels(nodes: Expr, catalog: pd.DataFrame, direction: str) -> pd.Series:
    """The group of each term of the in-service nodes expression, by `direction`."""
    if direction == "sku":
        return nodes.terms["sku"].astype(str)
    if direction == "site":
        return nodes.terms["site"].astype(str)
    if direction == "vendor":
        vendors = catalog["accelerator"].map(vendor_of)
        return nodes.terms["sku"].map(vendors).astype(str)
    raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")


def gpu_quarters_by_group(lp: LinearProgram, nodes: Expr, catalog: pd.DataFrame, direction: str,
                          x: np.ndarray) -> pd.Series:
    """GPU-quarters in service per group in solution `x` (decisions only: the fleet's constant is left out)."""
    terms = nodes.terms
    gpus = terms["sku"].map(catalog["gpus_per_node"]).to_numpy(dtype=float)
    values = terms["coef"].to_numpy(dtype=float) * gpus * x[terms["var"].to_numpy(dtype=np.int64)]
    return pd.Series(values).groupby(group_labels(nodes, catalog, direction).to_numpy()).sum()


def direction_objective(lp: LinearProgram, nodes: Expr, catalog: pd.DataFrame, direction: str,
                        groups: set[str]) -> np.ndarray:
    """Coefficients of Σ GPU-quarters in service of `groups` over the program's columns."""
    terms = nodes.terms
    chosen = group_labels(nodes, catalog, direction).isin(groups).to_numpy()
    gpus = terms["sku"].map(catalog["gpus_per_node"]).to_numpy(dtype=float)
    weights = terms["coef"].to_numpy(dtype=float) * gpus * chosen
    return np.bincount(terms["var"].to_numpy(dtype=np.int64), weights=weights, minlength=lp.num_vars)


def within_slack(lp: LinearProgram, optimum_usd: float, slack: float) -> LinearProgram:
    """A copy of the program with the cost row `objective ≤ (1 + slack) · optimum_usd` added (objective kept)."""
    mga = copy.deepcopy(lp)
    columns = np.flatnonzero(lp.objective)
    terms = pd.DataFrame({"row": np.zeros(len(columns), dtype=np.int64), "var": columns.astype(np.int64),
                          "coef": lp.objective[columns]})
    cost = Expr(["row"], terms, pd.Series([lp.objective_offset], index=pd.Index([0], name="row")))
    mga.add_constraints("mga_cost_within_slack", cost, "<=", (1.0 + slack) * optimum_usd)
    return mga


def capped(lp: LinearProgram, coefficients: np.ndarray, cap: float, name: str) -> LinearProgram:
    """A copy of `lp` with the row `coefficients · x ≤ cap` added (the polish: the direction's value kept)."""
    mga = copy.deepcopy(lp)
    columns = np.flatnonzero(coefficients)
    terms = pd.DataFrame({"row": np.zeros(len(columns), dtype=np.int64), "var": columns.astype(np.int64),
                          "coef": coefficients[columns]})
    if not len(columns):
        return mga
    mga.add_constraints(name, Expr(["row"], terms), "<=", cap)
    return mga


def with_objective(lp: LinearProgram, coefficients: np.ndarray) -> LinearProgram:
    """`lp` minimising `coefficients · x` instead (same rows, same columns)."""
    clone = copy.copy(lp)
    clone.objective = np.asarray(coefficients, dtype=float)
    clone.objective_offset = 0.0
    return clone
