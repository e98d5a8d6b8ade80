"""The JAX risk evaluator (models/risk.py): consistency with the optimiser, a NumPy reference, gradients, seeds, CLI.

Each scenario here is solved by the MILP first; with every uncertainty off the evaluator must then reproduce the
plan's objective to 1e-6 (float64). Scenarios are few and tiny because each new shape costs a JAX compilation.
"""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest
from click.testing import CliRunner
from openpyxl import Workbook, load_workbook

from bench.numpy_reference import reference_outcome
from models.errors import InputError
from models.risk import evaluate_plan, evaluate_samples, sample_noise, sensitivities, simulate
from models.risk_inputs import build_risk_inputs
from models.risk_settings import RiskSettings, risk_settings
from planner.cli import main
from planner.pipeline import plan_document, run_plan
from planner.scenario import load_scenario
from reports.risk_sheets import add_risk_sheets
from scenario_files import CLOUD, inference, sku, training, write_scenario

WORKED_EXAMPLE_OBJECTIVE_USD = 111_108.18  # tests/cases/worked-example/README.md, derived by hand there

# The worked example's inputs (README of the worked example): one SKU, an owned site capped at 2 nodes, a cloud.
WORKED_SKU = sku(sku="h", accelerator="H-class", node_kw=10, idle_frac=0.3, price_usd=240000,
                 rent_usd_per_gpu_hour=2.5, maint_frac_per_year=0.04)
WORKED_SITES = [dict(site="A", kind="owned", power_mw=0.025, pue=1.25, usd_per_kwh=0.10, gco2_per_kwh=400, racks=10),
                dict(CLOUD, pue=1.1, gco2_per_kwh=300)]
WORKED_FINANCE = {"discount_rate": 0.08, "capex_mode": "depreciation", "carbon_usd_per_t": 50,
                  "unmet_usd_per_unit": 1_000_000}


def worked_example(folder, **extra):
    return write_scenario(folder, catalog=[WORKED_SKU], sites=WORKED_SITES, workloads=[inference("chat")],
                          demand=[("chat", "2027Q1", 1500), ("chat", "2027Q2", 2500)],
                          throughput=[("chat", "h", 1000)], quarters=2, finance=WORKED_FINANCE, **extra)


def solved(path) -> tuple:
    scenario = load_scenario(path)
    return scenario, plan_document(run_plan(scenario))


def deterministic_tco(scenario, plan) -> float:
    settings = risk_settings(scenario, deterministic=True)
    run = simulate(build_risk_inputs(scenario, plan, settings), settings, float64=True)
    return float(run["tco"][0])


@pytest.fixture(scope="module")
def worked(tmp_path_factory):
    return solved(worked_example(tmp_path_factory.mktemp("worked")))


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """Two inference services on two SKUs, a training run on the fleet, cash capex with a lead time, a cloud."""
    folder = tmp_path_factory.mktemp("mixed")
    catalog = [sku(sku="a", idle_frac=0.3, rent_usd_per_gpu_hour=3.0, maint_frac_per_year=0.05),
               sku(sku="b", idle_frac=0.4, node_kw=14, price_usd=90000, lead_quarters=1, bf16_tflops=2000,
                   rent_usd_per_gpu_hour=6.0)]
    sites = [dict(site="A", kind="owned", power_mw=1, pue=1.2, usd_per_kwh=0.08, gco2_per_kwh=300, racks=100),
             dict(CLOUD, pue=1.1, gco2_per_kwh=250)]
    workloads = [inference("chat"), inference("code", sites="A"), training("train", 8, 20, "2027Q1", "2027Q2")]
    path = write_scenario(folder, catalog=catalog, sites=sites, workloads=workloads, quarters=3,
                          demand=[("chat", q, d) for q, d in (("2027Q1", 900), ("2027Q2", 2300), ("2027Q3", 4100))]
                          + [("code", q, d) for q, d in (("2027Q1", 500), ("2027Q2", 700), ("2027Q3", 1600))],
                          throughput=[("chat", "a", 1000), ("chat", "b", 1700), ("code", "a", 600), ("code", "b", 1300)],
                          fleet=[("A", "a", 3, "2027Q1")],
                          finance={"discount_rate": 0.1, "capex_mode": "cash", "carbon_usd_per_t": 40,
                                   "unmet_usd_per_unit": 5000})
    return solved(path)


# --- consistency with the optimiser -----------------------------------------------------------------------

@pytest.mark.parametrize("allocation", ["plan-first", "cheapest-first"])
def test_worked_example_deterministic_tco_equals_objective(tmp_path, allocation):
    """Both rules reproduce $111,108.18: cheapest-first because it fills the cloud node's cheap busy share
    ($252.945 per node-equivalent) before A's ($2,299.50), exactly the plan's 1.0 / 1.5 split in 2027Q2."""
    scenario, plan = solved(worked_example(tmp_path, risk={"allocation": allocation}))
    assert plan["objective_usd"] == pytest.approx(WORKED_EXAMPLE_OBJECTIVE_USD, abs=0.01)
    assert deterministic_tco(scenario, plan) == pytest.approx(plan["objective_usd"], rel=1e-6)


