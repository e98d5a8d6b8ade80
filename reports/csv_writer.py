"""The plan's tables as CSV files (the same tables as the workbook's sheets), each written atomically."""

from __future__ import annotations

from pathlib import Path

from reports.atomic import write_atomic
from reports.tables import build_tables


def write_csv_tables(directory: str | Path, plan: dict, scenario) -> list[Path]:
    """One `<table>.csv` per table in `reports.tables.build_tables` (tidy: a header row, no total rows).

    Values are written as data (no spreadsheet escaping): a name such as `=x` stays `=x` for the next program.
    """
    directory = Path(directory)
    tables = build_tables(plan, scenario)  # built in full first: a bad plan writes no file at all
    written = []
    for name, frame in tables.items():
        text = frame.to_csv(index=False, lineterminator="\n")
        written.append(write_atomic(directory / f"{name}.csv", lambda tmp, text=text: tmp.write_text(text)))
    return written
