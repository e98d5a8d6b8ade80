"""Scenario inheritance (`extends:`), replaced keys and dotted-key overrides (`overrides:`, `--set`).

Small scenarios only (the worked example, tests/cases/worked-example, and the shipped example); one tiny plan.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from models.errors import InputError
from models.quarters import parse_quarter
from models.risk_settings import RiskSettings
from planner.cli import main
from planner.inheritance import changes, resolve
from planner.pipeline import plan_document, run_plan
from planner.plan_file import recorded_set_overrides
from planner.scenario import load_scenario, parse_override_value

CASES = Path(__file__).resolve().parent / "cases"
WORKED_EXAMPLE = CASES / "worked-example"
EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "examples" / "example" / "scenario.yaml"


def invoke(*args) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.output


def base_copy(folder: Path) -> Path:
    """The worked example copied to `folder` (its scenario.yaml path)."""
    shutil.copytree(WORKED_EXAMPLE, folder)
    return folder / "scenario.yaml"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def problems_of(path, overrides=None) -> list[str]:
    with pytest.raises(InputError) as caught:
        load_scenario(path, overrides)
    return [str(problem) for problem in caught.value.problems]


# --- chains ---------------------------------------------------------------------------------------------

def test_three_level_chain_in_different_folders(tmp_path):
    """root (base/) <- mid (mid/, replaces demand with its own demand.csv and the horizon) <- leaf (leaf/deep/,
    overrides one cell of the demand it inherits from mid and one of the catalog it inherits from root).

    Each table is read from the folder of the file that names it: catalog, sites, workloads, throughput from
    base/; demand from mid/. By hand: mid's demand is chat 2027Q1 1,000, 2027Q2 2,000, 2027Q3 3,000; the leaf
    sets 2027Q3 to 3,500; the horizon is mid's 3 quarters; the name is the leaf's own (file stem: names are not
    inherited); finance is the root's (discount 0.08) with the leaf's carbon price 0."""
    root = base_copy(tmp_path / "base")
    write(tmp_path / "mid" / "demand.csv", "workload,quarter,tokens_per_s\nchat,2027Q1,1000\nchat,2027Q2,2000\n"
                                           "chat,2027Q3,3000\n")
    mid = write(tmp_path / "mid" / "mid.yaml", "extends: ../base/scenario.yaml\nname: mid\nquarters: 3\n"
                                                "demand: demand.csv\n")
    leaf = write(tmp_path / "leaf" / "deep" / "leaf.yaml",
                 "extends: ../../mid/mid.yaml\noverrides:\n  demand.chat/2027Q3.tokens_per_s: 3500\n"
                 "  catalog.h.price_usd: 200000\n  finance.carbon_usd_per_t: 0\n")
    scenario = load_scenario(leaf)
    assert scenario.name == "leaf"
    assert scenario.horizon.quarters == 3
    assert scenario.demand["tokens_per_s"].tolist() == [1000.0, 2000.0, 3500.0]
    assert scenario.catalog.at["h", "price_usd"] == 200_000
    assert scenario.finance.discount_rate == 0.08 and scenario.finance.carbon_usd_per_t == 0
    assert scenario.chain == (root.resolve(), mid.resolve(), leaf.resolve())
    files = scenario.input_files
    assert files["scenario"] == leaf.resolve()
    assert files["base 1"] == mid.resolve() and files["base 2"] == root.resolve()
    assert files["demand"] == (tmp_path / "mid" / "demand.csv").resolve()
    assert files["catalog"] == (tmp_path / "base" / "catalog.csv").resolve()
    assert files["throughput"] == (tmp_path / "base" / "throughput.csv").resolve()


def test_a_replaced_table_is_read_from_the_replacing_files_folder_and_messages_name_it_from_the_scenario(tmp_path):
    """An inherited table keeps its base's folder; a message about it names it relative to the scenario given."""
    base_copy(tmp_path / "base")
    write(tmp_path / "base" / "sites.csv", "site,kind,power_mw,pue,usd_per_kwh,gco2_per_kwh,racks\n"
                                           "A,owned,0.025,0.5,0.10,400,10\ncloud,cloud,,1.1,,300,\n")
    child = write(tmp_path / "child" / "child.yaml", "extends: ../base/scenario.yaml\n")
    assert problems_of(child) == ["../base/sites.csv, row 2, column pue: 0.5 must be >= 1"]


