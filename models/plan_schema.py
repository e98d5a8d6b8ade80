"""PLAN.json, declared once: every top-level field and every table column with its type, unit and meaning.

The writer (planner/pipeline.py `plan_document`) assembles the document through `assemble` and `table_columns`,
so it cannot leave out or invent a field; every reader (planner/plan_file.py, models/verify.py, reports/tables.py,
models/risk_inputs.py) checks or selects fields through this module; and the manual's PLAN.json table
(docs/outputs.md) is `markdown_table()`, which tests/test_plan_schema.py compares with that page. Only names and
types are shared: the verifier still recomputes every figure from the scenario on its own.

A column name means one thing in every table (`nodes` is whole nodes wherever it appears), which is why the
columns are declared once below and the tables list them.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass

import numpy as np

from models.cost_parameters import COST_LINES
from models.quarters import parse_quarter

# Kinds of value. A quarter is a label like 2027Q1; records are a list of objects with declared columns.
TEXT = "text"
QUARTER = "quarter"
NUMBER = "number"
NUMBER_OR_NULL = "number or null"
OBJECT = "object"
OBJECT_OR_NULL = "object or null"
BOOLEAN = "boolean"
LIST = "list"
RECORDS = "records"
_MISSING = object()  # a record without the column


@dataclass(frozen=True)
class Field:
    """One key of the document, of a nested object or of a table's records."""

    name: str
    kind: str
    unit: str
    description: str
    required: bool = True  # False: always written, but readers tolerate its absence (older plans)
    members: tuple["Field", ...] = ()  # the keys of an object, the columns of records

    @property
    def member_names(self) -> tuple[str, ...]:
        return tuple(member.name for member in self.members)


