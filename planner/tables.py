"""Read one input table (CSV, or XLSX first sheet / `file.xlsx#Sheet`) as strings, exactly as the user wrote it.

Everything is read as text so that validation, not the reader, decides what is wrong, and can point at the
spreadsheet row and column.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from models.errors import InputError, Problem

FIRST_DATA_ROW = 2  # spreadsheet numbering: the header is row 1


@dataclass(frozen=True)
class RawTable:
    label: str  # how messages name the file: as written in the scenario
    path: Path
    frame: pd.DataFrame  # all cells as stripped strings, "" for empty

    def row_number(self, index_label: int) -> int:
        """Spreadsheet row of a frame index label (the frame keeps the reader's positional index)."""
        return int(index_label) + FIRST_DATA_ROW


def split_sheet(spec: str) -> tuple[str, str | None]:
    """`book.xlsx#Sheet` -> ("book.xlsx", "Sheet"); a CSV or bare workbook has no sheet."""
    if "#" in spec:
        name, sheet = spec.rsplit("#", 1)
        return name, sheet
    return spec, None


def read_table(spec: str, base_dir: Path, label: str | None = None) -> RawTable:
    """Read a table named relative to the scenario file; raise InputError naming the file if unreadable."""
    name, sheet = split_sheet(str(spec))
    path = (base_dir / name).resolve()
    label = label or str(spec)
    if not path.is_file():
        raise InputError(Problem(label, f"file not found ({path})"))
    try:
        if path.suffix.lower() in (".xlsx", ".xlsm"):
            frame = pd.read_excel(path, sheet_name=sheet if sheet is not None else 0, dtype=str,
                                  engine="openpyxl")
        elif sheet is not None:
            raise InputError(Problem(label, "a '#Sheet' suffix is only meaningful for .xlsx workbooks"))
        else:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except InputError:
        raise
    except (ValueError, KeyError) as exc:  # unknown sheet, malformed CSV
        raise InputError(Problem(label, f"cannot read table: {exc}")) from None
    except Exception as exc:  # noqa: BLE001 - any parser failure is the user's file, not our bug
        raise InputError(Problem(label, f"cannot read table: {type(exc).__name__}: {exc}")) from None
    _check_unique_header(path, sheet, label)
    frame = frame.fillna("").astype(str)
    frame.columns = [str(c).strip() for c in frame.columns]
    frame = frame.apply(lambda col: col.str.strip())
    # Fully blank lines (trailing rows in a workbook) are not data.
    frame = frame.loc[~(frame == "").all(axis=1)]
    return RawTable(label=label, path=path, frame=frame)


def _check_unique_header(path: Path, sheet: str | None, label: str) -> None:
    """pandas renames a repeated header to 'name.1' and reads on; a table with two columns of one name is
    ambiguous, so it is an error naming the column."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        header = pd.read_excel(path, sheet_name=sheet if sheet is not None else 0, header=None, nrows=1,
                               dtype=str, engine="openpyxl")
    else:
        header = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False)
    names = [str(name).strip() for name in header.iloc[0].tolist()] if len(header) else []
    repeated = sorted({name for name in names if name and names.count(name) > 1})
    if repeated:
        raise InputError([Problem(label, f"duplicate column '{name}'", row=1, column=name) for name in repeated])


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
