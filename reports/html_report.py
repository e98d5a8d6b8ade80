"""The plan as one self-contained HTML page: headline figures, the order table and interactive Vega-Lite charts.

Rendering only. Every figure comes from PLAN.json (and RISK.json when given) through the tables of
reports/tables.py, the same ones the workbook and the CSV files show; the GPUs per node come from the scenario's
catalog, as they do there. The page needs no network: Vega, Vega-Lite and vega-embed (BSD-3-Clause, vendored in
reports/vendor/, versions in its README) are inlined, and a Content-Security-Policy lets the browser run only
those scripts (by SHA-256) and fetch nothing.

Text from the inputs (scenario, workload, site and SKU names, warnings) reaches the page only as escaped HTML text
or as JSON data inside a `<script type="application/json">` block with `<`, `>` and `&` written as \\u escapes,
which Vega-Lite draws as SVG text: a name is never markup, script or a Vega expression.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
from pathlib import Path

import pandas as pd

from models.cost_parameters import PENALTY_LINES_USD, USD_LINES
from models.plan_schema import columns_of
from models.scenario import Scenario
from reports.atomic import write_atomic
from reports.tables import (costs_table, fleet_table, placement_table, plan_warnings, purchases_table, rentals_table,
                            site_power_table, spend_and_penalties, unit_costs_tables, unmet_table)

VENDOR = Path(__file__).resolve().parent / "vendor"
# Loaded in this order: vega-lite needs vega, vega-embed needs both.
VENDOR_SCRIPTS = ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js")
VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"  # an identifier only, never fetched

# The chart sections, in page order: (element id, heading). Ids are ours, never from the inputs.
CHARTS = {
    "orders": "Orders by quarter, SKU and site",
    "capacity": "Capacity vs demand: GPUs in service and GPUs busy",
    "demand": "Inference demand: served and unmet tokens/s",
    "power": "Power vs cap per owned site",
    "costs": "Cost lines by quarter",
    "risk_tco": "Risk: distribution of the discounted TCO over sampled futures",
    "risk_shortfall": "Risk: shortfall by quarter over sampled futures",
}
RISK_CHARTS = ("risk_tco", "risk_shortfall")
CAPTIONS = {
    "orders": "Purchases by the quarter they are placed, one panel per site, stacked by SKU; count them in GPUs or "
              "nodes with the buttons under the chart.",
    "capacity": "Bars: GPUs in service each quarter (existing fleet, orders in service, rentals), by SKU. Line: "
                "GPU-equivalents the placement keeps busy (node-equivalents × GPUs per node).",
    "demand": "Bars: inference tokens/s served by the placement and left unmet. Dashed line: the scenario's "
              "inference demand.",
    "power": "Facility power at each owned site: at full load (what the cap limits), at the plan's utilisation "
             "(what the energy bill pays for), and the cap.",
    "costs": "PLAN.json's $ cost lines per quarter, undiscounted, stacked (lines that are zero all horizon long are "
             "left out; click a legend entry to pick one out, shift-click for more); the line is each quarter's "
             "discounted total, whose sum is the discounted TCO.",
    "risk_tco": "Histogram of the discounted TCO over RISK.json's sampled futures, with its percentile bands and "
                "markers; PLAN.json's objective is the forecast future.",
    "risk_shortfall": "Per quarter: the probability that the plan's fleet leaves demand unserved (line, right "
                      "axis) and the expected shortfall in tokens/s (bars).",
}
NO_RISK_NOTE = ("No risk results: this page was made from PLAN.json alone, which holds none. Run `planner "
                "evaluate SCENARIO --plan PLAN.json --json RISK.json` and `planner report PLAN.json --html OUT.html "
                "--risk RISK.json` for the TCO distribution and the shortfall by quarter.")
COUNT_MEASURES = ("GPUs", "nodes")  # what the orders chart can count, chosen with a radio button
LINE_LABELS = {name: name.removesuffix("_usd").replace("_", " ") for name in USD_LINES}
POWER_MEASURES = {"full_load_facility_kw": "full load × PUE (what the cap limits)",
                  "facility_kw": "at the plan's utilisation × PUE", "site_cap_kw": "power cap"}
CHART_WIDTH_PX = 900  # the page's chart width; facets share it
FACET_WIDTH_PX = 380
CHART_HEIGHT_PX = 260

# Escapes that keep JSON inside a <script> element inert: no `</script>`, no `<!--`, no entity (HTML spec 4.12.1.3).
_SCRIPT_SAFE = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026", 0x2028: "\\u2028",
                0x2029: "\\u2029"}


def write_html_report(path: str | Path, plan: dict, scenario: Scenario, risk: dict | None = None) -> Path:
    """Write the page atomically (reports/atomic.py); the whole page is built before anything is written."""
    page = render_html(plan, scenario, risk)
    return write_atomic(path, lambda tmp: tmp.write_text(page, encoding="utf-8"))


def render_html(plan: dict, scenario: Scenario, risk: dict | None = None) -> str:
    """The report page as one string of HTML."""
    specs = chart_specs(plan, scenario, risk)
    purchases, rentals = purchases_table(plan, scenario), rentals_table(plan, scenario)
    body = "\n".join([
        f"<h1>Plan: {_text(plan['scenario'])}</h1>",
        _status_line(plan),
        _headline(plan, purchases, rentals, risk),
        _warnings(plan, scenario),
        _baselines(plan),
        "<h2>Orders</h2>",
        _table(purchases, ORDER_COLUMNS, "order-table", "No orders: the plan buys nothing."),
        "<h2>Rentals</h2>",
        _table(rentals, RENTAL_COLUMNS, "rental-table", "No rentals."),
        *_chart_sections(specs, risk),
    ])
    data = json.dumps(specs, ensure_ascii=False, allow_nan=False).translate(_SCRIPT_SAFE)
    scripts = [_vendor_script(name) for name in VENDOR_SCRIPTS] + [BOOT_SCRIPT]
    hashes = " ".join(f"'sha256-{_script_hash(s)}'" for s in (ERROR_SCRIPT, *scripts))
    # 'unsafe-eval': Vega compiles its expressions (ours: the filters and formats below) with Function().
    policy = (f"default-src 'none'; script-src {hashes} 'unsafe-eval'; style-src 'unsafe-inline'; "
              f"img-src data:; connect-src 'none'; form-action 'none'; base-uri 'none'")
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{html.escape(policy)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Plan: {_text(plan['scenario'])}</title>",
        f"<style>{STYLE}</style>",
        f"<script>{ERROR_SCRIPT}</script>",
        "</head>",
        "<body>",
        body,
        f'<script type="application/json" id="chart-specs">{data}</script>',
        *(f"<script>{script}</script>" for script in scripts),
        "</body>",
        "</html>",
        "",
    ])


# --- the charts' Vega-Lite specifications ---------------------------------------------------------------------

def chart_specs(plan: dict, scenario: Scenario, risk: dict | None = None) -> dict[str, dict]:
    """Chart id -> Vega-Lite spec with its data inline; a chart with nothing to draw is left out (its section
    says why)."""
    quarters = list(plan["horizon"]["quarters"])
    builders = {
        "orders": lambda: _orders_spec(plan, scenario, quarters),
        "capacity": lambda: _capacity_spec(plan, scenario, quarters),
        "demand": lambda: _demand_spec(plan, scenario, quarters),
        "power": lambda: _power_spec(plan, scenario, quarters),
        "costs": lambda: _costs_spec(plan, scenario, quarters),
    }
    if risk is not None:
        builders["risk_tco"] = lambda: _risk_tco_spec(plan, risk)
        builders["risk_shortfall"] = lambda: _risk_shortfall_spec(risk, quarters)
    specs = {}
    for chart_id, build in builders.items():
        spec = build()
        if spec is not None:
            specs[chart_id] = {"$schema": VEGA_LITE_SCHEMA, "config": CHART_CONFIG, **spec}
    return specs


CHART_CONFIG = {"font": "system-ui, sans-serif", "axis": {"labelFontSize": 12, "titleFontSize": 12},
                "legend": {"labelFontSize": 12, "titleFontSize": 12, "labelLimit": 320}, "view": {"stroke": None}}
# Where a chart says there is nothing to draw (shown instead of the chart).
EMPTY_NOTES = {
    "orders": "No orders to chart: the plan buys nothing.",
    "capacity": "Nothing in service in any quarter.",
    "demand": "No inference demand in this scenario.",
    "power": "No owned site: no power cap to chart.",
    "costs": "Every cost line is zero.",
    "risk_tco": "RISK.json holds no TCO histogram.",
    "risk_shortfall": "RISK.json holds no shortfall by quarter (written by an older `planner evaluate`).",
}


def _records(frame: pd.DataFrame) -> list[dict]:
    """JSON-ready rows: numpy scalars as Python numbers, NaN as null."""
    return json.loads(frame.to_json(orient="records", double_precision=15))


QUARTER_LABEL_PX = 64  # room an upright label like 2027Q1 needs; narrower bands get slanted labels


def _quarter_axis(quarters: list[str], title: str = "quarter", width_px: int = CHART_WIDTH_PX) -> dict:
    upright = len(quarters) * QUARTER_LABEL_PX <= width_px
    return {"field": "quarter", "type": "ordinal", "sort": quarters, "scale": {"domain": quarters},
            "title": title, "axis": {"labelAngle": 0 if upright else -45}}


def _sku_color(skus: list[str], title: str) -> dict:
    """The SKU colour scale, one domain for every chart so a SKU keeps its colour across the page."""
    return {"field": "sku", "type": "nominal", "title": title, "scale": {"domain": skus}}


def sku_domain(plan: dict) -> list[str]:
    """Every SKU the plan has in service or orders, sorted: the shared colour domain."""
    names = {row[column] for table in ("fleet", "purchases", "rentals") for column in columns_of(table, "sku")
             for row in plan.get(table) or []}
    return sorted(names)


def _series_color() -> dict:
    """The one black line drawn over a chart's bars, with its own legend entry."""
    return {"field": "series", "type": "nominal", "title": None, "scale": {"range": ["#111"]}}


