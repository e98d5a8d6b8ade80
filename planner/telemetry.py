"""Reading a fleet's telemetry export (docs/telemetry.md) and writing what `planner calibrate` fits from it.

The export is one row per scrape and node, as a Prometheus/DCGM exporter query flattened to CSV (or XLSX):
timestamp, node, workload, sku, precision, tokens_per_s, gpu_power_w (the node's GPUs together), utilisation
(fraction of the scrape interval the GPUs were busy, DCGM_FI_PROF_GR_ENGINE_ACTIVE averaged over the node's GPUs).
Rows are checked like every input table (file, row, column; all problems at once), then against the scenario: the
workload must be one of its inference services, the SKU one of its catalog, the precision the workload's own.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from models.errors import InputError, Problem
from models.performance import estimate_performance
from models.scenario import Scenario
from planner.schema import FRACTION_OPEN_CLOSED, NON_NEGATIVE, Column, TableSchema, parse_table
from planner.tables import read_table
from reports.atomic import write_atomic
from reports.cells import neutral_frame

MAX_GPU_POWER_W = 1e6  # a 72-GPU rack at 1.4 kW a GPU is ~100 kW; beyond 1 MW a row is a unit mistake
MAX_TOKENS_PER_S = 1e12

TELEMETRY = TableSchema("telemetry", columns=(
    Column("timestamp", "str"),
    Column("node", "str"),
    Column("workload", "str"),
    Column("sku", "str"),
    Column("precision", "str"),
    Column("tokens_per_s", "float", check=NON_NEGATIVE, high=MAX_TOKENS_PER_S),
    Column("gpu_power_w", "float", check=NON_NEGATIVE, high=MAX_GPU_POWER_W),
    Column("utilisation", "float", check=FRACTION_OPEN_CLOSED),
))


def read_telemetry(path: str | Path, scenario: Scenario) -> pd.DataFrame:
    """The export as a typed frame, every problem (format, range, unknown workload/SKU/precision) at once."""
    path = Path(path)
    raw = read_table(path.name, path.parent.absolute(), label=path.name)
    parsed = parse_table(raw, TELEMETRY, None)
    problems = list(parsed.problems)
    frame = parsed.frame
    if not problems:
        workloads, catalog = scenario.workloads, scenario.catalog
        for idx, row in frame.iterrows():
            where = dict(row=raw.row_number(idx))
            if row["workload"] not in workloads.index:
                problems.append(Problem(path.name, f"workload '{row['workload']}' is not in the scenario",
                                        column="workload", **where))
            elif workloads.at[row["workload"], "kind"] != "inference":
                problems.append(Problem(path.name, f"'{row['workload']}' is a training run: telemetry calibrates "
                                                   "serving throughput", column="workload", **where))
            elif str(workloads.at[row["workload"], "precision"]) != row["precision"]:
                problems.append(Problem(path.name, f"precision '{row['precision']}' is not the workload's "
                                                   f"({workloads.at[row['workload'], 'precision']})",
                                        column="precision", **where))
            if row["sku"] not in catalog.index:
                problems.append(Problem(path.name, f"SKU '{row['sku']}' is not in the catalog", column="sku",
                                        **where))
    if problems:
        raise InputError(problems)
    return frame


def model_predictions(scenario: Scenario) -> pd.Series:
    """The performance model's tokens/s per node for every (workload, sku), without any throughput override."""
    performance = estimate_performance(scenario.catalog, scenario.workloads, scenario.throughput.iloc[0:0])
    return performance["tokens_per_s_per_node"]


def calibrate(path: str | Path, scenario: Scenario) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(throughput fit, power fit) of a telemetry export against the scenario's model."""
    from models.telemetry_fit import fit_power, fit_throughput  # imports scipy.stats (1.5 s): calibrate alone

    scrapes = read_telemetry(path, scenario)
    return fit_throughput(scrapes, model_predictions(scenario)), fit_power(scrapes)


def write_throughput_table(path: str | Path, fit: pd.DataFrame) -> Path:
    """The fit as a scenario `throughput:` table (workload, sku, tokens_per_s_per_node and its 95 % half-width,
    empty for a one-node pair), names kept as text."""
    table = neutral_frame(fit[["workload", "sku", "tokens_per_s_per_node", "ci95_tokens_per_s_per_node"]])
    return write_atomic(path, lambda tmp: table.to_csv(tmp, index=False, float_format="%.6g"))
