"""A scenario: the YAML file and the tables it names, loaded into one frozen, typed `Scenario`.

`load_scenario` either returns a fully valid scenario or raises `InputError` carrying *every* problem found
(file, row, column), so a planner fixes a file once, not once per error.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from models.errors import InputError, Problem
from models.quarters import QUARTERS_PER_YEAR, Horizon, parse_quarter
from models.risk_settings import RiskSettings, parse_risk_settings
from models.scenario import (  # noqa: F401 (the domain type and its closed sets, re-exported for the callers)
    CAPEX_MODES,
    DEFAULT_GAP,
    DEFAULT_TIME_LIMIT_S,
    DEFAULT_UNMET_USD_PER_UNIT,
    FINANCE_KEYS,
    PLANNING_KEYS,
    SECTION_KEYS,
    SOLVER_BACKENDS,
    SOLVER_KEYS,
    TABLE_KEYS,
    Finance,
    Scenario,
    SolverOptions,
)
from planner import schema as S
from planner.inheritance import TableSource, attribute, edit_table, parse_override_value, resolve  # noqa: F401
from planner.resources import shipped_catalog_path
from planner.scenario_yaml import with_key_lines
from planner.tables import printable, sha256_of
from planner.validate import check_fleet_fits, check_references, check_runnable

TOP_LEVEL_KEYS = ("name", "start", "quarters", "catalog", "sites", "fleet", "workloads", "demand",
                  "throughput", "facility_options", "contracts", "fabric", "finance", "planning", "solver", "risk", "extends",
                  "overrides")

# Sane bounds for the scenario's own numbers (the tables' bounds are on their columns in schema.py; docs/limits.md,
# "Sane bounds"). Beyond them a value is a typo or an attack, and the model would be
# built for minutes and then fail with a misleading "no plan found in time".
MAX_QUARTERS = 400  # 100 years; the model has O(quarters^2) vintage terms
FIRST_YEAR, LAST_YEAR = 1000, 9999  # quarter labels are written with four-digit years (2027Q1)
MAX_DISCOUNT_RATE = 10.0  # 1,000 % a year
MAX_USD = 1e15  # any money amount: ~10x world GDP
MAX_CARBON_USD_PER_T = 1e6
MAX_TIME_LIMIT_S = 1e6  # ~12 days


def load_scenario(path: str | Path, overrides: Mapping[str, object] | None = None) -> Scenario:
    """Load and fully validate a scenario; raise InputError listing every problem.

    `path` may extend a base scenario and override its keys and cells (planner/inheritance/); `overrides` are
    more dotted-key overrides applied after the file's own (values as YAML reads them: see
    `parse_override_value`), named `--set KEY` in messages."""
    path = Path(path)
    folder = path.absolute().parent
    try:
        resolution = resolve(path, overrides)
    except InputError as error:
        raise InputError(with_key_lines(error.problems, folder)) from None
    label = resolution.label
    config = resolution.config
    problems: list[Problem] = list(resolution.problems)
    warnings: list[str] = []
    cells: dict[tuple[str, int, str], str] = {}  # (table label, row, column) -> the override that set the cell
    for file_label, keys in _keys_by_file(config, resolution).items():  # an unknown key named in its own file
        _check_keys(keys, TOP_LEVEL_KEYS, file_label, "", problems, warnings)

    name = config.get("name")
    if isinstance(name, (dict, list)):
        problems.append(Problem(label, f"'name' must be text, got a {_yaml_kind(name)}", column="name"))
        name = None
    name = str(name) if name not in (None, "") else path.stem
    for section in SECTION_KEYS:
        if config.get(section) is not None and not isinstance(config[section], dict):
            problems.append(Problem(label, f"'{section}' must be a mapping of keys to values, got a "
                                           f"{_yaml_kind(config[section])}", column=section))
    sections = {key: config[key] if isinstance(config.get(key), dict) else {} for key in SECTION_KEYS}
    horizon = _parse_horizon(config, label, problems)
    finance = _parse_finance(sections["finance"], label, problems, warnings)
    headroom = _parse_planning(sections["planning"], label, problems, warnings)
    solver = _parse_solver(sections["solver"], label, problems, warnings)
    risk = _parse_risk(sections["risk"], path.name, problems)

    specs = {
        "catalog": (S.CATALOG, True),
        "sites": (S.SITES, True),
        "fleet": (S.FLEET, False),
        "workloads": (S.WORKLOADS, True),
        "demand": (S.DEMAND, False),
        "throughput": (S.THROUGHPUT, False),
        "facility_options": (S.FACILITY_OPTIONS, False),
        "contracts": (S.CONTRACTS, False),
        "fabric": (S.FABRIC, False),
    }
    tables: dict[str, pd.DataFrame] = {}
    raws = {}
    headers_complete = True  # a missing key column would make every row's reference fail: reported once instead
    input_files = {"scenario": path.resolve()}
    input_files.update({f"base {i}": base for i, (base, _) in enumerate(resolution.chain[-2::-1], start=1)})
    for role, (table_schema, required) in specs.items():
        source = config.get(role)
        if source is None and role == "catalog":
            shipped = str(shipped_catalog_path())
            source = TableSource(shipped, path.absolute().parent, shipped, label)
        if source is not None and not isinstance(source, TableSource):
            got = f"a {_yaml_kind(source)}" if isinstance(source, (dict, list)) else repr(source)
            problems.append(Problem(label, f"'{role}' must be a table file name (CSV or XLSX), got {got}",
                                    column=role))
            source = None
            required = False
        if source is None:
            if required:
                problems.append(Problem(label, f"key '{role}' is required (a table file)", column=role))
            problems.extend(override.problem(f"the scenario has no {role} table to override")
                            for override in resolution.table_overrides[role])
            tables[role] = pd.DataFrame({c: pd.Series(dtype=object) for c in table_schema.names})
            continue
        try:
            raw = source.read()
        except InputError as error:
            # A file that cannot be read at all is reported at the key that names it (attributed below to the
            # file or override that set the key): `scenario.yaml, line 7, key demand: ../demand.csv: file not found`.
            problems.extend(Problem(label, f"{problem.file}: {problem.message}", column=role)
                            if problem.row is None and problem.column is None else problem
                            for problem in error.problems)
            tables[role] = pd.DataFrame({c: pd.Series(dtype=object) for c in table_schema.names})
            continue
        # before parsing: validated like a file
        edit = edit_table(role, raw, resolution.table_overrides[role], config.get("start"))
        problems.extend(edit.problems)
        cells.update({(raw.label, row, column): by for (row, column), by in edit.cells.items()})
        raw = edit.raw
        parsed = S.parse_table(raw, table_schema, horizon if horizon else Horizon(0, 0))
        problems.extend(parsed.problems)
        warnings.extend(parsed.warnings)
        tables[role], raws[role] = parsed.frame, raw
        input_files[role] = raw.path
        headers_complete &= parsed.header_complete

    # Cross-table references are checked even when single cells were wrong, so one `validate` shows both;
    # only the checks that need fully typed tables (runnable, fleet fits) wait for a clean parse.
    if horizon is not None and headers_complete and all(role in raws or not required
                                                        for role, (_, required) in specs.items()):
        problems.extend(check_references(tables, raws, horizon))
    if problems:
        raise InputError(with_key_lines(attribute(problems, resolution, cells), folder))

    chain = [base for base, _ in resolution.chain]
    scenario = Scenario(
        name=name, path=path.resolve(), horizon=horizon,
        catalog=_typed_catalog(tables["catalog"]),
        sites=tables["sites"].set_index("site"),
        fleet=_typed_fleet(tables["fleet"]),
        workloads=_typed_workloads(tables["workloads"]),
        demand=_typed_demand(tables["demand"]),
        throughput=_typed_throughput(tables["throughput"]),
        facility_options=_typed_facility_options(tables["facility_options"]),
        contracts=_typed_contracts(tables["contracts"]),
        fabric=_typed_fabric(tables["fabric"]),
        finance=finance, headroom=headroom, solver=solver, risk=risk,
        input_files=input_files, input_sha256={role: sha256_of(file) for role, file in input_files.items()},
        warnings=tuple(warnings), chain=tuple(chain),
        chain_sha256=tuple(sha256_of(file) for file in chain), overrides=tuple(resolution.overrides),
    )
    problems.extend(check_runnable(scenario, raws))
    problems.extend(check_fleet_fits(scenario, raws))
    if problems:
        raise InputError(with_key_lines(attribute(problems, resolution, cells), folder))
    return scenario


def _keys_by_file(config: dict, resolution) -> dict[str, dict]:
    by_file: dict[str, dict] = {}
    for key, value in config.items():
        origin = resolution.origin(str(key))
        by_file.setdefault(origin if isinstance(origin, str) else resolution.label, {})[key] = value
    return by_file


# --- scalar keys ---------------------------------------------------------------------------

def _yaml_kind(value) -> str:
    return {dict: "mapping", list: "list", str: "string"}.get(type(value), type(value).__name__)


def _check_keys(mapping: dict, allowed: tuple[str, ...], label: str, prefix: str,
                problems: list[Problem], warnings: list[str]) -> None:
    if not isinstance(mapping, dict):
        problems.append(Problem(label, f"'{prefix.rstrip('.')}' must be a mapping of keys to values"))
        return
    for key in mapping:
        if key in allowed:
            continue
        guess = S.closest(str(key), list(allowed))
        if guess:
            problems.append(Problem(label, f"unknown key '{prefix}{key}': did you mean '{prefix}{guess}'?",
                                    column=f"{prefix}{key}"))
        else:
            warnings.append(printable(f"{label}: unknown key '{prefix}{key}' ignored"))


def _number(mapping: dict, key: str, label: str, prefix: str, problems: list[Problem],
            default=None, low=None, high=None, low_open=False, high_open=False):
    value = mapping.get(key, default)
    if value is None:
        return default
    where = f"{prefix}{key}"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value \
            or value in (float("inf"), float("-inf")):
        problems.append(Problem(label, f"'{where}' must be a finite number, got {value!r}", column=where))
        return default
    if low is not None and (value < low or (low_open and value == low)):
        problems.append(Problem(label, f"'{where}' must be {'>' if low_open else '>='} {low:g}, got {value:g}",
                                column=where))
    if high is not None and (value > high or (high_open and value == high)):
        problems.append(Problem(label, f"'{where}' must be {'<' if high_open else '<='} {high:g}, got {value:g}",
                                column=where))
    return float(value)


def _parse_horizon(config: dict, label: str, problems: list[Problem]) -> Horizon | None:
    start, quarters = config.get("start"), config.get("quarters")
    ok = True
    try:
        start_ordinal = parse_quarter(str(start)) if start is not None else None
    except ValueError:
        start_ordinal = None
    if start_ordinal is None:
        problems.append(Problem(label, f"'start' must be a quarter like 2027Q1, got {start!r}", column="start"))
        ok = False
    elif start_ordinal < FIRST_YEAR * QUARTERS_PER_YEAR:
        problems.append(Problem(label, f"'start' {start} is before the year {FIRST_YEAR}", column="start"))
        ok = False
    if isinstance(quarters, bool) or not isinstance(quarters, int) or not 1 <= quarters <= MAX_QUARTERS:
        problems.append(Problem(label, f"'quarters' must be a whole number from 1 to {MAX_QUARTERS} (100 years), "
                                       f"got {quarters!r}", column="quarters"))
        ok = False
    elif start_ordinal is not None and start_ordinal + quarters - 1 > LAST_YEAR * QUARTERS_PER_YEAR + 3:
        problems.append(Problem(label, f"the horizon ({quarters} quarters from {start}) runs past {LAST_YEAR}Q4; "
                                       "quarter labels have four-digit years", column="quarters"))
        ok = False
    return Horizon(start_ordinal, quarters) if ok else None


def _choice(section: dict, key: str, choices: tuple[str, ...], default: str, label: str, prefix: str,
            problems: list[Problem]) -> str:
    """A value from a closed set, case-insensitive (`SCIP`, `Cash`)."""
    value = section.get(key, default)
    if isinstance(value, str) and value.strip().lower() in choices:
        return value.strip().lower()
    problems.append(Problem(label, f"'{prefix}{key}' must be one of {', '.join(choices)}, got {value!r}",
                            column=f"{prefix}{key}"))
    return default


def _parse_finance(section: dict, label: str, problems, warnings) -> Finance:
    _check_keys(section, FINANCE_KEYS, label, "finance.", problems, warnings)
    if not isinstance(section, dict):
        return Finance()
    p = "finance."
    mode = _choice(section, "capex_mode", CAPEX_MODES, "depreciation", label, p, problems)
    return Finance(
        discount_rate=_number(section, "discount_rate", label, p, problems, 0.0, low=0.0, high=MAX_DISCOUNT_RATE),
        capex_mode=mode,
        budget_usd_per_quarter=_number(section, "budget_usd_per_quarter", label, p, problems, None, low=0.0,
                                       high=MAX_USD),
        carbon_usd_per_t=_number(section, "carbon_usd_per_t", label, p, problems, 0.0, low=0.0,
                                 high=MAX_CARBON_USD_PER_T),
        unmet_usd_per_unit=_number(section, "unmet_usd_per_unit", label, p, problems,
                                   DEFAULT_UNMET_USD_PER_UNIT, low=0.0, high=MAX_USD),
        unfinished_training_usd=_number(section, "unfinished_training_usd", label, p, problems, None,
                                        low=0.0, high=MAX_USD),
    )


def _parse_risk(section: dict, label: str, problems: list[Problem]) -> RiskSettings:
    """The `risk:` distributions, checked with everything else so no command starts on a bad one."""
    try:
        return parse_risk_settings(section, label)
    except InputError as error:
        problems.extend(error.problems)
        return RiskSettings()


def _parse_planning(section: dict, label: str, problems, warnings) -> float:
    _check_keys(section, PLANNING_KEYS, label, "planning.", problems, warnings)
    if not isinstance(section, dict):
        return 0.0
    return _number(section, "headroom", label, "planning.", problems, 0.0, low=0.0, high=1.0, high_open=True)


def _parse_solver(section: dict, label: str, problems, warnings) -> SolverOptions:
    _check_keys(section, SOLVER_KEYS, label, "solver.", problems, warnings)
    if not isinstance(section, dict):
        return SolverOptions()
    backend = _choice(section, "backend", SOLVER_BACKENDS, "scip", label, "solver.", problems)
    return SolverOptions(
        backend=backend,
        time_limit_s=_number(section, "time_limit_s", label, "solver.", problems, DEFAULT_TIME_LIMIT_S,
                             low=0.0, low_open=True, high=MAX_TIME_LIMIT_S),
        gap=_number(section, "gap", label, "solver.", problems, DEFAULT_GAP, low=0.0, high=1.0),
    )


# --- typed frames -------------------------------------------------------------------------------------

def _typed_catalog(frame: pd.DataFrame) -> pd.DataFrame:
    catalog = frame.set_index("sku")
    for col in ("gpus_per_node", "lead_quarters", "available_from", "nodes_per_rack"):
        catalog[col] = catalog[col].astype(int)
    return catalog


def _typed_fleet(frame: pd.DataFrame) -> pd.DataFrame:
    fleet = frame[["site", "sku", "nodes", "installed"]].reset_index(drop=True)
    return fleet.astype({"site": object, "sku": object, "nodes": int, "installed": int})


def _typed_workloads(frame: pd.DataFrame) -> pd.DataFrame:
    workloads = frame.set_index("workload")
    for col in ("start", "deadline"):
        workloads[col] = workloads[col].astype("Int64")
    return workloads


def _typed_demand(frame: pd.DataFrame) -> pd.DataFrame:
    demand = frame[["workload", "quarter", "tokens_per_s"]].reset_index(drop=True)
    return demand.astype({"workload": object, "quarter": int, "tokens_per_s": float})


def _typed_throughput(frame: pd.DataFrame) -> pd.DataFrame:
    """The throughput table; its optional 95 % half-width column only where some row gives one (risk sampling)."""
    half_width = "ci95_tokens_per_s_per_node"
    given = half_width in frame and pd.to_numeric(frame[half_width], errors="coerce").notna().any()
    columns = ["workload", "sku", "tokens_per_s_per_node"] + ([half_width] if given else [])
    throughput = frame[columns].reset_index(drop=True)
    return throughput.astype({"workload": object, "sku": object, "tokens_per_s_per_node": float,
                              **({half_width: float} if given else {})})


def _typed_facility_options(frame: pd.DataFrame | None) -> pd.DataFrame:
    """Options by `option`; empty racks / power_mw are 0 (the option adds none of it)."""
    columns = [c.name for c in S.FACILITY_OPTIONS.columns]
    if frame is None or frame.empty:
        frame = pd.DataFrame({c: pd.Series(dtype=object if c in ("option", "site", "source") else float)
                              for c in columns})
    options = frame[columns].set_index("option")
    for col in ("racks", "power_mw"):
        options[col] = options[col].astype(float).fillna(0.0)
    for col in ("lead_quarters", "available_from", "max_units"):
        options[col] = options[col].astype(int)
    return options


def _typed_contracts(frame: pd.DataFrame | None) -> pd.DataFrame:
    """Offers by `contract`; empty lead_quarters is 0, empty max_blocks 1 (one block of min_nodes)."""
    columns = [c.name for c in S.CONTRACTS.columns]
    if frame is None or frame.empty:
        frame = pd.DataFrame({c: pd.Series(dtype=object if c in ("contract", "site", "sku", "source") else float)
                              for c in columns})
    contracts = frame[columns].set_index("contract")
    contracts["lead_quarters"] = contracts["lead_quarters"].astype(float).fillna(0.0)
    contracts["max_blocks"] = contracts["max_blocks"].astype(float).fillna(1.0)
    for col in ("term_quarters", "min_nodes", "available_from", "lead_quarters", "max_blocks"):
        contracts[col] = contracts[col].astype(int)
    return contracts


def _typed_fabric(frame: pd.DataFrame | None) -> pd.DataFrame:
    """Fabric by `sku`; empty $ and kW are 0 (the SKU brings none of it)."""
    columns = [c.name for c in S.FABRIC.columns]
    if frame is None or frame.empty:
        frame = pd.DataFrame({c: pd.Series(dtype=object if c in ("sku", "source") else float) for c in columns})
    fabric = frame[columns].set_index("sku")
    for col in ("leaf_usd_per_node", "leaf_kw_per_node", "spine_usd_per_node", "spine_kw_per_node"):
        fabric[col] = fabric[col].astype(float).fillna(0.0)
    fabric["nodes_per_su"] = fabric["nodes_per_su"].astype(int)
    return fabric
