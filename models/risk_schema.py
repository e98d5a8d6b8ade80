"""RISK.json, declared once like PLAN.json (models/plan_schema.py): every field with its type, unit and meaning.

Two documents carry the name. `planner evaluate` (plan-first allocation, models/risk_summary.py `summarise`)
writes RISK_FIELDS; with `plan --stochastic N -o` its out-of-sample comparison adds `comparison`.
`planner evaluate --allocation optimal` (planner/stochastic.py `evaluate_optimal`) writes OPTIMAL_RISK_FIELDS.
Each writer builds its document through `assemble_risk`, so it cannot leave out, invent or mistype a field;
`planner report --risk` reads a RISK.json through `RISK_KEYS` (what the Risk and Sensitivity sheets need); the
reference table in docs/risk-json.md is `markdown_table()` (tests/test_risk_schema.py compares them).

No JAX here: a reader of RISK.json needs the schema, not the evaluator.
"""

from __future__ import annotations

from models.cost_parameters import SAMPLED_LINES_USD
from models.plan_schema import (BOOLEAN, LIST, NUMBER, NUMBER_OR_NULL, OBJECT, OBJECT_OR_NULL, QUARTER, RECORDS,
                                TEXT, Field, check_fields)

PLAN_FIRST = "plan-first"
OPTIMAL = "optimal"

_DECOMPOSITION = (
    Field("total_usd", NUMBER, "discounted $", "spend_usd + on_demand_usd + penalty_usd"),
    Field("spend_usd", NUMBER, "discounted $", "the plan's spend lines: capex or depreciation, planned rent, "
                                               "energy, maintenance, carbon"),
    Field("on_demand_usd", NUMBER, "discounted $", "rent and carbon paid for shortfall rented on demand beyond the "
                                                   "plan's rentals"),
    Field("penalty_usd", NUMBER, "discounted $", "shortfall penalties: unmet demand, unfinished training"),
    Field("by_line_usd", OBJECT, "discounted $", "each sampled cost line (models/cost_parameters.py "
                                                 "SAMPLED_LINES_USD)",
          members=tuple(Field(line, NUMBER, "discounted $", "") for line in SAMPLED_LINES_USD)),
)
_TCO = Field("tco_usd", OBJECT, "discounted $", "the sampled futures' discounted TCO: mean, percentiles, CVaR95 "
                                                "and the sample standard deviation", members=(
    Field("mean", NUMBER, "discounted $", "E[TCO]; with every uncertainty off it equals PLAN.json objective_usd"),
    Field("p5", NUMBER, "discounted $", "5th percentile"),
    Field("p50", NUMBER, "discounted $", "median"),
    Field("p95", NUMBER, "discounted $", "95th percentile"),
    Field("p99", NUMBER, "discounted $", "99th percentile"),
    Field("cvar95", NUMBER, "discounted $", "mean of the worst 5 % of futures (exact Rockafellar–Uryasev)"),
    Field("std", NUMBER, "discounted $", "sample standard deviation (0 for one future)")))
_SHORTFALL = (
    Field("expected_shortfall_tokens_per_s", NUMBER, "tokens/s", "mean demand the plan's fleet does not serve"),
    Field("expected_on_demand_tokens_per_s", NUMBER, "tokens/s", "the part rented on demand"),
    Field("expected_unmet_tokens_per_s", NUMBER, "tokens/s", "the part charged the unmet penalty"),
)
_SAMPLES = Field("samples", NUMBER, "futures", "futures sampled")
_SEED = Field("seed", NUMBER, "", "the sampler's seed")
_DTYPE = Field("dtype", TEXT, "", "float32 or float64")
_PLAN_OBJECTIVE = Field("plan_objective_usd", NUMBER_OR_NULL, "discounted $",
                        "the priced plan's PLAN.json objective_usd (a reader checks it priced this plan)",
                        required=False)

