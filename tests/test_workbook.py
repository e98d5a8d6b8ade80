"""The Excel workbook and the CSV tables: reopened and checked against PLAN.json, recalculated by LibreOffice.

Two plans: the worked example (its optimum, $111,108.18, is derived in tests/cases/worked-example/README.md;
rebuilt here from the same numbers so the test needs no file outside the repository), and a mixed plan with cash
capex, a purchase, a rental, unmet demand, an unfinished training run, and input names that look like formulas.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from planner.pipeline import plan_document, run_plan
from planner.scenario import load_scenario
from reports import workbook as W
from reports.cells import neutral_text
from reports.csv_writer import write_csv_tables
from reports.tables import COSTS_COLUMNS, COSTS_SHEET_COLUMNS, PENALTY_LINES, SPEND_LINES, build_tables
from scenario_files import CLOUD, inference, sku, training, write_scenario

FORMULA_LOOKALIKES = ('=HYPERLINK("x")', "+1", "-2", "@x")
REL = 1e-6
SOFFICE_TIMEOUT_S = 180


def worked_example(folder: Path) -> Path:
    """tests/cases/worked-example/ as inputs: SKU h, owned site A (2-node power cap), cloud, demand 1,500, 2,500."""
    h = sku(sku="h", accelerator="H-class", price_usd=240000, rent_usd_per_gpu_hour=2.5, idle_frac=0.3,
            maint_frac_per_year=0.04, available_from="2026Q1")
    site_a = dict(site="A", kind="owned", power_mw=0.025, pue=1.25, usd_per_kwh=0.10, gco2_per_kwh=400, racks=10)
    cloud = dict(CLOUD, pue=1.1, gco2_per_kwh=300)
    return write_scenario(folder, catalog=[h], sites=[site_a, cloud], workloads=[inference("chat")],
                          demand=[("chat", "2027Q1", 1500), ("chat", "2027Q2", 2500)],
                          throughput=[("chat", "h", 1000)], quarters=2,
                          finance={"discount_rate": 0.08, "carbon_usd_per_t": 50})


def mixed_scenario(folder: Path) -> Path:
    """Cash mode over four quarters. Owned site A holds 2 nodes (20 kW cap, 10 kW nodes); `-2` may run only at A
    and wants 2,500 tokens/s in 2027Q1, so 500 go unmet; `=HYPERLINK("x")` rents in the cloud (named `+1`) while
    A is busy; the training run `@x` is left undone (its $1,000 penalty is cheaper than two node-quarters)."""
    link, cloud_name, only_a, run = FORMULA_LOOKALIKES
    site_a = dict(site="A", kind="owned", power_mw=0.02, pue=1.0, usd_per_kwh=0.1, gco2_per_kwh=400, racks=10)
    demand = [(link, q, tokens) for q, tokens in (("2027Q1", 1000), ("2027Q2", 1000), ("2027Q3", 2000),
                                                  ("2027Q4", 1000))]
    return write_scenario(
        folder, catalog=[sku(rent_usd_per_gpu_hour=1.0, idle_frac=0.3, maint_frac_per_year=0.04)],
        sites=[site_a, dict(CLOUD, site=cloud_name, gco2_per_kwh=300)],
        workloads=[inference(link), inference(only_a, sites="A"), training(run, 1, 15.768, "2027Q2", "2027Q3")],
        demand=demand + [(only_a, "2027Q1", 2500)],
        throughput=[(link, "a", 1000), (only_a, "a", 1000), (run, "a", 1000)], quarters=4,
        finance={"capex_mode": "cash", "discount_rate": 0.08, "carbon_usd_per_t": 50, "unmet_usd_per_unit": 100,
                 "unfinished_training_usd": 1000})


def solved(path: Path):
    scenario = load_scenario(path)
    return plan_document(run_plan(scenario, backend="scip", time_limit_s=30, gap=1e-9)), scenario


@pytest.fixture(scope="module")
def plans(tmp_path_factory) -> dict:
    """name -> (plan, scenario, workbook path)."""
    root = tmp_path_factory.mktemp("plans")
    out = {}
    for name, make in (("worked", worked_example), ("mixed", mixed_scenario)):
        plan, scenario = solved(make(root / name))
        out[name] = (plan, scenario, W.write_workbook(root / f"{name}.xlsx", plan, scenario))
    return out


def test_worked_example_plan_is_the_documented_optimum(plans):
    plan, _, _ = plans["worked"]
    assert plan["objective_usd"] == pytest.approx(111_108.18, abs=0.01)


def test_mixed_plan_exercises_every_sheet(plans):
    plan, _, _ = plans["mixed"]
    assert plan["capex_mode"] == "cash"
    for table in ("purchases", "rentals", "unmet", "unfinished"):
        assert plan[table], f"the mixed scenario should produce {table}"


def rows(ws, first_row: int = 2) -> list[dict]:
    """Data rows under the header in row 1, up to the first blank first cell or the Total row."""
    header = [c.value for c in ws[1]]
    out = []
    for values in ws.iter_rows(min_row=first_row, values_only=True):
        if values[0] in (None, "Total", "(none)"):
            break
        out.append(dict(zip(header, values)))
    return out


def close(a, b) -> bool:
    return math.isclose(a, b, rel_tol=REL, abs_tol=1e-6)


DATA_SHEETS = ("Orders", "Purchases", "Rentals", "Fleet", "Placement", "Unmet", "Unfinished training", "Costs", "Why")


@pytest.mark.parametrize("name", ["worked", "mixed"])
def test_sheets_headers_and_frozen_panes(plans, name):
    _, _, path = plans[name]
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == list(W.SHEETS)
    assert book.sheetnames[:2] == ["Summary", "Orders"] and book.sheetnames[-1] == "Assumptions"
    headers = {title: [c.value for c in book[title][1]] for title in DATA_SHEETS}
    assert headers["Purchases"] == ["order_quarter", "in_service_quarter", "site", "sku", "nodes", "gpus",
                                    "unit_price_usd", "capex_usd", "depreciation_usd_per_quarter",
                                    "quarters_charged", "charged_in_horizon_usd", "book_value_end_usd"]
    assert headers["Rentals"] == ["quarter", "site", "sku", "nodes", "gpus", "rent_usd_per_node", "rent_usd"]
    assert headers["Costs"] == list(COSTS_SHEET_COLUMNS)
    assert headers["Fleet"][:7] == ["quarter", "site", "site_kind", "sku", "nodes", "existing_nodes", "gpus"]
    assert {"site_cap_kw", "headroom_pct", "it_kw", "facility_kw", "energy_usd", "depreciation_usd"} \
        <= set(headers["Fleet"])
    assert {"utilisation", "node_equivalents", "tokens_per_s"} <= set(headers["Placement"])
    assert headers["Orders"][:8] == ["order_quarter", "delivered_quarter", "site", "sku", "nodes", "gpus",
                                     "capex_usd", "book_value_end_usd"]
    for title in DATA_SHEETS:
        assert book[title].freeze_panes == "A2"


@pytest.mark.parametrize("name", ["worked", "mixed"])
def test_costs_sheet_is_live_formulas_over_the_sheets_that_make_it_up(plans, name):
    plan, _, path = plans[name]
    ws = openpyxl.load_workbook(path)["Costs"]
    header = [c.value for c in ws[1]]
    letter = {c: openpyxl.utils.get_column_letter(i + 1) for i, c in enumerate(header)}
    sources = {"energy_kwh": "Fleet", "carbon_t": "Fleet", "capex_usd": "Purchases", "depreciation_usd": "Fleet",
               "rent_usd": "Rentals", "energy_usd": "Fleet", "maintenance_usd": "Fleet", "unmet_usd": "Unmet",
               "unfinished_training_usd": "Unfinished training"}
    for r, expected in enumerate(plan["costs"], start=2):
        cells = {c: ws[f"{letter[c]}{r}"].value for c in header}
        assert cells["quarter"] == expected["quarter"]
        assert close(cells["discount_factor"], expected["discount_factor"])
        for column, sheet in sources.items():
            assert f"SUMIFS('{sheet}'!" in cells[column] and cells[column].endswith(f",A{r})" + (
                ",0)" if column == "capex_usd" else "")), (column, cells[column])
        assert re.fullmatch(rf"={letter['carbon_t']}{r}\*'Unit costs'!\$B\$\d+", cells["carbon_usd"])
        assert cells["spend_usd"] == f"=SUM({letter['capex_usd']}{r}:{letter['carbon_usd']}{r})"
        assert cells["penalty_usd"] == f"=SUM({letter['unmet_usd']}{r}:{letter['unfinished_training_usd']}{r})"
        assert cells["total_usd"] == f"={letter['spend_usd']}{r}+{letter['penalty_usd']}{r}"
        assert cells["discounted_usd"] == f"={letter['total_usd']}{r}*{letter['discount_factor']}{r}"
    total_row = len(plan["costs"]) + 2
    assert ws[f"A{total_row}"].value == "Total"
    last = total_row - 1
    assert ws[f"{letter['total_usd']}{total_row}"].value == \
        f"=SUM(${letter['total_usd']}$2:${letter['total_usd']}${last})"
    for offset, column in enumerate(("spend_usd", "penalty_usd", "total_usd")):
        npv = ws[f"{letter['discounted_usd']}{total_row + 2 + offset}"].value
        assert npv == (f"=SUMPRODUCT(${letter[column]}$2:${letter[column]}${last},"
                       f"${letter['discount_factor']}$2:${letter['discount_factor']}${last})")
    assert ws[f"{letter['capex_usd']}2"].number_format == W.USD
    assert ws[f"{letter['energy_kwh']}2"].number_format == W.KWH


@pytest.mark.parametrize("name", ["worked", "mixed"])
def test_purchases_and_rentals_match_the_plan(plans, name):
    plan, scenario, path = plans[name]
    book = openpyxl.load_workbook(path)
    purchases = rows(book["Purchases"])
    expected = sorted(plan["purchases"], key=lambda p: (p["quarter"], p["site"], p["sku"]))
    assert [(p["order_quarter"], p["in_service_quarter"], p["site"], p["sku"], p["nodes"]) for p in purchases] == \
        [(p["quarter"], p["in_service"], p["site"], p["sku"], p["nodes"]) for p in expected]
    for r, (row, want) in enumerate(zip(purchases, expected), start=2):
        assert row["capex_usd"] == f"=E{r}*G{r}"
        assert re.fullmatch(rf"=INDEX\('Unit costs'!\$E\$\d+:\$E\$\d+,MATCH\(D{r},'Unit costs'!\$A\$\d+:\$A\$\d+,0\)\)",
                            row["unit_price_usd"])
        assert row["book_value_end_usd"] == f"=H{r}-K{r}"
        assert row["gpus"] == want["nodes"] * scenario.catalog.at[want["sku"], "gpus_per_node"]
    total_row = len(purchases) + 2
    assert book["Purchases"][f"H{total_row}"].value == f"=SUM($H$2:$H${max(total_row - 1, 2)})"
    rentals = rows(book["Rentals"])
    assert len(rentals) == len(plan["rentals"])
    for row in rentals:
        assert row["rent_usd"].startswith("=") and row["rent_usd_per_node"].startswith("=INDEX('Unit costs'!")


@pytest.mark.parametrize("name", ["worked", "mixed"])
def test_fleet_placement_unmet_unfinished_match_the_plan(plans, name):
    plan, scenario, path = plans[name]
    book = openpyxl.load_workbook(path)
    fleet = {(r["quarter"], r["site"], r["sku"]): r for r in rows(book["Fleet"])}
    assert set(fleet) == {(f["quarter"], f["site"], f["sku"]) for f in plan["fleet"]}
    for want in plan["fleet"]:
        got = fleet[want["quarter"], want["site"], want["sku"]]
        assert (got["nodes"], got["it_kw"], got["facility_kw"]) == (want["nodes"], want["it_kw"],
                                                                    want["facility_kw"])
        # headroom at full load, the cap's own definition: Σ node_kw × nodes × pue over the site's pools
        pue = scenario.sites.at[want["site"], "pue"]
        full_kw = sum(f["nodes"] * scenario.catalog.at[f["sku"], "node_kw"] * pue for f in plan["fleet"]
                      if (f["quarter"], f["site"]) == (want["quarter"], want["site"]))
        assert got["site_full_load_kw"] == pytest.approx(full_kw)
        if scenario.sites.at[want["site"], "kind"] == "owned":
            cap_kw = scenario.sites.at[want["site"], "power_mw"] * 1000
            assert got["site_cap_kw"] == pytest.approx(cap_kw)
            assert got["headroom_pct"] == pytest.approx(1 - full_kw / cap_kw)
        else:
            assert got["site_cap_kw"] is None and got["headroom_pct"] is None
    placement = {(r["quarter"], r["workload"], r["site"], r["sku"]): r for r in rows(book["Placement"])}
    assert len(placement) == len(plan["placement"])
    for want in plan["placement"]:
        got = placement[want["quarter"], want["workload"], want["site"], want["sku"]]
        pool = sum(f["nodes"] for f in plan["fleet"]
                   if (f["quarter"], f["site"], f["sku"]) == (want["quarter"], want["site"], want["sku"]))
        assert (got["node_equivalents"], got["tokens_per_s"]) == (want["node_equivalents"], want["units"])
        assert got["utilisation"] == pytest.approx(want["node_equivalents"] / pool)
    unmet = rows(book["Unmet"])
    assert sorted((r["quarter"], r["workload"], r["unmet_tokens_per_s"]) for r in unmet) == \
        sorted((u["quarter"], u["workload"], u["units"]) for u in plan["unmet"])
    unfinished = rows(book["Unfinished training"])
    assert [(r["workload"], r["deadline_quarter"], r["fraction_left"]) for r in unfinished] == \
        [(u["workload"], u["deadline"], u["fraction_left"]) for u in plan["unfinished"]]
    assert all(r["cost_usd"].startswith("=") for r in unfinished)  # fraction × the Unit costs penalty


def test_summary_headline_refers_to_the_costs_sheet(plans):
    plan, scenario, path = plans["mixed"]
    ws = openpyxl.load_workbook(path)["Summary"]
    labels = {ws.cell(row=r, column=1).value: ws.cell(row=r, column=2) for r in range(1, ws.max_row + 1)}
    assert labels["Scenario"].value == plan["scenario"]
    assert labels["Solver status"].value == plan["status"]
    for label in ("Discounted spend (NPV)", "Discounted shortfall penalties (NPV)",
                  "Objective: spend + penalties (NPV)", "Depreciation", "Rent", "Energy", "Energy cost",
                  "Maintenance", "Carbon", "Carbon cost", "Unmet demand cost", "Unfinished training cost", "Capex charged (cash mode)"):
        assert str(labels[label].value).startswith("='Costs'!") or str(labels[label].value).startswith("=Costs!")
    assert labels["Average utilisation of owned nodes"].value.startswith("=IFERROR(SUMIFS(")
    assert labels["Objective: spend + penalties (NPV)"].number_format == W.USD
    assert labels["Energy"].number_format == W.MWH
    # spend, penalties (the mixed plan has some), GPUs, one power chart per owned site
    assert len(ws._charts) == 3 + int((scenario.sites["kind"] == "owned").sum())
    spend, penalties = ws._charts[0], ws._charts[1]
    assert [s.tx.v for s in spend.series] == [W.SPEND_LABELS[c] for c in SPEND_LINES]
    assert [s.tx.v for s in penalties.series] == [W.SPEND_LABELS[c] for c in PENALTY_LINES]


def test_charts_are_native_and_stacked(plans):
    _, scenario, path = plans["worked"]
    charts = openpyxl.load_workbook(path)["Summary"]._charts
    spend, gpus, power = charts[0], charts[1], charts[2]
    assert (spend.tagname, spend.grouping, spend.overlap) == ("barChart", "stacked", 100)
    assert len(spend.series) == len(SPEND_LINES)  # no penalties in the worked example: no penalty chart
    assert (gpus.tagname, gpus.grouping) == ("barChart", "stacked")
    assert power.tagname == "lineChart" and len(power.series) == 3  # full load, at plan utilisation, the cap


@pytest.mark.parametrize("name", ["worked", "mixed"])
def test_assumptions_echo_inputs_and_hashes(plans, name):
    plan, scenario, path = plans[name]
    ws = openpyxl.load_workbook(path)["Assumptions"]
    values = [v for row in ws.iter_rows(values_only=True) for v in row if v is not None]
    for digest in plan["inputs"]["sha256"].values():
        assert digest in values
    for section in ("Catalog", "Sites", "Workloads", "Demand (tokens/s)", "Scenario parameters"):
        assert section in values
    assert plan["tool_version"] in values and "finance.discount_rate" in values
    assert set(plan["horizon"]["quarters"]) <= set(values)  # demand quarters shown as labels


def test_excel_tables_have_unique_valid_names(plans):
    _, _, path = plans["mixed"]
    book = openpyxl.load_workbook(path)
    names = [name for ws in book for name in ws.tables]
    assert len(names) == len({n.lower() for n in names})
    for ws in book:
        for table in ws.tables.values():
            assert table.displayName.isidentifier()
            header = ws[table.ref][0]
            assert [c.value for c in header] == [col.name for col in table.tableColumns]


def test_text_that_looks_like_a_formula_stays_text(plans):
    _, _, path = plans["mixed"]
    book = openpyxl.load_workbook(path)
    seen = set()
    for ws in book:
        for row in ws.iter_rows():
            for cell in row:
                if cell.value in FORMULA_LOOKALIKES:
                    assert cell.data_type == "s", (ws.title, cell.coordinate)
                    seen.add(cell.value)
    assert seen == set(FORMULA_LOOKALIKES)
    with zipfile.ZipFile(path) as archive:
        sheets = [archive.read(n).decode() for n in archive.namelist() if n.startswith("xl/worksheets/sheet")]
    assert not any(re.search(r"<f>[^<]*HYPERLINK", sheet) for sheet in sheets)  # a string cell, never an <f>


def test_failed_write_keeps_the_previous_workbook(plans, tmp_path, monkeypatch):
    """A save that dies half-way (disk full, killed) leaves the previous workbook and no temporary file."""
    plan, scenario, path = plans["worked"]
    target = tmp_path / "plan.xlsx"
    shutil.copy(path, target)
    before = target.read_bytes()

    def save_half_then_fail(self, filename):
        Path(filename).write_bytes(b"PK half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(openpyxl.Workbook, "save", save_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        W.write_workbook(target, plan, scenario)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.xlsx"]


@pytest.mark.parametrize("name", ["worked", "mixed"])
def test_csv_tables_are_the_sheet_tables(plans, tmp_path, name):
    plan, scenario, _ = plans[name]
    written = write_csv_tables(tmp_path / "csv", plan, scenario)
    tables = build_tables(plan, scenario)
    assert [p.name for p in written] == [f"{t}.csv" for t in tables]
    costs = pd.read_csv(tmp_path / "csv" / "costs.csv")
    assert list(costs.columns) == list(COSTS_SHEET_COLUMNS)
    for column in COSTS_COLUMNS[1:]:
        assert costs[column].tolist() == pytest.approx([c[column] for c in plan["costs"]], rel=1e-12)
    purchases = pd.read_csv(tmp_path / "csv" / "purchases.csv")
    assert purchases["capex_usd"].sum() == pytest.approx(sum(p["capex_usd"] for p in plan["purchases"]))
    placement = pd.read_csv(tmp_path / "csv" / "placement.csv", keep_default_na=False)
    # Names that look like formulas carry OWASP's leading quote in a CSV (reports/cells.py).
    assert set(placement["workload"]) == {neutral_text(p["workload"]) for p in plan["placement"]}
    assert len(list((tmp_path / "csv").iterdir())) == len(tables)  # no temporary files left


# --- LibreOffice: the formulas recalculate to PLAN.json's numbers ----------------------------------------

def _soffice() -> str:
    found = shutil.which("soffice")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("soffice not found, but CI must run the LibreOffice recalculation test "
                        "(.ci/run installs libreoffice-calc-nogui)")
        pytest.skip("LibreOffice (soffice) is not installed here; CI runs this test")
    return found


def soffice_convert(sources: list[Path], out_dir: Path, target: str) -> list[Path]:
    """Convert with a private LibreOffice profile (parallel runs never share one); returns the output paths."""
    soffice = _soffice()
    profile = out_dir / "lo-profile"
    env = {**os.environ, "HOME": str(out_dir)}
    subprocess.run([soffice, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore",
                    "--convert-to", target, "--outdir", str(out_dir), *map(str, sources)],
                   check=True, capture_output=True, timeout=SOFFICE_TIMEOUT_S, env=env)
    suffix = target.split(":")[0]
    outputs = [out_dir / f"{Path(s).stem}.{suffix}" for s in sources]
    missing = [str(p) for p in outputs if not p.exists()]
    assert not missing, f"LibreOffice did not write {missing}"
    return outputs


@pytest.fixture(scope="module")
def recalculated(plans, tmp_path_factory) -> dict:
    """name -> the workbook after LibreOffice opened (and so recalculated) it, read with cached values."""
    out_dir = tmp_path_factory.mktemp("recalculated")
    names = list(plans)
    converted = soffice_convert([plans[n][2] for n in names], out_dir, 'xlsx:Calc MS Excel 2007 XML')
    return {n: openpyxl.load_workbook(p, data_only=True) for n, p in zip(names, converted)}


@pytest.mark.parametrize("name", ["worked", "mixed"])
def test_libreoffice_recalculates_to_the_plan(plans, recalculated, name):
    plan, scenario, _ = plans[name]
    book = recalculated[name]
    costs = book["Costs"]
    header = [c.value for c in costs[1]]
    n = len(plan["costs"])
    for r, want in enumerate(plan["costs"], start=2):
        got = dict(zip(header, [c.value for c in costs[r]]))
        assert close(got["total_usd"], want["total_usd"]) and close(got["discounted_usd"], want["discounted_usd"])
    total = dict(zip(header, [c.value for c in costs[n + 2]]))
    for column in COSTS_COLUMNS[2:]:
        assert close(total[column], plan["totals"][column]), column
    npvs = [costs.cell(row=n + 4 + offset, column=header.index("discounted_usd") + 1).value for offset in range(3)]
    assert close(npvs[0], plan["discounted_spend_usd"]) and close(npvs[1], plan["discounted_penalty_usd"])
    assert close(npvs[2], plan["objective_usd"])

    summary = book["Summary"]
    headline = {summary.cell(row=r, column=1).value: summary.cell(row=r, column=2).value
                for r in range(1, summary.max_row + 1)}
    assert close(headline["Objective: spend + penalties (NPV)"], plan["objective_usd"])
    assert close(headline["Discounted spend (NPV)"], plan["discounted_spend_usd"])
    assert close(headline["Discounted shortfall penalties (NPV)"], plan["discounted_penalty_usd"])
    assert close(headline["Undiscounted spend"], plan["totals"]["spend_usd"])
    assert close(headline["Undiscounted shortfall penalties"], plan["totals"]["penalty_usd"])
    assert close(headline["Energy"], plan["totals"]["energy_kwh"] / 1000)
    assert close(headline["Unmet demand (tokens/s × quarters)"], sum(u["units"] for u in plan["unmet"]))
    assert close(headline["Purchases ordered (price × nodes)"], sum(p["capex_usd"] for p in plan["purchases"]))
    owned = {s for s in scenario.sites.index if scenario.sites.at[s, "kind"] == "owned"}
    busy = sum(p["node_equivalents"] for p in plan["placement"] if p["site"] in owned)
    nodes = sum(f["nodes"] for f in plan["fleet"] if f["site"] in owned)
    assert close(headline["Average utilisation of owned nodes"], busy / nodes)

    purchases = book["Purchases"]
    capex_total = purchases.cell(row=len(plan["purchases"]) + 2, column=8).value
    assert close(capex_total, sum(p["capex_usd"] for p in plan["purchases"]))


def test_libreoffice_keeps_formula_lookalikes_as_text(recalculated):
    book = recalculated["mixed"]
    seen = {cell.value for ws in book for row in ws.iter_rows() for cell in row
            if isinstance(cell.value, str) and cell.value in FORMULA_LOOKALIKES}
    assert seen == set(FORMULA_LOOKALIKES)
    placement = rows(book["Placement"])
    assert {r["workload"] for r in placement} >= {'=HYPERLINK("x")', "-2"}
    assert all(isinstance(r["workload"], str) for r in placement)