def test_mixed_scenario_deterministic_tco_equals_objective(mixed):
    scenario, plan = mixed
    assert any(row["workload"] == "train" for row in plan["placement"])
    assert deterministic_tco(scenario, plan) == pytest.approx(plan["objective_usd"], rel=1e-6)


def test_unmet_demand_without_cloud_is_charged_like_the_plan(tmp_path):
    """An owned site capped at one node and no cloud: the plan leaves demand unmet; so does the evaluator."""
    sites = [dict(site="A", kind="owned", power_mw=0.01, pue=1.0, usd_per_kwh=0.1, gco2_per_kwh=0, racks=10)]
    path = write_scenario(tmp_path, catalog=[sku(idle_frac=0.5)], sites=sites, workloads=[inference("chat")],
                          demand=[("chat", "2027Q1", 1500), ("chat", "2027Q2", 800)], throughput=[("chat", "a", 1000)],
                          quarters=2, finance={"unmet_usd_per_unit": 50.0, "discount_rate": 0.05})
    scenario, plan = solved(path)
    assert plan["unmet"]
    assert deterministic_tco(scenario, plan) == pytest.approx(plan["objective_usd"], rel=1e-6)


# --- the NumPy reference, gradients, seeds ----------------------------------------------------------------

def noisy_inputs(scenario, plan):
    settings = RiskSettings(samples=64, failure_rate=0.05, slip_probability=0.4, demand_sigma=0.3,
                            demand_common_sigma=0.2, electricity_sigma=0.2)
    return settings, build_risk_inputs(scenario, plan, settings)


def test_jax_matches_numpy_reference_on_random_inputs(mixed):
    scenario, plan = mixed
    _, inputs = noisy_inputs(scenario, plan)
    rng = np.random.default_rng(7)
    noise = sample_noise(inputs, seed=3, indices=np.arange(64), float64=True)
    for _ in range(3):
        params = {key: np.asarray(value) * rng.uniform(0.5, 1.5, np.shape(value))
                  for key, value in inputs.params.items()}
        ours = evaluate_samples(inputs, noise, params=params, float64=True)
        reference = reference_outcome(params, inputs.arrays, noise)
        for mine, theirs in zip(ours, reference):
            np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-9)
    assert (ours[1] > 0).any(), "the random futures should exercise the shortfall path"


def test_gradients_match_central_finite_differences(mixed):
    scenario, plan = mixed
    settings, inputs = noisy_inputs(scenario, plan)
    result = sensitivities(inputs, settings, float64=True)
    noise = sample_noise(inputs, seed=settings.seed, indices=np.arange(settings.samples), float64=True)

    def mean_tco(params):
        return float(evaluate_samples(inputs, noise, params=params, float64=True)[0].mean())

    for row, (_, key, index) in zip(result["rows"], inputs.sensitivity_inputs):
        value = float(np.asarray(inputs.params[key]) if index is None else inputs.params[key][index])
        step = 1e-5 * max(abs(value), 1e-2)
        points = []
        for sign in (1.0, -1.0):
            params = {k: np.array(v, dtype=float, copy=True) for k, v in inputs.params.items()}
            if index is None:
                params[key] = params[key] + sign * step
            else:
                params[key][index] += sign * step
            points.append(mean_tco(params))
        finite_difference = (points[0] - points[1]) / (2 * step)
        assert row["d_tco_usd_per_unit"] == pytest.approx(finite_difference, rel=1e-5, abs=1e-3), row["input"]


def test_fixed_seed_gives_identical_results_whatever_the_batch(mixed):
    scenario, plan = mixed
    settings, inputs = noisy_inputs(scenario, plan)
    first = simulate(inputs, settings, batch=16)
    again = simulate(inputs, settings, batch=16)
    np.testing.assert_array_equal(first["tco"], again["tco"])
    other_batch = simulate(inputs, settings, batch=64)
    np.testing.assert_allclose(first["tco"], other_batch["tco"], rtol=1e-6)
    other_seed = simulate(inputs, RiskSettings(**{**settings.__dict__, "seed": 1}), batch=16)
    assert not np.allclose(first["tco"], other_seed["tco"])


def test_risk_section_is_validated(tmp_path):
    """Loading the scenario checks the risk: section with everything else (so `validate` and `plan` reject it
    before any work)."""
    with pytest.raises(InputError) as caught:
        load_scenario(worked_example(tmp_path, risk={"failure_rate": 1.5, "samples": 0, "sigma": 1}))
    columns = {problem.column for problem in caught.value.problems}
    assert columns == {"risk.failure_rate", "risk.samples", "risk.sigma"}
    assert all(problem.file == "scenario.yaml" for problem in caught.value.problems)


