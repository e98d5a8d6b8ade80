"""The valid inequalities of models/cuts.py: a tighter relaxation, the same optimum (issue 23, the LP bound)."""

from __future__ import annotations

import pytest

from models.cuts import strengthened
from models.solve import solve
from planner.pipeline import build_plan, run_plan
from planner.scenario import load_scenario
from scenario_files import OWNED_FREE_ENERGY, sku, training, write_scenario
from test_fabric_storage import add_fabric


def _two_fleets(tmp_path):
    """Owned sites A and B with free energy, each holding a fleet of one `a` node (installed 2026Q1, in service
    all of 2027Q1; $40,000 over 20 quarters = $2,000 depreciation a quarter each, a constant $4,000), both with room
    for more (10 MW). One quarter, no discounting, headroom 0. A run of 15.768B tokens at 1,000 tokens/s per node
    = 4,380 node-hours = 2 node-quarters, due in its only quarter; it runs in one pool (one site)."""
    site_b = dict(OWNED_FREE_ENERGY, site="B")
    return write_scenario(tmp_path, catalog=[sku()], sites=[OWNED_FREE_ENERGY, site_b],
                          workloads=[training("pretrain", 1, 15.768, "2027Q1", "2027Q1")],
                          throughput=[("pretrain", "a", 1000)],
                          fleet=[("A", "a", 1, "2026Q1"), ("B", "a", 1, "2026Q1")])


def test_the_fleet_cut_stops_a_run_splitting_over_two_fleets(tmp_path):
    """Optimum: the run at A (or B) on its fleet node plus one bought: $4,000 + $2,000 = $6,000.

    The plain relaxation puts half the run in each pool (pool = 0.5 each), one node-quarter of work on each free
    fleet node, and buys nothing: $4,000, a third below the optimum. With the cut busy_A ≤ (nodes_A − 1) + 1 · pool_A
    (and B's), the two pools may use 0.5 + 0.5 = 1 fleet node between them, so 1 node-quarter must be bought (half a
    node at each site in the relaxation): $4,000 + $2,000 = $6,000, the optimum itself."""
    built = build_plan(load_scenario(_two_fleets(tmp_path)))
    lp = built.model.lp
    assert solve(lp, "highs", relax=True).objective == pytest.approx(4_000.0, abs=1e-6)
    assert solve(strengthened(lp, built.cuts), "highs", relax=True).objective == pytest.approx(6_000.0, abs=1e-6)
    plain = solve(lp, "scip", time_limit_s=30.0, gap=0.0)
    assert plain.objective == pytest.approx(6_000.0, abs=1e-6)
    for backend in ("scip", "highs", "heuristic"):
        result = run_plan(load_scenario(_two_fleets(tmp_path)), backend=backend, gap=0.0).result
        assert result.objective == pytest.approx(6_000.0, abs=1e-6), backend
        assert result.bound == pytest.approx(6_000.0, abs=1e-6), backend


def test_the_cuts_add_no_column_and_leave_the_program_alone(tmp_path):
    """The rows are appended to a copy: the program keeps its rows (its golden fingerprint), the solution vector
    its columns."""
    built = build_plan(load_scenario(_two_fleets(tmp_path)))
    lp = built.model.lp
    rows = lp.num_rows
    tight = strengthened(lp, built.cuts)
    assert lp.num_rows == rows and "training_pool_fleet" not in lp.constraints
    assert tight.num_vars == lp.num_vars
    assert tight.num_rows == rows + built.cuts.num_rows
    assert {"training_pool_work", "training_pool_fleet"} <= set(tight.constraints)


def _spanning_run(tmp_path):
    """One owned site A with free energy, SKU `a` ($2,000 depreciation a node-quarter), two quarters (2027Q1–Q2),
    no discounting, headroom 0. A 70B run of 157.68 B tokens at 1,000 tokens/s per node = 43,800 node-hours = 20
    node-quarters (busy bound B = 20 a quarter: the whole run), due by 2027Q2. Scalable units of U = 9 nodes with a
    $8,000 spine: $8,000 / 20 quarters = $400 per spanning node-equivalent and quarter (spine kW 0.5: free energy,
    a 10 MW cap that never binds)."""
    path = write_scenario(tmp_path, catalog=[sku()], sites=[OWNED_FREE_ENERGY],
                          workloads=[training("t", 70, 157.68, "2027Q1", "2027Q2")],
                          throughput=[("t", "a", 1000)], quarters=2)
    add_fabric(path, [dict(sku="a", nodes_per_su=9, spine_usd_per_node=8_000, spine_kw_per_node=0.5)])
    return path


def test_the_spine_cut_is_the_hull_of_the_span_disjunction(tmp_path):
    """Optimum $44,400: 9 nodes in 2027Q1 busy 9 (inside one SU), 2 more for 2027Q2 busy 11 (spanning): 20
    node-quarters × $2,000 = $40,000, spine 11 × $400 = $4,400. Busy 10 and 10 would span both quarters (20 ×
    $400: $48,000), 20 in one quarter likewise.

    Every split of the 20 node-quarters needs 20 node-quarters of nodes ($40,000); the spine is what separates
    the relaxations. The plain one keeps busy 10 a quarter and spans only span ≥ (busy − U)/(B − U) = 1/11, so
    spanned ≥ busy − B·(1 − span) = 10 − 20 · 10/11 < 0: no spine, $40,000. The cut's rows on the run's own
    `active` (busy ≤ U·active + (B − U)·span, spanned ≥ busy − U·(active − span)) give spanned ≥ B·(busy −
    U)/(B − U), the convex hull of {busy ≤ U, spanned = 0} ∪ {busy > U, spanned = busy}, linear in busy, so any
    split with 2 node-equivalents above U in all pays 20/11 × 2 × $400: $40,000 + $16,000/11 = $41,454.55."""
    built = build_plan(load_scenario(_spanning_run(tmp_path)))
    lp = built.model.lp
    assert solve(lp, "highs", relax=True).objective == pytest.approx(40_000.0, abs=1e-6)
    tight = strengthened(lp, built.cuts)
    assert {"spine_span_active", "spine_span_above_active", "spine_busy_on_active"} <= set(tight.constraints)
    assert solve(tight, "highs", relax=True).objective == pytest.approx(40_000.0 + 16_000.0 / 11.0, abs=1e-6)
    plain = solve(lp, "scip", time_limit_s=30.0, gap=0.0)
    assert plain.objective == pytest.approx(44_400.0, abs=1e-6)
    for backend in ("scip", "highs"):  # with the rows appended, the same optimum
        result = run_plan(load_scenario(_spanning_run(tmp_path)), backend=backend, gap=0.0).result
        assert result.objective == pytest.approx(44_400.0, abs=1e-6), backend
        assert result.bound == pytest.approx(44_400.0, abs=1e-6), backend
    # the rounded relaxation alone spans both quarters (busy 10 and 10): a plan, never below the optimum
    assert run_plan(load_scenario(_spanning_run(tmp_path)), backend="heuristic").result.objective >= 44_400.0 - 1e-6
