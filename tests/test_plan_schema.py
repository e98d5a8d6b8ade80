"""PLAN.json declared once (models/plan_schema.py): the writer, the readers and the manual (docs/outputs.md) follow it.

The document checker is tested on a hand-written two-quarter plan: one 8-GPU node bought in 2027Q1 at site A for
$40,000 (cash mode), busy 0.5 node-equivalents for workload `chat` at 1,000 tokens/s per node (500 tokens/s);
costs are the $40,000 capex in 2027Q1 and nothing in 2027Q2, discount factor 1 (rate 0), so total and objective
are $40,000. The figures only have to be well-typed here; the verifier's tests check that they add up.
"""

from __future__ import annotations

import ast
import copy
import json
import re
from pathlib import Path

import pytest

from models import plan_schema as S
from models.errors import InputError
from models.verify import PlanFormatError, read_plan_tables
from planner.pipeline import plan_document, run_plan
from planner.plan_file import load_plan
from planner.scenario import load_scenario
from scenario_files import OWNED_FREE_ENERGY, inference, sku, write_scenario

ROOT = Path(__file__).resolve().parent.parent
OUTPUTS_PAGE = ROOT / "docs" / "outputs.md"  # the manual's PLAN.json tables
PLAN_NAMES = {"plan", "document"}  # what the code calls a PLAN.json document


def _costs_row(quarter: str, capex_usd: float) -> dict:
    row = {column: 0.0 for column in S.table_columns("costs")}
    return {**row, "quarter": quarter, "discount_factor": 1.0, "capex_usd": capex_usd, "total_usd": capex_usd,
            "discounted_usd": capex_usd}


def hand_written_plan() -> dict:
    totals = {field.name: 0.0 for field in S.TOTALS_FIELDS}
    totals.update(capex_usd=40_000.0, total_usd=40_000.0, discounted_usd=40_000.0)
    return {
        "scenario": "hand", "status": "optimal", "solver": "scip", "objective_usd": 40_000.0,
        "horizon": {"start": "2027Q1", "quarters": ["2027Q1", "2027Q2"]},
        "inputs": {"scenario_path": "hand/scenario.yaml", "sha256": {"scenario": "0" * 64}},
        "purchases": [{"quarter": "2027Q1", "site": "A", "sku": "a", "nodes": 1.0, "in_service": "2027Q1",
                       "capex_usd": 40_000.0}],
        "rentals": [],
        "fleet": [{"quarter": q, "site": "A", "sku": "a", "nodes": 1.0, "it_kw": 10.0, "facility_kw": 10.0}
                  for q in ("2027Q1", "2027Q2")],
        "placement": [{"quarter": q, "workload": "chat", "site": "A", "sku": "a", "node_equivalents": 0.5,
                       "units": 500.0} for q in ("2027Q1", "2027Q2")],
        "unmet": [], "unfinished": [],
        "costs": [_costs_row("2027Q1", 40_000.0), _costs_row("2027Q2", 0.0)],
        "totals": totals,
    }


def test_the_hand_written_plan_is_a_plan_document():
    assert S.check_plan_document(hand_written_plan()) == []


@pytest.mark.parametrize("change, expected", [
    (lambda p: p.pop("objective_usd"), "missing field(s) objective_usd"),
    (lambda p: p.update(objective_usd="40000"), "'objective_usd' must be a finite number, got '40000'"),
    (lambda p: p.update(objective_usd=float("nan")), "'objective_usd' must be a finite number, got nan"),
    (lambda p: p.update(bound_usd=True), "'bound_usd' must be a finite number or null, got True"),
    (lambda p: p["purchases"][0].pop("capex_usd"), "'purchases' record 1: 'capex_usd' is missing"),
    (lambda p: p["placement"][1].update(units="lots"), "'placement' record 2: 'units' must be a finite number"),
    (lambda p: p["fleet"][0].update(quarter="next year"),
     "'fleet' record 1: 'quarter' must be a quarter like 2027Q1, got 'next year'"),
    (lambda p: [r.update(nodes=None) for r in p["fleet"]],
     "'fleet' record 1: 'nodes' must be a finite number, got None (and 1 more record(s))"),
    (lambda p: p.update(rentals={}), "'rentals' must be a list of objects, got a dict"),
    (lambda p: p["totals"].pop("carbon_t"), "'totals' lacks carbon_t"),
    (lambda p: p["inputs"].update(sha256="abc"), "'inputs.sha256' must be an object, got 'abc'"),
    (lambda p: p["horizon"].update(start="2027Q5"), "'horizon.start' must be a quarter like 2027Q1, got '2027Q5'"),
    (lambda p: p.update(duals={"lp_objective_usd": 1.0}), "'duals' lacks method"),
])
def test_a_broken_document_names_the_field(change, expected):
    plan = hand_written_plan()
    change(plan)
    problems = S.check_plan_document(plan)
    assert any(problem.startswith(expected) for problem in problems), problems