# --- record columns, one meaning each ---------------------------------------------------------------------
# name | kind | unit | meaning. A column means the same in every table it appears in; a row with no name
# continues the meaning above it.
_COLUMN_TABLE = """
quarter                 | quarter | quarter          | the quarter the row is about (for an order: when it is placed)
site                    | text    |                  | a site of sites.csv
sku                     | text    |                  | a SKU of the catalog
workload                | text    |                  | a workload of workloads.csv
nodes                   | number  | nodes            | whole nodes
in_service              | quarter | quarter          | first quarter in service = order quarter + lead_quarters
capex_usd               | number  | $                | cash paid for the order = nodes × price_usd
                        |         |                  | (in costs: cash mode's charge)
rent_usd                | number  | $                | rent for the quarter = nodes × rent_usd_per_gpu_hour ×
                        |         |                  | gpus_per_node × 2,190 h
it_kw                   | number  | kW               | IT power at the plan's utilisation
facility_kw             | number  | kW               | IT power × PUE
node_equivalents        | number  | node-equivalents | nodes' worth of the quarter kept busy
units                   | number  | tokens/s         | tokens/s served (placement; training tokens/s for runs)
                        |         |                  | or not served (unmet)
deadline                | quarter | quarter          | the training run's deadline quarter
fraction_left           | number  | fraction         | share of the run's work not done by its deadline
cost_usd                | number  | $                | penalty for what is left undone: fraction_left ×
                        |         |                  | unfinished_training_usd (unfinished), unmet units ×
                        |         |                  | unmet_usd_per_unit (an unmet-demand warning)
discount_factor         | number  |                  | (1 + discount_rate)^(−i/4) for quarter i (0 = start)
depreciation_usd        | number  | $                | depreciation mode's price_usd / (life_years × 4) per owned
                        |         |                  | node in service
energy_kwh              | number  | kWh              | IT power × PUE × 2,190 h, cloud sites included
energy_usd              | number  | $                | owned sites' energy_kwh × usd_per_kwh (cloud energy is in
                        |         |                  | the rent)
maintenance_usd         | number  | $                | maint_frac_per_year × price_usd / 4 per owned node in service
network_usd             | number  | $                | the fabric owned nodes bring (docs/datacenter-2026.md): leaf
                        |         |                  | $ like the node's price (per node ordered in cash mode, / (life
                        |         |                  | × 4) per node in service otherwise), spine $ / (life × 4) per
                        |         |                  | busy node-equivalent of runs spanning scalable units; 0 without
                        |         |                  | a fabric table
storage_usd             | number  | $                | storage_tb × storage_usd_per_tb_quarter × the workload's share
                        |         |                  | at the site (docs/datacenter-2026.md); 0 without storage inputs
carbon_t                | number  | tCO2             | energy_kwh × gco2_per_kwh, owned and cloud sites
carbon_usd              | number  | $                | carbon_t × carbon_usd_per_t
unmet_usd               | number  | $                | unmet units × unmet_usd_per_unit
unfinished_training_usd | number  | $                | unfinished runs' cost_usd, in the deadline quarter
total_usd               | number  | $                | the quarter's $ cost lines added up
discounted_usd          | number  | discounted $     | total_usd × discount_factor
spend_usd               | number  | $                | spend lines added up: capex, depreciation, rent, energy,
                        |         |                  | maintenance, network, storage, carbon
penalty_usd             | number  | $                | shortfall penalties added up: unmet demand, unfinished training
charged_in_horizon_usd  | number  | $                | what the cost lines charge for the order inside the horizon:
                        |         |                  | depreciation mode, price_usd / (life_years × 4) per node per
                        |         |                  | quarter in service; cash mode, capex_usd
book_value_end_usd      | number  | $                | capex_usd − charged_in_horizon_usd: the price later quarters
                        |         |                  | carry
kind                    | text    |                  | unfinished_training or unmet_demand
quarters                | list    |                  | quarter labels concerned: a run's deadline, a service's unmet
                        |         |                  | quarters
amount                  | number  | see unit         | fraction of the run left undone, or tokens/s × quarters unmet
unit                    | text    |                  | the unit of amount
cause                   | text    |                  | caps with a non-zero shadow price where the shortfall is
                        |         |                  | (power and racks at the sites it may use in its quarters, the
                        |         |                  | budget up to them), or a site with no room for another node;
                        |         |                  | else that the penalty is cheaper than doing the work
message                 | text    |                  | the warning in words, as `planner plan` prints it
serves                  | list    |                  | [{workload, node_equivalent_quarters}]: what the order's
                        |         |                  | pool serves from its in-service quarter on
option                  | text    |                  | a facility build-out option of facility_options
facility_units          | number  | units            | whole units of the option built (each adds its racks and MW)
reason                  | text    |                  | why the plan builds it: what the site holds, in racks and
                        |         |                  | kW, against its capacity without the build
contract                | text    |                  | a committed-capacity offer of contracts
contract_blocks         | number  | blocks           | whole blocks of the offer signed (each min_nodes nodes)
term_end                | quarter | quarter          | the last quarter of the contract's term
commitment_usd          | number  | $                | what the term costs, paid whether used or not: nodes ×
                        |         |                  | gpus_per_node × usd_per_gpu_hour × 2,190 h × term_quarters
throughput_replicas     | number  | replicas         | replicas the quarter's whole demand needs at the mean roofline
                        |         |                  | (busy slots a = λ S over the batch b)
slo_replicas            | number  | replicas         | whole replicas its TTFT quantile SLO needs: ⌈c / b⌉ for the
                        |         |                  | fewest slots c with P(wait > max_ttft_s − ttft_s) ≤ 1 − q
utilisation_cap         | number  | fraction         | a / c: the share of the roofline a busy node-equivalent serves
sized_by                | text    |                  | slo where the SLO needs more whole replicas than throughput,
                        |         |                  | else throughput
storage_tb              | number  | TB               | the workload's storage_tb (workloads.csv)
share                   | number  | fraction         | the part of it held at the site that quarter: inference,
                        |         |                  | tokens/s served there ÷ demand; training, 1 in a quarter the run
                        |         |                  | works in its pool there
storage_kw              | number  | kW               | IT power of that storage: storage_tb × share ×
                        |         |                  | storage_kw_per_pb / 1,000
spot_nodes              | number  | node-equivalents | node_hours / 2,190 h: the nodes' worth rented all quarter
                        |         |                  | (not whole: spot is rented by the hour)
node_hours              | number  | node-hours       | spot node-hours rented in the quarter (paid whether or not a
                        |         |                  | preemption cuts them short)
work_node_hours         | number  | node-hours       | the hours of work they deliver: node_hours × spot_availability ×
                        |         |                  | the SKU's availability under failures
spot_usd                | number  | $                | node_hours × spot_usd_per_gpu_hour × gpus_per_node; in
                        |         |                  | costs.rent_usd
"""


