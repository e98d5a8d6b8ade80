"""The datacenter as it is in 2026 (docs/datacenter-2026.md): cooling and rack density, facility build-out.

Unless a docstring says otherwise the instances use tests/scenario_files.py's round numbers: SKU `a` (10 kW,
$40,000 over 5 years = $2,000 depreciation a node-quarter, 4 nodes a rack, idle_frac 1 and free electricity so
energy costs nothing), one quarter, no discounting, throughput overrides, unmet demand at $1,000,000 per
tokens/s-quarter (far above any plan here, so demand is always served).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.errors import InputError
from models.verify import verify_plan
from planner.pipeline import build_plan, plan_document, run_plan
from planner.scenario import load_scenario
from scenario_files import CLOUD, OWNED_FREE_ENERGY, attach_table, inference, sku, write_scenario

# `n`: a rack-scale node that needs liquid cooling: 100 kW, one a rack, $100,000 over 5 years = $5,000 a quarter,
# serving 10,000 tokens/s (ten `a` nodes' worth).
RACK_SKU = sku(sku="n", node_kw=100, price_usd=100_000, nodes_per_rack=1)
DEMAND_TOKENS_PER_S = 10_000
A_DEPRECIATION_USD = 2_000.0
N_DEPRECIATION_USD = 5_000.0
RENT_A_USD = 1.0 * 8 * 2190  # $1/GPU-h × 8 GPUs × 2,190 h = $17,520 a node-quarter


def add_columns(path: Path, table: str, column: str, values: dict) -> None:
    """Give `table`.csv a column, `values` by the table's key (site or sku); other rows empty."""
    frame = pd.read_csv(path.parent / f"{table}.csv", dtype=str, keep_default_na=False)
    key = frame.columns[0]
    frame[column] = frame[key].map(lambda k: str(values.get(k, "")))
    frame.to_csv(path.parent / f"{table}.csv", index=False)


def add_facility(path: Path, rows: list[dict]) -> None:
    columns = ["option", "site", "racks", "power_mw", "price_usd", "lead_quarters", "available_from",
               "life_years", "max_units"]
    attach_table(path, "facility_options", "facility.csv", pd.DataFrame(rows, columns=columns))


def scenario_with(tmp_path: Path, *, racks: int = 100, power_mw: float = 10, cloud: bool = False,
                  skus=(RACK_SKU,), finance=None) -> Path:
    catalog = [sku(rent_usd_per_gpu_hour=1.0 if cloud else "")] + [dict(s) for s in skus]
    sites = [dict(OWNED_FREE_ENERGY, racks=racks, power_mw=power_mw)] + ([CLOUD] if cloud else [])
    throughput = [("chat", "a", 1_000)] + [("chat", s["sku"], 10_000) for s in skus]
    return write_scenario(tmp_path, catalog=catalog, sites=sites, workloads=[inference()],
                          demand=[("chat", "2027Q1", DEMAND_TOKENS_PER_S)], throughput=throughput, finance=finance)


def solve(path: Path) -> dict:
    return plan_document(run_plan(load_scenario(path), backend="scip", time_limit_s=30, gap=1e-9))


def ordered(plan: dict) -> dict:
    return {(p["site"], p["sku"]): p["nodes"] for p in plan["purchases"]}


def lp_digest(path: Path) -> str:
    lp = build_plan(load_scenario(path)).model.lp
    digest = hashlib.sha256()
    matrix = lp.matrix().tocoo()
    for array in (matrix.row, matrix.col, matrix.data, lp.lower, lp.upper, lp.row_lower, lp.row_upper,
                  lp.objective_coefficients(), lp.integer.astype(float)):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


# --- cooling ---------------------------------------------------------------------------------------------

