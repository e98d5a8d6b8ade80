"""Scenario inheritance and overrides: an `extends:` chain of scenario files, the top-level keys each file
replaces, and dotted-key overrides (each file's `overrides:`, then the caller's `--set`s), applied in order.

`resolve` folds the chain into one configuration plus, per table, the overrides still to apply to it;
planner/scenario.py reads each table and applies them to the *raw* text (`edit_table`) before parsing, so an
overridden value goes through exactly the checks a value in a file does, and `attribute` then names the
override in any message about a value it set. `describe` replays the chain for `planner validate --show`.

Override keys (README, "Scenario inheritance and overrides"):

    name | start | quarters                          a top-level value
    finance.KEY | planning.KEY | solver.KEY | risk.KEY  one key of a section
    catalog | sites | fleet | workloads | demand | throughput     the table file (relative to who names it)
    TABLE.ROW_KEY.COLUMN                              one cell; ROW_KEY is the row's key, its parts joined by '/'
    demand.scale | demand.WORKLOAD.scale              every tokens_per_s (of one workload) times the value
    demand.growth | demand.WORKLOAD.growth            each workload's growth over the horizon's first quarter times
                                                      the value (the risk model's demand_growth γ)
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from models.errors import InputError, Problem
from models.quarters import parse_quarter
from models.risk_settings import RISK_KEYS
from planner import schema as S
from planner.scenario import FINANCE_KEYS, PLANNING_KEYS, SOLVER_KEYS, TABLE_KEYS
from planner.scenario_yaml import load_yaml_text, read_scenario_yaml
from planner.tables import RawTable, printable, read_table, split_sheet

EXTENDS, OVERRIDES = "extends", "overrides"
SET_SOURCE = "--set"  # how messages and PLAN.json name an override given by the caller (the command line)
SCALAR_KEYS = ("name", "start", "quarters")
SECTION_FIELDS = {"finance": FINANCE_KEYS, "planning": PLANNING_KEYS, "solver": SOLVER_KEYS, "risk": RISK_KEYS}
TABLE_SCHEMAS = {"catalog": S.CATALOG, "sites": S.SITES, "fleet": S.FLEET, "workloads": S.WORKLOADS,
                 "demand": S.DEMAND, "throughput": S.THROUGHPUT, "facility_options": S.FACILITY_OPTIONS,
                 "contracts": S.CONTRACTS}
SCALE = "scale"
# TABLE.growth: d_q -> d_0 + γ (d_q − d_0) per workload, d_0 its demand in the horizon's first quarter (0 without a
# row there): the risk model's demand_growth γ (models/risk_costs.py, rule 2), so a sweep and `evaluate` agree.
GROWTH = "growth"
GROWTH_QUARTER_COLUMN = {"demand": "quarter"}
SCALED_COLUMNS = {"demand": "tokens_per_s"}  # TABLE.scale multiplies this column (TABLE.ROW.scale: rows of ROW)
SCALE_ROWS_BY = {"demand": "workload"}  # the column whose value ROW names in TABLE.ROW.scale
ROW_KEY_SEPARATOR = "/"  # joins the parts of a compound row key: fleet.texas/h100-80gb-x8/2025Q1.nodes
LIST_SEPARATOR = ";"  # a YAML list given for a list column (workloads' sites) is written as the file writes it
# Files in one chain: a review stacks 2-4 (example <- high growth <- high growth with a slip); far more is a
# mistake, and each file is read and bounded (size, nesting, aliases) like any scenario file.
MAX_CHAIN_FILES = 32
MAX_SHOWN_ROWS = 200  # changed rows listed per replaced table by `validate --show`, then "... and N more"
NOT_SET = "(not set)"
EMPTY = "(empty)"


@dataclass(frozen=True)
class Override:
    """One dotted-key override: `key` = `value`, given by scenario file `source` (its label) or the caller."""

    key: str
    value: object  # a YAML scalar: number, text, true/false or None (empty)
    source: str  # the label of the scenario file whose `overrides:` gives it, or SET_SOURCE
    folder: Path  # where a table file it names is looked for: the file's folder (the working folder for --set)

    @property
    def label(self) -> str:
        """`--set KEY` or `FILE overrides.KEY`: how a message names it."""
        return f"{SET_SOURCE} {self.key}" if self.source == SET_SOURCE else f"{self.source} {OVERRIDES}.{self.key}"

    @property
    def by(self) -> str:
        return SET_SOURCE if self.source == SET_SOURCE else f"{self.source} {OVERRIDES}"

    def problem(self, message: str) -> Problem:
        if self.source == SET_SOURCE:
            return Problem(self.label, message)
        return Problem(self.source, message, column=f"{OVERRIDES}.{self.key}")

    def record(self) -> dict:
        """PLAN.json's record of it (`inputs.overrides`); a non-finite number as text, which JSON cannot hold."""
        value = self.value
        if isinstance(value, float) and not math.isfinite(value):
            value = repr(value)
        return {"key": self.key, "value": value, "source": self.source}


