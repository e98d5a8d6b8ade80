"""Property-based fuzzing of the loader: corrupted tables and YAML give an input error naming a file, never a
traceback, and nothing is written.

Each example takes the worked example (tests/cases/worked-example, plus a one-node fleet so every table is
present), corrupts one file (a table or the YAML) in one of the ways inputs really break -- dropped, renamed or
duplicated columns; wrong types, NaN/inf, extremes, unicode and control characters in cells; other encodings;
truncation; ragged rows; duplicated keys; wrong sheets; alias bombs -- and calls the loader in-process. A
corruption marked `must_fail` cannot leave a valid scenario (a required column gone, a non-number in a number
column, a duplicated key ...): it must raise InputError. Any corruption may raise only InputError, every problem
must name one of the scenario's files, and no file may appear in the folder. The test prints how many corrupted
inputs it tried (at least FUZZ_EXAMPLES per run).
"""

from __future__ import annotations

import csv
import io
import shutil
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from models.errors import InputError
from planner.scenario import load_scenario
from planner.tables import printable

WORKED = Path(__file__).resolve().parent / "cases" / "worked-example"
TABLES = ("catalog.csv", "sites.csv", "fleet.csv", "workloads.csv", "demand.csv", "throughput.csv")
FUZZ_EXAMPLES = 1_000  # corrupted inputs per run (the floor)
BAD_CELLS = ["abc", "nan", "NaN", "inf", "-inf", "Infinity", "1e309", "-1e309", "-1", "0", "1e300", "-1e300",
             "1e-300", "2027Q5", "99999Q1", "0x10", "1,5", "名前", "\x1b]0;pwned\x07", "\u202eevil", "\x00",
             "=cmd|' /C calc'!A0", "x" * 300, "TRUE", " ", "1e19", "18446744073709551617"]
