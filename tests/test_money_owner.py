"""One owner for the money and power conventions (issue 20): `models/money.py` (re-exported, and used to price a
scenario, by `models/cost_parameters.py`); the verifier alone keeps its own copy.

Two kinds of test: a scan of the source that finds each convention written out nowhere else, and each owner
function against numbers worked by hand.
"""

from __future__ import annotations

import ast
import copy
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from models import cost_parameters, money
from models.quarters import Horizon, parse_quarter

ROOT = Path(__file__).resolve().parents[1]
OWNERS = {"models/money.py", "models/cost_parameters.py"}
VERIFIER = "models/verify.py"
SCANNED = ("models", "planner", "reports")

# A convention written out: (name, what a binary operation's operands must show, which operators). Each pattern is
# searched in the source text of the operation's two operands (`left`, `right`) separately.
LEAD = re.compile(r"\blead(_quarters)?\b")
PUE = re.compile(r"\bpue\b|[\"']pue[\"']")
KW_OR_PUE = re.compile(r"kw|pue", re.IGNORECASE)
PER_QUARTER = re.compile(r"\bHOURS_PER_QUARTER\b")
LIFE_YEARS = re.compile(r"life_years")
GRAMS = re.compile(r"\bGRAMS_PER_TONNE\b")
USD = re.compile(r"usd", re.IGNORECASE)
KWH = re.compile(r"kwh", re.IGNORECASE)


OWNER_FUNCTIONS = {name for name in dir(money) if not name.startswith("_") and callable(getattr(money, name))}
# Arithmetic on a convention's inputs that is not the convention: (file, convention) -> why it stays.
NOT_THE_RULE = {
    ("models/synthetic.py", "the lead-time rule (order quarter ± lead)"):
        "draws variant SKUs' lead times (a base SKU's lead plus a shift) for a synthetic catalog; no quarter in "
        "service is computed",
}


class _Masked(ast.NodeTransformer):
    """An operand as the scan reads it: the owner's calls are results (their arguments are not written-out
    conventions) and string literals are text, not arithmetic, unless they name a column."""

    def visit_Call(self, node):
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        if name in OWNER_FUNCTIONS:
            return ast.copy_location(ast.Name(id="_owner", ctx=ast.Load()), node)
        return self.generic_visit(node)

    def visit_Subscript(self, node):  # a column's name (frame["pue"]) says what the value is: keep it
        node.value = self.visit(node.value)
        return node

    def visit_Constant(self, node):
        return ast.copy_location(ast.Constant(value=""), node) if isinstance(node.value, str) else node


def _text(node: ast.AST) -> str:
    return ast.unparse(_Masked().visit(copy.deepcopy(node)))


