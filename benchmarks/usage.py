"""`python -m benchmarks.usage`: the usage service's figures (issue #16), each beside its baseline from the same run.

- `GET /dir/status` p50/p99 at 2,000 requests/s against 10,000 volumes, as AEGIS asks it: through an HAProxy
  running the model's haproxy.cfg, which routes it to the service beside it, vs that HAProxy's own fixed 404
  (what AEGIS got before the service, and still gets while it is down). Open loop (benchmarks/loadgen.py):
  latency runs from each request's due time, so a stall counts for every request it delays. The service
  asked directly, vs its own fixed 404, splits the time between HAProxy and the service. The service runs
  in its own process with synthetic volumes, as caught up.
- write-to-usage lag: a PUT at a filer until the service's answer through AEGIS's filer URL shows it, on the
  dev topology with its usage service (tests/support/cluster.py), vs a bare `weed filer.meta.tail` seeing it;
- AEGIS-style writes: 1 MiB files, each after one usage call (as AEGIS's fsal.rs `write` does), the call
  answered by the service vs by HAProxy's fixed 404, interleaved on the same cluster;
- catch-up for 100,000 volumes: loading the checkpoint (what a restart does) vs applying every volume's
  events again (what a restart without a checkpoint would do), synthetic events, 3 files per volume;
- memory of the index per 100,000 volumes (tracemalloc).

2 cores run HAProxy, the service and the load generator together, so the achieved rate and every process's
CPU are printed beside the latencies.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import re
import subprocess
import sys
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from tempfile import TemporaryDirectory

import httpx

from benchmarks.loadgen import LoadResult, cpu_seconds, get_request, machine_busy, offer, percentile
from components.model.config import parse
from components.model.haproxy import USAGE_PORT, render_haproxy_cfg
from components.model.topology import Role
from components.usage.index import Change, UsageIndex
from components.usage.server import make_server
from components.usage.service import Settings, State
from tests.support import aegis_client as aegis
from tests.support.cluster import fresh_values, loopback_topology, running, weed_binary

RATE_PER_S = 2000
REQUESTS = 20_000  # 10 s at RATE_PER_S
WORKERS = 2
CONNECTIONS = 4  # per worker
VOLUMES = 10_000
TARGET_P99_MS = 2.0
# Its own loopback address: the model's haproxy.cfg names the service on USAGE_PORT of the address HAProxy binds.
ADDRESS = "127.0.0.87"
HAPROXY_PORT = 8888
NOT_A_VOLUME = "/aegis/volumes/t"  # HAProxy answers this itself: its fixed 404
# The dev topology with the usage service, for the figures that need a real filer; a subnet no test uses.
SUBNET = "127.0.93"
LAG_WRITES = 200
LAG_POLL_S = 0.005
LAG_GIVE_UP_S = 5.0  # a write the service has not shown by then counts as missed
TARGET_LAG_P99_S = 1.0
CHUNK = 1024 * 1024
CHUNKS = 64  # per side: 64 MiB with the service answering, 64 MiB with the fixed 404
ROUNDS = 8  # the two sides alternate, CHUNKS / ROUNDS each time, so drift and neighbours hit both alike


def synthetic_events(volumes: int, files: int = 3) -> list[Change]:
    events, ts = [], 1
    for v in range(volumes):
        base = f"/aegis/volumes/t-{v % 97}/{v:08x}-0000-4000-8000-000000000000"
        events.append(Change(ts, new=base, new_is_dir=True))
        for f in range(files):
            ts += 1
            events.append(Change(ts, new=f"{base}/d/f{f}", new_size=1000 + f))
        ts += 1
    return events


def catch_up(volumes: int = 100_000) -> dict[str, float]:
    events = synthetic_events(volumes)
    start = time.perf_counter()
    index = UsageIndex()
    for change in events:
        index.apply(change)
    replay = time.perf_counter() - start
    with TemporaryDirectory() as tmp:
        path = Path(tmp) / "checkpoint.json"
        path.write_text(json.dumps({"index": index.snapshot()}))
        start = time.perf_counter()
        UsageIndex.restore(json.loads(path.read_text())["index"])
        load = time.perf_counter() - start
        size = path.stat().st_size
    return {"checkpoint_load_s": load, "full_replay_s": replay, "checkpoint_mib": size / 2**20}


def memory(volumes: int = 100_000) -> float:
    events = synthetic_events(volumes)
    tracemalloc.start()
    index = UsageIndex()
    for change in events:
        index.apply(change)
    used = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del index
    return used / 2**20


def serve_synthetic(volumes: int, pipe: Connection, log: str) -> None:
    """The service's HTTP side over `volumes` synthetic volumes, caught up (so /healthz answers 200 and HAProxy
    routes to it); runs until its process is stopped. Its errors go to `log`, as the real one's go to its log."""
    sys.stderr = open(log, "a", buffering=1)  # noqa: SIM115 - the process's stderr, open until it ends
    state = State()
    for change in synthetic_events(volumes):
        state.index.apply(change)
    state.caught_up.set()
    settings = Settings(filers=(), state_dir=Path("/nonexistent"), node="bench", base_rules="{}")
    server = make_server(settings, state, ADDRESS, USAGE_PORT)
    pipe.send(sorted(state.index.volumes))
    server.serve_forever()


