"""A labelled, vectorised sparse linear program: variables and constraints come in families indexed by pandas.

Why not OR-Tools' per-variable Python objects: a family of constraints (say, capacity for every quarter × site ×
SKU) is one pandas merge/groupby here and becomes rows of one CSR matrix, which OR-Tools' model_builder takes
in a single call (`fill_model_from_sparse_data`) and PuLP reads row by row. The same matrix feeds every
backend, and solutions and duals come back as Series labelled like the family that made them.

An `Expr` is a family of linear expressions: `terms` (one row per coefficient: the key columns, `var`, `coef`)
plus a `const` Series indexed by the same keys.

Alignment is explicit: a factor, a mapping table or a right-hand side must cover every label of the expression,
or an `AlignmentError` names the labels it lacks (a typo would otherwise become a zero cost or a zero cap).
Keeping a subset is said in words: `select(keys)`, or `mul(factor, filter=True)` / `join(table, filter=True)`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

INF = float("inf")


def _as_index(index: pd.Index | pd.MultiIndex) -> pd.MultiIndex:
    if isinstance(index, pd.MultiIndex):
        return index
    return pd.MultiIndex.from_arrays([index], names=[index.name])


class Expr:
    """A family of linear expressions keyed by `dims` (a list of column names)."""

    def __init__(self, dims: list[str], terms: pd.DataFrame, const: pd.Series | None = None):
        self.dims = list(dims)
        self.terms = terms.reset_index(drop=True)
        if const is None:
            const = pd.Series(dtype=float, index=_empty_index(self.dims))
        elif not isinstance(const.index, pd.MultiIndex):
            const = pd.Series(const.to_numpy(), index=_as_index(const.index))
        self.const = const

    # --- construction -----------------------------------------------------------------------------
    @staticmethod
    def constant(values: pd.Series) -> "Expr":
        """A family with no variables, only constants (e.g. the existing fleet's nodes)."""
        index = _as_index(values.index)
        dims = list(index.names)
        const = pd.Series(values.to_numpy(dtype=float), index=index)
        terms = pd.DataFrame({**{d: pd.Series(dtype=index.get_level_values(d).dtype) for d in dims},
                              "var": pd.Series(dtype=np.int64), "coef": pd.Series(dtype=float)})
        return Expr(dims, terms, const)

    # --- algebra ----------------------------------------------------------------------------------
    def mul(self, factor, filter: bool = False) -> "Expr":
        """Scale by a number or by a Series indexed by some of `dims`.

        The factor must give a (non-NaN) value for every key of the expression: a missing label is an
        `AlignmentError` naming it, so a typo cannot turn into a zero cost. `filter=True` asks for the keys the
        factor lacks (or holds as NaN) to be dropped instead; prefer `select` where the selection has a name.
        """
        if np.isscalar(factor):
            terms = self.terms.assign(coef=self.terms["coef"] * float(factor))
            return Expr(self.dims, terms, self.const * float(factor))
        names = list(_as_index(factor.index).names)
        _check_dims(names, self.dims, f"factor {factor.name!r}" if factor.name is not None else "factor")
        if not factor.index.is_unique:
            raise AlignmentError(f"factor {factor.name!r} has repeated labels over {names}")
        table = factor.rename("_factor").reset_index()
        terms = self.terms.merge(table, on=names, how="left")
        const = self.const.rename("_value").reset_index().merge(table, on=names, how="left")
        missing_terms = terms["_factor"].isna().to_numpy()
        missing_const = const["_factor"].isna().to_numpy()
        if missing_terms.any() or missing_const.any():
            if not filter:
                lacking = pd.concat([terms.loc[missing_terms, names], const.loc[missing_const, names]])
                raise AlignmentError(_missing_message(f"factor {factor.name!r}" if factor.name is not None
                                                      else "factor", names, lacking))
            terms = terms[~missing_terms]
            const = const[~missing_const]
        terms["coef"] = terms["coef"] * terms.pop("_factor")
        const = const.set_index(self.dims)["_value"] * const.set_index(self.dims)["_factor"] \
            if len(self.dims) else self.const
        return Expr(self.dims, terms, const)

    def __mul__(self, factor) -> "Expr":
        """`expr * factor`: `mul` without filtering (every key of the expression must be in the factor)."""
        return self.mul(factor)

    __rmul__ = __mul__

    def __neg__(self) -> "Expr":
        return self * -1.0

    def __add__(self, other) -> "Expr":
        if isinstance(other, Expr):
            if set(other.dims) != set(self.dims):
                raise ValueError(f"cannot add expressions over {self.dims} and {other.dims}")
            terms = pd.concat([self.terms, other.terms[self.terms.columns]], ignore_index=True)
            const = _add_series(self.const, other.const.reorder_levels(self.dims)
                                if len(self.dims) > 1 else other.const)
            return Expr(self.dims, terms, const)
        if isinstance(other, pd.Series):
            return self + Expr.constant(other)
        return Expr(self.dims, self.terms, self.const + float(other))

    def __sub__(self, other) -> "Expr":
        return self + (-other if isinstance(other, Expr) else -1.0 * other)

    def sum(self, *dims: str) -> "Expr":
        """Sum over the given dims (all dims if none given)."""
        drop = list(dims) if dims else list(self.dims)
        keep = [d for d in self.dims if d not in drop]
        terms = self.terms.drop(columns=drop)
        if keep:
            const = self.const.groupby(level=keep, sort=False).sum() if len(self.const) else \
                pd.Series(dtype=float, index=_empty_index(keep))
        else:
            const = pd.Series([float(self.const.sum())], index=_scalar_index())
            terms = terms.assign(_all=0)
            keep = ["_all"]
        return Expr(keep, terms, const)

    def join(self, table: pd.DataFrame, filter: bool = False) -> "Expr":
        """Re-key through a mapping table (join on shared columns); the table's other columns become dims.

        E.g. orders[order_quarter, site, sku] joined with vintages[sku, order_quarter, quarter] is keyed by
        (order_quarter, site, sku, quarter); `.sum("order_quarter")` then gives nodes in service. Every key of the
        expression must appear in the table (an `AlignmentError` names those that do not) unless `filter=True`,
        which drops them.
        """
        on = [c for c in table.columns if c in self.dims]
        new = [c for c in table.columns if c not in self.dims]
        if not on:
            raise AlignmentError(f"the table's columns {list(table.columns)} share none of the dims {self.dims}")
        if not filter:
            _check_covered(self, on, table, "the mapping table")
        terms = self.terms.merge(table, on=on, how="inner")
        if len(self.const):
            const = self.const.rename("_value").reset_index().merge(table, on=on, how="inner")
            const = const.set_index(self.dims + new)["_value"]
        else:
            const = pd.Series(dtype=float, index=_empty_index(self.dims + new))
        return Expr(self.dims + new, terms, const)

    def select(self, keys: pd.DataFrame) -> "Expr":
        """Keep only the keys listed in `keys` (a frame whose columns are some of `dims`): the explicit filter."""
        _check_dims(list(keys.columns), self.dims, "the selection")
        return self.join(keys.drop_duplicates(), filter=True)


class AlignmentError(ValueError):
    """A factor, mapping or right-hand side lacks labels the expression has (see `Expr.mul`)."""


MISSING_LABELS_SHOWN = 5  # labels quoted in an AlignmentError before "and N more"


def _check_dims(names: list[str], dims: list[str], what: str) -> None:
    unknown = [n for n in names if n not in dims]
    if unknown:
        raise AlignmentError(f"{what} is indexed by {unknown}, which the expression (over {dims}) does not have")


def _check_covered(expr: "Expr", on: list[str], table: pd.DataFrame, what: str) -> None:
    """Raise an AlignmentError naming the keys of `expr` (terms and constants) that `table` lacks on `on`."""
    known = pd.MultiIndex.from_frame(table[on])
    keys = pd.concat([expr.terms[on], expr.const.index.to_frame(index=False)[on]], ignore_index=True)
    hit = pd.MultiIndex.from_frame(keys).isin(known)
    if not hit.all():
        raise AlignmentError(_missing_message(what, on, keys[~hit]))


def _missing_message(what: str, names: list[str], lacking: pd.DataFrame) -> str:
    labels = list(lacking.drop_duplicates().itertuples(index=False, name=None))
    shown = ", ".join(str(label[0] if len(label) == 1 else label) for label in labels[:MISSING_LABELS_SHOWN])
    more = f" and {len(labels) - MISSING_LABELS_SHOWN} more" if len(labels) > MISSING_LABELS_SHOWN else ""
    return (f"{what} has no value for {len(labels)} label(s) of the expression over {names}: {shown}{more} "
            f"(select them away explicitly, or pass filter=True)")


def _scalar_index() -> pd.MultiIndex:
    return pd.MultiIndex.from_arrays([[0]], names=["_all"])


def _empty_index(dims: list[str]) -> pd.MultiIndex:
    if not dims:
        return _scalar_index()[:0]
    return pd.MultiIndex.from_arrays([[] for _ in dims], names=dims)


def _add_series(a: pd.Series, b: pd.Series) -> pd.Series:
    if not len(a):
        return b
    if not len(b):
        return a
    return a.add(b, fill_value=0.0)


@dataclass
class Block:
    """A family of variables or constraints: its labels and where its columns/rows start."""

    name: str
    index: pd.MultiIndex
    offset: int

    @property
    def positions(self) -> np.ndarray:
        return np.arange(self.offset, self.offset + len(self.index))


class Variables(Block):
    def expr(self) -> Expr:
        terms = self.index.to_frame(index=False)
        terms["var"] = self.positions
        terms["coef"] = 1.0
        return Expr(list(self.index.names), terms)


class LinearProgram:
    """Collects variable and constraint families; emits one sparse matrix for any backend."""

    def __init__(self, name: str):
        self.name = name
        self.variables: dict[str, Variables] = {}
        self.constraints: dict[str, Block] = {}
        self._lower: list[np.ndarray] = []
        self._upper: list[np.ndarray] = []
        self._integer: list[np.ndarray] = []
        self._rows: list[np.ndarray] = []
        self._cols: list[np.ndarray] = []
        self._vals: list[np.ndarray] = []
        self._row_lower: list[np.ndarray] = []
        self._row_upper: list[np.ndarray] = []
        self.num_vars = 0
        self.num_rows = 0
        self.objective = np.zeros(0)
        self.objective_offset = 0.0

    def add_variables(self, name: str, index: pd.Index, lower=0.0, upper=INF, integer=False) -> Variables:
        index = _as_index(index)
        size = len(index)
        block = Variables(name, index, self.num_vars)
        self.variables[name] = block
        self._lower.append(np.broadcast_to(np.asarray(lower, dtype=float), (size,)).copy())
        self._upper.append(np.broadcast_to(np.asarray(upper, dtype=float), (size,)).copy())
        self._integer.append(np.full(size, bool(integer)))
        self.num_vars += size
        return block

    def add_constraints(self, name: str, lhs: Expr, sense: str, rhs=0.0, elastic: bool = False) -> Block:
        """Rows `lhs (<=|>=|==) rhs` for every key of lhs (and of rhs when it is a Series).

        `elastic` adds a non-negative slack per row, variables f"{name}_slack" labelled like the rows, that
        lets an inequality be violated: infeasibility diagnosis minimises them to say which cap is too small.
        """
        keys = [lhs.terms[lhs.dims].drop_duplicates()]
        if len(lhs.const):
            keys.append(lhs.const.index.to_frame(index=False)[lhs.dims])
        rhs_names = list(_as_index(rhs.index).names) if isinstance(rhs, pd.Series) else []
        if rhs_names and set(rhs_names) == set(lhs.dims):  # rhs over the same keys: its rows count too
            keys.append(_as_index(rhs.index).to_frame(index=False)[lhs.dims])
        index = pd.MultiIndex.from_frame(pd.concat(keys, ignore_index=True).drop_duplicates())
        block = Block(name, index, self.num_rows)
        self.constraints[name] = block
        if len(lhs.terms):
            rows = index.get_indexer(pd.MultiIndex.from_frame(lhs.terms[lhs.dims]))
            self._rows.append(rows + self.num_rows)
            self._cols.append(lhs.terms["var"].to_numpy(dtype=np.int64))
            self._vals.append(lhs.terms["coef"].to_numpy(dtype=float))
        if rhs_names:  # broadcast a rhs given over some of the dims (e.g. a cap per site) to every row
            table = rhs.rename("_rhs").reset_index()
            rows = index.to_frame(index=False)
            bound = rows.merge(table, on=rhs_names, how="left")["_rhs"]
            if bound.isna().any():  # a row without a bound is a labelling mistake, never a silent 0
                raise AlignmentError(_missing_message(f"the right-hand side of {name!r}", rhs_names,
                                                      rows.loc[bound.isna().to_numpy(), rhs_names]))
            bound = bound.to_numpy(dtype=float)
        else:
            bound = np.full(len(index), float(rhs))
        if len(lhs.const):
            bound = bound - lhs.const.reindex(index).fillna(0.0).to_numpy(dtype=float)
        lower = bound if sense in (">=", "==") else np.full(len(index), -INF)
        upper = bound if sense in ("<=", "==") else np.full(len(index), INF)
        if sense not in ("<=", ">=", "=="):
            raise ValueError(f"unknown sense {sense!r}")
        if elastic:
            if sense == "==":
                raise ValueError("an elastic constraint must be an inequality")
            slack = self.add_variables(f"{name}_slack", index)
            self._rows.append(np.arange(self.num_rows, self.num_rows + len(index)))
            self._cols.append(slack.positions)
            self._vals.append(np.full(len(index), -1.0 if sense == "<=" else 1.0))
        self._row_lower.append(lower)
        self._row_upper.append(upper)
        self.num_rows += len(index)
        return block

    def minimize(self, expr: Expr) -> None:
        total = expr.sum()
        self.objective = np.bincount(total.terms["var"].to_numpy(dtype=np.int64),
                                     weights=total.terms["coef"].to_numpy(dtype=float),
                                     minlength=self.num_vars)
        self.objective_offset = float(total.const.sum())

    def with_fixed(self, fix: np.ndarray, x: np.ndarray, relax: np.ndarray) -> "LinearProgram":
        """A copy with variables `fix` (mask) pinned to x and the integrality of `relax` (mask) dropped."""
        clone = copy.copy(self)
        lower, upper, integer = self.lower, self.upper, self.integer
        lower[fix] = x[fix]
        upper[fix] = x[fix]
        clone._lower, clone._upper, clone._integer = [lower], [upper], [integer & ~relax]
        return clone

    def with_rows(self, rows: "LinearProgram") -> "LinearProgram":
        """A copy with the constraint families of `rows` appended: rows over this program's own columns (valid
        inequalities, models/cuts.py), which adds none. The columns, and so every solution vector, are unchanged."""
        clone = copy.copy(self)
        clone._rows = self._rows + [r + self.num_rows for r in rows._rows]
        clone._cols, clone._vals = self._cols + rows._cols, self._vals + rows._vals
        clone._row_lower, clone._row_upper = self._row_lower + rows._row_lower, self._row_upper + rows._row_upper
        clone.constraints = {**self.constraints, **{name: Block(name, block.index, block.offset + self.num_rows)
                                                    for name, block in rows.constraints.items()}}
        clone.num_rows = self.num_rows + rows.num_rows
        return clone

    # --- matrices for the backends ----------------------------------------------------------------
    @property
    def lower(self) -> np.ndarray:
        return np.concatenate(self._lower) if self._lower else np.zeros(0)

    @property
    def upper(self) -> np.ndarray:
        return np.concatenate(self._upper) if self._upper else np.zeros(0)

    @property
    def integer(self) -> np.ndarray:
        return np.concatenate(self._integer) if self._integer else np.zeros(0, dtype=bool)

    @property
    def row_lower(self) -> np.ndarray:
        return np.concatenate(self._row_lower) if self._row_lower else np.zeros(0)

    @property
    def row_upper(self) -> np.ndarray:
        return np.concatenate(self._row_upper) if self._row_upper else np.zeros(0)

    def matrix(self) -> sp.csr_matrix:
        if not self._rows:
            return sp.csr_matrix((self.num_rows, self.num_vars))
        coo = sp.coo_matrix((np.concatenate(self._vals), (np.concatenate(self._rows),
                                                           np.concatenate(self._cols))),
                            shape=(self.num_rows, self.num_vars))
        csr = coo.tocsr()  # duplicates (same row, same variable) are summed here
        csr.eliminate_zeros()
        return csr

    def objective_coefficients(self) -> np.ndarray:
        return np.pad(self.objective, (0, self.num_vars - len(self.objective)))

    def value(self, name: str, x: np.ndarray) -> pd.Series:
        block = self.variables[name]
        return pd.Series(x[block.positions], index=block.index, name=name)

    def evaluate(self, expr: Expr, x: np.ndarray) -> pd.Series:
        """Value of each expression of a family at solution `x`, labelled by its keys."""
        terms = expr.terms
        contribution = terms["coef"].to_numpy() * x[terms["var"].to_numpy(dtype=np.int64)]
        if expr.dims:
            values = pd.Series(contribution, index=pd.MultiIndex.from_frame(terms[expr.dims])) \
                .groupby(level=expr.dims, sort=False).sum()
        else:
            values = pd.Series([contribution.sum()], index=_scalar_index())
        if not isinstance(values.index, pd.MultiIndex):
            values = pd.Series(values.to_numpy(), index=_as_index(values.index))
        return _add_series(values, expr.const)
