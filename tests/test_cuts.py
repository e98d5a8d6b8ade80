"""The valid inequalities of models/cuts.py: a tighter relaxation, the same optimum (issue 23, the LP bound)."""

from __future__ import annotations

import pytest

from models.cuts import strengthened
from models.solve import solve
from planner.pipeline import build_plan, run_plan
from planner.scenario import load_scenario
from scenario_files import OWNED_FREE_ENERGY, sku, training, write_scenario


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
