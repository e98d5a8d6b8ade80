"""`planner calibrate`: a fleet's telemetry fitted into throughput corrections and GPU power, with uncertainty."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from models.telemetry_fit import fit_power, fit_throughput
from planner.cli import main
from planner.scenario import load_scenario
from planner.telemetry import model_predictions

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "data" / "examples" / "example"
SAMPLE = ROOT / "data" / "telemetry" / "sample.csv"
COLUMNS = ["timestamp", "node", "workload", "sku", "precision", "tokens_per_s", "gpu_power_w", "utilisation"]


def _scrapes(rows):
    return pd.DataFrame([dict(zip(["node", "tokens_per_s", "utilisation", "gpu_power_w"], row),
                              workload="chat", sku="a") for row in rows])


def test_throughput_fit_worked_by_hand():
    """Node n1: (500 tokens/s at u 0.5) and (1,000 at u 1.0) → 1,000 and 1,000 at 100 % busy, mean 1,000.
    Node n2: 600 at u 0.5 → 1,200. A scrape at u 0.1 (below the 0.2 floor) is left out.
    Estimate = (1,000 + 1,200) / 2 = 1,100; sd of node means = 141.42; t(0.975, 1) = 12.706:
    half-width = 12.706 × 141.42 / √2 = 1,270.6. Model 1,000 → correction 1.1.
    Leave one node out: n1 predicted by 1,200 → 20 %; n2 by 1,000 → 16.7 %: median 18.3 %, max 20 %."""
    scrapes = _scrapes([("n1", 500, 0.5, 0), ("n1", 1000, 1.0, 0), ("n2", 600, 0.5, 0), ("n2", 9999, 0.1, 0)])
    fit = fit_throughput(scrapes, pd.Series({("chat", "a"): 1000.0})).iloc[0]
    assert fit["nodes"] == 2 and fit["scrapes"] == 3
    assert fit["tokens_per_s_per_node"] == pytest.approx(1100.0)
    assert fit["ci95_tokens_per_s_per_node"] == pytest.approx(12.7062 * 141.4214 / np.sqrt(2), rel=1e-4)
    assert fit["correction"] == pytest.approx(1.1)
    assert fit["loo_max_error"] == pytest.approx(0.2)
    assert fit["loo_median_error"] == pytest.approx((0.2 + 200 / 1200) / 2)


def test_power_fit_worked_by_hand():
    """P = 1,000 + 4,000 u exactly at u = 0.25, 0.5, 1.0 (two nodes): idle 1,000 W, peak 5,000 W, idle_frac 0.2;
    every leave-one-node-out fit is the same line, so its error is 0."""
    scrapes = _scrapes([("n1", 1, 0.25, 2000), ("n1", 1, 1.0, 5000), ("n2", 1, 0.5, 3000), ("n2", 1, 1.0, 5000)])
    fit = fit_power(scrapes).iloc[0]
    assert (fit["idle_w"], fit["peak_w"], fit["idle_frac"]) == pytest.approx((1000.0, 5000.0, 0.2))
    assert fit["loo_max_error"] == pytest.approx(0.0, abs=1e-9)


def test_the_shipped_sample_round_trips(tmp_path):
    """bench/make_telemetry_sample.py wrote the sample from known corrections (0.85, 1.05, 0.70): the fit recovers
    each within its 95 % interval, and the written table is a throughput table a scenario can name."""
    import sys
    sys.path.insert(0, str(ROOT / "bench"))
    from make_telemetry_sample import GROUND_TRUTH

    scenario_dir = tmp_path / "examples" / "example"
    shutil.copytree(EXAMPLE, scenario_dir)
    for table in ("catalog.csv", "sites.csv"):  # the example names the shipped tables beside data/
        shutil.copy(ROOT / "data" / table, tmp_path / table)
    result = CliRunner().invoke(main, ["calibrate", str(SAMPLE), "--scenario", str(scenario_dir / "scenario.yaml"),
                                       "--throughput-out", str(scenario_dir / "measured.csv"),
                                       "--json", str(tmp_path / "fit.json")])
    assert result.exit_code == 0, result.output
    predicted = model_predictions(load_scenario(scenario_dir / "scenario.yaml"))
    fits = {(row["workload"], row["sku"]): row for row in json.loads((tmp_path / "fit.json").read_text())["throughput"]}
    assert set(fits) == set(GROUND_TRUTH)
    for key, correction in GROUND_TRUTH.items():
        truth = correction * predicted[key]
        assert abs(fits[key]["tokens_per_s_per_node"] - truth) <= fits[key]["ci95_tokens_per_s_per_node"], key
    text = (scenario_dir / "scenario.yaml").read_text()
    (scenario_dir / "scenario.yaml").write_text(text + "\nthroughput: measured.csv\n")
    check = CliRunner().invoke(main, ["validate", str(scenario_dir / "scenario.yaml")])
    assert check.exit_code == 0, check.output


def test_bad_telemetry_names_file_row_and_column(tmp_path):
    bad = tmp_path / "t.csv"
    bad.write_text(",".join(COLUMNS) + "\n"
                   "2026-11-02T00:00:00Z,n1,chat-8b,h100-80gb-x8,fp8,100,500,1.5\n"
                   "2026-11-02T00:00:15Z,n1,nope,h100-80gb-x8,fp8,100,500,0.5\n"
                   "2026-11-02T00:00:30Z,n1,chat-8b,h100-80gb-x8,bf16,100,500,0.5\n")
    result = CliRunner().invoke(main, ["calibrate", str(bad), "--scenario", str(EXAMPLE / "scenario.yaml"),
                                       "--json", str(tmp_path / "fit.json")])
    assert result.exit_code == 2, result.output
    assert "t.csv, row 2, column utilisation" in result.output
    assert not (tmp_path / "fit.json").exists()
