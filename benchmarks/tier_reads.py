"""Whole-file GETs through AEGIS's filer URL while filers die and restart: does a read ever fail while a filer is up?

AEGIS's write path (`write_at` in seaweedfs.rs) downloads the whole file before every write at an offset, and
swallows a failed download: it then uploads zeros in place of the file. So a GET that fails through the tier is
data loss, not a retry. `python -m benchmarks.tier_reads [--subnet 127.0.50]` starts the prod topology on loopback
(3 filers, 2 HAProxy nodes, PostgreSQL), writes FILES files of 64 KiB and 5 MiB through the tier as AEGIS does,
then reads them back whole, CONCURRENCY at a time, through lb-0 during two disruptions: one filer SIGKILLed (and
restarted afterwards), and a rolling restart of every filer as the rollout does it (drained, SIGTERM, started,
waited healthy, put back), one at a time.
It prints the GETs made and failed (error status, reset, timeout, or different bytes) for each.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from components.model.aegis.layout import volume_path
from components.model.topology import Role
from components.rollout.gates import Haproxy, unix_socket_sender
from tests.support.aegis_client import TIMEOUT
from tests.support.cluster import LocalCluster, health_target, running_prod, wait_for_report
from tests.support.stack_configs import prod

FILES = 24
CONCURRENCY = 8
SIZES = (64 * 1024, 5 * 2**20)


def read_while(url: str, files: dict[str, bytes], disruption: Callable[[], None]) -> tuple[int, list[str]]:
    """Whole-file GETs of `files` in a loop until `disruption` returns: (GETs made, what failed)."""
    stop, made, failures = threading.Event(), [0], []
    lock = threading.Lock()

    def reader(offset: int) -> None:
        paths = list(files)
        with httpx.Client(timeout=TIMEOUT) as client:
            i = offset
            while not stop.is_set():
                path = paths[i % len(paths)]
                i += 1
                try:
                    answer = client.get(f"{url}{path}")
                    problem = (
                        ""
                        if answer.status_code == 200 and answer.content == files[path]
                        else (f"{answer.status_code}, {len(answer.content)} bytes")
                    )
                except httpx.HTTPError as err:
                    problem = type(err).__name__
                with lock:
                    made[0] += 1
                    if problem:
                        failures.append(f"{path}: {problem}")

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        for n in range(CONCURRENCY):
            pool.submit(reader, n)
        time.sleep(2)  # reads in flight before anything happens
        disruption()
        time.sleep(2)
        stop.set()
    return made[0], failures


def kill_one(cluster: LocalCluster) -> Callable[[], None]:
    def run() -> None:
        victim = cluster.topology.of(Role.FILER)[1].name
        cluster.kill(victim)
        time.sleep(10)  # reads carry on with one filer down
        cluster.restart(victim)
        cluster.wait_healthy(victim, timeout=60)

    return run


def rolling(cluster: LocalCluster) -> Callable[[], None]:
    """As the rollout restarts a filer (components/rollout/gates.py): drained on every HAProxy until its sessions
    end, stopped with SIGTERM, started, waited healthy, then put back."""
    haproxy = Haproxy([unix_socket_sender(lb.admin_socket) for lb in cluster.topology.load_balancers])

    def run() -> None:
        for filer in cluster.topology.of(Role.FILER):
            haproxy.drain(filer.name)
            cluster.kill(filer.name, signal.SIGTERM)
            cluster.restart(filer.name)
            cluster.wait_healthy(filer.name, timeout=60)
            haproxy.ready(filer.name)
            time.sleep(3)  # HAProxy's rise checks before the next filer goes

    return run


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tier_reads", description=__doc__.splitlines()[0])
    parser.add_argument("--subnet", default="127.0.50", help="loopback /24 to run on")
    args = parser.parse_args(argv)
    failed = 0
    with (
        tempfile.TemporaryDirectory(prefix="aegis-reads-") as tmp,
        running_prod(prod(), Path(tmp), args.subnet) as (
            cluster,
            _,
        ),
    ):
        target = health_target(cluster.topology, cluster.values)
        assert wait_for_report(target, healthy=True, timeout=90).healthy
        volume = volume_path("zaru-consumer", "0b7e2c1a-0000-4000-8000-0000000000ad")
        files = {f"{volume}/f{i}.bin": os.urandom(SIZES[i % len(SIZES)]) for i in range(FILES)}
        for path, body in files.items():
            assert httpx.put(f"{target.filer_url}{path}", content=body, timeout=60).status_code == 201
        for label, disruption in (("one filer SIGKILLed", kill_one(cluster)), ("rolling restart", rolling(cluster))):
            started = time.monotonic()
            made, failures = read_while(target.filer_url, files, disruption)
            failed += len(failures)
            print(f"{label}: {made} whole-file GETs in {time.monotonic() - started:.0f} s, {len(failures)} failed")
            for failure in failures[:10]:
                print(f"  {failure}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
