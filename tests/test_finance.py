"""Finance-grade answers: spend apart from shortfall penalties, the plan's problems said out loud, traceable money.

The mixed plan of tests/test_workbook.py (cash mode, discount rate 8 %/year, unmet_usd_per_unit $100,
unfinished_training_usd $1,000) is the hand-checkable case: `-2` may run only at site A, which holds 2 nodes of
1,000 tokens/s, and wants 2,500 tokens/s in 2027Q1, so 500 tokens/s go unmet there ($50,000 in quarter 0, discount
factor 1); the run `@x` (start 2027Q2, deadline 2027Q3) is left wholly undone, $1,000 charged in its deadline
quarter 2027Q3 (quarter 2, discount factor 1.08^(−2/4)).
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path
from types import SimpleNamespace

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from planner.cli import main
from planner.pipeline import plan_document, run_plan
from planner.scenario import load_scenario
from models.quarters import Horizon, parse_quarter
from models.money import purchase_book_values
from reports.tables import PENALTY_LINES, SPEND_LINES
from test_workbook import FORMULA_LOOKALIKES, mixed_scenario, plans, soffice_convert  # noqa: F401  (fixture reused)

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "examples" / "example" / "scenario.yaml"

UNMET_USD = 500 * 100.0
UNFINISHED_USD = 1_000.0


def close(a, b) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


def test_spend_and_penalty_lines_partition_the_objective():
    assert set(SPEND_LINES) == {"capex_usd", "depreciation_usd", "rent_usd", "energy_usd", "maintenance_usd",
                                "network_usd", "storage_usd", "carbon_usd"}
    assert PENALTY_LINES == ("unmet_usd", "unfinished_training_usd")


def test_mixed_plan_splits_spend_from_penalties(plans):  # noqa: F811
    plan, _, _ = plans["mixed"]
    assert plan["totals"]["penalty_usd"] == pytest.approx(UNMET_USD + UNFINISHED_USD, rel=1e-9)
    assert plan["discounted_penalty_usd"] == pytest.approx(UNMET_USD + UNFINISHED_USD * 1.08 ** -0.5, rel=1e-9)
    spend = sum(row[line] for row in plan["costs"] for line in SPEND_LINES)
    assert plan["totals"]["spend_usd"] == pytest.approx(spend, rel=1e-12)
    assert plan["discounted_spend_usd"] + plan["discounted_penalty_usd"] == plan["objective_usd"]  # exactly


def test_worked_example_has_no_penalties(plans):  # noqa: F811
    plan, _, _ = plans["worked"]
    assert plan["discounted_penalty_usd"] == 0.0 and plan["totals"]["penalty_usd"] == 0.0
    assert plan["discounted_spend_usd"] == plan["objective_usd"]


# --- warnings -------------------------------------------------------------------------------------------------

def test_mixed_plan_names_every_shortfall_dearest_first(plans):  # noqa: F811
    """`-2` (500 tokens/s unmet in 2027Q1 × $100 = $50,000): site A, its only site, holds 2 nodes of 10 kW under a
    20 kW cap, so its power is full that quarter. `@x` (all of it undone, $1,000 at its 2027Q3 deadline)."""
    plan, _, _ = plans["mixed"]
    _, only_a, run = FORMULA_LOOKALIKES[0], FORMULA_LOOKALIKES[2], FORMULA_LOOKALIKES[3]
    unmet, unfinished = plan["warnings"]
    assert (unmet["kind"], unmet["workload"], unmet["quarters"]) == ("unmet_demand", only_a, ["2027Q1"])
    assert unmet["amount"] == pytest.approx(500) and unmet["cost_usd"] == pytest.approx(UNMET_USD)
    assert "power cap at A is full in 2027Q1" in unmet["cause"]
    assert (unfinished["kind"], unfinished["workload"], unfinished["quarters"]) == \
        ("unfinished_training", run, ["2027Q3"])
    assert unfinished["amount"] == pytest.approx(1.0) and unfinished["cost_usd"] == pytest.approx(UNFINISHED_USD)
    assert "power cap at A" in unfinished["cause"]
    assert unfinished["message"].startswith("@x: 100.0% of the run is not done by its 2027Q3 deadline, $1,000")


def test_warnings_follow_the_order_list_on_the_summary_sheet(plans):  # noqa: F811
    """The Summary opens with what to buy (orders, then rentals); the problems come next, before the facts."""
    plan, _, path = plans["mixed"]
    ws = openpyxl.load_workbook(path)["Summary"]
    column_a = [ws.cell(row=r, column=1).value for r in range(1, ws.max_row + 1)]
    assert column_a[2].startswith("What to buy: 1 order,")
    problems = next(r for r, text in enumerate(column_a) if str(text).startswith("Problems in this plan (2)"))
    assert next(r for r, text in enumerate(column_a) if str(text).startswith("Rentals:")) < problems
    assert column_a[problems + 1:problems + 3] == [w["message"] for w in plan["warnings"]]
    assert problems < column_a.index("Scenario")
    ws = openpyxl.load_workbook(plans["worked"][2])["Summary"]
    assert any(str(text).startswith("No shortfall")
               for (text,) in ws.iter_rows(min_col=1, max_col=1, values_only=True))


def test_plan_command_prints_the_split_and_the_warnings(tmp_path):
    result = CliRunner().invoke(main, ["plan", str(mixed_scenario(tmp_path / "mixed")), "--time-limit", "30"])
    assert result.exit_code == 0, result.output
    # penalties: 50,000 in quarter 0 + 1,000 × 1.08^(−2/4) in quarter 2 = 50,962.25
    assert re.search(r"discounted spend \$[\d,.]+ \+ shortfall penalties \$50,962\.25 \(objective \$[\d,.]+\)",
                     result.output)
    assert "warning: -2: demand unmet in 2027Q1" in result.output
    assert "warning: @x: 100.0% of the run" in result.output


# The shipped catalog's 8-GPU SKUs of 2020-2025 the example was built on (data/README.md, examples/example).
EXAMPLE_2024_SKUS = ["a100-80gb-x8", "h100-80gb-x8", "h200-x8", "b200-x8", "mi300x-x8", "l40s-x8"]


def test_shipped_example_warns_about_the_unfinished_405b_run():
    """On the SKUs it was built on, the shipped example cannot finish train-405b-base by 2028Q2 (≈ 4.4 % undone at
    the optimum; a time-limited plan may leave a little more): the warning must name it, its deadline and a binding
    cap. With the whole shipped catalog the run finishes: a GB200 NVL72 rack costs $3 M / (72 x 2,500 dense BF16
    TFLOPS) = $16.7 per TFLOPS (H100 $300 k / 7,916 = $37.9, B200 $400 k / 18,000 = $22.2) and draws 120 kW /
    180,000 = 0.67 W per TFLOPS (H100 1.29, B200 0.79), so the optimum buys 26 racks and no cap stops the run; the
    warning path is exercised on the example's original six SKUs instead. Since the example became a 2026 fleet
    (docs/datacenter-2026.md: texas and virginia air-cooled at 30 and 25 kW a rack, so an 8-GPU node takes two
    rack slots there) the run's pool is at oregon, and oregon's power and racks are the caps that bind. Since the
    example carries fabric and failures (data/README.md) owned nodes pay their leaf network and lose availability
    and checkpoint time, so on these SKUs the optimum moves the whole run to rented cloud H100s (1,353
    node-quarters, measured) rather than leave ~17 % of it undone on site (a 60 s plan on a loaded machine
    left 20.7 %, so the bound is loose: the warning is what is tested): the test holds the run to the owned
    sites, as a data-residency rule would, to keep the warning path on the shipped data."""
    scenario = load_scenario(EXAMPLE)
    workloads = scenario.workloads.copy()
    workloads.at["train-405b-base", "sites"] = ("virginia", "texas", "oregon")
    scenario = dataclasses.replace(scenario, catalog=scenario.catalog.loc[EXAMPLE_2024_SKUS], workloads=workloads)
    plan = plan_document(run_plan(scenario, time_limit_s=60))
    named = {w["workload"]: w for w in plan["warnings"]}
    warning = named["train-405b-base"]
    assert warning["kind"] == "unfinished_training" and warning["quarters"] == ["2028Q2"]
    assert 0.0 < warning["amount"] < 0.5  # ~17 % at the optimum; 20.7 % seen at a 60 s limit on a loaded machine
    assert warning["cost_usd"] == pytest.approx(warning["amount"] * 1e9)
    assert "oregon" in warning["cause"]  # the liquid-cooled hall, the run's pool (docs/datacenter-2026.md)


# --- traceable money ------------------------------------------------------------------------------------------

def test_book_value_plus_charged_depreciation_is_the_price_per_order(plans):  # noqa: F811
    """Worked example (depreciation mode): 2 nodes of h at $240,000 ordered and in service in 2027Q1, horizon of
    2 quarters: charged 2 × 240,000 / (5 × 4) × 2 quarters = $48,000; book value 480,000 − 48,000 = $432,000."""
    plan, _, _ = plans["worked"]
    (order,) = plan["purchases"]
    assert order["charged_in_horizon_usd"] == pytest.approx(48_000.0)
    assert order["book_value_end_usd"] == pytest.approx(432_000.0)
    assert order["book_value_end_usd"] + order["charged_in_horizon_usd"] == pytest.approx(order["capex_usd"])


def test_book_value_with_lead_time_retirement_and_cash_mode():
    """A 4-quarter horizon from 2027Q1; SKU price $8,000, life 0.5 years (2 quarters: $4,000 per node-quarter).
    In service 2027Q2 (3 nodes): 2 quarters charged before it retires → 3 × 8,000 = $24,000, book value 0.
    In service 2027Q4 (1 node, ordered 2027Q2 with a lead time): 1 quarter → $4,000 charged, $4,000 left.
    Ordered in 2028Q1 would never be in service inside the horizon → nothing charged, the whole price left.
    Cash mode charges the whole price in the order quarter: book value 0 for each."""
    catalog = pd.DataFrame({"price_usd": [8_000.0], "life_years": [0.5], "lead_quarters": [2]},
                           index=pd.Index(["s"], name="sku"))
    orders = pd.DataFrame({"quarter": ["2027Q2", "2027Q2", "2027Q4"], "sku": ["s"] * 3, "nodes": [3.0, 1.0, 2.0],
                           "in_service": ["2027Q2", "2027Q4", "2028Q2"], "capex_usd": [24_000.0, 8_000.0, 16_000.0]})
    horizon = Horizon(parse_quarter("2027Q1"), 4)
    per_node_quarter = pd.Series({"s": 4_000.0})  # what models/cost_parameters.py gives: 8,000 / (0.5 × 4)
    prices = SimpleNamespace(depreciation_usd_per_node_quarter=per_node_quarter, charges_depreciation=True)
    book = purchase_book_values(orders, catalog, horizon, prices)
    assert book["quarters_charged"].tolist() == [2, 1, 0]
    assert book["charged_in_horizon_usd"].tolist() == [24_000.0, 4_000.0, 0.0]
    assert book["book_value_end_usd"].tolist() == [0.0, 4_000.0, 16_000.0]
    cash = purchase_book_values(orders, catalog, horizon,
                                SimpleNamespace(depreciation_usd_per_node_quarter=per_node_quarter,
                                                charges_depreciation=False))
    assert cash["charged_in_horizon_usd"].tolist() == [24_000.0, 8_000.0, 16_000.0]
    assert cash["book_value_end_usd"].tolist() == [0.0, 0.0, 0.0]


def _cell_under(ws, header: str, key_column_value: str):
    """The cell in column `header` of the row whose first cell is `key_column_value` (tables on one sheet)."""
    for row in ws.iter_rows():
        if row[0].value == key_column_value:
            header_row = row[0].row
            while header_row > 1 and ws.cell(row=header_row, column=1).value not in ("sku", "parameter", "site"):
                header_row -= 1
            names = [c.value for c in ws[header_row]]
            return ws.cell(row=row[0].row, column=names.index(header) + 1)
    raise KeyError(key_column_value)


def _headline(book) -> dict:
    summary = book["Summary"]
    return {summary.cell(row=r, column=1).value: summary.cell(row=r, column=2).value
            for r in range(1, summary.max_row + 1)}


@pytest.fixture(scope="module")
def repriced(plans, tmp_path_factory) -> dict:
    """Each plan's workbook as written and after one price cell changed, both recalculated by LibreOffice:
    worked: h's price_usd 240,000 → 300,000; mixed: unmet_usd_per_unit 100 → 200."""
    out = tmp_path_factory.mktemp("repriced")
    edits = {"worked": ("price_usd", "h", 300_000.0), "mixed": ("value", "unmet_usd_per_unit", 200.0)}
    sources = []
    for name, (header, key, value) in edits.items():
        book = openpyxl.load_workbook(plans[name][2])
        _cell_under(book["Unit costs"], header, key).value = value
        book.save(out / f"{name}_repriced.xlsx")
        sources += [plans[name][2], out / f"{name}_repriced.xlsx"]
    converted = soffice_convert(sources, out / "lo", 'xlsx:Calc MS Excel 2007 XML')
    books = [openpyxl.load_workbook(p, data_only=True) for p in converted]
    return {name: (books[2 * i], books[2 * i + 1]) for i, name in enumerate(edits)}


