"""CLI behaviour: exit codes, exact messages, outputs reopened and checked, atomic writes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from planner.cli import main
from scenario_files import OWNED_FREE_ENERGY, inference, sku, training, write_scenario

WORKED_EXAMPLE = Path(__file__).resolve().parent / "cases" / "worked-example" / "scenario.yaml"


def invoke(*args) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.output


def test_plan_writes_plan_json(tmp_path):
    out = tmp_path / "plan.json"
    code, output = invoke("plan", WORKED_EXAMPLE, "--json", out)
    assert code == 0, output
    assert "worked-example: optimal (scip" in output and "(objective $111,108.18)" in output
    plan = json.loads(out.read_text())
    assert plan["objective_usd"] == pytest.approx(111_108.18, abs=0.01)
    assert plan["objective_usd"] == pytest.approx(sum(c["discounted_usd"] for c in plan["costs"]), rel=1e-12)
    for key in ("scenario", "status", "solver", "bound_usd", "gap", "solve_seconds", "purchases", "rentals", "fleet",
                "placement", "unmet", "costs", "totals", "duals", "why", "inputs"):
        assert key in plan


def test_failed_plan_keeps_the_previous_good_output(tmp_path):
    """A --strict run that has no plan exits 1, and the plan.json of an earlier run is left untouched."""
    path = write_scenario(tmp_path / "s", catalog=[sku(lead_quarters=1)], sites=[OWNED_FREE_ENERGY],
                          workloads=[inference()], demand=[("chat", "2027Q1", 1000)],
                          throughput=[("chat", "a", 1000)], quarters=2)
    out = tmp_path / "plan.json"
    out.write_text('{"good": true}\n')
    code, output = invoke("plan", path, "--json", out, "--strict")
    assert code == 1
    assert output.startswith("error: no plan exists under --strict")
    assert out.read_text() == '{"good": true}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.json", "s"]


def test_bad_input_exits_2_and_writes_nothing(tmp_path):
    code, output = invoke("plan", tmp_path / "missing.yaml", "--json", tmp_path / "plan.json")
    assert code == 2
    assert "scenario file not found" in output
    assert not (tmp_path / "plan.json").exists()


def test_unknown_solver_is_a_usage_error():
    code, output = invoke("plan", WORKED_EXAMPLE, "--solver", "gurobi")
    assert code == 2
    assert "'gurobi' is not one of 'scip', 'highs', 'cp-sat', 'cbc'" in output


def test_estimate_json_hand_worked(tmp_path):
    """SKU a: 8 GPUs × 1,000 TFLOPS = 8e15 FLOP/s per node; $40,000 over 5 years = 40,000 / 43,800 h
    = $0.913242 per node-hour (no maintenance, free power, no carbon); 10 kW at PUE 1.

    Training, 1B params on 1B tokens at MFU 0.5: 8e15 × 0.5 / (6 × 1e9) = 666,666.7 tokens/s per node →
    1e9 / 666,666.7 / 3,600 = 0.416667 node-hours for the run → $0.380518 and 4.16667 kWh.
    Inference at a measured 1,000 tokens/s per node: one million tokens = 1e6 / 1,000 / 3,600 = 0.277778
    node-hours → $0.253678 and 2.77778 kWh. SKU b costs twice as much, so `a` is the cheapest for both.
    """
    path = write_scenario(tmp_path, catalog=[sku(), sku(sku="b", price_usd=80000)], sites=[OWNED_FREE_ENERGY],
                          workloads=[inference(), training("pretrain", 1, 1, "2027Q1", "2027Q1", mfu=0.5)],
                          demand=[("chat", "2027Q1", 1000)],
                          throughput=[("chat", "a", 1000), ("chat", "b", 1000)])
    code, output = invoke("estimate", path, "--json")
    assert code == 0, output
    rows = {(r["workload"], r["sku"]): r for r in json.loads(output)["rows"]}
    run = rows[("pretrain", "a")]
    assert run["node_hours"] == pytest.approx(0.416667, rel=1e-5)
    assert run["gpu_hours"] == pytest.approx(8 * 0.416667, rel=1e-5)
    assert run["usd_per_unit"] == pytest.approx(0.380518, rel=1e-5)
    assert run["kwh_per_unit"] == pytest.approx(4.16667, rel=1e-5)
    assert run["tokens_per_s_per_node"] is None and run["cheapest"] is True
    chat = rows[("chat", "a")]
    assert chat["tokens_per_s_per_node"] == 1000 and chat["node_hours"] is None
    assert chat["usd_per_unit"] == pytest.approx(0.253678, rel=1e-5)
    assert chat["kwh_per_unit"] == pytest.approx(2.77778, rel=1e-5)
    assert chat["cheapest"] is True and rows[("chat", "b")]["cheapest"] is False
    assert chat["ttft_s"] is None  # no prompt_tokens: prefill is folded into decode, no time to first token
    assert set(chat) == {"workload", "sku", "eligible", "reason", "min_nodes", "node_hours", "gpu_hours",
                         "tokens_per_s_per_node", "ttft_s", "kwh_per_unit", "usd_per_unit", "cheapest"}


def test_catalog_ratios_hand_worked(tmp_path):
    """SKU a: $40,000 over 5 × 8,760 h for 8 × 1,000 TFLOPS = 8 PFLOPS → 40,000 / 43,800 / 8 = $0.114155 per
    PFLOP-hour; HBM 8 × 3.35 TB/s = 26,800 GB/s per $40,000 = 0.67 GB/s per $; 10,000 W / 8,000 TFLOPS = 1.25."""
    path = write_scenario(tmp_path, catalog=[sku()], sites=[OWNED_FREE_ENERGY], workloads=[inference()])
    code, output = invoke("catalog", "--catalog", path.parent / "catalog.csv", "--json")
    assert code == 0, output
    (row,) = json.loads(output)
    assert row["usd_per_pflop_hour"] == pytest.approx(0.114155, rel=1e-5)
    assert row["gb_per_s_per_usd"] == pytest.approx(0.67)
    assert row["w_per_tflop"] == pytest.approx(1.25)


def test_shipped_catalog_lists_the_required_accelerators():
    code, output = invoke("catalog", "--json")
    assert code == 0
    skus = {row["sku"] for row in json.loads(output)}
    assert {"a100-80gb-x8", "h100-80gb-x8", "h200-x8", "b200-x8", "mi300x-x8", "l40s-x8"} <= skus


def test_installed_console_script_finds_shipped_data(tmp_path):
    """After `pip install .` (what `make test` does), `planner` runs from any directory and finds the catalog
    shipped inside the package: the example scenario relies on it."""
    script = Path(sys.executable).parent / "planner"
    if not script.exists():
        pytest.skip("no installed console script next to this interpreter (run through `make test`)")
    listing = subprocess.run([str(script), "catalog"], cwd=tmp_path, capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": ""})
    assert listing.returncode == 0, listing.stderr
    assert "h100-80gb-x8" in listing.stdout
    package = subprocess.run([sys.executable, "-c", "import planner, pathlib; print(pathlib.Path(planner.__file__)"
                              ".parent)"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    example = Path(package) / "data" / "examples" / "example" / "scenario.yaml"
    copy = tmp_path / "example"
    shutil.copytree(example.parent.parent.parent, copy)
    check = subprocess.run([str(script), "validate", str(copy / "examples" / "example" / "scenario.yaml")],
                           cwd=tmp_path, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert "example: valid: 11 SKUs" in check.stdout


def test_evaluate_in_a_fresh_process_uses_every_core(tmp_path):
    """In a new process `planner evaluate` gives JAX one CPU device per core and splits batches across them; a
    single deterministic future (a batch of 1 on 2 devices, padded) must still reproduce the plan's objective."""
    plan = tmp_path / "plan.json"
    assert invoke("plan", WORKED_EXAMPLE, "--json", plan)[0] == 0
    risk = tmp_path / "risk.json"
    command = ("import sys; sys.path.insert(0, sys.argv[1]); from planner.cli import main; "
               "main(sys.argv[2:])")
    done = subprocess.run([sys.executable, "-c", command, str(Path(__file__).resolve().parents[1]), "evaluate",
                           str(WORKED_EXAMPLE), "--plan", str(plan), "--deterministic", "--float64", "--json",
                           str(risk)], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(risk.read_text())["tco_usd"]["mean"] == pytest.approx(111_108.18, abs=0.01)


def test_unwritable_output_fails_before_solving(tmp_path):
    """An output that cannot be written is a user error named with its path, found before any solving, and no
    other output of the run is written."""
    code, output = invoke("plan", WORKED_EXAMPLE, "--json", tmp_path / "plan.json", "--csv", "/proc/planner-out",
                          "--no-risk")
    assert code == 2
    assert "/proc/planner-out: cannot write here" in output
    assert not (tmp_path / "plan.json").exists()


def test_training_only_plan_gets_its_workbook_and_risk(tmp_path):
    """No inference service: the risk evaluation has nothing to allocate, and still prices the plan (the
    deterministic run equals the optimum: 2 node-quarters of training on one owned node = 2 × $2,000)."""
    path = write_scenario(tmp_path / "s", catalog=[sku()], sites=[OWNED_FREE_ENERGY],
                          workloads=[training("pretrain", 1, 15.768, "2027Q1", "2027Q2")],
                          throughput=[("pretrain", "a", 1000)], quarters=2)
    code, output = invoke("plan", path, "--json", tmp_path / "plan.json", "-o", tmp_path / "plan.xlsx")
    assert code == 0, output
    assert "(objective $4,000.00)" in output and (tmp_path / "plan.xlsx").exists()
    code, output = invoke("evaluate", path, "--plan", tmp_path / "plan.json", "--deterministic", "--float64")
    assert code == 0, output
    assert "deterministic TCO $4,000.00" in output


def test_evaluate_refuses_a_plan_that_does_not_hold(tmp_path):
    plan_path = tmp_path / "plan.json"
    assert invoke("plan", WORKED_EXAMPLE, "--json", plan_path)[0] == 0
    plan = json.loads(plan_path.read_text())
    plan["purchases"][0]["nodes"] = 2.5
    plan_path.write_text(json.dumps(plan))
    code, output = invoke("evaluate", WORKED_EXAMPLE, "--plan", plan_path, "--samples", "10")
    assert code == 2
    assert "plan.json" in output and "planner verify" in output


def test_a_broken_command_module_fails_loudly(tmp_path, monkeypatch):
    """A command whose module cannot be imported is not dropped: `--help` lists it as BROKEN and running it exits 1
    naming the module and the exception; the commands beside it still work."""
    from planner.cli import BROKEN_EXIT_CODE, PlannerGroup, register_commands

    package = tmp_path / "fake_commands"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "fine.py").write_text("import click\n\n\n@click.command()\ndef command():\n    click.echo('fine ran')\n")
    (package / "broken.py").write_text("import no_such_dependency_for_planner  # noqa\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    group = PlannerGroup("planner")
    register_commands(group, "fake_commands", ("fine", "broken"))

    runner = CliRunner()
    listing = runner.invoke(group, ["--help"])
    assert listing.exit_code == 0 and "fine" in listing.output
    assert "broken  BROKEN: fake_commands.broken failed to import" in listing.output
    broken = runner.invoke(group, ["broken", "scenario.yaml", "--json", "x.json"])
    assert broken.exit_code == BROKEN_EXIT_CODE == 1
    assert broken.stderr == ("error: command 'broken' is unavailable: importing fake_commands.broken failed: "
                             "ModuleNotFoundError: No module named 'no_such_dependency_for_planner'\n")
    fine = runner.invoke(group, ["fine"])
    assert fine.exit_code == 0 and fine.output == "fine ran\n"


def test_every_shipped_command_is_registered():
    """The real group holds every command module, none of them broken."""
    from planner.cli import COMMANDS

    assert sorted(main.commands) == sorted(COMMANDS)
    assert not [name for name, command in main.commands.items() if (command.help or "").startswith("BROKEN")]