RISK_FIELDS: tuple[Field, ...] = (
    _SAMPLES,
    _SEED,
    Field("device", TEXT, "", "where the evaluator ran (cpu, gpu)"),
    _DTYPE,
    Field("deterministic", BOOLEAN, "", "every uncertainty off (evaluate --deterministic)", required=False),
    Field("settings", OBJECT, "", "the `risk:` settings evaluated with (models/risk_settings.py), command-line "
                                  "samples and seed applied", required=False),
    _PLAN_OBJECTIVE,
    _TCO,
    Field("expected_tco_usd", OBJECT, "discounted $", "mean over the futures of the total and of each cost line",
          required=False, members=_DECOMPOSITION),
    Field("plan_tco_usd", OBJECT_OR_NULL, "discounted $", "the same split of PLAN.json's own discounted cost lines "
                                                          "(null: the plan has none)", required=False,
          members=_DECOMPOSITION),
    Field("histogram", OBJECT, "", "of the futures' TCO", members=(
        Field("bin_edges_usd", LIST, "discounted $", "bin edges, one more than counts"),
        Field("counts", LIST, "futures", "futures per bin"))),
    Field("shortfall_probability", RECORDS, "", "by quarter and inference workload", members=(
        Field("quarter", QUARTER, "quarter", "the quarter"),
        Field("workload", TEXT, "", "an inference workload"),
        Field("probability", NUMBER, "fraction", "futures in which the plan's fleet leaves more than the tolerance "
                                                 "of the demand unserved"),
        *_SHORTFALL)),
    Field("shortfall_by_quarter", RECORDS, "", "the same over every workload: short if any workload is",
          required=False, members=(Field("quarter", QUARTER, "quarter", "the quarter"),
                                   Field("probability", NUMBER, "fraction", "futures short in any workload"),
                                   *_SHORTFALL)),
    Field("shortfall_by_workload", RECORDS, "", "the expected shortfall summed over the horizon's quarters",
          required=False, members=(Field("workload", TEXT, "", "an inference workload"),
                                   *(Field(f"{f.name}_quarters", NUMBER, "tokens/s × quarters", f.description)
                                     for f in _SHORTFALL))),
    Field("definitions", OBJECT, "", "each measure in words", required=False),
    Field("sensitivity_basis", TEXT, "", "what is held fixed when an input is moved", required=False),
    Field("sensitivity_samples", NUMBER, "futures", "the common-random-number subsample the sensitivities use",
          required=False),
    Field("sensitivities", RECORDS, "", "one row per input: the derivative and E[TCO] at ∓10 %", members=(
        Field("input", TEXT, "", "the input, e.g. usd_per_kwh[site]"),
        Field("value", NUMBER, "the input's", "its value in the scenario"),
        Field("d_tco_usd_per_unit", NUMBER, "discounted $ per unit", "dE[TCO]/d input"),
        Field("delta_tco_usd_at_minus_10pct", NUMBER, "discounted $", "change of E[TCO] with the input at −10 %"),
        Field("delta_tco_usd_at_plus_10pct", NUMBER, "discounted $", "change of E[TCO] with the input at +10 %"),
        Field("tco_usd_at_minus_10pct", NUMBER, "discounted $", "tco_usd.mean + delta at −10 %"),
        Field("tco_usd_at_plus_10pct", NUMBER, "discounted $", "tco_usd.mean + delta at +10 %"))),
    Field("timing", OBJECT, "", "how long the evaluation took", required=False, members=(
        Field("compile_seconds", NUMBER, "s", "JAX compilation"),
        Field("samples_seconds", NUMBER, "s", "the main run"),
        Field("gradient_seconds", NUMBER, "s", "the sensitivities' gradient pass"),
        Field("tornado_seconds", NUMBER, "s", "the ∓10 % pass"),
        Field("batch_size", NUMBER, "futures", "futures per batch"),
        Field("samples_per_second", NUMBER_OR_NULL, "futures/s", "throughput of the main run"),
        Field("workload_quarter_samples_per_second", NUMBER_OR_NULL, "1/s", "futures × workloads × quarters per "
                                                                            "second"))),
    Field("comparison", OBJECT, "", "only from `plan --stochastic N -o`: the stochastic and the deterministic plan "
                                    "on the same fresh futures", required=False, members=(
        Field("plans", OBJECT, "", "{deterministic, stochastic}: objective_usd, mean_usd, p95_usd, cvar95_usd, "
                                   "shortfall_probability (plan-first allocation)"),
        Field("optimal_recourse", OBJECT, "", "{deterministic, stochastic}: mean_usd, p95_usd, cvar95_usd, "
                                              "shortfall_probability (optimal recourse)"),
        Field("in_sample", OBJECT, "", "PLAN.json's `stochastic` figures"),
        Field("purchases_differ", LIST, "", "[{quarter, site, sku, deterministic_nodes, stochastic_nodes}]"))),
)
WRITTEN_WHEN_SET = ("comparison",)

