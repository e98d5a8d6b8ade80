"""Write tiny scenarios (CSV tables + YAML) into a temporary folder, so each test states its inputs in full."""

from __future__ import annotations

from pathlib import Path

import yaml

CATALOG_COLUMNS = ["sku", "accelerator", "gpus_per_node", "bf16_tflops", "fp8_tflops", "hbm_gb", "hbm_tbps",
                   "node_kw", "idle_frac", "price_usd", "rent_usd_per_gpu_hour", "lead_quarters",
                   "available_from", "life_years", "maint_frac_per_year", "nodes_per_rack", "source"]
SITE_COLUMNS = ["site", "kind", "power_mw", "pue", "usd_per_kwh", "gco2_per_kwh", "racks"]
WORKLOAD_COLUMNS = ["workload", "kind", "params_b", "precision", "tokens_b", "start", "deadline",
                    "context_tokens", "min_tokens_per_s_per_user", "sites", "mfu"]

# A round-number node: 8 GPUs, 10 kW, idle at full power (idle_frac 1: busy work adds no energy), $40,000 over a
# 5-year life = $2,000 depreciation per quarter, no maintenance; rent $1/GPU-h = 8 × 2,190 = $17,520 per quarter.
ROUND_SKU = dict(sku="a", accelerator="A-class", gpus_per_node=8, bf16_tflops=1000, fp8_tflops=2000, hbm_gb=80,
                 hbm_tbps=3.35, node_kw=10, idle_frac=1.0, price_usd=40000, rent_usd_per_gpu_hour="",
                 lead_quarters=0, available_from="2026Q1", life_years=5, maint_frac_per_year=0, nodes_per_rack=4,
                 source="test")
OWNED_FREE_ENERGY = dict(site="A", kind="owned", power_mw=10, pue=1.0, usd_per_kwh=0.0, gco2_per_kwh=0, racks=100)
CLOUD = dict(site="cloud", kind="cloud", power_mw="", pue=1.0, usd_per_kwh="", gco2_per_kwh=0, racks="")


def sku(**changes) -> dict:
    return {**ROUND_SKU, **changes}


def inference(name="chat", params_b=8, precision="bf16", context_tokens=1000, **extra) -> dict:
    return dict(workload=name, kind="inference", params_b=params_b, precision=precision,
                context_tokens=context_tokens, **extra)


def training(name, params_b, tokens_b, start, deadline, **extra) -> dict:
    return dict(workload=name, kind="training", params_b=params_b, precision="bf16", tokens_b=tokens_b,
                start=start, deadline=deadline, **extra)


def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    lines = [",".join(columns)]
    for row in rows:
        lines.append(",".join(str(row.get(c, "")) for c in columns))
    path.write_text("\n".join(lines) + "\n")


def write_scenario(folder: Path, *, catalog: list[dict], sites: list[dict], workloads: list[dict],
                   demand: list[tuple] = (), throughput: list[tuple] = (), fleet: list[tuple] = (),
                   start="2027Q1", quarters=1, finance: dict | None = None, planning: dict | None = None,
                   **extra) -> Path:
    """Return the scenario.yaml path; demand rows are (workload, quarter, tokens_per_s)."""
    folder.mkdir(parents=True, exist_ok=True)
    _write_csv(folder / "catalog.csv", CATALOG_COLUMNS, catalog)
    _write_csv(folder / "sites.csv", SITE_COLUMNS, sites)
    _write_csv(folder / "workloads.csv", WORKLOAD_COLUMNS, workloads)
    config = {"name": folder.name, "start": start, "quarters": quarters, "catalog": "catalog.csv",
              "sites": "sites.csv", "workloads": "workloads.csv",
              "finance": {"discount_rate": 0.0, "carbon_usd_per_t": 0.0, "unmet_usd_per_unit": 1_000_000.0,
                          **(finance or {})},
              "planning": planning or {"headroom": 0.0}, **extra}
    for name, columns, rows in (("demand", ["workload", "quarter", "tokens_per_s"], demand),
                                ("throughput", ["workload", "sku", "tokens_per_s_per_node"], throughput),
                                ("fleet", ["site", "sku", "nodes", "installed"], fleet)):
        if rows:
            _write_csv(folder / f"{name}.csv", columns, [dict(zip(columns, r)) for r in rows])
            config[name] = f"{name}.csv"
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def attach_table(path: Path, key: str, file_name: str, frame) -> None:
    """Write `frame` (a DataFrame) beside scenario.yaml as `file_name` and name it under `key` in the YAML."""
    frame.to_csv(path.parent / file_name, index=False)
    config = yaml.safe_load(path.read_text())
    config[key] = file_name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
