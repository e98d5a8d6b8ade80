"""`planner estimate SCENARIO [--json]`: what each workload needs on each SKU, and the cheapest SKU."""

from __future__ import annotations

import json
import math
import re

import click
import pandas as pd

from models.estimate import estimate_workloads
from models.performance import estimate_performance
from models.queueing import size_for_slo
from planner.scenario import load_scenario

JSON_FIELDS = ["workload", "sku", "eligible", "reason", "min_nodes", "node_hours", "gpu_hours",
               "tokens_per_s_per_node", "ttft_s", "kwh_per_unit", "usd_per_unit", "cheapest"]


def _json_value(value):
    if value is None or (isinstance(value, float) and not math.isfinite(value)) or value is pd.NA:
        return None
    if hasattr(value, "item"):
        value = value.item()
    return value


def slo_at_peak(scenario) -> dict:
    """(workload, sku) -> the TTFT quantile sizing (models/queueing.py) in the quarter of the service's peak
    demand: throughput and SLO replicas, the utilisation the SLO allows, and that quarter's label."""
    sizing = size_for_slo(scenario, estimate_performance(scenario.catalog, scenario.workloads, scenario.throughput))
    if sizing.empty:
        return {}
    rows = sizing.reset_index()
    peak = rows.loc[rows.groupby(["workload", "sku"])["demand_tokens_per_s"].idxmax()]
    return {(r.workload, r.sku): {"slo_quarter": scenario.horizon.label(int(r.quarter)),
                                  "throughput_replicas": float(r.throughput_replicas),
                                  "slo_replicas": float(r.slo_replicas), "utilisation_cap": float(r.utilisation_cap),
                                  "sized_by": "slo" if r.binding else "throughput"}
            for r in peak.itertuples()}


def estimate_rows(table: pd.DataFrame, kinds: pd.Series, slo: dict | None = None) -> list[dict]:
    """The JSON rows; a TTFT quantile service's eligible rows add its sizing at the peak quarter (`slo_at_peak`)."""
    rows = []
    for record in table.to_dict("records"):
        row = {name: _json_value(record[name]) for name in JSON_FIELDS}
        row["reason"] = row["reason"] or None
        if kinds[record["workload"]] == "training":
            row["tokens_per_s_per_node"] = row["ttft_s"] = None
        else:
            row["node_hours"] = row["gpu_hours"] = None
        if not row["eligible"]:
            for name in ("min_nodes", "node_hours", "gpu_hours", "tokens_per_s_per_node",
                         "kwh_per_unit", "usd_per_unit"):
                if name != "min_nodes":
                    row[name] = None
        elif slo and (record["workload"], record["sku"]) in slo:
            row.update(slo[(record["workload"], record["sku"])])
        rows.append(row)
    return rows


@click.command("estimate")
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def command(scenario: str, as_json: bool) -> None:
    """Per workload and SKU: eligibility, minimum nodes, node-hours or tokens/s per node, time to first token
    (inference with prompt_tokens), kWh and $ per unit; for a TTFT quantile SLO, the replicas it needs at the peak
    quarter against throughput's and the utilisation it allows.

    A unit is the whole run for training and one million served tokens for inference, priced at the
    cheapest allowed site; `*` marks each workload's cheapest SKU.
    """
    loaded = load_scenario(scenario)
    table = estimate_workloads(loaded)
    rows = estimate_rows(table, loaded.workloads["kind"], slo_at_peak(loaded))
    if as_json:
        click.echo(json.dumps({"scenario": loaded.name, "rows": rows}, indent=2))
        return
    header = (f"{'workload':<24} {'sku':<16} {'min':>4} {'node-hours':>12} {'tok/s/node':>11} {'TTFT s':>8} "
              f"{'kWh/unit':>12} {'$/unit':>14}  site / reason")
    click.echo(header)
    click.echo("-" * len(header))
    for row, site in zip(rows, table["site"]):
        mark = "*" if row["cheapest"] else " "

        def fmt(value, spec):
            return format(value, spec) if value is not None else format("-", re.match(r"[<>^]?\d*", spec).group())
        tail = (site if isinstance(site, str) else "") if row["eligible"] else f"not eligible: {row['reason']}"
        if row.get("slo_replicas") is not None:
            tail += (f"; TTFT SLO at the {row['slo_quarter']} peak: {row['slo_replicas']:,.0f} replicas vs "
                     f"{row['throughput_replicas']:,.2f} for throughput, utilisation <= {row['utilisation_cap']:.1%}"
                     f" ({row['sized_by']} binds)")
        click.echo(f"{row['workload']:<24} {row['sku']:<15}{mark} {fmt(row['min_nodes'], '>4')} "
                   f"{fmt(row['node_hours'], '>12,.0f')} {fmt(row['tokens_per_s_per_node'], '>11,.0f')} "
                   f"{fmt(row['ttft_s'], '>8.3f')} "
                   f"{fmt(row['kwh_per_unit'], '>12,.1f')} {fmt(row['usd_per_unit'], '>14,.2f')}  {tail}")
