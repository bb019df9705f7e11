"""An open-loop HTTP/1.1 load generator for small GETs: requests leave at fixed times, whatever came back.

A closed loop (send, wait, send) slows down with the server and hides its stalls: the requests that would have
been sent during a stall are never sent, so they never count (coordinated omission). Here request k is due at
`t0 + k / rate`, and its latency runs from that due time to the last byte of its answer, so a request that
waited for a free connection counts its wait.

The requests are spread round-robin over a few worker processes (one Python process cannot offer thousands of
requests a second with honest timing), each holding a few keep-alive connections, as AEGIS's reqwest pool
does; a connection carries one request at a time (no pipelining, like reqwest). Requests are pre-built bytes
and answers are parsed only as far as the status and Content-Length, so a worker's own time per request stays
small next to what it measures. Bounded: a fixed number of requests, and a deadline after the last is due.
"""

from __future__ import annotations

import multiprocessing
import os
import selectors
import socket
import statistics
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from urllib.parse import urlencode

GRACE_S = 5.0  # how long after the last due time answers are still awaited
START_TIMEOUT_S = 30.0  # workers connected and ready, else the run fails


def get_request(host: str, port: int, path: str, query: Mapping[str, str] | None = None) -> bytes:
    """A GET as AEGIS's reqwest sends it: the query form-encoded (`/` as `%2F`), keep-alive, JSON accepted."""
    target = f"{path}?{urlencode(query)}" if query else path
    return f"GET {target} HTTP/1.1\r\nhost: {host}:{port}\r\naccept: application/json\r\n\r\n".encode()


def answer_length(buffer: bytes) -> tuple[int, int, bool] | None:
    """(status, total length, server closes) of the HTTP/1.1 answer at the start of `buffer`, once its head is
    complete; None before. Every answer measured here carries a Content-Length."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = buffer[:end].split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, closes = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            closes = True
    return status, end + 4 + length, closes


@dataclass
class WorkerResult:
    latencies_ms: list[float] = field(default_factory=list)  # due time -> last byte of the answer
    # due time -> the generator turned to it: its own lag, part of every latency (not the server's doing)
    pickup_delays_ms: list[float] = field(default_factory=list)
    queued: int = 0  # found every connection busy and waited for one (that wait counts in its latency)
    statuses: Counter[int] = field(default_factory=Counter)
    failed: int = 0  # a connection closed or broke under the request
    unanswered: int = 0  # still due or in flight at the deadline
    reconnects: int = 0
    last_answer: float = 0.0  # monotonic
    cpu_s: float = 0.0


class _Link:
    """One keep-alive connection and the request it carries."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address
        self.sock = self._connect()
        self.buffer = b""
        self.due = 0.0  # the due time of the request in flight, 0 when idle

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(self.address, timeout=5)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        return sock

    def reopen(self) -> None:
        self.sock.close()
        self.sock, self.buffer, self.due = self._connect(), b"", 0.0


def _reopen(link: _Link, selector: selectors.BaseSelector, result: WorkerResult) -> None:
    selector.unregister(link.sock)
    link.reopen()
    selector.register(link.sock, selectors.EVENT_READ, link)
    result.reconnects += 1


def run_worker(
    address: tuple[str, int],
    requests: Sequence[bytes],
    due: Sequence[float],
    connections: int,
    ready: Connection | None = None,
) -> WorkerResult:
    """Sends `requests[i % len]` at `due[i]` (monotonic seconds, ascending) over `connections` keep-alive
    connections; the due times are relative to a start time that `ready` sends once every worker is connected
    (0 without `ready`: then they are absolute)."""
    cpu = time.process_time()
    links = [_Link(address) for _ in range(connections)]
    t0 = 0.0
    if ready is not None:
        ready.send("connected")
        t0 = ready.recv()
    result = WorkerResult()
    # select(2) takes its timeout in microseconds; epoll rounds it up to the next millisecond, which would make
    # every request up to 1 ms late. A worker has only a few sockets, so select costs nothing more.
    selector = selectors.SelectSelector()
    for link in links:
        selector.register(link.sock, selectors.EVENT_READ, link)
    idle = deque(links)
    waiting: deque[int] = deque()  # due, not sent: every connection was busy
    following, answered, total, last_queued = 0, 0, len(due), -1
    deadline = t0 + (due[-1] if due else 0.0) + GRACE_S
    while answered + result.failed < total:
        now = time.monotonic()
        if now > deadline:
            break
        while following < total and t0 + due[following] <= now:
            result.pickup_delays_ms.append((now - t0 - due[following]) * 1000)
            waiting.append(following)
            following += 1
        while waiting and idle:
            i, link = waiting.popleft(), idle.popleft()
            link.due = t0 + due[i]
            link.sock.send(requests[i % len(requests)])  # a few hundred bytes: the empty send buffer takes them
        if waiting:  # consecutive indices; count each request once, however many rounds it waits
            result.queued += waiting[-1] - max(last_queued, waiting[0] - 1)
            last_queued = waiting[-1]
        wait = (t0 + due[following] - now) if following < total else deadline - now
        for key, _ in selector.select(max(0.0, wait)):
            link = key.data
            try:
                chunk = link.sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:  # the server closed it; a request in flight there is lost
                if link.due:
                    result.failed += 1
                    link.due = 0.0
                _reopen(link, selector, result)
                idle.append(link)
                continue
            link.buffer += chunk
            head = answer_length(link.buffer)
            if head is None or len(link.buffer) < head[1]:
                continue
            done = time.monotonic()
            result.latencies_ms.append((done - link.due) * 1000)
            result.statuses[head[0]] += 1
            result.last_answer = done
            answered += 1
            link.buffer, link.due = link.buffer[head[1] :], 0.0
            if head[2]:
                _reopen(link, selector, result)
            idle.append(link)
    result.unanswered = total - answered - result.failed
    for link in links:
        link.sock.close()
    selector.close()
    result.cpu_s = time.process_time() - cpu
    return result


