"""Health gates of a rollout, probed over the nodes' own HTTP endpoints and HAProxy's admin socket.

- master: it knows a leader (`/cluster/status` names one; a restarted follower learns it only from the
  leader's heartbeats), and the leader's `/cluster/status` lists it among its peers (or it is the leader);
- volume server: `/healthz` 200 and registered with the master (its address in `/dir/status`, which a
  follower proxies to the leader);
- filer and S3 gateway: `/healthz` 200; a filer must also be UP again in every HAProxy (see `Haproxy`).

Before a node stops, the whole cluster but that node must be there (`HttpGates.whole`): every master
answers `/cluster/status` and names the same leader, whose peers are all the other masters; every other
volume server, filer and S3 gateway answers `/healthz` (probed on the node itself: a SIGKILLed process
refuses at once, while the masters drop it from `/dir/status` only a moment later); every other volume
server is in the leader's `/dir/status`; and every volume has all its copies in the leader's `/vol/status`.

HAProxy is driven through its admin socket (`stats socket ... level admin` in the rendered config), with
a transport per load balancer: a Unix socket on loopback, SSM Run Command on AWS.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import httpx

from components.healthcheck.wire import (
    FILER_BACKEND,
    ClusterStatus,
    backend_servers,
    cluster_status,
    data_nodes,
    http_address,
    json_object,
    replica_counts,
)
from components.model.rollout import RolloutNode
from components.model.topology import Role

PROBE_TIMEOUT = 3.0
DRAIN_TIMEOUT = 20.0


Fetch = Callable[[str], tuple[int, str]]  # GET url -> (status, body); status 0 when nothing answered


def local_fetch(url: str) -> tuple[int, str]:
    """GET from this machine (loopback, or a runner inside the VPC)."""
    try:
        response = httpx.get(url, timeout=PROBE_TIMEOUT)
        return response.status_code, response.text
    except httpx.HTTPError:
        return 0, ""


class HttpGates:
    """Gates for a cluster whose masters are `masters` (node name -> host:port), probed through `fetch`.

    `fetch_from(node)`, when given, probes a node's gate from where that node's own traffic is allowed
    (on AWS: curl on the node itself; an HAProxy node, say, may not reach the masters). `fetch` looks up
    the leader, so on AWS it runs on a master.
    """

    def __init__(
        self, masters: Mapping[str, str], fetch: Fetch = local_fetch, fetch_from: Callable[[str], Fetch] | None = None
    ) -> None:
        self.masters = dict(masters)
        self.fetch = fetch
        self.fetch_from = fetch_from

    def _json(self, url: str, fetch: Fetch | None = None) -> dict[str, Any] | None:
        status, body = (fetch or self.fetch)(url)
        return json_object(body) if status == 200 else None

    def _cluster_status(self, address: str, fetch: Fetch | None = None) -> ClusterStatus | None:
        return cluster_status(self._json(f"http://{address}/cluster/status", fetch))

    def _status(self, url: str, fetch: Fetch) -> str:
        status, _ = fetch(url)
        return f"HTTP {status}" if status else "no answer"

    def leader(self) -> str | None:
        for address in self.masters.values():
            name = self._leader_named_by(self._cluster_status(address))
            if name:
                return name
        return None

    def _leader_named_by(self, status: ClusterStatus | None) -> str | None:
        """The name of the master that `status` says leads; None when it names none of `masters`."""
        if status is None or not status.leader:
            return None
        return next((n for n, a in self.masters.items() if a == status.leader_address), None)

    def problem(self, node: RolloutNode) -> str | None:
        fetch = self.fetch_from(node.name) if self.fetch_from else self.fetch
        path = "/cluster/healthz" if node.role is Role.MASTER else "/healthz"
        health = self._status(f"http://{node.address}{path}", fetch)
        if health != "HTTP 200":
            return f"health probe answered {health}"
        if node.role is Role.MASTER:
            return self._master_problem(node, fetch)
        if node.role is Role.VOLUME:
            return self._volume_problem(node, fetch)
        return None

    def _master_problem(self, node: RolloutNode, fetch: Fetch) -> str | None:
        leader = self._leader_named_by(self._cluster_status(node.address, fetch))
        if leader is None:
            return "knows no Raft leader"
        if leader == node.name:
            return None
        status = self._cluster_status(self.masters[leader], fetch)
        peers = list(status.peers) if status else []
        listed = any(http_address(peer) == node.address for peer in peers)
        return None if listed else f"not among the leader's peers {peers}"

    def whole(self, nodes: Sequence[RolloutNode], before: RolloutNode | None) -> str | None:
        others = [n for n in nodes if before is None or n.name != before.name]
        leader, problem = self._quorum(before)
        if problem is not None:
            return problem
        assert leader is not None
        return (
            self._down([n for n in others if n.role is not Role.MASTER])
            or self._unregistered(leader, [n for n in others if n.role is Role.VOLUME])
            or self._copies_short(leader, before)
        )

    def _quorum(self, before: RolloutNode | None) -> tuple[str | None, str | None]:
        """(the leader's name, None) when every master but `before` answers and all name one leader whose
        peers are every other master; (None, what is wrong) otherwise."""
        skip = before.name if before else None
        statuses = {n: self._cluster_status(a) for n, a in self.masters.items() if n != skip}
        silent = [name for name, status in statuses.items() if status is None]
        if silent:
            return None, f"{', '.join(silent)} does not answer /cluster/status"
        named = {name: self._leader_named_by(status) for name, status in statuses.items()}
        leaders = set(named.values())
        if leaders == {None}:
            return None, "no Raft leader"
        if len(leaders) > 1:
            return None, "masters disagree on the leader: " + ", ".join(
                f"{n} names {lead or 'none'}" for n, lead in named.items()
            )
        (leader,) = leaders
        assert leader is not None
        status = statuses.get(leader) or self._cluster_status(self.masters[leader])
        peers = set(status.peer_addresses) if status else set()
        absent = [n for n, a in self.masters.items() if n != leader and a not in peers]
        return (None, f"{', '.join(absent)} not among the leader's peers") if absent else (leader, None)

    def _down(self, nodes: Iterable[RolloutNode]) -> str | None:
        for node in nodes:
            fetch = self.fetch_from(node.name) if self.fetch_from else self.fetch
            health = self._status(f"http://{node.address}/healthz", fetch)
            if health != "HTTP 200":
                return f"{node.name} answers {health} on /healthz"
        return None

    def _unregistered(self, leader: str, volumes: Sequence[RolloutNode]) -> str | None:
        found = data_nodes(self._json(f"http://{self.masters[leader]}/dir/status"))
        if found is None:
            return f"the leader {leader} answered no /dir/status"
        listed = {name for node in found for name in node.names}
        missing = [n.name for n in volumes if n.address not in listed]
        return f"{', '.join(missing)} not registered with the masters" if missing else None

    def _copies_short(self, leader: str, before: RolloutNode | None) -> str | None:
        counts = replica_counts(self._json(f"http://{self.masters[leader]}/vol/status"))
        if counts is None:
            return f"the leader {leader} answered no /vol/status"
        # `before` left down by an earlier run holds copies the count misses; it is what is rolled next.
        spare = 1 if before is not None and before.role is Role.VOLUME and self._down([before]) else 0
        short = sorted(v for v, (have, want) in counts.items() if have < want - spare)
        if not short:
            return None
        have, want = counts[short[0]]
        more = f" and {len(short) - 1} more volumes short" if len(short) > 1 else ""
        return f"volume {short[0]} has {have} of {want} copies{more}"

    def _volume_problem(self, node: RolloutNode, fetch: Fetch) -> str | None:
        for address in self.masters.values():
            status = self._json(f"http://{address}/dir/status", fetch)
            if status is not None:
                return None if registered(status, node.address) else "not registered with the master"
        return "no master answered /dir/status"


class NewClusterGates(HttpGates):
    """For a node's first instance (NodeReady): in a new stack the instances of a tier wait for each other,
    so the full gate could wait for peers that do not exist yet. A master none of whose peers answers is
    the first of a new cluster, and any other node of a cluster without a leader yet is part of its first
    start: each passes once its process answers at all. A replacement in a running cluster (a leader
    exists) gets the full gate."""

    def problem(self, node: RolloutNode) -> str | None:
        fetch = self.fetch_from(node.name) if self.fetch_from else self.fetch
        forming = self._alone(node, fetch) if node.role is Role.MASTER else self._leaderless(fetch)
        if forming:
            status, _ = fetch(f"http://{node.address}{'/cluster/status' if node.role is Role.MASTER else '/'}")
            return None if status else "does not answer"
        return super().problem(node)

    def _leaderless(self, fetch: Fetch) -> bool:
        statuses = [self._cluster_status(a, fetch) for a in self.masters.values()]
        return not any(status.leader for status in statuses if status is not None)

    def _alone(self, node: RolloutNode, fetch: Fetch) -> bool:
        others = [a for name, a in self.masters.items() if name != node.name]
        return all(fetch(f"http://{address}/cluster/status")[0] == 0 for address in others)


def registered(dir_status: Mapping[str, Any], address: str) -> bool:
    """Whether `/dir/status` of the leader lists the volume server at `address`."""
    return any(node.url == address for node in data_nodes(dir_status) or ())


Send = Callable[[str], str]  # one admin-socket command -> its answer


def unix_socket_sender(path: str) -> Send:
    def send(command: str) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(PROBE_TIMEOUT)
            sock.connect(path)
            sock.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")

    return send


def server_rows(show_stat: str) -> dict[str, dict[str, str]]:
    """`show stat` CSV of the filer backend: server name -> its row."""
    return backend_servers(show_stat, FILER_BACKEND)


class Haproxy:
    """Every HAProxy in front of the filers, one admin-socket transport each."""

    def __init__(self, senders: Sequence[Send], drain_timeout: float = DRAIN_TIMEOUT) -> None:
        self.senders = tuple(senders)
        self.drain_timeout = drain_timeout

    def _set_state(self, filer: str, state: str) -> None:
        for send in self.senders:
            answer = send(f"set server {FILER_BACKEND}/{filer} state {state}").strip()
            if answer:
                raise RuntimeError(f"HAProxy refused 'state {state}' for {filer}: {answer}")

    def drain(self, filer: str) -> None:
        self._set_state(filer, "drain")
        deadline = time.monotonic() + self.drain_timeout
        while time.monotonic() < deadline and any(self._sessions(send, filer) for send in self.senders):
            time.sleep(0.2)

    def _sessions(self, send: Send, filer: str) -> int:
        row = server_rows(send("show stat")).get(filer, {})
        return int(row.get("scur") or 0)

    def ready(self, filer: str) -> None:
        self._set_state(filer, "ready")

    def problem(self, filer: str) -> str | None:
        return self.not_serving([filer])

    def not_serving(self, filers: Sequence[str]) -> str | None:
        """One `show stat` per HAProxy for all of `filers`: the first not UP in one of them."""
        for i, send in enumerate(self.senders):
            rows = server_rows(send("show stat"))
            for filer in filers:
                status = rows.get(filer, {}).get("status", "missing")
                if status != "UP":
                    return f"HAProxy #{i} reports {filer} {status}"
        return None
