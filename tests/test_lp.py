"""The labelled LP layer: explicit alignment (a missing label is an error, a filter must be asked for) and the
sparse matrix it emits, on families small enough to write out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.lp import AlignmentError, Expr, LinearProgram


def small_program():
    """nodes[quarter, site] for quarters 0, 1 and sites A (owned), C (cloud): variables 0 … 3 in that order."""
    lp = LinearProgram("small")
    index = pd.MultiIndex.from_product([[0, 1], ["A", "C"]], names=["quarter", "site"])
    return lp, lp.add_variables("nodes", index)


PUE = pd.Series({"A": 1.25, "C": 1.1}, name="pue").rename_axis("site")


def test_factor_over_every_label_scales_each_term():
    """nodes × pue: coefficients 1.25, 1.1, 1.25, 1.1 on variables 0, 1, 2, 3."""
    _, nodes = small_program()
    scaled = nodes.expr() * PUE
    assert scaled.terms["var"].tolist() == [0, 1, 2, 3]
    np.testing.assert_allclose(scaled.terms["coef"], [1.25, 1.1, 1.25, 1.1])


def test_a_typo_in_a_label_is_an_error_naming_it():
    """pue given for 'A' and 'c' (a typo of 'C'): multiplying used to drop C's nodes and price them at zero."""
    _, nodes = small_program()
    typo = pd.Series({"A": 1.25, "c": 1.1}, name="pue").rename_axis("site")
    with pytest.raises(AlignmentError, match=r"factor 'pue' has no value for 1 label\(s\).*\['site'\]: C"):
        nodes.expr() * typo


def test_a_nan_factor_counts_as_missing():
    """A NaN price (e.g. an empty rent cell) is not a number to multiply by: it is reported like a missing label."""
    _, nodes = small_program()
    with pytest.raises(AlignmentError, match="C"):
        nodes.expr() * pd.Series({"A": 1.25, "C": np.nan}, name="pue").rename_axis("site")


def test_a_factor_over_an_unknown_dimension_is_an_error():
    _, nodes = small_program()
    with pytest.raises(AlignmentError, match=r"indexed by \['sku'\]"):
        nodes.expr() * pd.Series({"a": 1.0}).rename_axis("sku")


def test_an_explicit_filter_drops_the_labels_the_factor_lacks():
    """mul(only_A, filter=True) keeps variables 0 and 2 (site A), each × 1.25; constants follow the same rule."""
    _, nodes = small_program()
    only_a = pd.Series({"A": 1.25}, name="pue").rename_axis("site")
    kept = nodes.expr().mul(only_a, filter=True)
    assert kept.terms["var"].tolist() == [0, 2]
    np.testing.assert_allclose(kept.terms["coef"], [1.25, 1.25])
    fleet = Expr.constant(pd.Series([3.0, 5.0], index=pd.MultiIndex.from_tuples([(0, "A"), (0, "C")],
                                                                              names=["quarter", "site"])))
    assert fleet.mul(only_a, filter=True).const.to_dict() == {(0, "A"): 3.75}
    with pytest.raises(AlignmentError, match="C"):
        fleet * only_a


def test_select_keeps_the_listed_keys():
    """select(site = A) then × pue: the same two terms as the filter, asked for by name."""
    _, nodes = small_program()
    owned = nodes.expr().select(pd.DataFrame({"site": ["A"]})) * PUE
    assert owned.terms["var"].tolist() == [0, 2]
    with pytest.raises(AlignmentError, match="selection"):
        nodes.expr().select(pd.DataFrame({"sku": ["a"]}))


def test_join_raises_on_keys_the_mapping_lacks_unless_filtered():
    """Re-keying quarter → year through a table that only knows quarter 0 loses quarter 1's variables 2 and 3."""
    _, nodes = small_program()
    partial = pd.DataFrame({"quarter": [0], "year": [2027]})
    with pytest.raises(AlignmentError, match=r"mapping table has no value for 1 label\(s\).*: 1 "):
        nodes.expr().join(partial)
    assert nodes.expr().join(partial, filter=True).terms["var"].tolist() == [0, 1]
    full = pd.DataFrame({"quarter": [0, 1], "year": [2027, 2027]})
    assert nodes.expr().join(full).sum("quarter", "site").terms["var"].tolist() == [0, 1, 2, 3]


def test_constraint_rows_by_hand():
    """Power at the owned site: 1.25 · 10 kW · nodes[t, A] ≤ cap[A] = 25 kW for t = 0, 1.

    Rows (0, A) and (1, A); row 0 holds 12.5 on variable 0, row 1 holds 12.5 on variable 2; both bounded by 25.
    """
    lp, nodes = small_program()
    facility_kw = nodes.expr().select(pd.DataFrame({"site": ["A"]})) * PUE * 10.0
    cap_kw = pd.Series({"A": 25.0}).rename_axis("site")
    block = lp.add_constraints("power", facility_kw, "<=", cap_kw)
    assert list(block.index) == [(0, "A"), (1, "A")]
    np.testing.assert_allclose(lp.matrix().toarray(), [[12.5, 0, 0, 0], [0, 0, 12.5, 0]])
    np.testing.assert_allclose(lp.row_upper, [25.0, 25.0])


def test_a_right_hand_side_missing_a_row_is_an_error():
    """A cap given for A only cannot bound C's rows: that used to become a cap of 0, silently."""
    lp, nodes = small_program()
    with pytest.raises(AlignmentError, match=r"right-hand side of 'power'.*: C"):
        lp.add_constraints("power", nodes.expr() * PUE, "<=", pd.Series({"A": 25.0}).rename_axis("site"))


def test_objective_by_hand():
    """minimise Σ_t d_t · (2 · nodes[t, A] + 3) with d = (1, 0.5): c = (2, 0, 1, 0), offset 3 + 1.5 = 4.5."""
    lp, nodes = small_program()
    discount = pd.Series([1.0, 0.5], index=pd.Index([0, 1], name="quarter"))
    owned = nodes.expr().select(pd.DataFrame({"site": ["A"]})) * 2.0
    lp.minimize(((owned + pd.Series([3.0, 3.0], index=pd.MultiIndex.from_tuples(
        [(0, "A"), (1, "A")], names=["quarter", "site"]))) * discount).sum())
    np.testing.assert_allclose(lp.objective_coefficients(), [2.0, 0.0, 1.0, 0.0])
    assert lp.objective_offset == pytest.approx(4.5)
