"""The plan's tables as CSV files (the same tables as the workbook's sheets), each written atomically."""

from __future__ import annotations

from pathlib import Path

from models.scenario import Scenario
from reports.atomic import write_atomic
from reports.cells import neutral_frame
from reports.tables import build_tables


def write_csv_tables(directory: str | Path, plan: dict, scenario: Scenario) -> list[Path]:
    """One `<table>.csv` per table in `reports.tables.build_tables` (tidy: a header row, no total rows).

    Text that a spreadsheet program would read as a formula (`=x`, `+x`, `-x`, `@x`, a leading tab or carriage
    return) is written with a leading `'` (OWASP's CSV-injection rule, reports/cells.py); numbers stay numbers.
    """
    directory = Path(directory)
    tables = build_tables(plan, scenario)  # built in full first: a bad plan writes no file at all
    written = []
    for name, frame in tables.items():
        text = neutral_frame(frame).to_csv(index=False, lineterminator="\n")
        written.append(write_atomic(directory / f"{name}.csv", lambda tmp, text=text: tmp.write_text(text)))
    return written
