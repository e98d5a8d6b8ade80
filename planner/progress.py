"""What a long solve is doing, on stderr: a live line on a terminal, one summary line otherwise.

The solver layer calls `SolveProgress(elapsed_s, incumbent_usd, bound_usd)` whenever it knows more (HiGHS many
times a second, the warm start once, SCIP only at the end). stdout stays for results; `--quiet` silences this.
"""

from __future__ import annotations

import math
import sys
import threading
import time

REFRESH_S = 0.25  # a terminal line redrawn at most four times a second


class SolveProgress:
    def __init__(self, quiet: bool = False, stream=None):
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.live = not quiet and self.stream.isatty()
        self.last: tuple[float, float | None, float | None] | None = None
        self._drawn_at = 0.0
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> "SolveProgress":
        """On a terminal, keep the clock moving while a solver that reports nothing (SCIP) works."""
        self._started = time.monotonic()
        if self.live:
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        if exc[0] is None:
            self.finish()
        elif self.live:
            self.stream.write("\r\x1b[K")
            self.stream.flush()

    def _tick(self) -> None:
        while not self._stop.wait(REFRESH_S):
            with self._lock:
                _, incumbent, bound = self.last or (0.0, None, None)
                self.last = (time.monotonic() - self._started, incumbent, bound)
                self._draw()

    def __call__(self, elapsed_s: float, incumbent_usd: float | None, bound_usd: float | None) -> None:
        """A solver's report; `elapsed_s` is its own clock, the line shows the whole solve's."""
        with self._lock:
            self.last = (time.monotonic() - self._started, _finite(incumbent_usd), _finite(bound_usd))
            if self.live and time.monotonic() - self._drawn_at >= REFRESH_S:
                self._draw()

    def _draw(self) -> None:
        self._drawn_at = time.monotonic()
        self.stream.write("\r\x1b[K" + self.line())
        self.stream.flush()

    def line(self) -> str:
        if self.last is None:
            return "solving…"
        elapsed_s, incumbent, bound = self.last
        plan = f"best plan ${incumbent:,.0f}" if incumbent is not None else "no plan yet"
        proven = f", bound ${bound:,.0f}" if bound is not None else ""
        gap = ""
        if incumbent is not None and bound is not None and incumbent > 0:
            gap = f", gap {max(0.0, incumbent - bound) / incumbent:.2%}"
        return f"solving: {elapsed_s:6.1f} s, {plan}{proven}{gap}"

    def finish(self) -> None:
        """Close the live line, or print the last state once where stderr is not a terminal."""
        if self.quiet or self.last is None:
            return
        if self.live:
            self.stream.write("\r\x1b[K" + self.line() + "\n")
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()


def _finite(value: float | None) -> float | None:
    if value is None or not math.isfinite(value) or abs(value) >= 1e30:  # HiGHS reports "none yet" as ±1e30+
        return None
    return value


class PointsProgress:
    """Scenarios or sweep points done out of the total, and how many failed: a bar redrawn on a terminal, one line
    per finished point otherwise (a log then says which point ended how). `--quiet` silences it."""

    BAR_WIDTH = 30  # characters of the bar on a terminal

    def __init__(self, total: int, quiet: bool = False, stream=None):
        self.stream = stream if stream is not None else sys.stderr
        self.quiet, self.total = quiet, total
        self.live = not quiet and self.stream.isatty()
        self.done = self.failed = 0
        self._started = time.monotonic()

    def __enter__(self) -> "PointsProgress":
        self._started = time.monotonic()
        return self

    def __exit__(self, *exc) -> None:
        if self.live and self.done:
            self.stream.write("\n")
            self.stream.flush()

    def __call__(self, label: str, status: str, failed: bool) -> None:
        """One point finished: `label` names it, `status` is its plan's status or the error."""
        self.done += 1
        self.failed += failed
        if self.quiet:
            return
        if self.live:
            filled = self.BAR_WIDTH * self.done // max(self.total, 1)
            self.stream.write(f"\r\x1b[K[{'#' * filled}{'.' * (self.BAR_WIDTH - filled)}] {self.line()}")
        else:
            self.stream.write(f"{self.line()}: {label}: {status}\n")
        self.stream.flush()

    def line(self) -> str:
        failed = f", {self.failed} failed" if self.failed else ""
        return f"{self.done}/{self.total} done{failed}, {time.monotonic() - self._started:.1f} s"


def stderr_say(quiet: bool, prefix: str = "stochastic"):
    """A line of progress on stderr (`prefix: text`), or nothing under --quiet."""
    def say(text: str) -> None:
        if not quiet:
            sys.stderr.write(f"{prefix}: {text}\n")
            sys.stderr.flush()
    return say
