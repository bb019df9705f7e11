"""Small-file PUT+GET throughput through HAProxy versus straight to one filer, on the shipped cluster.

Each run alternates rounds of 100 operations (PUT a 4 KiB file, GET it back and compare) between the
load balancer and filer-0, flipping which goes first every round, so both see the same machine state
on this shared 2-core host. Concurrency 16, one keep-alive client per target, as AEGIS would hold.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from benchmarks.core import Context, Estimate
from benchmarks.ha import BODY_4K
from components.model.topology import Role

NAME = "throughput"
ESTIMATE = Estimate(fixed=8.0, per_run=6.0)
SHARED = True

OPS_PER_TARGET = 500
ROUND = 100
CONCURRENCY = 16


def _round(client: httpx.Client, base: str, prefix: str, count: int) -> tuple[float, int]:
    """(seconds, failed operations) for `count` PUT+GET pairs at CONCURRENCY."""

    def op(i: int) -> bool:
        path = f"{prefix}/{i}.bin"
        try:
            put = client.put(f"{base}{path}", content=BODY_4K)
            got = client.get(f"{base}{path}")
        except httpx.HTTPError:
            return False
        return put.status_code == 201 and got.content == BODY_4K

    start = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        ok = list(pool.map(op, range(count)))
    return time.perf_counter() - start, ok.count(False)


def run(ctx: Context, runs: int) -> None:
    ha = ctx.clusters.shared()
    direct = f"http://{ha.topology.of(Role.FILER)[0].http_address}"
    targets = {"lb": ha.lb, "direct": direct}
    lb_ops = ctx.figure("PUT+GET via HAProxy", "ops/s")
    direct_ops = ctx.figure("PUT+GET direct to filer-0", "ops/s")
    ratio = ctx.figure("ratio HAProxy/direct (limit 1.00)", "x")
    failed = ctx.figure("failed ops (both targets)", "ops")
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    with httpx.Client(timeout=30, limits=limits) as lb_client, httpx.Client(timeout=30, limits=limits) as direct_client:
        clients = {"lb": lb_client, "direct": direct_client}
        for run_index in ctx.runs(runs):
            seconds = {"lb": 0.0, "direct": 0.0}
            failures = 0
            for round_index in range(OPS_PER_TARGET // ROUND):
                order = ("lb", "direct") if round_index % 2 == 0 else ("direct", "lb")
                for target in order:
                    prefix = f"{ha.bucket}/bench-throughput/{run_index}-{round_index}-{target}"
                    took, bad = _round(clients[target], targets[target], prefix, ROUND)
                    seconds[target] += took
                    failures += bad
            lb_ops.values.append(OPS_PER_TARGET / seconds["lb"])
            direct_ops.values.append(OPS_PER_TARGET / seconds["direct"])
            ratio.values.append(seconds["direct"] / seconds["lb"])
            failed.values.append(failures)
