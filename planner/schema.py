"""Column schemas of the input tables, and the typed parse of one raw table against its schema.

Each table is described once, as data (`TableSchema`), so validation messages, the README's input formats
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
from planner.tables import RawTable

# Value checks a column can ask for: (predicate on finite floats, phrase for the message).
POSITIVE = (lambda v: v > 0, "must be > 0")
NON_NEGATIVE = (lambda v: v >= 0, "must be >= 0")
FRACTION_OPEN_CLOSED = (lambda v: (v > 0) & (v <= 1), "must be in (0, 1]")
FRACTION_CLOSED_OPEN = (lambda v: (v >= 0) & (v < 1), "must be in [0, 1)")
AT_LEAST_ONE = (lambda v: v >= 1, "must be >= 1")


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # "str" | "float" | "int" | "quarter" | "choice" | "list"
    required: bool = True  # must every row have a value? (conditional rules live in validate.py)
    check: tuple | None = None
    choices: tuple[str, ...] = ()
    in_header: bool = True  # must the column appear in the header even when its values are optional?


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
    Column("gpus_per_node", "int", check=POSITIVE),
    Column("bf16_tflops", "float", check=POSITIVE),
    Column("fp8_tflops", "float", required=False, check=POSITIVE),
    Column("hbm_gb", "float", check=POSITIVE),
    Column("hbm_tbps", "float", check=POSITIVE),
    Column("node_kw", "float", check=POSITIVE),
    Column("idle_frac", "float", check=FRACTION_OPEN_CLOSED),
    Column("price_usd", "float", check=POSITIVE),
    Column("rent_usd_per_gpu_hour", "float", required=False, check=POSITIVE),
    Column("lead_quarters", "int", check=NON_NEGATIVE),
    Column("available_from", "quarter"),
    Column("life_years", "float", check=POSITIVE),
    Column("maint_frac_per_year", "float", check=NON_NEGATIVE),
    Column("nodes_per_rack", "int", check=POSITIVE),
    Column("source", "str", required=False, in_header=False),
))

SITES = TableSchema("sites", key=("site",), columns=(
    Column("site", "str"),
    Column("kind", "choice", choices=("owned", "cloud")),
    Column("power_mw", "float", required=False, check=POSITIVE),
    Column("pue", "float", check=AT_LEAST_ONE),
    Column("usd_per_kwh", "float", required=False, check=NON_NEGATIVE),
    Column("gco2_per_kwh", "float", check=NON_NEGATIVE),
    Column("racks", "float", required=False, check=POSITIVE),
))

FLEET = TableSchema("fleet", key=("site", "sku", "installed"), allow_empty=True, columns=(
    Column("site", "str"),
    Column("sku", "str"),
    Column("nodes", "int", check=POSITIVE),
    Column("installed", "quarter"),
))

WORKLOADS = TableSchema("workloads", key=("workload",), columns=(
    Column("workload", "str"),
    Column("kind", "choice", choices=("training", "inference")),
    Column("params_b", "float", check=POSITIVE),
    Column("precision", "choice", choices=("bf16", "fp8", "int8", "int4")),
    Column("tokens_b", "float", required=False, check=POSITIVE),
    Column("start", "quarter", required=False),
    Column("deadline", "quarter", required=False),
    Column("context_tokens", "float", required=False, check=POSITIVE),
    Column("min_tokens_per_s_per_user", "float", required=False, check=POSITIVE, in_header=False),
    Column("sites", "list", required=False, in_header=False),
    Column("mfu", "float", required=False, check=FRACTION_OPEN_CLOSED, in_header=False),
))

DEMAND = TableSchema("demand", key=("workload", "quarter"), allow_empty=True, columns=(
    Column("workload", "str"),
    Column("quarter", "quarter"),
    Column("tokens_per_s", "float", check=NON_NEGATIVE),
))

THROUGHPUT = TableSchema("throughput", key=("workload", "sku"), allow_empty=True, columns=(
    Column("workload", "str"),
    Column("sku", "str"),
    Column("tokens_per_s_per_node", "float", check=NON_NEGATIVE),
))

_NON_FINITE_TEXT = {"nan", "inf", "-inf", "+inf", "infinity", "-infinity", "+infinity"}


def closest(name: str, candidates: list[str]) -> str | None:
    match = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return match[0] if match else None


@dataclass
class ParsedTable:
    frame: pd.DataFrame  # typed; index = the reader's positional index (see RawTable.row_number)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


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
            result.warnings.append(f"{label}: unknown column '{col}' ignored{hint}")
    for name in missing:
        guess = closest(name, header)
        hint = f" (closest in the header: '{guess}')" if guess else ""
        problems.append(Problem(label, f"missing column '{name}'{hint}", row=1, column=name))
    if frame.empty and not schema.allow_empty:
        problems.append(Problem(label, f"the {schema.name} table has no rows"))

    for col in schema.columns:
        text = frame[col.name] if col.name in frame.columns else pd.Series("", index=frame.index)
        result.frame[col.name] = _parse_column(text, col, raw, horizon, problems)

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
    def report(mask: pd.Series, message) -> None:
        for idx in text.index[mask.to_numpy(dtype=bool)]:
            msg = message(text.at[idx]) if callable(message) else message
            problems.append(Problem(raw.label, msg, row=raw.row_number(idx), column=col.name))

    empty = text == ""
    if col.required:
        report(empty, "value is required")

    if col.kind == "str":
        return text.where(~empty, None)
    if col.kind == "list":
        return text.map(lambda s: tuple(p.strip() for p in s.split(";") if p.strip()))
    if col.kind == "choice":
        bad = ~empty & ~text.isin(col.choices)
        report(bad, lambda v: f"'{v}' is not one of {', '.join(col.choices)}")
        return text.where(~empty & ~bad, None)
    if col.kind == "quarter":
        return _parse_quarters(text, empty, horizon, report)

    lowered = text.str.lower()
    non_finite = lowered.isin(_NON_FINITE_TEXT)
    numbers = pd.to_numeric(text.where(~empty & ~non_finite), errors="coerce").astype(float)
    not_number = ~empty & ~non_finite & numbers.isna()
    report(non_finite, lambda v: f"'{v}' is not a finite number")
    report(not_number, lambda v: f"'{v}' is not a number")
    numbers = numbers.where(np.isfinite(numbers))
    valid = numbers.notna()
    if col.kind == "int":
        fractional = valid & (numbers != np.floor(numbers))
        report(fractional, lambda v: f"'{v}' is not a whole number")
        valid &= ~fractional
    if col.check is not None:
        predicate, phrase = col.check
        out_of_range = valid & ~predicate(numbers.fillna(0.0))
        report(out_of_range, lambda v: f"{v} {phrase}")
    return numbers


def _parse_quarters(text, empty, horizon, report) -> pd.Series:
    from models.quarters import parse_quarter

    def convert(value: str) -> float:
        try:
            return float(parse_quarter(value) - (horizon.start if horizon else 0))
        except ValueError:
            return math.nan

    values = text.map(lambda v: convert(v) if v else math.nan).astype(float)
    report(~empty & values.isna(), lambda v: f"'{v}' is not a quarter like 2027Q1")
    return values
