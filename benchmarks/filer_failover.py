"""Filer SIGKILL under load through HAProxy: failed requests for three HAProxy configurations.

Load: N operations (PUT a 4 KiB file, GET it back) at concurrency 16 through lb-0; filer-1 is
SIGKILLed once N/4 have finished, and restarted (and waited UP in HAProxy) after the run.

Variants, each rendered by `render_haproxy_cfg` from a `HaproxySettings`:
- shipped: `SHIPPED`.
- haproxy defaults: no retries block (so HAProxy's own: 3 connection retries, no redispatch,
  retry-on conn-failure), no request buffering, HAProxy's default check timing `inter 2s fall 3 rise 2`
  (fastinter defaults to inter).
- shipped without `option http-buffer-request`.
The model ships exactly one HAProxy config; see `HA.use_lb_settings` for how a variant replaces it.
"""

from __future__ import annotations

import hashlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import httpx

from benchmarks.core import Context, Estimate
from benchmarks.ha import HA
from components.model.haproxy import SHIPPED, HaproxySettings
from components.model.topology import Role

NAME = "filer-failover"
ESTIMATE = Estimate(fixed=12.0, per_run=13.0)  # measured: 48 s for 3 runs
SHARED = True

REQUESTS = 1000
CONCURRENCY = 16
VICTIM = 1  # filer-1: any filer but the one the throughput scenario talks to directly

VARIANTS = {
    "shipped": SHIPPED,
    "haproxy defaults": HaproxySettings(
        check_interval="2s", fast_interval="2s", fall=3, rise=2, retries=0, buffer_requests=False
    ),
    "shipped, no http-buffer-request": replace(SHIPPED, buffer_requests=False),
}


def under_load(ha: HA, run: int, label: str) -> tuple[int, float]:
    """(failed operations of REQUESTS, seconds the load took) with the victim killed at REQUESTS/4."""
    victim = ha.topology.of(Role.FILER)[VICTIM].name
    done = 0
    lock = threading.Lock()
    prefix = f"{ha.bucket}/bench-filer-kill/{label.replace(' ', '-').replace(',', '')}/{run}"

    def op(i: int) -> bool:
        nonlocal done
        body = hashlib.sha256(f"{run}-{i}".encode()).digest() * 128
        try:
            put = client.put(f"{ha.lb}{prefix}/{i}.bin", content=body)
            got = client.get(f"{ha.lb}{prefix}/{i}.bin")
            ok = put.status_code == 201 and got.content == body
        except httpx.HTTPError:
            ok = False
        with lock:
            done += 1
            if done == REQUESTS // 4:
                ha.cluster.kill(victim)
        return ok

    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    started = time.monotonic()
    with httpx.Client(timeout=30, limits=limits) as client, ThreadPoolExecutor(CONCURRENCY) as pool:
        results = list(pool.map(op, range(REQUESTS)))
    seconds = time.monotonic() - started
    ha.recover(victim)
    return results.count(False), seconds


def run(ctx: Context, runs: int) -> None:
    ha = ctx.clusters.shared()
    try:
        for label, settings in VARIANTS.items():
            failed = ctx.figure(f"{label}: failed of {REQUESTS} PUT+GET", "requests")
            ha.use_lb_settings(settings)
            for run_index in ctx.runs(runs):
                count, seconds = under_load(ha, run_index, label)
                ctx.log(f"{label}: {count} failed of {REQUESTS} in {seconds:.1f}s")
                failed.values.append(count)
    finally:
        # The shared cluster goes on with what the stacks ship.
        ha.use_lb_settings(SHIPPED)