def test_liquid_sku_leaves_an_air_cooled_hall(tmp_path):
    """Without cooling data the 100 kW rack `n` is cheapest: one node serves 10,000 tokens/s for $5,000, against
    ten `a` nodes at 10 × $2,000 = $20,000. Declare site A air-cooled and `n` liquid-only: `n` cannot be placed,
    so the plan buys ten `a` nodes for $20,000 (the optimum moves up by $15,000, as derived)."""
    free = scenario_with(tmp_path / "free")
    plan = solve(free)
    assert ordered(plan) == {("A", "n"): 1}
    assert plan["objective_usd"] == pytest.approx(N_DEPRECIATION_USD, abs=1e-6)

    air = scenario_with(tmp_path / "air")
    add_columns(air, "catalog", "cooling_required", {"n": "liquid"})
    add_columns(air, "sites", "cooling", {"A": "air"})
    plan_air = solve(air)
    assert ordered(plan_air) == {("A", "a"): 10}
    assert plan_air["objective_usd"] == pytest.approx(10 * A_DEPRECIATION_USD, abs=1e-6)
    assert verify_plan(load_scenario(air), plan_air) == []
    # The verifier, on its own reading of the rule, rejects the first plan for the air-cooled hall.
    violations = verify_plan(load_scenario(air), plan)
    assert {v.constraint for v in violations} >= {"rack_fit"}

    liquid = scenario_with(tmp_path / "liquid")
    add_columns(liquid, "catalog", "cooling_required", {"n": "liquid"})
    add_columns(liquid, "sites", "cooling", {"A": "liquid"})
    assert ordered(solve(liquid)) == {("A", "n"): 1}


def test_rack_density_fills_more_racks(tmp_path):
    """Site A has 4 racks. At the catalog's 4 `a` nodes a rack (41 kW) ten nodes fill 2.5 racks: $20,000.
    With max_kw_per_rack 20 a rack holds ⌊20 / 10⌋ = 2 nodes, so A holds 8 nodes ($16,000, 8,000 tokens/s) and
    the other 2,000 tokens/s are rented: 2 × $17,520 = $35,040; total $51,040. A node above the density (the
    100 kW `n`) fits no rack there at all."""
    free = scenario_with(tmp_path / "free", racks=4, cloud=True, skus=())
    assert solve(free)["objective_usd"] == pytest.approx(10 * A_DEPRECIATION_USD, abs=1e-6)

    dense = scenario_with(tmp_path / "dense", racks=4, cloud=True, skus=())
    add_columns(dense, "sites", "max_kw_per_rack", {"A": 20})
    plan = solve(dense)
    assert ordered(plan) == {("A", "a"): 8}
    assert {(r["site"], r["sku"]): r["nodes"] for r in plan["rentals"]} == {("cloud", "a"): 2}
    assert plan["objective_usd"] == pytest.approx(8 * A_DEPRECIATION_USD + 2 * RENT_A_USD, abs=1e-6)
    assert verify_plan(load_scenario(dense), plan) == []
    # The plan made without the density puts 10 nodes in 4 racks of 2: the verifier counts 5 racks.
    violations = verify_plan(load_scenario(dense), solve(free))
    assert [v.constraint for v in violations] == ["racks"]
    assert violations[0].size == pytest.approx(1.0)


# --- facility build-out -----------------------------------------------------------------------------------

OPTION = dict(option="more", site="A", racks="", power_mw="", price_usd=8_000, lead_quarters=0,
              available_from="2027Q1", life_years=1, max_units=3)


@pytest.mark.parametrize("adds", ["racks", "power"])
def test_build_out_beats_renting(tmp_path, adds):
    """The dense case above, $51,040, when A is short of racks (4 racks of 2 nodes) or of power (80 kW at PUE 1:
    8 nodes). An option adds 1 rack (2 nodes) or 0.02 MW (2 nodes) per unit for $8,000 over a 1-year life:
    depreciation $8,000 / 4 = $2,000 a quarter. Building one unit lets A hold 10 nodes: $20,000 + $2,000 =
    $22,000 < $51,040, so the optimum builds exactly one unit and rents nothing."""
    racks, power = (4, 10) if adds == "racks" else (100, 0.08)
    path = scenario_with(tmp_path, racks=racks, power_mw=power, cloud=True, skus=())
    add_columns(path, "sites", "max_kw_per_rack", {"A": 20})
    before = solve(path)["objective_usd"]
    assert before == pytest.approx(8 * A_DEPRECIATION_USD + 2 * RENT_A_USD, abs=1e-6)
    add_facility(path, [dict(OPTION, racks=1 if adds == "racks" else 0, power_mw=0.02 if adds == "power" else 0)])
    plan = solve(path)
    assert plan["objective_usd"] == pytest.approx(10 * A_DEPRECIATION_USD + 2_000.0, abs=1e-6)
    assert ordered(plan) == {("A", "a"): 10} and plan["rentals"] == []
    [build] = plan["facility"]
    assert (build["option"], build["facility_units"], build["in_service"], build["capex_usd"]) == \
        ("more", 1.0, "2027Q1", 8_000.0)
    assert "beyond its own" in build["reason"]
    assert plan["costs"][0]["depreciation_usd"] == pytest.approx(22_000.0, abs=1e-6)
    scenario = load_scenario(path)
    assert verify_plan(scenario, plan) == []

    # The verifier checks the build independently: without it the racks (or power) are over; a wrong price or
    # more units than max_units are facility violations.
    without = dict(plan, facility=[])
    assert {v.constraint for v in verify_plan(scenario, without)} >= {"racks" if adds == "racks" else "power",
                                                                      "cost"}
    dearer = dict(plan, facility=[dict(build, capex_usd=9_000.0)])
    assert "facility" in {v.constraint for v in verify_plan(scenario, dearer)}
    too_many = dict(plan, facility=[dict(build, facility_units=4.0, capex_usd=32_000.0)])
    assert "facility" in {v.constraint for v in verify_plan(scenario, too_many)}