def _parse_columns(table: str) -> dict[str, Field]:
    columns: dict[str, list[str]] = {}
    last = ""
    for line in table.strip().splitlines():
        name, kind, unit, meaning = (cell.strip() for cell in line.split("|"))
        if name:
            if kind not in (TEXT, QUARTER, NUMBER, LIST):
                raise ValueError(f"column {name!r}: unknown kind {kind!r}")
            columns[name], last = [kind, unit, meaning], name
        else:
            columns[last][2] += " " + meaning
    return {name: Field(name, kind, unit, meaning) for name, (kind, unit, meaning) in columns.items()}


_COLUMNS = _parse_columns(_COLUMN_TABLE)
# Columns added after plans were first written: readers tolerate their absence from an older plan.
_COLUMNS.update({name: dataclasses.replace(_COLUMNS[name], required=False)
                 for name in ("spend_usd", "penalty_usd", "charged_in_horizon_usd", "book_value_end_usd",
                              "network_usd", "storage_usd")})
QUARTER_COLUMN = _COLUMNS["quarter"]


def _columns(*names: str) -> tuple[Field, ...]:
    return tuple(_COLUMNS[name] for name in names)


# The costs table: one row per quarter, the cost lines in the order models/cost_parameters.py defines them.
COSTS_FIELDS = _columns("quarter", "discount_factor", *COST_LINES, "total_usd", "discounted_usd")
# totals: the column sums of costs (every numeric column but the discount factor)
TOTALS_FIELDS = tuple(c for c in COSTS_FIELDS if c.name not in ("quarter", "discount_factor"))

# The decision and cost tables, in document order (the verifier and the reports read these).
RESULT_TABLES = ("purchases", "rentals", "fleet", "placement", "unmet", "unfinished", "costs")

_DUAL_ROWS = "rows with a zero price are omitted; absent when the LP around the plan did not solve"

