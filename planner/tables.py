"""Read one input table (CSV, or XLSX first sheet / `file.xlsx#Sheet`) as strings, exactly as the user wrote it.

Everything is read as text so that validation, not the reader, decides what is wrong, and can point at the
spreadsheet row and column. Before anything is parsed the file itself is checked: a regular file (not a
directory, device, FIFO or symlink loop), within the size limits below, UTF-8 (a BOM is fine) for CSV. Inputs
come from many hands; a hostile or broken file must give a message, never a traceback or a 4 GB process.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from models.errors import InputError, Problem

FIRST_DATA_ROW = 2  # spreadsheet numbering: the header is row 1

# Limits checked before a file is parsed. The shipped example's largest table is 2 kB and 60 rows; a planning
# table of 1,000 workloads x 400 quarters is 400,000 rows and ~20 MB. The limits sit well above that and well
# below what exhausts a laptop (a 1 GB shared-strings bomb took 240 s and 3.9 GB before these checks).
MAX_TABLE_BYTES = 64 * 1024 * 1024  # a CSV or an XLSX file on disk
MAX_XLSX_UNCOMPRESSED_BYTES = 256 * 1024 * 1024  # all members of the XLSX zip, as they would be inflated
MAX_XLSX_SHEETS = 256
MAX_TABLE_ROWS = 500_000  # data rows of one table
MAX_TABLE_COLUMNS = 200
MAX_YAML_BYTES = 1024 * 1024  # a scenario file is a few hundred bytes of keys

XLSX_SUFFIXES = (".xlsx", ".xlsm")


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


def printable(text: str) -> str:
    """`text` with control and format characters escaped (`\\x1b`, `\\u202e`): a name from an input file must
    not retitle, clear or reorder the user's terminal when a message quotes it."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def check_input_file(path: Path, label: str, limit_bytes: int, noun: str = "file") -> None:
    """Raise InputError unless `path` is a readable regular file of at most `limit_bytes`.

    Named cases: missing, a symlink loop, a directory, a device, a FIFO or socket (reading one would block or
    never end), too large.
    """
    try:
        info = os.stat(path)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise InputError(Problem(label, f"is a symbolic link loop ({path})")) from None
        if error.errno in (errno.ENOENT, errno.ENOTDIR):
            raise InputError(Problem(label, f"{noun} not found ({path})")) from None
        raise InputError(Problem(label, f"cannot read: {error.strerror or error} ({path})")) from None
    mode = info.st_mode
    kind = ("a directory" if stat.S_ISDIR(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else None if stat.S_ISREG(mode) else "not a regular file")
    if kind:
        raise InputError(Problem(label, f"is {kind}, not a file ({path})"))
    if info.st_size > limit_bytes:
        raise InputError(Problem(label, f"file is {info.st_size / 2**20:,.1f} MiB, above the "
                                        f"{limit_bytes / 2**20:,.0f} MiB limit for an input file"))
    if not os.access(path, os.R_OK):
        raise InputError(Problem(label, f"cannot read: permission denied ({path})"))


def decode_text(data: bytes, label: str) -> str:
    """UTF-8 (with or without a BOM), or an InputError saying where the first bad byte is."""
    if b"\x00" in data[:8192]:
        raise InputError(Problem(label, "is a binary file, not UTF-8 text"))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise InputError(Problem(label, f"is not UTF-8 text (byte 0x{data[error.start]:02x} at offset "
                                        f"{error.start:,}, line {line}); save it as UTF-8", row=line)) from None


def read_table(spec: str, base_dir: Path, label: str | None = None) -> RawTable:
    """Read a table named relative to the scenario file; raise InputError naming the file if unreadable."""
    name, sheet = split_sheet(str(spec))
    path = (base_dir / name).absolute()
    label = label or str(spec)
    check_input_file(path, label, MAX_TABLE_BYTES)
    if path.suffix.lower() in XLSX_SUFFIXES:
        header, rows = _read_xlsx(path, sheet, label)
    elif sheet is not None:
        raise InputError(Problem(label, "a '#Sheet' suffix is only meaningful for .xlsx workbooks"))
    else:
        header, rows = _read_csv(path, label)
    header = [str(name).strip() for name in header]
    repeated = sorted({name for name in header if name and header.count(name) > 1})
    if repeated:  # two columns of one name are ambiguous
        raise InputError([Problem(label, f"duplicate column '{name}'", row=1, column=name) for name in repeated])
    # Cells stripped; fully blank lines (trailing rows in a workbook) are not data, but keep their position
    # in the index so messages give the spreadsheet row.
    stripped = [[value.strip() for value in row] for row in rows]
    kept = [i for i, row in enumerate(stripped) if any(row)]
    frame = pd.DataFrame([stripped[i] for i in kept], columns=header, index=pd.Index(kept, dtype=int),
                         dtype=object)
    return RawTable(label=label, path=path.resolve(), frame=frame)


def _read_csv(path: Path, label: str) -> tuple[list[str], list[list[str]]]:
    data = path.read_bytes()
    text = decode_text(data, label)
    rows_seen = text.count("\n")
    if rows_seen > MAX_TABLE_ROWS + 1:
        raise InputError(Problem(label, f"has {rows_seen:,} lines, above the {MAX_TABLE_ROWS:,}-row limit "
                                        "for one table"))
    try:
        lines = list(csv.reader(io.StringIO(text, newline=""), skipinitialspace=True))
    except csv.Error as error:
        raise InputError(Problem(label, f"cannot read as CSV: {error}")) from None
    if not lines or not any(lines[0]):
        raise InputError(Problem(label, "is empty: the first line must be the header", row=1))
    header, body = lines[0], lines[1:]
    if len(header) > MAX_TABLE_COLUMNS:
        raise InputError(Problem(label, f"has {len(header):,} columns, above the limit of {MAX_TABLE_COLUMNS}",
                                 row=1))
    width = len(header)
    long_rows = [i for i, row in enumerate(body) if len(row) > width and any(v.strip() for v in row[width:])]
    if long_rows:
        raise InputError([Problem(label, f"{len(body[i])} fields but the header has {width} (quote a value "
                                         "that holds a comma; separate a list of sites with ';')",
                                  row=i + FIRST_DATA_ROW) for i in long_rows])
    rows = [(row + [""] * width)[:width] for row in body]
    return header, rows


def _read_xlsx(path: Path, sheet: str | None, label: str) -> tuple[list[str], list[list[str]]]:
    """The sheet's cells as text, after checking the zip's inflated size, the sheet count and the rows.

    A formula cell is read as the value Excel saved with it; one saved without a value (written by a program
    that does not calculate) is named as such instead of reading as empty.
    """
    import openpyxl

    try:
        with zipfile.ZipFile(path) as archive:
            inflated = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, OSError) as error:
        raise InputError(Problem(label, f"is not a readable .xlsx workbook ({error})")) from None
    if inflated > MAX_XLSX_UNCOMPRESSED_BYTES:
        raise InputError(Problem(label, f"workbook inflates to {inflated / 2**20:,.0f} MiB, above the "
                                        f"{MAX_XLSX_UNCOMPRESSED_BYTES / 2**20:,.0f} MiB limit"))
    try:
        values = openpyxl.load_workbook(path, read_only=True, data_only=True)
        formulas = openpyxl.load_workbook(path, read_only=True, data_only=False)
    except Exception as error:  # noqa: BLE001 - any parser failure is the user's file, not our bug
        raise InputError(Problem(label, f"is not a readable .xlsx workbook ({type(error).__name__}: "
                                        f"{error})")) from None
    try:
        names = values.sheetnames
        if len(names) > MAX_XLSX_SHEETS:
            raise InputError(Problem(label, f"has {len(names):,} sheets, above the limit of {MAX_XLSX_SHEETS}"))
        if not names:
            raise InputError(Problem(label, "has no sheets"))
        if sheet is not None and sheet not in names:
            raise InputError(Problem(label, f"no sheet named '{sheet}'; the workbook's sheets are: "
                                            + ", ".join(f"'{n}'" for n in names)))
        title = sheet if sheet is not None else names[0]
        ws, ws_formulas = values[title], formulas[title]
        cells = _bounded_rows(ws, label, title)
        formula_rows = _bounded_rows(ws_formulas, label, title)
    finally:
        values.close()
        formulas.close()
    if not cells:
        raise InputError(Problem(label, f"sheet '{title}' is empty: the first row must be the header", row=1))
    problems = []
    for r, (row, row_formulas) in enumerate(zip(cells, formula_rows)):
        for c, (value, written) in enumerate(zip(row, row_formulas)):
            if value is None and isinstance(written, str) and written.startswith("="):
                column = str(cells[0][c]) if c < len(cells[0]) and cells[0][c] is not None else f"#{c + 1}"
                problems.append(Problem(label, f"formula {written[:60]} has no saved value (the file was not "
                                               "calculated: open and save it in a spreadsheet program, or paste "
                                               "values)", row=r + 1, column=column))
    if problems:
        raise InputError(problems)
    width = len(cells[0])
    while width and cells[0][width - 1] is None:  # trailing empty header cells
        width -= 1
    header = ["" if v is None else _cell_text(v) for v in cells[0][:width]]
    rows = [[_cell_text(v) for v in (row + [None] * width)[:width]] for row in cells[1:]]
    return header, rows


def _bounded_rows(ws, label: str, title: str) -> list[list]:
    """The sheet's rows, refusing more rows or columns than the limits (counted while streaming, since a
    sheet's declared dimension may be missing or wrong)."""
    rows = []
    for row in ws.iter_rows(values_only=True):
        if len(rows) > MAX_TABLE_ROWS:
            raise InputError(Problem(label, f"sheet '{title}' has more than {MAX_TABLE_ROWS:,} rows, the limit "
                                            "for one table"))
        if len(row) > MAX_TABLE_COLUMNS and any(v is not None for v in row[MAX_TABLE_COLUMNS:]):
            raise InputError(Problem(label, f"sheet '{title}' has more than {MAX_TABLE_COLUMNS} columns, the "
                                            "limit for one table", row=len(rows) + 1))
        rows.append(list(row[:MAX_TABLE_COLUMNS]))
    return rows


def _cell_text(value) -> str:
    """A cell as the text a user sees: whole floats without '.0', empty for an empty cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).upper()
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