@dataclass(frozen=True)
class TableSource:
    """A table file as some scenario file (or override) names it."""

    spec: str  # as written: `demand.csv`, `book.xlsx#Sheet`
    folder: Path  # the folder of the file that names it
    label: str  # how messages name it: as written, or relative to the scenario's folder when named elsewhere
    given_by: str

    def read(self) -> RawTable:
        return read_table(self.spec, self.folder, label=self.label)


@dataclass(frozen=True)
class _Step:
    """One change in the order it was made, for `describe`: a key set (`before` -> `after`), or a table cell
    override (`override`). `base` marks the root file's own keys, which are the base, not changes."""

    by: str
    key: str
    before: object = None
    after: object = None
    override: Override | None = None
    base: bool = False


@dataclass
class Resolution:
    """The chain folded into one configuration."""

    path: Path  # the scenario given
    label: str
    chain: list[tuple[Path, str]] = field(default_factory=list)  # (resolved path, label), the root base first
    config: dict = field(default_factory=dict)  # top-level keys; a table key holds its TableSource
    origins: dict = field(default_factory=dict)  # key or dotted key -> file label or Override that set it last
    table_overrides: dict[str, list[Override]] = field(default_factory=lambda: {r: [] for r in TABLE_KEYS})
    overrides: list[Override] = field(default_factory=list)  # every override accepted, in the order applied
    problems: list[Problem] = field(default_factory=list)
    steps: list[_Step] = field(default_factory=list)

    def set_key(self, key: str, value, by: str, folder: Path, origin, base: bool = False) -> None:
        """Replace top-level `key` (a table file is named relative to `folder`)."""
        if key in TABLE_KEYS:
            if isinstance(value, str) and value.strip():
                value = TableSource(value, folder, _table_label(value, folder, self.path.absolute().parent), by)
            self.table_overrides[key] = []  # a replaced table drops the overrides made to the one it replaces
        self.steps.append(_Step(by, key, self.config.get(key), value, base=base))
        self.config[key] = value
        for dotted in [k for k in self.origins if k.startswith(key + ".")]:
            del self.origins[dotted]
        self.origins[key] = origin

    def apply(self, override: Override) -> None:
        """Apply one override to the configuration now, or queue it for its table."""
        value, problem = _scalar(override.value)
        if problem:
            self.problems.append(override.problem(problem))
            return
        override = replace(override, value=value)
        parts = override.key.split(".")
        head = parts[0]
        if head in SECTION_FIELDS:
            self._apply_to_section(override, parts)
        elif head in SCALAR_KEYS or (head in TABLE_KEYS and len(parts) == 1):
            if len(parts) != 1:
                self.problems.append(override.problem(f"'{head}' is a single value: the key is '{head}'"))
                return
            self.overrides.append(override)
            self.set_key(head, value, override.by, override.folder, override)
        elif head in TABLE_KEYS:
            self.overrides.append(override)
            self.table_overrides[head].append(override)
            self.steps.append(_Step(override.by, head, override=override))
        else:
            heads = [*SCALAR_KEYS, *SECTION_FIELDS, *TABLE_KEYS]
            guess = S.closest(head, heads)
            hint = f": did you mean '{guess}'?" if guess else f" (one of {', '.join(heads)})"
            self.problems.append(override.problem(f"unknown override '{override.key}': '{head}' is not a "
                                                  f"section, table or top-level key{hint}"))

    def _apply_to_section(self, override: Override, parts: list[str]) -> None:
        head, keys = parts[0], SECTION_FIELDS[parts[0]]
        if len(parts) != 2 or not parts[1]:
            self.problems.append(override.problem(f"an override of '{head}' names one of its keys: "
                                                  f"{head}.KEY, KEY one of {', '.join(keys)}"))
            return
        if parts[1] not in keys:
            guess = S.closest(parts[1], list(keys))
            hint = f": did you mean '{head}.{guess}'?" if guess else f" (keys: {', '.join(keys)})"
            self.problems.append(override.problem(f"unknown key '{override.key}' of the '{head}' section{hint}"))
            return
        section = self.config.get(head)
        if section is not None and not isinstance(section, dict):
            return  # validation reports the section itself ("must be a mapping")
        section = dict(section or {})
        self.steps.append(_Step(override.by, override.key, section.get(parts[1], NOT_SET), override.value))
        section[parts[1]] = override.value
        self.overrides.append(override)
        self.config[head] = section
        self.origins[override.key] = override

    def origin(self, column: str | None):
        """The file label or Override that set scenario key `column` (`finance.discount_rate`), None if unknown."""
        if column is None:
            return None
        if column in self.origins:
            return self.origins[column]
        return self.origins.get(column.split(".")[0])


