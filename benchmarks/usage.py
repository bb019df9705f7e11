"""`python -m benchmarks.usage`: the usage service's index and HTTP answer, each figure beside its baseline.

- catch-up for 100,000 volumes: loading the checkpoint (what a restart does) vs applying every volume's
  events again (what a restart without a checkpoint would do), synthetic events, 3 files per volume;
- memory of the index per 100,000 volumes (tracemalloc);
- `GET /dir/status` p50/p99 at a bounded rate against 10,000 volumes as AEGIS asks it: through an HAProxy
  running the model's haproxy.cfg, which routes it to the service beside it, vs that HAProxy's own fixed 404
  (what AEGIS got before the service, and still gets while it is down) in the same run; and the service asked
  directly, vs its own fixed 404.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import threading
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from tempfile import TemporaryDirectory

import httpx

from components.model.haproxy import USAGE_PORT, render_haproxy_cfg
from components.usage.index import Change, UsageIndex
from components.usage.server import make_server
from components.usage.service import Settings, State

RATE_PER_S = 200  # bounded: 2 shared cores run the client and the server
REQUESTS = 2000
# Its own loopback address: the model's haproxy.cfg names the service on USAGE_PORT of the address HAProxy binds.
ADDRESS = "127.0.0.87"
NOT_A_VOLUME = "/aegis/volumes/t"  # HAProxy answers this itself: its fixed 404


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


def latency(url: str, client: httpx.Client, paths: list[str]) -> tuple[float, float]:
    samples = []
    interval = 1.0 / RATE_PER_S
    next_at = time.perf_counter()
    for i in range(REQUESTS):
        next_at += interval
        start = time.perf_counter()
        client.get(url, params={"path": paths[i % len(paths)]})
        samples.append((time.perf_counter() - start) * 1000)
        time.sleep(max(0.0, next_at - time.perf_counter()))
    return statistics.median(samples), statistics.quantiles(samples, n=100)[98]


@contextmanager
def haproxy_in_front(probe: str) -> Iterator[str]:
    """The model's haproxy.cfg on ADDRESS (no filer behind it: these calls never reach one); its filer URL once
    it routes `probe`'s usage call to the service."""
    cfg = render_haproxy_cfg(["127.0.0.1:9"], bind=ADDRESS, port=8888, stats_bind=ADDRESS, stats_port=8404)
    with TemporaryDirectory() as tmp:
        path = Path(tmp) / "haproxy.cfg"
        path.write_text(cfg)
        haproxy = subprocess.Popen(["haproxy", "-db", "-f", str(path)], stderr=subprocess.DEVNULL)
        url = f"http://{ADDRESS}:8888"
        try:
            deadline = time.monotonic() + 20
            while httpx.get(f"{url}/dir/status", params={"path": probe}).status_code != 200:
                assert time.monotonic() < deadline, "HAProxy never routed the usage call"
                time.sleep(0.2)
            yield url
        finally:
            haproxy.terminate()
            haproxy.wait(timeout=10)


def http_latency(volumes: int = 10_000) -> dict[str, tuple[float, float]]:
    state = State()
    for change in synthetic_events(volumes):
        state.index.apply(change)
    state.caught_up.set()
    settings = Settings(filers=(), state_dir=Path("/nonexistent"), node="bench", base_rules="{}")
    server = make_server(settings, state, ADDRESS, USAGE_PORT)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://{ADDRESS}:{USAGE_PORT}"
    paths = list(state.index.volumes)
    try:
        with haproxy_in_front(paths[0]) as url, httpx.Client() as client:
            routed = latency(f"{url}/dir/status", client, paths)
            haproxy_404 = latency(f"{url}/dir/status", client, [NOT_A_VOLUME])
            served = latency(f"{base}/dir/status", client, paths)
            fixed = latency(f"{base}/fixed-404", client, paths)
    finally:
        server.shutdown()
    return {"through_haproxy": routed, "haproxy_404": haproxy_404, "usage": served, "fixed_404": fixed}


def main() -> None:
    figures = catch_up()
    print(
        f"catch-up, 100,000 volumes: checkpoint load {figures['checkpoint_load_s']:.2f} s "
        f"(checkpoint {figures['checkpoint_mib']:.1f} MiB) vs full replay of their events "
        f"{figures['full_replay_s']:.2f} s"
    )
    print(f"index memory per 100,000 volumes (3 files each): {memory():.0f} MiB")
    http = http_latency()
    for what, baseline, name in (
        ("through HAProxy", "HAProxy's fixed 404", "through_haproxy"),
        ("service directly", "its fixed 404", "usage"),
    ):
        served, fixed = http[name], http["haproxy_404" if name == "through_haproxy" else "fixed_404"]
        print(
            f"GET /dir/status {what}, 10,000 volumes, {RATE_PER_S}/s: p50 {served[0]:.2f} ms p99 {served[1]:.2f} ms "
            f"vs {baseline} p50 {fixed[0]:.2f} ms p99 {fixed[1]:.2f} ms"
        )


if __name__ == "__main__":
    main()