def test_extends_the_shipped_example_from_a_temporary_folder(tmp_path):
    """The issue's own example, extending data/examples/example from elsewhere; every value checked by hand
    against data/catalog.csv, data/sites.csv and the example's tables."""
    base = load_scenario(EXAMPLE)
    child = write(tmp_path / "high.yaml", f"""\
extends: {os.path.relpath(EXAMPLE, tmp_path)}
name: high-growth
overrides:
  finance.discount_rate: 0.10
  demand.scale: 1.3
  catalog.b200-x8.lead_quarters: 3
  sites.texas.usd_per_kwh: 0.079
  workloads.train-405b-base.deadline: 2028Q3
""")
    scenario = load_scenario(child)
    assert scenario.name == "high-growth"
    assert scenario.finance.discount_rate == 0.10
    assert scenario.finance.budget_usd_per_quarter == 40_000_000  # the rest of finance is the example's
    assert (base.catalog.at["b200-x8", "lead_quarters"], scenario.catalog.at["b200-x8", "lead_quarters"]) == (2, 3)
    assert (base.sites.at["texas", "usd_per_kwh"], scenario.sites.at["texas", "usd_per_kwh"]) == (0.066, 0.079)
    deadline = parse_quarter("2028Q3") - parse_quarter("2027Q1")  # 6: quarters count from the start
    assert scenario.workloads.at["train-405b-base", "deadline"] == deadline == 6
    assert base.workloads.at["train-405b-base", "deadline"] == 5
    assert scenario.input_files["fleet"] == EXAMPLE.parent.resolve() / "fleet.csv"


def test_demand_scale_multiplies_every_row_exactly():
    """`demand.scale: 1.3` on the shipped example: each of its 90 demand rows is the file's value × 1.3, the same
    float as multiplying the parsed value (the scaled text is written with repr, which reads back exactly); by
    hand, chat-8b 2027Q1: 500,000 × 1.3 = 650,000 tokens/s."""
    base = load_scenario(EXAMPLE)
    scaled = load_scenario(EXAMPLE, {"demand.scale": 1.3})
    assert len(scaled.demand) == len(base.demand) == 90
    assert (scaled.demand[["workload", "quarter"]] == base.demand[["workload", "quarter"]]).all().all()
    assert (scaled.demand["tokens_per_s"].to_numpy() == base.demand["tokens_per_s"].to_numpy() * 1.3).all()
    first = scaled.demand.iloc[0]
    assert (first["workload"], first["quarter"], first["tokens_per_s"]) == ("chat-8b", 0, 650_000.0)


def test_demand_scale_of_one_workload_and_a_later_cell(tmp_path):
    """Worked example: demand chat 1,500 and 2,500. `demand.chat.scale: 2` gives 3,000 and 5,000, then the cell
    override of 2027Q2 sets 4,000: overrides apply in the order given."""
    scenario = load_scenario(WORKED_EXAMPLE / "scenario.yaml",
                             {"demand.chat.scale": 2, "demand.chat/2027Q2.tokens_per_s": 4000})
    assert scenario.demand["tokens_per_s"].tolist() == [3000.0, 4000.0]


def test_demand_growth_scales_each_workloads_growth_over_the_first_quarter():
    """`demand.growth: 1.3` on the shipped example (start 2027Q1), d_q -> d_0 + 1.3 (d_q − d_0), d_0 the
    workload's demand in 2027Q1, as the risk model's demand_growth. By hand: chat-8b 500,000, 650,000, 800,000,
    1,000,000 -> 500,000, 500,000 + 1.3 × 150,000 = 695,000, 500,000 + 1.3 × 300,000 = 890,000,
    500,000 + 1.3 × 500,000 = 1,150,000. agent-405b has no 2027Q1 row (it starts 2027Q3), so d_0 = 0 and its
    rows are × 1.3: 2027Q3 10,000 -> 13,000."""
    grown = load_scenario(EXAMPLE, {"demand.growth": 1.3}).demand.set_index(["workload", "quarter"])
    grown = grown["tokens_per_s"]
    assert grown.loc["chat-8b"].iloc[:4].tolist() == pytest.approx([500_000, 695_000, 890_000, 1_150_000],
                                                                   rel=1e-12)
    assert grown.loc[("agent-405b", 2)] == pytest.approx(13_000, rel=1e-12)
    same = load_scenario(EXAMPLE, {"demand.chat-8b.growth": 1.0}).demand
    assert same["tokens_per_s"].tolist() == load_scenario(EXAMPLE).demand["tokens_per_s"].tolist()


