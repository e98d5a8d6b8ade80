"""The solve progress line (planner/progress.py): live on a terminal, one summary line otherwise, silent when quiet."""

from __future__ import annotations

import io

from planner.progress import SolveProgress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_pipe_gets_one_summary_line_with_incumbent_bound_and_gap():
    """Incumbent $1,000,000 against a bound of $990,000: gap 10,000 / 1,000,000 = 1.00 %."""
    stream = io.StringIO()
    with SolveProgress(stream=stream) as progress:
        progress(1.0, 1_200_000.0, 900_000.0)
        progress(2.0, 1_000_000.0, 990_000.0)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert "best plan $1,000,000" in lines[0] and "bound $990,000" in lines[0] and "gap 1.00%" in lines[0]


def test_no_plan_yet_and_highs_infinities_are_said_in_words():
    stream = io.StringIO()
    with SolveProgress(stream=stream) as progress:
        progress(0.5, float("inf"), -1e300)
    assert "no plan yet" in stream.getvalue() and "bound" not in stream.getvalue()


def test_quiet_prints_nothing():
    stream = Terminal()
    with SolveProgress(quiet=True, stream=stream) as progress:
        progress(1.0, 10.0, 9.0)
    assert stream.getvalue() == ""


def test_a_terminal_gets_a_live_line_redrawn_in_place_and_closed_with_a_newline():
    stream = Terminal()
    with SolveProgress(stream=stream) as progress:
        progress(1.0, 10.0, 9.0)
    text = stream.getvalue()
    assert text.startswith("\r\x1b[K") and text.endswith("\n") and text.count("\n") == 1
