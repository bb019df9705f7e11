"""The running usage service: one `weed filer.meta.tail` per filer, a checkpoint, an HTTP server, enforcement.

- Every filer's stream carries every filer's writes (weed 4.48, filers on one PostgreSQL: each forwards its
  peers' events). The service tails each filer, and the index ignores the duplicates (index.py).
- Restarts resume from `checkpoint.json` (the index, the quotas and the last event's timestamp) with
  `-timeAgo` reaching a margin before that event, instead of walking the filer. A first start (no checkpoint)
  walks the filer's listing once (walk.py): the metadata log reaches back only `metadataLogRetentionDays`.
- Every few seconds the service overwrites its marker (`/aegis/volumes/.usage/sync/<node>`) with a numbered
  heartbeat (freshness.py). Until the first heartbeat of this start has come back through a stream it has not
  caught up, and once one has been out for too long it is lagging (a tail died or hangs, no filer takes
  writes); either way it answers 404 like the tier did before: AEGIS reads 404 as 0 and never fails a write on
  it. `/healthz` answers 503 then, so HAProxy's check takes the service out and the tier answers AEGIS's calls.
- The HTTP server (server.py) is one asyncio event loop on the standard library: the image carries nothing
  else, an answer is a dictionary lookup under a lock, and AEGIS asks before every write.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.usage.events import ObjectStream, to_change
from components.usage.freshness import HEARTBEAT_EVERY_S, HEARTBEAT_HEADER, Freshness, health_line
from components.usage.index import VOLUMES, Change, UsageIndex
from components.usage.quotas import SYNC_ROOT, Quotas, over_quota, render_rules
from components.usage.tenants import GrowthRing, tenant_totals
from components.usage.walk import filer_lister, walk_changes

FILER_RULES_PATH = "/etc/seaweedfs/filer.conf"
REPLAY_MARGIN_S = 60.0  # how far before the checkpoint a restart replays (clock skew, late peer events)
TOMBSTONE_KEEP_NS = int(600e9)  # tombstones outlive any replay margin by far
WALK_RETRY_S = 10.0  # a walk a filer broke off starts again after this
# With only heartbeats arriving, the checkpoint (megabytes for a large index) is rewritten this rarely: it
# then only moves the point a restart replays from.
IDLE_CHECKPOINT_S = 300.0


@dataclass
class Settings:
    filers: tuple[str, ...]  # host:port of every filer
    state_dir: Path
    node: str
    base_rules: str  # the stack's rendered filer.conf
    weed: str = "weed"
    checkpoint_every_s: float = 5.0
    enforce_every_s: float = 1.0
    heartbeat_every_s: float = HEARTBEAT_EVERY_S


def _set_event() -> threading.Event:
    event = threading.Event()
    event.set()
    return event


@dataclass
class State:
    """What the threads share, always under `lock`."""

    index: UsageIndex = field(default_factory=UsageIndex)
    quotas: Quotas = field(default_factory=Quotas)
    lock: threading.Lock = field(default_factory=threading.Lock)
    marker: str = ""
    caught_up: threading.Event = field(default_factory=threading.Event)
    # Cleared while a first start's walk runs: until it ends the index is partial, so it is neither caught up
    # nor worth a checkpoint.
    walked: threading.Event = field(default_factory=_set_event)
    freshness: Freshness = field(default_factory=lambda: Freshness(uuid.uuid4().hex))
    growth: GrowthRing = field(default_factory=GrowthRing)
    clock: Callable[[], float] = time.monotonic
    changed: bool = False  # a change to the index or the quotas since the last checkpoint
    applied_read_only: frozenset[str] | None = None
    events: int = 0

    def apply(self, change: Change) -> None:
        with self.lock:
            self.events += 1
            if (change.new or change.old or "").startswith(SYNC_ROOT):
                # Heartbeats (this node's and its peers') change no usage: they move only the replay point.
                beat = dict(change.extended).get(HEARTBEAT_HEADER)
                ours = change.new == self.marker and beat is not None
                if ours and self.freshness.seen(beat.decode("latin-1")) and self.walked.is_set():
                    self.caught_up.set()
                self.index.last_ts = max(self.index.last_ts, change.ts_ns)
                return
            self.changed = True
            if not self.quotas.apply(change):
                self.index.apply(change)

    def health(self) -> tuple[int, str]:
        """`/healthz`'s status and line."""
        with self.lock:
            return health_line(self.caught_up.is_set(), self.freshness, self.clock())

    def ready(self) -> bool:
        """Caught up and not lagging: only then is a volume's usage worth answering."""
        return self.health()[0] == 200

    def status(self, volume: str) -> dict[str, int] | None:
        if not self.ready():
            return None
        with self.lock:
            return self.index.status(volume)

    def usage(self) -> dict[str, int]:
        with self.lock:
            return {key: volume.total for key, volume in self.index.volumes.items()}

    def sample_tenants(self) -> None:
        """One growth sample a minute, once caught up (before that the totals are partial)."""
        now = self.clock()
        with self.lock:
            if self.caught_up.is_set() and self.growth.due(now):
                totals = tenant_totals(self.index.volumes)
                self.growth.add(now, {tenant: found.bytes for tenant, found in totals.items()})

    def tenants(self) -> dict[str, Any]:
        """`GET /tenants`: per tenant its bytes, files, volumes and growth in bytes per hour over the last hour
        (null until the service has sampled for an hour), with whether the figures are current."""
        now = self.clock()
        with self.lock:
            totals = tenant_totals(self.index.volumes)
            growth = self.growth.growth(now, {tenant: found.bytes for tenant, found in totals.items()}) or {}
            caught_up, lag = self.caught_up.is_set(), self.freshness.lag_s(now)
            lagging = not caught_up or self.freshness.lagging(now)
        tenants = {
            tenant: {**found.__dict__, "growth_bytes_per_hour": growth.get(tenant)}
            for tenant, found in sorted(totals.items())
        }
        return {
            "caught_up": caught_up,
            "lagging": lagging,
            "lag_s": round(lag, 1),
            "lag_limit_s": self.freshness.limit_s,
            "growth_window_s": self.growth.window_s,
            "tenants": tenants,
        }