PLAN_FIELDS: tuple[Field, ...] = (
    Field("scenario", TEXT, "", "the scenario's name"),
    Field("status", TEXT, "", "optimal, feasible (time limit hit with a plan), infeasible, no-solution-in-time"),
    Field("solver", TEXT, "", "the backend that solved it"),
    Field("objective_usd", NUMBER, "discounted $", "discounted TCO = Σ costs.discounted_usd"),
    Field("discounted_spend_usd", NUMBER, "discounted $", "the objective's spend lines (capex, depreciation, rent, "
          "energy, maintenance, network, storage, carbon), discounted", required=False),
    Field("discounted_penalty_usd", NUMBER, "discounted $", "the objective's shortfall penalties (unmet demand, "
          "unfinished training), discounted; discounted_spend_usd + discounted_penalty_usd = objective_usd exactly",
          required=False),
    Field("bound_usd", NUMBER_OR_NULL, "discounted $", "the solver's bound (null where the backend gives none)",
          required=False),
    Field("gap", NUMBER_OR_NULL, "fraction", "relative gap (objective − bound) / objective", required=False),
    Field("solve_seconds", NUMBER, "s", "time in the solver", required=False),
    Field("build_seconds", NUMBER, "s", "time to build the model", required=False),
    Field("tool_version", TEXT, "", "planner version that wrote the plan", required=False),
    Field("horizon", OBJECT, "", "the quarters planned", members=(
        Field("start", QUARTER, "quarter", "first quarter"),
        Field("quarters", LIST, "", "every quarter's label, in order"))),
    Field("capex_mode", TEXT, "", "depreciation or cash", required=False),
    Field("cost_lines_usd", LIST, "", "the $ cost lines that add up to total_usd, in order", required=False),
    Field("inputs", OBJECT, "", "what was solved", members=(
        Field("scenario_path", TEXT, "", "the scenario file"),
        Field("sha256", OBJECT, "", "SHA-256 of every input file, by role (`base 1`, `base 2`…: the scenario files "
              "it extends)"),
        Field("chain", LIST, "", "[{path, sha256}] of every scenario file read, the root base first, the scenario "
              "last", required=False),
        Field("overrides", LIST, "", "[{key, value, source}] of every override applied, in order; source is the "
              "file whose `overrides:` gives it, or --set", required=False))),
    Field("purchases", RECORDS, "", "orders", members=_columns("quarter", "site", "sku", "nodes", "in_service",
                                                                 "capex_usd", "charged_in_horizon_usd",
                                                                 "book_value_end_usd")),
    Field("rentals", RECORDS, "", "rentals and their rent for the quarter",
          members=_columns("quarter", "site", "sku", "nodes", "rent_usd")),
    Field("fleet", RECORDS, "", "everything in service (existing fleet, orders, rentals)",
          members=_columns("quarter", "site", "sku", "nodes", "it_kw", "facility_kw")),
    Field("placement", RECORDS, "", "where each workload runs",
          members=_columns("quarter", "workload", "site", "sku", "node_equivalents", "units")),
    Field("unmet", RECORDS, "", "inference demand not served", members=_columns("quarter", "workload", "units")),
    Field("unfinished", RECORDS, "", "training not done by its deadline",
          members=_columns("workload", "deadline", "fraction_left", "cost_usd")),
    Field("costs", RECORDS, "", "one row per quarter; capex_usd is the cash-mode charge, depreciation_usd the "
                                "depreciation-mode charge", members=COSTS_FIELDS),
    Field("totals", OBJECT, "", "the column sums of costs, with spend and penalties apart",
          members=(*TOTALS_FIELDS, _COLUMNS["spend_usd"], _COLUMNS["penalty_usd"])),
    Field("warnings", RECORDS, "", "every run left (partly) undone and every service with unmet demand, dearest "
                                   "first", required=False,
          members=_columns("kind", "workload", "quarters", "amount", "unit", "cost_usd", "cause", "message")),
    Field("duals", OBJECT, "discounted $", "shadow prices from the LP around the plan (manual, Shadow prices)",
          required=False, members=(
              Field("method", TEXT, "", "how they were computed, or why they are unavailable"),
              Field("lp_objective_usd", NUMBER_OR_NULL, "discounted $", "objective of the LP around the plan"),
              Field("power_usd_per_mw", LIST, "$/MW", f"[{{quarter, site, usd_per_mw}}]; {_DUAL_ROWS}",
                    required=False),
              Field("racks_usd_per_rack", LIST, "$/rack", f"[{{quarter, site, usd_per_rack}}]; {_DUAL_ROWS}",
                    required=False),
              Field("budget_usd_per_usd", LIST, "$/$", f"[{{quarter, usd_per_usd}}]; {_DUAL_ROWS}", required=False),
              Field("demand_usd_per_unit", LIST, "$/(tokens/s)", f"[{{quarter, workload, usd_per_unit}}]; "
                                                                 f"{_DUAL_ROWS}", required=False))),
    Field("why", RECORDS, "", "what each order's pool serves", required=False,
          members=_columns("quarter", "site", "sku", "nodes", "in_service", "serves")),
    Field("baselines", RECORDS, "discounted $", "procurement without the optimiser, priced alike (manual, "
          "Baselines): name (greedy, single-sku, just-in-time); status (a plan's status, or failed); objective_usd "
          "(its discounted TCO, null if failed); saving_usd (its objective_usd − this plan's); saving_pct "
          "(saving_usd / its objective_usd); detail (what it bought, or why it failed). Empty in a baseline's own "
          "plan and under --no-baselines", required=False, members=(
              Field("name", TEXT, "", "greedy, single-sku or just-in-time"),
              Field("status", TEXT, "", "the baseline plan's status, or failed"),
              Field("objective_usd", NUMBER_OR_NULL, "discounted $", "the baseline's discounted TCO"),
              Field("saving_usd", NUMBER_OR_NULL, "discounted $", "baseline objective − this plan's objective"),
              Field("saving_pct", NUMBER_OR_NULL, "fraction", "saving_usd / the baseline's objective"),
              Field("detail", TEXT, "", "what the baseline bought, or why it failed"))),
    Field("facility", RECORDS, "", "only for a scenario with facility_options (docs/datacenter-2026.md): each "
          "build-out decision; capex_usd = facility_units × price_usd, charged like a node's price (capex in cash "
          "mode, depreciation over life_years otherwise)", required=False,
          members=_columns("quarter", "option", "site", "facility_units", "in_service", "capex_usd", "reason")),
    Field("contracts", RECORDS, "", "only for a scenario with contracts (docs/datacenter-2026.md): each signing "
          "of committed capacity; its quarters' payments are in costs.rent_usd", required=False,
          members=_columns("quarter", "contract", "site", "sku", "contract_blocks", "nodes", "in_service",
                           "term_end", "commitment_usd")),
    Field("slo", RECORDS, "", "only for a scenario with a TTFT quantile SLO (docs/performance-model.md): for each "
          "quarter, SLO service and SKU the plan serves it on, the replicas throughput and the SLO need at the "
          "quarter's demand", required=False,
          members=_columns("quarter", "workload", "sku", "throughput_replicas", "slo_replicas", "utilisation_cap",
                           "sized_by")),
    Field("storage", RECORDS, "", "only for a scenario with priced storage (docs/datacenter-2026.md): where each "
          "workload's storage is held each quarter; storage_usd adds up to costs.storage_usd, energy_kwh is in "
          "costs.energy_kwh", required=False,
          members=_columns("quarter", "workload", "site", "storage_tb", "share", "storage_kw", "energy_kwh",
                           "storage_usd")),
    Field("spot", RECORDS, "", "only for a scenario with spot prices and a preemptible run (docs/datacenter-2026.md "
          "\"Spot\"): the spot node-hours each run rents; spot_usd adds up, with rentals and contracts, to "
          "costs.rent_usd, energy_kwh is in costs.energy_kwh", required=False,
          members=_columns("quarter", "workload", "site", "sku", "spot_nodes", "node_hours", "work_node_hours",
                           "energy_kwh", "spot_usd")),
    Field("stochastic", OBJECT, "discounted $", "only from `plan --stochastic N`: the two-stage solve on N sampled "
                                                "futures (manual, Stochastic planning)", required=False, members=(
              Field("samples", NUMBER, "futures", "futures solved on (evaluate's sampler, futures 0 … N−1)"),
              Field("seed", NUMBER, "", "the sampler's seed"),
              Field("cvar_weight", NUMBER, "", "λ in mean + λ · CVaR_α"),
              Field("cvar_alpha", NUMBER, "fraction", "α of CVaR"),
              Field("expected_tco_usd", NUMBER, "discounted $", "this plan's mean TCO over the futures, recourse "
                                                                "solved optimally in each"),
              Field("cvar_usd", NUMBER, "discounted $", "CVaR_α of this plan's TCO over the futures"),
              Field("deterministic_expected_tco_usd", NUMBER, "discounted $",
                    "the deterministic plan's mean TCO over the same futures, same recourse"),
              Field("vss_usd", NUMBER, "discounted $", "value of the stochastic solution = "
                                                       "deterministic_expected_tco_usd − expected_tco_usd"),
              Field("validation_samples", NUMBER, "futures", "unseen futures both plans were priced on",
                    required=False),
              Field("validation_seed", NUMBER, "", "their seed (seed + 2)", required=False),
              Field("validation_expected_tco_usd", NUMBER, "discounted $", "the two-stage plan's mean TCO on them",
                    required=False),
              Field("validation_deterministic_expected_tco_usd", NUMBER, "discounted $",
                    "the deterministic plan's mean TCO on them", required=False),
              Field("validation_difference_usd", NUMBER, "discounted $", "mean + λ·CVaR_α on them, two-stage "
                                                                         "minus deterministic (the mean when λ = 0)",
                    required=False),
              Field("validation_difference_ci95_usd", NUMBER, "discounted $", "half-width of the 95 % interval of the "
                                                                              "paired mean difference", required=False),
              Field("in_sample_optimism_usd", NUMBER, "discounted $", "validation_expected_tco_usd − "
                                                                      "expected_tco_usd (SAA's optimism)",
                    required=False),
              Field("in_sample_optimism_ci95_usd", NUMBER, "discounted $", "half-width of its 95 % interval",
                    required=False),
              Field("chosen", TEXT, "", "the plan written: stochastic, or deterministic when the two-stage plan "
                                        "is dearer on the unseen futures", required=False),
              Field("vss_ci95_usd", NUMBER, "discounted $", "half-width of the 95 % interval of vss_usd (paired "
                                                            "over the futures)", required=False),
              Field("reduced_to", NUMBER, "futures", "only with --reduce-to K: the extensive form was solved on K "
                    "of the N futures (fast forward selection, with probabilities); every figure is on all N",
                    required=False),
              Field("reduction_seconds", NUMBER, "s", "time of the reduction itself", required=False),
              Field("evpi_samples", NUMBER, "futures", "only with --evpi M: the first M in-sample futures, each "
                                                       "solved with perfect information", required=False),
              Field("wait_and_see_expected_tco_usd", NUMBER, "discounted $", "their mean wait-and-see TCO",
                    required=False),
              Field("evpi_usd", NUMBER, "discounted $", "expected value of perfect information = E[TCO of this "
                    "plan] − E[wait-and-see TCO], paired over those futures", required=False),
              Field("evpi_ci95_usd", NUMBER, "discounted $", "half-width of its 95 % interval", required=False),
              Field("convergence", OBJECT, "", "only from --stochastic auto: N doubled until the half-width of "
                    "in_sample_optimism_usd was within tolerance × validation_expected_tco_usd", required=False,
                    members=(
                        Field("tolerance", NUMBER, "fraction", "the half-width's tolerance, a fraction of E[TCO]"),
                        Field("cap", NUMBER, "futures", "the most futures tried"),
                        Field("converged", BOOLEAN, "", "whether the tolerance was met within the cap"),
                        Field("steps", RECORDS, "", "each N tried", members=(
                            Field("samples", NUMBER, "futures", "N"),
                            Field("in_sample_optimism_usd", NUMBER, "discounted $", "held-out − in-sample E[TCO]"),
                            Field("in_sample_optimism_ci95_usd", NUMBER, "discounted $", "its 95 % half-width"),
                            Field("half_width_fraction", NUMBER, "fraction", "that half-width / held-out "
                                                                             "E[TCO]"))))))),
    Field("replan", OBJECT, "", "only from `planner replan`: what was kept from the saved plan (docs/review.md)",
          required=False, members=(
              Field("as_of", QUARTER, "quarter", "decisions before this quarter were frozen at the saved plan's"),
              Field("from_plan", TEXT, "", "the saved PLAN.json re-planned from"),
              Field("frozen_orders", NUMBER, "orders", "the saved plan's orders placed before as_of, kept"),
              Field("frozen_nodes", NUMBER, "nodes", "their nodes"),
              Field("sunk_usd", NUMBER, "discounted $", "discounted cost of the quarters before as_of"),
              Field("remaining_usd", NUMBER, "discounted $", "discounted cost from as_of on; sunk_usd + "
                                                             "remaining_usd = objective_usd"))),
    Field("myopic", OBJECT, "", "only from `plan --horizon-quarters H`: the rolling-horizon plan and the cost of "
                                "myopia against perfect foresight (docs/review.md)", required=False, members=(
              Field("horizon_quarters", NUMBER, "quarters", "H: quarters each window sees"),
              Field("overlap_quarters", NUMBER, "quarters", "O: quarters of a window re-decided by the next one "
                                                            "(PyPSA's overlap); the window steps by H − O"),
              Field("windows", RECORDS, "", "each window solved, in order", members=(
                  Field("first_decided", QUARTER, "quarter", "first quarter this window decides (earlier ones "
                                                             "frozen)"),
                  Field("last_seen", QUARTER, "quarter", "the window's last quarter"),
                  Field("status", TEXT, "", "the window's solve status"),
                  Field("objective_usd", NUMBER, "discounted $", "the window's own objective (its quarters only)"),
                  Field("gap", NUMBER_OR_NULL, "fraction", "the window's relative optimality gap"))),
              Field("perfect_foresight_objective_usd", NUMBER, "discounted $",
                    "the whole horizon solved at once (`planner plan`'s optimum, no baselines)"),
              Field("perfect_foresight_bound_usd", NUMBER_OR_NULL, "discounted $", "its solver's lower bound"),
              Field("myopia_cost_usd", NUMBER, "discounted $", "objective_usd − perfect_foresight_objective_usd: "
                                                               "what foresight of H quarters costs"),
              Field("myopia_cost_max_usd", NUMBER_OR_NULL, "discounted $", "objective_usd − "
                    "perfect_foresight_bound_usd: the most it can be, given perfect foresight's gap"),
              Field("myopia_cost_pct", NUMBER, "fraction", "myopia_cost_usd / perfect_foresight_objective_usd"))),
)
# Optional fields only some plans carry; every other field is always written.
WRITTEN_WHEN_SET = ("stochastic", "replan", "myopic", "facility", "contracts", "slo", "storage", "spot")
# Documented in docs/datacenter-2026.md (markdown_table(datacenter_2026=True)), not in docs/outputs.md's table.
DATACENTER_2026_FIELDS = ("facility", "contracts", "storage", "spot")
DATACENTER_2026_COLUMNS = ("option", "facility_units", "reason", "contract", "contract_blocks", "term_end",
                           "commitment_usd", "storage_tb", "share", "storage_kw", "spot_nodes", "node_hours",
                           "work_node_hours", "spot_usd")
