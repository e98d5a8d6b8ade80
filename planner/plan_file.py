"""Reading a saved PLAN.json, shared by `report`, `verify` and `evaluate`: one place decides what a plan file is.

Missing, unreadable, non-JSON or foreign files are the user's input errors (exit 2, nothing written), and the
plan's recorded SHA-256 of every input tells whether the scenario on disk is still the one it was made from.
"""

from __future__ import annotations

import json
from pathlib import Path

from models.errors import InputError, Problem
from models.plan_schema import check_plan_document
from models.scenario import Scenario


def read_json_object(path: str | Path, kind: str) -> dict:
    """A JSON object from `path` (`kind`: "plan" or "risk", for the messages); InputError (exit 2) for a missing,
    non-UTF-8, malformed or non-object file."""
    path = Path(path)
    label, title = str(path), f"{kind.upper()}.json"
    if not path.is_file():
        raise InputError(Problem(label, f"{kind} file not found"))
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InputError(Problem(label, f"not a {title}: the file is not UTF-8 text")) from None
    except json.JSONDecodeError as error:
        raise InputError(Problem(label, f"not valid JSON: {error.msg} (line {error.lineno})")) from None
    if not isinstance(document, dict):
        raise InputError(Problem(label, f"not a {title}: expected a JSON object, got {type(document).__name__}"))
    return document


def load_plan(path: str | Path) -> dict:
    """Read and shape-check a PLAN.json; InputError (exit 2) for a missing, unreadable or foreign file."""
    label = str(path)
    plan = read_json_object(path, "plan")
    problems = check_plan_document(plan)
    if problems:
        raise InputError([Problem(label, f"not a PLAN.json written by `planner plan`: {p}") for p in problems])
    return plan


def recorded_set_overrides(plan: dict) -> dict[str, object]:
    """The overrides the plan's scenario was loaded with from the command line (`--set`; the scenario files'
    own are in the files), so the plan's scenario can be loaded again as it was solved."""
    from planner.inheritance import SET_SOURCE

    records = plan["inputs"].get("overrides") or []
    return {record["key"]: record["value"] for record in records
            if isinstance(record, dict) and record.get("source") == SET_SOURCE and "key" in record}


def changed_inputs(plan: dict, scenario: Scenario) -> list[Problem]:
    """One problem per input whose SHA-256 differs from the plan's record (or that appeared or vanished)."""
    recorded = plan["inputs"]["sha256"]
    now = scenario.input_hashes()
    files = {role: str(path) for role, path in scenario.input_files.items()}
    problems = []
    for role in list(recorded) + [r for r in now if r not in recorded]:
        before, after = recorded.get(role), now.get(role)
        if before == after:
            continue
        where = files.get(role, role)
        if before is None:
            message = f"{role} input was added since the plan was made"
        elif after is None:
            message = f"{role} input is no longer part of the scenario"
        else:
            message = f"{role} changed since the plan was made (sha256 {before[:12]}… now {after[:12]}…)"
        problems.append(Problem(where, message))
    return problems
