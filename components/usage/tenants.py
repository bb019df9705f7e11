"""Usage per tenant, for operators: totals over the index's volumes, and each tenant's growth over the last hour.

Growth comes from a small in-memory ring of per-tenant byte totals, one sample a minute: the growth in bytes per
hour is the change since the newest sample at least an hour old. It is null until the service has sampled for
a whole hour since it started (the ring is not checkpointed: a growth over a shorter window would read a burst
as a rate, and an alarm on it would fire on every restart). A tenant missing from that sample grew from 0.
Pure, with the clock passed in.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from components.usage.index import VOLUMES, Volume

GROWTH_WINDOW_S = 3600.0
SAMPLE_EVERY_S = 60.0


@dataclass
class TenantTotals:
    bytes: int = 0
    files: int = 0
    volumes: int = 0


def tenant_totals(volumes: Mapping[str, Volume]) -> dict[str, TenantTotals]:
    """tenant -> its volumes' bytes and files, and how many volumes hold anything or exist."""
    totals: dict[str, TenantTotals] = {}
    for key, volume in volumes.items():
        if not (volume.exists or volume.files):
            continue
        tenant = sys.intern(key[len(VOLUMES) :].split("/", 1)[0])
        found = totals.get(tenant)
        if found is None:
            found = totals[tenant] = TenantTotals()
        found.bytes += volume.total
        found.files += len(volume.files)
        found.volumes += 1
    return totals


class GrowthRing:
    """Per-tenant byte totals sampled every `every_s`, kept for `window_s` and one sample more."""

    def __init__(self, window_s: float = GROWTH_WINDOW_S, every_s: float = SAMPLE_EVERY_S) -> None:
        self.window_s = window_s
        self.every_s = every_s
        self._samples: deque[tuple[float, dict[str, int]]] = deque()

    def due(self, now: float) -> bool:
        return not self._samples or now - self._samples[-1][0] >= self.every_s

    def add(self, now: float, bytes_by_tenant: Mapping[str, int]) -> None:
        self._samples.append((now, dict(bytes_by_tenant)))
        # Keep the newest sample at least a window old, and nothing older than it.
        while len(self._samples) > 1 and now - self._samples[1][0] >= self.window_s:
            self._samples.popleft()

    def growth(self, now: float, bytes_by_tenant: Mapping[str, int]) -> dict[str, float] | None:
        """tenant -> bytes per hour since the newest sample at least a window old; None before one exists."""
        if not self._samples or now - self._samples[0][0] < self.window_s:
            return None
        then, old = self._samples[0]
        hours = (now - then) / 3600.0
        return {tenant: (size - old.get(tenant, 0)) / hours for tenant, size in bytes_by_tenant.items()}
