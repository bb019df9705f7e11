"""The S3 check proves the gateway sees AEGIS data: it lists a file the probe wrote through the filer."""

from __future__ import annotations

import re

from components.healthcheck import run_checks
from components.healthcheck.s3_view import (
    AEGIS_BUCKETS_FOLDER,
    PROBE_BUCKET,
    PROBE_TENANT,
    S3ViewProbe,
    listed_keys,
)
from components.model.aegis import layout as aegis_layout
from tests.support.fake_cluster import (
    FILER,
    S3,
    FakeCluster,
    failure,
    make_target,
)

PROBE_DIR = re.compile(r"/aegis/volumes/aegis-healthcheck/[0-9a-f-]{36}")


def test_the_health_check_and_the_model_agree_on_the_s3_mapping():
    assert AEGIS_BUCKETS_FOLDER == aegis_layout.BUCKETS_FOLDER
    # A tenant is a bucket: the probe tenant's folder is its bucket, and a key is `<volume>/<path>`.
    probe = S3ViewProbe("0b7e2c1a-0000-4000-8000-000000000001")
    assert probe.volume_dir == aegis_layout.volume_path(PROBE_TENANT, probe.volume_id)
    assert f"{AEGIS_BUCKETS_FOLDER}/{PROBE_BUCKET}/{probe.key}" == probe.filer_path
    assert aegis_layout.s3_url(PROBE_BUCKET, probe.key) == f"s3://{PROBE_TENANT}/{probe.volume_id}/s3-view-probe"


def test_probe_list_url_is_encoded_as_signed():
    probe = S3ViewProbe("0b7e2c1a-0000-4000-8000-000000000001")
    assert probe.list_url("http://s3:8333/") == (
        "http://s3:8333/aegis-healthcheck?list-type=2&prefix=0b7e2c1a-0000-4000-8000-000000000001%2F"
    )
    xml = "<ListBucketResult><Contents><Key>a/b&amp;c</Key></Contents><Contents><Key>d</Key></Contents>"
    assert listed_keys(xml) == ["a/b&c", "d"]


def test_healthy_gateway_lists_the_probe_file_and_the_probe_volume_is_deleted():
    cluster = FakeCluster()
    report = run_checks(make_target(), transport=cluster.transport)
    [listed] = [r for r in report.results if r.check == "lists AEGIS data"]
    assert listed.ok and re.fullmatch(r"s3://aegis-healthcheck/[0-9a-f-]{36}/s3-view-probe", listed.detail)
    [volume] = {PROBE_DIR.search(url).group(0) for _, url in cluster.calls if url.endswith("/s3-view-probe")}
    s3_calls = [(m, url) for m, url in cluster.calls if volume in url or url.startswith(f"{S3}/aegis-healthcheck")]
    # Write through the filer, list through S3, delete this probe's volume.
    assert [m for m, _ in s3_calls] == ["PUT", "GET", "DELETE"]
    put, listing, delete = (url for _, url in s3_calls)
    assert put.startswith(FILER) and listing == f"{S3}/aegis-healthcheck"
    assert delete == f"{FILER}{volume}"
    assert cluster.files == {}


def test_a_gateway_that_does_not_see_aegis_data_fails_and_the_probe_still_cleans_up():
    cluster = FakeCluster(s3_sees_aegis_data=False)
    report = run_checks(make_target(), transport=cluster.transport)
    detail = failure(report, "s3", "lists AEGIS data").detail
    assert detail.startswith("signed ListObjectsV2 of s3://aegis-healthcheck/")
    assert "does not list the file the probe wrote through the filer" in detail
    assert cluster.files == {}


def test_a_failed_probe_write_is_named_and_the_delete_is_still_sent():
    cluster = FakeCluster(put_status=500)
    report = run_checks(make_target(), transport=cluster.transport)
    detail = failure(report, "s3", "lists AEGIS data").detail
    assert re.fullmatch(
        r"probe write to /aegis/volumes/aegis-healthcheck/\S+ through the filer failed: HTTP 500", detail
    )
    assert any(m == "DELETE" and PROBE_DIR.search(url) for m, url in cluster.calls)
    assert not [url for _, url in cluster.calls if url.startswith(f"{S3}/aegis-healthcheck")]


def test_no_listing_when_list_buckets_is_already_denied():
    cluster = FakeCluster(s3_status=403)
    report = run_checks(make_target(), transport=cluster.transport)
    assert [r.check for r in report.results if r.component == "s3"] == ["ListBuckets"]
    assert not [url for _, url in cluster.calls if url.endswith("/s3-view-probe")]
