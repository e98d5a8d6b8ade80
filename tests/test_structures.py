"""`planner generate --structure`: the benchmark family's structures (models/synthetic.py, docs/scale.md) are valid,
change what they say and nothing of the default, and every one of them gets a verified heuristic plan."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from models.sets import life_quarters
from models.synthetic import (BUDGET_TIGHT, OLD_FLEET, POWER_TIGHT, RACK_SCALE, STRUCTURES, _budget_usd_per_quarter,
                              structure_of)
from models.verify import verify_plan
from planner.cli import main
from planner.pipeline import plan_document, run_plan
from planner.resources import shipped_catalog_path
from planner.scenario import load_scenario

ANCHOR = "h100-80gb-x8"  # lead 0, rentable, fastest BF16 of the shipped catalog
SHAPE = ("--workloads", "12", "--quarters", "8", "--owned-sites", "2", "--skus", "14", "--seed", "3")


def generate(folder, *structures, shape=SHAPE) -> object:
    options = [item for name in structures for item in ("--structure", name)]
    result = CliRunner().invoke(main, ["generate", str(folder), *shape, *options])
    assert result.exit_code == 0, result.output
    return load_scenario(folder / "scenario.yaml")


def test_default_structure_is_the_plain_generator(tmp_path):
    """`--structure default` writes the very files the generator writes without the flag."""
    generate(tmp_path / "plain")
    generate(tmp_path / "default", "default")
    for name in ("catalog.csv", "sites.csv", "fleet.csv", "workloads.csv", "demand.csv", "scenario.yaml"):
        assert (tmp_path / "plain" / name).read_bytes() == (tmp_path / "default" / name).read_bytes(), name


@pytest.mark.parametrize("structure", STRUCTURES)
def test_each_structure_validates_and_is_named(tmp_path, structure):
    scenario = generate(tmp_path / structure, structure)
    assert scenario.name == f"synthetic-w12-q8-s2-k14-seed3-{structure}"
    result = CliRunner().invoke(main, ["validate", str(tmp_path / structure / "scenario.yaml")])
    assert result.exit_code == 0 and "valid:" in result.output and "warning" not in result.output


def test_power_tight_caps_are_below_the_defaults_and_still_hold_the_fleet(tmp_path):
    """Same seed, same draws: a site's cap is max(forecast kW × factor, largest job's kW) + its fleet's kW, with the
    factor 1.0 + 0.1u instead of 1.3 + 0.7u for the same u, so no cap is above the default's and their sum is
    below it; each cap still holds its fleet at full load (cap − fleet kW ≥ 0, factor ≥ 1)."""
    default = generate(tmp_path / "default")
    tight = generate(tmp_path / "tight", POWER_TIGHT)
    owned = default.sites["kind"] == "owned"
    assert (tight.sites.loc[owned, "power_mw"] <= default.sites.loc[owned, "power_mw"]).all()
    assert tight.sites.loc[owned, "power_mw"].sum() < default.sites.loc[owned, "power_mw"].sum()
    fleet_kw = (tight.fleet["nodes"] * tight.catalog.loc[tight.fleet["sku"], "node_kw"].to_numpy()
                * tight.sites.loc[tight.fleet["site"], "pue"].to_numpy()).groupby(tight.fleet["site"].to_numpy()).sum()
    assert (tight.sites.loc[fleet_kw.index, "power_mw"] * 1000 >= fleet_kw).all()


def test_budget_formula_hand_worked():
    """Two workloads over two quarters needing [10, 20] and [0, 30] anchor nodes: 50 in the last quarter. The fleet:
    10 nodes of a SKU with half the anchor's BF16 peak per node = 5 anchor nodes. Growth 50 − 5 = 45 nodes at the
    anchor's $300,000, over 2 quarters, × 0.6: 0.6 × 45 × 300,000 / 2 = $4,050,000 a quarter. With a fleet of 60
    anchor nodes the growth is 0, and the budget is one anchor node, $300,000."""
    catalog = pd.DataFrame({"bf16_tflops": [1000.0, 500.0], "gpus_per_node": [8, 8], "price_usd": [300_000, 150_000]},
                           index=pd.Index(["anchor", "half"], name="sku"))
    need = np.array([[10.0, 20.0], [0.0, 30.0]])
    fleet = pd.DataFrame({"site": ["A"], "sku": ["half"], "nodes": [10], "installed": [-1]})
    assert _budget_usd_per_quarter(0.6, need, fleet, catalog, "anchor", 8000.0) == 4_050_000.0
    fleet = fleet.assign(sku="anchor", nodes=60)
    assert _budget_usd_per_quarter(0.6, need, fleet, catalog, "anchor", 8000.0) == 300_000.0


def test_budget_tight_sets_a_purchase_budget(tmp_path):
    generate(tmp_path / "default")
    generate(tmp_path / "budget", BUDGET_TIGHT)
    default = yaml.safe_load((tmp_path / "default" / "scenario.yaml").read_text())["finance"]
    budget = yaml.safe_load((tmp_path / "budget" / "scenario.yaml").read_text())["finance"]
    assert "budget_usd_per_quarter" not in default
    assert budget["budget_usd_per_quarter"] >= 300_000 and budget["budget_usd_per_quarter"] % 1000 == 0


def test_rack_scale_variants_and_long_leads(tmp_path):
    """K = 14 = the 11 shipped SKUs + 3 variants, all of rack-scale SKUs (72 GPUs a node) at 0.75–0.95× the base
    price (rounded to $1,000); every shipped SKU but the anchor waits 1–2 quarters longer than in the shipped
    catalog; the anchor keeps lead 0."""
    shipped = pd.read_csv(shipped_catalog_path()).set_index("sku")
    catalog = generate(tmp_path / "rack", RACK_SCALE).catalog
    variants = catalog[catalog.index.str.contains(r"-v\d+$")]
    assert len(variants) == 3 and (variants["gpus_per_node"] == 72).all()
    base_price = shipped.loc[variants.index.str.replace(r"-v\d+$", "", regex=True), "price_usd"].to_numpy()
    ratio = variants["price_usd"].to_numpy() / base_price
    assert ((ratio >= 0.75 - 1e-3) & (ratio <= 0.95 + 1e-3)).all()
    base = catalog.loc[shipped.index]
    extra = base["lead_quarters"] - shipped["lead_quarters"]
    assert extra[ANCHOR] == 0
    assert extra.drop(ANCHOR).between(1, 2).all()


def test_old_fleet_is_large_and_retires_inside_the_horizon(tmp_path):
    """Same seed, same draws: the fleet is 0.8 + 0.4u of the first quarter's need instead of 0.15 + 0.25u, at
    least 1.2 / 0.4 = 3× the default's in anchor-node equivalents (2.5× allowing for whole nodes). Each row is of a
    SKU shipped 8 quarters or more before the start, installed 8–19 quarters before it (or when its SKU shipped,
    if later): so at most −8, and with 5-year lives (20 quarters) every row retires by quarter −8 + 20 = 12, inside
    a 16-quarter horizon."""
    shape = tuple("16" if i == 3 else item for i, item in enumerate(SHAPE))  # --quarters 16
    default, old = generate(tmp_path / "default", shape=shape), generate(tmp_path / "old", OLD_FLEET, shape=shape)

    def anchor_nodes(scenario) -> float:
        catalog = scenario.catalog
        peak = (catalog["bf16_tflops"] * catalog["gpus_per_node"]).reindex(scenario.fleet["sku"]).to_numpy()
        return float((scenario.fleet["nodes"] * peak).sum() / (catalog.at[ANCHOR, "bf16_tflops"] * 8))

    assert anchor_nodes(old) >= 2.5 * anchor_nodes(default)
    available = old.catalog.loc[old.fleet["sku"], "available_from"].to_numpy()
    installed = old.fleet["installed"].to_numpy()
    assert np.all(available <= -8) and np.all(installed <= -8)
    assert np.all((installed == available) | (installed >= -19))
    retires = installed + life_quarters(old.catalog).reindex(old.fleet["sku"]).to_numpy()
    assert np.all(retires <= 12)


def test_structures_combine():
    """Each structure changes its own ranges, so together they change all of them."""
    both = structure_of([POWER_TIGHT, OLD_FLEET])
    assert both.power_cap_factor == (1.0, 1.1) and both.fleet_share == (0.8, 1.2) and both.budget_share is None
    with pytest.raises(ValueError, match="unknown structure"):
        structure_of(["tiny"])


@pytest.mark.parametrize("structure", STRUCTURES)
def test_the_heuristic_plan_of_every_structure_verifies(tmp_path, structure):
    scenario = generate(tmp_path / structure, structure)
    plan = plan_document(run_plan(scenario, backend="heuristic", time_limit_s=60))
    assert plan["status"] in ("optimal", "feasible")
    assert verify_plan(scenario, plan) == []
