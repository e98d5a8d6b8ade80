"""Errors the CLI maps to exit codes: user input problems exit 2, solver trouble exits 1.

The bottom of the layers (docs/architecture.md): models/, reports/ and planner/ all raise these, and this module
imports nothing of the project, so the mathematics can report a bad input without knowing the command line.
"""

from __future__ import annotations

from dataclasses import dataclass


YAML_SUFFIXES = (".yaml", ".yml")  # a Problem in such a file names a line and a key, not a row and a column


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input, located as a spreadsheet user would find it."""

    file: str
    message: str
    row: int | None = None  # spreadsheet row: the header is row 1, the first data row is row 2
    column: str | None = None

    def __str__(self) -> str:
        """`demand.csv, row 4, column tokens_per_s: …` in a table; `scenario.yaml, line 7, key demand: …` in a
        scenario file (YAML_SUFFIXES), where `row` holds the line of the key."""
        yaml_file = self.file.lower().endswith(YAML_SUFFIXES)
        where = self.file
        if self.row is not None:
            where += f", {'line' if yaml_file else 'row'} {self.row}"
        if self.column is not None:
            where += f", {'key' if yaml_file else 'column'} {self.column}"
        return f"{where}: {self.message}"


class InputError(Exception):
    """The scenario cannot be used as given; carries every problem found, not just the first."""

    exit_code = 2

    def __init__(self, problems: list[Problem] | Problem | str):
        if isinstance(problems, str):
            problems = [Problem("scenario", problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class SolverError(Exception):
    """The solver gave no usable plan (infeasible, or nothing found in time)."""

    exit_code = 1
