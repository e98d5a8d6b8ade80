"""A scenario: the YAML file and the tables it names, loaded into one frozen, typed `Scenario`.

`load_scenario` either returns a fully valid scenario or raises `InputError` carrying *every* problem found
(file, row, column), so a planner fixes a file once, not once per error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from models.errors import InputError, Problem
from models.quarters import Horizon, parse_quarter
from planner import schema as S
from planner.resources import shipped_catalog_path
from planner.tables import read_table, sha256_of

# Default penalty for one unit (tokens/s) of inference demand left unserved for one quarter. Chosen far above
# the cost of serving it (an 8-GPU H100 node costs ~$0.1M a quarter all-in and serves >= 1,000 tokens/s of
# even a 405B model, i.e. < $100 per tokens/s-quarter), so the optimiser leaves demand unmet only when
# capacity, power or budget make serving it impossible.
DEFAULT_UNMET_USD_PER_UNIT = 1_000.0

CAPEX_MODES = ("depreciation", "cash")
SOLVER_BACKENDS = ("scip", "highs", "cp-sat", "cbc")
DEFAULT_TIME_LIMIT_S = 60.0
DEFAULT_GAP = 0.005  # 0.5 %: the example's acceptance target

TOP_LEVEL_KEYS = ("name", "start", "quarters", "catalog", "sites", "fleet", "workloads", "demand",
                  "throughput", "finance", "planning", "solver", "risk")
FINANCE_KEYS = ("discount_rate", "capex_mode", "budget_usd_per_quarter", "carbon_usd_per_t",
                "unmet_usd_per_unit", "unfinished_training_usd")
PLANNING_KEYS = ("headroom",)
SOLVER_KEYS = ("backend", "time_limit_s", "gap")


@dataclass(frozen=True)
class Finance:
    discount_rate: float = 0.0  # per year; quarter i is discounted by (1 + r)^(-i/4)
    capex_mode: str = "depreciation"
    budget_usd_per_quarter: float | None = None  # None: no cap on purchases
    carbon_usd_per_t: float = 0.0
    unmet_usd_per_unit: float = DEFAULT_UNMET_USD_PER_UNIT
    unfinished_training_usd: float | None = None  # None: every training run must finish


@dataclass(frozen=True)
class SolverOptions:
    backend: str = "scip"
    time_limit_s: float = DEFAULT_TIME_LIMIT_S
    gap: float = DEFAULT_GAP


@dataclass(frozen=True)
class Scenario:
    """Typed inputs. Quarter columns hold integers relative to the start (0 = first planning quarter)."""

    name: str
    path: Path
    horizon: Horizon
    catalog: pd.DataFrame  # index sku
    sites: pd.DataFrame  # index site
    fleet: pd.DataFrame  # columns site, sku, nodes, installed
    workloads: pd.DataFrame  # index workload
    demand: pd.DataFrame  # columns workload, quarter, tokens_per_s
    throughput: pd.DataFrame  # columns workload, sku, tokens_per_s_per_node
    finance: Finance
    headroom: float
    solver: SolverOptions
    risk: dict = field(default_factory=dict)
    input_files: dict[str, Path] = field(default_factory=dict)  # role -> resolved path
    warnings: tuple[str, ...] = ()

    @property
    def quarters(self) -> list[str]:
        return self.horizon.labels

    def input_hashes(self) -> dict[str, str]:
        """SHA-256 of every input file, so a review can prove it reran on the same inputs."""
        return {role: sha256_of(path) for role, path in self.input_files.items()}

    def allowed_sites(self, workload: str) -> tuple[str, ...]:
        listed = self.workloads.at[workload, "sites"]
        return tuple(listed) if listed else tuple(self.sites.index)


def load_scenario(path: str | Path) -> Scenario:
    """Load and fully validate a scenario; raise InputError listing every problem."""
    from planner.validate import check_fleet_fits, check_references, check_risk_section, check_runnable

    path = Path(path)
    label = path.name
    config = _read_yaml(path)
    problems: list[Problem] = []
    warnings: list[str] = []
    _check_keys(config, TOP_LEVEL_KEYS, label, "", problems, warnings)

    name = str(config.get("name") or path.stem)
    horizon = _parse_horizon(config, label, problems)
    finance = _parse_finance(config.get("finance") or {}, label, problems, warnings)
    headroom = _parse_planning(config.get("planning") or {}, label, problems, warnings)
    solver = _parse_solver(config.get("solver") or {}, label, problems, warnings)

    base = path.resolve().parent
    specs = {
        "catalog": (config.get("catalog"), S.CATALOG, True),
        "sites": (config.get("sites"), S.SITES, True),
        "fleet": (config.get("fleet"), S.FLEET, False),
        "workloads": (config.get("workloads"), S.WORKLOADS, True),
        "demand": (config.get("demand"), S.DEMAND, False),
        "throughput": (config.get("throughput"), S.THROUGHPUT, False),
    }
    tables: dict[str, pd.DataFrame] = {}
    raws = {}
    input_files = {"scenario": path.resolve()}
    for role, (spec, table_schema, required) in specs.items():
        if spec is None and role == "catalog":
            spec = str(shipped_catalog_path())
        if spec is None:
            if required:
                problems.append(Problem(label, f"key '{role}' is required (a table file)", column=role))
            tables[role] = pd.DataFrame({c: pd.Series(dtype=object) for c in table_schema.names})
            continue
        try:
            raw = read_table(str(spec), base)
        except InputError as error:
            problems.extend(error.problems)
            tables[role] = pd.DataFrame({c: pd.Series(dtype=object) for c in table_schema.names})
            continue
        parsed = S.parse_table(raw, table_schema, horizon if horizon else Horizon(0, 0))
        problems.extend(parsed.problems)
        warnings.extend(parsed.warnings)
        tables[role], raws[role] = parsed.frame, raw
        input_files[role] = raw.path

    if problems:
        raise InputError(problems)
    problems.extend(check_references(tables, raws, horizon))
    if problems:
        raise InputError(problems)

    scenario = Scenario(
        name=name, path=path.resolve(), horizon=horizon,
        catalog=_typed_catalog(tables["catalog"]),
        sites=tables["sites"].set_index("site"),
        fleet=_typed_fleet(tables["fleet"]),
        workloads=_typed_workloads(tables["workloads"]),
        demand=_typed_demand(tables["demand"]),
        throughput=_typed_throughput(tables["throughput"]),
        finance=finance, headroom=headroom, solver=solver, risk=dict(config.get("risk") or {}),
        input_files=input_files, warnings=tuple(warnings),
    )
    problems.extend(check_runnable(scenario, raws))
    problems.extend(check_fleet_fits(scenario, raws))
    problems.extend(check_risk_section(scenario))
    if problems:
        raise InputError(problems)
    return scenario


# --- YAML and scalar keys ---------------------------------------------------------------------------

def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise InputError(Problem(str(path), "scenario file not found"))
    try:
        config = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        row = mark.line + 1 if mark is not None else None
        raise InputError(Problem(path.name, f"not valid YAML: {getattr(exc, 'problem', exc)}", row=row)) \
            from None
    if not isinstance(config, dict):
        raise InputError(Problem(path.name, "a scenario must be a YAML mapping of keys to values"))
    return config


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
            warnings.append(f"{label}: unknown key '{prefix}{key}' ignored")


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
        problems.append(Problem(label, f"'{where}' must be {'>' if low_open else '>='} {low}, got {value}",
                                column=where))
    if high is not None and (value > high or (high_open and value == high)):
        problems.append(Problem(label, f"'{where}' must be {'<' if high_open else '<='} {high}, got {value}",
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
    if isinstance(quarters, bool) or not isinstance(quarters, int) or quarters < 1:
        problems.append(Problem(label, f"'quarters' must be a whole number >= 1, got {quarters!r}",
                                column="quarters"))
        ok = False
    return Horizon(start_ordinal, quarters) if ok else None


def _parse_finance(section: dict, label: str, problems, warnings) -> Finance:
    _check_keys(section, FINANCE_KEYS, label, "finance.", problems, warnings)
    if not isinstance(section, dict):
        return Finance()
    mode = section.get("capex_mode", "depreciation")
    if mode not in CAPEX_MODES:
        problems.append(Problem(label, f"'finance.capex_mode' must be one of {', '.join(CAPEX_MODES)}, "
                                       f"got {mode!r}", column="finance.capex_mode"))
        mode = "depreciation"
    p = "finance."
    return Finance(
        discount_rate=_number(section, "discount_rate", label, p, problems, 0.0, low=0.0),
        capex_mode=mode,
        budget_usd_per_quarter=_number(section, "budget_usd_per_quarter", label, p, problems, None, low=0.0),
        carbon_usd_per_t=_number(section, "carbon_usd_per_t", label, p, problems, 0.0, low=0.0),
        unmet_usd_per_unit=_number(section, "unmet_usd_per_unit", label, p, problems,
                                   DEFAULT_UNMET_USD_PER_UNIT, low=0.0),
        unfinished_training_usd=_number(section, "unfinished_training_usd", label, p, problems, None,
                                        low=0.0),
    )


def _parse_planning(section: dict, label: str, problems, warnings) -> float:
    _check_keys(section, PLANNING_KEYS, label, "planning.", problems, warnings)
    if not isinstance(section, dict):
        return 0.0
    return _number(section, "headroom", label, "planning.", problems, 0.0, low=0.0, high=1.0, high_open=True)


def _parse_solver(section: dict, label: str, problems, warnings) -> SolverOptions:
    _check_keys(section, SOLVER_KEYS, label, "solver.", problems, warnings)
    if not isinstance(section, dict):
        return SolverOptions()
    backend = section.get("backend", "scip")
    if backend not in SOLVER_BACKENDS:
        problems.append(Problem(label, f"'solver.backend' must be one of {', '.join(SOLVER_BACKENDS)}, "
                                       f"got {backend!r}", column="solver.backend"))
        backend = "scip"
    return SolverOptions(
        backend=backend,
        time_limit_s=_number(section, "time_limit_s", label, "solver.", problems, DEFAULT_TIME_LIMIT_S,
                             low=0.0, low_open=True),
        gap=_number(section, "gap", label, "solver.", problems, DEFAULT_GAP, low=0.0),
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
    throughput = frame[["workload", "sku", "tokens_per_s_per_node"]].reset_index(drop=True)
    return throughput.astype({"workload": object, "sku": object, "tokens_per_s_per_node": float})
