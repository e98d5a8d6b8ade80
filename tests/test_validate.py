"""`planner validate`: every rule gets a malformed file, exit code 2, and a message naming file, row and column."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from planner.cli import main
from scenario_files import CLOUD, OWNED_FREE_ENERGY, inference, sku, training, write_scenario


@pytest.fixture
def scenario(tmp_path):
    """A valid two-quarter scenario with one training run and one inference service."""
    return write_scenario(
        tmp_path, catalog=[sku(rent_usd_per_gpu_hour=2.0), sku(sku="b", price_usd=80000)],
        sites=[OWNED_FREE_ENERGY, CLOUD],
        workloads=[inference("chat", min_tokens_per_s_per_user=""), training("pretrain", 1, 10, "2027Q1", "2027Q2")],
        demand=[("chat", "2027Q1", 1000), ("chat", "2027Q2", 1500)], fleet=[("A", "a", 2, "2026Q1")], quarters=2)


def run(path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def edit_csv(path, row: int, column: str, value) -> None:
    """Set one cell; `row` is the spreadsheet row (header = 1)."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[row - 2, column] = str(value)
    frame.to_csv(path, index=False)


def test_valid_scenario_prints_one_line_summary(scenario):
    code, output = run(scenario)
    assert code == 0
    assert output.strip().splitlines() == [
        f"{scenario.parent.name}: valid: 2 SKUs, 2 sites, 1 training runs, 1 inference services, "
        "2 quarters from 2027Q1"]


@pytest.mark.parametrize("table, row, column, value, message", [
    ("catalog.csv", 2, "gpus_per_node", "eight", "catalog.csv, row 2, column gpus_per_node: 'eight' is not a number"),
    ("catalog.csv", 3, "gpus_per_node", "7.5", "catalog.csv, row 3, column gpus_per_node: '7.5' is not a whole number"),
    ("catalog.csv", 2, "price_usd", "nan", "catalog.csv, row 2, column price_usd: 'nan' is not a finite number"),
    ("catalog.csv", 2, "node_kw", "inf", "catalog.csv, row 2, column node_kw: 'inf' is not a finite number"),
    ("catalog.csv", 2, "price_usd", "0", "catalog.csv, row 2, column price_usd: 0 must be > 0"),
    ("catalog.csv", 3, "hbm_gb", "-80", "catalog.csv, row 3, column hbm_gb: -80 must be > 0"),
    ("catalog.csv", 2, "idle_frac", "1.2", "catalog.csv, row 2, column idle_frac: 1.2 must be in (0, 1]"),
    ("catalog.csv", 2, "idle_frac", "0", "catalog.csv, row 2, column idle_frac: 0 must be in (0, 1]"),
    ("catalog.csv", 2, "available_from", "2026-Q1",
     "catalog.csv, row 2, column available_from: '2026-Q1' is not a quarter like 2027Q1"),
    ("catalog.csv", 3, "sku", "a", "catalog.csv, row 3, column sku: duplicate key (sku=a)"),
    ("catalog.csv", 2, "price_usd", "", "catalog.csv, row 2, column price_usd: value is required"),
    ("sites.csv", 2, "kind", "colo", "sites.csv, row 2, column kind: 'colo' is not one of owned, cloud"),
    ("sites.csv", 2, "pue", "0.9", "sites.csv, row 2, column pue: 0.9 must be >= 1"),
    ("sites.csv", 2, "power_mw", "", "sites.csv, row 2, column power_mw: an owned site needs power_mw"),
    ("workloads.csv", 3, "mfu", "1.5", "workloads.csv, row 3, column mfu: 1.5 must be in [0.0001, 1]"),
    ("workloads.csv", 3, "deadline", "2026Q4",
     "workloads.csv, row 3, column deadline: 2026Q4 is outside the horizon (2027Q1..2027Q2)"),
    ("workloads.csv", 3, "precision", "fp16", "workloads.csv, row 3, column precision: 'fp16' is not one of"),
    ("workloads.csv", 3, "tokens_b", "", "workloads.csv, row 3, column tokens_b: a training run needs tokens_b"),
    ("workloads.csv", 2, "context_tokens", "",
     "workloads.csv, row 2, column context_tokens: an inference service needs context_tokens"),
    ("workloads.csv", 2, "sites", "A;mars", "workloads.csv, row 2, column sites: unknown site 'mars'"),
    ("workloads.csv", 3, "workload", "chat", "workloads.csv, row 3, column workload: duplicate key (workload=chat)"),
    ("demand.csv", 2, "workload", "chatbot", "demand.csv, row 2, column workload: unknown workload 'chatbot'"),
    ("demand.csv", 2, "workload", "pretrain",
     "demand.csv, row 2, column workload: 'pretrain' is a training run: demand is for inference"),
    ("demand.csv", 3, "quarter", "2028Q1",
     "demand.csv, row 3, column quarter: 2028Q1 is outside the horizon (2027Q1..2027Q2)"),
    ("demand.csv", 3, "quarter", "2027Q1",
     "demand.csv, row 3, column workload: duplicate key (workload=chat, quarter=2027Q1)"),
    ("demand.csv", 2, "tokens_per_s", "-5", "demand.csv, row 2, column tokens_per_s: -5 must be >= 0"),
    ("fleet.csv", 2, "sku", "z", "fleet.csv, row 2, column sku: unknown sku 'z'"),
    ("fleet.csv", 2, "site", "cloud",
     "fleet.csv, row 2, column site: site 'cloud' is a cloud site: a fleet is owned hardware"),
    ("fleet.csv", 2, "installed", "2030Q1",
     "fleet.csv, row 2, column installed: 2030Q1 is after the horizon (2027Q1..2027Q2)"),
])
def test_bad_cell_is_reported_with_file_row_and_column(scenario, table, row, column, value, message):
    edit_csv(scenario.parent / table, row, column, value)
    code, output = run(scenario)
    assert code == 2
    assert message in output
    assert "Traceback" not in output