COUNTS = {"tried": 0, "rejected": 0, "loaded": 0}


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """The worked example with a fleet table (1 node of `h` at site A since 2026Q1), as pristine bytes."""
    folder = tmp_path_factory.mktemp("fuzz-base")
    for path in WORKED.iterdir():
        if path.suffix in (".csv", ".yaml"):
            shutil.copy(path, folder / path.name)
    (folder / "fleet.csv").write_text("site,sku,nodes,installed\nA,h,1,2026Q1\n")
    (folder / "scenario.yaml").write_text((WORKED / "scenario.yaml").read_text() + "fleet: fleet.csv\n")
    load_scenario(folder / "scenario.yaml")  # the uncorrupted base is valid
    return folder


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def _csv(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def _required(name: str) -> list[str]:
    """Columns whose absence is always an error (required, or required in the header)."""
    from planner import schema as S

    table = {"catalog.csv": S.CATALOG, "sites.csv": S.SITES, "fleet.csv": S.FLEET, "workloads.csv": S.WORKLOADS,
             "demand.csv": S.DEMAND, "throughput.csv": S.THROUGHPUT}[name]
    return [c.name for c in table.columns if c.required or c.in_header]


@st.composite
def table_corruption(draw, base: Path):
    """(file name, new bytes, must_fail, extra files) for one corrupted table."""
    name = draw(st.sampled_from(TABLES))
    text = (base / name).read_text()
    rows = _rows(text)
    header = rows[0]
    kind = draw(st.sampled_from(["drop", "rename", "duplicate", "cell", "cells", "truncate", "latin1", "utf16",
                                 "ragged", "bytes", "xlsx-sheet", "empty", "header-only"]))
    required = [i for i, column in enumerate(header) if column in _required(name)]
    if kind in ("drop", "rename"):
        i = draw(st.sampled_from(required))
        new_name = draw(st.sampled_from(["", "x", header[i].upper() + "_", "名", header[i] + "\x1b"]))
        new = [[v for j, v in enumerate(row) if j != i] for row in rows] if kind == "drop" else \
            [[new_name if j == i else v for j, v in enumerate(rows[0])]] + rows[1:]
        return name, _csv(new).encode(), True, {}
    if kind == "duplicate":
        i = draw(st.integers(0, len(header) - 1))
        return name, _csv([row + [row[i]] for row in rows]).encode(), True, {}
    if kind in ("cell", "cells"):
        new = [list(row) for row in rows]
        for _ in range(1 if kind == "cell" else draw(st.integers(2, 6))):
            r = draw(st.integers(1, len(new) - 1))
            c = draw(st.integers(0, len(header) - 1))
            new[r][c] = draw(st.sampled_from(BAD_CELLS) | st.text(max_size=20))
        return name, _csv(new).encode(), False, {}
    if kind == "truncate":
        data = text.encode()
        return name, data[: draw(st.integers(0, len(data) - 1))], False, {}
    if kind == "latin1":
        new = [list(row) for row in rows]
        new[draw(st.integers(1, len(new) - 1))][0] += "é"
        return name, _csv(new).encode("latin-1"), True, {}
    if kind == "utf16":
        return name, text.encode("utf-16"), True, {}
    if kind == "ragged":
        new = [list(row) for row in rows]
        new[draw(st.integers(1, len(new) - 1))] += ["extra", "fields"]
        return name, _csv(new).encode(), True, {}
    if kind == "bytes":
        data = bytearray(text.encode())
        position = draw(st.integers(0, len(data)))
        data[position:position] = draw(st.binary(min_size=1, max_size=8))
        return name, bytes(data), False, {}
    if kind == "xlsx-sheet":  # the table moved into a workbook, named with a sheet that does not exist
        return name, text.encode(), True, {"sheet": draw(st.sampled_from(["Sheet2", "demand", "", "Dem and"]))}
    if kind == "empty":
        return name, b"", True, {}
    return name, (text.splitlines()[0] + "\n").encode(), name not in ("fleet.csv", "demand.csv",
                                                                     "throughput.csv"), {}


@st.composite
def yaml_corruption(draw, base: Path):
    """(file name, new bytes, must_fail, extra) for the corrupted scenario.yaml."""
    text = (base / "scenario.yaml").read_text()
    config = yaml.safe_load(text)
    kind = draw(st.sampled_from(["duplicate", "type", "delete", "truncate", "latin1", "bomb", "nest", "value",
                                 "section", "tab"]))
    lines = text.splitlines()
    if kind == "duplicate":
        line = draw(st.sampled_from([line for line in lines if not line.startswith(" ")]))
        return "scenario.yaml", (text + line + "\n").encode(), True, {}
    if kind == "type":
        key = draw(st.sampled_from(["finance", "planning", "catalog", "sites", "workloads", "quarters", "start"]))
        config[key] = draw(st.sampled_from([[1, 2], "text", {"a": 1}, 3.5, True, -1]))
        # an unknown key inside finance/planning is only a warning; everything else here is wrong
        must = not (key in ("finance", "planning") and config[key] == {"a": 1})
        return "scenario.yaml", yaml.safe_dump(config).encode(), must, {}
    if kind == "delete":
        key = draw(st.sampled_from(sorted(config)))
        config.pop(key)
        return "scenario.yaml", yaml.safe_dump(config).encode(), key in ("start", "quarters", "sites", "workloads"), {}
    if kind == "truncate":
        data = text.encode()
        return "scenario.yaml", data[: draw(st.integers(0, len(data) - 1))], False, {}
    if kind == "latin1":
        return "scenario.yaml", ("name: café\n" + text.split("\n", 1)[1]).encode("latin-1"), True, {}
    if kind == "bomb":
        width = draw(st.integers(8, 12))
        levels = ["b0: &b0 [" + ", ".join(["x"] * width) + "]"]
        levels += [f"b{i}: &b{i} [" + ", ".join([f"*b{i - 1}"] * width) + "]" for i in range(1, 6)]
        return "scenario.yaml", (text + "\n".join(levels) + "\n").encode(), True, {}
    if kind == "nest":
        depth = draw(st.integers(60, 1000))
        return "scenario.yaml", (text + "risk: " + "[" * depth + "]" * depth + "\n").encode(), True, {}
    if kind == "value":
        section = draw(st.sampled_from(["finance", "planning"]))
        key = draw(st.sampled_from(sorted(config[section])))
        config[section][key] = draw(st.sampled_from([float("nan"), float("inf"), -1.0, 1e300, "x", [1], None]))
        must = config[section][key] is not None  # null means "the default"
        return "scenario.yaml", yaml.safe_dump(config).encode(), must, {}
    if kind == "section":
        config[draw(st.sampled_from(["risk", "solver", "finance"]))] = draw(st.sampled_from([[1], "x", 5]))
        return "scenario.yaml", yaml.safe_dump(config).encode(), True, {}
    return "scenario.yaml", text.replace("  ", "\t").replace("name:", "name:\t\x07").encode(), False, {}


def _write_xlsx(path: Path, csv_text: str) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    book.active.title = "Data"
    for row in _rows(csv_text):
        book.active.append(row)
    book.save(path)


def _check(folder: Path, name: str, data: bytes, must_fail: bool, extra: dict) -> None:
    """Load with `name` replaced by `data`; InputError naming the scenario's files, or a valid load."""
    scenario = folder / "scenario.yaml"
    if "sheet" in extra:
        xlsx = name.replace(".csv", ".xlsx")
        _write_xlsx(folder / xlsx, data.decode())
        scenario.write_text(scenario.read_text().replace(f": {name}", f": {xlsx}#{extra['sheet']}"))
    else:
        (folder / name).write_bytes(data)
    before = sorted(p.name for p in folder.iterdir())
    labels = set(TABLES) | {"scenario.yaml", "text"} | {f"{t.replace('.csv', '.xlsx')}#{extra.get('sheet')}"
                                                        for t in TABLES}  # "text": a table key set to it
    COUNTS["tried"] += 1
    try:
        load_scenario(scenario)
    except InputError as error:
        COUNTS["rejected"] += 1
        assert error.problems
        for problem in error.problems:  # a truncated YAML may name a truncated table file: a prefix
            assert any(label.startswith(problem.file) for label in labels), (problem.file, str(problem))
            assert printable(str(problem)).isprintable()
    else:
        COUNTS["loaded"] += 1
        assert not must_fail, f"{name} corrupted ({data[:200]!r}) still loaded"
    assert sorted(p.name for p in folder.iterdir()) == before  # the loader writes nothing


@pytest.fixture
def folder(base, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz")
    for path in base.iterdir():
        shutil.copy(path, folder / path.name)
    return folder


def _restore(folder: Path, base: Path) -> None:
    for path in folder.iterdir():
        if not (base / path.name).exists():
            path.unlink()
    for path in base.iterdir():
        shutil.copy(path, folder / path.name)


# No shrinking: a failure prints the corrupted bytes themselves, and shrinking would rerun the loader for minutes.
FUZZ_SETTINGS = settings(max_examples=FUZZ_EXAMPLES // 2, deadline=None, database=None,
                         phases=[Phase.explicit, Phase.generate],
                         suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                                HealthCheck.data_too_large])


@pytest.mark.parametrize("corruption", [table_corruption, yaml_corruption], ids=["tables", "yaml"])
@FUZZ_SETTINGS
@given(data=st.data())
def test_corrupted_inputs_are_input_errors(base, folder, corruption, data):
    name, content, must_fail, extra = data.draw(corruption(base))
    try:
        _check(folder, name, content, must_fail, extra)
    finally:
        _restore(folder, base)


def test_fuzz_count(capsys):
    """Runs after the two property tests (file order): prints (past pytest's capture, so CI logs show it) and
    checks how many corrupted inputs were tried."""
    with capsys.disabled():
        print(f"\nfuzz: {COUNTS['tried']:,} corrupted inputs: {COUNTS['rejected']:,} rejected as input errors, "
              f"{COUNTS['loaded']:,} harmless (loaded as a valid scenario)")
    if COUNTS["tried"] == 0:
        pytest.skip("the property tests were not run in this session (-k / -x)")
    assert COUNTS["tried"] >= FUZZ_EXAMPLES


@pytest.mark.parametrize("corrupt", [
    lambda f: (f / "catalog.csv").write_bytes((f / "catalog.csv").read_bytes().replace(b"node_kw", b"node_kW")),
    lambda f: (f / "demand.csv").write_bytes((f / "demand.csv").read_text().encode("utf-16")),
    lambda f: (f / "scenario.yaml").write_text((f / "scenario.yaml").read_text() + "quarters: 3\n"),
    lambda f: (f / "sites.csv").write_bytes((f / "sites.csv").read_bytes()[:40]),
    lambda f: (f / "workloads.csv").write_bytes((f / "workloads.csv").read_bytes().replace(b",8,", b",\x1b[2J,")),
])
def test_cli_exit_2_names_the_file_and_writes_nothing(folder, tmp_path, corrupt):
    """Through the CLI: `plan` on a corrupted input exits 2, names the file, prints no traceback, writes nothing."""
    from click.testing import CliRunner

    from planner.cli import main

    corrupt(folder)
    out = tmp_path / "out"
    started = time.perf_counter()
    result = CliRunner().invoke(main, ["plan", str(folder / "scenario.yaml"), "--json", str(out / "plan.json"),
                                       "-o", str(out / "plan.xlsx"), "--csv", str(out / "csv")])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "\x1b" not in result.output
    assert any(f"  {name}" in result.output for name in (*TABLES, "scenario.yaml")), result.output
    assert not out.exists()
    assert time.perf_counter() - started < 30