def test_demand_growth_of_one_workload_that_turns_negative_is_an_input_error():
    """Worked example, chat 1,500 (2027Q1) then 500 by a cell override: `demand.chat.growth: 3` gives
    1,500 + 3 × (500 − 1,500) = −1,500 in 2027Q2, refused by the demand table's own check, naming the override;
    growth 0.5 gives 1,500 + 0.5 × (−1,000) = 1,000."""
    path = WORKED_EXAMPLE / "scenario.yaml"
    cell = {"demand.chat/2027Q2.tokens_per_s": 500}
    assert load_scenario(path, {**cell, "demand.chat.growth": 0.5}).demand["tokens_per_s"].tolist() == [1500, 1000]
    with pytest.raises(InputError) as raised:
        load_scenario(path, {**cell, "demand.chat.growth": 3})
    assert any("tokens_per_s" in str(p) and "demand.chat.growth" in str(p) for p in raised.value.problems), \
        [str(p) for p in raised.value.problems]


# --- every override form --------------------------------------------------------------------------------

def test_section_and_top_level_overrides(tmp_path):
    path = WORKED_EXAMPLE / "scenario.yaml"
    scenario = load_scenario(path, {
        "finance.discount_rate": 0.1, "finance.budget_usd_per_quarter": 1e6, "finance.capex_mode": "cash",
        "planning.headroom": 0.2, "solver.backend": "highs", "solver.time_limit_s": 5, "risk.samples": 100,
        "quarters": 3, "start": "2027Q1", "name": "what-if"})
    assert scenario.finance.discount_rate == 0.1 and scenario.finance.budget_usd_per_quarter == 1e6
    assert scenario.finance.capex_mode == "cash"
    assert scenario.finance.carbon_usd_per_t == 50  # untouched keys of the section stay
    assert scenario.headroom == 0.2
    assert (scenario.solver.backend, scenario.solver.time_limit_s) == ("highs", 5)
    assert scenario.risk == RiskSettings(samples=100)
    numpy_values = load_scenario(path, {"quarters": np.int64(3), "finance.discount_rate": np.float64(0.1)})
    assert numpy_values.horizon.quarters == 3 and numpy_values.finance.discount_rate == 0.1
    assert scenario.horizon.quarters == 3 and scenario.name == "what-if"


def test_table_cells_of_every_table(tmp_path):
    """catalog, sites, workloads by their key; fleet, demand, throughput by their compound key joined with '/';
    a list for `sites`; null empties a cell; a column absent from the file is added."""
    root = base_copy(tmp_path / "base")
    write(root.parent / "fleet.csv", "site,sku,nodes,installed\nA,h,1,2026Q4\n")
    child = write(tmp_path / "child.yaml", """\
extends: base/scenario.yaml
fleet: base/fleet.csv
overrides:
  catalog.h.rent_usd_per_gpu_hour: null
  catalog.h.available_from: 2026Q2
  sites.A.power_mw: 0.05
  workloads.chat.sites: [A, cloud]
  workloads.chat.mfu: 0.5
  fleet.A/h/2026Q4.nodes: 2
  demand.chat/2027Q1.tokens_per_s: 1600
  throughput.chat/h.tokens_per_s_per_node: 900
""")
    scenario = load_scenario(child)
    assert scenario.catalog.at["h", "rent_usd_per_gpu_hour"] != scenario.catalog.at["h", "rent_usd_per_gpu_hour"]
    assert scenario.catalog.at["h", "available_from"] == parse_quarter("2026Q2") - parse_quarter("2027Q1")
    assert scenario.sites.at["A", "power_mw"] == 0.05
    assert scenario.workloads.at["chat", "sites"] == ("A", "cloud")
    assert scenario.workloads.at["chat", "mfu"] == 0.5
    assert scenario.fleet["nodes"].tolist() == [2]
    assert scenario.demand["tokens_per_s"].tolist() == [1600.0, 2500.0]
    assert scenario.throughput["tokens_per_s_per_node"].tolist() == [900.0]


