"""`planner generate`: valid scenarios for any seed and size, reproducible, plannable, and clear about bad options."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from models.performance import estimate_performance
from models.quarters import HOURS_PER_QUARTER
from models.units import SECONDS_PER_HOUR
from planner.cli import main
from planner.scenario import load_scenario

FILES = ["catalog.csv", "demand.csv", "fleet.csv", "scenario.yaml", "sites.csv", "workloads.csv"]
CHIP_COLUMNS = ["gpus_per_node", "bf16_tflops", "fp8_tflops", "hbm_gb", "hbm_tbps", "idle_frac", "available_from",
                "life_years", "maint_frac_per_year", "nodes_per_rack"]


def invoke(*args) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.output


def generate(folder, workloads=12, quarters=6, owned_sites=2, skus=8, seed=0, *extra) -> str:
    code, output = invoke("generate", folder, "--workloads", workloads, "--quarters", quarters, "--owned-sites",
                          owned_sites, "--skus", skus, "--seed", seed, *extra)
    assert code == 0, output
    return output


@pytest.mark.parametrize("workloads, quarters, owned_sites, skus, seed, cloud_sites", [
    (1, 1, 1, 1, 0, 0),  # the smallest: one inference service, one SKU, no cloud
    (3, 2, 1, 3, 1, 1),
    (12, 6, 2, 8, 2, 2),
    (40, 16, 6, 16, 3, 2),  # the benchmark's shape, fewer workloads
    (30, 8, 20, 30, 4, 5),  # more sites than named locations, several variants per base SKU
])
def test_generated_scenarios_validate(tmp_path, workloads, quarters, owned_sites, skus, seed, cloud_sites):
    """`planner validate` accepts the files, with no warning, and counts what was asked for: training runs are
    round(W / 10), at least one from W = 2 on."""
    output = generate(tmp_path / "s", workloads, quarters, owned_sites, skus, seed, "--cloud-sites", cloud_sites)
    assert f"{skus} SKUs, {owned_sites} owned + {cloud_sites} cloud sites" in output
    code, output = invoke("validate", tmp_path / "s" / "scenario.yaml")
    training = max(round(workloads / 10), 1) if workloads > 1 else 0
    assert code == 0, output
    assert output == (f"synthetic-w{workloads}-q{quarters}-s{owned_sites}-k{skus}-seed{seed}: valid: {skus} SKUs, "
                      f"{owned_sites + cloud_sites} sites, {training} training runs, {workloads - training} inference "
                      f"services, {quarters} quarters from 2027Q1\n")


def test_content_is_what_the_issue_asks_for(tmp_path):
    """W=100, K=16 from the 11-SKU shipped catalog: 10 training runs, 90 services; 16 - 11 = 5 variants of the base,
    each the same chip at a price within ±15 %, lead within ±1 quarter, node power within ±8 %; windows of 1-4
    quarters; growing demand; pins to 1-2 existing sites; a fleet installed before the start."""
    generate(tmp_path / "s", 100, 16, 6, 16, 7)
    scenario = load_scenario(tmp_path / "s" / "scenario.yaml")
    catalog, workloads = scenario.catalog, scenario.workloads
    kinds = workloads["kind"].value_counts()
    assert kinds["training"] == 10 and kinds["inference"] == 90

    variants = catalog[catalog.index.str.contains(r"-v\d+$")]
    assert len(variants) == 16 - 11
    base = catalog.loc[variants.index.str.replace(r"-v\d+$", "", regex=True)]
    pd.testing.assert_frame_equal(variants[CHIP_COLUMNS].reset_index(drop=True),
                                  base[CHIP_COLUMNS].reset_index(drop=True))
    assert np.all(np.abs(variants["price_usd"].to_numpy() / base["price_usd"].to_numpy() - 1) <= 0.15 + 1e-3)
    assert np.all(np.abs(variants["lead_quarters"].to_numpy() - base["lead_quarters"].to_numpy()) <= 1)
    assert np.all(np.abs(variants["node_kw"].to_numpy() / base["node_kw"].to_numpy() - 1) <= 0.08 + 0.01)

    training = workloads[workloads["kind"] == "training"]
    window = training["deadline"] - training["start"] + 1
    assert window.between(1, 4).all()
    assert set(workloads["params_b"]) <= {8, 13, 34, 70, 180, 405}
    inference = workloads[workloads["kind"] == "inference"]
    assert set(inference["precision"]) == {"bf16", "fp8", "int8", "int4"}
    slo = inference["min_tokens_per_s_per_user"]
    assert slo.notna().any() and slo.isna().any()
    pinned = workloads["sites"].map(len)
    assert pinned.between(0, 2).all() and (pinned > 0).any()
    assert {s for listed in workloads["sites"] for s in listed} <= set(scenario.sites.index)

    demand = scenario.demand.sort_values(["workload", "quarter"])
    assert (demand.groupby("workload")["tokens_per_s"].diff().dropna() >= 0).all()
    assert set(demand["workload"]) == set(inference.index)
    assert len(scenario.fleet) > 0 and (scenario.fleet["installed"] < 0).all()

    # Training runs need tens to hundreds of nodes of the shipped H100 (the anchor SKU) over their window:
    # nodes = tokens / (tokens/s per node × window seconds).
    rate = estimate_performance(catalog.loc[["h100-80gb-x8"]], training, scenario.throughput)
    seconds = window * HOURS_PER_QUARTER * SECONDS_PER_HOUR
    nodes = training["tokens_b"] * 1e9 / rate["tokens_per_s_per_node"].droplevel("sku") / seconds
    assert nodes.between(5, 300).all(), nodes


def test_owned_power_caps_leave_room_beyond_the_forecast(tmp_path):
    """Each owned site's cap less its fleet's full-load kW is ≥ 1.3 × max over quarters of the facility kW its share
    of the forecast needs on the H100 anchor. Summed over sites, with Σ_s max_q ≥ max_q Σ_s and the lowest PUE:
    Σ cap − Σ fleet kW ≥ 1.3 × node_kw × min PUE × (anchor nodes of the peak quarter). Inference alone is counted
    (nodes = tokens/s ÷ anchor tokens/s per node ÷ (1 − headroom)), which only weakens the bound."""
    generate(tmp_path / "s", 60, 8, 3, 6, 11, "--cloud-sites", "0")
    scenario = load_scenario(tmp_path / "s" / "scenario.yaml")
    h100 = scenario.catalog.loc["h100-80gb-x8"]
    rate = estimate_performance(scenario.catalog.loc[["h100-80gb-x8"]], scenario.workloads, scenario.throughput)
    rate = rate["tokens_per_s_per_node"].droplevel("sku")
    served = scenario.demand.assign(nodes=scenario.demand["tokens_per_s"] / rate.reindex(scenario.demand["workload"])
                                    .to_numpy() / (1 - scenario.headroom))
    peak_nodes = served.groupby("quarter")["nodes"].sum().max()
    owned = scenario.sites[scenario.sites["kind"] == "owned"]
    fleet_kw = (scenario.fleet["nodes"] * scenario.catalog.loc[scenario.fleet["sku"], "node_kw"].to_numpy()
                * owned.loc[scenario.fleet["site"], "pue"].to_numpy()).sum()
    free_kw = owned["power_mw"].sum() * 1000 - fleet_kw
    assert free_kw >= 1.3 * peak_nodes * h100["node_kw"] * owned["pue"].min()


def test_same_seed_same_files_other_seed_other_files(tmp_path):
    # K = 14 > the 11 shipped SKUs, so the catalog has seeded variants (at K <= 11 it is the shipped one, cut).
    generate(tmp_path / "a", 20, 8, 3, 14, 5)
    generate(tmp_path / "b", 20, 8, 3, 14, 5)
    generate(tmp_path / "c", 20, 8, 3, 14, 6)
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == FILES
    for name in FILES:
        if name != "scenario.yaml":
            assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert (tmp_path / "a" / "scenario.yaml").read_text() == (tmp_path / "b" / "scenario.yaml").read_text()
    differ = [n for n in FILES if (tmp_path / "a" / n).read_bytes() != (tmp_path / "c" / n).read_bytes()]
    assert {"workloads.csv", "demand.csv", "sites.csv", "catalog.csv"} <= set(differ)


def test_plan_of_a_small_scenario_passes_verify(tmp_path):
    generate(tmp_path / "s", 12, 6, 2, 8, 0)
    scenario_path = tmp_path / "s" / "scenario.yaml"
    code, output = invoke("plan", scenario_path, "--json", tmp_path / "plan.json", "--time-limit", 30)
    assert code == 0, output
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert plan["status"] in ("optimal", "feasible") and plan["purchases"]
    code, output = invoke("verify", scenario_path, tmp_path / "plan.json")
    assert code == 0 and output.startswith("OK: "), output


@pytest.mark.parametrize("option, value, message", [
    ("--workloads", "0", "Invalid value for '--workloads': 0 is not in the range x>=1."),
    ("--skus", "-1", "Invalid value for '--skus': -1 is not in the range x>=1."),
    ("--quarters", "two", "Invalid value for '--quarters': 'two' is not a valid integer range."),
    ("--cloud-sites", "-2", "Invalid value for '--cloud-sites': -2 is not in the range x>=0."),
    ("--start", "2027Q5", "Invalid value for '--start': '2027Q5' is not a quarter like 2027Q1"),
    ("--start", "2025Q4", "Invalid value for '--start': 2025Q4 is before 2026Q1, when the shipped catalog's "
                          "newest SKU can first be ordered; choose 2026Q1 or later"),
])
def test_bad_options_exit_2_and_write_nothing(tmp_path, option, value, message):
    args = {"--workloads": "3", "--quarters": "2", "--owned-sites": "1", "--skus": "2", "--seed": "0", option: value}
    code, output = invoke("generate", tmp_path / "s", *[x for pair in args.items() for x in pair])
    assert code == 2
    assert message in output
    assert "Traceback" not in output
    assert not (tmp_path / "s").exists()


def test_missing_option_exits_2(tmp_path):
    code, output = invoke("generate", tmp_path / "s", "--workloads", 3, "--quarters", 2, "--skus", 2, "--seed", 0)
    assert code == 2 and "Missing option '--owned-sites'" in output


def test_non_empty_outdir_needs_force(tmp_path):
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine\n")
    code, output = invoke("generate", folder, "--workloads", 3, "--quarters", 2, "--owned-sites", 1, "--skus", 2,
                          "--seed", 0)
    assert code == 2
    assert output == (f"error: 1 problem(s) in the input:\n  {folder}: directory is not empty (notes.txt); choose an "
                      f"empty or new directory, or pass --force to replace the scenario's files in it\n")
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]
    generate(folder, 3, 2, 1, 2, 0, "--force")
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILES + ["notes.txt"])
    assert (folder / "notes.txt").read_text() == "mine\n"
    code, output = invoke("validate", folder / "scenario.yaml")
    assert code == 0, output
