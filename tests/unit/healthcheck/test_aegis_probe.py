"""The AEGIS probe against the fake cluster of tests/support/fake_cluster.py (httpx.MockTransport, no sockets)."""

from __future__ import annotations

from urllib.parse import unquote

import httpx
import pytest

from components.healthcheck.aegis_probe import aegis_probe
from components.healthcheck.probing import CheckResult, Http
from components.healthcheck.s3_view import PROBE_TENANT
from tests.support.fake_cluster import FILER, NOW_DATE, FakeCluster

BASE = f"http://{FILER}"


def probe(cluster: FakeCluster, transport: httpx.BaseTransport | None = None) -> CheckResult:
    with httpx.Client(transport=transport or cluster.transport, timeout=3.0) as client:
        [result] = aegis_probe(Http(client, 3.0), BASE)
    return result


def aegis_calls(cluster: FakeCluster) -> list[str]:
    return [f"{method} {unquote(url.removeprefix(FILER))}" for method, url in cluster.calls]


def test_healthy_probe_runs_aegis_sequence_in_order_and_leaves_nothing() -> None:
    cluster = FakeCluster()
    result = probe(cluster)

    assert result.ok, result.detail
    assert (result.component, result.where, result.check) == ("aegis", FILER, "AEGIS calls")
    calls = aegis_calls(cluster)
    volume = calls[4].removeprefix("PUT ").removesuffix("/.keep")
    assert volume.startswith(f"/aegis/volumes/{PROBE_TENANT}/")
    assert calls == [
        "POST /dir/",
        "POST /dir/",
        "POST /dir/",
        "POST /dir/",
        f"PUT {volume}/.keep",
        f"PUT {volume}/probe.bin",
        f"GET {volume}/probe.bin",
        f"HEAD {volume}/probe.bin",
        "DELETE /dir/",
        f"GET {volume}/probe.bin",
        f"GET {volume}/",
        f"DELETE {volume}",
        f"GET /aegis/volumes/{PROBE_TENANT}/",  # the sweep of stale probe volumes: none here
    ]
    assert cluster.files == {}


def test_delete_that_frees_nothing_fails_and_the_probe_still_cleans_up() -> None:
    cluster = FakeCluster(aegis_delete_rewritten=False)
    result = probe(cluster)

    assert not result.ok
    assert result.detail == (
        "AEGIS's volume delete left the file in place (GET answered 200): "
        "the HTTP tier in front of the filer does not rewrite DELETE /dir/?path="
    )
    assert cluster.files == {}


def test_failed_write_names_the_step_and_cleans_up() -> None:
    cluster = FakeCluster(put_status=500)
    result = probe(cluster)

    assert result.detail == "PUT .keep answered 500, expected 201,200"
    assert aegis_calls(cluster)[-1].startswith(f"DELETE /aegis/volumes/{PROBE_TENANT}/")


def test_a_range_read_answered_whole_fails() -> None:
    cluster = FakeCluster()

    def ignore_range(request: httpx.Request) -> httpx.Response:
        if "range" in request.headers:
            request.headers["range"] = "bytes=0-0"  # the fake then answers 206 with the wrong slice
        return cluster.handle(request)

    result = probe(cluster, httpx.MockTransport(ignore_range))
    assert result.detail == "Range GET returned 1 bytes that differ from bytes 100-1099"
    assert cluster.files == {}


def test_unreachable_filer_is_one_clean_failure() -> None:
    cluster = FakeCluster(unreachable={FILER})
    result = probe(cluster)
    assert result.detail == "POST /dir/ path=/aegis failed: connection refused"


def test_an_unexpected_error_mid_sequence_still_deletes_the_probe_volume() -> None:
    cluster = FakeCluster()

    def broken_head(request: httpx.Request) -> httpx.Response:
        if request.method == "HEAD":
            raise RuntimeError("bug in the transport")
        return cluster.handle(request)

    with pytest.raises(RuntimeError):
        probe(cluster, httpx.MockTransport(broken_head))
    assert aegis_calls(cluster)[-1].startswith(f"DELETE /aegis/volumes/{PROBE_TENANT}/")
    assert cluster.files == {}


def test_probe_volumes_left_by_late_writes_are_swept_after_a_healthy_run() -> None:
    cluster = FakeCluster()
    tenant = f"/aegis/volumes/{PROBE_TENANT}"
    old, recent = f"{tenant}/old-volume", f"{tenant}/recent-volume"

    def with_leftovers(request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path == f"{tenant}/":
            entries = [
                {"FullPath": old, "Crtime": "2026-11-24T21:19:59Z", "IsDirectory": True},
                {"FullPath": recent, "Crtime": "2026-11-24T21:20:01Z", "IsDirectory": True},
            ]
            return httpx.Response(200, json={"Path": tenant, "Entries": entries}, headers={"Date": NOW_DATE})
        return cluster.handle(request)

    result = probe(cluster, httpx.MockTransport(with_leftovers))
    assert result.ok and result.detail.endswith("; removed 1 stale probe volume(s)"), result.detail
    deletes = [call for call in aegis_calls(cluster) if call.startswith(f"DELETE {tenant}/")]
    assert deletes[-1] == f"DELETE {old}"
    assert f"DELETE {recent}" not in deletes