def test_a_table_file_replaced_by_an_override_is_relative_to_who_gives_it(tmp_path, monkeypatch):
    """In a file's `overrides:` relative to that file; on the command line (--set) relative to the working folder."""
    base_copy(tmp_path / "base")
    write(tmp_path / "child" / "low.csv", "workload,quarter,tokens_per_s\nchat,2027Q1,10\n")
    child = write(tmp_path / "child" / "child.yaml", "extends: ../base/scenario.yaml\noverrides:\n"
                                                     "  demand: low.csv\n")
    assert load_scenario(child).demand["tokens_per_s"].tolist() == [10.0]
    write(tmp_path / "elsewhere" / "high.csv", "workload,quarter,tokens_per_s\nchat,2027Q2,20\n")
    monkeypatch.chdir(tmp_path / "elsewhere")
    scenario = load_scenario(child, {"demand": "high.csv"})
    assert scenario.demand["tokens_per_s"].tolist() == [20.0]
    assert scenario.input_files["demand"] == (tmp_path / "elsewhere" / "high.csv").resolve()


def test_a_child_replaces_a_whole_section_and_can_drop_an_optional_table(tmp_path):
    """A top-level key is replaced, not merged: `finance: {discount_rate: 0}` leaves every other finance key at its
    default (carbon 0, unmet $1,000), which `--show` spells out; `fleet: null` drops the inherited fleet."""
    root = base_copy(tmp_path / "base")
    write(root.parent / "fleet.csv", "site,sku,nodes,installed\nA,h,1,2026Q4\n")
    with root.open("a") as handle:
        handle.write("fleet: fleet.csv\n")
    child = write(tmp_path / "child.yaml", "extends: base/scenario.yaml\nfinance: {discount_rate: 0}\nfleet: null\n")
    scenario = load_scenario(child)
    assert scenario.finance.discount_rate == 0 and scenario.finance.carbon_usd_per_t == 0
    assert scenario.finance.unmet_usd_per_unit == 1_000
    assert scenario.fleet.empty
    assert changes(resolve(child)) == [
        "child.yaml: finance.discount_rate: 0.08 -> 0",
        "child.yaml: finance.capex_mode: depreciation -> (not set)",
        "child.yaml: finance.carbon_usd_per_t: 50 -> (not set)",
        "child.yaml: finance.unmet_usd_per_unit: 1000000 -> (not set)",
        "child.yaml: fleet: base/fleet.csv -> (not set)",
    ]


def test_replacing_a_table_drops_the_overrides_made_to_the_one_it_replaces(tmp_path):
    base = base_copy(tmp_path / "base")
    with base.open("a") as handle:
        handle.write("overrides:\n  demand.scale: 10\n")
    write(tmp_path / "demand.csv", "workload,quarter,tokens_per_s\nchat,2027Q1,7\n")
    child = write(tmp_path / "child.yaml", "extends: base/scenario.yaml\ndemand: demand.csv\n")
    assert load_scenario(base).demand["tokens_per_s"].tolist() == [15_000.0, 25_000.0]
    assert load_scenario(child).demand["tokens_per_s"].tolist() == [7.0]


def test_parse_override_value_reads_text_as_yaml_does():
    assert parse_override_value("0.10") == 0.1
    assert parse_override_value("4e7") == 4e7 and isinstance(parse_override_value("4e7"), float)
    assert parse_override_value("3") == 3 and isinstance(parse_override_value("3"), int)
    assert parse_override_value("2028Q3") == "2028Q3"
    assert parse_override_value("true") is True
    assert parse_override_value("") is None and parse_override_value("null") is None
    assert parse_override_value("[texas, oregon]") == "texas;oregon"
    with pytest.raises(InputError, match="must be a number, text, true/false or empty, got a mapping"):
        parse_override_value("{a: 1}")


def test_a_scenario_with_overrides_survives_pickling():
    """Sweeps ship scenarios to Dask workers."""
    scenario = load_scenario(WORKED_EXAMPLE / "scenario.yaml", {"demand.scale": 2, "finance.discount_rate": 0})
    again = pickle.loads(pickle.dumps(scenario))
    assert again.overrides == scenario.overrides and again.chain == scenario.chain
    assert again.demand.equals(scenario.demand)


# --- errors ---------------------------------------------------------------------------------------------

