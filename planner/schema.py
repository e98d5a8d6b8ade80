"""Column schemas of the input tables, and the typed parse of one raw table against its schema.

Each table is described once, as data (`TableSchema`), so validation messages, docs/inputs.md's input formats
and the parse cannot drift apart. Parsing never stops at the first problem: it collects every problem with
its file, row and column, and returns the typed frame for the cross-table checks.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from models.errors import Problem
from models.quarters import Horizon
from models.units import HOURS_PER_YEAR
from planner.tables import RawTable, printable

# Value checks a column can ask for: (predicate on finite floats, phrase for the message).
POSITIVE = (lambda v: v > 0, "must be > 0")
NON_NEGATIVE = (lambda v: v >= 0, "must be >= 0")
FRACTION_OPEN_CLOSED = (lambda v: (v > 0) & (v <= 1), "must be in (0, 1]")
FRACTION_CLOSED_OPEN = (lambda v: (v >= 0) & (v < 1), "must be in [0, 1)")
FRACTION_OPEN = (lambda v: (v > 0) & (v < 1), "must be in (0, 1)")
AT_LEAST_ONE = (lambda v: v >= 1, "must be >= 1")
MIN_MFU = 1e-4  # model FLOPs utilisation below 0.01 % is a typo (an MFU of 1e-300 would mean 1e300 node-hours)
MFU_RANGE = (lambda v: (v >= MIN_MFU) & (v <= 1), f"must be in [{MIN_MFU:g}, 1]")

# Upper bounds of every numeric column (docs/limits.md, "Sane bounds"): far above any real
# hardware, site or workload of this decade, far below what overflows the model (1e19 nodes wrapped to a
# negative integer; 1e300 tokens/s made the solver report "no plan found in time"). Per GPU where the column is.
MAX_GPUS_PER_NODE = 1024
MAX_TFLOPS_PER_GPU = 1e5  # B200: 2,250 dense BF16
MAX_HBM_GB_PER_GPU = 1e5  # B200: 192
MAX_HBM_TBPS_PER_GPU = 1e3  # B200: 8
MAX_NODE_KW = 1e4  # a GB200 NVL72 rack: ~120 kW
MAX_PRICE_USD_PER_NODE = 1e9
MAX_RENT_USD_PER_GPU_HOUR = 1e4
MAX_LEAD_QUARTERS = 400
MAX_LIFE_YEARS = 100
MAX_MAINT_FRAC_PER_YEAR = 10
MAX_NODES_PER_RACK = 1024
MAX_POWER_MW = 1e5  # 100 GW
MAX_PUE = 10
MAX_USD_PER_KWH = 100
MAX_GCO2_PER_KWH = 1e4  # lignite: ~1,100
MAX_RACKS = 1e7
MAX_NODES = 1e7
MAX_PARAMS_B = 1e6  # 10^15 parameters
MAX_TOKENS_B = 1e9  # 10^18 training tokens
MAX_CONTEXT_TOKENS = 1e8
MAX_TOKENS_PER_S = 1e12  # demand, throughput and per-user SLOs
MAX_LAYERS = 1e4  # DeepSeek-V3: 61, Llama 3.1 405B: 126
MAX_KV_HEADS = 1e4  # GQA models: 8; full multi-head attention: up to 128
MAX_HEAD_DIM = 1e5  # 128 in most models
MAX_KV_VALUES_PER_TOKEN = 1e9  # Llama 3.1 405B: 2 x 126 x 8 x 128 = 258,048; DeepSeek-V3 MLA: 61 x 576 = 35,136
MAX_TTFT_S = 86_400  # a day: beyond any interactive or batch time-to-first-token target
MAX_SERVICE_CV = 100  # coefficient of variation of output lengths; heavy-tailed chat logs stay below ~3
MAX_KW_PER_RACK = 1e4  # the densest 2026 racks: GB300 NVL72 ~135-140 kW; Rubin Ultra NVL576 plans ~600 kW
MAX_FACILITY_UNITS = 1e6
# Fabric and storage (docs/datacenter-2026.md "Fabric and storage"): beyond these a value is a typo.
MAX_NODES_PER_SU = 1e6  # DGX SuperPOD scales past 64 SUs of 32 nodes; an SU is at most a whole cluster
MAX_FABRIC_USD_PER_NODE = 1e8  # an NVL72 rack's leaf + spine share is ~$0.6 M
MAX_FABRIC_KW_PER_NODE = 1e3  # an NVL72 rack's optics and switch share is ~2-4 kW
MAX_STORAGE_TB = 1e9  # an exabyte per workload
MAX_STORAGE_USD_PER_TB_QUARTER = 1e5  # all-flash ~$30-60 per TB-quarter in 2026
MAX_STORAGE_KW_PER_PB = 1e4  # all-flash ~3-10 kW per PB; disk ~10-20
MAX_AFR_PER_NODE_YEAR = 1000  # Llama 3's H100 nodes: 1.4 interruptions a node-year; an NVL72 rack ~12
MAX_REPAIR_HOURS = HOURS_PER_YEAR  # a year: a node out longer than that is not in service at all
COOLING_TYPES = ("air", "liquid")  # docs/datacenter-2026.md: liquid = direct-to-chip liquid cooling
PREEMPTIBLE_VALUES = ("true", "false")  # workloads.preemptible, case-insensitive (docs/datacenter-2026.md "Spot")
# Bounds of the issue-21 columns, documented in docs/datacenter-2026.md's bounds table (not docs/limits.md's).
DATACENTER_2026_COLUMNS = (("sites", "max_kw_per_rack"), ("sites", "storage_usd_per_tb_quarter"),
                           ("sites", "storage_kw_per_pb"), ("workloads", "storage_tb"), ("catalog", "afr_per_node_year"),
                           ("catalog", "repair_hours"), ("catalog", "spot_usd_per_gpu_hour"))


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # "str" | "float" | "int" | "quarter" | "choice" | "list"
    required: bool = True  # must every row have a value? (conditional rules live in validate.py)
    check: tuple | None = None
    choices: tuple[str, ...] = ()
    in_header: bool = True  # must the column appear in the header even when its values are optional?
    high: float | None = None  # sane upper bound (inclusive); beyond it a value is an input error


@dataclass(frozen=True)
class TableSchema:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    allow_empty: bool = False

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


CATALOG = TableSchema("catalog", key=("sku",), columns=(
    Column("sku", "str"),
    Column("accelerator", "str"),
    Column("gpus_per_node", "int", check=POSITIVE, high=MAX_GPUS_PER_NODE),
    Column("bf16_tflops", "float", check=POSITIVE, high=MAX_TFLOPS_PER_GPU),
    Column("fp8_tflops", "float", required=False, check=POSITIVE, high=MAX_TFLOPS_PER_GPU),
    Column("fp4_tflops", "float", required=False, check=POSITIVE, in_header=False, high=MAX_TFLOPS_PER_GPU),
    Column("hbm_gb", "float", check=POSITIVE, high=MAX_HBM_GB_PER_GPU),
    Column("hbm_tbps", "float", check=POSITIVE, high=MAX_HBM_TBPS_PER_GPU),
    Column("node_kw", "float", check=POSITIVE, high=MAX_NODE_KW),
    Column("idle_frac", "float", check=FRACTION_OPEN_CLOSED),
    Column("price_usd", "float", check=POSITIVE, high=MAX_PRICE_USD_PER_NODE),
    Column("rent_usd_per_gpu_hour", "float", required=False, check=POSITIVE, high=MAX_RENT_USD_PER_GPU_HOUR),
    Column("lead_quarters", "int", check=NON_NEGATIVE, high=MAX_LEAD_QUARTERS),
    Column("available_from", "quarter"),
    Column("life_years", "float", check=POSITIVE, high=MAX_LIFE_YEARS),
    Column("maint_frac_per_year", "float", check=NON_NEGATIVE, high=MAX_MAINT_FRAC_PER_YEAR),
    Column("nodes_per_rack", "int", check=POSITIVE, high=MAX_NODES_PER_RACK),
    Column("source", "str", required=False, in_header=False),
    # docs/datacenter-2026.md: empty = no cooling requirement (any hall); liquid = only liquid-cooled halls.
    Column("cooling_required", "choice", required=False, in_header=False, choices=COOLING_TYPES),
    # docs/datacenter-2026.md "Failures": empty = the SKU never fails (models/failures.py).
    Column("afr_per_node_year", "float", required=False, check=NON_NEGATIVE, in_header=False,
           high=MAX_AFR_PER_NODE_YEAR),
    Column("repair_hours", "float", required=False, check=NON_NEGATIVE, in_header=False, high=MAX_REPAIR_HOURS),
    # docs/datacenter-2026.md "Spot": empty = no spot capacity of the SKU. A spot node-hour costs
    # spot_usd_per_gpu_hour × gpus_per_node and delivers spot_availability of an hour of work (preemptions).
    Column("spot_usd_per_gpu_hour", "float", required=False, check=POSITIVE, in_header=False,
           high=MAX_RENT_USD_PER_GPU_HOUR),
    Column("spot_availability", "float", required=False, check=FRACTION_OPEN_CLOSED, in_header=False),
))

SITES = TableSchema("sites", key=("site",), columns=(
    Column("site", "str"),
    Column("kind", "choice", choices=("owned", "cloud")),
    Column("power_mw", "float", required=False, check=POSITIVE, high=MAX_POWER_MW),
    Column("pue", "float", check=AT_LEAST_ONE, high=MAX_PUE),
    Column("usd_per_kwh", "float", required=False, check=NON_NEGATIVE, high=MAX_USD_PER_KWH),
    Column("gco2_per_kwh", "float", check=NON_NEGATIVE, high=MAX_GCO2_PER_KWH),
    Column("racks", "float", required=False, check=POSITIVE, high=MAX_RACKS),
    # docs/datacenter-2026.md: empty cooling = any SKU; empty max_kw_per_rack = no density limit.
    Column("cooling", "choice", required=False, in_header=False, choices=COOLING_TYPES),
    Column("max_kw_per_rack", "float", required=False, check=POSITIVE, in_header=False, high=MAX_KW_PER_RACK),
    # docs/datacenter-2026.md "Fabric and storage": empty = storage there is free / draws no power.
    Column("storage_usd_per_tb_quarter", "float", required=False, check=NON_NEGATIVE, in_header=False,
           high=MAX_STORAGE_USD_PER_TB_QUARTER),
    Column("storage_kw_per_pb", "float", required=False, check=NON_NEGATIVE, in_header=False,
           high=MAX_STORAGE_KW_PER_PB),
))

# Facility build-out options (docs/datacenter-2026.md): each unit built adds `racks` racks (of the site's cooling
# and density) and `power_mw` MW to an owned site from order quarter + lead_quarters, for life_years, at price_usd.
FACILITY_OPTIONS = TableSchema("facility_options", key=("option",), allow_empty=True, columns=(
    Column("option", "str"),
    Column("site", "str"),
    Column("racks", "float", required=False, check=NON_NEGATIVE, high=MAX_RACKS),
    Column("power_mw", "float", required=False, check=NON_NEGATIVE, high=MAX_POWER_MW),
    Column("price_usd", "float", check=POSITIVE, high=MAX_PRICE_USD_PER_NODE),
    Column("lead_quarters", "int", check=NON_NEGATIVE, high=MAX_LEAD_QUARTERS),
    Column("available_from", "quarter"),
    Column("life_years", "float", check=POSITIVE, high=MAX_LIFE_YEARS),
    Column("max_units", "int", check=POSITIVE, high=MAX_FACILITY_UNITS),
    Column("source", "str", required=False, in_header=False),
))

FLEET = TableSchema("fleet", key=("site", "sku", "installed"), allow_empty=True, columns=(
    Column("site", "str"),
    Column("sku", "str"),
    Column("nodes", "int", check=POSITIVE, high=MAX_NODES),
    Column("installed", "quarter"),
))

WORKLOADS = TableSchema("workloads", key=("workload",), columns=(
    Column("workload", "str"),
    Column("kind", "choice", choices=("training", "inference")),
    Column("params_b", "float", check=POSITIVE, high=MAX_PARAMS_B),
    Column("precision", "choice", choices=("bf16", "fp8", "int8", "int4", "fp4")),
    Column("tokens_b", "float", required=False, check=POSITIVE, high=MAX_TOKENS_B),
    Column("start", "quarter", required=False),
    Column("deadline", "quarter", required=False),
    Column("context_tokens", "float", required=False, check=POSITIVE, high=MAX_CONTEXT_TOKENS),
    Column("min_tokens_per_s_per_user", "float", required=False, check=POSITIVE, in_header=False,
           high=MAX_TOKENS_PER_S),
    Column("sites", "list", required=False, in_header=False),
    Column("mfu", "float", required=False, check=MFU_RANGE, in_header=False),
    # Mixture of experts and attention shape (docs/performance-model.md); empty = dense / the Llama heuristic.
    Column("active_params_b", "float", required=False, check=POSITIVE, in_header=False, high=MAX_PARAMS_B),
    Column("layers", "int", required=False, check=POSITIVE, in_header=False, high=MAX_LAYERS),
    Column("kv_heads", "int", required=False, check=POSITIVE, in_header=False, high=MAX_KV_HEADS),
    Column("head_dim", "int", required=False, check=POSITIVE, in_header=False, high=MAX_HEAD_DIM),
    Column("kv_values_per_token", "float", required=False, check=POSITIVE, in_header=False,
           high=MAX_KV_VALUES_PER_TOKEN),
    # Per request (means), prefill apart from decode; and the time-to-first-token SLO.
    Column("prompt_tokens", "float", required=False, check=POSITIVE, in_header=False, high=MAX_CONTEXT_TOKENS),
    Column("output_tokens", "float", required=False, check=POSITIVE, in_header=False, high=MAX_CONTEXT_TOKENS),
    Column("max_ttft_s", "float", required=False, check=POSITIVE, in_header=False, high=MAX_TTFT_S),
    # A quantile SLO on queueing wait + prefill (docs/performance-model.md, "Sizing for a TTFT quantile").
    Column("ttft_quantile", "float", required=False, check=FRACTION_OPEN, in_header=False),
    Column("output_tokens_cv", "float", required=False, check=NON_NEGATIVE, in_header=False, high=MAX_SERVICE_CV),
    # docs/datacenter-2026.md "Fabric and storage": TB of datasets, checkpoints or weights; empty = none.
    Column("storage_tb", "float", required=False, check=NON_NEGATIVE, in_header=False, high=MAX_STORAGE_TB),
    # docs/datacenter-2026.md "Spot": true = a training run that checkpoints and may run on spot capacity; empty =
    # false. Only training runs may be preemptible (validate.py).
    Column("preemptible", "choice", required=False, in_header=False, choices=PREEMPTIBLE_VALUES),
))

DEMAND = TableSchema("demand", key=("workload", "quarter"), allow_empty=True, columns=(
    Column("workload", "str"),
    Column("quarter", "quarter"),
    Column("tokens_per_s", "float", check=NON_NEGATIVE, high=MAX_TOKENS_PER_S),
))

THROUGHPUT = TableSchema("throughput", key=("workload", "sku"), allow_empty=True, columns=(
    Column("workload", "str"),
    Column("sku", "str"),
    Column("tokens_per_s_per_node", "float", check=NON_NEGATIVE, high=MAX_TOKENS_PER_S),
    # The measurement's 95 % half-width (`planner calibrate --throughput-out` writes it): the risk model samples the
    # pair's throughput within it (models/risk_inputs.py THROUGHPUT_CI95_Z). Empty = known exactly.
    Column("ci95_tokens_per_s_per_node", "float", required=False, check=NON_NEGATIVE, in_header=False,
           high=MAX_TOKENS_PER_S),
))

# Committed capacity (docs/datacenter-2026.md): a block of min_nodes nodes of `sku` at cloud site `site`, signed in
# a quarter, in service from lead_quarters later for term_quarters, paid at usd_per_gpu_hour whether used or not.
MAX_TERM_QUARTERS = 400
CONTRACTS = TableSchema("contracts", key=("contract",), allow_empty=True, columns=(
    Column("contract", "str"),
    Column("site", "str"),
    Column("sku", "str"),
    Column("term_quarters", "int", check=AT_LEAST_ONE, high=MAX_TERM_QUARTERS),
    Column("usd_per_gpu_hour", "float", check=POSITIVE, high=MAX_RENT_USD_PER_GPU_HOUR),
    Column("min_nodes", "int", check=POSITIVE, high=MAX_NODES),
    Column("available_from", "quarter"),
    Column("lead_quarters", "int", required=False, check=NON_NEGATIVE, high=MAX_LEAD_QUARTERS),
    Column("max_blocks", "int", required=False, check=POSITIVE, in_header=False, high=MAX_NODES),
    Column("source", "str", required=False, in_header=False),
))

# Cluster fabric per SKU (docs/datacenter-2026.md "Fabric and storage"): what an owned node brings of leaf switch
# ports, optics and cables (always), and of spine ports and optics while it works on a training run whose minimum
# footprint spans more than one scalable unit of nodes_per_su nodes. Empty $ and kW are 0.
FABRIC = TableSchema("fabric", key=("sku",), allow_empty=True, columns=(
    Column("sku", "str"),
    Column("nodes_per_su", "int", check=POSITIVE, high=MAX_NODES_PER_SU),
    Column("leaf_usd_per_node", "float", required=False, check=NON_NEGATIVE, high=MAX_FABRIC_USD_PER_NODE),
    Column("leaf_kw_per_node", "float", required=False, check=NON_NEGATIVE, high=MAX_FABRIC_KW_PER_NODE),
    Column("spine_usd_per_node", "float", required=False, check=NON_NEGATIVE, high=MAX_FABRIC_USD_PER_NODE),
    Column("spine_kw_per_node", "float", required=False, check=NON_NEGATIVE, high=MAX_FABRIC_KW_PER_NODE),
    Column("source", "str", required=False, in_header=False),
))

_NON_FINITE_TEXT = {"nan", "inf", "-inf", "+inf", "infinity", "-infinity", "+infinity"}


def _plain(number: float) -> str:
    """1e9 -> '1,000,000,000'; 0.5 -> '0.5'."""
    return f"{number:,.0f}" if float(number).is_integer() else f"{number:g}"


def closest(name: str, candidates: list[str]) -> str | None:
    match = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return match[0] if match else None


@dataclass
class ParsedTable:
    frame: pd.DataFrame  # typed; index = the reader's positional index (see RawTable.row_number)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    header_complete: bool = True  # False: a column the schema needs is missing or misspelled (reported once)


def parse_table(raw: RawTable, schema: TableSchema, horizon: Horizon | None) -> ParsedTable:
    """Type every column of `raw` per `schema`; collect header, type, range and duplicate-key problems.

    Quarter columns become integers relative to the horizon start (0 = first planning quarter).
    """
    frame = raw.frame
    result = ParsedTable(frame=pd.DataFrame(index=frame.index))
    problems, label = result.problems, raw.label

    header = list(frame.columns)
    expected = schema.names
    missing = [c.name for c in schema.columns if c.name not in header and (c.required or c.in_header)]
    for col in header:
        if col in expected:
            continue
        guess = closest(col, missing) or closest(col, expected)
        if guess in missing:
            problems.append(Problem(label, f"unknown column '{col}': did you mean '{guess}'?", row=1,
                                    column=col))
            missing.remove(guess)
        else:
            hint = f" (did you mean '{guess}'?)" if guess else ""
            result.warnings.append(printable(f"{label}: unknown column '{col}' ignored{hint}"))
    result.header_complete = not any(p.row == 1 for p in problems) and not missing
    for name in missing:
        guess = closest(name, header)
        hint = f" (closest in the header: '{guess}')" if guess else ""
        problems.append(Problem(label, f"missing column '{name}'{hint}", row=1, column=name))
    if frame.empty and not schema.allow_empty:
        problems.append(Problem(label, f"the {schema.name} table has no rows"))

    parsed = {}
    for col in schema.columns:
        present = col.name in frame.columns
        text = frame[col.name] if present else pd.Series("", index=frame.index, dtype=object)
        # A column the header lacks is reported once above (with the closest header found), not once per row.
        parsed[col.name] = _parse_column(text, col, raw, horizon, problems if present else [])
    result.frame = pd.DataFrame(parsed, index=frame.index)

    if schema.key and not frame.empty and all(k in frame.columns for k in schema.key):
        keys = frame[list(schema.key)]
        duplicated = keys.duplicated(keep="first")
        for idx in frame.index[duplicated]:
            key = ", ".join(f"{k}={frame.at[idx, k]}" for k in schema.key)
            problems.append(Problem(label, f"duplicate key ({key}) already given on an earlier row",
                                    row=raw.row_number(idx), column=schema.key[0]))
    return result


def _parse_column(text: pd.Series, col: Column, raw: RawTable, horizon: Horizon | None,
                  problems: list[Problem]) -> pd.Series:
    """One column on plain numpy arrays (a pandas operation per check cost ~1 ms a column; parsing is run
    thousands of times by the fuzz test), returned as a Series on the raw frame's index."""
    index = text.index
    cells = text.to_numpy(dtype=object)

    def report(mask: np.ndarray, message) -> None:
        for position in np.flatnonzero(mask):
            value = cells[position]
            msg = message(value) if callable(message) else message
            problems.append(Problem(raw.label, msg, row=raw.row_number(index[position]), column=col.name))

    def series(values, dtype=None) -> pd.Series:
        return pd.Series(values, index=index, dtype=dtype)

    empty = np.fromiter((v == "" for v in cells), dtype=bool, count=len(cells))
    if col.required:
        report(empty, "value is required")

    if col.kind == "str":
        return series(np.where(empty, None, cells), dtype=object)
    if col.kind == "list":
        return series([tuple(p.strip() for p in s.split(";") if p.strip()) for s in cells], dtype=object)
    lowered = np.array([v.lower() for v in cells], dtype=object)
    if col.kind == "choice":  # case-insensitive: `Inference`, `FP8`
        bad = ~empty & ~np.fromiter((v in col.choices for v in lowered), dtype=bool, count=len(cells))
        report(bad, lambda v: f"'{v}' is not one of {', '.join(col.choices)}")
        return series(np.where(~empty & ~bad, lowered, None), dtype=object)
    if col.kind == "quarter":
        return _parse_quarters(cells, empty, horizon, report, series)

    non_finite = np.fromiter((v in _NON_FINITE_TEXT for v in lowered), dtype=bool, count=len(cells))
    numbers = np.asarray(pd.to_numeric(np.where(empty | non_finite, "", cells).astype(object), errors="coerce"),
                         dtype=float) if len(cells) else np.zeros(0)
    numbers[empty | non_finite] = np.nan
    not_number = ~empty & ~non_finite & np.isnan(numbers)
    non_finite |= ~empty & np.isinf(numbers)  # '1e999' overflows to inf
    report(non_finite, lambda v: f"'{v}' is not a finite number")
    report(not_number, lambda v: f"'{v}' is not a number")
    numbers[~np.isfinite(numbers)] = np.nan
    valid = ~np.isnan(numbers)
    safe = np.where(valid, numbers, 0.0)
    if col.kind == "int":
        fractional = valid & (safe != np.floor(safe))
        report(fractional, lambda v: f"'{v}' is not a whole number")
        valid &= ~fractional
    if col.check is not None:
        predicate, phrase = col.check
        out_of_range = valid & ~np.asarray(predicate(safe), dtype=bool)
        report(out_of_range, lambda v: f"{v} {phrase}")
        valid &= ~out_of_range
    if col.high is not None:
        report(valid & (safe > col.high), lambda v: f"{v} is above the limit of {_plain(col.high)} for {col.name}")
    return series(numbers, dtype=float)


def _parse_quarters(cells, empty, horizon, report, series) -> pd.Series:
    from models.quarters import parse_quarter

    def convert(value: str) -> float:
        try:
            return float(parse_quarter(value) - (horizon.start if horizon else 0))
        except ValueError:
            return math.nan

    values = np.array([convert(v) if v else math.nan for v in cells], dtype=float)
    report(~empty & np.isnan(values), lambda v: f"'{v}' is not a quarter like 2027Q1")
    return series(values, dtype=float)