def parse_override_value(text: str, label: str = SET_SOURCE):
    """The scalar a command-line value stands for, read exactly as the same text in a scenario file would be
    (`0.10` -> 0.1, `4e7` -> 40000000.0, `2028Q3` -> '2028Q3', `true` -> True, empty or `null` -> None)."""
    value, problem = _scalar(load_yaml_text(str(text), label))
    if problem:
        raise InputError(Problem(label, f"{problem} (from {printable(str(text))!r})"))
    return value


def set_options(assignments: Iterable[str]) -> dict[str, object]:
    """`--set KEY=VALUE` options -> {KEY: value}, each value read by `parse_override_value`; InputError naming
    an option without `=` or a key."""
    overrides: dict[str, object] = {}
    for text in assignments:
        key, equals, value = str(text).partition("=")
        key = key.strip()
        if not equals or not key:
            raise InputError(Problem(SET_SOURCE, f"expected KEY=VALUE (finance.discount_rate=0.1), got "
                                                 f"{printable(str(text))!r}"))
        overrides[key] = parse_override_value(value, f"{SET_SOURCE} {key}")
    return overrides


def resolve(path: str | Path, overrides: Mapping[str, object] | None = None) -> Resolution:
    """Fold `path`'s `extends:` chain, its files' keys and `overrides:`, then `overrides` (labelled --set), in
    order. Chain errors (a missing base, a cycle, an unreadable file) raise InputError at once; override
    problems are collected in `problems`, for the caller to report with everything else."""
    path = Path(path)
    resolution = Resolution(path=path, label=path.name)
    documents = _read_chain(path)
    resolution.chain = [(doc_path, label) for doc_path, label, _ in documents]
    for position, (doc_path, label, config) in enumerate(documents):
        leaf = position == len(documents) - 1
        for key, value in config.items():
            if key in (EXTENDS, OVERRIDES) or (key == "name" and not leaf):  # a name is the file's own
                continue
            resolution.set_key(str(key), value, label, doc_path.parent, label, base=position == 0)
        given = config.get(OVERRIDES)
        if given is None:
            continue
        if not isinstance(given, dict):
            resolution.problems.append(Problem(label, "'overrides' must be a mapping of dotted keys to values "
                                                      "(finance.discount_rate: 0.1)", column=OVERRIDES))
            continue
        for key, value in given.items():
            resolution.apply(Override(str(key), value, label, doc_path.parent))
    for key, value in (overrides or {}).items():
        resolution.apply(Override(str(key), value, SET_SOURCE, Path.cwd()))
    return resolution


