"""Dotted-key overrides of table cells, applied to a table's *raw* text before it is parsed, so an overridden value
goes through exactly the checks a value in a file does: one cell (`TABLE.ROW_KEY.COLUMN`), or a factor on demand
(`demand.scale`, `demand.WORKLOAD.scale`, `demand.growth`); the overrides come from `resolve`
(planner/inheritance/resolution.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from models.errors import Problem
from models.quarters import parse_quarter
from planner import schema as S
from planner.inheritance.resolution import Override
from planner.tables import RawTable

TABLE_SCHEMAS = {"catalog": S.CATALOG, "sites": S.SITES, "fleet": S.FLEET, "workloads": S.WORKLOADS,
                 "demand": S.DEMAND, "throughput": S.THROUGHPUT, "facility_options": S.FACILITY_OPTIONS,
                 "contracts": S.CONTRACTS, "fabric": S.FABRIC}
SCALE = "scale"
# TABLE.growth: d_q -> d_0 + γ (d_q − d_0) per workload, d_0 its demand in the horizon's first quarter (0 without a
# row there): the risk model's demand_growth γ (models/risk_costs.py, rule 2), so a sweep and `evaluate` agree.
GROWTH = "growth"
GROWTH_QUARTER_COLUMN = {"demand": "quarter"}
SCALED_COLUMNS = {"demand": "tokens_per_s"}  # TABLE.scale multiplies this column (TABLE.ROW.scale: rows of ROW)
SCALE_ROWS_BY = {"demand": "workload"}  # the column whose value ROW names in TABLE.ROW.scale
ROW_KEY_SEPARATOR = "/"  # joins the parts of a compound row key: fleet.texas/h100-80gb-x8/2025Q1.nodes
EMPTY = "(empty)"


@dataclass
class TableEdit:
    raw: RawTable
    problems: list[Problem] = field(default_factory=list)
    cells: dict[tuple[int, str], str] = field(default_factory=dict)  # (sheet row, column) -> override label
    changes: list[str] = field(default_factory=list)  # `catalog b200-x8 lead_quarters: 2 -> 3`, in order


def edit_table(role: str, raw: RawTable, overrides: list[Override], start: object = None) -> TableEdit:
    """`raw` with `overrides` (all of table `role`) applied to its text cells, in order; `start` (the scenario's
    first quarter, as written) anchors TABLE.growth."""
    edit = TableEdit(raw=raw)
    if not overrides:
        return edit
    frame = raw.frame.copy()
    schema = TABLE_SCHEMAS[role]
    for override in overrides:
        parts = override.key.split(".")
        if parts[-1] in (SCALE, GROWTH) and role in SCALED_COLUMNS and len(parts) >= 2:
            _scale(edit, frame, role, override, ".".join(parts[1:-1]), growth=parts[-1] == GROWTH, start=start)
        elif len(parts) < 3 or not parts[-1]:
            edit.problems.append(override.problem(f"an override of a {role} cell is {_cell_form(role)}"))
        else:
            _set_cell(edit, frame, role, schema, override, ".".join(parts[1:-1]), parts[-1])
    edit.raw = replace(raw, frame=frame)
    return edit


def _cell_form(role: str) -> str:
    key = ROW_KEY_SEPARATOR.join(part.upper() for part in TABLE_SCHEMAS[role].key)
    scaled = (f", or {role}.{SCALE} / {role}.{SCALE_ROWS_BY[role].upper()}.{SCALE} (a factor on every "
              f"{SCALED_COLUMNS[role]}) or {role}.{GROWTH} (a factor on its growth)" if role in SCALED_COLUMNS
              else "")
    return f"{role}.{key}.COLUMN{scaled}"


def row_keys(frame: pd.DataFrame, schema: S.TableSchema) -> pd.Series | None:
    if not all(part in frame.columns for part in schema.key):
        return None
    keys = frame[schema.key[0]].astype(str)
    for part in schema.key[1:]:
        keys = keys + ROW_KEY_SEPARATOR + frame[part].astype(str)
    return keys


def _set_cell(edit: TableEdit, frame: pd.DataFrame, role: str, schema: S.TableSchema, override: Override,
              row_key: str, column: str) -> None:
    if column not in schema.names:
        guess = S.closest(column, schema.names)
        hint = f": did you mean '{guess}'?" if guess else f" (columns: {', '.join(schema.names)})"
        edit.problems.append(override.problem(f"unknown column '{column}' of {role}{hint}"))
        return
    if column in schema.key:
        edit.problems.append(override.problem(f"'{column}' is the key of the {role} table: rename the row in the "
                                              "table file, not by an override"))
        return
    keys = row_keys(frame, schema)
    if keys is None:
        edit.problems.append(override.problem(f"{edit.raw.label} lacks its key column(s) "
                                              f"{', '.join(schema.key)}: its rows cannot be named"))
        return
    rows = (keys == row_key).to_numpy()
    if not rows.any():
        guess = S.closest(row_key, list(dict.fromkeys(keys)))
        key_name = ROW_KEY_SEPARATOR.join(schema.key)
        hint = f": did you mean '{guess}'?" if guess else ""
        edit.problems.append(override.problem(f"no row '{row_key}' in {role} ({edit.raw.label}, key "
                                              f"{key_name}){hint}"))
        return
    text = _cell_text(override.value)
    if column not in frame.columns:
        frame[column] = ""
    for index in frame.index[rows]:
        before = frame.at[index, column]
        edit.changes.append(f"{role} {row_key} {column}: {before or EMPTY} -> {text or EMPTY}")
        edit.cells[(edit.raw.row_number(index), column)] = override.label
    frame.loc[rows, column] = text


def _scale(edit: TableEdit, frame: pd.DataFrame, role: str, override: Override, rows_of: str,
           growth: bool = False, start: object = None) -> None:
    """Every parsable value of the scaled column (of the rows whose SCALE_ROWS_BY is `rows_of`) times the factor;
    with `growth` (TABLE.growth), each workload's growth over its value in quarter `start` times the factor.
    Cells that are not numbers are left for validation to report, as in a file (so is a negative result)."""
    factor, column, by = override.value, SCALED_COLUMNS[role], SCALE_ROWS_BY[role]
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not math.isfinite(factor) \
            or factor < 0:
        edit.problems.append(override.problem(f"'{override.key}' is a factor: it must be a finite number >= 0, "
                                              f"got {factor!r}"))
        return
    quarter_column = GROWTH_QUARTER_COLUMN[role]
    if column not in frame.columns or by not in frame.columns and (rows_of or growth) \
            or growth and quarter_column not in frame.columns:
        return  # the missing column is reported by validation, as for the file alone
    rows = np.ones(len(frame), dtype=bool) if not rows_of else (frame[by] == rows_of).to_numpy()
    if rows_of and not rows.any():
        guess = S.closest(rows_of, list(dict.fromkeys(frame[by])))
        hint = f": did you mean '{guess}'?" if guess else ""
        edit.problems.append(override.problem(f"no {role} rows for {by} '{rows_of}' in {edit.raw.label}{hint}"))
        return
    # Parsed as validation parses them (planner/schema.py), so the factor multiplies exactly the values a file
    # would give; `repr` writes the shortest text that reads back as the same float.
    values = pd.to_numeric(frame[column].where(rows, ""), errors="coerce").to_numpy(dtype=float)
    scaled = rows & np.isfinite(values)
    if not growth:
        new_values = values * factor
    else:
        first = _first_quarter_values(frame, by, quarter_column, values, scaled, start)
        if first is None:
            return  # a bad `start` is reported by the scenario's own checks
        new_values = first + factor * (values - first)
    frame.loc[scaled, column] = [repr(float(value)) for value in new_values[scaled]]
    for index in frame.index[scaled]:
        edit.cells[(edit.raw.row_number(index), column)] = override.label
    who = f"{role} {rows_of}" if rows_of else role
    what = f"every {column} x {factor:g}" if not growth else f"growth of {column} over {start} x {factor:g}"
    edit.changes.append(f"{who}: {what} ({int(scaled.sum()):,} rows)")


def _first_quarter_values(frame: pd.DataFrame, by: str, quarter_column: str, values: np.ndarray,
                          scaled: np.ndarray, start: object) -> np.ndarray | None:
    """Per row, its workload's value in quarter `start` (0 where the workload has no row there), or None when
    `start` is not a quarter."""
    try:
        start_quarter = parse_quarter(str(start))
    except ValueError:
        return None
    quarters = frame[quarter_column].astype(str).str.strip()
    at_start = scaled & (quarters.map(_quarter_or_none) == start_quarter).to_numpy()
    first_by_workload = pd.Series(values[at_start], index=frame[by].to_numpy()[at_start])
    first_by_workload = first_by_workload[~first_by_workload.index.duplicated()]  # duplicates: validation's to report
    return frame[by].map(first_by_workload).fillna(0.0).to_numpy(dtype=float)


def _quarter_or_none(text: str) -> int | None:
    try:
        return parse_quarter(text)
    except ValueError:
        return None


def _cell_text(value) -> str:
    """An override's value as the cell text a file would hold (`0.079`, `3`, `2028Q3`, empty for None)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return repr(value)
    return str(value).strip()
