"""The Why sheet names the plan's build-out units and committed blocks (docs/workbook.md, docs/datacenter-2026.md).

The instances are test_datacenter_2026.py's hand-derived cases: the rack-short site that builds exactly one $8,000
unit of option `more`, and the flat cloud demand that signs exactly one 8-node block for 2027Q1–2027Q4.
"""

from __future__ import annotations

from reports.tables import build_tables
from reports.workbook import build_workbook
from reports.workbook_cells import SHEET_WHY
from planner.scenario import load_scenario
from test_datacenter_2026 import (BLOCK_USD_PER_QUARTER, OPTION, add_columns, add_facility, cloud_only, scenario_with,
                                  solve)


def _why_table(workbook, name: str) -> list[list]:
    ws = workbook[SHEET_WHY]
    table = ws.tables[name]
    return [[cell.value for cell in row] for row in ws[table.ref]]


def test_why_sheet_lists_each_build_with_its_reason(tmp_path):
    """One unit of `more` built in 2027Q1, in service 2027Q1, $8,000 of capex: one row under the build-out header,
    with the reason PLAN.json gives (the site's racks without the build)."""
    path = scenario_with(tmp_path, racks=4, power_mw=10, cloud=True, skus=())
    add_columns(path, "sites", "max_kw_per_rack", {"A": 20})
    add_facility(path, [dict(OPTION, racks=1)])
    plan = solve(path)
    workbook = build_workbook(plan, load_scenario(path))
    header, *rows = _why_table(workbook, "tblWhyFacility")
    assert header == ["quarter", "option", "site", "facility_units", "in_service", "capex_usd", "reason"]
    assert [row[:6] for row in rows] == [["2027Q1", "more", "A", 1, "2027Q1", 8_000]]
    assert "beyond its own" in rows[0][6]
    assert "tblWhyContracts" not in workbook[SHEET_WHY].tables  # nothing signed: no empty section


def test_why_sheet_lists_each_signed_block(tmp_path):
    """One block of cloud-a-1y signed 2027Q1: 8 nodes, term to 2027Q4, 4 × $82,694.40 = $330,777.60 committed."""
    path = cloud_only(tmp_path, [10, 10, 10, 10])
    plan = solve(path)
    workbook = build_workbook(plan, load_scenario(path))
    header, *rows = _why_table(workbook, "tblWhyContracts")
    assert header[:2] == ["quarter", "contract"]
    [row] = rows
    assert row[:8] == ["2027Q1", "cloud-a-1y", "cloud", "a", 1, 8, "2027Q1", "2027Q4"]
    assert abs(row[8] - 4 * BLOCK_USD_PER_QUARTER) < 1e-6
    assert "tblWhyFacility" not in workbook[SHEET_WHY].tables


def test_plan_without_builds_has_empty_tables(tmp_path):
    """A plain plan: the CSV writer's facility and contracts tables exist with their headers and no rows."""
    path = scenario_with(tmp_path)
    tables = build_tables(solve(path), load_scenario(path))
    assert tables["why_facility"].empty and list(tables["why_facility"].columns)[-1] == "reason"
    assert tables["why_contracts"].empty
