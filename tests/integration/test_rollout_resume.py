"""A resume after a bad master flag keeps the Raft leader until the planned leader restart.

The prod topology (3 masters, 3 volume servers, 3 filers on PostgreSQL, 2 HAProxy, S3) runs the pinned weed.
A change of the masters' command line carries a flag weed does not know: the rollout stops at the first
master it restarts (a follower), with quorum kept. The re-run with the flag fixed must bring that master
back without it taking the leadership (the leader's link to it sat in reconnect backoff while it was
down, so it hears no heartbeat for longer than its election timeout and, with no pre-vote in goraft,
campaigns and wins), then roll the other follower and the leader last: at most one leader change, and it
comes after the leader was stopped.

While the re-run runs, a writer PUTs 4 KiB every 20 ms through HAProxy and every master's /cluster/status is
read every 100 ms; every file written is read back afterwards.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import httpx
import pytest

from components.model.aegis.layout import volume_path
from components.model.topology import Role, Topology
from components.rollout.driver import Rollout, RolloutResult
from tests.support.checked_files import body, reads_back
from tests.support.cluster import LocalCluster, health_target, running_prod
from tests.support.loopback_rollout import loopback_rollout
from tests.support.rollout_local import (
    Release,
    loopback_gates,
    pinned_releases,
    rollout_targets,
)
from tests.support.stack_configs import prod

pytestmark = pytest.mark.integration

SUBNET = "127.0.53"
BAD_FLAG = "-noSuchFlag=1"
BAD_GATE_TIMEOUT = 20.0  # how long the broken master is waited for (prod: healthTimeoutSeconds, 300 s)
FIX_GATE_TIMEOUT = 150.0
WRITE_EVERY = 0.02
WRITE_TIMEOUT = 10.0
WRITE_LIMIT = 15_000  # the writer stops there or when the re-run ends, whichever is first
POLL_EVERY = 0.1


@dataclass
class Write:
    start: float
    end: float
    ok: bool
    error: str = ""


class Writer(threading.Thread):
    """PUTs through the load balancer until stopped or WRITE_LIMIT; remembers what it wrote."""

    def __init__(self, lb: str, prefix: str) -> None:
        super().__init__(daemon=True)
        self.lb, self.prefix = lb, prefix
        self.writes: list[Write] = []
        self.files: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=WRITE_TIMEOUT) as client:
            for i in range(WRITE_LIMIT):
                if self.stop.is_set():
                    return
                path = f"{self.prefix}/{i}.bin"
                started = time.monotonic()
                try:
                    answer = client.put(f"{self.lb}{path}", content=body(path))
                    ok, error = answer.status_code == 201, "" if answer.status_code == 201 else answer.text[:200]
                except httpx.HTTPError as err:
                    ok, error = False, type(err).__name__
                self.writes.append(Write(started, time.monotonic(), ok, error))
                if ok:
                    self.files.append(path)
                self.stop.wait(WRITE_EVERY)

    def failed(self, before: float = float("inf")) -> list[Write]:
        """Failed writes that ended before `before`."""
        return [w for w in self.writes if not w.ok and w.end < before]

    def lost(self) -> list[str]:
        """Files written that do not read back with their bytes."""
        with httpx.Client(timeout=30) as client:
            return [p for p in self.files if not reads_back(client, f"{self.lb}{p}", p)]


class LeaderLog(threading.Thread):
    """Every master's /cluster/status every POLL_EVERY s; `changes` is each move from one leader to another."""

    def __init__(self, topology: Topology) -> None:
        super().__init__(daemon=True)
        self.masters = {m.name: m.http_address for m in topology.of(Role.MASTER)}
        self.changes: list[tuple[float, str, str]] = []  # (when, from, to)
        self.leaderless: list[float] = []  # when no master named a leader
        self.stop = threading.Event()

    def _leader(self, client: httpx.Client) -> str:
        named: list[str] = []
        for address in self.masters.values():
            try:
                named.append(str(client.get(f"http://{address}/cluster/status").json().get("Leader") or ""))
            except (httpx.HTTPError, ValueError):
                continue
        votes = [n for n in (self._master_of(raft) for raft in named) if n]
        return max(set(votes), key=votes.count) if votes else ""

    def _master_of(self, raft_address: str) -> str:
        return next((n for n, a in self.masters.items() if raft_address and raft_address.startswith(a)), "")

    def run(self) -> None:
        last = ""
        with httpx.Client(timeout=POLL_EVERY * 5) as client:
            while not self.stop.is_set():
                now, leader = time.monotonic(), self._leader(client)
                if not leader:
                    self.leaderless.append(now)
                elif last and leader != last:
                    self.changes.append((now, last, leader))
                last = leader or last
                self.stop.wait(POLL_EVERY)


