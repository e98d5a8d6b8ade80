"""Two-stage stochastic planning (models/stochastic.py, planner/stochastic.py, `plan --stochastic N`).

The hand-worked case: one service, one SKU bought at owned site A (lead time 1 quarter) or rented on demand in the
cloud, two quarters 2027Q1–Q2, no discounting, free energy, no carbon, headroom 0, failures off.

- The node: price $240,000 over a 5-year life = $240,000 / 20 = $12,000 depreciation per quarter in service, no
  maintenance. Ordered in 2027Q1, it is in service in 2027Q2 only (an order in 2027Q2 would arrive after the
  horizon, so there is none): buying b nodes costs $12,000 · b.
- Renting on demand: $1 per GPU-hour × 8 GPUs × 2,190 h = $17,520 per node-quarter (billed per node-equivalent,
  as evaluate's rule 4); the unmet penalty ($1 M per tokens/s) is never cheaper.
- The service serves 100 tokens/s per node (a measured throughput). Demand: 0 in 2027Q1; forecast 1,000 tokens/s
  in 2027Q2 = 10 nodes. Two equally likely futures: ×0.5 and ×1.5, i.e. 5 or 15 nodes in 2027Q2.

Cost of future D (nodes) after buying b: 12,000 b + 17,520 · max(D − b, 0).
Mean cost f(b) = 12,000 b + 8,760 (max(5 − b, 0) + max(15 − b, 0)): slope 12,000 − 17,520 < 0 below 5,
12,000 − 8,760 = +3,240 between 5 and 15, +12,000 above: the stochastic plan buys **5 nodes**, f(5) = 60,000 +
8,760 · 10 = **$147,600**. The deterministic plan buys for the forecast, 10 nodes (12,000 < 17,520 per node),
f(10) = 120,000 + 8,760 · 5 = **$163,800**; VSS = **$16,200**.
CVaR at α = 0.5 of two equally likely futures is the dearer future's cost, 12,000 b + 17,520 (15 − b) for b ≤ 15
(slope −5,520). With mean + λ · CVaR the slope between 5 and 15 is 3,240 − 5,520 λ: λ = 1 buys **15 nodes**
(mean f(15) = $180,000, CVaR = $180,000); a larger λ never buys less.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from scenario_files import CLOUD, OWNED_FREE_ENERGY, inference, sku, write_scenario

from models.stochastic import Futures, cvar
from models.stochastic_limits import MAX_STOCHASTIC_FUTURES
from planner.cli import main
from planner.scenario import load_scenario
from planner.stochastic import run_stochastic_plan

NODE = sku(price_usd=240_000, rent_usd_per_gpu_hour=1, lead_quarters=1)
ZERO_VARIANCE = {"demand_sigma": 0.0, "demand_common_sigma": 0.0, "failure_rate": 0.0, "slip_probability": 0.0,
                 "electricity_sigma": 0.0}


def _scenario(tmp_path, risk: dict | None = None):
    return write_scenario(tmp_path, catalog=[NODE], sites=[OWNED_FREE_ENERGY, CLOUD], workloads=[inference("chat")],
                          demand=[("chat", "2027Q1", 0), ("chat", "2027Q2", 1000)],
                          throughput=[("chat", "a", 100)], quarters=2, **({"risk": risk} if risk else {}))


def _two_futures(high: float = 1.5, low: float = 0.5) -> Futures:
    factor = np.array([[[1.0, low]], [[1.0, high]]])  # [future, workload, quarter]
    return Futures(demand_factor=factor, electricity_factor=np.ones((2, 2)), failure_z=np.zeros((2, 2, 1, 2)),
                   failure_rate=0.0, workloads=["chat"], sites=["A", "cloud"], skus=["a"])


def _bought(document: dict) -> float:
    return sum(p["nodes"] for p in document["purchases"])


def test_two_futures_buy_versus_rent_as_worked_by_hand(tmp_path):
    scenario = load_scenario(_scenario(tmp_path))
    run = run_stochastic_plan(scenario, 2, backend="highs", futures=_two_futures())
    figures = run.document["stochastic"]
    assert [(p["quarter"], p["site"], p["nodes"]) for p in run.document["purchases"]] == [("2027Q1", "A", 5.0)]
    assert _bought(run.deterministic_document) == 10.0
    assert figures["expected_tco_usd"] == pytest.approx(147_600.0, rel=1e-9)
    assert figures["deterministic_expected_tco_usd"] == pytest.approx(163_800.0, rel=1e-9)
    assert figures["vss_usd"] == pytest.approx(16_200.0, rel=1e-9)
    assert sorted(run.costs_usd) == pytest.approx([60_000.0, 60_000.0 + 17_520.0 * 10], rel=1e-9)
    # The forecast re-solve with the 5 nodes fixed rents what the forecast needs beyond them: 5 whole nodes.
    assert run.document["objective_usd"] == pytest.approx(60_000.0 + 5 * 17_520.0, rel=1e-9)


def test_a_larger_cvar_weight_never_buys_less(tmp_path):
    scenario = load_scenario(_scenario(tmp_path))
    bought = []
    for weight in (0.0, 0.5, 1.0, 3.0):
        # Validated on the same two futures, so the two-stage plan is kept and its SAA property is what is tested
        # (on two sampled unseen futures near the forecast the deterministic plan can win, and be returned).
        run = run_stochastic_plan(scenario, 2, cvar_weight=weight, cvar_alpha=0.5, backend="highs",
                                  futures=_two_futures(), validation_futures=_two_futures())
        bought.append(_bought(run.document))
        if weight == 1.0:  # the worked case: 15 nodes, both futures cost $180,000
            assert run.document["stochastic"]["cvar_usd"] == pytest.approx(180_000.0, rel=1e-9)
            assert run.document["stochastic"]["expected_tco_usd"] == pytest.approx(180_000.0, rel=1e-9)
    assert bought == sorted(bought)
    assert (bought[0], bought[2]) == (5.0, 15.0)


def test_cvar_of_equally_likely_costs():
    """CVaR95 of 1 … 100: the mean of the worst 5 = (96 + … + 100) / 5 = 98; CVaR_0.5 of two costs = the larger."""
    assert cvar(np.arange(1.0, 101.0), 0.95) == pytest.approx(98.0)
    assert cvar(np.array([3.0, 7.0]), 0.5) == pytest.approx(7.0)


def test_zero_variance_gives_the_deterministic_plan_and_a_verified_plan_json(tmp_path):
    path = _scenario(tmp_path, risk=ZERO_VARIANCE)
    out = tmp_path / "plan.json"
    result = CliRunner().invoke(main, ["plan", str(path), "--stochastic", "3", "--seed", "4", "--solver", "highs",
                                       "--json", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    figures = document["stochastic"]
    assert (figures["samples"], figures["seed"], figures["cvar_weight"]) == (3, 4, 0.0)
    assert _bought(document) == 10.0  # the deterministic plan's purchase
    assert figures["vss_usd"] == pytest.approx(0.0, abs=1e-6)
    assert figures["expected_tco_usd"] == pytest.approx(120_000.0, rel=1e-9)  # 10 nodes, demand met
    assert figures["expected_tco_usd"] == pytest.approx(document["objective_usd"], rel=1e-9)
    assert "VSS $0" in result.output
    verified = CliRunner().invoke(main, ["verify", str(path), str(out)])
    assert verified.exit_code == 0, verified.output


def test_stochastic_options_need_stochastic(tmp_path):
    result = CliRunner().invoke(main, ["plan", str(_scenario(tmp_path)), "--cvar-weight", "1"])
    assert result.exit_code == 2
    assert "--seed, --cvar-weight, --cvar-alpha, --reduce-to and --evpi go with --stochastic N" in result.output


def test_stochastic_option_caps_the_futures(tmp_path):
    """The extensive form is one LP over all N futures: N above MAX_STOCHASTIC_FUTURES is refused by the option."""
    result = CliRunner().invoke(main, ["plan", str(_scenario(tmp_path)), "--stochastic",
                                       str(MAX_STOCHASTIC_FUTURES + 1)])
    assert result.exit_code == 2 and f"1<=x<={MAX_STOCHASTIC_FUTURES}" in result.output


def test_evaluate_optimal_reproduces_the_in_sample_expected_tco(tmp_path):
    """One notion of recourse: `evaluate --allocation optimal` on the very futures the plan was solved on (same
    seed and count, the default `risk:` distributions) gives its in-sample expected TCO to 1e-6."""
    path = _scenario(tmp_path)
    plan_path, risk_path = tmp_path / "plan.json", tmp_path / "risk.json"
    runner = CliRunner()
    planned = runner.invoke(main, ["plan", str(path), "--stochastic", "6", "--seed", "3", "--solver", "highs",
                                   "--json", str(plan_path), "--quiet"])
    assert planned.exit_code == 0, planned.output
    evaluated = runner.invoke(main, ["evaluate", str(path), "--plan", str(plan_path), "--allocation", "optimal",
                                     "--samples", "6", "--seed", "3", "--json", str(risk_path)])
    assert evaluated.exit_code == 0, evaluated.output
    figures = json.loads(plan_path.read_text())["stochastic"]
    risk = json.loads(risk_path.read_text())
    assert risk["tco_usd"]["mean"] == pytest.approx(figures["expected_tco_usd"], rel=1e-6)
    assert risk["tco_usd"]["cvar95"] == pytest.approx(figures["cvar_usd"], rel=1e-6)


def test_risk_sheet_shows_both_plans_and_the_purchases_that_differ(tmp_path):
    """The workbook's Risk sheet (reports/risk_sheets.py) from `out_of_sample`: both plans' figures on the same fresh
    futures, and the one purchase that differs in the worked case (10 nodes deterministic, 5 stochastic)."""
    from openpyxl import Workbook

    from planner.stochastic import out_of_sample
    from reports.risk_sheets import COMPARISON_COLUMN, add_risk_sheets

    scenario = load_scenario(_scenario(tmp_path))
    run = run_stochastic_plan(scenario, 2, backend="highs", futures=_two_futures())
    risk = out_of_sample(scenario, run, samples=16)
    workbook = Workbook()
    add_risk_sheets(workbook, risk)
    sheet = workbook["Risk"]
    cells = {(row, column): sheet.cell(row, column).value for row in range(1, 40)
             for column in range(COMPARISON_COLUMN, COMPARISON_COLUMN + 5)}
    c = COMPARISON_COLUMN
    assert cells[(5, c + 1)] == "Deterministic" and cells[(5, c + 2)] == "Stochastic"
    assert cells[(7, c)] == "E[TCO]"
    assert cells[(7, c + 1)] == risk["comparison"]["plans"]["deterministic"]["mean_usd"]
    assert cells[(7, c + 2)] == risk["tco_usd"]["mean"]  # one value: the stochastic plan's RISK document
    differ = [row for (row, column), value in cells.items() if column == c and value == "2027Q1"]
    assert [cells[(differ[0], c + k)] for k in range(5)] == ["2027Q1", "A", "a", 10.0, 5.0]


def test_cvar_counts_a_fraction_of_the_last_tail_cost():
    """Four equally likely costs 1, 2, 3, 4 at α = 0.7: the tail is 0.3 × 4 = 1.2 futures: all of 4 and 0.2 of 3,
    (4 + 0.2 · 3) / 1.2 = 3.8333…; the Rockafellar–Uryasev minimum, at η = VaR = 3, is 3 + (4 − 3) / 1.2, the
    same."""
    assert cvar(np.array([2.0, 4.0, 1.0, 3.0]), 0.7) == pytest.approx(4.6 / 1.2)


def _futures_at(*factors: float) -> Futures:
    factor = np.array([[[1.0, f]] for f in factors])
    n = len(factors)
    return Futures(demand_factor=factor, electricity_factor=np.ones((n, 2)), failure_z=np.zeros((n, 2, 1, 2)),
                   failure_rate=0.0, workloads=["chat"], sites=["A", "cloud"], skus=["a"])


def test_the_deterministic_plan_is_returned_when_it_wins_on_unseen_futures(tmp_path):
    """In-sample futures ×0.5 / ×1.5 make the two-stage plan buy 5 nodes (module docstring). The unseen futures
    are both at the forecast (×1.0, 10 nodes): 5 bought + 5 rented = 60,000 + 17,520 × 5 = $147,600, against the
    deterministic plan's 10 bought = $120,000. The paired difference is +$27,600 in both futures (interval 0), so
    the deterministic plan (10 nodes) is the one written, and the tool says so in `chosen`."""
    scenario = load_scenario(_scenario(tmp_path))
    run = run_stochastic_plan(scenario, 2, backend="highs", futures=_two_futures(),
                              validation_futures=_futures_at(1.0, 1.0))
    figures = run.document["stochastic"]
    assert figures["validation_expected_tco_usd"] == pytest.approx(147_600.0, rel=1e-9)
    assert figures["validation_deterministic_expected_tco_usd"] == pytest.approx(120_000.0, rel=1e-9)
    assert figures["validation_difference_usd"] == pytest.approx(27_600.0, rel=1e-9)
    assert figures["validation_difference_ci95_usd"] == pytest.approx(0.0, abs=1e-6)
    assert figures["chosen"] == "deterministic" and _bought(run.document) == 10.0
    # SAA optimism: held-out mean 147,600 − in-sample mean 147,600 = 0 for the 5-node plan.
    assert figures["in_sample_optimism_usd"] == pytest.approx(0.0, abs=1e-6)


def test_the_two_stage_plan_is_kept_when_it_wins_on_unseen_futures(tmp_path):
    """Unseen futures like the in-sample ones (×0.5, ×1.5): $147,600 vs $163,800, difference −$16,200: the
    two-stage plan (5 nodes) is written."""
    scenario = load_scenario(_scenario(tmp_path))
    run = run_stochastic_plan(scenario, 2, backend="highs", futures=_two_futures(),
                              validation_futures=_futures_at(0.5, 1.5))
    figures = run.document["stochastic"]
    assert figures["validation_difference_usd"] == pytest.approx(-16_200.0, rel=1e-9)
    assert figures["chosen"] == "stochastic" and _bought(run.document) == 5.0


def test_evpi_and_vss_on_the_two_futures_by_hand(tmp_path):
    """The module docstring's case. Wait-and-see: knowing the future, buy exactly its nodes: 5 × $12,000 =
    $60,000 (low) and 15 × $12,000 = $180,000 (high), E[WS] = $120,000. The stochastic plan (5 nodes) costs
    $60,000 and $60,000 + 10 × $17,520 = $235,200: E = $147,600, so EVPI = $147,600 − $120,000 = $27,600; its
    paired differences are 0 and 55,200, half-width 1.96 × 39,032.1 / √2 = $54,096. VSS = E[EEV] − E[RP] =
    $163,800 − $147,600 = $16,200; per future (the deterministic plan's 10 nodes cost $120,000 low and $120,000
    + 5 × $17,520 = $207,600 high): 120,000 − 60,000 = 60,000 (low) and 207,600 − 235,200 = −27,600 (high)."""
    scenario = load_scenario(_scenario(tmp_path))
    run = run_stochastic_plan(scenario, 2, backend="highs", futures=_two_futures(), evpi_futures=2, gap=0)
    figures = run.document["stochastic"]
    assert figures["wait_and_see_expected_tco_usd"] == pytest.approx(120_000.0, rel=1e-9)
    assert figures["evpi_usd"] == pytest.approx(27_600.0, rel=1e-9)
    assert figures["evpi_ci95_usd"] == pytest.approx(1.959963984540054 * np.std([0, 55_200], ddof=1) / np.sqrt(2))
    assert figures["evpi_samples"] == 2
    assert figures["vss_usd"] == pytest.approx(16_200.0, rel=1e-9)
    assert figures["vss_ci95_usd"] == pytest.approx(
        1.959963984540054 * np.std([60_000, -27_600], ddof=1) / np.sqrt(2))


def test_reduction_of_duplicated_futures_is_exact(tmp_path):
    """Four futures, three copies of the low one (×0.5) and one high (×1.5). Unreduced, the mean cost after buying
    b is 12,000 b + 17,520 (¾ max(5 − b, 0) + ¼ max(15 − b, 0)): slope 12,000 − 17,520 < 0 below 5, 12,000 −
    4,380 > 0 above, so b = 5 and E = 60,000 + ¼ · 175,200 = $103,800. Reduced to K = 2 by fast forward selection:
    the low future (probability ¾) and the high one (¼), the same program: b = 5, the same $103,800."""
    from models.scenario_reduction import fast_forward_selection

    low, high = _two_futures().demand_factor
    factor = np.stack([low, low, high, low])
    futures = Futures(demand_factor=factor, electricity_factor=np.ones((4, 2)), failure_z=np.zeros((4, 2, 1, 2)),
                      failure_rate=0.0, workloads=["chat"], sites=["A", "cloud"], skus=["a"])
    chosen, probabilities = fast_forward_selection(factor.reshape(4, -1), 2)
    assert list(chosen) == [0, 2] and list(probabilities) == [0.75, 0.25]
    scenario = load_scenario(_scenario(tmp_path))
    full = run_stochastic_plan(scenario, 4, backend="highs", futures=futures, validation_futures=futures)
    reduced = run_stochastic_plan(scenario, 4, backend="highs", futures=futures, validation_futures=futures,
                                  reduce_to=2)
    for run in (full, reduced):
        assert _bought(run.document) == 5.0
        assert run.document["stochastic"]["expected_tco_usd"] == pytest.approx(103_800.0, rel=1e-9)
    assert reduced.document["stochastic"]["reduced_to"] == 2


def test_fast_forward_selection_keeps_the_probability_mass():
    """Five points on a line at 0, 1, 2, 10, 11, equally likely, reduced to 2. Step 1: Σ_i c_iu is 24, 21, 20,
    36, 39: u₁ = 2 (the point at 2). Step 2, c_iu ← min(c_iu, c_i2): for u = 10 the others cost 2 + 1 + 0 + 1 = 4,
    for u = 11 they cost 2 + 1 + 0 + 1 = 4 … ties to the lowest index: u₂ = 3 (at 10). Redistribution: 0 and 1 go
    to 2 (probability 3/5), 11 to 10 (2/5)."""
    from models.scenario_reduction import fast_forward_selection

    chosen, probabilities = fast_forward_selection(np.array([[0.0], [1.0], [2.0], [10.0], [11.0]]), 2)
    assert list(chosen) == [2, 3]
    assert probabilities == pytest.approx([0.6, 0.4]) and probabilities.sum() == pytest.approx(1.0)


def test_the_convergence_loop_doubles_until_the_half_width_is_within_tolerance():
    """A stand-in solve whose half-width is $1,000 / √N on an E[TCO] of $100: fractions 10/√N. With tolerance 1.0
    the loop needs √N ≥ 10, N ≥ 100: it tries 25 (2.0), 50 (1.41), 100 (1.0 ≤ 1.0, stops). With a cap of 80 it
    stops after 50, unconverged (100 > 80)."""
    from types import SimpleNamespace

    from models.stochastic_limits import converge_futures

    def solve(samples):
        return SimpleNamespace(figures={"in_sample_optimism_ci95_usd": 1_000 / np.sqrt(samples),
                                        "in_sample_optimism_usd": 0.0, "validation_expected_tco_usd": 100.0})

    result, steps, converged = converge_futures(solve, first=25, cap=400, tolerance=1.0)
    assert [step["samples"] for step in steps] == [25, 50, 100] and converged
    assert steps[-1]["half_width_fraction"] == pytest.approx(1.0)
    _, steps, converged = converge_futures(solve, first=25, cap=80, tolerance=1.0)
    assert [step["samples"] for step in steps] == [25, 50] and not converged


def test_cli_auto_reduction_and_evpi_without_uncertainty(tmp_path):
    """Zero variance: every future is the forecast. `--stochastic auto`: the held-out and in-sample costs are all
    $120,000 (10 nodes, demand met), the optimism's half-width is 0, so the loop stops at its first N (25).
    `--stochastic 8 --reduce-to 2 --evpi 2`: perfect information is worth nothing, EVPI = $0 ± $0; the reduced
    problem's plan is the deterministic one (E[TCO] $120,000)."""
    path = _scenario(tmp_path, risk=ZERO_VARIANCE)
    out = tmp_path / "auto.json"
    runner = CliRunner()
    result = runner.invoke(main, ["plan", str(path), "--stochastic", "auto", "--solver", "highs", "--json", str(out),
                                  "--quiet"])
    assert result.exit_code == 0, result.output
    check = json.loads(out.read_text())["stochastic"]["convergence"]
    assert check["converged"] and [step["samples"] for step in check["steps"]] == [25]
    assert "convergence (met" in result.output
    out = tmp_path / "reduced.json"
    result = runner.invoke(main, ["plan", str(path), "--stochastic", "8", "--reduce-to", "2", "--evpi", "2",
                                  "--solver", "highs", "--json", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())["stochastic"]
    assert figures["reduced_to"] == 2 and figures["samples"] == 8
    assert figures["evpi_usd"] == pytest.approx(0.0, abs=1e-6) and figures["evpi_ci95_usd"] == pytest.approx(0.0)
    assert figures["expected_tco_usd"] == pytest.approx(120_000.0, rel=1e-9)
    assert "EVPI (2 futures" in result.output
    bad = runner.invoke(main, ["plan", str(path), "--stochastic", "4", "--reduce-to", "4"])
    assert bad.exit_code == 2 and "--reduce-to (4) must be fewer" in bad.output