# d3's SI prefix: 2M for 2,000,000 (and 0 for zero, not 0M).
SI_LABEL_EXPR = "datum.value == 0 ? '0' : format(datum.value, '~s')"
# d3's SI prefix writes a billion as G; a finance reader expects B.
USD_LABEL_EXPR = "replace(format(datum.value, '$~s'), 'G', 'B')"


def _usd_axis(title: str) -> dict:
    return {"title": title, "axis": {"labelExpr": USD_LABEL_EXPR}}


def orders_chart_rows(plan: dict, scenario: Scenario) -> pd.DataFrame:
    """One row per order and count measure: (quarter, site, sku, measure, value), value in GPUs or nodes."""
    purchases = purchases_table(plan, scenario).rename(columns={"order_quarter": "quarter", "gpus": "GPUs"})
    rows = purchases.melt(id_vars=["quarter", "site", "sku", "capex_usd"], value_vars=list(COUNT_MEASURES),
                          var_name="measure", value_name="value")
    return rows[["quarter", "site", "sku", "measure", "value", "capex_usd"]]


def _orders_spec(plan: dict, scenario: Scenario, quarters: list[str]) -> dict | None:
    rows = orders_chart_rows(plan, scenario)
    if rows.empty:
        return None
    return {
        "data": {"values": _records(rows)},
        "params": [{"name": "count", "value": COUNT_MEASURES[0],
                    "bind": {"input": "radio", "options": list(COUNT_MEASURES), "name": "count "}}],
        "transform": [{"filter": "datum.measure === count"}],
        "facet": {"field": "site", "type": "nominal", "title": "site"},
        "columns": 2,
        "resolve": {"scale": {"x": "shared"}},
        "spec": {
            "width": FACET_WIDTH_PX, "height": CHART_HEIGHT_PX,
            "mark": {"type": "bar", "tooltip": True},
            "encoding": {
                "x": _quarter_axis(quarters, "order quarter", FACET_WIDTH_PX),
                "y": {"field": "value", "type": "quantitative", "aggregate": "sum", "title": "ordered (GPUs or nodes)",
                      "stack": "zero"},
                "color": _sku_color(sku_domain(plan), "SKU"),
                "tooltip": [{"field": "quarter", "title": "order quarter"}, {"field": "site"}, {"field": "sku"},
                            {"field": "measure", "title": "count"},
                            {"field": "value", "aggregate": "sum", "title": "ordered", "format": ",.0f"},
                            {"field": "capex_usd", "aggregate": "sum", "title": "capex", "format": "$,.0f"}],
            },
        },
    }