@contextmanager
def synthetic_service(volumes: int, log: Path) -> Iterator[tuple[int, list[str]]]:
    """(its PID, its volumes): its own process, as on a tier node, so it shares no interpreter lock with the
    benchmark."""
    context = multiprocessing.get_context("spawn")
    mine, theirs = context.Pipe()
    process = context.Process(target=serve_synthetic, args=(volumes, theirs, str(log)), daemon=True)
    process.start()
    try:
        if not mine.poll(60):
            raise TimeoutError("the usage service never started")
        assert process.pid is not None
        yield process.pid, mine.recv()
    finally:
        process.terminate()
        process.join(timeout=10)


@contextmanager
def haproxy_in_front(probe: str) -> Iterator[int]:
    """The model's haproxy.cfg on ADDRESS (no filer behind it: these calls never reach one); its PID once it
    routes `probe`'s usage call to the service (the service's answer, not HAProxy's fixed 404)."""
    cfg = render_haproxy_cfg(["127.0.0.1:9"], bind=ADDRESS, port=HAPROXY_PORT, stats_bind=ADDRESS, stats_port=8404)
    with TemporaryDirectory() as tmp:
        path = Path(tmp) / "haproxy.cfg"
        path.write_text(cfg)
        haproxy = subprocess.Popen(["haproxy", "-db", "-f", str(path)], stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while True:
                with contextlib.suppress(httpx.HTTPError), httpx.Client(timeout=2.0) as client:
                    if aegis.get_usage(client, f"http://{ADDRESS}:{HAPROXY_PORT}", probe).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise TimeoutError("HAProxy never routed the usage call to the service")
                time.sleep(0.2)
            yield haproxy.pid
        finally:
            haproxy.terminate()
            haproxy.wait(timeout=10)


@dataclass
class Load:
    """One open-loop run and the CPU each party used during it, in cores (CPU seconds per second)."""

    result: LoadResult
    haproxy_cores: float
    service_cores: float
    generator_cores: float
    machine_cores: float  # every process on the machine

    @property
    def other_cores(self) -> float:
        """What the machine spent on anything else: other work sharing it makes the tail what it is."""
        return max(0.0, self.machine_cores - self.haproxy_cores - self.service_cores - self.generator_cores)


class Meter:
    """CPU of HAProxy, the service and the whole machine from `start()` (called once the generator is connected,
    so its start-up is not counted) to `stop(result)`."""

    def __init__(self, haproxy: int, service: int) -> None:
        self.pids = haproxy, service
        self.before = (0.0, 0.0, 0.0, 0.0)

    def start(self) -> None:
        self.before = cpu_seconds(self.pids[0]), cpu_seconds(self.pids[1]), machine_busy()[0], time.monotonic()

    def stop(self, result: LoadResult) -> Load:
        wall = time.monotonic() - self.before[3]
        return Load(
            result,
            haproxy_cores=(cpu_seconds(self.pids[0]) - self.before[0]) / wall,
            service_cores=(cpu_seconds(self.pids[1]) - self.before[1]) / wall,
            generator_cores=result.generator_cpu_s / wall,
            machine_cores=(machine_busy()[0] - self.before[2]) / wall,
        )


def http_latency(volumes: int = VOLUMES) -> tuple[dict[str, Load], list[str]]:
    """Every run's figures, and the exceptions the service logged (the last line of each traceback)."""
    haproxy_at, service_at = (ADDRESS, HAPROXY_PORT), (ADDRESS, USAGE_PORT)
    with TemporaryDirectory() as tmp:
        log = Path(tmp) / "usage.log"
        with synthetic_service(volumes, log) as (service, paths), haproxy_in_front(paths[0]) as haproxy:
            runs = {
                "through_haproxy": (haproxy_at, [get_request(*haproxy_at, "/dir/status", {"path": p}) for p in paths]),
                "haproxy_404": (haproxy_at, [get_request(*haproxy_at, "/dir/status", {"path": NOT_A_VOLUME})]),
                "service": (service_at, [get_request(*service_at, "/dir/status", {"path": p}) for p in paths]),
                "service_404": (service_at, [get_request(*service_at, "/fixed-404")]),
            }
            loads = {}
            for name, (at, requests) in runs.items():
                meter = Meter(haproxy, service)
                result = offer(
                    at,
                    requests,
                    rate=RATE_PER_S,
                    count=REQUESTS,
                    workers=WORKERS,
                    connections=CONNECTIONS,
                    on_start=meter.start,
                )
                loads[name] = meter.stop(result)
        # A traceback's last line starts with the exception's name: "ConnectionResetError: [Errno 104] ...".
        errors = [line for line in log.read_text().splitlines() if re.match(r"[A-Za-z.]+(Error|Exception)\b", line)]
    return loads, errors


class TailWatch:
    """A bare `weed filer.meta.tail` below one volume: when each name first shows up in the filer's stream, the
    floor under what the service (which reads the same stream) can show."""

    def __init__(self, filer: str, prefix: str) -> None:
        argv = [weed_binary(), "filer.meta.tail", f"-filer={filer}", f"-pathPrefix={prefix}"]
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.seen: dict[str, float] = {}
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            # protojson prints `"name": "<name>",` with varying spaces; the quoted name alone is unique here.
            start = line.find('"lag-')
            if start >= 0:
                name = line[start + 1 : line.index('"', start + 1)]
                self.seen.setdefault(name, time.monotonic())

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def usage_total(client: httpx.Client, url: str, volume: str) -> int:
    answer = aegis.get_usage(client, url, volume)
    assert answer.status_code in (200, 404), answer.text
    return answer.json()["TotalSize"] if answer.status_code == 200 else -1


@dataclass
class Lag:
    service_s: list[float]  # PUT sent at the filer -> the service's answer shows the write
    stream_s: list[float]  # PUT sent -> a bare filer.meta.tail prints it
    put_s: list[float]  # PUT sent -> the filer answered: the write itself
    missed: int


def write_lag(client: httpx.Client, url: str, filer: str, writes: int = LAG_WRITES) -> Lag:
    """`writes` PUTs of 1,000 bytes into one volume, one at a time, each at the filer directly; once the filer
    answered, the usage call (through AEGIS's filer URL) is repeated every LAG_POLL_S until its TotalSize moves.
    Every figure runs from the moment the PUT is sent."""
    volume = aegis.volume_path("bench")
    tail = TailWatch(filer.removeprefix("http://"), volume)
    try:
        # The stream is subscribed once a write is seen through it (bounded); the service sees this one too.
        deadline = time.monotonic() + 20
        while "lag-warm" not in tail.seen:
            client.put(f"{filer}{volume}/lag-warm", content=b"w")
            if time.monotonic() > deadline:
                raise TimeoutError("filer.meta.tail never printed a write")
            time.sleep(0.5)
        service_s, put_s, sent_at, missed = [], [], {}, 0
        for i in range(writes):
            name = f"lag-{i:04d}"
            before = usage_total(client, url, volume)
            sent_at[name] = sent = time.monotonic()
            answer = client.put(f"{filer}{volume}/{name}", content=b"x" * 1000)
            put_s.append(time.monotonic() - sent)
            assert answer.status_code == 201, answer.text
            give_up = sent + LAG_GIVE_UP_S
            while usage_total(client, url, volume) == before and time.monotonic() < give_up:
                time.sleep(LAG_POLL_S)
            if time.monotonic() >= give_up:
                missed += 1
            else:
                service_s.append(time.monotonic() - sent)
        time.sleep(0.2)  # the last lines of the bare tail
        stream_s = [tail.seen[n] - t for n, t in sent_at.items() if n in tail.seen]
    finally:
        tail.stop()
    return Lag(service_s, stream_s, put_s, missed)


def aegis_writes(client: httpx.Client, url: str) -> dict[str, float]:
    """MiB/s of 1 MiB PUTs through AEGIS's filer URL, each after a usage call: answered by the service (the
    volume's own path) or by HAProxy's fixed 404 (a path it answers itself)."""
    volume = aegis.volume_path("bench")
    assert client.put(f"{url}{volume}/.keep", content=b"").status_code == 201
    chunk = b"\xa5" * CHUNK
    seconds = {"service": 0.0, "fixed_404": 0.0}
    for round_ in range(ROUNDS):
        for side, asked in (("service", volume), ("fixed_404", NOT_A_VOLUME)):
            start = time.perf_counter()
            for i in range(CHUNKS // ROUNDS):
                status = aegis.get_usage(client, url, asked).status_code
                assert status in (200, 404), status
                answer = client.put(f"{url}{volume}/{side}-{round_}-{i}", content=chunk)
                assert answer.status_code == 201, answer.text
            seconds[side] += time.perf_counter() - start
    return {side: CHUNKS * CHUNK / 2**20 / s for side, s in seconds.items()}


def on_cluster() -> tuple[Lag, dict[str, float]]:
    with TemporaryDirectory(prefix="aegis-usage-") as tmp:
        root = Path(tmp)
        topology, _ = loopback_topology(parse({}, stack="dev"), root, SUBNET)
        with running(topology, fresh_values(), root, usage=True), httpx.Client(timeout=aegis.TIMEOUT) as client:
            lb = topology.load_balancers[0]
            url = lb.filer_url(lb.host)
            filer = f"http://{topology.of(Role.FILER)[0].http_address}"
            return write_lag(client, url, filer), aegis_writes(client, url)


def ms(values: list[float], q: float) -> str:
    """The q-th percentile of seconds, in milliseconds as printed."""
    return f"{percentile(values, q) * 1000:.1f} ms"


def latency_line(what: str, load: Load) -> str:
    r = load.result
    return (
        f"  {what}: p50 {r.p50_ms:.2f} ms, p99 {r.p99_ms:.2f} ms\n"
        f"    offered {r.offered_per_s:.0f}/s, achieved {r.achieved_per_s:.0f}/s; "
        f"answers {dict(sorted(r.statuses.items()))}, failed {r.failed}, unanswered {r.unanswered}; "
        f"{r.queued} waited for a free connection; generator late p99 {r.pickup_p99_ms:.2f} ms\n"
        f"    {cores(load)}"
    )


def cores(load: Load) -> str:
    return (
        f"cores busy: HAProxy {load.haproxy_cores:.2f}, service {load.service_cores:.2f}, generator "
        f"{load.generator_cores:.2f}, other processes {load.other_cores:.2f} (of 2)"
    )


Row = tuple[str, str, str, str]


def table(
    http: dict[str, Load], lag: Lag, writes: dict[str, float], restart: dict[str, float], mib: float
) -> list[Row]:
    """The README's rows: figure | measured | baseline | target."""
    routed, fixed = http["through_haproxy"].result, http["haproxy_404"].result
    return [
        (
            f"`GET /dir/status` through HAProxy, {VOLUMES:,} volumes, {routed.offered_per_s:,.0f}/s offered "
            f"({routed.achieved_per_s:,.0f}/s achieved)",
            f"p50 {routed.p50_ms:.2f} ms, p99 {routed.p99_ms:.2f} ms",
            f"HAProxy's fixed 404: p50 {fixed.p50_ms:.2f} ms, p99 {fixed.p99_ms:.2f} ms",
            f"p99 <= {TARGET_P99_MS:.0f} ms",
        ),
        (
            f"write-to-usage lag: PUT at a filer until the usage call shows it ({len(lag.put_s)} writes, "
            f"polled every {LAG_POLL_S * 1000:.0f} ms)",
            f"p50 {ms(lag.service_s, 50)}, p99 {ms(lag.service_s, 99)}, {lag.missed} missed",
            f"a bare `filer.meta.tail` prints it: p50 {ms(lag.stream_s, 50)}, p99 {ms(lag.stream_s, 99)}",
            f"p99 <= {TARGET_LAG_P99_S:.0f} s",
        ),
        ("index memory, 100,000 volumes of 3 files", f"{mib:.0f} MiB", "", ""),
        (
            "catch-up after a restart, 100,000 volumes",
            f"checkpoint load {restart['checkpoint_load_s']:.2f} s ({restart['checkpoint_mib']:.1f} MiB)",
            f"replay of their events {restart['full_replay_s']:.2f} s",
            "",
        ),
        (
            f"AEGIS-style writes: {CHUNKS} MiB as 1 MiB files, a usage call before each",
            f"{writes['service']:.1f} MiB/s",
            f"HAProxy's fixed 404 answers the call: {writes['fixed_404']:.1f} MiB/s",
            "",
        ),
    ]


def markdown(rows: list[Row]) -> str:
    lines = ["| figure | measured | baseline | target |", "|---|---|---|---|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def main() -> None:
    started = time.monotonic()
    restart = catch_up()
    print(
        f"catch-up, 100,000 volumes: checkpoint load {restart['checkpoint_load_s']:.2f} s "
        f"(checkpoint {restart['checkpoint_mib']:.1f} MiB) vs full replay of their events "
        f"{restart['full_replay_s']:.2f} s"
    )
    mib = memory()
    print(f"index memory per 100,000 volumes (3 files each): {mib:.0f} MiB")
    http, errors = http_latency()
    print(
        f"GET /dir/status, {VOLUMES:,} volumes, {RATE_PER_S:,}/s open loop for {REQUESTS:,} requests, "
        f"{WORKERS} generator processes x {CONNECTIONS} keep-alive connections:"
    )
    for what, name in (
        ("through HAProxy to the service", "through_haproxy"),
        ("HAProxy's fixed 404", "haproxy_404"),
        ("the service directly", "service"),
        ("the service's own fixed 404", "service_404"),
    ):
        print(latency_line(what, http[name]))
    if errors:
        kinds = Counter(line.split(":")[0] for line in errors)
        print(f"  the service logged {len(errors)} exceptions over the four runs (connections reset): {dict(kinds)}")
    lag, writes = on_cluster()
    print(
        f"write-to-usage lag, {len(lag.put_s)} PUTs at the filer, usage polled through HAProxy every "
        f"{LAG_POLL_S * 1000:.0f} ms: p50 {ms(lag.service_s, 50)}, p99 {ms(lag.service_s, 99)}, {lag.missed} "
        f"missed (> {LAG_GIVE_UP_S:.0f} s); a bare filer.meta.tail printed it: p50 {ms(lag.stream_s, 50)}, "
        f"p99 {ms(lag.stream_s, 99)} ({len(lag.stream_s)} seen); the PUT itself: p50 {ms(lag.put_s, 50)}, "
        f"p99 {ms(lag.put_s, 99)}"
    )
    print(
        f"AEGIS-style writes, {CHUNKS} MiB as 1 MiB files, each after a usage call: {writes['service']:.1f} MiB/s "
        f"with the service answering vs {writes['fixed_404']:.1f} MiB/s with HAProxy's fixed 404"
    )
    print()
    print(markdown(table(http, lag, writes, restart, mib)))
    print(f"\nduring the through-HAProxy run, {cores(http['through_haproxy'])}")
    print(f"total {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
