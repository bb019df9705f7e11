"""The filers' metadata log: how many bytes it holds and its oldest day, read through a filer's listing.

Every filer appends each metadata change to /topics/.system/log/<YYYY-MM-DD>/<HH-MM>.<filer id> and never
removes it; the masters' maintenance purges day folders past `metadataLogRetentionDays`
(components/model/maintenance.py). A log that keeps growing, or whose oldest day is older than the
retention, means the purge is not running. Standard library and httpx only: this module ships in the
in-VPC health function.

`check_metadata_log` is one of `run_checks`' probes: it reads the log through the tier's admin URL (AEGIS's
filer URL refuses /topics), names its bytes and oldest day, and calls the cluster "degraded" once the oldest
day is more than retention + 1 days old (a day of slack: the purge runs once per maintenance interval, and a
folder is named on the filer's clock).
"""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass

import httpx

from components.healthcheck.probing import CheckResult, Http, address, check_result, since

LOG_DIR = "/topics/.system/log"
CHECK = "metadata log"
PAGE = 1000  # entries per listing request; the filer pages with lastFileName


@dataclass(frozen=True)
class MetadataLog:
    bytes: int
    days: int
    oldest_day: datetime.date | None  # None: no day folder yet (a new cluster, or nothing written)

    def age_days(self, today: datetime.date) -> int:
        """Whole days between the oldest day folder and `today`; 0 for an empty log."""
        return (today - self.oldest_day).days if self.oldest_day else 0


def _listing(client: httpx.Client, filer_url: str, path: str) -> list[dict]:
    """Every entry of one folder of the filer (its JSON listing, paged); [] when the folder does not exist."""
    entries: list[dict] = []
    last = ""
    while True:
        response = client.get(
            f"{filer_url}{path}/",
            params={"limit": PAGE, "lastFileName": last},
            headers={"Accept": "application/json"},
        )
        if response.status_code == 404:
            return entries
        response.raise_for_status()
        body = response.json()
        page = body.get("Entries") or []
        entries.extend(page)
        if not body.get("ShouldDisplayLoadMore") or not page:
            return entries
        last = body.get("LastFileName") or page[-1]["FullPath"].rsplit("/", 1)[-1]


def _day(name: str) -> datetime.date | None:
    try:
        return datetime.date.fromisoformat(name)
    except ValueError:  # not a day folder: counted in bytes, not in the age
        return None


def read_metadata_log(filer_url: str, timeout: float = 10.0, client: httpx.Client | None = None) -> MetadataLog:
    """The log's total bytes (sum of its files' sizes), its number of day folders and its oldest day."""
    own = client is None
    http = client or httpx.Client(timeout=timeout)
    try:
        total, days = 0, []
        for folder in _listing(http, filer_url.rstrip("/"), LOG_DIR):
            name = folder["FullPath"].rsplit("/", 1)[-1]
            files = _listing(http, filer_url.rstrip("/"), f"{LOG_DIR}/{name}")
            total += sum(int(f.get("FileSize") or 0) for f in files)
            day = _day(name)
            if day is not None:
                days.append(day)
        return MetadataLog(bytes=total, days=len(days), oldest_day=min(days) if days else None)
    finally:
        if own:
            http.close()


def overdue(log: MetadataLog, retention_days: int, today: datetime.date) -> bool:
    """Whether the oldest day folder is older than the retention + 1 days: the purge is not running."""
    return log.age_days(today) > retention_days + 1


def utc_today() -> datetime.date:
    return datetime.datetime.now(datetime.UTC).date()


def check_metadata_log(
    http: Http, filer_url: str, retention_days: int, today: datetime.date | None = None
) -> list[CheckResult]:
    """The log's size and oldest day, read through `filer_url` (the filer's native API); "degraded" when
    the oldest day is past the retention + 1 days, since nothing is lost yet but the disks fill."""
    start, where = time.perf_counter(), address(filer_url)
    try:
        log = read_metadata_log(filer_url, client=http.client)
    except httpx.HTTPStatusError as exc:
        problem = f"cannot list {LOG_DIR}: HTTP {exc.response.status_code}"
        return [check_result("filer", where, CHECK, since(start), problem)]
    except httpx.HTTPError as exc:
        return [check_result("filer", where, CHECK, since(start), f"cannot list {LOG_DIR}: {http.describe(exc)}")]
    except (AttributeError, KeyError, TypeError, ValueError):
        return [check_result("filer", where, CHECK, since(start), f"unexpected listing of {LOG_DIR}")]
    day = today or utc_today()
    age = log.age_days(day)
    oldest = f"oldest day {log.oldest_day} ({age} day(s) old)" if log.oldest_day else "no day folder yet"
    note = f"{log.bytes} bytes in {log.days} day folder(s), {oldest}"
    if overdue(log, retention_days, day):
        problem = f"{note}: older than the retention of {retention_days} day(s) + 1, the purge is not running"
        return [CheckResult("filer", where, CHECK, False, since(start), problem, degraded=True)]
    return [check_result("filer", where, CHECK, since(start), "", note)]
