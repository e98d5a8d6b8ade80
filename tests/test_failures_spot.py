"""Failures, spot capacity and the budget with build-out (issue 21, items 2 and 4; docs/datacenter-2026.md).

Unless a docstring says otherwise the instances use tests/scenario_files.py's round numbers: SKU `a` (8 GPUs,
1,000 dense BF16 TFLOPS a GPU, $40,000 over 5 years = $2,000 depreciation a node-quarter, 4 nodes a rack,
idle_frac 1 and free electricity so energy costs nothing), one quarter (2,190 h), no discounting, headroom 0,
throughput overrides of 1,000 tokens/s per node, unmet demand at $1,000,000 per tokens/s-quarter.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from models import failures
from models.performance import estimate_performance
from models.verify import verify_plan
from planner.cli import main
from planner.scenario import load_scenario
from scenario_files import CLOUD, OWNED_FREE_ENERGY, inference, sku, training, write_scenario
from test_datacenter_2026 import add_columns, add_facility, lp_digest, ordered, problems_of, solve

A_DEPRECIATION_USD = 2_000.0
RENT_A_USD = 1.0 * 8 * 2190  # $1/GPU-h × 8 GPUs × 2,190 h = $17,520 a node-quarter


def inference_scenario(tmp_path: Path, demand: float = 10_000, cloud: bool = False, finance=None,
                       racks: int = 100) -> Path:
    catalog = [sku(rent_usd_per_gpu_hour=1.0 if cloud else "")]
    sites = [dict(OWNED_FREE_ENERGY, racks=racks)] + ([CLOUD] if cloud else [])
    return write_scenario(tmp_path, catalog=catalog, sites=sites, workloads=[inference()],
                          demand=[("chat", "2027Q1", demand)], throughput=[("chat", "a", 1_000)], finance=finance)


# --- (a) availability -------------------------------------------------------------------------------------

def test_availability_derate_raises_the_nodes_needed(tmp_path):
    """10,000 tokens/s at 1,000 a node: 10 nodes, $20,000. With afr_per_node_year 2 and repair_hours 438 a node
    is up a = 1 − 2 × 438 / 8,760 = 0.9 of the time, so 10 nodes give 9 usable: the plan needs
    ⌈10 / 0.9⌉ = ⌈11.11⌉ = 12 nodes, $24,000 (+$4,000, as derived)."""
    plain = inference_scenario(tmp_path / "plain")
    assert ordered(solve(plain)) == {("A", "a"): 10}

    failing = inference_scenario(tmp_path / "failing")
    add_columns(failing, "catalog", "afr_per_node_year", {"a": 2})
    add_columns(failing, "catalog", "repair_hours", {"a": 438})
    assert failures.availability(load_scenario(failing).catalog)["a"] == pytest.approx(0.9)
    plan = solve(failing)
    assert ordered(plan) == {("A", "a"): 12}
    assert plan["objective_usd"] == pytest.approx(12 * A_DEPRECIATION_USD, abs=1e-6)
    assert verify_plan(load_scenario(failing), plan) == []


# --- (b) Young/Daly against Llama 3 -----------------------------------------------------------------------

def test_young_daly_reproduces_llama3_effective_training_time():
    """Llama 3 405B (Llama Team 2024, §3.3.4): 419 unexpected interruptions in 54 days on 16,384 H100 = 2,048
    nodes of 8. Rate: 419 / (2,048 × 54 × 24 / 8,760 node-years) = 419 / 302.99 = 1.3829 per node-year.
    Job MTBF M = 54 × 24 / 419 = 1,296 / 419 = 3.0931 h. With δ = 30 s = 0.0083333 h and R = 4 min = 0.066667 h:
    τ* = sqrt(2 × 0.0083333 × 3.0931) = sqrt(0.051551) = 0.22705 h (13.6 min);
    f = δ/τ* + τ*/(2M) + R/M = 0.036703 + 0.036703 + 0.021553 = 0.094959, so the effective time is 90.50 %:
    the reported "higher than 90%"."""
    rate = failures.llama3_interruptions_per_node_year()
    assert rate == pytest.approx(419 / (2048 * 54 * 24 / 8760))
    assert rate == pytest.approx(1.3829, abs=1e-4)
    mtbf = failures.job_mtbf_hours(2048, rate)
    assert mtbf == pytest.approx(1296 / 419)
    tau = failures.young_daly_interval_hours(mtbf)
    assert tau == pytest.approx(0.22705, abs=1e-5)
    assert failures.lost_fraction(mtbf) == pytest.approx(0.094959, abs=1e-6)
    effective = failures.effective_time_fraction(2048, rate)
    assert effective == pytest.approx(0.90504, abs=1e-5)
    assert failures.LLAMA3_EFFECTIVE_TIME_FRACTION <= effective < 0.91
    # Young's interval is the optimum: a shorter or longer one loses more.
    loss = lambda t: failures.CHECKPOINT_WRITE_HOURS / t + (t / 2 + failures.RESTART_HOURS) / mtbf  # noqa: E731
    assert loss(tau) < min(loss(0.8 * tau), loss(1.25 * tau))


# --- (c) training -----------------------------------------------------------------------------------------

def training_scenario(tmp_path: Path, afr=None) -> Path:
    """A 1B-parameter run at MFU 0.5 on `a`: 8 × 1,000e12 × 0.5 / (6 × 1e9) = 666,666.67 tokens/s a node.
    51,508.8 B tokens take 51,508.8e9 / 666,666.67 / 3,600 = 21,462 node-hours: 9.8 nodes over the quarter."""
    path = write_scenario(tmp_path, catalog=[sku()], sites=[OWNED_FREE_ENERGY],
                          workloads=[training("run", 1, 51_508.8, "2027Q1", "2027Q1", mfu=0.5)])
    if afr is not None:
        add_columns(path, "catalog", "afr_per_node_year", {"a": afr})
    return path


def test_checkpoint_loss_raises_a_training_runs_nodes(tmp_path):
    """Without failures: ⌈9.8⌉ = 10 nodes, $20,000. With afr_per_node_year 87.6 (0.01 a node-hour) and no repair
    time (no availability derate), the run's pool is N = 21,462 / 2,190 = 9.8 nodes: M = 8,760 / (9.8 × 87.6) =
    10.2041 h; f = sqrt(2 δ / M) + R / M = sqrt(0.016667 / 10.2041) + 0.066667 / 10.2041 = 0.040415 + 0.006533 =
    0.046948; node-hours 21,462 / 0.953052 = 22,519.2 = 10.283 nodes: the plan buys 11, $22,000."""
    plain = training_scenario(tmp_path / "plain")
    assert ordered(solve(plain)) == {("A", "a"): 10}

    failing = training_scenario(tmp_path / "failing", afr=87.6)
    scenario = load_scenario(failing)
    performance = estimate_performance(scenario.catalog, scenario.workloads, scenario.throughput)
    assert performance.loc[("run", "a"), "node_hours"] == pytest.approx(21_462 / (1 - 0.046948), rel=1e-5)
    plan = solve(failing)
    assert ordered(plan) == {("A", "a"): 11}
    assert plan["objective_usd"] == pytest.approx(11 * A_DEPRECIATION_USD, abs=1e-6)
    assert verify_plan(scenario, plan) == []
    # The plan without failures does not do the derated run's work: the verifier, on its own Young/Daly copy, says so.
    assert "training_work" in {v.constraint for v in verify_plan(scenario, solve(plain))}


# --- (e) budget with build-out ----------------------------------------------------------------------------

def test_budget_counts_facility_build_out(tmp_path):
    """Site A has 2 racks (8 `a` nodes); option `x` adds a rack for $50,000 ($2,500 a quarter over 5 years);
    renting costs $17,520 a node-quarter. Demand needs 10 nodes. Without a budget: 10 owned + the build =
    10 × $2,000 + $2,500 = $22,500. With a $440,000 budget for nodes and build-out together, 10 nodes ($400,000)
    and the build ($50,000) are $450,000, over it; 9 nodes and the build ($410,000) fit: 9 × $2,000 + $2,500 +
    one rented node $17,520 = $38,020 (beating 8 owned + 2 rented = $51,040)."""
    def with_option(folder: Path, finance=None) -> Path:
        path = inference_scenario(folder, cloud=True, racks=2, finance=finance)
        add_facility(path, [dict(option="x", site="A", racks=1, power_mw=0, price_usd=50_000, lead_quarters=0,
                                 available_from="2027Q1", life_years=5, max_units=1)])
        return path

    free = solve(with_option(tmp_path / "free"))
    assert ordered(free) == {("A", "a"): 10}
    assert free["objective_usd"] == pytest.approx(22_500, abs=1e-6)

    path = with_option(tmp_path / "budget", finance={"budget_usd_per_quarter": 440_000})
    plan = solve(path)
    assert ordered(plan) == {("A", "a"): 9}
    assert [(f["option"], f["facility_units"]) for f in plan["facility"]] == [("x", 1)]
    assert plan["objective_usd"] == pytest.approx(9 * A_DEPRECIATION_USD + 2_500 + RENT_A_USD, abs=1e-6)
    scenario = load_scenario(path)
    assert verify_plan(scenario, plan) == []
    # The verifier counts the build against the budget too: the unbudgeted plan spends $450,000.
    violations = verify_plan(scenario, free)
    assert {v.constraint for v in violations} == {"budget"}
    assert "450,000.00" in str(violations[0])


# --- (f) absent inputs ------------------------------------------------------------------------------------

def test_empty_failure_columns_build_the_same_program(tmp_path):
    """Empty afr_per_node_year and repair_hours columns (and zeros) impose nothing: the same LP, bit for bit."""
    base = inference_scenario(tmp_path / "base")
    empty = inference_scenario(tmp_path / "empty")
    add_columns(empty, "catalog", "afr_per_node_year", {})
    add_columns(empty, "catalog", "repair_hours", {})
    zero = inference_scenario(tmp_path / "zero")
    add_columns(zero, "catalog", "afr_per_node_year", {"a": 0})
    add_columns(zero, "catalog", "repair_hours", {"a": 24})
    assert lp_digest(base) == lp_digest(empty) == lp_digest(zero)
    run = training_scenario(tmp_path / "run")
    run_empty = training_scenario(tmp_path / "run-empty")
    add_columns(run_empty, "catalog", "afr_per_node_year", {})
    assert lp_digest(run) == lp_digest(run_empty)


# --- (g) bad values ---------------------------------------------------------------------------------------

def test_bad_failure_values_are_input_errors(tmp_path):
    """A negative rate, a rate above the bound and repair that leaves no availability (2 × 4,380 h = 8,760 h of
    repair a year) are input errors naming catalog.csv, the row and the column; the CLI exits 2, no traceback."""
    path = write_scenario(tmp_path, catalog=[sku(), sku(sku="b"), sku(sku="c")], sites=[OWNED_FREE_ENERGY],
                          workloads=[inference()], demand=[("chat", "2027Q1", 1000)],
                          throughput=[("chat", "a", 1_000)])
    add_columns(path, "catalog", "afr_per_node_year", {"a": -1, "b": 2, "c": 5000})
    add_columns(path, "catalog", "repair_hours", {"b": 4380})
    where, messages = problems_of(path)
    assert where == {("catalog.csv", 2, "afr_per_node_year"), ("catalog.csv", 3, "repair_hours"),
                     ("catalog.csv", 4, "afr_per_node_year")}
    assert any("never be in service" in m for m in messages)
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output and "catalog.csv" in result.output


# --- (h) the verifier's own copies ------------------------------------------------------------------------

def test_verifier_checks_derated_capacity(tmp_path):
    """The plan without failures (10 nodes for 10,000 tokens/s) breaks the derated capacity row of the failing
    scenario: 10 busy node-equivalents on 10 nodes at availability 0.9 (9 usable)."""
    plain = solve(inference_scenario(tmp_path / "plain"))
    failing = inference_scenario(tmp_path / "failing")
    add_columns(failing, "catalog", "afr_per_node_year", {"a": 2})
    add_columns(failing, "catalog", "repair_hours", {"a": 438})
    violations = verify_plan(load_scenario(failing), plain)
    assert {v.constraint for v in violations} == {"capacity"}
    assert "usable 9" in str(violations[0])


# --- (i) the Monte-Carlo samples the same rates -----------------------------------------------------------

def test_monte_carlo_mean_failures_match_the_rate(tmp_path):
    """900,000 tokens/s at 1,000 a node and availability 0.9 (afr 2 × 438 h / 8,760 = 0.1 down): the plan holds
    ⌈900 / 0.9⌉ = 1,000 nodes. The evaluator draws the nodes down in each future from the catalog's rate, with
    the scenario's own failure_rate set to 0 (every other uncertainty off, the failed fraction still sampled:
    failure_spread 1): Binomial(1,000, 0.1) in its normal approximation, mean
    1,000 × 0.1 = 100 nodes, sd sqrt(1,000 × 0.1 × 0.9) = 9.49 nodes; over 4,000 futures the sample mean lies
    within 4 standard errors (4 × 9.49 / sqrt(4,000) = 0.60 nodes) of 100, and the sd near 9.49."""
    import jax.numpy as jnp

    from models.risk_costs import _capacity
    from models.risk_inputs import build_risk_inputs
    from models.risk_sampling import batch_noise, key_words
    from models.risk_settings import risk_settings

    path = write_scenario(tmp_path, catalog=[sku()], sites=[dict(OWNED_FREE_ENERGY, racks=1000, power_mw=20)],
                          workloads=[inference()], demand=[("chat", "2027Q1", 900_000)],
                          throughput=[("chat", "a", 1_000)])
    add_columns(path, "catalog", "afr_per_node_year", {"a": 2})
    add_columns(path, "catalog", "repair_hours", {"a": 438})
    plan = solve(path)
    assert ordered(plan) == {("A", "a"): 1000}
    scenario = load_scenario(path)
    settings = dataclasses.replace(risk_settings(scenario, samples=4000, deterministic=True),
                                   failure_spread=1.0)  # failure_rate 0: the catalog's alone, sampled
    inputs = build_risk_inputs(scenario, plan, settings)
    assert inputs.arrays.pools.unavailability == pytest.approx([0.1])
    noise = batch_noise(key_words(0), jnp.arange(4000), inputs.arrays)
    present, capacity, _ = _capacity(inputs.params, inputs.arrays, noise)
    down = np.asarray(present - capacity, dtype=float)[0, 0]  # headroom 0, no training: nodes down
    assert down.mean() == pytest.approx(100.0, abs=4 * math.sqrt(1000 * 0.1 * 0.9) / math.sqrt(4000))
    assert down.std() == pytest.approx(math.sqrt(1000 * 0.1 * 0.9), rel=0.05)


def test_deterministic_evaluation_reproduces_a_plan_derated_for_failures(tmp_path):
    """9,000 tokens/s at 1,000 a node and availability 0.9 (afr 2 × 438 h / 8,760 = 0.1 down): the plan holds
    ⌈9 / 0.9⌉ = 10 nodes, exactly full, $20,000. With every uncertainty off the evaluator takes the failed
    fraction at its mean 0.1 (failure_spread 0), so the 10 × 0.9 = 9 usable nodes serve the 9,000 tokens/s:
    TCO $20,000, no shortfall. A sampled fraction above the mean would leave demand short at the $1 M penalty."""
    from models.risk import simulate
    from models.risk_inputs import build_risk_inputs
    from models.risk_settings import risk_settings

    path = inference_scenario(tmp_path, demand=9_000)
    add_columns(path, "catalog", "afr_per_node_year", {"a": 2})
    add_columns(path, "catalog", "repair_hours", {"a": 438})
    plan = solve(path)
    assert ordered(plan) == {("A", "a"): 10}
    scenario = load_scenario(path)
    settings = risk_settings(scenario, deterministic=True)
    assert settings.failure_spread == 0.0
    run = simulate(build_risk_inputs(scenario, plan, settings), settings, float64=True)
    assert float(run["tco_usd"][0]) == pytest.approx(20_000.0, abs=0.01)
    assert float(run["sums"]["shortfall_tokens_per_s"].sum()) == pytest.approx(0.0, abs=1e-6)


def test_two_stage_capacity_weighs_failures_beyond_the_catalogs_mean():
    """models/stochastic.py: a recourse node-equivalent weighs (1 − u) / (1 − δ) in its capacity row, whose nodes
    the deterministic row already derated by 1 − u. One owned pool, u = 0.1 (the catalog's), z = 0: with the
    `risk:` failure_rate ρ = 0, δ = u and the weight is 0.9 / 0.9 = 1 (the deterministic row, unchanged); with
    ρ = 0.2, δ = 0.2 + 0.1 − 0.02 = 0.28 and the weight 0.9 / 0.72 = 1.25. In a cloud pool ρ does not apply
    (the provider replaces failed nodes): δ = u, weight 1."""
    from models.stochastic import Futures, capacity_scale, failure_fractions

    pools = pd.MultiIndex.from_tuples([(0, "A", "a"), (0, "cloud", "a")], names=["quarter", "site", "sku"])
    nodes = pd.Series([10.0, 10.0], index=pools)

    def futures(rho):
        return Futures(demand_factor=np.ones((1, 1, 1)), electricity_factor=np.ones((1, 2)),
                       failure_z=np.zeros((1, 2, 1, 1)), failure_rate=rho, workloads=["chat"], sites=["A", "cloud"],
                       skus=["a"], unavailability=np.array([0.1]))

    assert failure_fractions(futures(0.0), pools, nodes, ["A"])[0] == pytest.approx([0.1, 0.1])
    assert capacity_scale(futures(0.0), pools, nodes, ["A"])[0] == pytest.approx([1.0, 1.0])
    assert failure_fractions(futures(0.2), pools, nodes, ["A"])[0] == pytest.approx([0.28, 0.1])
    assert capacity_scale(futures(0.2), pools, nodes, ["A"])[0] == pytest.approx([1.25, 1.0])