def test_deadline_before_start(scenario):
    edit_csv(scenario.parent / "workloads.csv", 3, "start", "2027Q2")
    edit_csv(scenario.parent / "workloads.csv", 3, "deadline", "2027Q1")
    code, output = run(scenario)
    assert code == 2
    assert "workloads.csv, row 3, column deadline: deadline 2027Q1 is before start 2027Q2" in output


def test_misspelled_column_suggests_the_closest_name(scenario):
    path = scenario.parent / "catalog.csv"
    path.write_text(path.read_text().replace("price_usd", "price_usdd", 1))
    code, output = run(scenario)
    assert code == 2
    assert "catalog.csv, row 1, column price_usdd: unknown column 'price_usdd': did you mean 'price_usd'?" in output


def test_missing_column_is_named(scenario):
    frame = pd.read_csv(scenario.parent / "sites.csv", dtype=str, keep_default_na=False)
    frame.drop(columns=["gco2_per_kwh"]).to_csv(scenario.parent / "sites.csv", index=False)
    code, output = run(scenario)
    assert code == 2
    assert "sites.csv, row 1, column gco2_per_kwh: missing column 'gco2_per_kwh'" in output


def test_unknown_column_is_a_warning_not_an_error(scenario):
    frame = pd.read_csv(scenario.parent / "sites.csv", dtype=str, keep_default_na=False)
    frame.assign(owner="ops team").to_csv(scenario.parent / "sites.csv", index=False)
    result = CliRunner().invoke(main, ["validate", str(scenario)])
    assert result.exit_code == 0
    assert "warning: sites.csv: unknown column 'owner' ignored" in result.output


def test_empty_table(scenario):
    (scenario.parent / "workloads.csv").write_text(",".join(
        ["workload", "kind", "params_b", "precision", "tokens_b", "start", "deadline", "context_tokens"]) + "\n")
    (scenario.parent / "demand.csv").write_text("workload,quarter,tokens_per_s\n")
    code, output = run(scenario)
    assert code == 2
    assert "workloads.csv: the workloads table has no rows" in output


def test_every_problem_is_reported_at_once(scenario):
    edit_csv(scenario.parent / "catalog.csv", 2, "price_usd", "free")
    edit_csv(scenario.parent / "sites.csv", 2, "pue", "0.5")
    code, output = run(scenario)
    assert code == 2
    assert "error: 2 problem(s) in the input:" in output
    assert "catalog.csv, row 2, column price_usd" in output and "sites.csv, row 2, column pue" in output


def test_workload_no_sku_can_hold_is_rejected(scenario):
    """5,000B params in bf16 = 10 TB of weights > 8 nodes × 576 GB usable (the 8-node replica limit)."""
    edit_csv(scenario.parent / "workloads.csv", 2, "params_b", "5000")
    code, output = run(scenario)
    assert code == 2
    assert "workloads.csv, row 2, column workload: no SKU can run 'chat'" in output


def test_unreachable_slo_is_rejected(scenario):
    edit_csv(scenario.parent / "workloads.csv", 2, "min_tokens_per_s_per_user", "100000")
    code, output = run(scenario)
    assert code == 2
    assert "no SKU can run 'chat'" in output and "SLO" in output


def test_workload_no_allowed_site_can_host(scenario):
    """Only site A allowed, and A's 5 kW cap cannot power a single 10 kW node."""
    edit_csv(scenario.parent / "sites.csv", 2, "power_mw", "0.005")
    edit_csv(scenario.parent / "workloads.csv", 2, "sites", "A")
    code, output = run(scenario)
    assert code == 2
    assert "workloads.csv, row 2, column sites: no allowed site can host 'chat'" in output
    assert "cap 5 kW" in output


