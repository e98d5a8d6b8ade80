"""The Summary sheet's order list, GPU counts beside node counts, and the printed pack's page count.

Three workbooks: the shipped example as `planner plan data/examples/example/scenario.yaml` writes it (its PDF page
count is the one docs/workbook.md states), and a tiny mixed-unit case whose GPU totals are derived by hand.
LibreOffice (driven as in tests/test_workbook.py) recalculates the live formulas and prints the PDF.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from scenario_files import inference, sku, write_scenario
from test_workbook import soffice_convert

from planner.cli import main
from planner.pipeline import plan_document, run_plan
from planner.scenario import load_scenario
from reports import workbook as W

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "data" / "examples" / "example" / "scenario.yaml"
DOC = ROOT / "docs" / "workbook.md"
PAGES_PATTERN = re.compile(r"prints as \*\*(\d+) pages\*\*")


def pdf_pages(pdf: Path) -> int:
    return len(re.findall(rb"/Type\s*/Page[^s]", pdf.read_bytes()))


def section(ws, title_prefix: str) -> list[dict]:
    """The table under the section whose title (column A) starts with `title_prefix`, up to its Total row."""
    column_a = [ws.cell(row=r, column=1).value for r in range(1, ws.max_row + 1)]
    title = next(r for r, text in enumerate(column_a, start=1) if str(text).startswith(title_prefix))
    header = [c.value for c in ws[title + 1] if c.value is not None]
    out = []
    for values in ws.iter_rows(min_row=title + 2, max_col=len(header), values_only=True):
        if values[0] in (None, "Total", "(none)"):
            break
        out.append(dict(zip(header, values)))
    return out


def total_row(ws, title_prefix: str) -> dict:
    """The Total row of that section, by column name."""
    column_a = [ws.cell(row=r, column=1).value for r in range(1, ws.max_row + 1)]
    title = next(r for r, text in enumerate(column_a, start=1) if str(text).startswith(title_prefix))
    header = [c.value for c in ws[title + 1] if c.value is not None]
    row = title + 2 + next(i for i, v in enumerate(column_a[title + 1:]) if v == "Total")
    return dict(zip(header, [ws.cell(row=row, column=c).value for c in range(1, len(header) + 1)]))


# --- the shipped example, as `planner plan` writes it -------------------------------------------------------------

@pytest.fixture(scope="module")
def example(tmp_path_factory) -> dict:
    """`planner plan` on the shipped example (baselines and the risk evaluation included, as by default): the
    plan, the scenario, the workbook, the workbook recalculated by LibreOffice, and its PDF."""
    out = tmp_path_factory.mktemp("example")
    result = CliRunner().invoke(main, ["plan", str(EXAMPLE), "--quiet", "--json", str(out / "plan.json"),
                                       "-o", str(out / "plan.xlsx")])
    assert result.exit_code == 0, result.output
    (recalculated,) = soffice_convert([out / "plan.xlsx"], out / "recalculated", 'xlsx:Calc MS Excel 2007 XML')
    (pdf,) = soffice_convert([out / "plan.xlsx"], out / "pdf", "pdf")
    return {"plan": json.loads((out / "plan.json").read_text()), "scenario": load_scenario(EXAMPLE),
            "book": openpyxl.load_workbook(out / "plan.xlsx"),
            "recalculated": openpyxl.load_workbook(recalculated, data_only=True), "pdf": pdf}


def test_summary_order_list_is_plan_json_orders(example):
    """Quarter, site, SKU, nodes, GPUs (= nodes × the catalog's gpus_per_node) and capex of every order, in
    (quarter, site, SKU) order; capex is a live formula on Purchases and recalculates to PLAN.json's figure."""
    plan, catalog = example["plan"], example["scenario"].catalog
    want = [(p["quarter"], p["site"], p["sku"], p["nodes"],
             int(p["nodes"]) * int(catalog.at[p["sku"], "gpus_per_node"]), p["capex_usd"])
            for p in sorted(plan["purchases"], key=lambda p: (p["quarter"], p["site"], p["sku"]))]
    assert want, "the shipped example buys something"
    got = section(example["recalculated"]["Summary"], "What to buy:")
    assert [(r["quarter"], r["site"], r["sku"], r["nodes"], r["gpus"]) for r in got] == [w[:5] for w in want]
    assert [r["capex_usd"] for r in got] == pytest.approx([w[5] for w in want], rel=1e-9)
    assert all(r["capex_usd"].startswith("='Purchases'!") for r in section(example["book"]["Summary"], "What to buy:"))
    ws = example["book"]["Summary"]
    assert ws["A3"].value == f"What to buy: {len(want)} orders, {sum(w[4] for w in want):,} GPUs"
    assert [(r["quarter"], r["site"], r["sku"], r["nodes"], r["gpus"])
            for r in section(example["recalculated"]["Summary"], "Rentals:")] == \
        [(r["quarter"], r["site"], r["sku"], r["nodes"], r["nodes"] * int(catalog.at[r["sku"], "gpus_per_node"]))
         for r in sorted(plan["rentals"], key=lambda r: (r["quarter"], r["site"], r["sku"]))]


def test_summary_totals_count_gpus_and_nodes_per_sku(example):
    """The example mixes 72-GPU racks (gb200-nvl72) with 8-GPU nodes: the order list's Total adds GPUs only
    (its nodes cell is empty), and nodes are totalled per SKU, where they are one unit."""
    plan, catalog = example["plan"], example["scenario"].catalog
    assert {int(catalog.at[p["sku"], "gpus_per_node"]) for p in plan["purchases"]} >= {8, 72}
    summary = example["recalculated"]["Summary"]
    total = total_row(summary, "What to buy:")
    assert total["nodes"] is None
    assert total["gpus"] == sum(p["nodes"] * int(catalog.at[p["sku"], "gpus_per_node"]) for p in plan["purchases"])
    by_sku = {r["sku"]: r for r in section(summary, "Ordered, by SKU")}
    for name, row in by_sku.items():
        assert row["nodes"] == sum(p["nodes"] for p in plan["purchases"] if p["sku"] == name)
        assert row["gpus"] == row["nodes"] * row["gpus_per_node"]
    for sheet in ("Orders", "Purchases", "Rentals"):
        ws = example["book"][sheet]
        header = [c.value for c in ws[1]]
        total_at = next(r for r in range(2, ws.max_row + 1) if ws.cell(row=r, column=1).value == "Total")
        assert ws.cell(row=total_at, column=header.index("nodes") + 1).value is None, sheet
        assert ws.cell(row=total_at, column=header.index("gpus") + 1).value.startswith("=SUM("), sheet


def test_example_live_formulas_evaluate_after_recalculation(example):
    """LibreOffice recalculates every formula of the example's Summary and Orders: no error value anywhere, and
    the headline objective is PLAN.json's."""
    book = example["recalculated"]
    errors = [(ws.title, cell.coordinate, cell.value) for ws in book for row in ws.iter_rows() for cell in row
              if isinstance(cell.value, str) and cell.value.startswith(("#VALUE", "#REF", "#NAME", "#DIV", "Err:"))]
    assert errors == []
    summary = book["Summary"]
    headline = {summary.cell(row=r, column=1).value: summary.cell(row=r, column=2).value
                for r in range(1, summary.max_row + 1)}
    assert headline["Objective: spend + penalties (NPV)"] == pytest.approx(example["plan"]["objective_usd"], rel=1e-9)


def test_pdf_page_count_is_the_one_docs_workbook_md_states(example):
    """docs/workbook.md states how many pages the shipped example's workbook prints as (LibreOffice, A4
    landscape, each sheet one page wide); the PDF has exactly that many."""
    stated = PAGES_PATTERN.findall(DOC.read_text(encoding="utf-8"))
    assert len(stated) == 1, "docs/workbook.md states the page count once, as 'prints as **N pages**'"
    assert pdf_pages(example["pdf"]) == int(stated[0])


def test_every_chart_lies_inside_its_print_area(example):
    """No chart is cut at the page's edge: each one's far corner is inside its sheet's print area."""
    for ws in example["book"]:
        area = ws.print_area.split("!")[-1].replace("$", "")
        _, last = area.split(":")
        last_column = openpyxl.utils.column_index_from_string(re.match(r"[A-Z]+", last).group())
        last_row = int(re.search(r"\d+", last).group())
        for chart in ws._charts:
            _, column, row = W.chart_extent(ws, chart)
            assert column <= last_column and row <= last_row, (ws.title, chart.anchor)


# --- a tiny case whose GPU totals are derived by hand --------------------------------------------------------------

def mixed_units(folder: Path) -> Path:
    """Site A (owned) serves `chat`, 2,000 tokens/s in 2027Q1 at 1,000 tokens/s per node of SKU a (8 GPUs per
    node, bought: nothing is installed at A). Site B (owned) holds an installed fleet of 3 racks of SKU r (72 GPUs
    each; r cannot be bought in the horizon, and `chat` may not run at B)."""
    rack = sku(sku="r", accelerator="R-class", gpus_per_node=72, node_kw=120, price_usd=3_000_000,
               available_from="2030Q1", nodes_per_rack=1)
    site_a = dict(site="A", kind="owned", power_mw=1, pue=1.0, usd_per_kwh=0.0, gco2_per_kwh=0, racks=100)
    site_b = dict(site_a, site="B")
    return write_scenario(folder, catalog=[sku(), rack], sites=[site_a, site_b],
                          workloads=[inference("chat", sites="A")], demand=[("chat", "2027Q1", 2000)],
                          throughput=[("chat", "a", 1000)], fleet=[("B", "r", 3, "2026Q1")])


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("tiny")
    scenario = load_scenario(mixed_units(root / "mixed-units"))
    plan = plan_document(run_plan(scenario, backend="scip", time_limit_s=30, gap=1e-9))
    path = W.write_workbook(root / "tiny.xlsx", plan, scenario)
    (recalculated,) = soffice_convert([path], root / "lo", 'xlsx:Calc MS Excel 2007 XML')
    return {"plan": plan, "book": openpyxl.load_workbook(recalculated, data_only=True)}


def test_gpu_totals_never_add_racks_to_nodes(tiny):
    """By hand: `chat` needs 2,000 / 1,000 = 2 nodes of a, bought in 2027Q1 (the only SKU it may be bought on, at
    the only site it may run at) = 2 × 8 = 16 GPUs. In service at the end (2027Q1): a 2 nodes = 16 GPUs, r 3 racks
    = 3 × 72 = 216 GPUs; in all 16 + 216 = 232 GPUs, where adding nodes would say 2 + 3 = 5 "nodes" of nothing."""
    assert [(p["sku"], p["nodes"]) for p in tiny["plan"]["purchases"]] == [("a", 2)]
    summary = tiny["book"]["Summary"]
    assert summary["A3"].value == "What to buy: 1 order, 16 GPUs"
    assert total_row(summary, "What to buy:")["gpus"] == 16
    at_end = {r["sku"]: (r["nodes"], r["gpus"]) for r in section(summary, "In service at the end")}
    assert at_end == {"a": (2, 16), "r": (3, 216)}
    total = total_row(summary, "In service at the end")
    assert total["gpus"] == 232 and total["nodes"] is None
    fleet = tiny["book"]["Fleet"]
    header = [c.value for c in fleet[1]]
    gpus = {}
    for r in fleet.iter_rows(min_row=2, values_only=True):
        if r[0] in (None, "Total"):
            break
        gpus[r[header.index("site")], r[header.index("sku")]] = r[header.index("gpus")]
    assert gpus == {("A", "a"): 16, ("B", "r"): 216}