FIELDS = {f.name: f for f in PLAN_FIELDS}


def table_columns(name: str) -> list[str]:
    """The columns of record table `name`, in document order (KeyError naming it if it is not a table)."""
    field = FIELDS.get(name)
    if field is None or field.kind != RECORDS:
        raise KeyError(f"PLAN.json has no table {name!r}")
    return list(field.member_names)


def column_kinds(name: str) -> dict[str, str]:
    """Column -> kind (text, quarter, number) of record table `name`."""
    table_columns(name)
    return {column.name: column.kind for column in FIELDS[name].members}


def columns_of(name: str, *columns: str) -> list[str]:
    """`columns` after checking that table `name` declares each one: a reader's typo fails loudly, not as NaN."""
    declared = table_columns(name)
    unknown = [column for column in columns if column not in declared]
    if unknown:
        raise KeyError(f"PLAN.json table {name!r} has no column(s) {', '.join(unknown)}")
    return list(columns)


# --- checking a document -----------------------------------------------------------------------------------

def _kind_problem(value, field: Field) -> str | None:
    """Why `value` is not of the field's kind (None when it is)."""
    number = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
    if field.kind == NUMBER and number and math.isfinite(value):
        return None
    if field.kind == NUMBER_OR_NULL and (value is None or (number and math.isfinite(value))):
        return None
    if field.kind == TEXT and isinstance(value, str):
        return None
    if field.kind == QUARTER and isinstance(value, str):
        try:
            parse_quarter(value)
            return None
        except ValueError:
            return f"must be a quarter like 2027Q1, got {value!r}"
    if field.kind in (OBJECT, OBJECT_OR_NULL) and isinstance(value, dict):
        return None
    if field.kind == OBJECT_OR_NULL and value is None:
        return None
    if field.kind == BOOLEAN and isinstance(value, (bool, np.bool_)):
        return None
    if field.kind in (LIST, RECORDS) and isinstance(value, list):
        return None
    expected = {NUMBER: "a finite number", NUMBER_OR_NULL: "a finite number or null", TEXT: "text",
                QUARTER: "a quarter like 2027Q1", OBJECT: "an object", OBJECT_OR_NULL: "an object or null",
                BOOLEAN: "true or false", LIST: "a list",
                RECORDS: "a list of objects"}[field.kind]
    return f"must be {expected}, got {value!r}" if not isinstance(value, (dict, list)) else \
        f"must be {expected}, got a {type(value).__name__}"


