"""The benchmark suite: `python -m benchmarks [--runs N] [--only SCENARIO ...] [--json PATH]`.

Starts the prod HA topology on loopback (shipped config, the stacks' rendered commands and configs,
PostgreSQL via LocalPostgres), runs each scenario bounded in count and time, stops everything it
started, prints one table and writes every raw value to JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from benchmarks import (
    cold_start,
    dr_drill,
    filer_failover,
    first_up,
    health_function,
    healthcheck,
    leader_failover,
    master_restart,
    mock_evaluation,
    repair,
    rolling_upgrade,
    throughput,
)
from benchmarks.core import Budget, Context, Figure, render_table, results_json
from benchmarks.ha import Clusters

# Execution order: no cluster first (quiet machine), then the shared shipped cluster's scenarios back
# to back, then the ones that start their own clusters. cold-start comes after every other cluster
# start it can take its figures from; rolling-upgrade starts on an older weed, so it comes after that.
SCENARIOS: tuple[ModuleType, ...] = (
    mock_evaluation,
    first_up,
    health_function,
    throughput,
    healthcheck,
    filer_failover,
    leader_failover,
    master_restart,
    cold_start,
    dr_drill,
    repair,
    rolling_upgrade,
)
NAMES = tuple(s.NAME for s in SCENARIOS)
LIMIT_SECONDS = 15 * 60.0
DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "latest.json"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="repetitions of every figure (default 3)")
    parser.add_argument(
        "--only", action="append", choices=NAMES, metavar="SCENARIO", help=f"repeatable; one of {', '.join(NAMES)}"
    )
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write the raw results")
    parser.add_argument(
        "--budget", type=float, default=LIMIT_SECONDS, help=f"wall-time limit in seconds (default {LIMIT_SECONDS:.0f})"
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def plan(only: Sequence[str] | None) -> list[ModuleType]:
    """The selected scenarios in execution order (all of them without --only)."""
    return [s for s in SCENARIOS if not only or s.NAME in only]


def estimate(scenarios: Sequence[ModuleType], runs: int) -> float:
    return sum(s.ESTIMATE.seconds(runs) for s in scenarios)


def run_suite(scenarios: Sequence[ModuleType], runs: int, budget: Budget, workdir: Path) -> dict[str, Any]:
    """Run every scenario; a failing one is recorded and the suite goes on. Returns per-scenario facts."""
    figures: list[Figure] = []
    facts: dict[str, dict[str, Any]] = {}
    clusters = Clusters(workdir)
    try:
        for index, scenario in enumerate(scenarios):
            later = scenarios[index + 1 :]
            deadline = budget.deadline(scenario.ESTIMATE.seconds(runs), estimate(later, runs))
            ctx = Context(clusters, workdir, deadline, scenario.NAME)
            ctx.log(f"start (estimate {scenario.ESTIMATE.seconds(runs):.0f}s, deadline in {deadline.left():.0f}s)")
            started = time.monotonic()
            error = None
            try:
                scenario.run(ctx, runs)
            except Exception as err:
                error = f"{type(err).__name__}: {err}"
                traceback.print_exc(file=sys.stderr)
            finally:
                figures += ctx.figures
                if not any(s.SHARED for s in later):
                    clusters.release_shared()
            seconds = time.monotonic() - started
            facts[scenario.NAME] = {
                "seconds": round(seconds, 1),
                "estimate": scenario.ESTIMATE.seconds(runs),
                "error": error,
            }
            ctx.log(f"done in {seconds:.0f}s" + (f" with error: {error}" if error else ""))
    finally:
        clusters.close()
    return {"figures": figures, "scenarios": facts}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    scenarios = plan(args.only)
    planned = estimate(scenarios, args.runs)
    if planned > args.budget:
        print(
            f"warning: the estimate {planned:.0f}s exceeds the budget {args.budget:.0f}s; "
            "scenarios will drop later runs (raise --budget to keep them)",
            file=sys.stderr,
        )
    started = datetime.now(UTC).isoformat(timespec="seconds")
    budget = Budget(args.budget)
    with tempfile.TemporaryDirectory(prefix="aegis-bench-") as tmp:
        outcome = run_suite(scenarios, args.runs, budget, Path(tmp))
    total = budget.elapsed()
    figures = outcome["figures"]
    document = results_json(
        figures, started=started, total_seconds=total, runs=args.runs, scenarios=outcome["scenarios"]
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document, indent=2) + "\n")
    print(render_table(figures))
    errors = {name: fact["error"] for name, fact in outcome["scenarios"].items() if fact["error"]}
    for name, error in errors.items():
        print(f"{name} FAILED: {error}")
    print(f"total wall time {total:.0f}s (budget {args.budget:.0f}s); raw values in {args.json}")
    return 1 if errors else 0
