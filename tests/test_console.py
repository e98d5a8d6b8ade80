"""The console tables (reports/console.py, docs/console.md): each printed table parsed back and checked against
PLAN.json (the shipped example), and compare's deltas against a tiny compare worked by hand."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from planner.cli import main
from reports.console import against_first, delta_lines

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "data" / "examples" / "example" / "scenario.yaml"
WORKED_EXAMPLE = Path(__file__).resolve().parent / "cases" / "worked-example"


def number(text: str) -> float:
    return float(text.replace(",", "").replace("$", ""))


def section(lines: list[str], title: str) -> list[list[str]]:
    """The rows (cells split on 2+ spaces) of the table under the line starting with `title`, header first."""
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    rows = []
    for line in lines[start + 1:]:
        if not line.startswith("  "):
            break
        rows.append(re.split(r"\s{2,}", line.strip()))
    return rows


@pytest.fixture(scope="module")
def example_plan(tmp_path_factory):
    """The shipped example planned once (the heuristic: the printing is under test, not the optimum)."""
    folder = tmp_path_factory.mktemp("plan")
    result = CliRunner().invoke(main, ["plan", str(EXAMPLE), "--json", str(folder / "plan.json"), "--solver",
                                       "heuristic", "--no-baselines", "--quiet", "--explain", "1"])
    assert result.exit_code == 0, result.output
    gpus = {row["sku"]: float(row["gpus_per_node"]) for row in csv.DictReader(open(ROOT / "data" / "catalog.csv"))}
    return result.output.splitlines(), json.loads((folder / "plan.json").read_text()), gpus, folder / "plan.json"


def test_the_order_table_is_plan_json_purchases_with_gpus(example_plan):
    """Each printed order row = one PLAN.json purchase, in order: quarter, site, SKU, nodes, GPUs = nodes ×
    the catalog's gpus_per_node, in-service quarter, capex; the total row adds GPUs and capex (not nodes)."""
    lines, plan, gpus, _ = example_plan
    rows = section(lines, "orders (")
    assert rows[0] == ["#", "quarter", "site", "SKU", "nodes", "GPUs", "in service", "capex $"]
    body, total = rows[1:-1], rows[-1]
    assert len(body) == len(plan["purchases"]) > 0
    for i, (row, p) in enumerate(zip(body, plan["purchases"]), start=1):
        assert int(row[0]) == i and row[1:4] == [p["quarter"], p["site"], p["sku"]]
        assert number(row[4]) == p["nodes"] and number(row[5]) == p["nodes"] * gpus[p["sku"]]
        assert row[6] == p["in_service"] and number(row[7]) == pytest.approx(p["capex_usd"], abs=0.5)
    assert total[0] == "total"
    assert number(total[1]) == sum(p["nodes"] * gpus[p["sku"]] for p in plan["purchases"])
    assert number(total[2]) == pytest.approx(sum(p["capex_usd"] for p in plan["purchases"]), abs=0.5)


def test_the_rental_table_is_plan_json_rentals(example_plan):
    lines, plan, gpus, _ = example_plan
    if not plan["rentals"]:
        assert "rentals: none" in lines
        return
    rows = section(lines, "rentals (")
    assert rows[0] == ["quarter", "site", "SKU", "nodes", "GPUs", "rent $"]
    assert len(rows) - 1 == len(plan["rentals"])
    for row, r in zip(rows[1:], plan["rentals"]):
        assert row[:3] == [r["quarter"], r["site"], r["sku"]] and number(row[3]) == r["nodes"]
        assert number(row[4]) == r["nodes"] * gpus[r["sku"]] and number(row[5]) == pytest.approx(r["rent_usd"], abs=0.5)


def test_spend_vs_penalties_are_the_discounted_cost_lines(example_plan):
    """Each line = Σ_q costs[line] × discount_factor; spend and penalties as PLAN.json states them; the lines add
    up to the objective."""
    lines, plan, _, _ = example_plan
    rows = {row[0]: row for row in section(lines, "spend vs penalties")[1:]}
    for line in plan["cost_lines_usd"]:
        expected = sum(q[line] * q["discount_factor"] for q in plan["costs"])
        assert number(rows[line][2]) == pytest.approx(expected, abs=0.5)
        assert rows[line][1] == ("penalty" if line in ("unmet_usd", "unfinished_training_usd") else "spend")
    assert number(rows["spend"][1]) == pytest.approx(plan["discounted_spend_usd"], abs=0.5)
    assert number(rows["penalties"][1]) == pytest.approx(plan["discounted_penalty_usd"], abs=0.5)
    assert number(rows["objective"][1]) == pytest.approx(plan["objective_usd"], abs=0.5)
    assert sum(number(rows[line][2]) for line in plan["cost_lines_usd"]) == pytest.approx(plan["objective_usd"],
                                                                                        abs=len(rows))


def test_warnings_are_listed(example_plan):
    lines, plan, _, _ = example_plan
    if plan["warnings"]:
        assert f"warnings ({len(plan['warnings'])}):" in lines
        assert all(f"  warning: {w['message']}" in lines for w in plan["warnings"])
    else:
        assert "warnings: none" in lines


