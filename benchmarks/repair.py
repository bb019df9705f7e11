"""Self-repair: a volume server is lost for good and replaced by an empty one; how long until every volume
has its copies back, and how the health check calls the cluster in between.

The shipped prod config with the masters' maintenance interval at weed's floor of 1 minute (it sleeps whole
minutes), so a run measures the repair and not the wait: each kill comes right after a maintenance run has
finished, the worst moment, a whole interval before the next one. Files are written to an AEGIS volume and
outside /aegis first, so two collections of 010 volumes have a copy on every volume server. The victim rotates.

Run it alone with `python -m benchmarks --only repair`.
"""

from __future__ import annotations

import os
import time

import httpx

from benchmarks.core import Context, Estimate
from benchmarks.ha import HA
from components.healthcheck import run_checks
from components.model.topology import Role
from tests.support.repair import replace_volume_server, under_replicated, wait_for_full_copies, wait_for_maintenance_run
from tests.support.stack_configs import prod

NAME = "repair"
# One run whatever --runs says: each waits out a maintenance interval, and the suite must stay under 15 min.
ESTIMATE = Estimate(fixed=165.0, per_run=0.0)  # measured: 156 s
SHARED = False

INTERVAL_MINUTES = 1
FILES = 40
REPAIR_LIMIT = INTERVAL_MINUTES * 60 + 90.0


def lose_a_server(ha: HA, run: int) -> tuple[int, float, str]:
    """(volumes left short of a copy, seconds from SIGKILL to full copies, the health verdict in between)."""
    # An AEGIS volume through AEGIS's filer URL, and a path outside /aegis through the admin frontend (AEGIS's
    # URL refuses it): two collections, each with its own volumes to repair.
    for i in range(FILES):
        for url in (f"{ha.lb}{ha.bucket}/bench-repair/{run}/{i}", f"{ha.target.admin_url}/bench-repair/{run}/{i}"):
            if httpx.put(url, content=os.urandom(8192), timeout=30).status_code != 201:
                raise RuntimeError(f"could not write {url} before the loss")
    master = ha.topology.of(Role.MASTER)[0].http_address
    wait_for_maintenance_run(ha.cluster, timeout=INTERVAL_MINUTES * 60 + 90)
    victim = ha.topology.of(Role.VOLUME)[run % 3].name
    killed = replace_volume_server(ha.cluster, victim)
    short = len(under_replicated(master))
    verdict = run_checks(ha.target).outcome
    wait_for_full_copies(master, timeout=REPAIR_LIMIT - (time.monotonic() - killed))
    return short, time.monotonic() - killed, verdict


def run(ctx: Context, runs: int) -> None:
    short = ctx.figure("volumes left with 1 of 2 copies by the loss", "volumes")
    repaired = ctx.figure(f"SIGKILL -> full copies again (interval {INTERVAL_MINUTES} min)", "s")
    with ctx.clusters.fresh(prod(maintenanceIntervalMinutes=INTERVAL_MINUTES)) as ha:
        ha.wait_healthy()
        for run_index in ctx.runs(1):
            count, seconds, verdict = lose_a_server(ha, run_index)
            ctx.log(f"{count} volume(s) short, health check {verdict}, full copies after {seconds:.1f}s")
            if verdict != "degraded":
                raise RuntimeError(f"the health check said {verdict} while {count} volume(s) lacked a copy")
            short.values.append(count)
            repaired.values.append(seconds)
            ha.wait_healthy()
