"""`planner alternatives` (MGA): plans within a cost slack of the optimum that avoid a vendor, SKU or site.

Two SKUs serve one 1,000 tokens/s service for one quarter (1,000 tokens/s per node, lead 0, free energy,
discount rate 0): `a` (NVIDIA) at $40,000 over 5 years = $2,000 per node-quarter, `b` (AMD) at $40,800 =
$2,040 per node-quarter, 2 % dearer. The optimum buys one `a` ($2,000).
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from models.alternatives import vendor_of
from planner.alternatives import run_alternatives, summary_rows
from planner.cli import main
from planner.scenario import load_scenario
from scenario_files import OWNED_FREE_ENERGY, inference, sku, write_scenario


@pytest.fixture()
def two_vendors(tmp_path):
    return write_scenario(tmp_path, catalog=[sku(sku="a", accelerator="NVIDIA A"),
                                             sku(sku="b", accelerator="AMD B", price_usd=40_800)],
                          sites=[OWNED_FREE_ENERGY], workloads=[inference()], demand=[("chat", "2027Q1", 1000)],
                          throughput=[("chat", "a", 1000), ("chat", "b", 1000)], quarters=1)


def _bought(plan):
    return {(p["sku"], p["nodes"]) for p in plan.document["purchases"]}


def test_vendor_is_the_first_word_of_the_accelerator():
    assert vendor_of("NVIDIA H100 SXM 80GB") == "NVIDIA" and vendor_of("amd Instinct MI300X") == "AMD"


def test_within_slack_the_alternative_avoids_the_vendor(two_vendors):
    """Slack 3 %: the cap is $2,060 ≥ $2,040, so the NVIDIA-free plan (one `b`) is allowed and chosen:
    NVIDIA GPU-quarters 8 → 0, TCO $2,040 = optimum + 2 %."""
    plans = run_alternatives(load_scenario(two_vendors), 0.03, 1, "vendor", ("NVIDIA",), gap=0)
    optimum, alternative = plans
    assert _bought(optimum) == {("a", 1)} and optimum.document["objective_usd"] == pytest.approx(2_000)
    assert _bought(alternative) == {("b", 1)} and alternative.document["objective_usd"] == pytest.approx(2_040)
    row = summary_rows(plans)[1]
    assert row["avoids"] == ["NVIDIA"] and row["excess_pct"] == pytest.approx(2.0)
    assert row["gpu_quarters"] == {"AMD": 8.0}


def test_outside_slack_the_vendor_cannot_be_avoided_and_the_cost_cap_holds(two_vendors):
    """Slack 1 %: the cap is $2,020 < $2,040, so the alternative must keep `a`: nothing avoided, TCO ≤ cap."""
    plans = run_alternatives(load_scenario(two_vendors), 0.01, 1, "vendor", ("NVIDIA",), gap=0)
    assert _bought(plans[1]) == {("a", 1)}
    assert plans[1].document["objective_usd"] <= 2_000 * 1.01 + 1e-6
    assert summary_rows(plans)[1]["avoids"] == []


def test_without_avoid_the_alternative_moves_away_from_what_the_optimum_used(two_vendors, tmp_path):
    """Direction sku, no --avoid: alternative 1 minimises the SKUs the optimum used ({a}) and buys `b`; the CLI
    writes the table and each plan, every one verified."""
    runner = CliRunner()
    out = tmp_path / "alts"
    result = runner.invoke(main, ["alternatives", str(two_vendors), "--slack", "0.03", "--gap", "0", "--json",
                                  str(tmp_path / "alt.json"), "--out-dir", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "alt.json").read_text())["plans"]
    assert [row["avoids"] for row in rows] == [[], ["a"]] and rows[1]["minimised"] == ["a"]
    assert sorted(path.name for path in out.iterdir()) == ["alternative-1.json", "optimum.json"]
    assert "avoids a" in result.output


def test_an_unknown_vendor_is_an_input_error(two_vendors, tmp_path):
    result = CliRunner().invoke(main, ["alternatives", str(two_vendors), "--avoid-vendor", "intel", "--json",
                                       str(tmp_path / "a.json"), "--quiet"])
    assert result.exit_code == 2 and "no vendor named INTEL" in result.output
    assert not (tmp_path / "a.json").exists()
