"""Exact aggregation of interchangeable inference services (models/aggregate.py)."""

from __future__ import annotations

import pytest
from scenario_files import OWNED_FREE_ENERGY, inference, sku, write_scenario

from models.aggregate import find_service_classes
from models.performance import estimate_performance
from models.verify import verify_plan
from planner.pipeline import build_plan, plan_document, run_plan
from planner.scenario import load_scenario


def twin_services(tmp_path):
    """`chat-a` (600 tokens/s) and `chat-b` (900) are the same model on the same SKU at 1,000 tokens/s per node;
    `pinned` is the same model but may run only at site B, so it is a class of its own.

    Together chat-a and chat-b need 1.5 node-equivalents → 2 nodes at A ($2,000 depreciation each = $4,000);
    pinned needs 0.5 → 1 node at B ($2,000). Optimum $6,000 with or without aggregation; the placement splits
    0.6 / 0.9 node-equivalents between the twins, in proportion to their demand.
    """
    site_b = {**OWNED_FREE_ENERGY, "site": "B"}
    return write_scenario(tmp_path, catalog=[sku()], sites=[OWNED_FREE_ENERGY, site_b],
                          workloads=[inference("chat-a", sites="A"), inference("chat-b", sites="A"),
                                     inference("pinned", sites="B")],
                          demand=[("chat-a", "2027Q1", 600), ("chat-b", "2027Q1", 900), ("pinned", "2027Q1", 500)],
                          throughput=[("chat-a", "a", 1000), ("chat-b", "a", 1000), ("pinned", "a", 1000)])


def test_services_with_the_same_pools_rates_and_sites_form_one_class(tmp_path):
    scenario = load_scenario(twin_services(tmp_path))
    performance = estimate_performance(scenario.catalog, scenario.workloads, scenario.throughput)
    classes = find_service_classes(scenario, performance)
    assert classes.class_of.to_dict() == {"chat-a": "chat-a", "chat-b": "chat-a", "pinned": "pinned"}
    assert classes.share.loc[(0, "chat-a")] == pytest.approx(0.4)
    assert classes.share.loc[(0, "chat-b")] == pytest.approx(0.6)
    assert classes.share.loc[(0, "pinned")] == pytest.approx(1.0)


@pytest.mark.parametrize("backend", ["scip", "highs"])
def test_aggregated_plan_equals_the_full_plan_per_service(tmp_path, backend):
    scenario = load_scenario(twin_services(tmp_path))
    merged = plan_document(run_plan(scenario, backend=backend, time_limit_s=30, gap=0.0))
    full = plan_document(run_plan(scenario, backend=backend, time_limit_s=30, gap=0.0, aggregate=False))
    assert merged["objective_usd"] == pytest.approx(6_000.0, abs=1e-6)
    assert full["objective_usd"] == pytest.approx(6_000.0, abs=1e-6)
    served = {p["workload"]: p["node_equivalents"] for p in merged["placement"]}
    assert served == pytest.approx({"chat-a": 0.6, "chat-b": 0.9, "pinned": 0.5})
    assert verify_plan(scenario, merged) == []
    assert {d["workload"] for d in merged["duals"]["demand_usd_per_unit"]} == {"chat-a", "chat-b", "pinned"}


def test_aggregation_shrinks_the_model(tmp_path):
    scenario = load_scenario(twin_services(tmp_path))
    merged, full = build_plan(scenario), build_plan(scenario, aggregate=False)
    assert len(merged.model.lp.variables["busy"].index) == 2  # chat-a's class at A, pinned at B
    assert len(full.model.lp.variables["busy"].index) == 3
