"""The scenario: every input of one planning problem, typed and validated, the domain type each layer shares.

`planner/scenario.py` builds it from the YAML file and the tables it names (`load_scenario`) and returns it only
when every rule holds; below `planner/` a `Scenario` is therefore valid by construction and nothing checks it again.
Quarter columns hold integers relative to the start (0 = the first planning quarter). No file is read here: the
SHA-256 of each input is taken by the loader, as it reads the files.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Protocol

import pandas as pd

from models.quarters import Horizon
from models.risk_settings import RiskSettings

# Default penalty for one unit (tokens/s) of inference demand left unserved for one quarter. Chosen far above
# the cost of serving it (an 8-GPU H100 node costs ~$0.1M a quarter all-in and serves >= 1,000 tokens/s of
# even a 405B model, i.e. < $100 per tokens/s-quarter), so the optimiser leaves demand unmet only when
# capacity, power or budget make serving it impossible.
DEFAULT_UNMET_USD_PER_UNIT = 1_000.0

CAPEX_MODES = ("depreciation", "cash")
# heuristic: the rounded LP alone (models/warm_start.py)
SOLVER_BACKENDS = ("scip", "highs", "cp-sat", "cbc", "heuristic")
DEFAULT_TIME_LIMIT_S = 60.0
DEFAULT_GAP = 0.005  # 0.5 %: the example's acceptance target


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


# The scenario file's vocabulary, named by the types that hold it (a section's keys are its fields, in order).
TABLE_KEYS = ("catalog", "sites", "fleet", "workloads", "demand", "throughput", "facility_options", "contracts",
              "fabric")
FINANCE_KEYS = tuple(f.name for f in fields(Finance))
PLANNING_KEYS = ("headroom",)
SOLVER_KEYS = tuple(f.name for f in fields(SolverOptions))
SECTION_KEYS = ("finance", "planning", "solver", "risk")


# The optional 2026 tables (docs/datacenter-2026.md), as planner/scenario.py types them: by option / by contract.
FACILITY_OPTION_COLUMNS = ("site", "racks", "power_mw", "price_usd", "lead_quarters", "available_from", "life_years",
                           "max_units", "source")
CONTRACT_COLUMNS = ("site", "sku", "term_quarters", "usd_per_gpu_hour", "min_nodes", "available_from",
                    "lead_quarters", "max_blocks", "source")
FABRIC_COLUMNS = ("nodes_per_su", "leaf_usd_per_node", "leaf_kw_per_node", "spine_usd_per_node",
                  "spine_kw_per_node", "source")
_TEXT_COLUMNS = ("site", "sku", "source")


def _no_rows(columns: tuple[str, ...], index: str) -> pd.DataFrame:
    """An empty table of those columns (text columns object, the others float), indexed by `index`."""
    return pd.DataFrame({c: pd.Series(dtype=object if c in _TEXT_COLUMNS else float) for c in columns},
                        index=pd.Index([], name=index, dtype=object))


def no_facility_options() -> pd.DataFrame:
    """A scenario without build-out options: no facility decisions."""
    return _no_rows(FACILITY_OPTION_COLUMNS, "option")


def no_contracts() -> pd.DataFrame:
    """A scenario without committed-capacity offers: no contracts."""
    return _no_rows(CONTRACT_COLUMNS, "contract")


def no_fabric() -> pd.DataFrame:
    """A scenario without a fabric table: no network cost or power (docs/datacenter-2026.md)."""
    return _no_rows(FABRIC_COLUMNS, "sku")


class OverrideRecord(Protocol):
    """One dotted-key override the scenario was loaded with (planner/inheritance/resolution.py `Override`)."""

    def record(self) -> dict: ...


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
    risk: RiskSettings = field(default_factory=RiskSettings)  # the `risk:` section, validated
    input_files: dict[str, Path] = field(default_factory=dict)  # role -> resolved path
    input_sha256: dict[str, str] = field(default_factory=dict)  # role -> SHA-256 of that file as read
    warnings: tuple[str, ...] = ()
    chain: tuple[Path, ...] = ()  # the scenario files read, the root base first, this scenario's file last
    chain_sha256: tuple[str, ...] = ()  # SHA-256 of each file of `chain`, as read
    overrides: tuple[OverrideRecord, ...] = ()  # every override applied, in order (files' own, then --set)
    # Build-out options by option (docs/datacenter-2026.md); empty: no facility decisions.
    facility_options: pd.DataFrame = field(default_factory=no_facility_options)
    # Committed-capacity offers by contract (docs/datacenter-2026.md); empty: no contracts.
    contracts: pd.DataFrame = field(default_factory=no_contracts)
    # Cluster fabric by sku (docs/datacenter-2026.md "Fabric and storage"); empty: no network cost or power.
    fabric: pd.DataFrame = field(default_factory=no_fabric)

    @property
    def quarters(self) -> list[str]:
        return self.horizon.labels

    def input_hashes(self) -> dict[str, str]:
        """SHA-256 of every input file, so a review can prove it reran on the same inputs."""
        return {role: self.input_sha256[role] for role in self.input_files}

    def inputs_record(self) -> dict:
        """PLAN.json's `inputs`: the scenario file, every input's SHA-256 by role, the chain of scenario files it
        extends (the root base first) and every override applied, in order, so the plan can be reproduced."""
        return {"scenario_path": str(self.path), "sha256": self.input_hashes(),
                "chain": [{"path": str(path), "sha256": digest} for path, digest in zip(self.chain, self.chain_sha256)],
                "overrides": [override.record() for override in self.overrides]}

    def allowed_sites(self, workload: str) -> tuple[str, ...]:
        listed = self.workloads.at[workload, "sites"]
        return tuple(listed) if listed else tuple(self.sites.index)
