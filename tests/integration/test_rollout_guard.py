"""The rollout guards the whole cluster: a volume server killed while the volume tier rolls stops the rollout
before its next stop, and no volume ever loses its last live copy.

The prod topology (3 masters, 3 volume servers with replication 010, 3 filers on PostgreSQL, 2 HAProxy, S3)
starts on the previous weed (`.weed/4.47`) and holds files written through HAProxy. The rollout to the pinned
weed rolls volume-0; the moment volume-0 passed its gate, volume-2 is SIGKILLed. The rollout must stop before
stopping volume-1 (volume-1 and volume-2 down together would leave the volumes they share without a live
copy), name volume-2, and restart neither. A watcher reads the leader's `/vol/status` every 0.2 s and counts,
per volume, the copies on volume servers whose process is alive.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from components.healthcheck.wire import json_object, volume_copies
from components.model.aegis.layout import volume_path
from components.model.topology import Role
from tests.support.cluster import LocalCluster, health_target
from tests.support.loopback_rollout import loopback_rollout, running_previous_prod
from tests.support.rollout_local import (
    pinned_releases,
    previous_weed,
    releases,
    rollout_targets,
)

pytestmark = pytest.mark.integration

SUBNET = "127.0.57"
KILLED = "volume-2"
GATE_TIMEOUT = 15.0  # how long the rollout waits for the cluster to be whole again (prod: 300 s)
FILES = 40
WATCH_EVERY = 0.2


@pytest.fixture
def cluster(tmp_path_factory) -> Iterator[LocalCluster]:
    with running_previous_prod(tmp_path_factory.mktemp("guard"), SUBNET) as started:
        yield started


class CopyWatch(threading.Thread):
    """Per volume, the fewest copies seen on live volume servers while it runs."""

    def __init__(self, cluster: LocalCluster) -> None:
        super().__init__(daemon=True)
        self.cluster = cluster
        self.masters = [m.http_address for m in cluster.topology.of(Role.MASTER)]
        self.servers = {s.http_address: s.name for s in cluster.topology.of(Role.VOLUME)}
        self.fewest: dict[int, int] = {}
        self.samples = 0
        self.stop = threading.Event()

    def live_copies(self, client: httpx.Client) -> dict[int, int] | None:
        for address in self.masters:
            try:
                copies = volume_copies(json_object(client.get(f"http://{address}/vol/status").text))
            except httpx.HTTPError:
                continue
            if copies:
                alive = {a for a, name in self.servers.items() if self.cluster.processes[name].alive()}
                counts = dict.fromkeys(self.fewest, 0)  # a volume no longer listed has no live copy
                for copy in copies:
                    counts[copy.id] = counts.get(copy.id, 0) + (copy.server in alive)
                return counts
        return None

    def run(self) -> None:
        with httpx.Client(timeout=2) as client:
            while not self.stop.is_set():
                counts = self.live_copies(client)
                if counts is not None:
                    self.samples += 1
                    for volume, live in counts.items():
                        self.fewest[volume] = min(live, self.fewest.get(volume, live))
                self.stop.wait(WATCH_EVERY)


def write_files(cluster: LocalCluster) -> None:
    lb = health_target(cluster.topology, cluster.values).native_url  # its volume ids are no UUIDs: the admin port
    with httpx.Client(timeout=30) as client:
        for i in range(FILES):
            path = f"{volume_path('guard-test', 'before')}/{i}.bin"
            assert client.put(f"{lb}{path}", content=os.urandom(4096)).status_code == 201


def fully_replicated(cluster: LocalCluster, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    watch = CopyWatch(cluster)
    with httpx.Client(timeout=2) as client:
        while time.monotonic() < deadline:
            counts = watch.live_copies(client)
            if counts and all(live == 2 for live in counts.values()):
                return
            time.sleep(0.5)
    raise AssertionError(f"volumes not fully replicated after {timeout:g} s")


def test_a_volume_server_killed_during_the_volume_tier_stops_the_rollout_before_the_next_stop(cluster):
    write_files(cluster)
    fully_replicated(cluster)
    targets = pinned_releases(cluster.topology)
    events: list[tuple[float, str, str]] = []
    killed_at: list[float] = []

    def on_event(node: str, what: str) -> None:
        events.append((time.monotonic(), node, what))
        if (node, what) == ("volume-0", "healthy"):
            os.kill(cluster.processes[KILLED].popen.pid, signal.SIGKILL)
            killed_at.append(time.monotonic())

    rollout = loopback_rollout(
        cluster, releases(cluster.topology, previous_weed()), targets, GATE_TIMEOUT, on_event=on_event
    )
    watch = CopyWatch(cluster)
    watch.start()
    started = time.monotonic()
    try:
        result = rollout.run(rollout_targets(targets))
    finally:
        watch.stop.set()
        watch.join(5)
    ended = time.monotonic()
    done = [(node, what) for _, node, what in events]
    print(
        f"rollout {ended - started:.1f}s; killed {KILLED} {killed_at[0] - started:.1f}s in; stopped "
        f"{ended - killed_at[0]:.1f}s after the kill; {result.summary()}; fewest live copies "
        f"{min(watch.fewest.values())} over {len(watch.fewest)} volumes in {watch.samples} samples"
    )
    assert killed_at, done
    assert result.rolled == ["volume-0"] and result.failed == "volume-1" and result.before, result.summary()
    assert result.summary().startswith("rollout stopped before volume-1: cluster not whole: "), result.summary()
    assert KILLED in result.reason, result.summary()
    assert ("volume-1", "stopped") not in done and not any(node == KILLED for node, _ in done), done
    assert cluster.processes["volume-1"].alive() and not cluster.processes[KILLED].alive()
    assert watch.samples > 10 and watch.fewest and min(watch.fewest.values()) >= 1, watch.fewest
    assert GATE_TIMEOUT <= ended - killed_at[0] < GATE_TIMEOUT + 15