def _check(value, field: Field, path: str, problems: list[str]) -> None:
    problem = _kind_problem(value, field)
    if problem:
        problems.append(f"'{path}' {problem}")
        return
    if field.kind in (OBJECT, OBJECT_OR_NULL) and field.members and value is not None:
        missing = [m.name for m in field.members if m.required and m.name not in value]
        if missing:
            problems.append(f"'{path}' lacks {', '.join(missing)}")
        for member in field.members:
            if member.name in value:
                _check(value[member.name], member, f"{path}.{member.name}", problems)
    elif field.kind == RECORDS:
        _check_records(value, field, path, problems)


def _column_is_clean(values: list, kind: str) -> bool:
    """Fast whole-column test (type checks on the exact types json.load gives, a set of distinct quarter labels),
    so a large plan is checked in a fraction of a second; only a column that fails is searched record by record."""
    if kind == NUMBER:
        if not all(type(v) is float or type(v) is int for v in values):
            return False
        return bool(np.isfinite(np.asarray(values, dtype=float)).all()) if values else True
    if kind in (TEXT, QUARTER, LIST):
        wanted = list if kind == LIST else str
        if not all(type(v) is wanted for v in values):
            return False
        if kind == QUARTER:
            return all(_kind_problem(label, QUARTER_COLUMN) is None for label in set(values))
        return True
    return False


