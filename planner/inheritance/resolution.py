"""Scenario inheritance, resolved: an `extends:` chain of scenario files, the top-level keys each file replaces,
and dotted-key overrides (each file's `overrides:`, then the caller's `--set`s), applied in order.

`resolve` folds the chain into one configuration plus, per table, the overrides still to apply to it;
planner/scenario.py reads each table and applies them to the *raw* text (`planner/inheritance/edit.py`) before
parsing, so an overridden value goes through exactly the checks a value in a file does, and `attribute` then names
the override in any message about a value it set. `planner/inheritance/explain.py` replays the chain for
`planner validate --show`.

Override keys (docs/inputs.md, "Scenario inheritance and overrides"):

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

from models.errors import InputError, Problem
from models.risk_settings import RISK_SETTING_KEYS
from models.scenario import FINANCE_KEYS, PLANNING_KEYS, SOLVER_KEYS, TABLE_KEYS
from planner import schema as S
from planner.scenario_yaml import load_yaml_text, read_scenario_yaml
from planner.tables import RawTable, printable, read_table, split_sheet

EXTENDS, OVERRIDES = "extends", "overrides"
SET_SOURCE = "--set"  # how messages and PLAN.json name an override given by the caller (the command line)
SCALAR_KEYS = ("name", "start", "quarters")
SECTION_FIELDS = {"finance": FINANCE_KEYS, "planning": PLANNING_KEYS, "solver": SOLVER_KEYS, "risk": RISK_SETTING_KEYS}
LIST_SEPARATOR = ";"  # a YAML list given for a list column (workloads' sites) is written as the file writes it
# Files in one chain: a review stacks 2-4 (example <- high growth <- high growth with a slip); far more is a
# mistake, and each file is read and bounded (size, nesting, aliases) like any scenario file.
MAX_CHAIN_FILES = 32
NOT_SET = "(not set)"


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
class Step:
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
    steps: list[Step] = field(default_factory=list)

    def set_key(self, key: str, value, by: str, folder: Path, origin, base: bool = False) -> None:
        """Replace top-level `key` (a table file is named relative to `folder`)."""
        if key in TABLE_KEYS:
            if isinstance(value, str) and value.strip():
                value = TableSource(value, folder, _table_label(value, folder, self.path.absolute().parent), by)
            self.table_overrides[key] = []  # a replaced table drops the overrides made to the one it replaces
        self.steps.append(Step(by, key, self.config.get(key), value, base=base))
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
            self.steps.append(Step(override.by, head, override=override))
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
        self.steps.append(Step(override.by, override.key, section.get(parts[1], NOT_SET), override.value))
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