def capacity_chart_rows(plan: dict, scenario: Scenario) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(GPUs in service per quarter and SKU, from the fleet: existing nodes, orders in service and rentals;
    GPU-equivalents busy per quarter, from the placement: node-equivalents × GPUs per node of their SKU)."""
    fleet = fleet_table(plan, scenario)
    in_service = fleet.groupby(["quarter", "sku"], as_index=False)["gpus"].sum()
    gpus_per_node = unit_costs_tables(scenario)["sku"]["gpus_per_node"]
    placement = placement_table(plan, scenario)
    busy = placement.assign(gpus=placement["node_equivalents"] * placement["sku"].map(gpus_per_node))
    busy = busy.groupby("quarter", as_index=False)["gpus"].sum()
    return in_service, busy


def _capacity_spec(plan: dict, scenario: Scenario, quarters: list[str]) -> dict | None:
    in_service, busy = capacity_chart_rows(plan, scenario)
    if in_service.empty:
        return None
    x = _quarter_axis(quarters)
    return {
        "width": CHART_WIDTH_PX, "height": CHART_HEIGHT_PX,
        "layer": [
            {"data": {"values": _records(in_service)},
             "mark": {"type": "bar", "tooltip": True},
             "encoding": {"x": x, "y": {"field": "gpus", "type": "quantitative", "aggregate": "sum",
                                        "title": "GPUs"},
                          "color": _sku_color(sku_domain(plan), "GPUs in service, by SKU"),
                          "tooltip": [{"field": "quarter"}, {"field": "sku"},
                                      {"field": "gpus", "aggregate": "sum", "title": "GPUs in service",
                                       "format": ",.0f"}]}},
            {"data": {"values": _records(busy.assign(series="GPU-equivalents busy (placement)"))},
             "mark": {"type": "line", "point": True, "strokeWidth": 2, "tooltip": True},
             "encoding": {"x": x, "y": {"field": "gpus", "type": "quantitative"},
                          "color": _series_color(),
                          "tooltip": [{"field": "quarter"},
                                      {"field": "gpus", "title": "GPU-equivalents busy", "format": ",.1f"}]}},
        ],
        "resolve": {"scale": {"color": "independent"}, "legend": {"color": "independent"}},
    }


def demand_chart_rows(plan: dict, scenario: Scenario, quarters: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(tokens/s per quarter and status, served from the inference placement and unmet from PLAN.json `unmet`;
    the scenario's inference demand per quarter)."""
    placement = placement_table(plan, scenario)
    served = placement[placement["workload_kind"] == "inference"].groupby("quarter")["tokens_per_s"].sum()
    unmet = unmet_table(plan, scenario).groupby("quarter")["unmet_tokens_per_s"].sum()
    grid = pd.Index(quarters, name="quarter")
    status = pd.concat([
        pd.DataFrame({"quarter": quarters, "status": "served", "tokens_per_s": served.reindex(grid, fill_value=0.0)
                      .to_numpy()}),
        pd.DataFrame({"quarter": quarters, "status": "unmet", "tokens_per_s": unmet.reindex(grid, fill_value=0.0)
                      .to_numpy()})], ignore_index=True)
    kinds = scenario.workloads["kind"].astype(object)
    demand = scenario.demand[scenario.demand["workload"].map(kinds) == "inference"]
    demand = demand.assign(quarter=demand["quarter"].map(scenario.horizon.label))
    demand = demand.groupby("quarter")["tokens_per_s"].sum().reindex(grid, fill_value=0.0).reset_index()
    return status, demand