def test_each_hosting_rule_is_named_per_site_and_sku(tmp_path):
    """One 70B bf16 service (140 GB of weights), two quarters from 2027Q1 (the last is 2027Q2), three SKUs that no
    site can host, each for its own first broken rule, at owned site A (5 kW cap, 1 rack) and a cloud site:
    - a: 8 × 80 GB × 0.9 = 576 GB usable holds it on 1 node of 10 kW > A's 0.005 MW = 5 kW cap;
    - late: available from 2028Q1, after 2027Q2 (its power would fail too: time is checked first);
    - dense: 8 × 10 GB × 0.9 = 72 GB usable a node, so 140 GB needs 2 nodes of 1 kW (2 kW fits 5 kW) at one node
      per rack: 2 racks > 1;
    - at the cloud site none of the three is rentable.
    The rules are written once (`_hosting`), so the message and the decision cannot disagree."""
    site = dict(OWNED_FREE_ENERGY, power_mw=0.005, racks=1)
    path = write_scenario(tmp_path, catalog=[sku(), sku(sku="late", available_from="2028Q1"),
                                             sku(sku="dense", node_kw=1, hbm_gb=10, nodes_per_rack=1)],
                          sites=[site, CLOUD], workloads=[inference("chat", params_b=70)],
                          demand=[("chat", "2027Q1", 1000)], quarters=2)
    code, output = run(path)
    assert code == 2
    assert ("workloads.csv, row 2, column sites: no allowed site can host 'chat' (site A: a needs 10 kW at full "
            "load, cap 5 kW, late cannot be in service by 2027Q2, dense needs 2 racks, site has 1; site cloud: a not "
            "rentable, late not rentable, dense not rentable)") in output


@pytest.mark.parametrize("change, message", [
    ({"quartrs": 2}, "unknown key 'quartrs': did you mean 'quarters'?"),
    ({"start": "2027-01"}, "'start' must be a quarter like 2027Q1, got '2027-01'"),
    ({"quarters": 0}, "'quarters' must be a whole number from 1 to 400 (100 years), got 0"),
    ({"finance": {"capex_mode": "lease"}}, "'finance.capex_mode' must be one of depreciation, cash, got 'lease'"),
    ({"finance": {"discount_rate": "high"}}, "'finance.discount_rate' must be a finite number, got 'high'"),
    ({"planning": {"headroom": 1.0}}, "'planning.headroom' must be < 1, got 1"),
    ({"solver": {"backend": "gurobi"}}, "'solver.backend' must be one of scip, highs, cp-sat, cbc, heuristic, got 'gurobi'"),
    ({"demand": "missing.csv"}, "missing.csv: file not found"),
])
def test_bad_scenario_keys(scenario, change, message):
    config = yaml.safe_load(scenario.read_text())
    config.update(change)
    scenario.write_text(yaml.safe_dump(config))
    code, output = run(scenario)
    assert code == 2
    assert message in output


def test_malformed_yaml(scenario):
    scenario.write_text("name: [unclosed\n")
    code, output = run(scenario)
    assert code == 2
    assert "scenario.yaml" in output and "not valid YAML" in output


def test_missing_scenario_file(tmp_path):
    code, output = run(tmp_path / "nope.yaml")
    assert code == 2
    assert "scenario file not found" in output


def test_xlsx_tables_with_named_sheet(scenario):
    """Tables may be workbooks: `file.xlsx` is the first sheet, `file.xlsx#Sheet` a named one; rows keep their
    spreadsheet numbers in messages."""
    folder = scenario.parent
    with pd.ExcelWriter(folder / "inputs.xlsx") as writer:
        pd.DataFrame({"note": ["first sheet"]}).to_excel(writer, sheet_name="Notes", index=False)
        pd.read_csv(folder / "demand.csv").to_excel(writer, sheet_name="Demand", index=False)
    config = yaml.safe_load(scenario.read_text())
    config["demand"] = "inputs.xlsx#Demand"
    scenario.write_text(yaml.safe_dump(config))
    assert run(scenario)[0] == 0

    frame = pd.read_csv(folder / "demand.csv", dtype=str)
    frame.loc[1, "tokens_per_s"] = "lots"
    with pd.ExcelWriter(folder / "inputs.xlsx") as writer:
        frame.to_excel(writer, sheet_name="Demand", index=False)
    code, output = run(scenario)
    assert code == 2
    assert "inputs.xlsx#Demand, row 3, column tokens_per_s: 'lots' is not a number" in output


def test_duplicate_column_is_an_error(scenario):
    path = scenario.parent / "demand.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0] + ",quarter"] + [line + ",2027Q1" for line in lines[1:]]) + "\n")
    code, output = run(scenario)
    assert code == 2
    assert "demand.csv, row 1, column quarter: duplicate column 'quarter'" in output


def test_bad_risk_section_is_reported_by_validate(scenario):
    config = yaml.safe_load(scenario.read_text())
    config["risk"] = {"samples": -5, "allocation": "random"}
    scenario.write_text(yaml.safe_dump(config))
    code, output = run(scenario)
    assert code == 2
    assert "key risk.samples" in output and "key risk.allocation" in output


def test_fleet_over_the_power_cap_is_named(scenario):
    """Two fleet nodes of `a` (10 kW, PUE 1.0) need 20 kW; a 15 kW cap cannot hold them."""
    edit_csv(scenario.parent / "sites.csv", 2, "power_mw", "0.015")
    code, output = run(scenario)
    assert code == 2
    assert ("fleet.csv, row 2, column nodes: site A's existing fleet needs 20.0 kW at full load in 2027Q1, above "
            "the site's 15.0 kW power cap") in output