def test_build_out_in_cash_mode_and_late_options_are_not_worth_it(tmp_path):
    """Cash mode charges a node's whole $40,000 in its order quarter: over a one-quarter horizon renting it
    ($17,520) is cheaper, so the plan rents all ten nodes, 10 × $17,520 = $175,200, needs no rack at A and builds
    nothing (a unit would only add its $8,000). And an option with lead 1 cannot be in service in a one-quarter
    horizon: no build variable, the depreciation-mode plan is the $51,040 one without the option."""
    cash = scenario_with(tmp_path / "cash", racks=4, cloud=True, skus=(), finance={"capex_mode": "cash"})
    add_columns(cash, "sites", "max_kw_per_rack", {"A": 20})
    add_facility(cash, [dict(OPTION, racks=1, power_mw=0)])
    plan = solve(cash)
    assert plan["facility"] == []
    assert plan["objective_usd"] == pytest.approx(10 * RENT_A_USD, abs=1e-6)
    assert plan["purchases"] == []
    assert verify_plan(load_scenario(cash), plan) == []

    late = scenario_with(tmp_path / "late", racks=4, cloud=True, skus=())
    add_columns(late, "sites", "max_kw_per_rack", {"A": 20})
    add_facility(late, [dict(OPTION, racks=1, power_mw=0, lead_quarters=1)])
    assert solve(late)["objective_usd"] == pytest.approx(8 * A_DEPRECIATION_USD + 2 * RENT_A_USD, abs=1e-6)


def test_empty_new_columns_build_the_same_program(tmp_path):
    """The new inputs impose nothing when left empty: the columns present but blank, and an empty
    facility_options table, give the very same LP (matrix, bounds, objective) as a scenario without them."""
    plain = scenario_with(tmp_path / "plain", racks=4, cloud=True)
    blank = scenario_with(tmp_path / "blank", racks=4, cloud=True)
    add_columns(blank, "sites", "cooling", {})
    add_columns(blank, "sites", "max_kw_per_rack", {})
    add_columns(blank, "catalog", "cooling_required", {})
    add_facility(blank, [])
    assert lp_digest(plain) == lp_digest(blank)


# --- bad values are input errors naming file, row and column -------------------------------------------------

def problems_of(path: Path) -> set[tuple]:
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    return {(p.file, p.row, p.column) for p in caught.value.problems}, [p.message for p in caught.value.problems]


def test_bad_cooling_and_density_values(tmp_path):
    path = scenario_with(tmp_path)
    add_columns(path, "sites", "cooling", {"A": "water"})
    add_columns(path, "sites", "max_kw_per_rack", {"A": -5})
    add_columns(path, "catalog", "cooling_required", {"n": "immersion"})
    where, messages = problems_of(path)
    assert where == {("sites.csv", 2, "cooling"), ("sites.csv", 2, "max_kw_per_rack"),
                     ("catalog.csv", 3, "cooling_required")}
    assert any("'water' is not one of air, liquid" in m for m in messages)
    assert any("-5 must be > 0" in m for m in messages)


