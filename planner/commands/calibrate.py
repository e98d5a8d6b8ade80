"""`planner calibrate TELEMETRY.csv --scenario S`: a fleet's measured throughput and power, fitted."""

from __future__ import annotations

import math

import click

from planner.scenario import load_scenario
from planner.tables import printable
from planner.telemetry import calibrate, write_throughput_table
from reports.atomic import check_writable, write_json_atomic


def _finite(value):
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _records(frame) -> list[dict]:
    return [{key: _finite(value.item() if hasattr(value, "item") else value) for key, value in row.items()}
            for row in frame.to_dict("records")]


@click.command("calibrate")
@click.argument("telemetry", type=click.Path(dir_okay=False))
@click.option("--scenario", "scenario_path", required=True, type=click.Path(dir_okay=False),
              help="The scenario whose workloads, catalog and performance model the telemetry is compared with.")
@click.option("--throughput-out", type=click.Path(dir_okay=False),
              help="Write the fitted throughput table here (name it as the scenario's `throughput:`).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the fit report as JSON.")
def command(telemetry, scenario_path, throughput_out, json_path) -> None:
    """Fit tokens/s per node (with 95 % intervals and leave-one-node-out errors) and GPU power at utilisation
    from per-node scrapes, against the performance model's predictions."""
    for path in (throughput_out, json_path):
        if path:
            check_writable(path)
    scenario = load_scenario(scenario_path)
    throughput, power = calibrate(telemetry, scenario)
    if throughput_out:
        write_throughput_table(throughput_out, throughput)
    if json_path:
        write_json_atomic(json_path, {"telemetry": str(telemetry), "scenario": scenario.name,
                                      "throughput": _records(throughput), "power": _records(power)})
    click.echo(f"{'workload':<16} {'sku':<14} {'nodes':>5} {'measured tokens/s/node':>24} {'model':>10} "
               f"{'correction':>10} {'LOO max':>8}")
    for row in throughput.itertuples():
        interval = f"± {row.ci95_tokens_per_s_per_node:,.0f}" if math.isfinite(row.ci95_tokens_per_s_per_node) \
            else "(1 node)"
        loo = f"{row.loo_max_error:.1%}" if math.isfinite(row.loo_max_error) else "n/a"
        click.echo(f"{printable(row.workload):<16} {printable(row.sku):<14} {row.nodes:>5} "
                   f"{row.tokens_per_s_per_node:>13,.0f} {interval:>10} {row.model_tokens_per_s_per_node:>10,.0f} "
                   f"{row.correction:>10.3f} {loo:>8}")
    for row in power.itertuples():
        click.echo(f"power {printable(row.sku)}: GPUs {row.idle_w:,.0f} W idle → {row.peak_w:,.0f} W busy "
                   f"(idle_frac {row.idle_frac:.2f}, {row.nodes} nodes, {row.scrapes} scrapes)")