def test_a_cycle_names_the_file_and_the_cycle(tmp_path):
    write(tmp_path / "a.yaml", "extends: b.yaml\n")
    write(tmp_path / "b.yaml", "extends: ./a.yaml\n")
    code, output = invoke("validate", tmp_path / "a.yaml")
    assert code == 2
    assert "b.yaml, line 1, key extends: extends './a.yaml' makes a cycle: a.yaml -> b.yaml -> a.yaml" in output
    write(tmp_path / "self.yaml", "extends: self.yaml\n")
    assert problems_of(tmp_path / "self.yaml") == [
        "self.yaml, line 1, key extends: extends 'self.yaml' makes a cycle: self.yaml -> self.yaml"]


def test_a_missing_or_malformed_base_is_an_input_error_naming_the_file(tmp_path):
    child = write(tmp_path / "child.yaml", "extends: ../nowhere/base.yaml\n")
    assert problems_of(child) == [f"child.yaml, line 1, key extends: extends '../nowhere/base.yaml': base scenario not "
                                  f"found ({tmp_path}/../nowhere/base.yaml)"]
    write(tmp_path / "list.yaml", "extends: [a.yaml, b.yaml]\n")
    assert problems_of(tmp_path / "list.yaml") == [
        "list.yaml, line 1, key extends: 'extends' must be the file name of the base scenario, got ['a.yaml', 'b.yaml']"]
    write(tmp_path / "base" / "broken.yaml", "name: [unclosed\n")
    write(tmp_path / "child2.yaml", "extends: base/broken.yaml\n")
    assert problems_of(tmp_path / "child2.yaml")[0].startswith("base/broken.yaml, line 2: not valid YAML")


def test_every_file_of_the_chain_is_bounded(tmp_path):
    """The size and alias-bomb bounds of a scenario file hold for a base too (named as the chain names it)."""
    write(tmp_path / "big" / "base.yaml", "name: x\n" + "# padding\n" * 120_000)
    write(tmp_path / "child.yaml", "extends: big/base.yaml\n")
    assert problems_of(tmp_path / "child.yaml") == [
        "big/base.yaml: file is 1.1 MiB, above the 1 MiB limit for an input file"]
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcde", "bcdef"))
    write(tmp_path / "bomb.yaml", bomb)
    write(tmp_path / "child3.yaml", "extends: bomb.yaml\n")
    assert problems_of(tmp_path / "child3.yaml") == [
        "bomb.yaml: the YAML expands to more than 10,000 values (aliases repeated inside aliases?); a scenario "
        "needs a few dozen"]


def test_unknown_table_row_column_and_section_key_suggest_the_closest_name(tmp_path):
    child = write(tmp_path / "child.yaml", f"""\
extends: {os.path.relpath(WORKED_EXAMPLE / "scenario.yaml", tmp_path)}
overrides:
  site.A.usd_per_kwh: 0.079
  catalog.hh.lead_quarters: 3
  catalog.h.lead_quarter: 3
  finance.discount_rat: 0.1
  demand.chatt.scale: 2
  demand.chat/2027q2.tokens_per_s: 1
  catalog.price_usd: 1
  catalog.h.sku: g
  finance: 3
""")
    base = os.path.relpath(WORKED_EXAMPLE, tmp_path)
    assert sorted(problems_of(child)) == sorted([
        "child.yaml, line 3, key overrides.site.A.usd_per_kwh: unknown override 'site.A.usd_per_kwh': 'site' is not a "
        "section, table or top-level key: did you mean 'sites'?",
        f"child.yaml, line 4, key overrides.catalog.hh.lead_quarters: no row 'hh' in catalog ({base}/catalog.csv, key "
        "sku): did you mean 'h'?",
        "child.yaml, line 5, key overrides.catalog.h.lead_quarter: unknown column 'lead_quarter' of catalog: did you "
        "mean 'lead_quarters'?",
        "child.yaml, line 6, key overrides.finance.discount_rat: unknown key 'finance.discount_rat' of the 'finance' "
        "section: did you mean 'finance.discount_rate'?",
        f"child.yaml, line 7, key overrides.demand.chatt.scale: no demand rows for workload 'chatt' in "
        f"{base}/demand.csv: did you mean 'chat'?",
        f"child.yaml, line 8, key overrides.demand.chat/2027q2.tokens_per_s: no row 'chat/2027q2' in demand "
        f"({base}/demand.csv, key workload/quarter): did you mean 'chat/2027Q2'?",
        "child.yaml, line 9, key overrides.catalog.price_usd: an override of a catalog cell is catalog.SKU.COLUMN",
        "child.yaml, line 10, key overrides.catalog.h.sku: 'sku' is the key of the catalog table: rename the row in the "
        "table file, not by an override",
        "child.yaml, line 11, key overrides.finance: an override of 'finance' names one of its keys: finance.KEY, KEY "
        "one of discount_rate, capex_mode, budget_usd_per_quarter, carbon_usd_per_t, unmet_usd_per_unit, "
        "unfinished_training_usd",
    ])


