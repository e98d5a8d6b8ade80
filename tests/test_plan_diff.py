"""`planner diff`: order changes, cost-line deltas and input changes, against hand-worked cases."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from click.testing import CliRunner
from openpyxl import load_workbook

from models.plan_diff import diff_plans, discounted_cost_lines, order_changes
from planner.cli import main

WORKED = Path(__file__).resolve().parent / "cases" / "worked-example" / "scenario.yaml"
LINES = ["capex_usd", "energy_usd"]


def _plan(purchases, costs, objective, sha=None, overrides=()):
    return {"objective_usd": objective, "cost_lines_usd": LINES, "purchases": purchases, "costs": costs,
            "inputs": {"sha256": sha or {"scenario": "aa" * 32}, "overrides": list(overrides)}}


def _order(quarter, nodes, site="A", sku="a", price=100.0):
    return {"quarter": quarter, "site": site, "sku": sku, "nodes": nodes, "capex_usd": nodes * price}


def test_moves_pair_earliest_removed_with_earliest_added_and_the_rest_is_added_or_cancelled():
    """Old: 3 nodes of (A, a) in 2027Q1, 1 in 2027Q2. New: 1 in 2027Q1, 4 in 2027Q3.
    Per-quarter deltas: Q1 −2, Q2 −1, Q3 +4. Pairing earliest with earliest: Q1→Q3 moves 2, Q2→Q3 moves 1,
    1 node is left added in Q3 (capex +$100). SKU b at site B only in the old plan: cancelled, −2 × $50."""
    old = _plan([_order("2027Q1", 3), _order("2027Q2", 1), _order("2027Q1", 2, site="B", sku="b", price=50)], [], 0)
    new = _plan([_order("2027Q1", 1), _order("2027Q3", 4)], [], 0)
    changes = {(c.kind, c.site, c.old_quarter, c.new_quarter): (c.nodes, c.capex_delta_usd)
               for c in order_changes(old, new)}
    assert changes == {("moved", "A", "2027Q1", "2027Q3"): (2, 0.0), ("moved", "A", "2027Q2", "2027Q3"): (1, 0.0),
                       ("added", "A", None, "2027Q3"): (1, 100.0), ("cancelled", "B", "2027Q1", None): (2, -100.0)}


def test_cost_line_deltas_are_discounted_sums_and_add_up_to_the_objective_delta():
    """Old: capex 100 in q0 (factor 1), energy 10 in q0 and 10 in q1 (factor 0.5): 100, 15; objective 115.
    New: capex 100 in q1 (factor 0.5), energy 20 in q0: capex 50, energy 20; objective 70.
    Deltas: capex −50, energy +5 (sum −45 = 70 − 115); largest first: capex."""
    old = _plan([], [{"discount_factor": 1.0, "capex_usd": 100, "energy_usd": 10},
                     {"discount_factor": 0.5, "capex_usd": 0, "energy_usd": 10}], 115.0)
    new = _plan([], [{"discount_factor": 1.0, "capex_usd": 0, "energy_usd": 20},
                     {"discount_factor": 0.5, "capex_usd": 100, "energy_usd": 0}], 70.0)
    assert discounted_cost_lines(old) == {"capex_usd": 100.0, "energy_usd": 15.0}
    diff = diff_plans(old, new)
    assert list(diff.cost_line_deltas_usd.items()) == [("capex_usd", -50.0), ("energy_usd", 5.0)]
    assert sum(diff.cost_line_deltas_usd.values()) == diff.objective_delta_usd == -45.0


def test_input_changes_name_changed_files_and_overrides():
    old = _plan([], [], 0, sha={"scenario": "a" * 64, "demand": "b" * 64})
    new = _plan([], [], 0, sha={"scenario": "a" * 64, "demand": "c" * 64},
                overrides=[{"key": "demand.scale", "value": 1.3, "source": "--set"}])
    changes = diff_plans(old, new).input_changes
    assert len(changes) == 2
    assert changes[0].startswith("demand: file changed")
    assert changes[1] == "override added: demand.scale = 1.3 (--set)"


def test_cli_diff_of_a_solved_plan_and_an_edited_copy(tmp_path):
    """The worked example's plan against a copy whose first order moves one quarter later and whose first
    quarter's energy doubles: one move, no capex change (same price), the energy line's delta = that quarter's
    energy × its discount factor, and the JSON, console and workbook agree."""
    runner = CliRunner()
    old_path, new_path = tmp_path / "old.json", tmp_path / "new.json"
    result = runner.invoke(main, ["plan", str(WORKED), "--json", str(old_path), "--quiet", "--no-baselines"])
    assert result.exit_code == 0, result.output
    old = json.loads(old_path.read_text())
    new = copy.deepcopy(old)
    order = new["purchases"][0]
    later = old["horizon"]["quarters"][old["horizon"]["quarters"].index(order["quarter"]) + 1]
    order["quarter"] = later
    first = new["costs"][0]
    extra = first["energy_usd"] * first["discount_factor"]
    first["energy_usd"] *= 2
    new["objective_usd"] += extra
    new_path.write_text(json.dumps(new))
    result = runner.invoke(main, ["diff", str(old_path), str(new_path), "--json", str(tmp_path / "d.json"),
                                  "-o", str(tmp_path / "d.xlsx")])
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "d.json").read_text())
    moved = [c for c in document["order_changes"] if c["kind"] == "moved"]
    assert len(document["order_changes"]) == 1 and moved[0]["new_quarter"] == later
    assert moved[0]["nodes"] == old["purchases"][0]["nodes"] and moved[0]["capex_delta_usd"] == 0.0
    energy = {row["line"]: row["delta_usd"] for row in document["cost_line_deltas_usd"]}["energy_usd"]
    assert abs(energy - extra) < 1e-6 and abs(document["objective_delta_usd"] - extra) < 1e-6
    assert f"moved {old['purchases'][0]['quarter']} → {later}" in result.output
    sheet = load_workbook(tmp_path / "d.xlsx")["Diff"]
    assert sheet["B4"].value == "=B3-B2"


def test_cli_diff_rejects_a_file_that_is_not_a_plan(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"scenario": "x"}')
    result = CliRunner().invoke(main, ["diff", str(bad), str(bad), "--json", str(tmp_path / "d.json")])
    assert result.exit_code == 2
    assert not (tmp_path / "d.json").exists()
