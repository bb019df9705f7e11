"""The prod topology with each availability zone in its own network namespace (tests/support/netns.py).

Zone i's master, volume server and filer (the nodes whose rack is the i-th availability zone) share that
zone namespace's one address; HAProxy (`lb-0`), PostgreSQL and the filer-rules job sit in the core
namespace, reachable from every zone. Every process is started with `ip netns exec <ns>` from the model's
rendered argv, env and files (LocalCluster's own start_* methods); only the Placement's addresses differ.
The addresses are private, not loopback, so the volume servers get no loopback allowance: as on AWS.
The S3 gateway and the second HAProxy node are not started: AEGIS's filer traffic does not use them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from components.model.config import StackConfig
from components.model.haproxy import admin_url
from components.model.refs import Ref
from components.model.topology import START_ORDER, LoadBalancer, Role, Service, build_topology, layout
from tests.support.cluster import LocalCluster, LoopbackPlacement, Process, fresh_values, wait_http
from tests.support.netns import NamespaceThreads, ZoneNetwork
from tests.support.postgres import LocalPostgres, _bin

CORE_THREADS = 8  # the load's workers, the verification and the core-side probes run on these


@dataclass
class ZonedCluster(LocalCluster):
    """A LocalCluster whose processes start inside the namespace `where` names for them."""

    network: ZoneNetwork | None = None
    zone_names: tuple[str, ...] = ()
    where: dict[str, str] = field(default_factory=dict)
    threads: dict[str, NamespaceThreads] = field(default_factory=dict)

    def _spawn(self, name: str, argv: tuple[str, ...], env: Mapping[str, str], cwd: Path) -> Process:
        assert self.network is not None
        return super()._spawn(name, (*self.network.exec_prefix(self.where[name]), *argv), env, cwd)

    def zone_of(self, name: str) -> int:
        return self.zone_names.index(self.topology.service(name).node.rack)

    def in_zone(self, role: Role, zone: int) -> Service:
        return next(s for s in self.topology.of(role) if self.zone_of(s.name) == zone)

    @property
    def core(self) -> NamespaceThreads:
        assert self.network is not None
        return self.threads[self.network.core]

    def zone_threads(self, zone: int) -> NamespaceThreads:
        assert self.network is not None
        return self.threads[self.network.zone(zone)]

    @property
    def lb(self) -> LoadBalancer:
        return self.topology.load_balancers[0]

    @property
    def filer_url(self) -> str:
        return LoadBalancer.filer_url(self.lb.host)

    def wait_healthy(self, name: str, timeout: float = 60.0) -> float:
        """The node's own health probe, asked from inside its namespace (the root namespace has no route)."""
        process = self.processes[name]
        try:
            return self.threads[self.where[name]].call(wait_http, self.health_url(name), timeout, timeout=timeout + 30)
        except TimeoutError as err:
            tail = process.log.read_text(errors="replace")[-3000:]
            raise TimeoutError(f"{err}\n--- {name} log tail ---\n{tail}") from None

    def start_zoned(self, timeout: float = 90.0) -> None:
        """LocalCluster.start's order (HAProxy first, tiers healthy one by one, filers in two waves, then the
        jobs), for the services in `where` only, with every health wait made from the right namespace."""
        self.start_load_balancer(self.lb)
        for role in START_ORDER:
            tier = [s for s in self.topology.of(role) if s.name in self.where]
            # As in LocalCluster.start: the first filer creates the schema alone, racing filers would not.
            waves = [tier[:1], tier[1:]] if role is Role.FILER else [tier]
            for wave in waves:
                for service in wave:
                    self.start_service(service)
                for service in wave:
                    self.wait_healthy(service.name, timeout)
        self.wait_healthy(self.lb.name, timeout)
        # A filer's /healthz through HAProxy, on its admin frontend: AEGIS's filer URL admits AEGIS's calls only.
        self.core.call(wait_http, f"{admin_url(self.lb.host)}/healthz", timeout, timeout=timeout + 30)
        for job in self.topology.jobs:
            self.run_job(job)


