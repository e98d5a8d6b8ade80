"""`planner report PLAN.json -o OUT.xlsx [--csv DIR]`: re-renders a saved plan, refuses changed inputs."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from planner.cli import main
from reports.atomic import write_json_atomic
from test_workbook import solved, worked_example


@pytest.fixture()
def saved_plan(tmp_path) -> tuple[Path, dict, Path]:
    """(PLAN.json path, the plan, the scenario folder)."""
    scenario_path = worked_example(tmp_path / "inputs")
    plan, _ = solved(scenario_path)
    plan_path = write_json_atomic(tmp_path / "plan.json", plan)
    return plan_path, plan, scenario_path.parent


def report(*args):
    return CliRunner().invoke(main, ["report", *map(str, args)])


def test_report_renders_workbook_and_csv(saved_plan, tmp_path):
    plan_path, plan, _ = saved_plan
    result = report(plan_path, "-o", tmp_path / "out.xlsx", "--csv", tmp_path / "csv")
    assert result.exit_code == 0, result.output
    book = openpyxl.load_workbook(tmp_path / "out.xlsx")
    assert book.sheetnames[0] == "Summary"
    costs = book["Costs"]
    assert costs["A2"].value == plan["costs"][0]["quarter"]
    assert (tmp_path / "csv" / "costs.csv").is_file()
    assert "wrote" in result.output


def test_changed_input_is_refused_and_named(saved_plan, tmp_path):
    plan_path, _, folder = saved_plan
    demand = folder / "demand.csv"
    demand.write_text(demand.read_text().replace("2500", "2600"))
    out = tmp_path / "out.xlsx"
    result = report(plan_path, "-o", out)
    assert result.exit_code == 2
    assert f"{demand}: demand changed since the plan was made" in result.output
    assert "--allow-changed-inputs" in result.output
    assert "Traceback" not in result.output and not out.exists()

    allowed = report(plan_path, "-o", out, "--allow-changed-inputs")
    assert allowed.exit_code == 0, allowed.output
    assert "warning:" in allowed.output and out.is_file()
    files = openpyxl.load_workbook(out)["Assumptions"]
    values = [v for row in files.iter_rows(values_only=True) for v in row]
    assert False in values  # the input-files table marks demand as changed


@pytest.mark.parametrize("content", [None, "", "{not json", "[1, 2]", '{"scenario": "x"}',
                                     '{"costs": 3}', "\x89PNG binary", "nodes-as-text"])
def test_bad_plan_file_exits_2_and_keeps_the_old_workbook(saved_plan, tmp_path, content):
    plan_path, _, _ = saved_plan
    out = tmp_path / "out.xlsx"
    assert report(plan_path, "-o", out).exit_code == 0
    before = out.read_bytes()
    bad = tmp_path / "bad.json"
    if content == "nodes-as-text":
        plan = json.loads(plan_path.read_text())
        plan["purchases"][0]["nodes"] = "two"
        bad.write_text(json.dumps(plan))
    elif content is not None:
        bad.write_text(content)
    result = report(bad, "-o", out, "--csv", tmp_path / "csv")
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error:") and str(bad) in result.output
    assert "Traceback" not in result.output and not isinstance(result.exception, (KeyError, TypeError))
    assert out.read_bytes() == before
    assert not (tmp_path / "csv").exists()


def test_missing_scenario_exits_2(saved_plan, tmp_path):
    plan_path, plan, _ = saved_plan
    moved = dict(plan, inputs={**plan["inputs"], "scenario_path": str(tmp_path / "gone" / "scenario.yaml")})
    plan_path.write_text(json.dumps(moved))
    result = report(plan_path, "-o", tmp_path / "out.xlsx")
    assert result.exit_code == 2
    assert "scenario file not found" in result.output


def test_nothing_to_write_is_a_usage_error(saved_plan):
    plan_path, _, _ = saved_plan
    result = report(plan_path)
    assert result.exit_code == 2
    assert "give -o OUT.xlsx, --csv DIR and/or --html OUT.html" in result.output


@pytest.fixture(scope="module")
def risk_document(tmp_path_factory) -> tuple[Path, dict, Path]:
    """(PLAN.json path, the plan, RISK.json path) for the worked example, risk from a small evaluation."""
    from models.risk import evaluate_plan

    folder = tmp_path_factory.mktemp("risk")
    scenario_path = worked_example(folder / "inputs")
    plan, scenario = solved(scenario_path)
    risk = evaluate_plan(scenario, plan, deterministic=True)  # one future: fast, and a complete RISK document
    return (write_json_atomic(folder / "plan.json", plan), plan,
            write_json_atomic(folder / "risk.json", risk))


def test_report_with_risk_renders_the_risk_sheets_before_assumptions(risk_document, tmp_path):
    plan_path, plan, risk_path = risk_document
    result = CliRunner().invoke(main, ["report", str(plan_path), "-o", str(tmp_path / "out.xlsx"),
                                       "--risk", str(risk_path)])
    assert result.exit_code == 0, result.output
    assert "Risk and Sensitivity" not in result.stderr
    names = openpyxl.load_workbook(tmp_path / "out.xlsx").sheetnames
    assert names[:2] == ["Summary", "Orders"] and names[-3:] == ["Risk", "Sensitivity", "Assumptions"]


def test_report_without_risk_says_why_the_sheets_are_absent(saved_plan, tmp_path):
    plan_path, _, _ = saved_plan
    result = CliRunner().invoke(main, ["report", str(plan_path), "-o", str(tmp_path / "out.xlsx")])
    assert result.exit_code == 0, result.output
    assert "no Risk and Sensitivity sheets" in result.stderr and "--risk RISK.json" in result.stderr
    assert "Risk" not in openpyxl.load_workbook(tmp_path / "out.xlsx").sheetnames


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"), ("[1]", "expected a JSON object"),
    ('{"samples": 1}', "missing key(s) seed, device, dtype"), ("other plan", "evaluated a different plan")])
def test_bad_risk_file_exits_2_and_writes_nothing(risk_document, tmp_path, content, message):
    plan_path, _, risk_path = risk_document
    bad = tmp_path / "risk.json"
    if content == "other plan":
        risk = json.loads(risk_path.read_text())
        bad.write_text(json.dumps(dict(risk, plan_objective_usd=risk["plan_objective_usd"] + 1.0)))
    else:
        bad.write_text(content)
    out = tmp_path / "out.xlsx"
    result = CliRunner().invoke(main, ["report", str(plan_path), "-o", str(out), "--risk", str(bad)])
    assert result.exit_code == 2, result.output
    assert str(bad) in result.output and message in result.output
    assert "Traceback" not in result.output and not out.exists()
