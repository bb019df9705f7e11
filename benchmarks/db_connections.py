"""Ages of the filers' PostgreSQL connections under a write load: long-lived, or opened and closed per request.

`python -m benchmarks.db_connections [--requests 3000] [--concurrency 16]` starts the prod topology on
loopback (3 masters, 3 volume servers, 3 filers on a local PostgreSQL with TLS, as on RDS; no HAProxy),
twice: with the filers' pools as the model renders them (components/model/config/database_pool.py) and
with the pool keys left out, as the stacks ran before they were explicit. Each run spreads `--requests`
PUTs of 4 KiB followed by a GET over the three filers and samples `pg_stat_activity` for the filers' user
every SAMPLE_SECONDS: how many connections were open at once, how many distinct backends (connections)
the run saw in all, and the connections' ages (now - backend_start) at the end.
Not part of `python -m benchmarks`. Every wait is bounded; every process it starts is stopped by PID.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

from components.model.refs import Ref
from components.model.topology import Role, Topology
from tests.support.cluster import fresh_values, loopback_topology, running
from tests.support.postgres import LocalPostgres
from tests.support.stack_configs import prod

SUBNET = "127.0.84"
SAMPLE_SECONDS = 0.5
POOL_KEYS = ("WEED_POSTGRES2_CONNECTION_MAX_OPEN", "WEED_POSTGRES2_CONNECTION_MAX_IDLE")
POOL_KEYS += ("WEED_POSTGRES2_CONNECTION_MAX_LIFETIME_SECONDS",)


@dataclass(frozen=True)
class Connections:
    label: str
    seconds: float
    peak_open: int
    distinct: int  # backends seen during the load, the ones open before it included
    ages: tuple[float, ...]  # seconds, of the connections open when the load ended

    def row(self) -> str:
        ages = self.ages or (0.0,)
        spread = f"{min(ages):>6.1f} {statistics.median(ages):>6.1f} {max(ages):>6.1f}"
        opened = f"{self.distinct / self.seconds:>8.1f}/s"
        return f"{self.label:<14} {self.seconds:>6.1f} s {self.peak_open:>6} {self.distinct:>9} {opened}  {spread}"


HEADER = (
    f"{'pools':<14} {'load':>8} {'peak':>6} {'backends':>9} {'opened':>10}  {'age min':>6} {'median':>6} {'max':>6}"
)


def without_pools(topology: Topology) -> Topology:
    services = tuple(
        replace(s, env=tuple((k, v) for k, v in s.env if k not in POOL_KEYS)) if s.role is Role.FILER else s
        for s in topology.services
    )
    return replace(topology, services=services, load_balancers=())


def sample(postgres: LocalPostgres, user: str) -> list[tuple[int, float]]:
    """(pid, age in seconds) of every backend of `user`."""
    out = postgres.psql(
        f"SELECT pid, extract(epoch FROM now() - backend_start) FROM pg_stat_activity WHERE usename = '{user}'"
    )
    return [(int(pid), float(age)) for pid, age in (line.split("|") for line in out.splitlines() if line)]


def load(filers: list[str], requests: int, concurrency: int) -> None:
    def one(i: int) -> None:
        url = f"{filers[i % len(filers)]}/load/f{i}"
        with httpx.Client(timeout=60) as client:
            assert client.put(url, content=os.urandom(4096)).status_code == 201
            assert client.get(url).status_code == 200

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(requests)))


def measure(
    label: str, topology: Topology, postgres: LocalPostgres, args: argparse.Namespace, root: Path
) -> Connections:
    values = fresh_values(postgres.host)
    values[Ref.DB_PASSWORD] = postgres.password
    with running(topology, values, root):
        filers = [f"http://{s.http_address}" for s in topology.of(Role.FILER)]
        seen: set[int] = set()
        peak = 0
        done = threading.Event()

        def watch() -> None:
            nonlocal peak
            while not done.is_set():
                now = sample(postgres, postgres.user)
                seen.update(pid for pid, _ in now)
                peak = max(peak, len(now))
                time.sleep(SAMPLE_SECONDS)

        watcher = threading.Thread(target=watch)
        started = time.monotonic()
        watcher.start()
        try:
            load(filers, args.requests, args.concurrency)
        finally:
            done.set()
            watcher.join(timeout=30)
        seconds = time.monotonic() - started
        ages = tuple(sorted(age for _, age in sample(postgres, postgres.user)))
    return Connections(label, seconds, peak, len(seen), ages)


def run(args: argparse.Namespace, root: Path) -> list[Connections]:
    cfg = prod()
    assert cfg.aws is not None
    db = cfg.aws.database
    results = []
    for label, shape in (("model", lambda t: replace(t, load_balancers=())), ("keys unset", without_pools)):
        postgres = LocalPostgres(f"{SUBNET}.60", db.port, db.name, db.user, fresh_values()[Ref.DB_PASSWORD])
        try:
            postgres.init()
            topology, _ = loopback_topology(cfg, root / label.replace(" ", "-"), SUBNET)
            results.append(measure(label, shape(topology), postgres, args, root / label.replace(" ", "-")))
        finally:
            postgres.remove()
        print(results[-1].row(), flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.db_connections", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    print(HEADER, flush=True)
    with tempfile.TemporaryDirectory(prefix="db-connections-") as tmp:
        run(args, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