def _demand_spec(plan: dict, scenario: Scenario, quarters: list[str]) -> dict | None:
    status, demand = demand_chart_rows(plan, scenario, quarters)
    if not (demand["tokens_per_s"] > 0).any() and not (status["tokens_per_s"] > 0).any():
        return None
    x = _quarter_axis(quarters)
    return {
        "width": CHART_WIDTH_PX, "height": CHART_HEIGHT_PX,
        "layer": [
            {"data": {"values": _records(status)},
             "mark": {"type": "bar", "tooltip": True},
             "encoding": {"x": x, "y": {"field": "tokens_per_s", "type": "quantitative", "title": "tokens/s",
                                        "axis": {"labelExpr": SI_LABEL_EXPR}},
                          "color": {"field": "status", "type": "nominal", "title": "inference",
                                    "scale": {"domain": ["served", "unmet"], "range": ["#4c78a8", "#e45756"]}},
                          "tooltip": [{"field": "quarter"}, {"field": "status"},
                                      {"field": "tokens_per_s", "title": "tokens/s", "format": ",.0f"}]}},
            {"data": {"values": _records(demand.assign(series="demand (scenario)"))},
             "mark": {"type": "line", "point": True, "strokeDash": [6, 3], "tooltip": True},
             "encoding": {"x": x, "y": {"field": "tokens_per_s", "type": "quantitative"},
                          "color": _series_color(),
                          "tooltip": [{"field": "quarter"},
                                      {"field": "tokens_per_s", "title": "demand tokens/s", "format": ",.0f"}]}},
        ],
        "resolve": {"scale": {"color": "independent"}, "legend": {"color": "independent"}},
    }


def power_chart_rows(plan: dict, scenario: Scenario) -> pd.DataFrame:
    """(site, quarter, measure, kw): facility kW at full load and at the plan's utilisation, and the cap."""
    power = site_power_table(plan, scenario)
    rows = power.melt(id_vars=["site", "quarter"], value_vars=list(POWER_MEASURES), var_name="measure",
                      value_name="kw")
    rows["measure"] = rows["measure"].map(POWER_MEASURES)
    return rows


def _power_spec(plan: dict, scenario: Scenario, quarters: list[str]) -> dict | None:
    rows = power_chart_rows(plan, scenario)
    if rows.empty:
        return None
    measures = list(POWER_MEASURES.values())
    return {
        "data": {"values": _records(rows)},
        "facet": {"field": "site", "type": "nominal", "title": "owned site"},
        "columns": 2,
        "spec": {
            "width": FACET_WIDTH_PX, "height": CHART_HEIGHT_PX,
            "mark": {"type": "line", "point": True, "tooltip": True},
            "encoding": {
                "x": _quarter_axis(quarters, width_px=FACET_WIDTH_PX),
                "y": {"field": "kw", "type": "quantitative", "title": "facility kW", "axis": {"format": ",.0f"}},
                "color": {"field": "measure", "type": "nominal", "title": None,
                          "scale": {"domain": measures, "range": ["#f58518", "#4c78a8", "#e45756"]}},
                "strokeDash": {"field": "measure", "type": "nominal", "title": None,
                               "scale": {"domain": measures, "range": [[1, 0], [4, 2], [8, 4]]}},
                "tooltip": [{"field": "site"}, {"field": "quarter"}, {"field": "measure"},
                            {"field": "kw", "title": "kW", "format": ",.1f"}],
            },
        },
    }