@pytest.mark.parametrize("name", ["worked", "mixed"])
def test_libreoffice_reproduces_spend_penalties_and_objective(plans, repriced, name):
    plan, _, _ = plans[name]
    headline = _headline(repriced[name][0])
    assert close(headline["Discounted spend (NPV)"], plan["discounted_spend_usd"])
    assert close(headline["Discounted shortfall penalties (NPV)"], plan["discounted_penalty_usd"])
    assert close(headline["Objective: spend + penalties (NPV)"], plan["objective_usd"])
    assert close(headline["Book value of new orders left at the end"],
                 sum(p["book_value_end_usd"] for p in plan["purchases"]))


def test_changing_a_price_cell_moves_the_totals_by_the_hand_computed_amount(plans, repriced):
    """Worked example, h's price +$60,000: depreciation +60,000 / 20 = $3,000 and maintenance +0.04 × 60,000 / 4 =
    $600 per node-quarter; 2 owned nodes in each of the 2 quarters → +$7,200 per quarter, discounted
    7,200 × (1 + 1.08^(−1/4)). Capex ordered +2 × 60,000; book value 600,000 − 2 × 15,000 × 2 = $540,000."""
    plan, _, _ = plans["worked"]
    before, after = (_headline(book) for book in repriced["worked"])
    extra = 7_200.0 * (1 + 1.08 ** -0.25)
    assert close(after["Discounted spend (NPV)"] - before["Discounted spend (NPV)"], extra)
    assert close(after["Objective: spend + penalties (NPV)"], plan["objective_usd"] + extra)
    assert after["Discounted shortfall penalties (NPV)"] == before["Discounted shortfall penalties (NPV)"] == 0
    assert close(after["Purchases ordered (price × nodes)"], 600_000.0)
    assert close(after["Book value of new orders left at the end"], 540_000.0)