def test_every_problem_is_reported_at_once():
    plan = hand_written_plan()
    del plan["status"]
    plan["purchases"][0]["nodes"] = "1"
    plan["costs"][1]["energy_usd"] = None
    problems = S.check_plan_document(plan)
    assert problems == ["missing field(s) status",
                        "'purchases' record 1: 'nodes' must be a finite number, got '1'",
                        "'costs' record 2: 'energy_usd' must be a finite number, got None"]


def test_optional_fields_may_be_absent_and_unknown_ones_are_tolerated():
    """Readers accept a plan without timing or duals (they use .get) and one with a field a newer writer added."""
    plan = hand_written_plan()
    assert not any(field.name in plan for field in S.PLAN_FIELDS if not field.required)
    plan["a_future_field"] = {"anything": 1}
    assert S.check_plan_document(plan) == []


def test_the_writer_cannot_leave_out_or_invent_a_field():
    complete = {**hand_written_plan(), "bound_usd": None, "gap": None, "solve_seconds": 1.0, "build_seconds": 1.0,
                "tool_version": "0", "capex_mode": "cash", "cost_lines_usd": ["capex_usd"],
                "duals": {"method": "m", "lp_objective_usd": None}, "why": [], "baselines": [],
                "discounted_spend_usd": 40_000.0, "discounted_penalty_usd": 0.0, "warnings": []}
    assert list(S.assemble(complete)) == [field.name for field in S.PLAN_FIELDS
                                          if field.name not in S.WRITTEN_WHEN_SET]
    with pytest.raises(ValueError, match="the writer left out why"):
        S.assemble({k: v for k, v in complete.items() if k != "why"})
    with pytest.raises(ValueError, match="extra not declared in models/plan_schema.py"):
        S.assemble({**complete, "extra": 1})
    with pytest.raises(ValueError, match="'gap' must be a finite number or null"):
        S.assemble({**complete, "gap": "small"})


def test_readers_reject_a_broken_plan_naming_the_field(tmp_path):
    """planner/plan_file.py (report, verify, evaluate) and the verifier both answer from the schema."""
    plan = hand_written_plan()
    plan["unmet"] = [{"quarter": "2027Q1", "workload": "chat"}]
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    with pytest.raises(InputError) as error:
        load_plan(path)
    assert str(error.value) == (f"{path}: not a PLAN.json written by `planner plan`: 'unmet' record 1: 'units' "
                                f"is missing")
    with pytest.raises(PlanFormatError, match="'unmet' record 1: 'units' is missing"):
        read_plan_tables(plan, horizon=None)


def test_column_selection_refuses_an_undeclared_column():
    assert S.columns_of("fleet", "quarter", "nodes") == ["quarter", "nodes"]
    with pytest.raises(KeyError, match="'fleet' has no column\\(s\\) node"):
        S.columns_of("fleet", "quarter", "node")
    with pytest.raises(KeyError, match="no table 'fleets'"):
        S.table_columns("fleets")


def test_each_column_name_means_one_thing():
    """A name shared by several tables is the very same declaration in each (nodes, units, quarter...)."""
    seen: dict[str, S.Field] = {}
    for field in S.PLAN_FIELDS:
        for member in field.members if field.kind == S.RECORDS else ():
            assert seen.setdefault(member.name, member) is member, member.name


