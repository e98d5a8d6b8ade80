"""`planner catalog [--json]`: the SKUs with price/performance ratios a planner compares first."""

from __future__ import annotations

import json
from pathlib import Path

import click

from models.errors import InputError
from models.money import life_hours
from models.units import GB_PER_TB, TFLOPS_PER_PFLOPS, W_PER_KW
from planner import schema as S
from planner.resources import shipped_catalog_path
from planner.tables import read_table


def catalog_ratios(catalog):
    """$ per PFLOP-hour of dense BF16 (ownership over the node's life), GB/s of HBM per $, W per TFLOP."""
    node_bf16_pflops = catalog["bf16_tflops"] * catalog["gpus_per_node"] / TFLOPS_PER_PFLOPS
    ratios = catalog[["accelerator", "gpus_per_node", "price_usd", "rent_usd_per_gpu_hour"]].copy()
    ratios["usd_per_pflop_hour"] = catalog["price_usd"] / life_hours(catalog) / node_bf16_pflops
    ratios["gb_per_s_per_usd"] = (catalog["hbm_tbps"] * GB_PER_TB * catalog["gpus_per_node"]
                                  / catalog["price_usd"])
    ratios["w_per_tflop"] = catalog["node_kw"] * W_PER_KW / (catalog["bf16_tflops"] * catalog["gpus_per_node"])
    return ratios


@click.command("catalog")
@click.option("--catalog", "path", type=click.Path(dir_okay=False), default=None,
              help="A catalog table (CSV/XLSX); default: the shipped one.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def command(path: str | None, as_json: bool) -> None:
    """List SKUs with $ per PFLOP-hour (BF16, purchase over life), HBM GB/s per $ and W per TFLOP."""
    source = Path(path) if path else shipped_catalog_path()
    raw = read_table(source.name, source.resolve().parent)
    parsed = S.parse_table(raw, S.CATALOG, None)
    if parsed.problems:
        raise InputError(parsed.problems)
    ratios = catalog_ratios(parsed.frame.set_index("sku"))
    if as_json:
        records = [{"sku": sku, **{k: (None if v != v else v) for k, v in row.items()}}
                   for sku, row in ratios.to_dict("index").items()]
        click.echo(json.dumps(records, indent=2, default=float))
        return
    click.echo(f"{'sku':<16} {'accelerator':<28} {'$/PFLOP-h':>10} {'GB/s per $':>11} {'W/TFLOP':>8}")
    for sku, row in ratios.iterrows():
        click.echo(f"{sku:<16} {str(row['accelerator'])[:28]:<28} {row['usd_per_pflop_hour']:>10.2f} "
                   f"{row['gb_per_s_per_usd']:>11.4f} {row['w_per_tflop']:>8.2f}")