def test_fleet_that_cannot_stand_in_its_hall(tmp_path):
    """An existing liquid-cooled rack in an air-cooled hall is a fleet error, named on the fleet's row."""
    path = write_scenario(tmp_path, catalog=[sku(), RACK_SKU], sites=[OWNED_FREE_ENERGY], workloads=[inference()],
                          demand=[("chat", "2027Q1", 1_000)], throughput=[("chat", "a", 1_000), ("chat", "n", 10_000)],
                          fleet=[("A", "n", 1, "2026Q4")])
    add_columns(path, "catalog", "cooling_required", {"n": "liquid"})
    add_columns(path, "sites", "cooling", {"A": "air"})
    where, messages = problems_of(path)
    assert where == {("fleet.csv", 2, "sku")}
    assert "needs liquid cooling" in messages[0]


def test_bad_facility_options(tmp_path):
    path = scenario_with(tmp_path, cloud=True)
    add_facility(path, [dict(OPTION, option="x", site="nowhere", racks=1),
                        dict(OPTION, option="y", site="cloud", racks=1),
                        dict(OPTION, option="z", racks=0, power_mw=0),
                        dict(OPTION, option="w", racks=-1, price_usd=0)])
    where, _ = problems_of(path)
    assert where == {("facility.csv", 2, "site"), ("facility.csv", 3, "site"), ("facility.csv", 4, "racks"),
                     ("facility.csv", 5, "racks"), ("facility.csv", 5, "price_usd")}


# --- the shipped example: a 2026 fleet -------------------------------------------------------------------------

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "examples" / "example" / "scenario.yaml"


def test_shipped_example_places_no_liquid_rack_in_an_air_hall():
    """data/examples/example (docs/datacenter-2026.md): virginia and texas are air-cooled (25 and 30 kW a rack),
    oregon is a liquid-cooled hall (140 kW a rack, 2.7 MW) with one 1 MW build-out option; the fabric table gives
    every SKU its leaf and spine, the workloads their storage, the catalog its failure rates (data/README.md).
    Every node of the plan, bought, rented or existing, stands where its rack fits: no GB200/GB300 NVL72 or MI355X
    outside oregon (and the cloud), no node above its hall's density; the verifier agrees on its own. The liquid
    hall cannot hold all the compute the plan wants at NVL72 prices, so the plan mixes SKUs, and both the greedy
    rule (which ranks pools by $ per unit of work and cannot build) and the best single-SKU rule pay more: the
    savings `planner plan` prints are positive. The new inputs are priced: network and storage lines above 0,
    capacity derated by the catalog's availability (1 − 1.38 × 72 / 8,760 = 0.98866 for 8-GPU nodes)."""
    from models.failures import availability
    from planner.baselines import BaselineOptions, baseline_run

    scenario = load_scenario(EXAMPLE)
    assert set(scenario.sites["cooling"].dropna()) == {"air", "liquid"}
    assert len(scenario.facility_options) == 1 and len(scenario.fabric) == len(scenario.catalog)
    assert availability(scenario.catalog)["h100-80gb-x8"] == pytest.approx(1 - 1.38 * 72 / 8760, rel=1e-12)
    run = run_plan(scenario, time_limit_s=60)
    plan = plan_document(run)
    fleet = pd.DataFrame(plan["fleet"])
    site, sku = scenario.sites.reindex(fleet["site"]), scenario.catalog.reindex(fleet["sku"])
    liquid_only = (sku["cooling_required"] == "liquid").to_numpy()
    in_air = (site["cooling"] == "air").to_numpy()
    assert not (liquid_only & in_air).any(), fleet[liquid_only & in_air]
    density = site["max_kw_per_rack"].to_numpy(dtype=float)
    assert (np.isnan(density) | (sku["node_kw"].to_numpy() <= density)).all()
    nvl72 = fleet[fleet["sku"].str.contains("nvl72")]
    assert len(nvl72) and set(nvl72["site"]) == {"oregon"}
    assert len({p["sku"] for p in plan["purchases"]}) >= 2  # a mix: NVL72 in the liquid hall, more in air halls
    assert plan["cost_lines_usd"] and sum(r["network_usd"] for r in plan["costs"]) > 0
    assert sum(r["storage_usd"] for r in plan["costs"]) > 0
    assert verify_plan(scenario, plan) == []

    options = BaselineOptions("scip", 30, 0.005)
    for name in ("greedy", "single-sku"):
        baseline = baseline_run(run.built, name, options)
        baseline_usd = float(baseline.tables["costs"]["discounted_usd"].sum())
        assert baseline_usd - plan["objective_usd"] > 0, name


