"""A real rolling upgrade under load: the prod topology started on the previous weed release, rolled to the
pinned one by `components.rollout.driver` (volume servers, filers, S3, masters with the leader last, each
gated on its health, filers drained in HAProxy first), while a bounded 4 KiB PUT+GET load runs through
HAProxy the whole time.

Per run: failed reads, failed writes, the load's write unavailability (the union of every failed
write's start up to the end of the next successful one, and of every write that took over SLOW_WRITE s),
leader changes, files lost (every file written before and during the rollout read back and compared), the
rollout's wall time, and every node's final version. The load's writes wait WRITE_TIMEOUT, so its
unavailability cannot resolve a gap shorter than that; beside it, `benchmarks.probe` measures the longest
write gap, the total unavailable time and the failed probes at probe.RESOLUTION (0.5 s).

One run per suite (a run is a fresh cluster and a whole rollout, about 110 s on the 2-core machine;
three would break the suite's 15 minutes). With AEGIS_BENCH_COMPARE_HANDOVER=1 it runs `--runs` runs of
two variants: the shipped masters (built-in Raft, -electionTimeout=3s), whose leader is restarted last
and fails over, and hashicorp Raft with `cluster.raft.transferLeader` before the leader stops (the only
Raft that command supports). docs/rolling-changes.md has the comparison; the shipped one won.
"""

from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import dataclass, field

import httpx

from benchmarks import probe
from benchmarks.core import Context, Estimate
from benchmarks.ha import HA
from components.model.config import StackConfig
from components.model.topology import Role
from tests.support.checked_files import body, reads_back
from tests.support.loopback_rollout import loopback_rollout
from tests.support.rollout_local import (
    pinned_releases,
    previous_weed,
    releases,
    rollout_targets,
    running_version,
    weed_shell_handover,
)
from tests.support.stack_configs import prod

NAME = "rolling-upgrade"
ESTIMATE = Estimate(fixed=105.0, per_run=0.0)  # one run whatever --runs says; measured: 94 s
SHARED = False

PREWRITTEN = 200
OP_LIMIT = 20_000  # writes and reads each, whatever the rollout's length
LOAD_LIMIT = 600.0  # seconds
WRITE_TIMEOUT = 10.0
SLOW_WRITE = 1.0
GATE_TIMEOUT = 120.0
# A write of the load waits up to WRITE_TIMEOUT, so no gap it reports is shorter; the name says so in the
# table, where this figure stands beside the probes' 0.5 s ones.
LOAD_UNAVAILABILITY = f"write unavailability of the load ({WRITE_TIMEOUT:.0f} s timeout)"


@dataclass
class Load:
    """A writer and a reader thread through the LB, bounded by OP_LIMIT and LOAD_LIMIT."""

    ha: HA
    prefix: str
    files: list[str] = field(default_factory=list)
    writes: list[tuple[float, float, bool]] = field(default_factory=list)
    reads: int = 0
    failed_reads: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def prewrite(self) -> None:
        for i in range(PREWRITTEN):
            path = f"{self.prefix}/before/{i}.bin"
            if self.ha.put(path, body(path)).status_code != 201:
                raise RuntimeError(f"could not write {path} before the rollout")
            self.files.append(path)

    def _write(self) -> None:
        with httpx.Client(timeout=WRITE_TIMEOUT) as client:
            for i in range(OP_LIMIT):
                if self.stop.is_set():
                    return
                path = f"{self.prefix}/during/{i}.bin"
                started = time.monotonic()
                try:
                    ok = client.put(f"{self.ha.lb}{path}", content=body(path)).status_code == 201
                except httpx.HTTPError:
                    ok = False
                self.writes.append((started, time.monotonic(), ok))
                if ok:
                    self.files.append(path)
                time.sleep(0.02)

    def _read(self) -> None:
        pick = random.Random(7)
        with httpx.Client(timeout=WRITE_TIMEOUT) as client:
            while not self.stop.is_set() and self.reads < OP_LIMIT:
                path = self.files[pick.randrange(len(self.files))]
                self.reads += 1
                self.failed_reads += not reads_back(client, f"{self.ha.lb}{path}", path)
                time.sleep(0.01)

    def start(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=self._write, daemon=True), threading.Thread(target=self._read, daemon=True)]
        for thread in threads:
            thread.start()
        return threads


