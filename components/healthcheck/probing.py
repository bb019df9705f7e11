"""What every probe of the health check shares: one verdict type and a client that never raises.

Kept apart from `checks.py` so that probes in their own modules (the AEGIS probe) and the checks that run
them depend on it, not on each other.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

# Far beyond any probe timeout and the filer's own 30 s wait for a writable volume, so no live probe is swept.
STALE_PROBE_AGE = timedelta(minutes=10)


@dataclass(frozen=True)
class CheckResult:
    """One verdict. `detail` says what is wrong on failure, and may carry a note on success.

    A `degraded` failure means the cluster serves everything but has lost a safety margin: a volume lacks
    a copy, or a volume server runs short of slots or disk.
    """

    component: str
    where: str
    check: str
    ok: bool
    latency_ms: float
    detail: str
    degraded: bool = False

    @property
    def status(self) -> str:
        return "OK" if self.ok else "DEGRADED" if self.degraded else "FAIL"


@dataclass(frozen=True)
class Answer:
    response: httpx.Response | None
    error: str  # why there is no response
    latency_ms: float


class Http:
    """The shared client, answering with either a response or a short reason, never an exception."""

    def __init__(self, client: httpx.Client, timeout: float) -> None:
        self._client = client
        self._timeout = timeout

    def send(self, method: str, url: str, **kwargs: Any) -> Answer:
        start = time.perf_counter()
        try:
            response = self._client.request(method, url, **kwargs)
        except httpx.TimeoutException:
            return Answer(None, f"timed out after {self._timeout}s", since(start))
        except httpx.HTTPError as exc:
            return Answer(None, _describe(exc), since(start))
        return Answer(response, "", since(start))


def since(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 1)


def _describe(exc: httpx.HTTPError) -> str:
    text = str(exc)
    lowered = text.lower()
    if "refused" in lowered:
        return "connection refused"
    if "name or service not known" in lowered or "name resolution" in lowered or "nodename nor servname" in lowered:
        return "cannot resolve host"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "connection closed without a response"
    return text or type(exc).__name__


def address(url: str) -> str:
    return urlsplit(url).netloc


def check_result(
    component: str, where: str, check: str, latency_ms: float, problem: str, note: str = ""
) -> CheckResult:
    return CheckResult(component, where, check, not problem, latency_ms, problem or note)


def json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