# --- command line and workbook sheets -----------------------------------------------------------------

RISK_KEYS = {"samples", "seed", "device", "dtype", "tco_usd", "histogram", "shortfall_probability",
             "sensitivities", "timing"}


def test_cli_writes_risk_json_and_sheets(worked, tmp_path):
    scenario, plan = worked
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(json.dumps(plan))
    risk_path = tmp_path / "risk.json"
    result = CliRunner().invoke(main, ["evaluate", str(scenario.path), "--plan", str(plan_path), "--samples", "300",
                                       "--seed", "5", "--json", str(risk_path)])
    assert result.exit_code == 0, result.output
    risk = json.loads(risk_path.read_text())
    assert RISK_KEYS <= set(risk)
    assert (risk["samples"], risk["seed"], risk["device"], risk["dtype"]) == (300, 5, "cpu", "float32")
    assert set(risk["tco_usd"]) >= {"mean", "p5", "p50", "p95", "p99", "cvar95"}
    tco = risk["tco_usd"]
    assert tco["p5"] <= tco["p50"] <= tco["p95"] <= tco["p99"] and tco["cvar95"] >= tco["p95"]
    assert sum(risk["histogram"]["counts"]) == 300
    assert {row["quarter"] for row in risk["shortfall_probability"]} == {"2027Q1", "2027Q2"}
    assert all(set(row) >= {"quarter", "workload", "probability", "expected_unmet_units"}
               for row in risk["shortfall_probability"])
    inputs = {row["input"] for row in risk["sensitivities"]}
    assert {"usd_per_kwh[A]", "price_usd[h]", "pue[A]", "demand_growth", "failure_rate"} <= inputs
    for row in risk["sensitivities"]:
        assert set(row) >= {"input", "d_tco_usd_per_unit", "tco_usd_at_minus_10pct", "tco_usd_at_plus_10pct"}
    # More electricity costs more: the derivative and the tornado agree in sign.
    electricity = next(row for row in risk["sensitivities"] if row["input"] == "usd_per_kwh[A]")
    assert electricity["d_tco_usd_per_unit"] > 0
    assert electricity["tco_usd_at_plus_10pct"] > electricity["tco_usd_at_minus_10pct"]

    workbook = Workbook()
    add_risk_sheets(workbook, risk)
    saved = tmp_path / "risk.xlsx"
    workbook.save(saved)
    reopened = load_workbook(saved)
    assert {"Risk", "Sensitivity"} <= set(reopened.sheetnames)
    assert reopened["Risk"]["B5"].value == pytest.approx(tco["mean"])
    assert len(workbook["Risk"]._charts) == 1 and len(workbook["Sensitivity"]._charts) == 1
    tornado = workbook["Sensitivity"]._charts[0]
    assert tornado.type == "bar" and len(tornado.series) == 2


def test_cli_deterministic_reports_the_plan_objective(worked, tmp_path):
    scenario, plan = worked
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(json.dumps(plan))
    result = CliRunner().invoke(main, ["evaluate", str(scenario.path), "--plan", str(plan_path), "--deterministic",
                                       "--float64", "--json", str(tmp_path / "risk.json")])
    assert result.exit_code == 0, result.output
    risk = json.loads((tmp_path / "risk.json").read_text())
    assert risk["dtype"] == "float64" and risk["samples"] == 1
    assert risk["tco_usd"]["mean"] == pytest.approx(plan["objective_usd"], rel=1e-6)
    assert "relative difference" in result.output


def test_cli_gpu_without_a_gpu_backend_is_an_input_error(worked, tmp_path):
    try:
        jax.devices("gpu")
        pytest.skip("a GPU backend is present here, so --device gpu is valid")
    except RuntimeError:
        pass
    scenario, plan = worked
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(json.dumps(plan))
    result = CliRunner().invoke(main, ["evaluate", str(scenario.path), "--plan", str(plan_path), "--device", "gpu"])
    assert result.exit_code == 2
    assert "--device: no GPU backend is available to JAX here" in result.output


def test_cli_missing_plan_is_an_input_error(worked, tmp_path):
    scenario, _ = worked
    result = CliRunner().invoke(main, ["evaluate", str(scenario.path), "--plan", str(tmp_path / "none.json")])
    assert result.exit_code == 2
    assert "plan file not found" in result.output


def test_evaluate_plan_is_reproducible(worked):
    scenario, plan = worked
    first = evaluate_plan(scenario, plan, samples=200, seed=11)
    second = evaluate_plan(scenario, plan, samples=200, seed=11)
    assert first["tco_usd"] == second["tco_usd"]
    assert first["sensitivities"] == second["sensitivities"]
