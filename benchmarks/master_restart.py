"""Full restart of the Raft quorum: all three masters stopped, then started again on their -mdir state.

A master setting that fails over fast but cannot come back from a full stop (a region-wide reboot,
a bad rollout) is worse than a slow failover, so every leader-failover variant is restarted here too:
one fresh cluster per variant (whose start is also its bootstrap), SIGTERM to every master, start all
three, then seconds until a leader, until the leader lists every volume server, and until a write
through the LB succeeds.
"""

from __future__ import annotations

import signal
import time

from benchmarks.core import Context, Estimate, describe
from benchmarks.leader_failover import variants
from components.model.topology import Role

NAME = "master-restart"
ESTIMATE = Estimate(fixed=20.0, per_run=40.0)
SHARED = False

LIMIT = 120.0


def run(ctx: Context, runs: int) -> None:
    for label, cfg in variants().items():
        figures = {
            "leader": ctx.figure(f"{label}: leader after full restart", "s"),
            "volumes": ctx.figure(f"{label}: volume servers registered", "s"),
            "write": ctx.figure(f"{label}: first write via LB", "s"),
        }
        with ctx.clusters.fresh(cfg) as ha:
            masters = ha.topology.of(Role.MASTER)
            conditions = {"leader": lambda: bool(ha.leader()), "volumes": ha.volumes_registered}
            for run_index in ctx.runs(runs):
                for master in masters:
                    ha.cluster.kill(master.name, signal.SIGTERM)
                started = time.monotonic()
                for master in masters:
                    ha.cluster.start_service(master)
                seen = ha.watch(started, conditions, LIMIT, f"restart-{run_index}")
                ctx.log(f"{label}: {describe(seen)}")
                missing = [k for k, v in seen.items() if v is None]
                if missing:
                    raise RuntimeError(f"{label}: no {', '.join(missing)} within {LIMIT:.0f}s of a full restart")
                for name, figure in figures.items():
                    figure.values.append(seen[name])
                ha.wait_healthy()
