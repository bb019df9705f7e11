"""What an HAProxy of a loopback tier thinks of its servers, read from its stats page (the CSV export)."""

from __future__ import annotations

import csv
import io
import time

import httpx

from components.model.topology import LoadBalancer


def server_status(lb: LoadBalancer, backend: str, server: str) -> str:
    """HAProxy's `status` of `server` in `backend` ("UP", "DOWN", "UP 1/2", "MAINT", ...); "" when unreadable."""
    try:
        text = httpx.get(f"http://{lb.host}:{lb.stats_port}/stats;csv", timeout=2.0).text.lstrip("# ")
    except httpx.HTTPError:
        return ""
    for row in csv.DictReader(io.StringIO(text)):
        if row["pxname"] == backend and row["svname"] == server:
            return row["status"]
    return ""


def wait_server_status(lb: LoadBalancer, backend: str, server: str, status: str, timeout: float = 30.0) -> float:
    """Seconds until HAProxy reports `server` of `backend` exactly `status`; raises TimeoutError with the last."""
    start = time.monotonic()
    while (seen := server_status(lb, backend, server)) != status:
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{lb.name}: {backend}/{server} is {seen!r}, not {status!r}, after {timeout:.0f}s")
        time.sleep(0.1)
    return time.monotonic() - start
