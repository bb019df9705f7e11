"""The prod HA topology on loopback for the benchmarks, and the probes several scenarios share.

Clusters are built exactly as tests/integration/test_ha_cluster.py builds them (the shipped or a
variant prod config, `loopback_topology`, `LocalCluster`), but all of them share one PostgreSQL: each
fresh cluster gets a freshly created database instead, which saves an initdb per cluster.
Every fresh start is recorded as a cold start (processes started -> first write through the LB).
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

from components.healthcheck import run_checks
from components.healthcheck.wire import FILER_BACKEND, backend_servers, cluster_status, data_nodes, json_object
from components.model.aegis.layout import volume_path
from components.model.config import StackConfig
from components.model.haproxy import HaproxySettings, render_haproxy_cfg
from components.model.refs import Ref
from components.model.topology import Role, Topology
from tests.support.cluster import (
    LocalCluster,
    LoopbackPlacement,
    fresh_values,
    health_target,
    loopback_topology,
)
from tests.support.postgres import LocalPostgres
from tests.support.stack_configs import prod

# Consecutive clusters alternate between two subnets, so a new cluster never binds the addresses the
# previous one used a moment ago. The DR drill has 127.0.9 to itself. AEGIS_BENCH_SUBNETS="a,b" moves the
# clusters elsewhere when those subnets are taken on a shared machine.
SUBNETS = tuple(os.environ.get("AEGIS_BENCH_SUBNETS", "127.0.7,127.0.8").split(","))
DB_HOST = f"{SUBNETS[0]}.60"
BODY_4K = bytes(range(256)) * 16
WRITE_EVERY = 0.25
WRITE_TIMEOUT = 10.0


def shipped() -> StackConfig:
    """The prod config as Pulumi.prod.yaml ships it."""
    return prod()


@dataclass(frozen=True)
class ColdStart:
    cfg: StackConfig
    seconds: float


class HA:
    """One running HA cluster and the operations the scenarios perform on it."""

    def __init__(self, cluster: LocalCluster, placement: LoopbackPlacement, cfg: StackConfig) -> None:
        self.cluster = cluster
        self.placement = placement
        self.cfg = cfg
        self.target = health_target(cluster.topology, cluster.values)
        self.lb = self.target.filer_url
        # Where AEGIS writes: one tenant's volumes.
        self.bucket = volume_path("zaru-consumer", "00000000-0000-4000-8000-00000000be0c")

    @property
    def topology(self) -> Topology:
        # Read through the cluster: use_lb_settings replaces its topology.
        return self.cluster.topology

    def put(self, path: str, body: bytes = BODY_4K, timeout: float = 30.0) -> httpx.Response:
        return httpx.put(f"{self.lb}{path}", content=body, timeout=timeout)

    def watch(
        self, since: float, conditions: Mapping[str, Callable[[], bool]], limit: float, tag: str
    ) -> dict[str, float | None]:
        """Seconds from `since` until each condition first held and until the first write through the LB.

        Writes start every WRITE_EVERY seconds, each with its own timeout, so a write that hangs while
        the masters have no leader does not hide the moment writes work again. None: not within `limit`.
        """
        seen: dict[str, float | None] = dict.fromkeys([*conditions, "write"])
        attempts: list[Future[float | None]] = []

        def write(path: str) -> float | None:
            try:
                ok = self.put(path, timeout=WRITE_TIMEOUT).status_code == 201
            except httpx.HTTPError:
                ok = False
            return time.monotonic() if ok else None

        pool = ThreadPoolExecutor(int(WRITE_TIMEOUT / WRITE_EVERY) + 1)
        try:
            for attempt in range(int(limit / WRITE_EVERY) + 1):
                now = time.monotonic()
                if now - since > limit:
                    break
                for name, holds in conditions.items():
                    if seen[name] is None and holds():
                        seen[name] = time.monotonic() - since
                written = [t for f in attempts if f.done() and (t := f.result()) is not None]
                if written and seen["write"] is None:
                    seen["write"] = min(written) - since
                if all(v is not None for v in seen.values()):
                    break
                attempts.append(pool.submit(write, f"{self.bucket}/bench-watch/{tag}/{attempt}.bin"))
                time.sleep(max(0.0, WRITE_EVERY - (time.monotonic() - now)))
        finally:
            # Writes still hanging from the gap end by their own timeout; waiting for them measures nothing.
            pool.shutdown(wait=False, cancel_futures=True)
        return seen

    def leader(self) -> str:
        """The service name of the Raft leader any live master reports, or ""."""
        masters = self.topology.of(Role.MASTER)
        for master in masters:
            if not self.cluster.processes[master.name].alive():
                continue
            try:
                status = cluster_status(
                    json_object(httpx.get(f"http://{master.http_address}/cluster/status", timeout=1).text)
                )
            except httpx.HTTPError:
                continue
            for candidate in masters:
                if status and status.leader_address == candidate.http_address:
                    return candidate.name
        return ""

    def volumes_registered(self) -> bool:
        """True when the leader's topology lists every volume server."""
        leader = self.leader()
        if not leader:
            return False
        try:
            body = httpx.get(f"http://{self.topology.service(leader).http_address}/dir/status", timeout=1).text
        except httpx.HTTPError:
            return False
        registered = {name for node in data_nodes(json_object(body)) or () for name in node.names}
        return all(v.http_address in registered for v in self.topology.of(Role.VOLUME))

    def lb_servers_up(self) -> bool:
        """True when every HAProxy node sees every filer UP (its stats page, CSV form)."""
        for lb in self.topology.load_balancers:
            try:
                text = httpx.get(f"http://{lb.host}:{lb.stats_port}/stats;csv", timeout=2).text
            except httpx.HTTPError:
                return False
            states = [row["status"] for row in backend_servers(text, FILER_BACKEND).values()]
            if len(states) != len(self.topology.of(Role.FILER)) or any(s != "UP" for s in states):
                return False
        return True

    def wait_healthy(self, timeout: float = 120.0) -> None:
        """The health check green and every LB routing to every filer again."""
        deadline = time.monotonic() + timeout
        report = run_checks(self.target)
        for _ in range(int(timeout)):
            if not report.failures() or time.monotonic() > deadline:
                break
            time.sleep(1.0)
            report = run_checks(self.target)
        if report.failures():
            raise RuntimeError(f"cluster not healthy after {timeout:.0f}s:\n{report.table()}")
        deadline = time.monotonic() + 30
        while not self.lb_servers_up():
            if time.monotonic() > deadline:
                raise RuntimeError("HAProxy did not mark every filer UP within 30s")
            time.sleep(0.25)

    def recover(self, name: str, timeout: float = 120.0) -> None:
        """Restart a killed process and wait until the whole cluster is healthy again."""
        self.cluster.restart(name)
        self.cluster.wait_healthy(name, timeout=timeout)
        self.wait_healthy(timeout)

    def use_lb_settings(self, settings: HaproxySettings) -> None:
        """Restart every HAProxy node with its config rendered for `settings` instead of SHIPPED.

        The model ships one HAProxy config; alternatives exist only here, to be measured against it,
        so the benchmark renders them with the same renderer and swaps them into this cluster's copy
        of the topology, from which `LocalCluster.restart` writes the file before starting the LB.
        """
        filers = [s.http_address for s in self.topology.of(Role.FILER)]
        lbs = tuple(
            replace(
                lb,
                config=replace(
                    lb.config,
                    content=render_haproxy_cfg(
                        filers,
                        bind=self.placement.bind(lb.name),
                        port=lb.port,
                        stats_bind=self.placement.bind(lb.name),
                        stats_port=lb.stats_port,
                        settings=settings,
                    ),
                ),
            )
            for lb in self.topology.load_balancers
        )
        self.cluster.topology = replace(self.topology, load_balancers=lbs)
        for lb in lbs:
            self.cluster.restart(lb.name)
            self.cluster.wait_healthy(lb.name, timeout=30)
        self.wait_healthy()