def _factors(node: ast.AST) -> list[ast.AST]:
    """The factors of a product, through numerators: a × b / c → [a, b] (c divides, it is not a factor)."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        return _factors(node.left) + _factors(node.right)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        return _factors(node.left)
    return [node]


def _conventions(node: ast.BinOp) -> list[str]:
    left, right = _text(node.left), _text(node.right)
    op, either = node.op, left + "\n" + right
    found = []
    if isinstance(op, (ast.Add, ast.Sub)) and LEAD.search(either):
        found.append("the lead-time rule (order quarter ± lead)")
    if isinstance(op, ast.Mult):
        factors = [_text(factor) for factor in _factors(node)]
        if any(PUE.search(factor) for factor in factors):
            found.append("facility power (× pue)")
        if any(PER_QUARTER.search(f) for f in factors) and any(KW_OR_PUE.search(f) for f in factors
                                                               if not PER_QUARTER.search(f)):
            found.append("kWh per quarter (kW or pue × 2,190 h)")
    if isinstance(op, (ast.Mult, ast.Div)) and LIFE_YEARS.search(either):
        found.append("a service life in quarters or hours (life_years × …)")
    if isinstance(op, (ast.Mult, ast.Div)) and GRAMS.search(either):
        found.append("tonnes of CO2 (g/kWh ÷ 10^6)")
    if isinstance(op, ast.Div) and USD.search(left) and KWH.search(right):
        found.append("an electricity price recovered as $ ÷ kWh")
    return found


def convention_sites(path: Path) -> list[str]:
    """`file:line: convention` for every binary operation of `path` that writes out a money/power convention, and
    every comparison with the literal capex mode "depreciation"."""
    source = path.read_text(encoding="utf-8")
    relative = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.BinOp):
            for what in _conventions(node):
                if (relative, what) not in NOT_THE_RULE:
                    found.add((node.lineno, what))
        elif isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(isinstance(o, ast.Constant) and o.value == cost_parameters.CAPEX_MODE_DEPRECIATION
                   for o in operands):
                found.add((node.lineno, 'the capex mode compared with a literal "depreciation"'))
    return [f"{relative}:{line}: {what}" for line, what in sorted(found)]


def _scanned_files() -> list[Path]:
    return sorted(path for folder in SCANNED for path in (ROOT / folder).rglob("*.py"))


def test_each_convention_is_written_in_its_owner_and_the_verifier_only():
    """grep for the conventions (`+ lead_quarters`, `* pue`, kW × 2,190 h, life_years × 4, g ÷ 10^6, $ ÷ kWh,
    capex_mode == "depreciation") finds them in models/money.py, models/cost_parameters.py and models/verify.py
    only: every other module calls the owner."""
    outside = [site for path in _scanned_files() if path.relative_to(ROOT).as_posix() not in OWNERS | {VERIFIER}
               for site in convention_sites(path)]
    assert not outside, "call models/money.py (or the cost parameters) instead:\n" + "\n".join(outside)


def test_the_scan_sees_what_it_looks_for(tmp_path):
    """The scanner itself: each convention written out is caught with its line; the owner's calls and unrelated
    arithmetic are not."""
    written_out = tmp_path / "copy.py"
    written_out.write_text(
        "first = order + catalog['lead_quarters']\n"          # 1 lead rule
        "kw = nodes * node_kw * site['pue']\n"                 # 2 facility kW
        "kwh = facility * HOURS_PER_QUARTER * it_kw\n"         # 3 kWh per quarter (and not pue)
        "q = catalog['life_years'] * 4\n"                      # 4 life
        "t = kwh * g / GRAMS_PER_TONNE\n"                      # 5 carbon
        "p = energy_usd / total_kwh\n"                         # 6 $ / kWh
        "d = mode == 'depreciation'\n"                         # 7 literal capex mode
        "ok = facility_kw(node_kw, pue, nodes=n) * 2 + in_service_quarter(q, lead)\n"
        "racks = cap_kw / pue * slack\n"
        "text = 'lead ' + label\n"
        "fine = work / HOURS_PER_QUARTER\n")
    lines = [site.split(":")[1] for site in convention_sites(written_out)]
    assert lines == ["1", "2", "3", "4", "5", "6", "7"]


def test_the_verifier_keeps_its_own_copy():
    """models/verify.py recomputes the conventions itself (the scan finds them there) and never calls the owner:
    it imports nothing from models/money.py and no convention from the cost parameters."""
    path = ROOT / VERIFIER
    tree = ast.parse(path.read_text(encoding="utf-8"))
    owned_names = {name for name in dir(money) if not name.startswith("_")} - {"annotations", "np", "pd"}
    imported = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("models.money", "models.cost_parameters"):
            imported += [alias.name for alias in node.names if alias.name in owned_names
                         or node.module == "models.money"]
        if isinstance(node, ast.Import):
            imported += [alias.name for alias in node.names if alias.name == "models.money"]
    assert not imported, f"models/verify.py uses the owner's {imported}: it must recompute them"
    assert len(convention_sites(path)) >= 5, "the verifier's own copy of the conventions should be visible"


def test_cost_parameters_reexports_the_owner():
    """`from models.cost_parameters import in_service_window` (the issue's import path) is the owner's function."""
    for name in ("in_service_window", "facility_kw", "kwh_per_it_kw_quarter", "purchase_book_values", "life_quarters"):
        assert getattr(cost_parameters, name) is getattr(money, name)


# --- the owner's functions against hand-worked numbers ------------------------------------------------------

CATALOG = pd.DataFrame({"lead_quarters": [0, 2], "life_years": [5.0, 4.9], "price_usd": [40_000.0, 8_000.0]},
                       index=pd.Index(["a", "b"], name="sku"))


def test_life_quarters_rounds_to_whole_quarters():
    """5 years × 4 = 20 quarters; 4.9 × 4 = 19.6 → 20. 4.8 × 4 = 19.2 → 19."""
    catalog = CATALOG.assign(life_years=[5.0, 4.8])
    assert money.life_quarters(CATALOG).tolist() == [20, 20]
    assert money.life_quarters(catalog).tolist() == [20, 19]


def test_life_hours():
    """5 years × 8,760 h = 43,800 h; 4.9 × 8,760 = 42,924 h (unrounded, like depreciation's divisor)."""
    assert money.life_hours(CATALOG).tolist() == pytest.approx([43_800.0, 42_924.0])


def test_in_service_window_scalar_and_vectorised():
    """'b' (lead 2, life 20 quarters) ordered in quarter 3: in service from 3 + 2 = 5, retired at 5 + 20 = 25.
    'a' (lead 0) ordered in quarter 1: from 1 to 21. Row by row, the same."""
    assert money.in_service_window(CATALOG, 3, "b") == (5, 25)
    assert money.in_service_window(CATALOG, 1, "a") == (1, 21)
    first, retired = money.in_service_window(CATALOG, np.array([3, 1]), pd.Series(["b", "a"]))
    assert first.tolist() == [5, 1] and retired.tolist() == [25, 21]
    assert money.in_service_quarter(3, 2) == 5 and money.order_quarter_for(5, 2) == 3


def test_facility_kw():
    """One 10 kW node at PUE 1.25: 12.5 kW. 4 of them: (4 × 10) × 1.25 = 50 kW. Vectorised row by row."""
    assert money.facility_kw(10.0, 1.25) == 12.5
    assert money.facility_kw(10.0, 1.25, nodes=4) == 50.0
    assert money.facility_kw(np.array([10.0, 8.0]), np.array([1.25, 1.5]), nodes=np.array([4, 2])).tolist() == \
        [50.0, 24.0]


def test_energy_and_carbon():
    """50 kW for a quarter: 50 × 2,190 h = 109,500 kWh. One IT kW at PUE 1.2: 1.2 × 2,190 = 2,628 kWh.
    400 g/kWh = 0.0004 t/kWh; 109,500 kWh × 0.0004 = 43.8 t."""
    assert money.facility_kwh_per_quarter(50.0) == 109_500.0
    assert money.kwh_per_it_kw_quarter(1.2) == pytest.approx(2_628.0)
    assert money.tco2_per_kwh(400.0) == 0.0004
    assert money.carbon_t(109_500.0, 400.0) == pytest.approx(43.8)


def test_charged_usd_per_kwh_is_zero_in_a_cloud():
    """An owned site pays its price ($0.08), an owned site without a price pays 0, a cloud site 0 (the energy is in
    the rent), even where a price is written."""
    sites = pd.DataFrame({"kind": ["owned", "owned", "cloud"], "usd_per_kwh": [0.08, np.nan, 0.5]},
                         index=pd.Index(["A", "B", "cloud"], name="site"))
    assert money.charged_usd_per_kwh(sites).tolist() == [0.08, 0.0, 0.0]


def test_purchase_book_values_by_hand():
    """A 4-quarter horizon from 2027Q1; 2 nodes of 'a' ($40,000, 5-year life: 40,000 / 20 = $2,000 per
    node-quarter) in service 2027Q3: 2 quarters charged inside the horizon, 2 × 2,000 × 2 = $8,000; of the
    $80,000 capex, $72,000 is left on the books. Cash mode: the whole $80,000 charged, nothing left."""
    horizon = Horizon(parse_quarter("2027Q1"), 4)
    orders = pd.DataFrame({"sku": ["a"], "nodes": [2.0], "in_service": ["2027Q3"], "capex_usd": [80_000.0]})
    per_node_quarter = pd.Series({"a": 2_000.0, "b": 0.0})
    book = money.purchase_book_values(orders, CATALOG, horizon, SimpleNamespace(
        depreciation_usd_per_node_quarter=per_node_quarter, charges_depreciation=True))
    assert book.iloc[0].to_dict() == {"depreciation_usd_per_quarter": 4_000.0, "quarters_charged": 2.0,
                                      "charged_in_horizon_usd": 8_000.0, "book_value_end_usd": 72_000.0}
    cash = money.purchase_book_values(orders, CATALOG, horizon, SimpleNamespace(
        depreciation_usd_per_node_quarter=per_node_quarter, charges_depreciation=False))
    assert cash[["charged_in_horizon_usd", "book_value_end_usd"]].iloc[0].tolist() == [80_000.0, 0.0]


def test_depreciation_quarters_is_the_unrounded_life():
    """Straight line over the stated life: 5 years × 4 = 20 quarters; 4.9 × 4 = 19.6 (not rounded, unlike the
    service window of life_quarters), so $240,000 over 4.9 years is $12,244.90 a quarter."""
    quarters = money.depreciation_quarters(pd.Series([5.0, 4.9]))
    assert quarters.tolist() == pytest.approx([20.0, 19.6])
    assert 240_000 / quarters.iloc[1] == pytest.approx(12_244.90, abs=0.01)