# --- contracts: committed capacity beside on-demand rent ----------------------------------------------------------

COMMITTED_USD_PER_GPU_HOUR = 0.59  # $1.00 on demand less AWS's published 1-year committed-use discount of 41 %
BLOCK_USD_PER_QUARTER = 8 * 8 * COMMITTED_USD_PER_GPU_HOUR * 2190  # 8 nodes × 8 GPUs × $0.59 × 2,190 h = $82,694.40


def cloud_only(tmp_path: Path, demand_nodes: list[int], term_quarters: int = 4, quarters: int = 4) -> Path:
    """A cloud site only; `a` rents at $1/GPU-h ($17,520 a node-quarter); demand in nodes' worth per quarter; a
    1-year offer of blocks of 8 `a` nodes at $0.59/GPU-h, at most 2 blocks."""
    labels = [f"2027Q{q + 1}" for q in range(quarters)]
    path = write_scenario(tmp_path, catalog=[sku(rent_usd_per_gpu_hour=1.0)], sites=[CLOUD], workloads=[inference()],
                          demand=[("chat", q, 1_000 * d) for q, d in zip(labels, demand_nodes)],
                          throughput=[("chat", "a", 1_000)], quarters=quarters)
    contracts = pd.DataFrame([dict(contract="cloud-a-1y", site="cloud", sku="a", term_quarters=term_quarters,
                                   usd_per_gpu_hour=COMMITTED_USD_PER_GPU_HOUR, min_nodes=8, available_from="2027Q1",
                                   lead_quarters=0, max_blocks=2)])
    attach_table(path, "contracts", "contracts.csv", contracts)
    return path


def test_committed_block_beats_on_demand_when_used(tmp_path):
    """Ten nodes' worth of demand in each of 4 quarters. On demand: 10 × $17,520 × 4 = $700,800. One block (8
    nodes, $82,694.40 a quarter) + 2 on demand ($35,040): $117,734.40 a quarter, $470,937.60 in all. Two blocks
    (16 nodes, $165,388.80 a quarter) would pay for 6 idle nodes: dearer. So the optimum signs one block."""
    path = cloud_only(tmp_path / "flat", [10, 10, 10, 10])
    plan = solve(path)
    [signed] = plan["contracts"]
    assert (signed["quarter"], signed["contract_blocks"], signed["nodes"], signed["term_end"]) == \
        ("2027Q1", 1.0, 8.0, "2027Q4")
    assert signed["commitment_usd"] == pytest.approx(4 * BLOCK_USD_PER_QUARTER, abs=1e-6)
    assert plan["objective_usd"] == pytest.approx(4 * (BLOCK_USD_PER_QUARTER + 2 * RENT_A_USD), abs=1e-6)
    assert [r["nodes"] for r in plan["rentals"]] == [2, 2, 2, 2]
    scenario = load_scenario(path)
    assert verify_plan(scenario, plan) == []
    # Independently checked: a wrong commitment, or the signing left out (its nodes are then not in service).
    wrong = dict(plan, contracts=[dict(signed, commitment_usd=1.0)])
    assert "contract" in {v.constraint for v in verify_plan(scenario, wrong)}
    assert {"fleet", "capacity"} <= {v.constraint for v in verify_plan(scenario, dict(plan, contracts=[]))}


def test_commitment_is_paid_whether_used_or_not(tmp_path):
    """Demand of 10 nodes in the first two quarters and none after. A block is paid for its whole year:
    4 × $82,694.40 + 2 quarters × 2 on demand × $17,520 = $400,857.60, dearer than all on demand, 20 node-quarters ×
    $17,520 = $350,400. So the optimum signs nothing (the same offer that won with flat demand)."""
    plan = solve(cloud_only(tmp_path, [10, 10, 0, 0]))
    assert plan["contracts"] == []
    assert plan["objective_usd"] == pytest.approx(20 * RENT_A_USD, abs=1e-6)