def _check_records(records: list, field: Field, path: str, problems: list[str]) -> None:
    """First offending record per column (with how many more), so a broken table gives a few lines, not one per
    row, and every broken column is still named."""
    if not all(isinstance(record, dict) for record in records):
        first = next(i for i, record in enumerate(records) if not isinstance(record, dict))
        problems.append(f"'{path}' record {first + 1} is not an object")
        return
    for column in field.members:
        values = [record.get(column.name, _MISSING) for record in records]
        if _column_is_clean(values, column.kind):
            continue
        bad = [(index, ("is missing" if column.required else None) if value is _MISSING  # optional: older plans
                else _kind_problem(value, column)) for index, value in enumerate(values)]
        bad = [(index, problem) for index, problem in bad if problem]
        if bad:
            index, problem = bad[0]
            more = f" (and {len(bad) - 1} more record(s))" if len(bad) > 1 else ""
            problems.append(f"'{path}' record {index + 1}: '{column.name}' {problem}{more}")


def check_plan_document(plan: object) -> list[str]:
    """Every way `plan` departs from the schema, each naming the field (empty list: it is a PLAN.json).

    Required fields must be present; every declared field that is present must have its type. Undeclared keys
    are allowed, so a newer plan's extra field does not make an older reader refuse it.
    """
    return check_fields(plan, PLAN_FIELDS)


