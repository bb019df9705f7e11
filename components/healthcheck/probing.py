"""What every probe of the health check shares: one verdict type and a client that never raises.

Kept apart from `checks.py` so that probes in their own modules (the AEGIS probe) and the checks that run
them depend on it, not on each other.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import httpx

from components.healthcheck import wire

# Far beyond any probe timeout and the filer's own 30 s wait for a writable volume, so no live probe is swept.
STALE_PROBE_AGE = timedelta(minutes=10)

Parsed = TypeVar("Parsed")


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

    @property
    def client(self) -> httpx.Client:
        """The shared client itself, for a reader that pages through answers (it raises: catch httpx.HTTPError)."""
        return self._client

    def describe(self, exc: httpx.HTTPError) -> str:
        """A failed request's short reason, as `send` gives it."""
        return f"timed out after {self._timeout}s" if isinstance(exc, httpx.TimeoutException) else _describe(exc)

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
    """The JSON object a response carries; None when its body is not one."""
    return wire.json_object(response.content)


def from_first_master(
    http: Http, master_urls: Sequence[str], path: str, parse: Callable[[dict[str, Any] | None], Parsed | None]
) -> tuple[str, Parsed] | str:
    """(master that answered, `parse` of its JSON) from the first master whose answer parses, else why none did.

    A follower proxies `/dir/status` and `/vol/status` to the leader and answers 502 while it knows none, so
    the next master may still answer."""
    errors = []
    for url in master_urls:
        where = address(url)
        answer = http.send("GET", f"{url.rstrip('/')}{path}")
        if answer.response is None:
            errors.append(f"{where}: {answer.error}")
        elif answer.response.status_code != 200:
            errors.append(f"{where}: HTTP {answer.response.status_code}")
        elif (parsed := parse(json_object(answer.response))) is None:
            errors.append(f"{where}: unexpected {path} answer")
        else:
            return where, parsed
    return f"no master answered {path} ({'; '.join(errors)})"


def no_master_answered(
    component: str, check: str, master_urls: Sequence[str], latency_ms: float, problem: str
) -> list[CheckResult]:
    """The one result of a check no master answered for (`from_first_master`'s reason): where is every master tried."""
    tried = ", ".join(address(url) for url in master_urls)
    return [check_result(component, tried, check, latency_ms, problem)]


def sweep_stale(http: Http, base: str, directory: str, name_prefix: str = "", recursive: bool = False) -> int:
    """Delete the entries of `directory` (with `/`) named `name_prefix…` that are older than STALE_PROBE_AGE:
    probes that a write landing after a timed-out run's cleanup left behind. Best effort: any surprise sweeps
    nothing. Ages are measured on the filer's clock (its Date header), so a skewed local clock cannot make a
    probe that is still in flight look stale."""
    listing = http.send("GET", f"{base}{directory}", headers={"Accept": "application/json"})
    if listing.response is None or listing.response.status_code != 200:
        return 0
    try:
        now = parsedate_to_datetime(listing.response.headers["Date"])
        stale = [
            entry["FullPath"]
            for entry in listing.response.json()["Entries"] or []
            if entry["FullPath"].startswith(f"{directory}{name_prefix}")
            and now - datetime.fromisoformat(entry["Crtime"]) > STALE_PROBE_AGE
        ]
    except (KeyError, TypeError, ValueError):
        return 0
    query = "?recursive=true" if recursive else ""
    deleted = [http.send("DELETE", f"{base}{quote(path)}{query}") for path in stale]
    return sum(1 for answer in deleted if answer.response is not None and answer.response.is_success)