def filer_request(filer: str, method: str, path: str, body: bytes = b"", headers: dict | None = None) -> bytes:
    request = urllib.request.Request(f"http://{filer}{path}", data=body or None, method=method, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.read()


def any_filer(settings: Settings, method: str, path: str, body: bytes = b"", headers: dict | None = None) -> bytes:
    """The first filer that answers; raises the last error when none does."""
    error: Exception = RuntimeError("no filers")
    for filer in settings.filers:
        try:
            return filer_request(filer, method, path, body, headers)
        except OSError as err:
            error = err
    raise error


def load_checkpoint(path: Path) -> tuple[UsageIndex, Quotas]:
    if not path.exists():
        return UsageIndex(), Quotas()
    data = json.loads(path.read_text())
    quotas = {volume: (int(b), int(ts)) for volume, (b, ts) in data["quotas"].items()}
    return UsageIndex.restore(data["index"]), Quotas(quotas)


def save_checkpoint(state: State, path: Path) -> None:
    """Atomically: a crash leaves the previous checkpoint, never half of one."""
    with state.lock:
        state.index.prune(state.index.last_ts - TOMBSTONE_KEEP_NS)
        data = {"index": state.index.snapshot(), "quotas": state.quotas.entries}
        state.changed = False
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, separators=(",", ":")))
    os.replace(tmp, path)


def time_ago(last_ts_ns: int, now_s: float | None = None) -> str:
    """`-timeAgo` for a stream that resumes a margin before `last_ts_ns`."""
    seconds = (now_s if now_s is not None else time.time()) - last_ts_ns / 1e9 + REPLAY_MARGIN_S
    return f"{max(seconds, REPLAY_MARGIN_S):.0f}s"


def tail_forever(settings: Settings, filer: str, state: State, stop: threading.Event) -> None:
    """One filer's stream into the index; restarted from the index's last event whenever it ends."""
    while not stop.is_set():
        with state.lock:
            ago = time_ago(state.index.last_ts)
        argv = [settings.weed, "filer.meta.tail", f"-filer={filer}", f"-pathPrefix={VOLUMES}", f"-timeAgo={ago}"]
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        done = threading.Event()
        threading.Thread(target=restart_when_stale, args=(state, process, done), daemon=True).start()
        stream = ObjectStream()
        try:
            assert process.stdout is not None
            for line in process.stdout:
                event = stream.feed_line(line)
                change = to_change(event) if event else None
                if change is not None:
                    state.apply(change)
                if stop.is_set():
                    break
        finally:
            done.set()
            process.kill()
            process.wait()
        stop.wait(1.0)


def stale_for(state: State, started: float, now: float) -> bool:
    """A tail that has run for twice the lag limit while the service lags that long brings nothing: restarting
    it (from the index's last event) is the only repair a hung `weed filer.meta.tail` gets."""
    with state.lock:
        limit = 2 * state.freshness.limit_s
        return now - started > limit and state.freshness.lag_s(now) > limit