def cost_chart_rows(plan: dict, scenario: Scenario) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(quarter, line, kind, usd) for every $ cost line that is not zero all horizon long (undiscounted, as PLAN.json
    `costs`), and (quarter, discounted_usd) per quarter."""
    costs = costs_table(plan, scenario)
    rows = costs.melt(id_vars=["quarter"], value_vars=list(USD_LINES), var_name="line", value_name="usd")
    rows = rows[rows.groupby("line")["usd"].transform(lambda usd: (usd != 0).any())]
    rows = rows.assign(kind=rows["line"].map(lambda n: "penalty" if n in PENALTY_LINES_USD else "spend"),
                       line=rows["line"].map(LINE_LABELS))
    return rows.reset_index(drop=True), costs[["quarter", "discounted_usd"]]


def _costs_spec(plan: dict, scenario: Scenario, quarters: list[str]) -> dict | None:
    rows, discounted = cost_chart_rows(plan, scenario)
    if rows.empty:
        return None
    x = _quarter_axis(quarters)
    order = [LINE_LABELS[name] for name in USD_LINES]
    return {
        "width": CHART_WIDTH_PX, "height": CHART_HEIGHT_PX,
        "layer": [
            {"data": {"values": _records(rows)},
             "params": [{"name": "picked_line", "select": {"type": "point", "fields": ["line"]}, "bind": "legend"}],
             "mark": {"type": "bar", "tooltip": True},
             "encoding": {"x": x, "y": {"field": "usd", "type": "quantitative", "aggregate": "sum",
                                        **_usd_axis("$ per quarter (undiscounted)")},
                          "opacity": {"condition": {"param": "picked_line", "value": 1}, "value": 0.2},
                          "color": {"field": "line", "type": "nominal", "title": "cost line", "sort": order},
                          "order": {"field": "line", "sort": "ascending"},
                          "tooltip": [{"field": "quarter"}, {"field": "line", "title": "cost line"},
                                      {"field": "kind"},
                                      {"field": "usd", "aggregate": "sum", "title": "$", "format": "$,.0f"}]}},
            {"data": {"values": _records(discounted.assign(series="total, discounted"))},
             "mark": {"type": "line", "point": True, "tooltip": True},
             "encoding": {"x": x, "y": {"field": "discounted_usd", "type": "quantitative"},
                          "color": _series_color(),
                          "tooltip": [{"field": "quarter"},
                                      {"field": "discounted_usd", "title": "discounted total", "format": "$,.0f"}]}},
        ],
        "resolve": {"scale": {"color": "independent"}, "legend": {"color": "independent"}},
    }


# Percentile bands of the TCO distribution, outermost first: (low key, high key, label, opacity).
TCO_BANDS = (("p5", "p95", "P5–P95: 90 % of futures", "#9ecae9"), ("p95", "p99", "P95–P99: the tail", "#f2b447"))
TCO_MARKERS = (("p50", "P50"), ("mean", "mean"), ("p95", "P95"), ("p99", "P99"))
FORECAST_MARKER = "this plan's forecast (PLAN.json objective)"
MARKER_COLORS = {"P50": "#7b3294", "mean": "#d62728", "P95": "#ff7f0e", "P99": "#8c564b", FORECAST_MARKER: "#111111"}


def _risk_tco_spec(plan: dict, risk: dict) -> dict | None:
    histogram, tco = risk.get("histogram") or {}, risk.get("tco_usd") or {}
    edges, counts = histogram.get("bin_edges_usd") or [], histogram.get("counts") or []
    if len(edges) != len(counts) + 1 or not counts:
        return None
    bins = [{"low_usd": low, "high_usd": high, "futures": count}
            for low, high, count in zip(edges[:-1], edges[1:], counts)]
    bands = [{"band": label, "low_usd": tco[low], "high_usd": tco[high]}
             for low, high, label, _ in TCO_BANDS if _finite(tco.get(low)) and _finite(tco.get(high))]
    markers = [{"marker": label, "usd": tco[key]} for key, label in TCO_MARKERS if _finite(tco.get(key))]
    markers.append({"marker": FORECAST_MARKER, "usd": plan["objective_usd"]})
    x_title = f"discounted TCO of one future ({risk.get('samples', len(counts))} futures)"
    return {
        "width": CHART_WIDTH_PX, "height": CHART_HEIGHT_PX,
        "layer": [
            {"data": {"values": bands},
             "mark": {"type": "rect", "opacity": 0.45, "tooltip": True},
             "encoding": {"x": {"field": "low_usd", "type": "quantitative", "scale": {"zero": False},
                                **_usd_axis(x_title)},
                          "x2": {"field": "high_usd"},
                          "color": {"field": "band", "type": "nominal", "title": "percentile band",
                                    "scale": {"domain": [b[2] for b in TCO_BANDS],
                                              "range": [b[3] for b in TCO_BANDS]}},
                          "tooltip": [{"field": "band"}, {"field": "low_usd", "title": "from", "format": "$,.0f"},
                                      {"field": "high_usd", "title": "to", "format": "$,.0f"}]}},
            {"data": {"values": bins},
             "mark": {"type": "rect", "color": "#4c78a8", "stroke": "white", "strokeWidth": 0.5, "tooltip": True},
             "encoding": {"x": {"field": "low_usd", "type": "quantitative"}, "x2": {"field": "high_usd"},
                          "y": {"field": "futures", "type": "quantitative", "title": "futures"},
                          "y2": {"datum": 0},
                          "tooltip": [{"field": "low_usd", "title": "from", "format": "$,.0f"},
                                      {"field": "high_usd", "title": "to", "format": "$,.0f"},
                                      {"field": "futures"}]}},
            {"data": {"values": markers},
             "mark": {"type": "rule", "strokeWidth": 2, "tooltip": True},
             "encoding": {"x": {"field": "usd", "type": "quantitative"},
                          "color": {"field": "marker", "type": "nominal", "title": "marker",
                                    "scale": {"domain": [m["marker"] for m in markers],
                                              "range": [MARKER_COLORS[m["marker"]] for m in markers]}},
                          "tooltip": [{"field": "marker"}, {"field": "usd", "title": "$", "format": "$,.0f"}]}},
        ],
        "resolve": {"scale": {"color": "independent"}, "legend": {"color": "independent"}},
    }


def risk_shortfall_rows(risk: dict, quarters: list[str]) -> pd.DataFrame:
    """(quarter, probability, expected_shortfall_tokens_per_s) per quarter of RISK.json `shortfall_by_quarter`."""
    rows = pd.DataFrame(risk.get("shortfall_by_quarter") or [],
                        columns=["quarter", "probability", "expected_shortfall_tokens_per_s"])
    return rows[["quarter", "probability", "expected_shortfall_tokens_per_s"]]


def _risk_shortfall_spec(risk: dict, quarters: list[str]) -> dict | None:
    rows = risk_shortfall_rows(risk, quarters)
    if rows.empty:
        return None
    x = _quarter_axis(quarters)
    return {
        "width": CHART_WIDTH_PX, "height": CHART_HEIGHT_PX,
        "data": {"values": _records(rows)},
        "layer": [
            {"mark": {"type": "bar", "color": "#e45756", "opacity": 0.7, "tooltip": True},
             "encoding": {"x": x, "y": {"field": "expected_shortfall_tokens_per_s", "type": "quantitative",
                                        "title": "expected shortfall, tokens/s (bars)",
                                        "axis": {"labelExpr": SI_LABEL_EXPR}},
                          "tooltip": [{"field": "quarter"},
                                      {"field": "expected_shortfall_tokens_per_s", "title": "expected tokens/s",
                                       "format": ",.0f"},
                                      {"field": "probability", "title": "P(shortfall)", "format": ".1%"}]}},
            {"mark": {"type": "line", "point": {"color": "#111"}, "color": "#111", "tooltip": True},
             "encoding": {"x": x, "y": {"field": "probability", "type": "quantitative",
                                        "title": "probability of a shortfall (line)",
                                        "scale": {"domain": [0, 1]}, "axis": {"format": ".0%"}},
                          "tooltip": [{"field": "quarter"},
                                      {"field": "probability", "title": "P(shortfall)", "format": ".1%"}]}},
        ],
        "resolve": {"scale": {"y": "independent"}},
    }


# --- the page's HTML pieces -----------------------------------------------------------------------------------

def _text(value) -> str:
    """Any value as escaped HTML text."""
    return html.escape("" if value is None else str(value), quote=True)


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _percent(value) -> str:
    return f"{value:.1%}" if _finite(value) else "–"


def usd(value) -> str:
    """$1,234,567 (whole dollars); an en dash for a missing value."""
    if not _finite(value):
        return "–"
    return f"-${-value:,.0f}" if value < 0 else f"${value:,.0f}"


def count(value) -> str:
    """A count of nodes or GPUs: whole numbers as integers, anything else with up to two decimals."""
    if not _finite(value):
        return "–"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


# (column of the table, heading, formatter): the Orders and Rentals tables as the page shows them.
ORDER_COLUMNS = (("order_quarter", "order quarter", str), ("in_service_quarter", "in service", str),
                 ("site", "site", str), ("sku", "SKU", str), ("nodes", "nodes", count), ("gpus", "GPUs", count),
                 ("unit_price_usd", "price per node", usd), ("capex_usd", "capex", usd),
                 ("book_value_end_usd", "book value at the end", usd))
RENTAL_COLUMNS = (("quarter", "quarter", str), ("site", "site", str), ("sku", "SKU", str),
                  ("nodes", "nodes", count), ("gpus", "GPUs", count), ("rent_usd", "rent for the quarter", usd))
NUMERIC_FORMATS = (count, usd)


def _table(frame: pd.DataFrame, columns, table_id: str, empty: str) -> str:
    if frame.empty:
        return f'<p class="note" id="{table_id}">{_text(empty)}</p>'
    head = "".join(f"<th>{_text(title)}</th>" for _, title, _ in columns)
    rows = []
    for record in frame.to_dict("records"):
        cells = "".join(f'<td class="num">{_text(fmt(record[name]))}</td>' if fmt in NUMERIC_FORMATS
                        else f"<td>{_text(fmt(record[name]))}</td>" for name, _, fmt in columns)
        rows.append(f"<tr>{cells}</tr>")
    totals = "".join(f'<td class="num">{_text(fmt(frame[name].sum()))}</td>' if name in ("nodes", "gpus", "capex_usd",
                                                                                        "rent_usd")
                     else ("<td>total</td>" if index == 0 else "<td></td>")
                     for index, (name, _, fmt) in enumerate(columns))
    return (f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody>'
            f'<tfoot><tr>{totals}</tr></tfoot></table>')


def _status_line(plan: dict) -> str:
    quarters = plan["horizon"]["quarters"]
    horizon = f"{quarters[0]}–{quarters[-1]} ({len(quarters)} quarters)" if quarters else "no quarters"
    gap = plan.get("gap")
    gap_text = f", gap {gap:.3%}" if _finite(gap) else ""
    mode = plan.get("capex_mode")
    return (f'<p class="status">{_text(horizon)} · status {_text(plan["status"])} · solver {_text(plan["solver"])}'
            f"{_text(gap_text)}{_text(f' · capex mode {mode}' if mode else '')}</p>")


def headline_figures(plan: dict, purchases: pd.DataFrame, rentals: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(label, value, note) of the headline cards: TCO, spend vs penalties, what is bought and rented."""
    split = spend_and_penalties(plan)
    return [
        ("discounted TCO", usd(plan["objective_usd"]), "the objective: Σ discounted cost lines"),
        ("discounted spend", usd(split["discounted_spend_usd"]),
         "capex or depreciation, rent, energy, maintenance, carbon"),
        ("discounted penalties", usd(split["discounted_penalty_usd"]), "unmet demand and unfinished training"),
        ("undiscounted total", usd(plan["totals"]["total_usd"]),
         f"spend {usd(split['spend_usd'])}, penalties {usd(split['penalty_usd'])}"),
        ("orders", f"{len(purchases):,}", f"{count(purchases['nodes'].sum())} nodes, "
                                          f"{count(purchases['gpus'].sum())} GPUs, capex "
                                          f"{usd(purchases['capex_usd'].sum())}"),
        ("rentals", f"{len(rentals):,}", f"{count(rentals['nodes'].sum())} node-quarter"
                                         f"{'' if rentals['nodes'].sum() == 1 else 's'}, rent "
                                         f"{usd(rentals['rent_usd'].sum())}"),
    ]


