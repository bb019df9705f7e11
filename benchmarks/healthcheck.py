"""The post-deploy health check on the shipped HA cluster: its wall time, and how fast it names a fault.

Per run: SAMPLES wall times of `run_checks` on the healthy cluster, then for a volume server, a filer
and the Raft leader in turn: SIGKILL it, call `run_checks` every 0.25 s until it reports unhealthy
naming that component, restart it and wait until the cluster is healthy again.

Run it alone with `python -m benchmarks --only health-check`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from benchmarks.core import Context, Estimate
from benchmarks.ha import HA
from components.healthcheck import Report, run_checks
from components.model.topology import Role

NAME = "health-check"
ESTIMATE = Estimate(fixed=8.0, per_run=24.0)  # measured: 76 s for 3 runs
SHARED = True

SAMPLES = 10
POLL = 0.25
DETECT_LIMIT = 30.0


def detect(ha: HA, victim: str, named: Callable[[Report], bool]) -> float:
    """Seconds from SIGKILL of `victim` until a health check report names it."""
    ha.cluster.kill(victim)
    killed = time.monotonic()
    for _ in range(int(DETECT_LIMIT / POLL)):
        if named(run_checks(ha.target)):
            return time.monotonic() - killed
        if time.monotonic() - killed > DETECT_LIMIT:
            break
        time.sleep(POLL)
    raise TimeoutError(f"the health check did not name {victim} within {DETECT_LIMIT:.0f}s")


def run(ctx: Context, runs: int) -> None:
    ha = ctx.clusters.shared()
    wall = ctx.figure(f"wall time, healthy ({SAMPLES} samples/run)", "ms")
    faults = {
        "volume": ctx.figure("detect volume server SIGKILL", "s"),
        "filer": ctx.figure("detect filer SIGKILL", "s"),
        "master": ctx.figure("detect leader SIGKILL", "s"),
    }
    ha.wait_healthy()
    for run_index in ctx.runs(runs):
        for _ in range(SAMPLES):
            report = run_checks(ha.target)
            if not report.healthy:
                raise RuntimeError(f"unhealthy during the wall-time samples:\n{report.table()}")
            wall.values.append(report.wall_seconds * 1000)
        # A different volume server and filer each run; the leader is whichever master leads now.
        victims = {
            "volume": ha.topology.of(Role.VOLUME)[run_index % 3],
            "filer": ha.topology.of(Role.FILER)[run_index % 3],
            "master": ha.topology.service(ha.leader()),
        }
        for component, service in victims.items():
            address = service.http_address

            def named(report: Report, component: str = component, address: str = address) -> bool:
                return any(
                    f.component == component and (address == f.where or address in f.detail) for f in report.failures()
                )

            faults[component].values.append(detect(ha, service.name, named))
            ha.recover(service.name)