def _allow_subnet(postgres: LocalPostgres, network: ZoneNetwork, password: str) -> None:
    """LocalPostgres only admits 127.0.0.0/8; the filers come from the zones' subnet, over TLS as there."""
    with (postgres.data_dir / "pg_hba.conf").open("a") as hba:
        hba.write(f"hostssl all all {network.subnet}.0/24 scram-sha-256\n")
    assert postgres.popen is not None
    os.kill(postgres.popen.pid, signal.SIGHUP)  # reload: pg_hba.conf is read again without a restart
    # The reload is asynchronous: wait until a zone can log in over TCP, as a filer will.
    dsn = f"host={postgres.host} port={postgres.port} dbname={postgres.database} user={postgres.user} sslmode=require"
    deadline = time.monotonic() + 20
    while True:
        login = subprocess.run(
            (*network.exec_prefix(network.zone(0)), _bin("psql"), dsn, "-tAc", "select 1"),
            env={**os.environ, "PGPASSWORD": password},
            capture_output=True,
            text=True,
            timeout=20,
        )
        if login.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"a zone cannot log in to PostgreSQL: {login.stderr.strip()}")
        time.sleep(0.3)


@contextmanager
def running_zoned(cfg: StackConfig, root: Path) -> Iterator[ZonedCluster]:
    """Namespaces, PostgreSQL and the cluster, started; on exit (also on a failure part-way) every process
    stopped by PID, PostgreSQL's files removed and every namespace and link deleted."""
    nodes = layout(cfg)
    # The zones, in order, are the masters' racks: one master per zone.
    zone_names = tuple(dict.fromkeys(node.rack for node in nodes if node.role is Role.MASTER))
    assert len(zone_names) >= 3 and all(zone_names), f"not a zoned config: {zone_names}"
    network = ZoneNetwork(zones=len(zone_names))
    addresses: dict[str, str] = {}
    where: dict[str, str] = {}
    for node in nodes:
        zone = zone_names.index(node.rack)
        addresses[node.name] = network.zone_address(zone)
        if node.role is not Role.S3:
            where[node.name] = network.zone(zone)
    placement = LoopbackPlacement(root, addresses)  # only host()/bind()/dirs are read: any address works
    # Every load balancer and job gets the core address; only lb-0 and the jobs run.
    topology = build_topology(cfg, _WithCore(placement, network.core_address))
    values = fresh_values(network.core_address)
    where[topology.load_balancers[0].name] = network.core
    where.update({job.name: network.core for job in topology.jobs})
    # The database the filers are told to use, read from their rendered environment.
    store = dict(topology.of(Role.FILER)[0].env)
    postgres = LocalPostgres(
        network.core_address,
        int(store["WEED_POSTGRES2_PORT"]),
        store["WEED_POSTGRES2_DATABASE"],
        store["WEED_POSTGRES2_USERNAME"],
        values[Ref.DB_PASSWORD],
    )
    cluster = ZonedCluster(topology, values, root, network=network, zone_names=zone_names, where=where)
    try:
        network.create()
        for namespace in (network.core, *(network.zone(i) for i in range(network.zones))):
            cluster.threads[namespace] = NamespaceThreads(namespace, CORE_THREADS if namespace == network.core else 2)
        # Started from a core thread, the postmaster is born in the core namespace (a child inherits its
        # parent thread's namespaces) and listens on the core address.
        cluster.core.call(postgres.init, timeout=120)
        _allow_subnet(postgres, network, values[Ref.DB_PASSWORD])
        cluster.start_zoned()
        yield cluster
    finally:
        try:
            cluster.stop()
            postgres.remove()
        finally:
            for threads in cluster.threads.values():
                threads.close()
            left = network.destroy()
            assert not left, f"could not delete: {left}"


class _WithCore:
    """The placement, with the core address for nodes it has none for (the load balancers, the jobs)."""

    def __init__(self, placement: LoopbackPlacement, core_address: str) -> None:
        self._placement = placement
        self._core = core_address

    def host(self, node: str) -> str:
        return self._placement.addresses.get(node, self._core)

    def bind(self, node: str) -> str:
        return self.host(node)

    def data_dir(self, node: str) -> str:
        return self._placement.data_dir(node)

    def config_dir(self, node: str) -> str:
        return self._placement.config_dir(node)
