"""Infeasibility diagnosis in words, shadow prices, and what each order serves."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from planner.cli import main
from planner.pipeline import plan_document, run_plan
from planner.scenario import load_scenario
from scenario_files import OWNED_FREE_ENERGY, inference, sku, training, write_scenario

WORKED_EXAMPLE = Path(__file__).resolve().parent / "cases" / "worked-example" / "scenario.yaml"


def plan_strict(path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["plan", str(path), "--json", str(path.parent / "plan.json"), "--strict"])
    assert not (path.parent / "plan.json").exists(), "an infeasible run must write nothing"
    return result.exit_code, result.output


def test_power_cap_conflict_is_named(tmp_path):
    """2 node-quarters of training due in 2027Q1, only site A allowed, A's cap 12.5 kW = one node (10 kW × PUE
    1.25): the run needs 2 nodes × 12.5 kW = 25 kW at full load."""
    site_a = dict(OWNED_FREE_ENERGY, power_mw=0.0125, pue=1.25)
    path = write_scenario(tmp_path, catalog=[sku()], sites=[site_a, dict(site_a, site="B")],
                          workloads=[training("pretrain", 1, 15.768, "2027Q1", "2027Q1", sites="A")],
                          throughput=[("pretrain", "a", 1000)])
    code, output = plan_strict(path)
    assert code == 1
    assert ("2027Q1, site A: 25.0 kW needed at full load for pretrain (before its 2027Q1 deadline; "
            "no other allowed site), cap 12.5 kW") in output
    assert "Traceback" not in output


def test_budget_conflict_is_named(tmp_path):
    """Two $40,000 nodes needed in 2027Q1, budget $50,000: $80,000 of purchases needed."""
    path = write_scenario(tmp_path, catalog=[sku()], sites=[OWNED_FREE_ENERGY], workloads=[inference()],
                          demand=[("chat", "2027Q1", 2000)], throughput=[("chat", "a", 1000)],
                          finance={"budget_usd_per_quarter": 50_000})
    code, output = plan_strict(path)
    assert code == 1
    assert "2027Q1: purchases of $80,000 needed to meet every requirement, budget $50,000 per quarter" in output


def test_requirement_no_cap_can_fix_is_named(tmp_path):
    """Lead time 1: nothing ordered can serve 2027Q1, whatever the caps."""
    path = write_scenario(tmp_path, catalog=[sku(lead_quarters=1)], sites=[OWNED_FREE_ENERGY],
                          workloads=[inference()], demand=[("chat", "2027Q1", 1000)],
                          throughput=[("chat", "a", 1000)], quarters=2)
    code, output = plan_strict(path)
    assert code == 1
    assert "2027Q1, chat: 1,000.0 tokens/s of demand cannot be served on any eligible SKU" in output


def test_shadow_prices_on_the_worked_example():
    """Worked example, 2027Q2 (discount factor 1.08^(−1/4) = 0.980943652):

    - one more kW at A lets 1/12.5 node move from the cloud (rented node fully busy: $43,908.405 + $252.945 =
      $44,161.35 per node) to A (owned node fully busy: $15,385.50 + $2,299.50 = $17,685.00):
      (44,161.35 − 17,685.00) / 12.5 = $2,118.108 per kW → × 1,000 × 0.980943652 = $2,077,744.60 per MW;
    - one more tokens/s of chat in 2027Q2 is served on the cloud node: 44,161.35 / 1,000 × 0.980943652 = $43.3198;
    - in 2027Q1 (factor 1), with node counts continuous, one more tokens/s takes 1/1,000 of an owned node at A
      running fully busy: (15,385.50 + 2,299.50) / 1,000 = $17.685 (not the unmet penalty: the busy and unmet
      bounds of the MILP are lifted in this LP).
    """
    plan = plan_document(run_plan(load_scenario(WORKED_EXAMPLE), backend="scip"))
    power = {(row["quarter"], row["site"]): row["usd_per_mw"] for row in plan["duals"]["power_usd_per_mw"]}
    assert power[("2027Q2", "A")] == pytest.approx(2_077_744.60, abs=0.05)
    demand = {(row["quarter"], row["workload"]): row["usd_per_unit"]
              for row in plan["duals"]["demand_usd_per_unit"]}
    assert demand[("2027Q2", "chat")] == pytest.approx(43.3198, abs=1e-4)
    assert demand[("2027Q1", "chat")] == pytest.approx(17.685, abs=1e-6)
    assert plan["why"] == [{"quarter": "2027Q1", "site": "A", "sku": "h", "nodes": 2.0, "in_service": "2027Q1",
                            "serves": [{"workload": "chat", "node_equivalent_quarters": pytest.approx(3.0)}]}]


def test_why_sheet_lists_orders_and_shadow_prices(tmp_path):
    """The Why sheet shows the worked example's one order (2 nodes of h at A, serving chat for 3.0
    node-equivalent-quarters) and the $2,077,744.60 per MW shadow price of A's power cap in 2027Q2."""
    from openpyxl import load_workbook

    from reports.workbook import write_workbook

    scenario = load_scenario(WORKED_EXAMPLE)
    plan = plan_document(run_plan(scenario, backend="scip"))
    path = write_workbook(tmp_path / "plan.xlsx", plan, scenario)
    rows = [tuple(row) for row in load_workbook(path)["Why"].iter_rows(values_only=True)]
    assert rows[0][:8] == ("order_quarter", "site", "sku", "nodes", "gpus", "in_service", "workload",
                           "node_equivalent_quarters")
    assert rows[1][:7] == ("2027Q1", "A", "h", 2, 16, "2027Q1", "chat")  # 2 nodes × 8 GPUs
    assert rows[1][7] == pytest.approx(3.0)
    power = [row for row in rows if row[0] == "power cap"]
    assert len(power) == 1 and power[0][1:3] == ("2027Q2", "A")
    assert power[0][3] == pytest.approx(2_077_744.60, abs=0.05)


def test_without_strict_only_training_can_conflict(tmp_path):
    """Not strict: chat's 10,000 tokens/s may go unmet at its penalty, so the 12.5 kW cap is blamed only for the
    training run that must finish (2 nodes × 12.5 kW = 25 kW), not for chat."""
    site_a = dict(OWNED_FREE_ENERGY, power_mw=0.0125, pue=1.25)
    path = write_scenario(tmp_path, catalog=[sku()], sites=[site_a],
                          workloads=[training("pretrain", 1, 15.768, "2027Q1", "2027Q1"), inference()],
                          demand=[("chat", "2027Q1", 10_000)],
                          throughput=[("pretrain", "a", 1000), ("chat", "a", 1000)])
    result = CliRunner().invoke(main, ["plan", str(path)])
    assert result.exit_code == 1
    assert "2027Q1, site A: 25.0 kW needed at full load for pretrain" in result.output
    assert "chat" not in result.output