def risk_figures(risk: dict) -> list[tuple[str, str, str]]:
    """(label, value, note) of the risk cards: the sampled TCO's mean, P95 and CVaR95, and the mean's split."""
    tco, split = risk.get("tco_usd") or {}, risk.get("expected_tco_usd") or {}
    settings = risk.get("settings") or {}
    allocation = settings.get("allocation") or risk.get("allocation")
    basis = f"{risk.get('samples', '?')} futures, seed {risk.get('seed', '?')}" + \
        (f", allocation {allocation}" if allocation else "")
    cards = [("E[TCO] over sampled futures", usd(tco.get("mean")), basis),
             ("P95 TCO", usd(tco.get("p95")), f"P5 {usd(tco.get('p5'))}, P50 {usd(tco.get('p50'))}")]
    if _finite(tco.get("cvar95")):
        cards.append(("CVaR95 TCO", usd(tco["cvar95"]), "mean of the dearest 5 % of futures"))
    if split:
        cards.append(("E[TCO] split", usd(split.get("total_usd")),
                      f"spend {usd(split.get('spend_usd'))}, on-demand rent {usd(split.get('on_demand_usd'))}, "
                      f"penalties {usd(split.get('penalty_usd'))}"))
    return cards


def _cards(figures: list[tuple[str, str, str]], section_id: str) -> str:
    cards = "".join(f'<div class="card"><div class="label">{_text(label)}</div><div class="value">{_text(value)}'
                    f'</div><div class="note">{_text(note)}</div></div>' for label, value, note in figures)
    return f'<section class="cards" id="{section_id}">{cards}</section>'