def test_a_bad_value_gets_the_files_message_naming_the_override(tmp_path):
    """The same check as a file: lead_quarters -2 in catalog.csv and by an override give one message; the override's
    says which override set it. A bad section value from --set is labelled `--set KEY`."""
    in_file = base_copy(tmp_path / "in-file")
    catalog = in_file.parent / "catalog.csv"
    catalog.write_text(catalog.read_text().replace(",0,2026Q1,", ",-2,2026Q1,"))
    message = "catalog.csv, row 2, column lead_quarters: -2 must be >= 0"
    assert problems_of(in_file) == [message]
    child = write(tmp_path / "child.yaml", "extends: over/scenario.yaml\noverrides:\n  catalog.h.lead_quarters: -2\n")
    base_copy(tmp_path / "over")
    assert problems_of(child) == [
        f"over/{message} (set by child.yaml overrides.catalog.h.lead_quarters)"]
    assert problems_of(child, {"finance.discount_rate": -0.5, "demand.scale": 1e9, "quarters": "x"}) == [
        "--set quarters: 'quarters' must be a whole number from 1 to 400 (100 years), got 'x'",
        "--set finance.discount_rate: 'finance.discount_rate' must be >= 0, got -0.5",
        "over/catalog.csv, row 2, column lead_quarters: -2 must be >= 0 (set by child.yaml "
        "overrides.catalog.h.lead_quarters)",
        "over/demand.csv, row 2, column tokens_per_s: 1500000000000.0 is above the limit of 1,000,000,000,000 "
        "for tokens_per_s (set by --set demand.scale)",
        "over/demand.csv, row 3, column tokens_per_s: 2500000000000.0 is above the limit of 1,000,000,000,000 "
        "for tokens_per_s (set by --set demand.scale)",
    ]


def test_a_key_set_by_a_base_is_reported_against_the_base(tmp_path):
    root = base_copy(tmp_path / "base")
    root.write_text(root.read_text().replace("planning: {headroom: 0.0}", "planning: {headroom: 1.5}"))
    child = write(tmp_path / "child.yaml", "extends: base/scenario.yaml\noverrides:\n  solver.gap: 2\n")
    assert sorted(problems_of(child)) == [
        "base/scenario.yaml, line 10, key planning.headroom: 'planning.headroom' must be < 1, got 1.5",
        "child.yaml, line 3, key overrides.solver.gap: 'solver.gap' must be <= 1, got 2",
    ]


def test_bad_overrides_mapping_and_value_and_set_option(tmp_path):
    base_copy(tmp_path / "base")
    child = write(tmp_path / "child.yaml", "extends: base/scenario.yaml\noverrides: [a, b]\n")
    assert problems_of(child) == ["child.yaml, line 2, key overrides: 'overrides' must be a mapping of dotted keys to "
                                  "values (finance.discount_rate: 0.1)"]
    child = write(tmp_path / "child2.yaml", "extends: base/scenario.yaml\noverrides:\n  quarters: {a: 1}\n")
    assert problems_of(child) == ["child2.yaml, line 3, key overrides.quarters: an override's value must be a number, "
                                  "text, true/false or empty, got a mapping"]
    assert problems_of(WORKED_EXAMPLE / "scenario.yaml", {"fleet.A/h/2027Q1.nodes": 1}) == [
        "--set fleet.A/h/2027Q1.nodes: the scenario has no fleet table to override"]
    code, output = invoke("validate", child, "--set", "quarters")
    assert code == 2 and "--set: expected KEY=VALUE (finance.discount_rate=0.1), got 'quarters'" in output


# --- validate --show and PLAN.json ----------------------------------------------------------------------

