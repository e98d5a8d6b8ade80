"""Quarter labels (`2027Q1`) <-> integers.

Models work in *relative* quarter numbers (0 = the scenario's start), so vintages and lead times are plain
integer arithmetic; labels appear only at the edges (input parsing, reports).
"""

from __future__ import annotations

import re

HOURS_PER_QUARTER = 2190.0  # 8,760 h / 4: the cost convention of docs/conventions.md
QUARTERS_PER_YEAR = 4

_QUARTER = re.compile(r"^\s*(\d{4})\s*[Qq]([1-4])\s*$")


def parse_quarter(label: str) -> int:
    """Absolute quarter ordinal (year·4 + quarter − 1); raises ValueError on anything but `YYYYQn`."""
    match = _QUARTER.match(str(label))
    if not match:
        raise ValueError(f"{label!r} is not a quarter like 2027Q1")
    return int(match.group(1)) * QUARTERS_PER_YEAR + int(match.group(2)) - 1


def format_quarter(ordinal: int) -> str:
    year, index = divmod(int(ordinal), QUARTERS_PER_YEAR)
    return f"{year}Q{index + 1}"


class Horizon:
    """The planning horizon: `quarters` consecutive quarters from `start` (an absolute ordinal)."""

    def __init__(self, start: int, quarters: int):
        self.start = int(start)
        self.quarters = int(quarters)

    def relative(self, label: str) -> int:
        """Quarter number relative to the start (negative before it)."""
        return parse_quarter(label) - self.start

    def label(self, relative: int) -> str:
        return format_quarter(self.start + int(relative))

    @property
    def labels(self) -> list[str]:
        return [self.label(i) for i in range(self.quarters)]

    def contains(self, relative: int) -> bool:
        return 0 <= relative < self.quarters