def _headline(plan: dict, purchases: pd.DataFrame, rentals: pd.DataFrame, risk: dict | None) -> str:
    page = _cards(headline_figures(plan, purchases, rentals), "headline")
    if risk is not None:
        page += "<h2>Risk in figures</h2>" + _cards(risk_figures(risk), "risk-headline")
    return page


def _warnings(plan: dict, scenario: Scenario) -> str:
    warnings = plan_warnings(plan, scenario)
    if not warnings:
        return ""
    items = "".join(f"<li>{_text(w.get('message', ''))}</li>" for w in warnings)
    return f'<h2>Warnings</h2><ul class="warnings" id="warnings">{items}</ul>'


def _baselines(plan: dict) -> str:
    baselines = plan.get("baselines") or []
    if not baselines:
        return ""
    rows = "".join(
        f"<tr><td>{_text(b.get('name'))}</td><td>{_text(b.get('status'))}</td>"
        f'<td class="num">{_text(usd(b.get("objective_usd")))}</td>'
        f'<td class="num">{_text(usd(b.get("saving_usd")))}</td>'
        f'<td class="num">{_text(_percent(b.get("saving_pct")))}</td>'
        f"<td>{_text(b.get('detail'))}</td></tr>" for b in baselines)
    return ('<h2>Savings against simple rules</h2><table id="baseline-table"><thead><tr><th>baseline</th>'
            "<th>status</th><th>its discounted TCO</th><th>this plan saves</th><th>saving</th><th>what it did</th>"
            f"</tr></thead><tbody>{rows}</tbody></table>")