def unavailability(writes: list[tuple[float, float, bool]]) -> float:
    """Seconds covered by failed writes (each up to the end of the next success) or slow ones."""
    spans = []
    ordered = sorted(writes)
    for i, (start, end, ok) in enumerate(ordered):
        if not ok:
            recovered = next((e for s, e, good in ordered[i + 1 :] if good), end)
            spans.append((start, max(end, recovered)))
        elif end - start > SLOW_WRITE:
            spans.append((start, end))
    total, reach = 0.0, float("-inf")
    for start, end in sorted(spans):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


class LeaderWatch(threading.Thread):
    """Samples the leader every 0.25 s and counts changes from one leader to another."""

    def __init__(self, ha: HA) -> None:
        super().__init__(daemon=True)
        self.ha, self.stop, self.changes, self.last = ha, threading.Event(), 0, ""

    def run(self) -> None:
        while not self.stop.is_set():
            leader = self.ha.leader()
            if leader and self.last and leader != self.last:
                self.changes += 1
            self.last = leader or self.last
            time.sleep(0.25)


def lost_files(ha: HA, files: list[str]) -> int:
    with httpx.Client(timeout=30) as client:
        return sum(not reads_back(client, f"{ha.lb}{path}", path) for path in files)


def upgrade(ha: HA, tag: str, handover: bool) -> tuple[dict[str, float | str], dict[str, probe.Gaps]]:
    """Roll the running cluster to the pinned release under load; the run's figures and its probes' gaps."""
    topology = ha.topology
    targets = pinned_releases(topology)
    rollout = loopback_rollout(
        ha.cluster,
        releases(topology, previous_weed()),
        targets,
        GATE_TIMEOUT,
        leader_handover=weed_shell_handover(ha.cluster) if handover else None,
    )
    load = Load(ha, f"{ha.bucket}/bench-rollout/{tag}")
    load.prewrite()
    watch = LeaderWatch(ha)
    watch.start()
    threads = load.start()
    prober = probe.Prober(ha.lb, f"{ha.bucket}/bench-probe/rollout-{tag}")
    started = time.monotonic()
    try:
        with prober:
            result = rollout.run(rollout_targets(targets))
            seconds = time.monotonic() - started
            time.sleep(5)  # the load and the probes keep going a little after the last node
    finally:
        load.stop.set()
        watch.stop.set()
        for thread in (*threads, watch):
            thread.join(timeout=WRITE_TIMEOUT + 5)
    if not result.ok:
        raise RuntimeError(result.summary())
    versions = {s.name: running_version(ha.cluster, s) for s in topology.services}
    return {
        "failed reads": load.failed_reads,
        "reads": load.reads,
        "failed writes": sum(not ok for _, _, ok in load.writes),
        "writes": len(load.writes),
        LOAD_UNAVAILABILITY: unavailability(load.writes),
        "leader changes": watch.changes,
        "files lost": lost_files(ha, load.files),
        "files checked": len(load.files),
        "rollout": seconds,
        "versions": ", ".join(f"{n}={v}" for n, v in sorted(versions.items())),
        "order": " ".join(result.rolled),
    }, prober.gaps()


SHIPPED: dict[str, tuple[StackConfig, bool]] = {"shipped, leader fails over": (prod(), False)}
COMPARISON: dict[str, tuple[StackConfig, bool]] = {
    **SHIPPED,
    "hashicorp, transferLeader": (prod(raftHashicorp=True), True),
}
UNITS = {
    "failed reads": "reads",
    "failed writes": "writes",
    LOAD_UNAVAILABILITY: "s",
    "leader changes": "changes",
    "files lost": "files",
    "rollout": "s",
}


def run(ctx: Context, runs: int) -> None:
    compare = os.environ.get("AEGIS_BENCH_COMPARE_HANDOVER") == "1"
    for index, (label, (cfg, handover)) in enumerate((COMPARISON if compare else SHIPPED).items()):
        figures = {name: ctx.figure(f"{label}: {name}", unit) for name, unit in UNITS.items()}
        probed = probe.figures(ctx, label)
        # The comparison is asked for explicitly: it takes its runs whatever the suite's deadline says.
        for run_index in range(runs) if compare else ctx.runs(1):
            with ctx.clusters.fresh(cfg, weed=previous_weed()) as ha:
                assert {s.role for s in ha.topology.services} >= {Role.MASTER, Role.FILER}
                seen, found = upgrade(ha, f"{index}-{run_index}", handover)
            ctx.log(f"{label}: " + ", ".join(f"{k} {v}" for k, v in seen.items()))
            for kind, gaps in found.items():
                ctx.log(f"{label}: {probe.summary(kind, gaps)}")
            for name, figure in figures.items():
                figure.values.append(float(seen[name]))
            for name, value in probe.values(found).items():
                probed[name].values.append(value)
