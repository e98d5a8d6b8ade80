"""The risk model samples each measured pair's throughput within the interval its throughput row states (issue 25,
item 3): `ci95_tokens_per_s_per_node` (written by `planner calibrate --throughput-out`) is a 95 % half-width, and
every future serves the pair at measured x max(1 + sigma z, 0) with sigma = half-width / 1.959964 / measured."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.numpy_reference import reference_outcome
from models.risk import evaluate_samples, sample_noise
from models.risk_costs import throughput_factor
from models.risk_inputs import THROUGHPUT_CI95_Z, build_risk_inputs, throughput_sigma_of
from models.risk_settings import RiskSettings
from planner.pipeline import plan_document, run_plan
from planner.scenario import load_scenario
from planner.telemetry import write_throughput_table
from test_risk import worked_example

SAMPLES = 20_000
# 1,000 tokens/s per node measured, 95 % half-width 39.19928: sigma = 39.19928 / 1.959964 / 1,000 = 0.02.
MEASURED = 1000.0
HALF_WIDTH = 39.19928
SIGMA = 0.02


@pytest.fixture(scope="module")
def measured_case(tmp_path_factory):
    path = worked_example(tmp_path_factory.mktemp("measured"))
    (path.parent / "throughput.csv").write_text(
        f"workload,sku,tokens_per_s_per_node,ci95_tokens_per_s_per_node\nchat,h,{MEASURED},{HALF_WIDTH}\n")
    scenario = load_scenario(path)
    return scenario, plan_document(run_plan(scenario))


def test_sigma_is_the_stated_half_width_over_the_normal_quantile():
    table = pd.DataFrame({"workload": ["chat", "rag"], "sku": ["h", "h"], "tokens_per_s_per_node": [MEASURED, 500.0],
                          "ci95_tokens_per_s_per_node": [HALF_WIDTH, np.nan]})
    sigma = throughput_sigma_of(table)
    assert sigma[("chat", "h")] == pytest.approx(SIGMA, rel=1e-6)
    assert sigma[("rag", "h")] == 0.0  # no half-width: known exactly
    assert HALF_WIDTH / THROUGHPUT_CI95_Z / MEASURED == pytest.approx(SIGMA, rel=1e-6)
    assert throughput_sigma_of(table.drop(columns="ci95_tokens_per_s_per_node")).empty


def test_sampled_throughput_has_the_fitted_mean_and_spread(measured_case):
    """20,000 futures: the pair's tokens/s per node has mean 1,000 (standard error 1,000 x 0.02 / sqrt(20,000) =
    0.141, so within 4 of them: +-0.57) and standard deviation 20 (+-4 standard errors of a standard deviation,
    20 x 4 / sqrt(40,000) = 0.4); 95 % of the futures lie within the stated 1,000 +- 39.2 (+-4 x sqrt(0.95 x 0.05 /
    20,000) = 0.0062). The four pairs (owned site A and the cloud, each in the plan-first and the cheapest-first pass)
    are one (workload, SKU), so they share one draw."""
    scenario, plan = measured_case
    inputs = build_risk_inputs(scenario, plan, RiskSettings(samples=SAMPLES))
    pairs = inputs.arrays.pairs
    assert len(pairs.workload) == 4 and np.allclose(pairs.throughput_sigma, SIGMA)  # 2 pools x 2 passes, all SKU h
    noise = sample_noise(inputs, seed=11, indices=np.arange(SAMPLES), float64=True)
    rate = pairs.tokens_per_s_per_node[:, None] * np.asarray(
        throughput_factor(pairs.throughput_sigma, noise.throughput_z.T))  # [pair, sample]
    for other in rate[1:]:  # one draw per (workload, SKU): both pools and both passes
        np.testing.assert_array_equal(rate[0], other)
    assert rate[0].mean() == pytest.approx(MEASURED, abs=0.57)
    assert rate[0].std() == pytest.approx(MEASURED * SIGMA, abs=0.4)
    inside = np.mean(np.abs(rate[0] - MEASURED) <= HALF_WIDTH)
    assert inside == pytest.approx(0.95, abs=0.0062)


def test_sampled_throughput_moves_the_outcome_and_matches_the_numpy_reference(measured_case):
    """With throughput the only uncertainty, a future with less throughput per node keeps more node-equivalents busy
    for the same tokens (Q2's 2,500 tokens/s take 2,500 / (1,000 x factor) of them), so its busy energy, and its TCO,
    are higher: TCO falls with the throughput draw (correlation below -0.9). The JAX evaluator and the NumPy
    reference agree on every future."""
    scenario, plan = measured_case
    inputs = build_risk_inputs(scenario, plan, RiskSettings(samples=64).deterministic())
    noise = sample_noise(inputs, seed=5, indices=np.arange(64), float64=True)
    ours = evaluate_samples(inputs, noise, float64=True)
    reference = reference_outcome(inputs.params, inputs.arrays, noise)
    for name in ours:
        np.testing.assert_allclose(ours[name], reference[name], rtol=1e-9, atol=1e-9, err_msg=name)
    assert np.ptp(ours["tco_usd"]) > 0
    assert np.corrcoef(noise.throughput_z[:, 0], ours["tco_usd"])[0, 1] < -0.9


def test_without_a_half_width_nothing_is_sampled(tmp_path):
    """The worked example's throughput row has no half-width: every factor is exactly 1."""
    scenario = load_scenario(worked_example(tmp_path))
    inputs = build_risk_inputs(scenario, plan_document(run_plan(scenario)), RiskSettings(samples=8))
    assert not inputs.arrays.pairs.throughput_sigma.any()
    noise = sample_noise(inputs, seed=1, indices=np.arange(8), float64=True)
    assert np.all(np.asarray(throughput_factor(inputs.arrays.pairs.throughput_sigma, noise.throughput_z.T)) == 1.0)


def test_calibrate_writes_the_half_width_the_risk_model_reads(tmp_path):
    fit = pd.DataFrame({"workload": ["chat"], "sku": ["h"], "tokens_per_s_per_node": [MEASURED],
                        "ci95_tokens_per_s_per_node": [HALF_WIDTH], "nodes": [4]})
    written = pd.read_csv(write_throughput_table(tmp_path / "measured.csv", fit))
    assert list(written.columns) == ["workload", "sku", "tokens_per_s_per_node", "ci95_tokens_per_s_per_node"]
    assert throughput_sigma_of(written)[("chat", "h")] == pytest.approx(SIGMA, rel=1e-5)