def _chart_sections(specs: dict, risk: dict | None) -> list[str]:
    """One section per chart (or the note saying why it has nothing to draw); without RISK.json one Risk section
    says so instead of the risk charts."""
    sections = []
    for chart_id, title in CHARTS.items():
        if chart_id in RISK_CHARTS and risk is None:
            continue
        if chart_id in specs:
            inner = f'<div class="chart" id="{chart_id}" data-chart="{chart_id}"></div>'
        else:
            inner = f'<p class="note">{_text(EMPTY_NOTES[chart_id])}</p>'
        caption = f'<p class="caption">{_text(CAPTIONS[chart_id])}</p>'
        sections.append(f"<section><h2>{_text(title)}</h2>{caption}{inner}</section>")
    if risk is None:
        sections.append(f'<section><h2>Risk</h2><p class="note no-risk" id="no-risk">{_text(NO_RISK_NOTE)}</p>'
                        "</section>")
    return sections


def _vendor_script(name: str) -> str:
    text = (VENDOR / name).read_text(encoding="utf-8")
    if "</script" in text.lower():  # would end the inline <script> early; the vendored builds have none
        raise ValueError(f"reports/vendor/{name} contains '</script': cannot be inlined")
    return text


def _script_hash(script: str) -> str:
    return base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")


# Collects every uncaught error and console.error into <body data-chart-errors>, so a headless browser's DOM
# shows them (and a reader sees a chart's failure in its place).
ERROR_SCRIPT = """
window.chartErrors = [];
(function () {
  function note(message) {
    window.chartErrors.push(String(message));
    if (document.body) { document.body.setAttribute("data-chart-errors", JSON.stringify(window.chartErrors)); }
  }
  window.addEventListener("error", function (event) { note(event.message || "script error"); });
  window.addEventListener("unhandledrejection", function (event) { note(event.reason); });
  document.addEventListener("securitypolicyviolation", function (event) {
    note("blocked by the page's security policy: " + event.violatedDirective);
  });
  var original = console.error;
  console.error = function () {
    note(Array.prototype.map.call(arguments, String).join(" "));
    return original.apply(console, arguments);
  };
  window.noteChartError = note;
})();
""".strip()

BOOT_SCRIPT = """
(function () {
  var specs = JSON.parse(document.getElementById("chart-specs").textContent);
  var ids = Object.keys(specs);
  var drawn = ids.map(function (id) {
    var element = document.getElementById(id);
    return vegaEmbed(element, specs[id], {renderer: "svg", actions: false})
      .then(function () { element.setAttribute("data-rendered", "yes"); })
      .catch(function (error) {
        window.noteChartError(id + ": " + error);
        element.textContent = "This chart could not be drawn: " + error;
      });
  });
  Promise.all(drawn).then(function () {
    document.body.setAttribute("data-charts-done", String(ids.length));
    if (window.chartErrors.length) {
      document.body.setAttribute("data-chart-errors", JSON.stringify(window.chartErrors));
    }
  });
})();
""".strip()

STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px 32px; color: #1b1b1b; max-width: 1200px; }
h1 { font-size: 24px; margin-bottom: 4px; } h2 { font-size: 18px; margin-top: 28px; }
.status { color: #555; margin-top: 0; }
.cards { display: grid; grid-template-columns: repeat(3, 1fr); gap: 12px; margin-bottom: 12px; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 10px 14px; }
.card .label { color: #555; font-size: 13px; } .card .value { font-size: 22px; font-weight: 600; }
.card .note { color: #666; font-size: 12px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border-bottom: 1px solid #e3e3e3; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f5f5f5; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tfoot td { font-weight: 600; border-top: 2px solid #bbb; }
.note { color: #666; } .caption { color: #444; font-size: 13px; margin-top: -6px; }
.no-risk { border-left: 4px solid #f58518; padding: 6px 12px; background: #fff8ef; }
.warnings li { margin-bottom: 4px; }
.chart { min-height: 120px; }
.vega-bind { margin: 4px 0 8px 0; font-size: 13px; }
""".strip()
