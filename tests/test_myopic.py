"""Rolling-horizon (myopic) planning and the cost of myopia, on a case worked by hand.

Quarters 2027Q1–Q4 (0 … 3), discount 0, free energy, no maintenance, headroom 0, `chat` needs 1,000 tokens/s
(one node) in quarters 1, 2 and 3. Three ways to serve it:
- SKU `a`: lead 1 quarter, $40,000 over 5 years = $2,000 per node-quarter in service (depreciation mode);
- SKU `b`: lead 2 quarters, $10,000 over 5 years = $500 per node-quarter, not rentable;
- `a` rented in the cloud at $0.25/GPU-h: 0.25 × 8 GPUs × 2,190 h = $4,380 per node-quarter.

Perfect foresight: rent quarter 1 ($4,380) and order `b` in quarter 0 for quarters 2–3 (2 × $500 = $1,000):
$5,380; buying `a` in quarter 0 for quarters 1–3 costs 3 × $2,000 = $6,000, renting all three $13,140.
Myopic, H = 2 (windows [0, 2) then [0, 4), PyPSA's schedule with overlap 0): the first window sees demand in
quarter 1 only, and `b` ordered in quarter 0 would serve from quarter 2, outside it (no such order exists in the
window); so it buys `a` in quarter 0 ($2,000 in view) rather than renting ($4,380). That order is frozen; the
second window has `a` in service for quarters 1–3 and buys nothing more: $6,000.
Cost of myopia = $6,000 − $5,380 = $620.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from models.myopic import window_scenario, windows
from models.verify import verify_plan
from planner.cli import main
from planner.myopic import run_myopic_plan
from planner.scenario import load_scenario
from scenario_files import CLOUD, OWNED_FREE_ENERGY, inference, sku, training, write_scenario


def _scenario(folder):
    return write_scenario(folder, catalog=[sku(lead_quarters=1, rent_usd_per_gpu_hour=0.25),
                                           sku(sku="b", lead_quarters=2, price_usd=10000)],
                          sites=[OWNED_FREE_ENERGY, CLOUD], workloads=[inference()],
                          demand=[("chat", q, 1000) for q in ("2027Q2", "2027Q3", "2027Q4")],
                          throughput=[("chat", "a", 1000), ("chat", "b", 1000)], quarters=4)


def _orders(plan):
    return {(p["quarter"], p["sku"]): p["nodes"] for p in plan["purchases"]}


def test_windows_follow_pypsa_schedule():
    """Start of window j = j · (H − O), end = min(n, start + H), until a window reaches n."""
    assert windows(8, 3, 1) == [(0, 3), (2, 5), (4, 7), (6, 8)]
    assert windows(4, 2) == [(0, 2), (2, 4)]
    assert windows(4, 9) == [(0, 4)]
    with pytest.raises(ValueError):
        windows(4, 2, 2)


def test_myopic_buys_the_cheap_now_sku_that_foresight_avoids(tmp_path):
    """The module docstring's case: myopic $6,000 (a in 2027Q1), perfect foresight $5,380 (b in 2027Q1, rent
    2027Q2), myopia $620; the myopic plan passes the verifier on the full scenario."""
    scenario = load_scenario(_scenario(tmp_path / "case"))
    out = run_myopic_plan(scenario, 2, gap=0)
    document, figures = out.document, out.document["myopic"]
    assert _orders(document) == {("2027Q1", "a"): 1}
    assert document["objective_usd"] == pytest.approx(6_000)
    assert _orders(out.perfect_foresight_document) == {("2027Q1", "b"): 1}
    assert figures["perfect_foresight_objective_usd"] == pytest.approx(5_380)
    assert figures["myopia_cost_usd"] == pytest.approx(620)
    assert figures["myopia_cost_pct"] == pytest.approx(620 / 5_380)
    assert [(w["first_decided"], w["last_seen"]) for w in figures["windows"]] == \
        [("2027Q1", "2027Q2"), ("2027Q3", "2027Q4")]
    assert figures["windows"][0]["objective_usd"] == pytest.approx(2_000)
    assert verify_plan(scenario, document) == []


def test_a_window_as_long_as_the_horizon_is_perfect_foresight(tmp_path):
    """H ≥ n: one window, the whole program: myopia $0."""
    scenario = load_scenario(_scenario(tmp_path / "case"))
    figures = run_myopic_plan(scenario, 4, gap=0).document["myopic"]
    assert figures["myopia_cost_usd"] == pytest.approx(0, abs=1e-6) and len(figures["windows"]) == 1


def test_a_window_sees_training_runs_on_pace(tmp_path):
    """A run of 2027Q1–Q4 (4 quarters) seen by a window of quarters 0–1: deadline 2027Q2, half its tokens
    ((2 − 0) / (3 − 0 + 1)); a run starting 2027Q3 is not in view; the demand after the window is gone."""
    path = write_scenario(tmp_path / "runs", catalog=[sku()], sites=[OWNED_FREE_ENERGY],
                          workloads=[training("long", 8, 100, "2027Q1", "2027Q4"),
                                     training("later", 8, 100, "2027Q3", "2027Q4"), inference()],
                          demand=[("chat", q, 1000) for q in ("2027Q1", "2027Q4")], quarters=4,
                          finance={"unfinished_training_usd": 1e9})
    scenario = load_scenario(path)
    seen = window_scenario(scenario, 2)
    assert list(seen.workloads.index) == ["long", "chat"]
    assert seen.workloads.at["long", "tokens_b"] == pytest.approx(50)
    assert seen.workloads.at["long", "deadline"] == 1
    assert seen.horizon.quarters == 2 and list(seen.demand["quarter"]) == [0]
    assert window_scenario(scenario, 4) is scenario


def test_cli_plan_horizon_quarters_writes_the_myopic_plan(tmp_path):
    path = _scenario(tmp_path / "case")
    out = tmp_path / "plan.json"
    result = CliRunner().invoke(main, ["plan", str(path), "--horizon-quarters", "2", "--gap", "0", "--json",
                                       str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "cost of myopia $620" in result.output
    assert json.loads(out.read_text())["myopic"]["myopia_cost_usd"] == pytest.approx(620)
    bad = CliRunner().invoke(main, ["plan", str(path), "--horizon-quarters", "2", "--overlap-quarters", "2",
                                    "--quiet"])
    assert bad.exit_code == 2 and "--overlap-quarters" in bad.output
