"""What every scenario shares: figures and their statistics, the result table and JSON, time budgets.

Nothing here starts a process, so tests/unit/test_benchmarks.py covers all of it.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from benchmarks.ha import Clusters

Clock = Callable[[], float]
COLUMNS = ("scenario", "figure", "runs", "min", "median", "max", "unit")


@dataclass
class Figure:
    """One measured quantity of a scenario, one value per run (or per sample, where a run takes several)."""

    scenario: str
    name: str
    unit: str
    values: list[float] = field(default_factory=list)

    def stats(self) -> tuple[float, float, float] | None:
        """(min, median, max), or None before the first value."""
        if not self.values:
            return None
        return min(self.values), statistics.median(self.values), max(self.values)


def format_number(value: float) -> str:
    """Counts as integers, everything else with three significant digits where they mean something."""
    if float(value).is_integer() and abs(value) < 1e6:
        return str(int(value))
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def describe(seconds: Mapping[str, float | None]) -> str:
    """'leader 3.91s, write 19.2s' for a progress line; '-' for what never happened."""
    return ", ".join(
        f"{name} {'-' if value is None else format_number(value) + 's'}" for name, value in seconds.items()
    )


def table_rows(figures: Sequence[Figure]) -> list[tuple[str, ...]]:
    rows = []
    for figure in figures:
        stats = figure.stats()
        cells = tuple(format_number(v) for v in stats) if stats else ("-", "-", "-")
        rows.append((figure.scenario, figure.name, str(len(figure.values)), *cells, figure.unit))
    return rows


def render_table(figures: Sequence[Figure]) -> str:
    """One plain-text table; the numeric columns are right-aligned so their digits line up."""
    rows = [COLUMNS, *table_rows(figures)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    aligns = "<<>>>><"
    lines = []
    for row in rows:
        cells = [f"{cell:{align}{width}}" for cell, align, width in zip(row, aligns, widths, strict=True)]
        lines.append(" | ".join(cells).rstrip())
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(lines)


def results_json(
    figures: Sequence[Figure], *, started: str, total_seconds: float, runs: int, scenarios: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """The JSON document written next to the table: every raw value, not only the summary."""
    out = []
    for figure in figures:
        stats = figure.stats()
        out.append(
            {
                "scenario": figure.scenario,
                "figure": figure.name,
                "unit": figure.unit,
                "runs": len(figure.values),
                "min": stats[0] if stats else None,
                "median": stats[1] if stats else None,
                "max": stats[2] if stats else None,
                "values": [round(v, 4) for v in figure.values],
            }
        )
    return {
        "started": started,
        "total_seconds": round(total_seconds, 1),
        "runs": runs,
        "scenarios": scenarios,
        "figures": out,
    }


@dataclass(frozen=True)
class Estimate:
    """Measured wall time of a scenario on the 2-core reference machine: set-up plus each run."""

    fixed: float
    per_run: float

    def seconds(self, runs: int) -> float:
        return self.fixed + self.per_run * runs


@dataclass(frozen=True)
class Deadline:
    ends: float
    clock: Clock = time.monotonic

    def left(self) -> float:
        return self.ends - self.clock()

    def expired(self) -> bool:
        return self.left() <= 0


# A scenario may overrun its estimate by this factor before its later runs are dropped.
SLACK = 1.5


class Budget:
    """The suite's wall-time limit, handed out to scenarios as deadlines.

    A scenario gets its estimate with some slack, but never the time reserved for the scenarios still
    to come, so one slow scenario costs its own later runs rather than the whole suite's limit.
    """

    def __init__(self, limit: float, clock: Clock = time.monotonic) -> None:
        self.limit = limit
        self.clock = clock
        self.started = clock()

    def elapsed(self) -> float:
        return self.clock() - self.started

    def deadline(self, estimate: float, reserved_after: float) -> Deadline:
        remaining = self.limit - self.elapsed() - reserved_after
        return Deadline(self.clock() + max(0.0, min(estimate * SLACK, remaining)), self.clock)


@dataclass
class Context:
    """What a scenario gets from the suite; figures made here survive the scenario failing half-way."""

    clusters: Clusters
    workdir: Path
    deadline: Deadline
    scenario: str = ""
    figures: list[Figure] = field(default_factory=list)

    def figure(self, name: str, unit: str) -> Figure:
        figure = Figure(self.scenario, name, unit)
        self.figures.append(figure)
        return figure

    def runs(self, count: int) -> Iterator[int]:
        """Run indices up to `count`; the first always, later ones only while the deadline holds."""
        for run in range(count):
            if run and self.deadline.expired():
                self.log(f"deadline reached: stopping after {run} of {count} runs")
                return
            self.log(f"run {run + 1}/{count}")
            yield run

    def log(self, message: str) -> None:
        # Progress goes to stderr so stdout carries only the result table.
        print(f"[{self.scenario}] {message}", file=sys.stderr, flush=True)