def _worker_main(
    address: tuple[str, int], requests: Sequence[bytes], due: Sequence[float], connections: int, pipe: Connection
) -> None:
    pipe.send(run_worker(address, requests, due, connections, pipe))
    pipe.close()


@dataclass
class LoadResult:
    offered_per_s: float
    achieved_per_s: float  # answers over the time from the first due time to the last answer
    p50_ms: float
    p99_ms: float
    pickup_p99_ms: float  # how late the generator itself turned to a due request (part of its latency)
    queued: int  # requests that found every connection busy
    requests: int
    statuses: dict[int, int]
    failed: int
    unanswered: int
    reconnects: int
    generator_cpu_s: float
    seconds: float


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0 < q < 100) by linear interpolation; the largest value for a tiny sample."""
    if len(values) < 2:
        return max(values, default=float("nan"))
    return statistics.quantiles(values, n=1000, method="inclusive")[round(q * 10) - 1]


def offer(
    address: tuple[str, int],
    requests: Sequence[bytes],
    *,
    rate: float,
    count: int,
    workers: int = 2,
    connections: int = 4,
    on_start: Callable[[], None] | None = None,
) -> LoadResult:
    """`count` requests at `rate` per second in total over `workers` processes of `connections` each;
    `on_start` is called once every worker is connected, just before the first request is due."""
    context = multiprocessing.get_context("spawn")  # no inherited threads or sockets
    interval = 1.0 / rate
    pipes, processes = [], []
    for w in range(workers):
        mine, theirs = context.Pipe()
        # Round-robin: worker w sends requests w, w + workers, ...; its j-th sends requests[(w + j * workers) %
        # len], which repeats with j's period len, so the share of that length keeps every request in step.
        due = [k * interval for k in range(w, count, workers)]
        share = [requests[(w + j * workers) % len(requests)] for j in range(len(requests))]
        process = context.Process(target=_worker_main, args=(address, share, due, connections, theirs), daemon=True)
        process.start()
        pipes.append(mine)
        processes.append(process)
    try:
        for pipe in pipes:
            if not pipe.poll(START_TIMEOUT_S):
                raise TimeoutError("a load generator worker never connected")
            pipe.recv()
        if on_start is not None:
            on_start()
        t0 = time.monotonic() + 0.05
        for pipe in pipes:
            pipe.send(t0)
        limit = count * interval + GRACE_S + 10.0
        results = []
        for pipe in pipes:
            if not pipe.poll(max(0.1, t0 + limit - time.monotonic())):
                raise TimeoutError("a load generator worker never reported")
            results.append(pipe.recv())
    finally:
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)
    latencies = [v for r in results for v in r.latencies_ms]
    delays = [v for r in results for v in r.pickup_delays_ms]
    last = max((r.last_answer for r in results), default=t0)
    statuses: Counter[int] = Counter()
    for r in results:
        statuses.update(r.statuses)
    return LoadResult(
        offered_per_s=rate,
        achieved_per_s=len(latencies) / max(last - t0, 1e-9),
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        pickup_p99_ms=percentile(delays, 99),
        queued=sum(r.queued for r in results),
        requests=count,
        statuses=dict(statuses),
        failed=sum(r.failed for r in results),
        unanswered=sum(r.unanswered for r in results),
        reconnects=sum(r.reconnects for r in results),
        generator_cpu_s=sum(r.cpu_s for r in results),
        seconds=last - t0,
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc), its threads included."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, every core summed (Linux /proc/stat)."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(values) - idle) / tick, sum(values) / tick