def master_change(topology: Topology, cycle: int, broken: bool) -> dict[str, Release]:
    """A change of every master's command line (a harmless flag value per cycle), with a bad flag or without."""
    targets = pinned_releases(topology)
    extra = (f"-metrics.intervalSeconds={15 + cycle}", *((BAD_FLAG,) if broken else ()))
    for name, release in targets.items():
        if release.service.role is Role.MASTER:
            targets[name] = replace(release, service=replace(release.service, args=(*release.service.args, *extra)))
    return targets


def driver(cluster: LocalCluster, targets: dict[str, Release], gate_timeout: float, events: list) -> Rollout:
    # What runs now is what the last cycle's fixed change put there (or the pinned release at the start).
    return loopback_rollout(
        cluster,
        pinned_releases(cluster.topology),
        targets,
        gate_timeout,
        on_event=lambda node, what: events.append((time.monotonic(), node, what)),
    )


@dataclass
class Resume:
    """What the bad-flag run and the fixed re-run did, and what the re-run cost."""

    stopped: RolloutResult
    resumed: RolloutResult
    leader_before: str
    leader_stopped_at: float | None  # when the re-run stopped the leader (the planned change), None if never
    changes: list[tuple[float, str, str]]
    writer: Writer
    started: float
    ended: float
    events: list[tuple[float, str, str]] = field(default_factory=list)

    @property
    def early_changes(self) -> list[tuple[float, str, str]]:
        """Leader changes before the planned one: the resume moved the leader."""
        planned = self.leader_stopped_at if self.leader_stopped_at is not None else float("inf")
        return [c for c in self.changes if c[0] < planned]

    def line(self) -> str:
        failed = self.writer.failed()
        early = self.writer.failed(self.leader_stopped_at or float("inf"))
        errors = sorted({w.error[:60] for w in failed})
        moves = ", ".join(f"{a}->{b} at +{t - self.started:.1f}s" for t, a, b in self.changes) or "none"
        return (
            f"re-run {self.ended - self.started:.1f}s, rolled {' '.join(self.resumed.rolled)}"
            f"; leader {self.leader_before}, changes {len(self.changes)} ({moves}), early {len(self.early_changes)}"
            f"; failed writes {len(failed)}"
            f" of {len(self.writer.writes)} ({len(early)} before the leader stop) {errors}"
        )


def bad_flag_then_fix(cluster: LocalCluster, cycle: int, bad_gate_timeout: float = BAD_GATE_TIMEOUT) -> Resume:
    events: list[tuple[float, str, str]] = []
    broken = master_change(cluster.topology, cycle, broken=True)
    stopped = driver(cluster, broken, bad_gate_timeout, events).run(rollout_targets(broken))
    fixed = master_change(cluster.topology, cycle, broken=False)
    gates = loopback_gates(cluster.topology)
    leader_before = gates.leader() or ""
    lb = health_target(cluster.topology, cluster.values).native_url  # its volume ids are no UUIDs: the admin port
    writer = Writer(lb, f"{volume_path('resume-test', f'cycle-{cycle}')}/during")
    watch = LeaderLog(cluster.topology)
    watch.start()
    writer.start()
    time.sleep(1.0)  # the load and the watch run before the first restart
    started = time.monotonic()
    try:
        resumed = driver(cluster, fixed, FIX_GATE_TIMEOUT, events).run(rollout_targets(fixed))
        ended = time.monotonic()
        time.sleep(3.0)  # and a little after the last node
    finally:
        writer.stop.set()
        watch.stop.set()
        writer.join(WRITE_TIMEOUT + 5)
        watch.join(5)
    leader_stop = next((t for t, n, what in events if t >= started and n == leader_before and what == "stopped"), None)
    return Resume(stopped, resumed, leader_before, leader_stop, watch.changes, writer, started, ended, events)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[LocalCluster]:
    with running_prod(prod(), tmp_path_factory.mktemp("resume"), SUBNET) as (started, _):
        yield started


def test_a_resume_after_a_bad_master_flag_does_not_move_the_leader(cluster: LocalCluster):
    resume = bad_flag_then_fix(cluster, cycle=0)
    print(resume.line())

    assert not resume.stopped.ok and resume.stopped.failed.startswith("master-"), resume.stopped.summary()
    assert resume.stopped.failed != resume.leader_before, "the first master restarted must be a follower"
    assert resume.resumed.ok, resume.resumed.summary()
    # The leader stays put until the re-run stops it; the master left down comes back first.
    assert resume.early_changes == [], resume.line()
    assert resume.writer.failed(resume.leader_stopped_at or float("inf")) == [], resume.line()
    assert len(resume.changes) <= 1, resume.line()
    assert resume.resumed.rolled[0] == resume.stopped.failed, resume.resumed.summary()
    assert resume.resumed.rolled[-1] == resume.leader_before, resume.resumed.summary()
    assert resume.writer.lost() == [], resume.line()
