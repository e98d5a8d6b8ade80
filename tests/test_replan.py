"""`planner replan`: decisions before the as-of quarter are kept from the saved plan, the rest is re-planned.

Round-number SKU `a` (tests/scenario_files.py): $40,000 over 5 years = $2,000 depreciation per node-quarter in
service, free energy, discount rate 0, 1,000 tokens/s per node, unmet demand $1,000,000 per tokens/s-quarter.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from models.verify import verify_plan
from planner.cli import main
from planner.pipeline import plan_document, run_plan
from planner.replan import run_replan
from planner.scenario import load_scenario
from scenario_files import OWNED_FREE_ENERGY, inference, sku, write_scenario


def _scenario(folder, demand_quarters):
    """Lead time 1 quarter, 3 quarters 2027Q1–Q3, 1,000 tokens/s (one node) in `demand_quarters`."""
    return write_scenario(folder, catalog=[sku(lead_quarters=1)], sites=[OWNED_FREE_ENERGY],
                          workloads=[inference()], demand=[("chat", q, 1000) for q in demand_quarters],
                          throughput=[("chat", "a", 1000)], quarters=3)


def _orders(plan):
    return {(p["quarter"], p["sku"]): p["nodes"] for p in plan["purchases"]}


@pytest.fixture()
def saved_and_changed(tmp_path):
    """Saved plan: demand in 2027Q2 and Q3, so one node is ordered in 2027Q1 (in service Q2): $2,000 × 2 = $4,000.
    Current data: demand only in 2027Q3. Planned afresh, the node would be ordered in 2027Q2 (in service Q3 only):
    $2,000."""
    saved = plan_document(run_plan(load_scenario(_scenario(tmp_path / "saved", ["2027Q2", "2027Q3"])), gap=0))
    assert _orders(saved) == {("2027Q1", "a"): 1} and saved["objective_usd"] == pytest.approx(4_000)
    changed = load_scenario(_scenario(tmp_path / "changed", ["2027Q3"]))
    fresh = plan_document(run_plan(changed, gap=0))
    assert _orders(fresh) == {("2027Q2", "a"): 1} and fresh["objective_usd"] == pytest.approx(2_000)
    return saved, changed, tmp_path


def test_a_frozen_order_is_kept_even_when_no_longer_optimal(saved_and_changed):
    """As of 2027Q2 the 2027Q1 order is signed: it is kept (in service Q2 and Q3, $4,000), no second node is
    bought, and the plan passes the verifier on the current data. Sunk: 2027Q1's cost, $0 (nothing in service)."""
    saved, changed, folder = saved_and_changed
    replan = run_replan(changed, saved, folder / "saved.json", "2027Q2", gap=0)
    document = replan.document
    assert _orders(document) == {("2027Q1", "a"): 1}
    assert document["objective_usd"] == pytest.approx(4_000)
    assert document["replan"]["frozen_orders"] == 1 and document["replan"]["sunk_usd"] == pytest.approx(0)
    assert document["replan"]["sunk_usd"] + document["replan"]["remaining_usd"] == pytest.approx(4_000)
    assert verify_plan(changed, document) == []
    assert [c.kind for c in replan.diff.order_changes] == []


def test_as_of_the_first_quarter_freezes_nothing(saved_and_changed):
    """As of 2027Q1 nothing was decided yet: the re-plan is the fresh optimum ($2,000, ordered in 2027Q2), and
    the diff against the saved plan shows the order moved 2027Q1 → 2027Q2."""
    saved, changed, folder = saved_and_changed
    replan = run_replan(changed, saved, folder / "saved.json", "2027Q1", gap=0)
    assert _orders(replan.document) == {("2027Q2", "a"): 1}
    assert replan.document["objective_usd"] == pytest.approx(2_000)
    assert [(c.kind, c.old_quarter, c.new_quarter) for c in replan.diff.order_changes] == \
        [("moved", "2027Q1", "2027Q2")]


def test_cli_replan_writes_the_plan_and_rejects_a_quarter_outside_the_horizon(saved_and_changed):
    saved, _, folder = saved_and_changed
    saved_path = folder / "saved.json"
    saved_path.write_text(json.dumps(saved))
    runner = CliRunner()
    out = folder / "new.json"
    result = runner.invoke(main, ["replan", str(folder / "changed" / "scenario.yaml"), "--from", str(saved_path),
                                  "--as-of", "2027Q2", "--json", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "kept 1 order(s)" in result.output
    assert json.loads(out.read_text())["replan"]["as_of"] == "2027Q2"
    bad = runner.invoke(main, ["replan", str(folder / "changed" / "scenario.yaml"), "--from", str(saved_path),
                               "--as-of", "2031Q1", "--json", str(folder / "bad.json"), "--quiet"])
    assert bad.exit_code == 2 and "not a quarter of the scenario's horizon" in bad.output
    assert not (folder / "bad.json").exists()
