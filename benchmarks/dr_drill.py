"""The disaster-recovery drill (tests/support/drill.py) with the shipped prod config, scaled to fit the suite.

Same tenants as tests/integration/test_disaster_recovery.py, FILES files instead of 2,000, on 127.0.9
with its own PostgreSQL. Each run is a whole drill: write, back up, destroy, rebuild, verify.
"""

from __future__ import annotations

import shutil

from benchmarks.core import Context, Estimate
from tests.support.drill import run_drill
from tests.support.stack_configs import prod

NAME = "dr-drill"
ESTIMATE = Estimate(fixed=0.0, per_run=45.0)
SHARED = False

FILES = 400
SUBNET = "127.0.9"


def run(ctx: Context, runs: int) -> None:
    recovery = ctx.figure(f"recovery, rebuild start -> healthy ({FILES} files)", "s")
    lost = ctx.figure("files lost", "files")
    mismatched = ctx.figure("checksum mismatches", "files")
    missing = ctx.figure("fsck missing", "files")
    for run_index in ctx.runs(runs):
        workdir = ctx.workdir / f"drill-{run_index}"
        rebuilt = run_drill(prod(), workdir, FILES, SUBNET)
        # Its directory goes next: SIGKILL skips the 10-15 s graceful exit of volume servers and filers.
        for name in rebuilt.cluster.processes:
            rebuilt.cluster.kill(name)
        rebuilt.close()
        shutil.rmtree(workdir, ignore_errors=True)
        result = rebuilt.result
        ctx.log(result.summary())
        if not result.healthy_after or result.new_writes_failed:
            raise RuntimeError(f"drill did not end healthy and writable: {result.summary()}")
        recovery.values.append(result.recovery_seconds)
        lost.values.append(len(result.files_lost))
        mismatched.values.append(len(result.checksum_mismatches))
        missing.values.append(len(result.fsck_missing))
