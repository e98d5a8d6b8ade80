"""Per-unit cost parameters against hand-worked numbers, and every consumer of the cost-line names in step.

The scenario used throughout (HAND below): SKU `a` — 8 GPUs, 10 kW at full load, idle_frac 0.4, $40,000, a
2.6-year life, 10 % maintenance a year, rentable at $2/GPU-h; SKU `b` — the same but not rentable. Site `A` (owned,
PUE 1.25, $0.10/kWh, 400 gCO2/kWh) and `cloud` (PUE 1.1, 200 gCO2/kWh, energy in the rent). Carbon $50/t, discount
rate 10 %/year, 3 quarters from 2027Q1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.cost_parameters import (COST_LINES, PENALTY_LINES_USD, SPEND_LINES_USD, USD_LINES,
                                    build_cost_parameters)
from models.extract import COST_COLUMNS as EXTRACT_COST_COLUMNS
from models.formulation import build_plan_model
from models.performance import estimate_performance
from models.sets import build_sets, life_quarters
from models.verify import COST_COLUMNS as VERIFY_COST_COLUMNS
from planner.scenario import load_scenario
from scenario_files import CLOUD, inference, sku, write_scenario

SITE_A = dict(site="A", kind="owned", power_mw=1, pue=1.25, usd_per_kwh=0.1, gco2_per_kwh=400, racks=10)
CLOUD_SITE = {**CLOUD, "pue": 1.1, "gco2_per_kwh": 200}
HAND_SKUS = [sku(idle_frac=0.4, life_years=2.6, maint_frac_per_year=0.1, rent_usd_per_gpu_hour=2),
             sku(sku="b", idle_frac=0.4, life_years=2.6, maint_frac_per_year=0.1)]


def hand_scenario(tmp_path, **finance):
    path = write_scenario(tmp_path, catalog=HAND_SKUS, sites=[SITE_A, CLOUD_SITE], workloads=[inference()],
                          demand=[("chat", "2027Q1", 1000)], throughput=[("chat", "a", 1000), ("chat", "b", 1000)],
                          quarters=3, finance={"discount_rate": 0.1, "carbon_usd_per_t": 50.0, **finance})
    return load_scenario(path)


def test_owned_and_rented_node_prices(tmp_path):
    """Depreciation: $40,000 / (2.6 × 4 = 10.4 quarters, unrounded) = $3,846.153846 per node-quarter, although the
    node stays in service round(10.4) = 10 quarters. Maintenance: 0.1 × 40,000 / 4 = $1,000 per node-quarter.
    Rent: $2 × 8 GPUs × 2,190 h = $35,040 per node-quarter, at the cloud site for `a` only (b is not rentable)."""
    prices = build_cost_parameters(hand_scenario(tmp_path))
    assert prices.depreciation_quarters["a"] == pytest.approx(10.4, rel=1e-12)
    assert life_quarters(hand_scenario(tmp_path).catalog)["a"] == 10
    assert prices.depreciation_usd_per_node_quarter["a"] == pytest.approx(3_846.153846, rel=1e-9)
    assert prices.maintenance_usd_per_node_quarter["b"] == pytest.approx(1_000.0, rel=1e-12)
    assert prices.capex_usd_per_node_ordered["a"] == 40_000.0
    assert prices.rent_usd_per_node_quarter.to_dict() == {("cloud", "a"): pytest.approx(35_040.0, rel=1e-12)}
    assert prices.charges_depreciation
    assert prices.owned_usd_per_node_quarter()["a"] == pytest.approx(4_846.153846, rel=1e-9)


def test_cash_mode_charges_maintenance_only_while_in_service(tmp_path):
    """Cash mode: the $40,000 is charged when ordered, so a node in service costs only its $1,000 maintenance."""
    prices = build_cost_parameters(hand_scenario(tmp_path, capex_mode="cash"))
    assert not prices.charges_depreciation
    assert prices.owned_usd_per_node_quarter()["a"] == pytest.approx(1_000.0, rel=1e-12)


def test_energy_and_carbon_per_idle_and_busy_node(tmp_path):
    """IT kW: idle 10 × 0.4 = 4 kW per node in service, busy adds 10 × 0.6 = 6 kW per node-equivalent.

    At A (PUE 1.25): idle 4 × 1.25 × 2,190 = 10,950 kWh → $1,095 and 10,950 × 400 / 10^6 = 4.38 t ($219 at $50/t);
    busy 6 × 1.25 × 2,190 = 16,425 kWh → $1,642.50 and 6.57 t. In the cloud (PUE 1.1): idle 4 × 1.1 × 2,190 =
    9,636 kWh, $0 of energy (it is in the rent), 9,636 × 200 / 10^6 = 1.9272 t ($96.36).
    """
    prices = build_cost_parameters(hand_scenario(tmp_path))
    assert prices.it_kw_per_idle_node["a"] == pytest.approx(4.0)
    assert prices.it_kw_per_busy_node["a"] == pytest.approx(6.0)
    for quarter in (0, 2):
        at_a, in_cloud = (quarter, "A", "a"), (quarter, "cloud", "a")
        assert prices.kwh_per_idle_node[at_a] == pytest.approx(10_950.0, rel=1e-12)
        assert prices.energy_usd_per_idle_node[at_a] == pytest.approx(1_095.0, rel=1e-12)
        assert prices.carbon_t_per_idle_node[at_a] == pytest.approx(4.38, rel=1e-12)
        assert prices.kwh_per_busy_node[at_a] == pytest.approx(16_425.0, rel=1e-12)
        assert prices.energy_usd_per_busy_node[at_a] == pytest.approx(1_642.5, rel=1e-12)
        assert prices.carbon_t_per_busy_node[at_a] == pytest.approx(6.57, rel=1e-12)
        assert prices.running_usd_per_idle_node()[at_a] == pytest.approx(1_095.0 + 219.0, rel=1e-12)
        assert prices.kwh_per_idle_node[in_cloud] == pytest.approx(9_636.0, rel=1e-12)
        assert prices.energy_usd_per_idle_node[in_cloud] == 0.0
        assert prices.carbon_t_per_idle_node[in_cloud] == pytest.approx(1.9272, rel=1e-12)
        assert prices.running_usd_per_idle_node()[in_cloud] == pytest.approx(96.36, rel=1e-12)
    assert prices.kwh_per_idle_node.index.names == ["quarter", "site", "sku"]
    assert len(prices.kwh_per_idle_node) == 3 * 2 * 2


def test_penalties_and_discount_factors(tmp_path):
    """Discount (1.1)^(−i/4): 1, 0.97645409, 0.95346259; penalties echo the finance section."""
    prices = build_cost_parameters(hand_scenario(tmp_path, unfinished_training_usd=5e6))
    np.testing.assert_allclose(prices.discount_factor.to_numpy(), [1.0, 0.9764540897, 0.9534625892], rtol=1e-10)
    assert prices.unmet_usd_per_unit == 1_000_000.0  # scenario_files' default
    assert prices.unfinished_training_usd == 5e6
    assert build_cost_parameters(hand_scenario(tmp_path)).unfinished_training_usd is None


def test_objective_prices_an_order_from_the_parameters(tmp_path):
    """An order of `a` at A in 2027Q1 (lead 0) is in service in all 3 quarters; each costs, in depreciation mode,
    $3,846.153846 + $1,000 + $1,095 energy + $219 carbon = $6,160.153846 while idle, so its objective coefficient
    is 6,160.153846 × (1 + 0.97645409 + 0.95346259 = 2.92991668) = $18,048.7375.
    A rented `a` in 2027Q2 costs $35,040 + $96.36 carbon = $35,136.36, discounted by 0.97645409: $34,309.0424."""
    scenario = hand_scenario(tmp_path)
    sets = build_sets(scenario, estimate_performance(scenario.catalog, scenario.workloads, scenario.throughput))
    model = build_plan_model(scenario, sets)
    c = model.lp.objective_coefficients()
    orders, rentals = model.lp.variables["orders"], model.lp.variables["rentals"]
    assert c[orders.offset + orders.index.get_loc((0, "A", "a"))] == pytest.approx(18_048.7375, rel=1e-8)
    assert c[rentals.offset + rentals.index.get_loc((1, "cloud", "a"))] == pytest.approx(34_309.0424, rel=1e-8)
    assert list(model.costs) == list(COST_LINES)


def test_cost_line_names_are_defined_once():
    """Spend + penalties are the $ lines; the PLAN.json costs table, extract and the verifier follow COST_LINES."""
    assert USD_LINES == SPEND_LINES_USD + PENALTY_LINES_USD
    assert set(COST_LINES) == set(USD_LINES) | {"energy_kwh", "carbon_t"}
    plan_costs = ("quarter", "discount_factor", *COST_LINES, "total_usd", "discounted_usd")
    assert tuple(EXTRACT_COST_COLUMNS) == plan_costs
    assert ("quarter", *VERIFY_COST_COLUMNS) == plan_costs


def test_total_does_not_depend_on_column_order(tmp_path):
    """Costs total_usd is the sum of the $ lines by name: shuffling the columns of a cost table changes nothing."""
    from models.extract import cost_table
    from models.solve import solve
    scenario = hand_scenario(tmp_path)
    sets = build_sets(scenario, estimate_performance(scenario.catalog, scenario.workloads, scenario.throughput))
    model = build_plan_model(scenario, sets)
    result = solve(model.lp, backend="highs", time_limit_s=30, gap=1e-9)
    shuffled = type(model)(**{**model.__dict__, "costs": dict(reversed(list(model.costs.items())))})
    table, again = cost_table(model, result.x, scenario.horizon), cost_table(shuffled, result.x, scenario.horizon)
    pd.testing.assert_frame_equal(table, again)
    np.testing.assert_allclose(table["total_usd"], table[list(USD_LINES)].sum(axis=1), rtol=1e-12)


def test_a_changed_convention_reaches_the_plan_and_the_verifier_notices(tmp_path, monkeypatch):
    """The formulation prices maintenance only through CostParameters: doubling it there (to $2,000 per
    node-quarter) raises the plan's maintenance line from $1,000 to $2,000 per node-quarter in service, and the
    verifier, which keeps its own copy of the convention, flags every quarter's maintenance as wrong."""
    import dataclasses

    import models.formulation as formulation
    from models.verify import check_plan
    from planner.pipeline import plan_document, run_plan

    scenario = hand_scenario(tmp_path)
    honest = plan_document(run_plan(scenario, backend="highs", time_limit_s=30, gap=1e-9))
    assert check_plan(scenario, honest).violations == ()

    def doubled(s):
        prices = build_cost_parameters(s)
        return dataclasses.replace(prices,
                                   maintenance_usd_per_node_quarter=2 * prices.maintenance_usd_per_node_quarter)
    monkeypatch.setattr(formulation, "build_cost_parameters", doubled)
    changed = plan_document(run_plan(scenario, backend="highs", time_limit_s=30, gap=1e-9))
    owned_node_quarters = {row["quarter"]: 0.0 for row in changed["costs"]}
    for row in changed["fleet"]:
        if row["site"] == "A":
            owned_node_quarters[row["quarter"]] += row["nodes"]
    assert sum(owned_node_quarters.values()) >= 1
    for row in changed["costs"]:
        assert row["maintenance_usd"] == pytest.approx(2_000.0 * owned_node_quarters[row["quarter"]], abs=1e-6)
    flagged = [v for v in check_plan(scenario, changed).violations if v.constraint == "cost"]
    assert any("maintenance_usd" in v.where or "maintenance_usd" in v.message for v in flagged)