def _read_chain(path: Path) -> list[tuple[Path, str, dict]]:
    """(resolved path, label, mapping) of each file of the chain, the root base first."""
    leaf_folder = path.absolute().parent
    documents: list[tuple[Path, str, dict]] = []
    current, label = path, path.name
    while True:
        config = read_scenario_yaml(current, label)
        documents.append((current.resolve(), label, config))
        spec = config.get(EXTENDS)
        if spec is None:
            return documents[::-1]
        if not isinstance(spec, str) or not spec.strip():
            raise InputError(Problem(label, f"'extends' must be the file name of the base scenario, got "
                                            f"{spec!r}", column=EXTENDS))
        base = current.parent / spec.strip()
        if not base.exists():
            raise InputError(Problem(label, f"extends '{spec}': base scenario not found ({base.absolute()})",
                                     column=EXTENDS))
        seen = [doc_path for doc_path, _, _ in documents]
        if base.resolve() in seen:
            cycle = " -> ".join([doc_label for _, doc_label, _ in documents] + [_relative(base, leaf_folder)])
            raise InputError(Problem(label, f"extends '{spec}' makes a cycle: {cycle}", column=EXTENDS))
        if len(documents) >= MAX_CHAIN_FILES:
            raise InputError(Problem(label, f"the extends chain is longer than {MAX_CHAIN_FILES} files",
                                     column=EXTENDS))
        current, label = base, _relative(base, leaf_folder)


def _relative(path: Path, folder: Path) -> str:
    """`path` as seen from `folder` (`../example/scenario.yaml`); the absolute path on another drive."""
    try:
        return os.path.relpath(path.absolute(), folder)
    except ValueError:
        return str(path.absolute())


def _table_label(spec: str, folder: Path, leaf_folder: Path) -> str:
    """A table as written when named beside the scenario given, else relative to the scenario's folder, so an
    inherited `demand.csv` reads `../example/demand.csv` in messages."""
    if folder.absolute() == leaf_folder:
        return spec
    name, sheet = split_sheet(spec)
    return _relative(folder / name, leaf_folder) + (f"#{sheet}" if sheet is not None else "")


def _scalar(value) -> tuple[object, str | None]:
    """(value, None) for a value an override may take; a list of names becomes the text a table cell holds."""
    if isinstance(value, np.generic):  # a grid built with numpy
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value, None
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return LIST_SEPARATOR.join(value), None
    kind = {dict: "a mapping", list: "a list"}.get(type(value), f"a {type(value).__name__}")
    return None, f"an override's value must be a number, text, true/false or empty, got {kind}"


# --- table cells ------------------------------------------------------------------------------------

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


def _row_keys(frame: pd.DataFrame, schema: S.TableSchema) -> pd.Series | None:
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
    keys = _row_keys(frame, schema)
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


# --- naming the override in messages ------------------------------------------------------------------

def attribute(problems: list[Problem], resolution: Resolution,
              cells: dict[tuple[str, int, str], str]) -> list[Problem]:
    """Each problem named after where its value came from: a scenario key by the file (or override) that set
    it; a table cell an override set keeps its file, row and column and names the override."""
    named = []
    for problem in problems:
        origin = resolution.origin(problem.column) if problem.file == resolution.label else None
        if isinstance(origin, Override):
            problem = replace(origin.problem(problem.message), row=None)
        elif isinstance(origin, str) and origin != problem.file:
            problem = replace(problem, file=origin, row=None)
        elif (problem.file, problem.row, problem.column) in cells:
            problem = replace(problem, message=f"{problem.message} (set by "
                                               f"{cells[problem.file, problem.row, problem.column]})")
        named.append(problem)
    return named


# --- what changed, for `planner validate --show` -----------------------------------------------------

def describe(resolution: Resolution) -> list[str]:
    """`validate --show`: the files read, then every change against the root base, indented."""
    found = changes(resolution)
    root = resolution.chain[0][1]
    return ([printable("files, base first: " + " <- ".join(label for _, label in resolution.chain)),
             printable(f"changes against {root}:" if found else f"no changes against {root}")]
            + [f"  {line}" for line in found])


