"""Fabric and storage in the plan's TCO (docs/datacenter-2026.md "Fabric and storage"; issue 21, item 3).

Unless a docstring says otherwise the instances use tests/scenario_files.py's round numbers: SKU `a` (8 GPUs, 10 kW,
idle_frac 1 so busy work adds no power, $40,000 over 5 years = $2,000 depreciation a node-quarter), one quarter, no
discounting, PUE 1, no carbon price, throughput overrides (1,000 tokens/s per `a` node), unmet demand at $1,000,000
per tokens/s-quarter (so demand is always served). Every expected figure below is derived by hand in the docstring.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from models.errors import InputError
from models.verify import verify_plan
from planner.pipeline import plan_document, run_plan
from planner.scenario import load_scenario
from scenario_files import CLOUD, OWNED_FREE_ENERGY, attach_table, inference, sku, training, write_scenario
from test_datacenter_2026 import add_columns, lp_digest

A_DEPRECIATION_USD = 2_000.0  # $40,000 / (5 years × 4)
RENT_A_USD = 1.0 * 8 * 2_190  # $1/GPU-h × 8 GPUs × 2,190 h = $17,520 a node-quarter
HOURS = 2_190.0
FABRIC_COLUMNS = ["sku", "nodes_per_su", "leaf_usd_per_node", "leaf_kw_per_node", "spine_usd_per_node",
                  "spine_kw_per_node", "source"]


def add_fabric(path: Path, rows: list[dict]) -> None:
    attach_table(path, "fabric", "fabric.csv", pd.DataFrame(rows, columns=FABRIC_COLUMNS))


def serving(tmp_path: Path, *, usd_per_kwh: float = 0.0, power_mw: float = 10, cloud: bool = False,
            skus=(), finance=None, demand: float = 10_000) -> Path:
    """`chat` at `demand` tokens/s on `a` (1,000 tokens/s a node: 10 nodes) and on any extra SKU (the same rate)."""
    catalog = [sku(rent_usd_per_gpu_hour=1.0 if cloud else "")] + [dict(s) for s in skus]
    sites = [dict(OWNED_FREE_ENERGY, usd_per_kwh=usd_per_kwh, power_mw=power_mw)] + ([CLOUD] if cloud else [])
    throughput = [("chat", "a", 1_000)] + [("chat", s["sku"], 1_000) for s in skus]
    return write_scenario(tmp_path, catalog=catalog, sites=sites, workloads=[inference()],
                          demand=[("chat", "2027Q1", demand)], throughput=throughput, finance=finance)


def solve(path: Path) -> dict:
    plan = plan_document(run_plan(load_scenario(path), backend="scip", time_limit_s=30, gap=1e-9))
    assert verify_plan(load_scenario(path), plan) == []  # the verifier's own reading agrees
    return plan


def line(plan: dict, name: str, quarter: int = 0) -> float:
    return plan["costs"][quarter][name]


def ordered(plan: dict) -> dict:
    return {(p["site"], p["sku"]): p["nodes"] for p in plan["purchases"]}


# --- (a) the leaf: network $ like the node's price, network kW always on ------------------------------------

def test_leaf_network_cost_and_power_enter_the_tco_exactly(tmp_path):
    """10 `a` nodes serve 10,000 tokens/s at A, electricity $0.10/kWh. Fabric for `a`: leaf $4,000 and 1 kW a node.
    Depreciation mode: network_usd = 10 × $4,000 / 20 quarters = $2,000; each node draws 10 + 1 = 11 kW, so
    energy_kwh = 10 × 11 × 2,190 = 240,900 kWh and energy_usd = $24,090; objective = 10 × $2,000 + $2,000 +
    $24,090 = $46,090 (without fabric: $20,000 + $21,900 = $41,900). The fleet table's it_kw is 110 kW.
    Cash mode charges the leaf with the order: network_usd = 10 × $4,000 = $40,000, capex $400,000, objective
    $400,000 + $40,000 + $24,090 = $464,090."""
    plain = serving(tmp_path / "plain", usd_per_kwh=0.1)
    assert solve(plain)["objective_usd"] == pytest.approx(41_900.0, abs=1e-6)

    path = serving(tmp_path / "leaf", usd_per_kwh=0.1)
    add_fabric(path, [dict(sku="a", nodes_per_su=32, leaf_usd_per_node=4_000, leaf_kw_per_node=1)])
    plan = solve(path)
    assert ordered(plan) == {("A", "a"): 10}
    assert line(plan, "network_usd") == pytest.approx(2_000.0, abs=1e-6)
    assert line(plan, "energy_kwh") == pytest.approx(240_900.0, rel=1e-12)
    assert line(plan, "energy_usd") == pytest.approx(24_090.0, abs=1e-6)
    assert plan["objective_usd"] == pytest.approx(46_090.0, abs=1e-6)
    assert plan["totals"]["network_usd"] == pytest.approx(2_000.0, abs=1e-6)
    assert plan["fleet"][0]["it_kw"] == pytest.approx(110.0, rel=1e-12)

    cash = serving(tmp_path / "cash", usd_per_kwh=0.1, finance={"capex_mode": "cash"})
    add_fabric(cash, [dict(sku="a", nodes_per_su=32, leaf_usd_per_node=4_000, leaf_kw_per_node=1)])
    plan = solve(cash)
    assert line(plan, "network_usd") == pytest.approx(40_000.0, abs=1e-6)
    assert line(plan, "capex_usd") == pytest.approx(400_000.0, abs=1e-6)
    assert plan["objective_usd"] == pytest.approx(464_090.0, abs=1e-6)


def test_leaf_power_counts_against_the_cap(tmp_path):
    """A has 105 kW (PUE 1). Without fabric it holds all 10 nodes (100 kW): $20,000. With 1 kW of leaf a node it
    holds ⌊105 / 11⌋ = 9; the 10th is rented ($17,520; a rent includes the provider's fabric, so no network $):
    9 × ($2,000 + $4,000 / 20) + $17,520 = $37,320. The plan made without the fabric breaks the cap by 5 kW."""
    plain = serving(tmp_path / "plain", power_mw=0.105, cloud=True)
    before = solve(plain)
    assert before["objective_usd"] == pytest.approx(20_000.0, abs=1e-6)

    path = serving(tmp_path / "leaf", power_mw=0.105, cloud=True)
    add_fabric(path, [dict(sku="a", nodes_per_su=32, leaf_usd_per_node=4_000, leaf_kw_per_node=1)])
    plan = solve(path)
    assert ordered(plan) == {("A", "a"): 9}
    assert {(r["site"], r["sku"]): r["nodes"] for r in plan["rentals"]} == {("cloud", "a"): 1}
    assert line(plan, "network_usd") == pytest.approx(1_800.0, abs=1e-6)
    assert plan["objective_usd"] == pytest.approx(37_320.0, abs=1e-6)

    # (g) The verifier, on its own reading of the rule, rejects the fabric-blind plan: power over by 10 × 11 − 105
    # = 5 kW, and the network line it omits.
    violations = verify_plan(load_scenario(path), before)
    assert {v.constraint for v in violations} >= {"power", "cost"}
    power = next(v for v in violations if v.constraint == "power")
    assert power.size == pytest.approx(5.0, rel=1e-9)


# --- (b) the spine: only for a run spanning more than one scalable unit ----------------------------------------

def training_scenario(tmp_path: Path, nodes_per_su: int, *, storage_tb=None, quarters: int = 1,
                      window=("2027Q1", "2027Q1"), sites=None) -> Path:
    """A 70B run of 78.84 B tokens at a measured 1,000 tokens/s per `a` node: node_hours = 78.84e9 / 1,000 /
    3,600 = 21,900 = 10 node-quarters; its weights, gradients and Adam state (16 B a parameter, 1,120 GB) need
    ⌈1,120 / (0.9 × 8 × 80)⌉ = 2 nodes: min_nodes 2. Electricity $0.10/kWh at A."""
    run = training("t", 70, 78.84, window[0], window[1])
    path = write_scenario(tmp_path, catalog=[sku()], sites=sites or [dict(OWNED_FREE_ENERGY, usd_per_kwh=0.1)],
                          workloads=[run], throughput=[("t", "a", 1_000)], quarters=quarters)
    if storage_tb is not None:
        add_columns(path, "workloads", "storage_tb", {"t": storage_tb})
    add_fabric(path, [dict(sku="a", nodes_per_su=nodes_per_su, spine_usd_per_node=8_000, spine_kw_per_node=0.5)])
    return path


@pytest.mark.parametrize("nodes_per_su, spans", [(10, False), (9, True), (1, True)])
def test_a_run_spanning_scalable_units_pays_the_spine_and_one_that_fits_does_not(tmp_path, nodes_per_su, spans):
    """The run keeps 10 node-equivalents busy in its one quarter on 10 nodes: 10 × $2,000 + energy 10 × 10 kW ×
    2,190 h × $0.10 = $21,900, $41,900 in all. With 10-node scalable units its 10 busy node-equivalents fit one SU:
    no spine, $41,900. With 9-node SUs (10 > 9 busy) or 1-node SUs (its 2-node minimum footprint already spans) it
    spans: the spine costs $8,000 / 20 quarters = $400 per busy node-equivalent, 10 × $400 = $4,000 (network_usd),
    and draws 0.5 kW per busy node-equivalent: 5 kW × 2,190 h = 10,950 kWh, $1,095; objective $41,900 + $4,000 +
    $1,095 = $46,995, and the fleet table's it_kw is 100 + 5 = 105 kW."""
    path = training_scenario(tmp_path / "case", nodes_per_su=nodes_per_su)
    plan = solve(path)
    if not spans:
        assert line(plan, "network_usd") == 0.0
        assert plan["objective_usd"] == pytest.approx(41_900.0, abs=1e-6)
        return
    assert line(plan, "network_usd") == pytest.approx(4_000.0, abs=1e-6)
    assert line(plan, "energy_kwh") == pytest.approx(10 * 10 * HOURS + 5 * HOURS, rel=1e-12)
    assert plan["objective_usd"] == pytest.approx(46_995.0, abs=1e-6)
    assert plan["fleet"][0]["it_kw"] == pytest.approx(105.0, rel=1e-12)

    # (g) The plan made with SUs that fit, checked against this scenario: the verifier recomputes the spine itself.
    fits = solve(training_scenario(tmp_path / "fits", nodes_per_su=10))
    violations = verify_plan(load_scenario(path), fits)
    assert {v.constraint for v in violations} >= {"cost", "fleet"}


def test_a_spine_priced_run_moves_to_the_sku_with_larger_scalable_units(tmp_path):
    """`b` trains like `a` but costs $44,000 ($2,200 a quarter): without fabric the run takes 10 `a` nodes, $20,000
    (free electricity). Give `a` 9-node SUs and a $8,000 spine ($400 per busy node-equivalent: $4,000 for the
    run) and `b` 32-node SUs: `a` would cost $24,000, `b` $22,000, so the run moves to 10 `b` nodes."""
    catalog = [sku(), sku(sku="b", price_usd=44_000)]
    path = write_scenario(tmp_path, catalog=catalog, sites=[OWNED_FREE_ENERGY],
                          workloads=[training("t", 70, 78.84, "2027Q1", "2027Q1")],
                          throughput=[("t", "a", 1_000), ("t", "b", 1_000)])
    assert ordered(solve(path)) == {("A", "a"): 10}
    add_fabric(path, [dict(sku="a", nodes_per_su=9, spine_usd_per_node=8_000),
                      dict(sku="b", nodes_per_su=32, spine_usd_per_node=8_000)])
    plan = solve(path)
    assert ordered(plan) == {("A", "b"): 10}
    assert plan["objective_usd"] == pytest.approx(22_000.0, abs=1e-6) and line(plan, "network_usd") == 0.0


# --- (c) storage: charged where and when the workload runs --------------------------------------------------

def test_storage_is_charged_where_the_service_runs_by_its_share(tmp_path):
    """`chat` (10,000 tokens/s, storage_tb 100) may run at A (free electricity, storage $30/TB-quarter, 10 kW per
    PB, 60.6 kW of power) or B (electricity $0.10/kWh, storage $10/TB-quarter, no storage power). A node at A costs
    $2,000, at B $2,000 + 10 kW × 2,190 h × $0.10 = $4,190, so A fills up: 6 nodes (6,000 tokens/s, share 0.6)
    and the 0.6 × 100 TB × 10 kW/PB = 0.6 kW of storage make 60.6 kW; B serves the other 4,000 (share 0.4).
    storage_usd = 100 × (0.6 × $30 + 0.4 × $10) = $2,200; objective = 6 × $2,000 + 4 × $4,190 + $2,200 = $30,960."""
    site_b = dict(OWNED_FREE_ENERGY, site="B", usd_per_kwh=0.1)
    path = write_scenario(tmp_path, catalog=[sku()], sites=[dict(OWNED_FREE_ENERGY, power_mw=0.0606), site_b],
                          workloads=[inference()], demand=[("chat", "2027Q1", 10_000)],
                          throughput=[("chat", "a", 1_000)])
    add_columns(path, "workloads", "storage_tb", {"chat": 100})
    add_columns(path, "sites", "storage_usd_per_tb_quarter", {"A": 30, "B": 10})
    add_columns(path, "sites", "storage_kw_per_pb", {"A": 10})
    plan = solve(path)
    assert ordered(plan) == {("A", "a"): 6, ("B", "a"): 4}
    assert line(plan, "storage_usd") == pytest.approx(2_200.0, abs=1e-6)
    assert plan["objective_usd"] == pytest.approx(30_960.0, abs=1e-6)
    held = {(r["site"], r["workload"]): (r["share"], r["storage_kw"], r["storage_usd"]) for r in plan["storage"]}
    assert held == {("A", "chat"): pytest.approx((0.6, 0.6, 1_800.0)), ("B", "chat"): pytest.approx((0.4, 0.0, 400.0))}

    # (g) Omitting the storage line is caught by the verifier's own recomputation.
    scenario = load_scenario(path)
    omitted = dict(plan, costs=[dict(row, storage_usd=0.0) for row in plan["costs"]])
    assert "cost" in {v.constraint for v in verify_plan(scenario, omitted)}


def test_training_storage_is_charged_only_in_the_quarters_the_run_works(tmp_path):
    """Two quarters; the run (10 node-quarters of work, min_nodes 2, fitting one 32-node SU: no spine) may only run in
    2027Q2 and holds 50 TB at A at $20/TB-quarter and 10 kW per PB. 2027Q1: no storage. 2027Q2: 50 × $20 = $1,000,
    and 50 TB × 10 kW/PB = 0.5 kW, 1,095 kWh, $109.50 at $0.10/kWh."""
    site = dict(OWNED_FREE_ENERGY, usd_per_kwh=0.1)
    path = training_scenario(tmp_path, nodes_per_su=32, storage_tb=50, quarters=2, window=("2027Q2", "2027Q2"),
                             sites=[site])
    add_columns(path, "sites", "storage_usd_per_tb_quarter", {"A": 20})
    add_columns(path, "sites", "storage_kw_per_pb", {"A": 10})
    plan = solve(path)
    assert line(plan, "storage_usd", 0) == 0.0
    assert line(plan, "storage_usd", 1) == pytest.approx(1_000.0, abs=1e-6)
    assert line(plan, "energy_kwh", 1) == pytest.approx(10 * 10 * HOURS + 0.5 * HOURS, rel=1e-12)
    [held] = plan["storage"]
    assert (held["quarter"], held["site"], held["share"], held["storage_kw"], held["energy_kwh"]) == \
        ("2027Q2", "A", pytest.approx(1.0), pytest.approx(0.5), pytest.approx(1_095.0))


# --- (d) the optimum moves as derived -----------------------------------------------------------------------

@pytest.mark.parametrize("leaf_usd, bought, objective", [(3_000, "a", 10 * (2_000 + 150)), (5_000, "b", 22_000)])
def test_dearer_fabric_on_a_shifts_the_purchase_to_b_past_a_hand_computed_threshold(tmp_path, leaf_usd, bought,
                                                                                     objective):
    """`b` serves like `a` but costs $44,000 ($2,200 a quarter). With a leaf of L $ a node on `a` only, an `a` node
    costs $2,000 + L / 20 a quarter: `a` stays cheaper while L < 20 × $200 = $4,000. L = $3,000: 10 `a` nodes,
    10 × $2,150 = $21,500; L = $5,000: 10 `b` nodes, $22,000."""
    path = serving(tmp_path, skus=(sku(sku="b", price_usd=44_000),))
    add_fabric(path, [dict(sku="a", nodes_per_su=32, leaf_usd_per_node=leaf_usd)])
    plan = solve(path)
    assert ordered(plan) == {("A", bought): 10}
    assert plan["objective_usd"] == pytest.approx(objective, abs=1e-6)


def test_dearer_storage_at_a_site_moves_the_run_away(tmp_path):
    """The training run may use A or B, alike but for storage: 50 TB at $20/TB-quarter at A, $4 at B. The run goes
    to B: storage_usd = 50 × $4 = $200 (at A it would be $1,000)."""
    sites = [OWNED_FREE_ENERGY, dict(OWNED_FREE_ENERGY, site="B")]
    path = training_scenario(tmp_path, nodes_per_su=32, storage_tb=50, sites=sites)
    add_columns(path, "sites", "storage_usd_per_tb_quarter", {"A": 20, "B": 4})
    plan = solve(path)
    assert {p["site"] for p in plan["placement"]} == {"B"}
    assert line(plan, "storage_usd") == pytest.approx(200.0, abs=1e-6)


# --- (e) absent inputs impose nothing -----------------------------------------------------------------------

def test_empty_fabric_and_storage_inputs_build_the_same_program(tmp_path):
    """Blank storage columns, storage_tb without a priced site, and an empty fabric table give the very same LP
    (matrix, bounds, objective) as a scenario without them; the plan's new lines are 0."""
    plain = serving(tmp_path / "plain", cloud=True)
    blank = serving(tmp_path / "blank", cloud=True)
    add_columns(blank, "workloads", "storage_tb", {"chat": 100})
    add_columns(blank, "sites", "storage_usd_per_tb_quarter", {})
    add_columns(blank, "sites", "storage_kw_per_pb", {})
    add_fabric(blank, [])
    assert lp_digest(plain) == lp_digest(blank)
    plan = solve(blank)
    assert line(plan, "network_usd") == 0.0 and line(plan, "storage_usd") == 0.0 and "storage" not in plan


# --- (f) bad values are input errors naming file, row and column -------------------------------------------------

def test_bad_fabric_and_storage_values(tmp_path):
    path = serving(tmp_path)
    add_fabric(path, [dict(sku="zz", nodes_per_su=32), dict(sku="a", nodes_per_su=0, leaf_usd_per_node=-1,
                                                           spine_kw_per_node="x")])
    add_columns(path, "workloads", "storage_tb", {"chat": -5})
    add_columns(path, "sites", "storage_usd_per_tb_quarter", {"A": "cheap"})
    add_columns(path, "sites", "storage_kw_per_pb", {"A": 1e9})
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    where = {(p.file, p.row, p.column) for p in caught.value.problems}
    assert where == {("fabric.csv", 2, "sku"), ("fabric.csv", 3, "nodes_per_su"),
                     ("fabric.csv", 3, "leaf_usd_per_node"), ("fabric.csv", 3, "spine_kw_per_node"),
                     ("workloads.csv", 2, "storage_tb"), ("sites.csv", 2, "storage_usd_per_tb_quarter"),
                     ("sites.csv", 2, "storage_kw_per_pb")}
    messages = " ".join(p.message for p in caught.value.problems)
    assert "fabric for unknown sku 'zz'" in messages and "above the limit" in messages

    from planner.cli import main
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert "fabric.csv" in result.output and "Traceback" not in result.output


def test_docs_page_states_the_fabric_and_storage_bounds():
    """Each bound of the fabric table and the storage columns is the one docs/datacenter-2026.md states."""
    from planner import schema as S

    page = (Path(__file__).resolve().parents[1] / "docs" / "datacenter-2026.md").read_text()
    columns = [(S.FABRIC, c) for c in S.FABRIC.columns]
    columns += [(t, c) for t in (S.SITES, S.WORKLOADS) for c in t.columns if c.name.startswith("storage_")]
    for table, column in columns:
        if column.high is not None:
            assert f"| {table.name} | `{column.name}` | {S._plain(column.high)} |" in page, (table.name, column.name)


# --- the risk evaluator and the workbook price them like the optimiser ---------------------------------------

def test_deterministic_risk_tco_and_workbook_include_network_and_storage(tmp_path):
    """With no uncertainty the evaluator's TCO is the leaf case's $46,090 (network $2,000 as the plan's fixed line,
    the leaf's 1 kW a node in the nodes' energy); the workbook's Costs sheet recalculates to the same total."""
    from models.risk import simulate
    from models.risk_inputs import build_risk_inputs
    from models.risk_settings import risk_settings

    path = serving(tmp_path, usd_per_kwh=0.1)
    add_fabric(path, [dict(sku="a", nodes_per_su=32, leaf_usd_per_node=4_000, leaf_kw_per_node=1)])
    scenario = load_scenario(path)
    plan = solve(path)
    settings = risk_settings(scenario, deterministic=True)
    run = simulate(build_risk_inputs(scenario, plan, settings), settings, float64=True)
    assert float(run["tco_usd"][0]) == pytest.approx(46_090.0, rel=1e-9)


def test_workbook_costs_sheet_recalculates_to_the_plan_with_fabric_and_storage(tmp_path):
    """The spanning run of the spine case, in 2027Q2 of two quarters, holding 50 TB at A ($20/TB-quarter, 10 kW per
    PB): network_usd $4,000 and storage_usd $1,000 are columns of the Costs sheet, the storage's 1,095 kWh ($109.50)
    are added to its energy lines, and LibreOffice recalculates every total to PLAN.json's (objective $41,900 +
    $4,000 + $1,095 + $1,000 + $109.50 = $48,104.50)."""
    from reports.workbook import write_workbook
    from test_workbook import soffice_convert
    import openpyxl

    scenario, plan = _spanning_run_with_storage(tmp_path)
    book_path = write_workbook(tmp_path / "plan.xlsx", plan, scenario)
    [converted] = soffice_convert([book_path], tmp_path / "out", "xlsx:Calc MS Excel 2007 XML")
    costs = openpyxl.load_workbook(converted, data_only=True)["Costs"]
    header = [c.value for c in costs[1]]
    total = dict(zip(header, [c.value for c in costs[len(plan["costs"]) + 2]]))
    for column in ("energy_kwh", "carbon_t", "energy_usd", "network_usd", "storage_usd", "total_usd",
                   "discounted_usd"):
        assert total[column] == pytest.approx(plan["totals"][column], rel=1e-9, abs=1e-6), column


def _spanning_run_with_storage(tmp_path):
    """The $48,104.50 case of the two tests around: (scenario, PLAN.json)."""
    path = training_scenario(tmp_path / "case", nodes_per_su=1, storage_tb=50, quarters=2,
                             window=("2027Q2", "2027Q2"))
    add_columns(path, "sites", "storage_usd_per_tb_quarter", {"A": 20})
    add_columns(path, "sites", "storage_kw_per_pb", {"A": 10})
    plan = solve(path)
    assert plan["objective_usd"] == pytest.approx(48_104.5, abs=1e-6)
    return load_scenario(path), plan


def test_deterministic_risk_tco_includes_spine_and_storage_energy(tmp_path):
    """The workbook case above (a run spanning 1-node SUs in 2027Q2, 50 TB held at A at $20/TB-quarter and 10 kW per
    PB, electricity $0.10/kWh): objective $41,900 + spine $4,000 + spine energy 5 kW × 2,190 h × $0.10 = $1,095 +
    storage $1,000 + storage energy 0.5 kW × 2,190 h × $0.10 = $109.50 = $48,104.50. With no uncertainty the
    evaluator charges the same: the $ lines as the plan's, and the spine's 10,950 kWh and the storage's 1,095 kWh
    in its energy line (without them it would read $46,900, the energy of the nodes alone)."""
    from models.cost_parameters import SAMPLED_LINES_USD
    from models.risk import simulate
    from models.risk_inputs import build_risk_inputs
    from models.risk_settings import risk_settings

    scenario, plan = _spanning_run_with_storage(tmp_path)
    settings = risk_settings(scenario, deterministic=True)
    inputs = build_risk_inputs(scenario, plan, settings)
    assert inputs.arrays.pools.fixed_kwh.sum() == pytest.approx(10_950.0 + 1_095.0, rel=1e-12)
    run = simulate(inputs, settings, float64=True)
    assert float(run["tco_usd"][0]) == pytest.approx(48_104.5, abs=0.01)
    lines = dict(zip(SAMPLED_LINES_USD, run["sums"]["line_usd"]))
    assert lines["energy_usd"] == pytest.approx(21_900.0 + 1_095.0 + 109.5, abs=0.01)
