"""The availability prober every scenario that measures unavailability shares.

A load with a 10 s client timeout cannot see a gap shorter than its timeout: one write hangs, times
out, and the gap it reports is the timeout plus the next write. The prober instead sends one small
write and one read of an existing file through HAProxy every INTERVAL seconds (a thread each, so a
hanging write does not delay the reads), each answered within PROBE_TIMEOUT or counted as failed.
Consecutive probes of one kind therefore start at most INTERVAL + PROBE_TIMEOUT apart, which is the
resolution of every gap it reports (RESOLUTION, 0.5 s).

`gaps` is pure, so tests/unit/test_benchmarks.py covers it with synthetic probes; `Prober` is the loop.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType

import httpx

from benchmarks.core import Context, Figure, format_number

INTERVAL = 0.1  # seconds between the starts of two probes of one kind, when the first answered in time
PROBE_TIMEOUT = 0.4  # connect + read; a probe answered later counts as failed
# httpx has no whole-request timeout, so connect and read share PROBE_TIMEOUT; sending 1 KiB to a loopback
# socket and taking the only pooled connection never wait, but any probe slower than PROBE_TIMEOUT is
# still counted as failed ("slow"), so no phase can stretch a success past the stated resolution.
TIMEOUT = httpx.Timeout(PROBE_TIMEOUT - 0.1, connect=0.1)
RESOLUTION = INTERVAL + PROBE_TIMEOUT
LIMIT = 900.0  # seconds a prober may run: the suite's whole budget
BODY = bytes(range(256)) * 4  # 1 KiB: a write, not a throughput test
KINDS = ("write", "read")


@dataclass(frozen=True)
class Probe:
    start: float
    end: float
    ok: bool
    status: str  # the HTTP status, "slow", or the httpx error's class name


@dataclass(frozen=True)
class Gaps:
    """The failure runs of one kind of probe, each measured from the end of the last success before it
    to the end of the first success after it: the span in which no probe was seen to succeed."""

    longest: float
    total: float
    failed: int
    probes: int
    recovered: bool  # False when the probing ended inside a gap, which then ends at its last failure
    errors: Mapping[str, int] = field(default_factory=dict)


def gaps(probes: Sequence[Probe]) -> Gaps:
    """The gaps in `probes` (of one kind, in any order).

    A run of failures before the first success starts at its first probe (nothing earlier is known);
    one still open at the end ends with its last failure and marks the result not recovered.
    """
    spans: list[float] = []
    opened: float | None = None  # start of the current gap, None while probes succeed
    last_success: float | None = None
    last_failure = 0.0
    for probe in sorted(probes, key=lambda p: p.start):
        if probe.ok:
            if opened is not None:
                spans.append(probe.end - opened)
                opened = None
            last_success = probe.end if last_success is None else max(last_success, probe.end)
        else:
            if opened is None:
                opened = probe.start if last_success is None else last_success
                last_failure = probe.end
            else:
                last_failure = max(last_failure, probe.end)
    if opened is not None:
        spans.append(last_failure - opened)
    errors = Counter(p.status for p in probes if not p.ok)
    return Gaps(
        longest=max(spans, default=0.0),
        total=sum(spans),
        failed=sum(errors.values()),
        probes=len(probes),
        recovered=opened is None,
        errors=dict(errors),
    )


def summary(kind: str, found: Gaps) -> str:
    """'write: 812 probes, 31 failed (ReadTimeout 25, 500 6), longest gap 3.41s, total 3.41s' for the log."""
    errors = ", ".join(f"{status} {count}" for status, count in sorted(found.errors.items()))
    return (
        f"{kind}: {found.probes} probes, {found.failed} failed" + (f" ({errors})" if errors else "") + ", "
        f"longest gap {format_number(found.longest)}s, total {format_number(found.total)}s"
        + ("" if found.recovered else ", NOT recovered when probing stopped")
    )


# The figures a scenario records from one prober run; the resolution is in the name, so the table says it.
UNITS = {
    f"longest write gap ({RESOLUTION:.1f} s resolution)": "s",
    f"write unavailable, total ({RESOLUTION:.1f} s resolution)": "s",
    "failed write probes": "probes",
    f"longest read gap ({RESOLUTION:.1f} s resolution)": "s",
    "failed read probes": "probes",
}


def figures(ctx: Context, label: str) -> dict[str, Figure]:
    """The prober's figures for one variant of a scenario, named like the scenario's own."""
    return {name: ctx.figure(f"{label}: {name}", unit) for name, unit in UNITS.items()}


def values(found: Mapping[str, Gaps]) -> dict[str, float]:
    """One value per figure of `UNITS` from a prober's gaps by kind."""
    write, read = found["write"], found["read"]
    return dict(
        zip(UNITS, (write.longest, write.total, float(write.failed), read.longest, float(read.failed)), strict=True)
    )


class Prober:
    """Write and read probes through `lb` under `prefix` while the `with` block runs, at most LIMIT seconds.

    Entering writes the file the reads fetch (with a long timeout: the cluster must be healthy then) and
    starts both threads; leaving stops them, each within one probe.
    """

    def __init__(self, lb: str, prefix: str, limit: float = LIMIT) -> None:
        self.lb, self.prefix, self.limit = lb, prefix, limit
        self.probes: dict[str, list[Probe]] = {kind: [] for kind in KINDS}
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.seed = f"{prefix}/seed.bin"

    def __enter__(self) -> Prober:
        if httpx.put(f"{self.lb}{self.seed}", content=BODY, timeout=30).status_code != 201:
            raise RuntimeError(f"could not write {self.seed} for the read probes")
        self.threads = [
            threading.Thread(target=self._loop, args=("write", self._write, 201), daemon=True),
            threading.Thread(target=self._loop, args=("read", self._read, 200), daemon=True),
        ]
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=PROBE_TIMEOUT + 5)

    def gaps(self) -> dict[str, Gaps]:
        return {kind: gaps(list(self.probes[kind])) for kind in KINDS}

    def _write(self, client: httpx.Client, index: int) -> httpx.Response:
        return client.put(f"{self.lb}{self.prefix}/w/{index}.bin", content=BODY)

    def _read(self, client: httpx.Client, _index: int) -> httpx.Response:
        return client.get(f"{self.lb}{self.seed}")

    def _loop(self, kind: str, send: Callable[[httpx.Client, int], httpx.Response], expected: int) -> None:
        records = self.probes[kind]
        with httpx.Client(timeout=TIMEOUT) as client:
            for index in range(int(self.limit / INTERVAL)):
                if self.stop.is_set():
                    return
                started = time.monotonic()
                try:
                    response = send(client, index)
                    status = str(response.status_code)
                    # A read is only a success with the right bytes; a write's body is its status.
                    ok = response.status_code == expected and (kind == "write" or response.content == BODY)
                except httpx.HTTPError as err:
                    status, ok = type(err).__name__, False
                ended = time.monotonic()
                if ok and ended - started > PROBE_TIMEOUT:
                    status, ok = "slow", False
                records.append(Probe(started, ended, ok, status))
                # The next probe starts INTERVAL after this one started, or at once if this one took longer;
                # waiting on the event lets leaving the `with` block stop the loop without a full interval.
                self.stop.wait(max(0.0, INTERVAL - (ended - started)))
