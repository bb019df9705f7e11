"""Cold start of the shipped HA topology: processes started -> first successful write through the LB.

PostgreSQL is already running (each cluster gets a new, empty database). Every fresh cluster the
suite starts with the shipped config is one sample, whichever scenario started it, since each start
is in a new directory on an empty database; this scenario starts as many more as `--runs` still needs.
"""

from __future__ import annotations

from benchmarks.core import Context, Estimate
from benchmarks.ha import shipped

NAME = "cold-start"
# Priced as if it started every cluster itself (--only cold-start); in the full suite the shared
# cluster and the shipped variants of leader-failover and master-restart already give three samples.
ESTIMATE = Estimate(fixed=0.0, per_run=7.0)
SHARED = False


def run(ctx: Context, runs: int) -> None:
    cfg = shipped()
    figure = ctx.figure("start -> first write via LB (shipped)", "s")
    figure.values = [start.seconds for start in ctx.clusters.cold_starts if start.cfg == cfg][:runs]
    for _ in ctx.runs(runs - len(figure.values)):
        with ctx.clusters.fresh(cfg):
            pass
        figure.values.append(ctx.clusters.cold_starts[-1].seconds)