def test_bad_contracts(tmp_path):
    """A term that cannot fit the horizon, an owned site, an unknown SKU: input errors on the contract's row."""
    path = cloud_only(tmp_path, [1, 1], term_quarters=4, quarters=2)
    where, messages = problems_of(path)
    assert where == {("contracts.csv", 2, "term_quarters")}
    assert "ends after the horizon" in messages[0]
    frame = pd.read_csv(path.parent / "contracts.csv")
    frame.loc[0, ["site", "sku", "term_quarters"]] = ["nowhere", "zz", 1]
    frame.to_csv(path.parent / "contracts.csv", index=False)
    where, _ = problems_of(path)
    assert where == {("contracts.csv", 2, "site"), ("contracts.csv", 2, "sku")}


def test_docs_page_lists_the_new_plan_fields():
    """docs/datacenter-2026.md carries PLAN.json's facility and contracts tables as models/plan_schema.py declares
    them (the README's table leaves them out)."""
    from models.plan_schema import markdown_table

    page = (Path(__file__).resolve().parents[1] / "docs" / "datacenter-2026.md").read_text()
    assert markdown_table(datacenter_2026=True) in page
    assert "`facility[" not in markdown_table() and "`contracts[" not in markdown_table()


# --- the risk evaluator prices builds and commitments like the optimiser ---------------------------------------

@pytest.mark.parametrize("case", ["facility", "contract"])
def test_deterministic_risk_tco_includes_builds_and_commitments(tmp_path, case):
    """With no uncertainty the evaluator's TCO is the plan's objective: the $22,000 of the build-out case (its
    $2,000 of facility depreciation included) and the $470,937.60 of the contract case (the block's committed rent
    charged whether used or not, its 8 nodes not charged the on-demand rate again)."""
    from models.risk import simulate
    from models.risk_inputs import build_risk_inputs
    from models.risk_settings import risk_settings

    if case == "facility":
        path = scenario_with(tmp_path, racks=4, cloud=True, skus=())
        add_columns(path, "sites", "max_kw_per_rack", {"A": 20})
        add_facility(path, [dict(OPTION, racks=1, power_mw=0)])
        expected = 10 * A_DEPRECIATION_USD + 2_000.0
    else:
        path = cloud_only(tmp_path, [10, 10, 10, 10])
        expected = 4 * (BLOCK_USD_PER_QUARTER + 2 * RENT_A_USD)
    scenario = load_scenario(path)
    plan = solve(path)
    assert plan["objective_usd"] == pytest.approx(expected, abs=1e-6)
    settings = risk_settings(scenario, deterministic=True)
    run = simulate(build_risk_inputs(scenario, plan, settings), settings, float64=True)
    assert float(run["tco_usd"][0]) == pytest.approx(expected, rel=1e-9)


def test_fleet_that_overfills_racks_at_the_halls_density(tmp_path):
    """12 existing `a` nodes in 4 racks: 3 racks at the catalog's 4 a rack, but at max_kw_per_rack 20 a rack holds 2
    (⌊20 / 10⌋), so they fill 6 racks > 4: an input error on the fleet's row, not an infeasible program."""
    path = write_scenario(tmp_path, catalog=[sku()], sites=[dict(OWNED_FREE_ENERGY, racks=4)],
                          workloads=[inference()], demand=[("chat", "2027Q1", 1_000)],
                          throughput=[("chat", "a", 1_000)], fleet=[("A", "a", 12, "2026Q4")])
    load_scenario(path)  # fits without a density
    add_columns(path, "sites", "max_kw_per_rack", {"A": 20})
    where, messages = problems_of(path)
    assert where == {("fleet.csv", 2, "nodes")}
    assert "fills 6.00 racks" in messages[0]


def test_docs_page_states_every_new_bound():
    """Each bound of the new columns and tables (planner/schema.py) is the one docs/datacenter-2026.md states."""
    from planner import schema as S

    page = (Path(__file__).resolve().parents[1] / "docs" / "datacenter-2026.md").read_text()
    columns = [(S.SITES, c) for c in S.SITES.columns if (S.SITES.name, c.name) in S.DATACENTER_2026_COLUMNS]
    columns += [(t, c) for t in (S.FACILITY_OPTIONS, S.CONTRACTS) for c in t.columns]
    for table, column in columns:
        if column.high is not None:
            assert f"| {table.name} | `{column.name}` | {S._plain(column.high)} |" in page, (table.name, column.name)