def test_changing_the_unmet_penalty_moves_only_the_penalties(plans, repriced):
    """Mixed plan, unmet_usd_per_unit $100 → $200: 500 tokens/s unmet in quarter 0 → +$50,000, not discounted."""
    plan, _, _ = plans["mixed"]
    before, after = (_headline(book) for book in repriced["mixed"])
    assert close(after["Discounted shortfall penalties (NPV)"], plan["discounted_penalty_usd"] + 50_000.0)
    assert close(after["Discounted spend (NPV)"], before["Discounted spend (NPV)"])
    assert close(after["Objective: spend + penalties (NPV)"], plan["objective_usd"] + 50_000.0)


def test_orders_sheet_gives_cash_by_year_and_pnl_by_quarter(plans, repriced):
    """Worked example: $480,000 committed in 2027 (ordered 2027Q1); depreciation 24,000 per quarter, all of it new
    orders (no existing fleet)."""
    book = repriced["worked"][0]
    ws = book["Orders"]
    values = list(ws.iter_rows(values_only=True))
    header = values[0]
    assert values[1][:7] == ("2027Q1", "2027Q1", "A", "h", 2, 16, 480_000)  # 2 nodes × 8 GPUs
    assert values[1][header.index("cash_2027_usd")] == 480_000
    by_quarter = next(i for i, row in enumerate(values) if row[0] == "quarter")
    assert values[by_quarter][:5] == ("quarter", "capex_committed_usd", "depreciation_usd",
                                      "new_orders_depreciation_usd", "existing_fleet_depreciation_usd")
    assert values[by_quarter + 1][:5] == ("2027Q1", 480_000, 24_000, 24_000, 0)
    assert values[by_quarter + 2][:5] == ("2027Q2", 0, 24_000, 24_000, 0)
    by_year = next(i for i, row in enumerate(values) if row[0] == "year")
    assert values[by_year + 1][:5] == ("2027", 480_000, 48_000, 48_000, 0)


# --- printed as a pack ----------------------------------------------------------------------------------------

def test_every_sheet_prints_one_page_wide_with_a_print_area(plans):  # noqa: F811
    book = openpyxl.load_workbook(plans["mixed"][2])
    assert book.sheetnames[:2] == ["Summary", "Orders"] and book.sheetnames[-1] == "Assumptions"
    for ws in book:
        assert ws.sheet_properties.pageSetUpPr.fitToPage, ws.title
        assert (ws.page_setup.fitToWidth, ws.page_setup.fitToHeight) == (1, 0), ws.title
        assert ws.print_area, ws.title
    assert book["Placement"].print_title_rows == "$1:$1"  # the header repeats on every printed page


def test_workbook_prints_as_a_short_pack(plans, tmp_path):  # noqa: F811
    """The mixed plan's workbook as a PDF: every sheet one page wide, the Summary on the first page."""
    (pdf,) = soffice_convert([plans["mixed"][2]], tmp_path, "pdf")
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf.read_bytes()))
    assert 1 <= pages <= 2 * len(openpyxl.load_workbook(plans["mixed"][2]).sheetnames)