def check_fields(document: object, fields: tuple[Field, ...]) -> list[str]:
    """Every way `document` departs from the declared `fields` (PLAN.json's, RISK.json's: models/risk_schema.py),
    each naming the field: required fields present, every declared field present of its type."""
    if not isinstance(document, dict):
        return [f"expected a JSON object, got {type(document).__name__}"]
    missing = [f.name for f in fields if f.required and f.name not in document]
    problems = [f"missing field(s) {', '.join(missing)}"] if missing else []
    for field in fields:
        if field.name in document:
            _check(document[field.name], field, field.name, problems)
    return problems


def assemble(values: dict) -> dict:
    """The document in schema order, for the writer: ValueError naming any field missing, undeclared or mistyped
    (a bug in the writer, caught before anything is written)."""
    missing = [f.name for f in PLAN_FIELDS if f.name not in values and f.name not in WRITTEN_WHEN_SET]
    undeclared = [name for name in values if name not in FIELDS]
    document = {f.name: values[f.name] for f in PLAN_FIELDS if f.name in values}
    problems = check_plan_document(document)
    if missing:
        problems.insert(0, f"the writer left out {', '.join(missing)}")
    if undeclared:
        problems.insert(0, f"{', '.join(undeclared)} not declared in models/plan_schema.py")
    if problems:
        raise ValueError("PLAN.json does not match its schema: " + "; ".join(problems))
    return document


# --- the manual's table --------------------------------------------------------------------------------------

def _key(field: Field) -> str:
    if field.kind == RECORDS:
        return f"`{field.name}[{{{', '.join(field.member_names)}}}]`"
    if field.kind == OBJECT and field.members:
        return f"`{field.name}{{{', '.join(field.member_names)}}}`"
    return f"`{field.name}`"


def markdown_table(datacenter_2026: bool = False) -> str:
    """The manual's PLAN.json tables (docs/outputs.md): the top-level fields, then every record column once. The
    fields and columns of the 2026 datacenter inputs are documented in docs/datacenter-2026.md instead
    (`datacenter_2026=True`)."""
    def row(key: str, field: Field) -> str:
        optional = "" if field.required else " (optional when read)"
        return f"| {key} | {field.kind}{optional} | {field.unit} | {field.description} |"

    lines = ["| key | type | unit | meaning |", "|---|---|---|---|"]
    for field in PLAN_FIELDS:
        if (field.name in DATACENTER_2026_FIELDS) != datacenter_2026:
            continue
        lines.append(row(_key(field), field))
        if field.kind == OBJECT and not all(member in _COLUMNS.values() for member in field.members):
            lines += [row(f"`{field.name}.{member.name}`", member) for member in field.members]
    lines += ["", "| column | type | unit | meaning |", "|---|---|---|---|"]
    for column in _COLUMNS.values():
        if (column.name in DATACENTER_2026_COLUMNS) != datacenter_2026:
            continue
        lines.append(f"| `{column.name}` | {column.kind} | {column.unit} | {column.description} |")
    return "\n".join(lines)
