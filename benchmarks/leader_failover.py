"""Raft leader SIGKILL: how long until a new leader, and until writes through the LB work again.

Three master variants, each built from the model with `prod(...)` so the commands are the stacks':
the built-in Raft with its default -electionTimeout=10s, hashicorp Raft, and the built-in Raft with
-electionTimeout=3s. Each variant gets one fresh cluster for all its runs; between runs the killed
master is restarted and the cluster waited healthy. During each gap a reader thread keeps reading a
fixed set of existing files through the LB and counts failures, and `benchmarks.probe` probes writes and
reads every 0.1 s from PROBE_BEFORE s before the kill to PROBE_AFTER s after the first write: the longest
write gap, from the last write before the kill to the first after it, at probe.RESOLUTION (0.5 s).
"""

from __future__ import annotations

import os
import threading
import time

import httpx

from benchmarks import probe
from benchmarks.core import Context, Estimate, describe
from benchmarks.ha import HA
from components.model.config import StackConfig
from tests.support.stack_configs import prod

NAME = "leader-failover"
# Measured: 73 s for a fresh cluster and 3 runs, before each run also probed PROBE_BEFORE + PROBE_AFTER
# (4 s) around the gap; 106 s with them, on a machine busy with other clusters. The suite measures the
# shipped setting; the two alternatives it was chosen against are a comparison asked for explicitly
# (AEGIS_BENCH_COMPARE_RAFT=1, README), so the suite's 15 minutes also hold the rolling upgrade and the repair.
SHIPPED = "raft 3s"
ESTIMATE = Estimate(fixed=15.0, per_run=24.0)
SHARED = False

GAP_LIMIT = 120.0  # seconds a run may wait for the new leader and the first successful write
# Probes succeed for a while before the kill, so the gap starts at the last write that worked rather than
# at the kill, and go on after the first write, so writes failing again after one success show up.
PROBE_BEFORE = 1.0
PROBE_AFTER = 3.0
READ_LIMIT = 20_000


def variants() -> dict[str, StackConfig]:
    return {
        "raft 10s": prod(raftHashicorp=False, electionTimeout="10s"),
        "hashicorp": prod(raftHashicorp=True, electionTimeout="10s"),
        "raft 3s": prod(raftHashicorp=False, electionTimeout="3s"),
    }


class _Reader(threading.Thread):
    """Reads `files` through the LB in a loop until stopped, at most READ_LIMIT reads."""

    def __init__(self, lb: str, files: dict[str, bytes]) -> None:
        super().__init__(daemon=True)
        self.lb, self.files = lb, files
        self.stop = threading.Event()
        self.reads = 0
        self.failures = 0

    def run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self.stop.is_set() and self.reads < READ_LIMIT:
                for path, body in self.files.items():
                    self.reads += 1
                    try:
                        got = client.get(f"{self.lb}{path}")
                        ok = got.status_code == 200 and got.content == body
                    except httpx.HTTPError:
                        ok = False
                    self.failures += not ok
                time.sleep(0.05)


def failover(ha: HA, run: int) -> tuple[dict[str, float | None], int, dict[str, probe.Gaps]]:
    """Kill the leader: seconds to a new leader and to the first LB write, the failed reads, the probes' gaps."""
    existing = {f"{ha.bucket}/bench-failover/{run}/{i}.bin": os.urandom(1024) for i in range(10)}
    for path, body in existing.items():
        if ha.put(path, body).status_code != 201:
            raise RuntimeError(f"could not write {path} before the kill")
    old = ha.leader()
    if not old:
        raise RuntimeError("no leader before the kill")
    reader = _Reader(ha.lb, existing)
    reader.start()
    prober = probe.Prober(ha.lb, f"{ha.bucket}/bench-probe/failover-{run}")
    try:
        with prober:
            time.sleep(PROBE_BEFORE)
            killed = time.monotonic()
            ha.cluster.kill(old)
            seen = ha.watch(killed, {"leader": lambda: ha.leader() not in ("", old)}, GAP_LIMIT, f"failover-{run}")
            time.sleep(PROBE_AFTER)
    finally:
        reader.stop.set()
        reader.join(timeout=30)
    ha.recover(old)
    return seen, reader.failures, prober.gaps()


def run(ctx: Context, runs: int) -> None:
    compare = os.environ.get("AEGIS_BENCH_COMPARE_RAFT") == "1"
    for label, cfg in variants().items():
        if label != SHIPPED and not compare:
            continue
        leader = ctx.figure(f"{label}: new leader", "s")
        write = ctx.figure(f"{label}: first write via LB", "s")
        reads = ctx.figure(f"{label}: failed reads in the gap", "reads")
        probed = probe.figures(ctx, label)
        with ctx.clusters.fresh(cfg) as ha:
            for run_index in ctx.runs(runs):
                seen, failed, found = failover(ha, run_index)
                ctx.log(f"{label}: {describe(seen)}, failed reads {failed}")
                for kind, gaps in found.items():
                    ctx.log(f"{label}: {probe.summary(kind, gaps)}")
                if seen["leader"] is None or seen["write"] is None:
                    raise RuntimeError(f"{label}: no new leader or no write within {GAP_LIMIT:.0f}s")
                leader.values.append(seen["leader"])
                write.values.append(seen["write"])
                reads.values.append(failed)
                for name, value in probe.values(found).items():
                    probed[name].values.append(value)