def changes(resolution: Resolution) -> list[str]:
    """Every change against the root base in the order made, each prefixed by who made it: keys, replaced tables
    row by row, and each override's effect (`high.yaml overrides: catalog b200-x8 lead_quarters: 2 -> 3`,
    `--set: demand: every tokens_per_s x 1.3 (90 rows)`)."""
    sources: dict[str, object] = {}
    current: dict[str, RawTable | None] = {}

    def table(role: str) -> RawTable | None:
        if role not in current:
            source = sources.get(role)
            current[role] = _try_read(source) if isinstance(source, TableSource) else None
        return current[role]

    found: list[str] = []
    for step in resolution.steps:
        if step.override is not None:
            raw = table(step.key)
            if raw is None:
                continue
            edit = edit_table(step.key, raw, [step.override], resolution.config.get("start"))
            current[step.key] = edit.raw
            found.extend(f"{step.by}: {change}" for change in edit.changes)
        elif step.key in TABLE_KEYS:
            before = table(step.key) if not step.base else None
            sources[step.key] = step.after
            current.pop(step.key, None)
            if not step.base:
                head, *rows = _table_change(step, before, table(step.key))
                found.extend([f"{step.by}: {head}", *rows])
        elif not step.base and step.key != "name":  # the name is each file's own, not inherited
            found.extend(f"{step.by}: {line}" for line in _key_change(step.key, step.before, step.after))
    return [printable(line) for line in found]


def _try_read(source: TableSource) -> RawTable | None:
    try:
        return source.read()
    except InputError:
        return None


def _key_change(key: str, before, after) -> list[str]:
    if isinstance(before, dict) or isinstance(after, dict):  # a whole section replaced: key by key
        before = before if isinstance(before, dict) else {}
        after = after if isinstance(after, dict) else {}
        return [line for name in dict.fromkeys([*before, *after])
                for line in _key_change(f"{key}.{name}", before.get(name, NOT_SET), after.get(name, NOT_SET))]
    before = NOT_SET if before is None and key not in SCALAR_KEYS else before
    return [] if before == after else [f"{key}: {_shown(before)} -> {_shown(after)}"]


def _shown(value) -> str:
    if isinstance(value, TableSource):
        return value.label
    return NOT_SET if value is None else str(value)


def _table_change(step: _Step, before: RawTable | None, after: RawTable | None) -> list[str]:
    """`demand: a.csv -> b.csv (3 rows changed, 1 added, 0 removed)` and the changed rows."""
    head = f"{step.key}: {_shown(step.before)} -> {_shown(step.after)}"
    if isinstance(step.after, TableSource) and after is None:
        return [head + " (cannot be read)"]
    if before is None or after is None:
        return [head]
    schema = TABLE_SCHEMAS[step.key]
    old, new = _rows_by_key(before, schema), _rows_by_key(after, schema)
    if old is None or new is None:
        return [head]
    rows: list[str] = []
    changed = 0
    for key in dict.fromkeys([*old, *new]):
        if key not in new:
            rows.append(f"{step.key} {key}: removed")
        elif key not in old:
            rows.append(f"{step.key} {key}: added (" + ", ".join(f"{c} {v}" for c, v in new[key].items() if v) + ")")
        else:
            cells = [f"{step.key} {key} {column}: {old[key].get(column) or EMPTY} -> {value or EMPTY}"
                     for column, value in new[key].items() if not _same(old[key].get(column, ""), value)]
            changed += bool(cells)
            rows.extend(cells)
    added, removed = len(new.keys() - old.keys()), len(old.keys() - new.keys())
    shown = rows[:MAX_SHOWN_ROWS] + ([f"... and {len(rows) - MAX_SHOWN_ROWS:,} more"] if len(rows) > MAX_SHOWN_ROWS
                                     else [])
    return [f"{head} ({changed:,} rows changed, {added:,} added, {removed:,} removed)"] + [f"  {r}" for r in shown]


def _rows_by_key(raw: RawTable, schema: S.TableSchema) -> dict[str, dict[str, str]] | None:
    keys = _row_keys(raw.frame, schema)
    if keys is None:
        return None
    columns = [c for c in schema.names if c in raw.frame.columns and c not in schema.key]
    values = raw.frame[columns].to_dict("records")
    return dict(zip(keys, values))


def _same(before: str, after: str) -> bool:
    """Equal cells, `0.10` and `0.1` included."""
    if before == after:
        return True
    try:
        return float(before) == float(after)
    except ValueError:
        return False