OPTIMAL_RISK_FIELDS: tuple[Field, ...] = (
    _SAMPLES,
    _SEED,
    Field("allocation", TEXT, "", "optimal: the recourse LP of models/stochastic.py in each future"),
    _DTYPE,
    _PLAN_OBJECTIVE,
    _TCO,
    Field("shortfall_probability_worst_quarter", NUMBER, "fraction", "the highest quarter's probability of a "
                                                                     "shortfall"),
)
DOCUMENTS = {PLAN_FIRST: RISK_FIELDS, OPTIMAL: OPTIMAL_RISK_FIELDS}

# What every plan-first RISK.json holds (the Risk and Sensitivity sheets read these; `planner report --risk`
# refuses a file without them). The one tuple of this name.
RISK_KEYS = tuple(field.name for field in RISK_FIELDS if field.required)


def check_risk_document(risk: object, allocation: str = PLAN_FIRST) -> list[str]:
    """Every way `risk` departs from its declaration, each naming the field (empty: it is a RISK.json)."""
    return check_fields(risk, DOCUMENTS[allocation])


def assemble_risk(values: dict, allocation: str = PLAN_FIRST) -> dict:
    """The document in schema order, for the writers: ValueError naming any field missing, undeclared or mistyped
    (a bug in the writer, caught before anything is written)."""
    fields = DOCUMENTS[allocation]
    names = {field.name for field in fields}
    missing = [f.name for f in fields if f.name not in values and f.name not in WRITTEN_WHEN_SET]
    undeclared = [name for name in values if name not in names]
    document = {f.name: values[f.name] for f in fields if f.name in values}
    problems = check_fields(document, fields)
    if missing:
        problems.insert(0, f"the writer left out {', '.join(missing)}")
    if undeclared:
        problems.insert(0, f"{', '.join(undeclared)} not declared in models/risk_schema.py")
    if problems:
        raise ValueError(f"RISK.json ({allocation}) does not match its schema: " + "; ".join(problems))
    return document


def markdown_table() -> str:
    """docs/risk-json.md's tables: each document's fields, then the members of every object and table."""
    def key(field: Field) -> str:
        if field.kind == RECORDS:
            return f"`{field.name}[{{{', '.join(field.member_names)}}}]`"
        if field.members:
            return f"`{field.name}{{{', '.join(field.member_names)}}}`"
        return f"`{field.name}`"

    def rows(fields: tuple[Field, ...], prefix: str = "") -> list[str]:
        out = []
        for field in fields:
            optional = "" if field.required else " (optional when read)"
            out.append(f"| {key(field) if not prefix else f'`{prefix}{field.name}`'} | {field.kind}{optional} | "
                       f"{field.unit} | {field.description} |")
            if field.members and field.name != "by_line_usd":
                out += rows(field.members, f"{prefix}{field.name}.")
        return out

    header = ["| key | type | unit | meaning |", "|---|---|---|---|"]
    return "\n".join([f"#### {PLAN_FIRST} (`planner evaluate`)", "", *header, *rows(RISK_FIELDS), "",
                      f"#### {OPTIMAL} (`planner evaluate --allocation optimal`)", "", *header,
                      *rows(OPTIMAL_RISK_FIELDS)])
