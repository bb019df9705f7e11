"""Whether the usage index is current: the service's heartbeats, written to the filer, must come back through a
metadata stream.

Every few seconds the service overwrites its own marker file (`/aegis/volumes/.usage/sync/<node>`) with the
header `Seaweed-Usage-Heartbeat: <start>.<sequence>`; the filer keeps the header in the entry's extended
attributes, so the event that carries the write carries the sequence back. Once a heartbeat has come back,
every event the filers logged before it has been applied. A heartbeat still unseen `LAG_LIMIT_S` after it was
sent means the stream stopped (the tail died or hangs, or no filer takes the write): the service is "lagging".

A heartbeat that could not even be written counts as sent: a filer that refuses writes brings nothing back
either. While no heartbeat is outstanding the lag is 0, so a service that sends none (a benchmark driving the
server alone) is never lagging. Pure, with the clock passed in: the unit tests drive it with a fake one.
"""

from __future__ import annotations

from collections import deque

HEARTBEAT_HEADER = "Seaweed-Usage-Heartbeat"
# One small overwrite of one file per tier node: 30 metadata events a minute, about 20 MiB of metadata log a day
# per node at weed 4.48's event size, which the log purge bounds (metadataLogRetentionDays).
HEARTBEAT_EVERY_S = 2.0
# Five heartbeats in a row unseen: far past a busy filer's stream delay (milliseconds, about a second when
# replaying). It bounds how long AEGIS gets stale usage when the stream stops: weed 4.48 holds every filer's
# stream for up to 2 minutes when one filer dies (docs/decisions/2026-12-07-usage-lag-and-tenants.md), and for
# that time AEGIS reads the tier's 404 (usage 0) instead of usage from before the stop.
LAG_LIMIT_S = 10.0
# Only the oldest unseen heartbeat sets the lag; later ones are kept so that one coming back out of order
# clears exactly those before it. Past this many a dead stream adds nothing new to learn.
MAX_OUTSTANDING = 100

CATCHING_UP = "catching up"


class Freshness:
    """The heartbeats of one start of the service: which were sent when, and which came back."""

    def __init__(self, start: str, limit_s: float = LAG_LIMIT_S) -> None:
        self.start = start
        self.limit_s = limit_s
        self.sequence = 0
        self._unseen: deque[tuple[int, float]] = deque()  # (sequence, sent at), oldest first

    def next_beat(self, now: float) -> str:
        """The header value of the next heartbeat, counted as sent at `now`."""
        self.sequence += 1
        if len(self._unseen) < MAX_OUTSTANDING:
            self._unseen.append((self.sequence, now))
        return f"{self.start}.{self.sequence}"

    def seen(self, value: str) -> bool:
        """Takes a heartbeat header value that came back through a stream; False when it is not one of this
        start's (an earlier start's, replayed, says nothing about this one)."""
        start, _, sequence = value.rpartition(".")
        if start != self.start or not sequence.isdigit():
            return False
        while self._unseen and self._unseen[0][0] <= int(sequence):
            self._unseen.popleft()
        return True

    def lag_s(self, now: float) -> float:
        """Seconds the oldest heartbeat not yet back has been out; 0 when every one sent came back."""
        return max(0.0, now - self._unseen[0][1]) if self._unseen else 0.0

    def lagging(self, now: float) -> bool:
        return self.lag_s(now) > self.limit_s


def health_line(caught_up: bool, freshness: Freshness, now: float) -> tuple[int, str]:
    """`/healthz`: 200 "ok" once caught up and fresh, else 503 and why, on one line (HAProxy's check reads
    the status; an operator reads the line)."""
    if not caught_up:
        return 503, CATCHING_UP
    if freshness.lagging(now):
        return 503, f"lagging: the metadata stream brought nothing back for {freshness.lag_s(now):.0f} s"
    return 200, "ok"