def restart_when_stale(state: State, process: subprocess.Popen, done: threading.Event) -> None:
    started = state.clock()
    while not done.wait(1.0):
        if stale_for(state, started, state.clock()):
            process.kill()
            return


def heartbeat(settings: Settings, state: State, stop: threading.Event) -> None:
    """Overwrites the marker with the next heartbeat every few seconds (freshness.py); a write that fails still
    counts as sent, so a filer that takes none makes the service lag."""
    while not stop.is_set():
        with state.lock:
            beat = state.freshness.next_beat(state.clock())
        with contextlib.suppress(OSError):
            any_filer(settings, "PUT", state.marker, b"", {HEARTBEAT_HEADER: beat})
        stop.wait(settings.heartbeat_every_s)


def enforce(settings: Settings, state: State) -> None:
    """Makes the filer's rules match the volumes past their quota (only once caught up: before that the
    usage is not known). Re-checks the live file each round, so a rules job that rewrote it is repaired."""
    if not state.caught_up.is_set():
        return
    with state.lock:
        read_only = frozenset(over_quota({k: v.total for k, v in state.index.volumes.items()}, state.quotas))
    wanted = render_rules(settings.base_rules, read_only).encode()
    if read_only == state.applied_read_only and any_filer(settings, "GET", FILER_RULES_PATH) == wanted:
        return
    if any_filer(settings, "GET", FILER_RULES_PATH) != wanted:
        any_filer(settings, "PUT", FILER_RULES_PATH, wanted, {"Content-Type": "application/json"})
    state.applied_read_only = read_only


def checkpoint_due(state: State, since_save_s: float, saved_ts: int, settings: Settings) -> bool:
    """A real change is saved within `checkpoint_every_s`; heartbeats alone move the checkpoint rarely. Never
    during a first start's walk: a restart would take the partial index for a whole one."""
    if not state.walked.is_set():
        return False
    if state.changed:
        return since_save_s >= settings.checkpoint_every_s
    return state.index.last_ts > saved_ts and since_save_s >= IDLE_CHECKPOINT_S


def housekeeping(settings: Settings, state: State, stop: threading.Event) -> None:
    checkpoint = settings.state_dir / "checkpoint.json"
    last_save, saved_ts = time.monotonic(), state.index.last_ts
    while not stop.wait(settings.enforce_every_s):
        with contextlib.suppress(OSError):  # a filer down: the next round tries again
            enforce(settings, state)
        state.sample_tenants()
        if checkpoint_due(state, time.monotonic() - last_save, saved_ts, settings):
            saved_ts = state.index.last_ts
            save_checkpoint(state, checkpoint)
            last_save = time.monotonic()
    if state.walked.is_set():
        save_checkpoint(state, checkpoint)


def walk_filers(settings: Settings, state: State, walk_ts: int, stop: threading.Event) -> None:
    """A first start's walk (walk.py), again from the top while a filer breaks it off: its changes are stamped
    `walk_ts`, so a second pass changes nothing the first got right, and the streams' newer events still win."""
    lister = filer_lister(settings.filers)
    while not stop.is_set():
        try:
            for change in walk_changes(lister, walk_ts):
                state.apply(change)
        except (OSError, ValueError):
            stop.wait(WALK_RETRY_S)
            continue
        state.walked.set()
        return


def start(settings: Settings, stop: threading.Event) -> tuple[State, list[threading.Thread]]:
    """Loads the checkpoint and starts every thread; they end when `stop` is set."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = settings.state_dir / "checkpoint.json"
    first_start = not checkpoint.exists()
    index, quotas = load_checkpoint(checkpoint)
    # One marker per tier node, overwritten by every heartbeat; a new start id per start: a replayed heartbeat
    # of an earlier start must not count as caught up.
    state = State(index=index, quotas=quotas, marker=f"{SYNC_ROOT}{settings.node}")
    threads = []
    if first_start:
        # The streams start a margin before the walk's stamp, which is a margin before now (walk.py).
        walk_ts = time.time_ns() - int(REPLAY_MARGIN_S * 1e9)
        state.index.last_ts = walk_ts
        state.walked.clear()
        threads.append(threading.Thread(target=walk_filers, args=(settings, state, walk_ts, stop), daemon=True))
    threads += [
        threading.Thread(target=tail_forever, args=(settings, f, state, stop), daemon=True) for f in settings.filers
    ]
    threads.append(threading.Thread(target=heartbeat, args=(settings, state, stop), daemon=True))
    threads.append(threading.Thread(target=housekeeping, args=(settings, state, stop), daemon=True))
    for thread in threads:
        thread.start()
    return state, threads