def test_costs_columns_hold_the_cost_lines_in_order():
    """The costs table is the quarter, its discount factor, the cost lines in models/cost_parameters.py's order
    (so the $ columns are the lines that add up to total_usd), the total and the discounted total."""
    from models.cost_parameters import COST_LINES, USD_LINES

    columns = S.table_columns("costs")
    assert columns == ["quarter", "discount_factor", *COST_LINES, "total_usd", "discounted_usd"]
    assert [c for c in columns if c in USD_LINES] == list(USD_LINES)


def _manual_plan_section() -> str:
    text = OUTPUTS_PAGE.read_text(encoding="utf-8")
    match = re.search(r"^## PLAN\.json\n(.*?)^## ", text, flags=re.S | re.M)
    assert match, "docs/outputs.md has no '## PLAN.json' section"
    return match.group(1)


def test_the_manual_table_is_the_schema():
    section = _manual_plan_section()
    tables = "\n".join(line for line in section.splitlines() if line.startswith("|") or not line.strip()).strip()
    assert tables == S.markdown_table(), ("docs/outputs.md's PLAN.json tables differ from models/plan_schema.py; "
                                         "replace them with:\n" + S.markdown_table())


def test_the_writer_follows_the_schema(tmp_path):
    """A real `plan` document, from a one-SKU scenario: every declared field, in order, each of its type."""
    path = write_scenario(tmp_path, catalog=[sku()], sites=[OWNED_FREE_ENERGY], workloads=[inference()],
                          demand=[("chat", "2027Q1", 500)], throughput=[("chat", "a", 1000)],
                          quarters=2)
    document = plan_document(run_plan(load_scenario(path), backend="highs", time_limit_s=30))
    assert list(document) == [field.name for field in S.PLAN_FIELDS if field.name not in S.WRITTEN_WHEN_SET]
    assert S.check_plan_document(document) == []
    broken = copy.deepcopy(document)
    broken["costs"][0].pop("carbon_t")
    assert S.check_plan_document(broken) == ["'costs' record 1: 'carbon_t' is missing"]


def test_numpy_numbers_count_as_numbers_but_booleans_do_not():
    """The writer may hand over NumPy scalars (a frame's values); JSON booleans are never numbers."""
    import numpy as np

    plan = hand_written_plan()
    plan["purchases"][0].update(nodes=np.int64(1), capex_usd=np.float64(40_000.0))
    assert S.check_plan_document(plan) == []
    plan["purchases"][0]["nodes"] = np.bool_(True)
    [problem] = S.check_plan_document(plan)
    assert problem.startswith("'purchases' record 1: 'nodes' must be a finite number, got ")


def plan_keys_read(source: str, filename: str) -> list[tuple[str, str]]:
    """(where, key) for every `plan["key"]` and `plan.get("key")` in a module (also `document`)."""
    found = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id in PLAN_NAMES:
            key = node.slice
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
              and isinstance(node.func.value, ast.Name) and node.func.value.id in PLAN_NAMES and node.args):
            key = node.args[0]
        else:
            continue
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            found.append((f"{filename}:{node.lineno}", key.value))
    return found


def test_every_field_a_reader_names_is_declared():
    """A reader that asks a plan for a field the schema does not declare (a typo, or a field added to the writer
    but not to models/plan_schema.py) fails here with its file and line."""
    undeclared = []
    for package in ("planner", "models", "reports"):
        for path in sorted((ROOT / package).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            undeclared += [f"{where}: {key!r}" for where, key in plan_keys_read(path.read_text(encoding="utf-8"), name)
                           if key not in S.FIELDS]
    assert not undeclared, "PLAN.json fields read but not declared in models/plan_schema.py:\n" + "\n".join(undeclared)


def test_the_reader_scan_sees_both_forms():
    source = 'a = plan["costs"]\nb = plan.get("totalz", {})\nc = other["x"]\nd = document["why"]\n'
    assert plan_keys_read(source, "m.py") == [("m.py:1", "costs"), ("m.py:2", "totalz"), ("m.py:4", "why")]
