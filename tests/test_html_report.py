"""The HTML report (`planner report PLAN.json --html OUT.html`, reports/html_report.py): its tables and chart data
against PLAN.json and a hand-worked plan, text from the inputs kept inert, and every chart drawn in headless
Chromium (Debian's `chromium`, which .ci/run installs; the browser tests skip without it, except under CI).

The hand-worked plan is tests/cases/worked-example (README there): 2 nodes of `h` (8 GPUs each) bought at `A` in
2027Q1, 1 node rented in the cloud in 2027Q2, optimum $111,108.18.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from planner.cli import main
from reports.atomic import write_json_atomic
from reports.html_report import CHARTS, NO_RISK_NOTE, RISK_CHARTS, VENDOR_SCRIPTS
from scenario_files import CATALOG_COLUMNS, SITE_COLUMNS, WORKLOAD_COLUMNS, sku
from test_workbook import solved, worked_example

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_TIMEOUT_S = 120
VIRTUAL_TIME_BUDGET_MS = 10_000  # virtual time for the scripts to run before the DOM is dumped
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="headless Chromium not installed here (Debian package `chromium`: apt-get install chromium; "
           ".ci/run installs it, so CI runs these tests)")
REL = 1e-9

# Names that would be markup or script if the page took them as HTML, and a spreadsheet formula (OWASP).
HOSTILE_WORKLOAD = "<script>alert(1)</script>"
HOSTILE_FORMULA_WORKLOAD = "=cmd|' /C calc'!A0"
HOSTILE_OWNED_SITE = 'A"><img src=x onerror=alert(2)>'
HOSTILE_CLOUD_SITE = "</title></table><b>cloud"
HOSTILE_SKU = "<svg onload=alert(3)>"
RENTING_WORKLOAD = "+SUM(1,2)"
HOSTILE_SCENARIO = "</title><script>alert(4)</script>"
HOSTILE_NAMES = (HOSTILE_WORKLOAD, HOSTILE_FORMULA_WORKLOAD, HOSTILE_OWNED_SITE, HOSTILE_CLOUD_SITE, HOSTILE_SKU,
                 HOSTILE_SCENARIO)


# --- reading the page back ----------------------------------------------------------------------------------

class PageReader(HTMLParser):
    """Tables by id (rows of cell texts), script elements, every attribute, and per chart element the SVG found
    inside it: how many <svg> and how many mark items (children of Vega's `role-mark` groups)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, dict[str, list[list[str]]]] = {}
        self.scripts: list[dict] = []
        self.attributes: list[tuple[str, str, str | None]] = []
        self.charts: dict[str, dict[str, int]] = {}
        self._stack: list[tuple[str, dict]] = []
        self._table = self._section = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._script: dict | None = None
        self.text: list[str] = []

    VOID = {"meta", "br", "img", "input", "link", "hr", "col", "source", "wbr", "area", "base", "embed", "param",
            "track"}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.attributes += [(tag, name, value) for name, value in attrs.items()]
        chart = next((a.get("data-chart") for t, a in reversed(self._stack) if a.get("data-chart")), None)
        if chart is not None:
            counts = self.charts[chart]
            counts["svg"] += tag == "svg"
            parent = self._stack[-1][1] if self._stack else {}
            counts["marks"] += "role-mark" in (parent.get("class") or "")
        if attrs.get("data-chart"):
            self.charts[attrs["data-chart"]] = {"svg": 0, "marks": 0, "rendered": attrs.get("data-rendered") == "yes"}
        if tag == "table":
            self._table = attrs.get("id")
            self.tables[self._table] = {"thead": [], "tbody": [], "tfoot": []}
        elif tag in ("thead", "tbody", "tfoot"):
            self._section = tag
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "script":
            self._script = {"attrs": attrs, "text": []}
        if tag not in self.VOID:
            self._stack.append((tag, attrs))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in self.VOID:
            self._stack.pop()

    def handle_endtag(self, tag):
        while self._stack:
            open_tag, _ = self._stack.pop()
            if open_tag == tag:
                break
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[self._table][self._section].append(self._row)
            self._row = None
        elif tag == "script" and self._script is not None:
            self.scripts.append({"attrs": self._script["attrs"], "text": "".join(self._script["text"])})
            self._script = None

    def handle_data(self, data):
        if self._script is not None:
            self._script["text"].append(data)
            return
        if self._cell is not None:
            self._cell.append(data)
        self.text.append(data)


def read_page(text: str) -> PageReader:
    reader = PageReader()
    reader.feed(text)
    reader.close()
    return reader


def chart_specs(page: PageReader) -> dict:
    """The charts' Vega-Lite specs, parsed from the page's JSON data block."""
    (block,) = [s for s in page.scripts if s["attrs"].get("id") == "chart-specs"]
    return json.loads(block["text"])


def layer_values(spec: dict, index: int = 0) -> list[dict]:
    layer = spec["layer"][index] if "layer" in spec else spec
    return (layer.get("data") or spec["data"])["values"]


def money(text: str) -> float:
    return float(text.replace("$", "").replace(",", ""))


# --- fixtures -----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def worked(tmp_path_factory):
    """(plan, page text, PageReader, html path): the worked example rendered by `planner report --html`."""
    folder = tmp_path_factory.mktemp("worked")
    plan, _ = solved(worked_example(folder / "inputs"))
    plan_path = write_json_atomic(folder / "plan.json", plan)
    out = folder / "plan.html"
    result = CliRunner().invoke(main, ["report", str(plan_path), "--html", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.stdout and "no risk charts" in result.stderr
    text = out.read_text(encoding="utf-8")
    return plan, text, read_page(text), out


def write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def hostile_scenario(folder: Path) -> Path:
    """Owned site HOSTILE_OWNED_SITE holds one 10 kW node (10 kW cap, PUE 1) serving 1,000 tokens/s, and
    HOSTILE_WORKLOAD and HOSTILE_FORMULA_WORKLOAD may run only there, so of their 1,500 + 200 tokens/s in 2027Q2
    700 are unmet (warnings name both); RENTING_WORKLOAD's 2,000 tokens/s in 2027Q1 rent 2 nodes at the cloud site
    HOSTILE_CLOUD_SITE (2 × $17,520 rent < $30 × 2,000 unmet). Every table and chart carries a hostile name."""
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(folder / "catalog.csv", CATALOG_COLUMNS,
              [sku(sku=HOSTILE_SKU, rent_usd_per_gpu_hour=1.0, idle_frac=0.3, source="<i>test</i>")])
    write_csv(folder / "sites.csv", SITE_COLUMNS,
              [dict(site=HOSTILE_OWNED_SITE, kind="owned", power_mw=0.01, pue=1.0, usd_per_kwh=0.1,
                    gco2_per_kwh=400, racks=10),
               dict(site=HOSTILE_CLOUD_SITE, kind="cloud", power_mw="", pue=1.0, usd_per_kwh="", gco2_per_kwh=0,
                    racks="")])
    write_csv(folder / "workloads.csv", WORKLOAD_COLUMNS,
              [dict(workload=HOSTILE_WORKLOAD, kind="inference", params_b=8, precision="bf16", context_tokens=1000,
                    sites=HOSTILE_OWNED_SITE),
               dict(workload=HOSTILE_FORMULA_WORKLOAD, kind="inference", params_b=8, precision="bf16",
                    context_tokens=1000, sites=HOSTILE_OWNED_SITE),
               dict(workload=RENTING_WORKLOAD, kind="inference", params_b=8, precision="bf16", context_tokens=1000)])
    write_csv(folder / "demand.csv", ["workload", "quarter", "tokens_per_s"],
              [dict(workload=HOSTILE_WORKLOAD, quarter="2027Q1", tokens_per_s=1000),
               dict(workload=HOSTILE_WORKLOAD, quarter="2027Q2", tokens_per_s=1500),
               dict(workload=HOSTILE_FORMULA_WORKLOAD, quarter="2027Q2", tokens_per_s=200),
               dict(workload=RENTING_WORKLOAD, quarter="2027Q1", tokens_per_s=2000)])
    write_csv(folder / "throughput.csv", ["workload", "sku", "tokens_per_s_per_node"],
              [dict(workload=w, sku=HOSTILE_SKU, tokens_per_s_per_node=1000)
               for w in (HOSTILE_WORKLOAD, HOSTILE_FORMULA_WORKLOAD, RENTING_WORKLOAD)])
    config = {"name": HOSTILE_SCENARIO, "start": "2027Q1", "quarters": 2, "catalog": "catalog.csv",
              "sites": "sites.csv", "workloads": "workloads.csv", "demand": "demand.csv",
              "throughput": "throughput.csv", "finance": {"unmet_usd_per_unit": 30.0}}
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """(plan, risk, page text, PageReader, html path): the hostile scenario's plan with a small RISK.json."""
    from models.risk import evaluate_plan

    folder = tmp_path_factory.mktemp("hostile")
    plan, scenario = solved(hostile_scenario(folder / "inputs"))
    assert plan["rentals"] and plan["unmet"] and plan["purchases"], "the scenario should buy, rent and fall short"
    risk = evaluate_plan(scenario, plan, samples=64, seed=0)
    plan_path = write_json_atomic(folder / "plan.json", plan)
    risk_path = write_json_atomic(folder / "risk.json", risk)
    out = folder / "plan.html"
    result = CliRunner().invoke(main, ["report", str(plan_path), "--html", str(out), "--risk", str(risk_path)])
    assert result.exit_code == 0, result.output
    assert "no risk charts" not in result.stderr
    text = out.read_text(encoding="utf-8")
    return plan, risk, text, read_page(text), out


# --- the page against PLAN.json -----------------------------------------------------------------------------

def order_rows(page: PageReader) -> list[tuple]:
    """(order quarter, in service, site, SKU, nodes, GPUs, capex) of each order row of the page's table."""
    rows = page.tables["order-table"]["tbody"]
    return [(r[0], r[1], r[2], r[3], float(r[4].replace(",", "")), float(r[5].replace(",", "")), money(r[7]))
            for r in rows]


def test_order_table_equals_plan_orders(worked):
    """The table shows PLAN.json's purchases, one row each; GPUs = nodes × 8 (the worked example's `h`)."""
    plan, _, page, _ = worked
    assert page.tables["order-table"]["thead"][0][:8] == ["order quarter", "in service", "site", "SKU", "nodes",
                                                           "GPUs", "price per node", "capex"]
    expected = sorted((o["quarter"], o["in_service"], o["site"], o["sku"], float(o["nodes"]), 8.0 * o["nodes"],
                       float(o["capex_usd"])) for o in plan["purchases"])
    assert order_rows(page) == expected
    # The hand-worked plan: 2 nodes at A in 2027Q1, in service at once (lead 0), 2 × $240,000.
    assert expected == [("2027Q1", "2027Q1", "A", "h", 2.0, 16.0, 480_000.0)]
    (totals,) = page.tables["order-table"]["tfoot"]
    assert totals[0] == "total" and totals[4] == "2" and totals[5] == "16" and totals[7] == "$480,000"
    rentals = page.tables["rental-table"]["tbody"]
    assert [(r[0], r[1], r[2], r[3], r[4], money(r[5])) for r in rentals] == \
        [(r["quarter"], r["site"], r["sku"], f"{r['nodes']:g}", f"{8 * r['nodes']:g}", r["rent_usd"])
         for r in plan["rentals"]] == [("2027Q2", "cloud", "h", "1", "8", 43_800.0)]


def test_hostile_order_table_equals_plan_orders(hostile):
    """The same with hostile site and SKU names: the cell texts are the names, character for character."""
    plan, _, _, page, _ = hostile
    expected = sorted((o["quarter"], o["in_service"], o["site"], o["sku"], float(o["nodes"]), 8.0 * o["nodes"],
                       float(o["capex_usd"])) for o in plan["purchases"])
    assert order_rows(page) == expected and expected[0][2:4] == (HOSTILE_OWNED_SITE, HOSTILE_SKU)


def test_cost_chart_totals_are_the_hand_worked_cost_lines(worked):
    """The cost chart's data adds up to PLAN.json's cost lines, and those to the worked example's hand figures
    (tests/cases/worked-example/README.md), undiscounted $:

    2027Q1, 2 owned nodes at A, 1.5 node-equivalents busy: depreciation 2 × 12,000 = 24,000; maintenance
    2 × 2,400 = 4,800; energy 2 × 821.25 + 1.5 × 1,916.25 = 4,516.875; carbon 2 × 164.25 + 1.5 × 383.25 = 903.375;
    total 34,220.25 (discount factor 1).
    2027Q2, the same at A plus 1 rented node fully busy: rent 2.5 × 8 × 2,190 = 43,800; carbon 903.375 + 108.405 +
    252.945 = 1,264.725; total 78,381.60, discounted × 1.08^(−1/4) = 76,887.93.
    Depreciation mode: the capex line is zero, and the zero lines (capex, unmet, unfinished) are not charted.
    """
    plan, _, page, _ = worked
    spec = chart_specs(page)["costs"]
    bars, line = layer_values(spec, 0), layer_values(spec, 1)
    by_line: dict[str, float] = {}
    by_quarter: dict[str, float] = {}
    for row in bars:
        by_line[row["line"]] = by_line.get(row["line"], 0.0) + row["usd"]
        by_quarter[row["quarter"]] = by_quarter.get(row["quarter"], 0.0) + row["usd"]
    hand = {"depreciation": 48_000.0, "maintenance": 9_600.0, "energy": 9_033.75, "rent": 43_800.0,
            "carbon": 2_168.10}
    assert set(by_line) == set(hand)
    for name, usd in hand.items():
        assert by_line[name] == pytest.approx(usd, rel=1e-6)
        assert by_line[name] == pytest.approx(plan["totals"][f"{name}_usd"], rel=REL)
    assert by_quarter == pytest.approx({"2027Q1": 34_220.25, "2027Q2": 78_381.60}, rel=1e-6)
    assert sum(by_quarter.values()) == pytest.approx(plan["totals"]["total_usd"], rel=REL)
    discounted = {row["quarter"]: row["discounted_usd"] for row in line}
    assert discounted == pytest.approx({"2027Q1": 34_220.25, "2027Q2": 76_887.93}, abs=0.01)
    assert sum(discounted.values()) == pytest.approx(plan["objective_usd"], rel=REL)
    assert sum(discounted.values()) == pytest.approx(111_108.18, abs=0.01)


def test_cost_chart_totals_equal_plan_cost_lines_with_penalties(hostile):
    """Every $ cost line of a plan with rent and unmet demand: the chart's sum per line is PLAN.json's total."""
    plan, _, _, page, _ = hostile
    sums: dict[str, float] = {}
    for row in layer_values(chart_specs(page)["costs"], 0):
        sums[row["line"]] = sums.get(row["line"], 0.0) + row["usd"]
    assert "unmet" in sums and "rent" in sums
    for name, total in plan["totals"].items():
        if name.endswith("_usd") and name not in ("total_usd", "discounted_usd", "spend_usd", "penalty_usd"):
            label = name.removesuffix("_usd").replace("_", " ")
            assert sums.get(label, 0.0) == pytest.approx(total, rel=REL, abs=1e-9), name


def test_orders_capacity_demand_and_power_charts_hold_the_hand_worked_figures(worked):
    """Orders: 16 GPUs / 2 nodes at A in 2027Q1. Capacity: 16 GPUs in service in 2027Q1, 24 in 2027Q2 (2 owned
    + 1 rented, 8 GPUs each); busy 1.5 × 8 = 12 and 2.5 × 8 = 20 GPU-equivalents. Demand: 1,500 and 2,500 tokens/s,
    all served. Power at A: full load 2 × 10 kW × 1.25 = 25 kW = the 0.025 MW cap; at the plan's utilisation
    (2 × 10 × 0.3 idle + 1.5 × 10 × 0.7 busy) × 1.25 = 20.625 kW."""
    _, _, page, _ = worked
    specs = chart_specs(page)
    orders = {(r["quarter"], r["site"], r["sku"], r["measure"]): r["value"] for r in specs["orders"]["data"]["values"]}
    assert orders == {("2027Q1", "A", "h", "GPUs"): 16.0, ("2027Q1", "A", "h", "nodes"): 2.0}
    in_service = {r["quarter"]: r["gpus"] for r in layer_values(specs["capacity"], 0)}
    busy = {r["quarter"]: r["gpus"] for r in layer_values(specs["capacity"], 1)}
    assert in_service == {"2027Q1": 16.0, "2027Q2": 24.0}
    assert busy == pytest.approx({"2027Q1": 12.0, "2027Q2": 20.0}, rel=1e-9)
    status = {(r["quarter"], r["status"]): r["tokens_per_s"] for r in layer_values(specs["demand"], 0)}
    assert status == pytest.approx({("2027Q1", "served"): 1500.0, ("2027Q2", "served"): 2500.0,
                                    ("2027Q1", "unmet"): 0.0, ("2027Q2", "unmet"): 0.0}, abs=1e-6)
    demand = {r["quarter"]: r["tokens_per_s"] for r in layer_values(specs["demand"], 1)}
    assert demand == {"2027Q1": 1500.0, "2027Q2": 2500.0}
    power = {(r["quarter"], r["measure"].split(" ")[0]): r["kw"] for r in specs["power"]["data"]["values"]}
    assert power == pytest.approx({(q, m): kw for q in ("2027Q1", "2027Q2")
                                   for m, kw in (("full", 25.0), ("at", 20.625), ("power", 25.0))}, rel=1e-9)


def test_headline_shows_tco_and_spend_vs_penalties(worked):
    """TCO $111,108 (rounded to the dollar); spend = TCO, penalties $0 (all demand served)."""
    plan, _, page, _ = worked
    text = " ".join(page.text)
    assert "discounted TCO $111,108" in re.sub(r"\s+", " ", text)
    assert f"discounted spend {'$'}{plan['discounted_spend_usd']:,.0f}" in re.sub(r"\s+", " ", text)
    assert "discounted penalties $0" in re.sub(r"\s+", " ", text)


def test_without_risk_the_page_says_so_and_draws_no_risk_chart(worked):
    _, text, page, _ = worked
    assert NO_RISK_NOTE.split(":")[0] in " ".join(page.text)
    assert not set(RISK_CHARTS) & set(chart_specs(page)) and not set(RISK_CHARTS) & set(page.charts)
    assert set(page.charts) == set(CHARTS) - set(RISK_CHARTS)


def test_risk_charts_read_risk_json(hostile):
    """The TCO histogram is RISK.json's, its bands its percentiles; the shortfall chart its by-quarter rows."""
    plan, risk, _, page, _ = hostile
    specs = chart_specs(page)
    bins = layer_values(specs["risk_tco"], 1)
    assert [b["futures"] for b in bins] == risk["histogram"]["counts"] and sum(risk["histogram"]["counts"]) == 64
    (band, tail) = layer_values(specs["risk_tco"], 0)
    tco = risk["tco_usd"]
    assert (band["low_usd"], band["high_usd"], tail["low_usd"], tail["high_usd"]) == \
        (tco["p5"], tco["p95"], tco["p95"], tco["p99"])
    markers = {m["marker"]: m["usd"] for m in layer_values(specs["risk_tco"], 2)}
    assert markers["P50"] == tco["p50"] and markers["mean"] == tco["mean"]
    assert markers["this plan's forecast (PLAN.json objective)"] == plan["objective_usd"]
    shortfall = specs["risk_shortfall"]["data"]["values"]
    assert [(r["quarter"], r["probability"]) for r in shortfall] == \
        [(r["quarter"], r["probability"]) for r in risk["shortfall_by_quarter"]]


# --- text from the inputs stays text ------------------------------------------------------------------------

def test_hostile_names_never_become_markup_or_script(hostile):
    """No input name appears raw in the file; the only scripts are the page's own (the JSON data block, the
    error collector, the three vendored libraries, the boot script); no element carries an event handler; each
    name is present as text (in the tables or the JSON data) exactly as written."""
    plan, _, text, page, _ = hostile
    body = text
    for name in VENDOR_SCRIPTS:  # the libraries' own code is not input text
        body = body.replace((Path(__file__).resolve().parent.parent / "reports" / "vendor" / name)
                            .read_text(encoding="utf-8"), "")
    for name in HOSTILE_NAMES:
        if re.search(r"[<>\"&]", name):
            assert name not in body, name
    assert len(page.scripts) == 2 + len(VENDOR_SCRIPTS) + 1
    assert [s["attrs"] for s in page.scripts] == [{}, {"type": "application/json", "id": "chart-specs"},
                                                  {}, {}, {}, {}]
    assert not [(tag, name) for tag, name, _ in page.attributes if name.lower().startswith("on")]
    assert not [tag for tag, _, _ in page.attributes if tag in ("img", "svg", "b", "i")]
    shown = " ".join(page.text)
    for name in (HOSTILE_SCENARIO, HOSTILE_OWNED_SITE, HOSTILE_CLOUD_SITE, HOSTILE_SKU, HOSTILE_WORKLOAD,
                 HOSTILE_FORMULA_WORKLOAD):
        assert name in shown, name  # the title and heading, the tables, the unmet-demand warnings
    warnings = [item for item in page.text if "unmet" in item]
    assert any(HOSTILE_WORKLOAD in w for w in warnings) and any(HOSTILE_FORMULA_WORKLOAD in w for w in warnings)
    values = {v for spec in chart_specs(page).values() for key in ("data",) if key in spec
              for row in spec[key]["values"] for v in row.values()}
    values |= {v for spec in chart_specs(page).values() for layer in spec.get("layer", []) if "data" in layer
               for row in layer["data"]["values"] for v in row.values()}
    assert {HOSTILE_SKU, HOSTILE_OWNED_SITE} <= values  # chart data: values Vega draws as SVG text


def test_the_page_fetches_nothing(worked):
    """No src or href attribute (nothing loaded from a file or the network) and a policy that forbids it."""
    _, text, page, _ = worked
    assert not [(tag, name) for tag, name, _ in page.attributes if name in ("src", "href")]
    (policy,) = [value for tag, name, value in page.attributes if tag == "meta" and name == "content"
                 and value and "default-src" in value]
    assert "default-src 'none'" in policy and "connect-src 'none'" in policy
    assert "http://" not in policy and "https://" not in policy


def test_bad_risk_file_writes_no_page(worked, tmp_path):
    plan, _, _, _ = worked
    plan_path = write_json_atomic(tmp_path / "plan.json", plan)
    (tmp_path / "risk.json").write_text("{not json")
    out = tmp_path / "plan.html"
    result = CliRunner().invoke(main, ["report", str(plan_path), "--html", str(out), "--risk",
                                       str(tmp_path / "risk.json")])
    assert result.exit_code == 2 and "not valid JSON" in result.output and not out.exists()


# --- in a real browser ----------------------------------------------------------------------------------------

def run_chromium(page: Path, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    if CHROMIUM is None:
        pytest.fail("CI must install Debian's chromium (.ci/run does): the HTML report is untested without it")
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={tmp_path / 'chromium-profile'}", "--enable-logging=stderr", "--v=0",
               f"--virtual-time-budget={VIRTUAL_TIME_BUDGET_MS}", *extra, page.as_uri()]
    return subprocess.run(command, capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT_S, check=False)


def console_messages(stderr: str) -> list[str]:
    """The page's console output as Chromium logs it (`CONSOLE(line)] "message", source: ...`)."""
    return [line for line in stderr.splitlines() if "CONSOLE" in line]


def assert_every_chart_drawn(html_path: Path, tmp_path: Path, expected: set[str]) -> PageReader:
    result = run_chromium(html_path, tmp_path, "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    dom = read_page(result.stdout)
    assert not console_messages(result.stderr), console_messages(result.stderr)
    body = [dict(a) for tag, a in [(t, {n: v}) for t, n, v in dom.attributes] if tag == "body"]
    flags = {k: v for a in body for k, v in a.items()}
    assert "data-chart-errors" not in flags, flags.get("data-chart-errors")
    assert flags.get("data-charts-done") == str(len(expected))
    assert set(dom.charts) == expected
    for chart, found in dom.charts.items():
        assert found["rendered"] and found["svg"] >= 1 and found["marks"] > 0, (chart, found)
    return dom


@needs_chromium
def test_every_chart_renders_in_chromium_with_risk_and_hostile_names(hostile, tmp_path):
    """Seven charts, each an SVG with marks, no console message, no error; the hostile names are DOM text."""
    _, _, _, _, out = hostile
    dom = assert_every_chart_drawn(out, tmp_path, set(CHARTS))
    shown = " ".join(dom.text)
    assert HOSTILE_OWNED_SITE in shown and HOSTILE_SKU in shown and HOSTILE_WORKLOAD in shown
    assert not [tag for tag, _, _ in dom.attributes if tag == "img"]  # the site name made no <img>


@needs_chromium
def test_every_chart_renders_in_chromium_without_risk(worked, tmp_path):
    _, _, _, out = worked
    dom = assert_every_chart_drawn(out, tmp_path, set(CHARTS) - set(RISK_CHARTS))
    assert "No risk results" in " ".join(dom.text)


@needs_chromium
def test_screenshot_is_a_full_page_image(hostile, tmp_path):
    """The page as a person sees it (docs/html-report.md shows how to look at one): a PNG of the given size."""
    _, _, _, _, out = hostile
    shot = tmp_path / "plan.png"
    result = run_chromium(out, tmp_path, f"--screenshot={shot}", "--window-size=1400,3000", "--hide-scrollbars")
    assert result.returncode == 0, result.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1400, 3000)


def test_plan_writes_the_page_beside_plan_json(tmp_path):
    """`planner plan SCENARIO --html OUT.html` writes the same page `planner report --html` would: the same orders,
    and (with --no-risk) the note that there are no risk results."""
    scenario = worked_example(tmp_path / "inputs")
    out, plan_path = tmp_path / "plan.html", tmp_path / "plan.json"
    result = CliRunner().invoke(main, ["plan", str(scenario), "--json", str(plan_path), "--html", str(out),
                                       "--no-risk", "--no-baselines", "--quiet"])
    assert result.exit_code == 0, result.output
    page = read_page(out.read_text(encoding="utf-8"))
    plan = json.loads(plan_path.read_text())
    assert order_rows(page) == sorted((o["quarter"], o["in_service"], o["site"], o["sku"], float(o["nodes"]),
                                       8.0 * o["nodes"], float(o["capex_usd"])) for o in plan["purchases"])
    assert "No risk results" in " ".join(page.text)


def test_plan_refuses_an_unwritable_page_before_solving(tmp_path):
    scenario = worked_example(tmp_path / "inputs")
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = CliRunner().invoke(main, ["plan", str(scenario), "--html", str(blocker / "plan.html"), "--no-risk"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert not (tmp_path / "file").is_dir()


@pytest.fixture(scope="module")
def rent_only(tmp_path_factory):
    """A cloud site only: 1,000 tokens/s for one quarter are served by renting 1 node ($1/GPU-h × 8 × 2,190 h =
    $17,520), so the plan orders nothing and has no power cap to chart."""
    from scenario_files import CLOUD, inference, write_scenario

    folder = tmp_path_factory.mktemp("rent-only")
    path = write_scenario(folder / "inputs", catalog=[sku(rent_usd_per_gpu_hour=1.0)], sites=[CLOUD],
                          workloads=[inference("chat")], demand=[("chat", "2027Q1", 1000)],
                          throughput=[("chat", "a", 1000)], quarters=1)
    plan, _ = solved(path)
    assert not plan["purchases"] and plan["rentals"]
    plan_path = write_json_atomic(folder / "plan.json", plan)
    out = folder / "plan.html"
    result = CliRunner().invoke(main, ["report", str(plan_path), "--html", str(out)])
    assert result.exit_code == 0, result.output
    return plan, read_page(out.read_text(encoding="utf-8")), out


def test_a_plan_without_orders_or_owned_sites_says_so_instead_of_charting(rent_only):
    plan, page, _ = rent_only
    text = " ".join(page.text)
    assert "No orders: the plan buys nothing." in text and "No orders to chart" in text
    assert "No owned site: no power cap to chart." in text
    assert set(page.charts) == {"capacity", "demand", "costs"}
    rent = {row["line"]: row["usd"] for row in layer_values(chart_specs(page)["costs"], 0)}
    assert rent == pytest.approx({"rent": 17_520.0}) and plan["totals"]["rent_usd"] == pytest.approx(17_520.0)


@needs_chromium
def test_every_chart_renders_in_chromium_without_orders(rent_only, tmp_path):
    _, _, out = rent_only
    assert_every_chart_drawn(out, tmp_path, {"capacity", "demand", "costs"})
