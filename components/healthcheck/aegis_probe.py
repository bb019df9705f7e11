"""The health check's AEGIS probe: AEGIS's own call sequence, through the URL AEGIS uses, on a probe volume.

It sends what the orchestrator sends (seaweedfs.rs at 59bc51e): `POST /dir/` with a multipart `path` per
ancestor, an empty `.keep`, a whole-file `PUT`, a `Range` read, a `HEAD`, then AEGIS's volume delete
`DELETE /dir/?path=<volume>&recursive=true`. It fails when that delete leaves the data in place, which is
what a filer without the HTTP tier's rewrite does (components/model/aegis/calls.py). The probe volume lives
in its own tenant and is removed with the filer's real recursive delete whatever happened, sent to the admin
URL: the filer URL lets through AEGIS's calls only, and AEGIS never sends that delete.
"""

from __future__ import annotations

import os
import time
import uuid
from urllib.parse import urlencode

from components.healthcheck.probing import Answer, CheckResult, Http, address, check_result, since, sweep_stale
from components.healthcheck.s3_view import PROBE_TENANT_DIR

PROBE_BYTES = 4096
RANGE = (100, 1099)  # an inner slice, so a server that ignores Range is caught
COMPONENT, CHECK = "aegis", "AEGIS calls"


def probe_volume() -> str:
    return f"{PROBE_TENANT_DIR}{uuid.uuid4()}"


def _ancestors(path: str) -> list[str]:
    parts = [p for p in path.split("/") if p]
    return ["/" + "/".join(parts[: depth + 1]) for depth in range(len(parts))]


def _failed(step: str, answer: Answer, expected: str) -> str:
    """Why a step failed, or "" when its status is one of `expected` (e.g. "201,200")."""
    if answer.response is None:
        return f"{step} failed: {answer.error}"
    status = answer.response.status_code
    return "" if str(status) in expected.split(",") else f"{step} answered {status}, expected {expected}"


def aegis_probe(http: Http, filer_url: str, admin_url: str | None = None) -> list[CheckResult]:
    """One result: AEGIS's sequence on a fresh probe volume through `filer_url`, cleaned up through `admin_url`
    (the filer's native API; the filer URL when None) even when a step fails."""
    start = time.perf_counter()
    base = filer_url.rstrip("/")
    admin = (admin_url or filer_url).rstrip("/")
    volume = probe_volume()
    try:
        problem = _create(http, base, volume) or _file_io(http, base, volume) or _delete(http, base, volume)
    finally:
        # The filer's own recursive delete, not AEGIS's: cleanup must work even when the rewrite does not.
        http.send("DELETE", f"{admin}{volume}?recursive=true")
    latency = since(start)
    note = ""
    if not problem:
        # Also the S3 check's probe volumes: both live in the probe tenant.
        swept = sweep_stale(http, admin, PROBE_TENANT_DIR, recursive=True)
        note = f"mkdir, .keep, {PROBE_BYTES} B write, Range read, HEAD, volume delete"
        note += f"; removed {swept} stale probe volume(s)" if swept else ""
    return [check_result(COMPONENT, address(base), CHECK, latency, problem, note)]


def _create(http: Http, base: str, volume: str) -> str:
    for ancestor in _ancestors(volume):
        answer = http.send("POST", f"{base}/dir/", files={"path": (None, ancestor)})
        if problem := _failed(f"POST /dir/ path={ancestor}", answer, "201,200,409"):
            return problem
    return _failed("PUT .keep", http.send("PUT", f"{base}{volume}/.keep", content=b""), "201,200")


def _file_io(http: Http, base: str, volume: str) -> str:
    url = f"{base}{volume}/probe.bin"
    payload = os.urandom(PROBE_BYTES)
    if problem := _failed("PUT file", http.send("PUT", url, content=payload), "201,200"):
        return problem
    first, last = RANGE
    ranged = http.send("GET", url, headers={"Range": f"bytes={first}-{last}"})
    if problem := _failed("Range GET", ranged, "206"):
        return problem
    assert ranged.response is not None
    if ranged.response.content != payload[first : last + 1]:
        return f"Range GET returned {len(ranged.response.content)} bytes that differ from bytes {first}-{last}"
    head = http.send("HEAD", url)
    if problem := _failed("HEAD", head, "200"):
        return problem
    assert head.response is not None
    if head.response.headers.get("content-length") != str(PROBE_BYTES):
        return f"HEAD reports {head.response.headers.get('content-length')} bytes, {PROBE_BYTES} were written"
    return ""


def _delete(http: Http, base: str, volume: str) -> str:
    query = urlencode({"path": volume, "recursive": "true"})  # form-encoded, as AEGIS's client writes it
    if problem := _failed("DELETE /dir/?path=", http.send("DELETE", f"{base}/dir/?{query}"), "204,200"):
        return problem
    for what, url in (("file", f"{base}{volume}/probe.bin"), ("directory", f"{base}{volume}/")):
        left = http.send("GET", url, headers={"Accept": "application/json"})
        if left.response is None:
            return f"checking the deleted volume failed: {left.error}"
        if left.response.status_code != 404:
            return (
                f"AEGIS's volume delete left the {what} in place (GET answered {left.response.status_code}): "
                "the HTTP tier in front of the filer does not rewrite DELETE /dir/?path="
            )
    return ""
