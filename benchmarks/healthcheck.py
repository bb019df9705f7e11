"""Wall time of the post-deploy health check against the dev topology running on loopback.

.venv/bin/python -m benchmarks.healthcheck [--runs 10]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from components.config import parse
from components.healthcheck import run_checks
from tests.cluster import fresh_values, health_target, loopback_topology, running, wait_for_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="aegis-bench-") as tmp:
        root = Path(tmp)
        topology, _ = loopback_topology(parse({"s3Enabled": True}, stack="dev"), root, "127.0.4")
        values = fresh_values()
        with running(topology, values, root):
            target = health_target(topology, values)
            first = wait_for_report(target, healthy=True)
            if not first.healthy:
                print(first.table())
                return 1
            walls = []
            for _ in range(args.runs):
                report = run_checks(target)
                assert report.healthy, report.table()
                walls.append(report.wall_seconds * 1000)
    print(f"health check wall time, healthy dev cluster, {args.runs} runs, {len(first.results)} checks each:")
    print(f"  min {min(walls):.1f} ms   median {statistics.median(walls):.1f} ms   max {max(walls):.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