def test_explain_prints_what_the_order_serves_from_plan_json(example_plan):
    """`plan --explain 1` and `planner explain PLAN.json 1` print the same lines; the workloads served are
    PLAN.json's `why` of order 1, in its order, with its node-equivalent-quarters."""
    lines, plan, _, path = example_plan
    saved = CliRunner().invoke(main, ["explain", str(path), "1", "--scenario", str(EXAMPLE)])
    assert saved.exit_code == 0, saved.output
    explained = saved.output.splitlines()
    assert explained[0] in lines and explained[0].startswith("order 1: ")
    first = plan["purchases"][0]
    assert f"{first['nodes']:,.0f} × {first['sku']}" in explained[0] and f"at {first['site']}" in explained[0]
    serves = section(explained, "its nodes serve")
    why = plan["why"][0]["serves"]
    assert [row[0] for row in serves[1:]] == [s["workload"] for s in why]
    assert [number(row[1]) for row in serves[1:]] == [pytest.approx(s["node_equivalent_quarters"], abs=0.005)
                                                      for s in why]
    by_key = CliRunner().invoke(main, ["explain", str(path), f"{first['quarter']}/{first['site']}/{first['sku']}",
                                       "--scenario", str(EXAMPLE)])
    assert by_key.output == saved.output
    missing = CliRunner().invoke(main, ["explain", str(path), str(len(plan["purchases"]) + 1)])
    assert missing.exit_code == 2 and f"the plan has {len(plan['purchases'])} orders" in missing.output


def test_order_deltas_of_hand_written_plans():
    """First: 2 × A at s1 (8 GPUs each) and 1 × R at s1 (72 GPUs), objective $100. Second: 3 × A at s1 and 1 × A
    at s2, objective $90. Against the first: TCO −$10; A at s1 +1 node / +8 GPUs, A at s2 +1 / +8, R at s1
    −1 / −72."""
    def plan(objective, purchases):
        return {"objective_usd": objective, "purchases": [{"sku": k, "site": s, "nodes": n} for k, s, n in purchases]}
    gpus = {"A": 8, "R": 72}
    first = plan(100.0, [("A", "s1", 2), ("R", "s1", 1)])
    second = plan(90.0, [("A", "s1", 1), ("A", "s1", 2), ("A", "s2", 1)])
    delta = against_first(first, gpus, second, gpus)
    assert delta["tco_delta_usd"] == -10.0
    assert [(d["sku"], d["site"], d["delta_nodes"], d["delta_gpus"]) for d in delta["order_deltas"]] == [
        ("A", "s1", 1.0, 8.0), ("A", "s2", 1.0, 8.0), ("R", "s1", -1.0, -72.0)]
    assert against_first(first, gpus, first, gpus) == {"tco_delta_usd": 0.0, "order_deltas": []}
    lines = delta_lines("second", "first", delta)
    assert lines[0] == "second against first: TCO -10 $"
    assert section(lines, "second")[3] == ["R", "s1", "1", "0", "-1", "72", "0", "-72"]


def test_compare_prints_and_writes_the_deltas_of_a_tiny_compare(tmp_path):
    """The worked example (2 × h at A, $111,108.18; tests/cases/worked-example/README.md) against a copy with
    A's power cap doubled to 0.05 MW: 4 nodes fit at A, so 2027Q2's 2.5 node-equivalents are served by a third
    owned node ($15,385.50 fixed) instead of a rented one ($43,908.41). Its TCO: 2027Q1 as before, $34,220.25;
    2027Q2 3 × 15,385.50 + 2.5 × 2,299.50 = $51,905.25 × 1.08^(−1/4) = $50,916.13; total $85,136.38, so
    −$25,971.80 against the first; orders: h at A 2 → 3 nodes, +1 node, +8 GPUs."""
    child = tmp_path / "bigger.yaml"
    child.write_text(f"extends: {WORKED_EXAMPLE / 'scenario.yaml'}\nname: bigger\noverrides:\n"
                     "  sites.A.power_mw: 0.05\n")
    out = tmp_path / "compare.json"
    result = CliRunner().invoke(main, ["compare", str(WORKED_EXAMPLE / "scenario.yaml"), str(child), "--json",
                                       str(out), "--workers", "1", "--quiet", "--solver", "highs", "--gap", "0"])
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    delta = document["scenarios"][1]["against_first"]
    assert delta["tco_delta_usd"] == pytest.approx(-25_971.80, abs=0.01)
    assert delta["order_deltas"] == [{"sku": "h", "site": "A", "first_nodes": 2.0, "nodes": 3.0, "delta_nodes": 1.0,
                                      "first_gpus": 16.0, "gpus": 24.0, "delta_gpus": 8.0}]
    assert document["scenarios"][0]["against_first"] == {"tco_delta_usd": 0.0, "order_deltas": []}
    lines = result.output.splitlines()
    assert "bigger against worked-example: TCO -25,972 $" in lines
    assert section(lines, "bigger against")[1] == ["h", "A", "2", "3", "+1", "16", "24", "+8"]


def test_sweep_prints_and_writes_the_same_deltas(tmp_path):
    """The same hand-worked pair as a sweep over sites.A.power_mw = 0.025, 0.05: point 2 against point 1 is
    −$25,971.80 and h at A 2 → 3 nodes (+8 GPUs), printed and in sweep.json's `against_first`."""
    out = tmp_path / "sweep.json"
    result = CliRunner().invoke(main, ["sweep", str(WORKED_EXAMPLE / "scenario.yaml"), "--set",
                                       "sites.A.power_mw=0.025,0.05", "--json", str(out), "--workers", "1",
                                       "--quiet", "--solver", "highs", "--gap", "0"])
    assert result.exit_code == 0, result.output
    points = json.loads(out.read_text())["points"]
    assert points[1]["against_first"]["tco_delta_usd"] == pytest.approx(-25_971.80, abs=0.01)
    assert [(d["sku"], d["site"], d["delta_nodes"], d["delta_gpus"]) for d in points[1]["against_first"][
        "order_deltas"]] == [("h", "A", 1.0, 8.0)]
    lines = result.output.splitlines()
    assert "sites.A.power_mw=0.05 against sites.A.power_mw=0.025: TCO -25,972 $" in lines
    assert section(lines, "sites.A.power_mw=0.05 against")[1] == ["h", "A", "2", "3", "+1", "16", "24", "+8"]
