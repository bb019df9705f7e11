"""`python -m benchmarks.usage`: the usage service's index and HTTP answer, each figure beside its baseline.

- catch-up for 100,000 volumes: loading the checkpoint (what a restart does) vs applying every volume's
  events again (what a restart without a checkpoint would do), synthetic events, 3 files per volume;
- memory of the index per 100,000 volumes (tracemalloc);
- `GET /dir/status` p50/p99 at a bounded rate against 10,000 volumes, vs the fixed 404 of the same server in
  the same run. Measured on the service directly: the tier's route to it is not rendered yet.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
import tracemalloc
from pathlib import Path
from tempfile import TemporaryDirectory

import httpx

from components.usage.index import Change, UsageIndex
from components.usage.server import make_server
from components.usage.service import Settings, State

RATE_PER_S = 200  # bounded: 2 shared cores run the client and the server
REQUESTS = 2000


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


def http_latency(volumes: int = 10_000) -> dict[str, tuple[float, float]]:
    state = State()
    for change in synthetic_events(volumes):
        state.index.apply(change)
    state.caught_up.set()
    settings = Settings(filers=(), state_dir=Path("/nonexistent"), node="bench", base_rules="{}")
    server = make_server(settings, state, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    paths = list(state.index.volumes)
    try:
        with httpx.Client() as client:
            served = latency(f"{base}/dir/status", client, paths)
            fixed = latency(f"{base}/fixed-404", client, paths)
    finally:
        server.shutdown()
    return {"usage": served, "fixed_404": fixed}


def main() -> None:
    figures = catch_up()
    print(
        f"catch-up, 100,000 volumes: checkpoint load {figures['checkpoint_load_s']:.2f} s "
        f"(checkpoint {figures['checkpoint_mib']:.1f} MiB) vs full replay of their events "
        f"{figures['full_replay_s']:.2f} s"
    )
    print(f"index memory per 100,000 volumes (3 files each): {memory():.0f} MiB")
    http = http_latency()
    print(
        f"GET /dir/status, 10,000 volumes, {RATE_PER_S}/s: p50 {http['usage'][0]:.2f} ms p99 {http['usage'][1]:.2f} ms "
        f"vs fixed 404 p50 {http['fixed_404'][0]:.2f} ms p99 {http['fixed_404'][1]:.2f} ms"
    )


if __name__ == "__main__":
    main()