class Clusters:
    """Fresh HA clusters for the scenarios, one shared PostgreSQL, and the cold starts they took."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.cold_starts: list[ColdStart] = []
        self._postgres: LocalPostgres | None = None
        self._count = 0
        self._shared: HA | None = None
        self._shared_stack = ExitStack()

    def _database(self, cfg: StackConfig) -> LocalPostgres:
        assert cfg.aws is not None
        if self._postgres is None:
            postgres = LocalPostgres(
                DB_HOST, cfg.aws.database.port, cfg.aws.database.name, cfg.aws.database.user, secrets.token_hex(16)
            )
            self._postgres = postgres
            postgres.init()
        else:
            # A new cluster must find an empty metadata store, as a new stack's RDS instance is.
            self._postgres.psql(f"DROP DATABASE IF EXISTS {cfg.aws.database.name} WITH (FORCE)")
            self._postgres.psql(f"CREATE DATABASE {cfg.aws.database.name} OWNER {cfg.aws.database.user}")
        return self._postgres

    @contextmanager
    def fresh(self, cfg: StackConfig, weed: str = "") -> Iterator[HA]:
        """A new cluster in a new directory on an empty database, stopped and deleted on exit; `weed`:
        every node runs that binary instead of the pinned one."""
        postgres = self._database(cfg)
        subnet = SUBNETS[self._count % len(SUBNETS)]
        self._count += 1
        root = self.workdir / f"cluster-{self._count}"
        topology, placement = loopback_topology(cfg, root, subnet)
        values = {**fresh_values(DB_HOST), Ref.DB_PASSWORD: postgres.password}
        cluster = LocalCluster(topology, values, root, binaries={s.name: weed for s in topology.services if weed})
        try:
            started = time.monotonic()
            cluster.start()
            ha = HA(cluster, placement, cfg)
            first_write = ha.watch(started, {}, limit=60, tag="cold-start")["write"]
            if first_write is None:
                raise TimeoutError(f"no write through {ha.lb} within 60s of starting")
            self.cold_starts.append(ColdStart(cfg, first_write))
            print(
                f"[clusters] cluster {self._count} on {subnet}.x: first write via LB "
                f"{self.cold_starts[-1].seconds:.1f}s after start",
                file=sys.stderr,
                flush=True,
            )
            yield ha
        finally:
            # The directory goes next, so a graceful stop buys nothing; it would cost 10-15 s per cluster
            # (volume servers wait -preStopSeconds=10, filers about 15 s).
            for name in cluster.processes:
                cluster.kill(name)
            shutil.rmtree(root, ignore_errors=True)

    def shared(self) -> HA:
        """One cluster with the shipped config for the scenarios that leave it healthy when done."""
        if self._shared is None:
            self._shared = self._shared_stack.enter_context(self.fresh(shipped()))
        return self._shared

    def release_shared(self) -> None:
        self._shared_stack.close()
        self._shared = None

    def close(self) -> None:
        try:
            self.release_shared()
        finally:
            if self._postgres is not None:
                self._postgres.remove()
