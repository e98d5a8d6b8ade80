"""RISK.json declared once (models/risk_schema.py): the writers assemble through it, the reader's RISK_KEYS come
from it, and docs/risk-json.md's tables are generated from it."""

import re
from pathlib import Path

import pytest

from models import risk_schema as R
from models.risk_settings import RISK_SETTING_KEYS

DOC = Path(__file__).resolve().parents[1] / "docs" / "risk-json.md"
BEGIN, END = "<!-- generated from models/risk_schema.py: begin -->", "<!-- generated from models/risk_schema.py: end -->"


def _tco() -> dict:
    return {"mean": 10.0, "p5": 9.0, "p50": 10.0, "p95": 11.0, "p99": 12.0, "cvar95": 11.5, "std": 0.5}


def _optimal() -> dict:
    return {"samples": 4, "seed": 0, "allocation": "optimal", "dtype": "float64", "plan_objective_usd": 10.0,
            "tco_usd": _tco(), "shortfall_probability_worst_quarter": 0.25}


def test_the_page_is_the_schema():
    text = DOC.read_text(encoding="utf-8")
    match = re.search(re.escape(BEGIN) + r"\n(.*)\n" + re.escape(END), text, re.S)
    assert match, f"docs/risk-json.md lacks the generated block ({BEGIN} … {END})"
    assert match.group(1) == R.markdown_table(), ("docs/risk-json.md differs from models/risk_schema.py; replace the "
                                                  "block with `markdown_table()`")


def test_one_risk_keys():
    """RISK_KEYS is what every plan-first RISK.json holds (what `report --risk` needs): the required fields. The
    `risk:` section's keys are another thing, with another name."""
    assert R.RISK_KEYS == ("samples", "seed", "device", "dtype", "tco_usd", "histogram", "shortfall_probability",
                           "sensitivities")
    assert not set(R.RISK_KEYS) & {"allocation", "demand_sigma"} and "demand_sigma" in RISK_SETTING_KEYS


def test_assemble_puts_fields_in_schema_order_and_refuses_a_writer_bug():
    shuffled = dict(reversed(list(_optimal().items())))
    assert list(R.assemble_risk(shuffled, R.OPTIMAL)) == [f.name for f in R.OPTIMAL_RISK_FIELDS]
    with pytest.raises(ValueError, match="the writer left out shortfall_probability_worst_quarter"):
        R.assemble_risk({k: v for k, v in _optimal().items() if k != "shortfall_probability_worst_quarter"},
                        R.OPTIMAL)
    with pytest.raises(ValueError, match="histogram not declared in models/risk_schema.py"):
        R.assemble_risk({**_optimal(), "histogram": {}}, R.OPTIMAL)
    with pytest.raises(ValueError, match=r"'tco_usd.p95' must be a finite number, got 'x'"):
        R.assemble_risk({**_optimal(), "tco_usd": {**_tco(), "p95": "x"}}, R.OPTIMAL)
    with pytest.raises(ValueError, match="'tco_usd' lacks cvar95"):
        R.assemble_risk({**_optimal(), "tco_usd": {k: v for k, v in _tco().items() if k != "cvar95"}}, R.OPTIMAL)


def test_check_names_each_problem():
    """A reader's check: a record column of the wrong type names its record; null where an object or null is
    declared is fine; a boolean must be one."""
    assert R.check_risk_document(_optimal(), R.OPTIMAL) == []
    assert R.check_risk_document([], R.OPTIMAL) == ["expected a JSON object, got list"]
    risk = {"samples": 4, "seed": 0, "device": "cpu", "dtype": "float32", "deterministic": "no",
            "plan_tco_usd": None, "tco_usd": _tco(), "histogram": {"bin_edges_usd": [0.0, 1.0], "counts": [4]},
            "shortfall_probability": [{"quarter": "2027Q1", "workload": "chat", "probability": 0.5,
                                       "expected_shortfall_tokens_per_s": 1.0,
                                       "expected_on_demand_tokens_per_s": 0.0,
                                       "expected_unmet_tokens_per_s": 1.0},
                                      {"quarter": "2027Q9", "workload": "chat", "probability": 0.5,
                                       "expected_shortfall_tokens_per_s": 1.0,
                                       "expected_on_demand_tokens_per_s": 0.0,
                                       "expected_unmet_tokens_per_s": 1.0}],
            "sensitivities": []}
    assert R.check_risk_document(risk) == [
        "'deterministic' must be true or false, got 'no'",
        "'shortfall_probability' record 2: 'quarter' must be a quarter like 2027Q1, got '2027Q9'"]