def test_validate_show_lists_the_chain_and_every_change_row_by_row(tmp_path):
    """Against the worked example: mid replaces demand (2027Q1 1,500 -> 1,500, 2027Q2 2,500 -> 3,000, a new
    2027Q3 row 4,000) and the horizon; the leaf overrides a catalog cell, scales demand by 2 (3 rows) and
    the discount rate; --set changes a site's price."""
    base_copy(tmp_path / "base")
    write(tmp_path / "mid" / "demand.csv", "workload,quarter,tokens_per_s\nchat,2027Q1,1500.0\nchat,2027Q2,3000\n"
                                           "chat,2027Q3,4000\n")
    write(tmp_path / "mid" / "mid.yaml", "extends: ../base/scenario.yaml\nquarters: 3\ndemand: demand.csv\n")
    leaf = write(tmp_path / "leaf.yaml", "extends: mid/mid.yaml\nname: leaf\noverrides:\n"
                                         "  catalog.h.lead_quarters: 1\n  demand.scale: 2\n"
                                         "  finance.discount_rate: 0.1\n")
    code, output = invoke("validate", leaf, "--show", "--set", "sites.A.usd_per_kwh=0.12")
    assert code == 0, output
    assert output.splitlines() == [
        "leaf: valid: 1 SKUs, 2 sites, 0 training runs, 1 inference services, 3 quarters from 2027Q1",
        "files, base first: base/scenario.yaml <- mid/mid.yaml <- leaf.yaml",
        "changes against base/scenario.yaml:",
        "  mid/mid.yaml: quarters: 2 -> 3",
        "  mid/mid.yaml: demand: base/demand.csv -> mid/demand.csv (1 rows changed, 1 added, 0 removed)",
        "    demand chat/2027Q2 tokens_per_s: 2500 -> 3000",
        "    demand chat/2027Q3: added (tokens_per_s 4000)",
        "  leaf.yaml overrides: catalog h lead_quarters: 0 -> 1",
        "  leaf.yaml overrides: demand: every tokens_per_s x 2 (3 rows)",
        "  leaf.yaml overrides: finance.discount_rate: 0.08 -> 0.1",
        "  --set: sites A usd_per_kwh: 0.10 -> 0.12",
    ]
    code, output = invoke("validate", leaf, "--show", "--json")
    verdict = json.loads(output)
    assert [Path(entry["path"]).name for entry in verdict["chain"]] == ["scenario.yaml", "mid.yaml", "leaf.yaml"]
    assert verdict["overrides"][1] == {"key": "demand.scale", "value": 2, "source": "leaf.yaml"}
    assert verdict["changes"][-1] == "leaf.yaml overrides: finance.discount_rate: 0.08 -> 0.1"


def test_plan_records_the_chain_and_the_overrides(tmp_path):
    """One tiny plan: the worked example (README: $111,108.18 at 8 %/year) extended with a 0 % discount rate.
    The plan is the same (2 nodes bought at A, 1 rented in 2027Q2) and every factor is 1, so the objective is the
    README's undiscounted quarter totals: 34,220.25 + 78,381.60 = $112,601.85. PLAN.json's inputs list both files
    with their SHA-256 and the override; a change to the base afterwards is reported against it by verify."""
    root = base_copy(tmp_path / "base")
    child = write(tmp_path / "what-if" / "child.yaml", "extends: ../base/scenario.yaml\noverrides:\n"
                                                       "  finance.discount_rate: 0\n")
    scenario = load_scenario(child, {"solver.time_limit_s": 30})
    plan = plan_document(run_plan(scenario))
    assert plan["objective_usd"] == pytest.approx(112_601.85, abs=0.01)
    inputs = plan["inputs"]
    assert inputs["chain"] == [{"path": str(path.resolve()), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
                               for path in (root, child)]
    assert inputs["sha256"]["base 1"] == inputs["chain"][0]["sha256"]
    assert inputs["sha256"]["scenario"] == inputs["chain"][1]["sha256"]
    assert inputs["overrides"] == [{"key": "finance.discount_rate", "value": 0, "source": "child.yaml"},
                                   {"key": "solver.time_limit_s", "value": 30, "source": "--set"}]
    assert recorded_set_overrides(plan) == {"solver.time_limit_s": 30}
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(json.dumps(plan))
    code, output = invoke("verify", child, plan_path)
    assert code == 0, output
    with root.open("a") as handle:
        handle.write("# edited\n")
    code, output = invoke("verify", child, plan_path)
    assert code == 0 and "base 1 changed since the plan was made" in output
