"""The `health_target` output as the stacks write it and the health check reads it back."""

from __future__ import annotations

import pytest

from components.healthcheck.target import HEALTH_TARGET, SECRET_OUTPUTS, Target, health_target_output

WRITTEN = {
    "filer_url": "http://lb:8888",
    "master_urls": ["http://m0:9333"],
    "expected_masters": 1,
    "expected_volume_servers": ["v0:8080"],
    "filer_addresses": [],
    "admin_url": "http://lb:8889",
    "s3_endpoint": None,
    "s3_region": "eu-west-1",
    "filer_rules": "rules",
    "min_free_volume_slots": 2,
    "min_free_disk_percent": 5,
    "volume_server_urls": [],
    "metadata_log_retention_days": 7,
    "usage_service": True,
}


def test_what_the_stacks_write_reads_back() -> None:
    outputs = {HEALTH_TARGET: health_target_output(**WRITTEN), SECRET_OUTPUTS["s3_access_key"]: "AKID"}
    target = Target.from_stack_outputs(outputs)
    assert target == Target(
        filer_url="http://lb:8888",
        master_urls=("http://m0:9333",),
        expected_masters=1,
        expected_volume_servers=("v0:8080",),
        admin_url="http://lb:8889",
        s3_access_key="AKID",
        s3_region="eu-west-1",
        filer_rules="rules",
        min_free_volume_slots=2,
        min_free_disk_percent=5,
        metadata_log_retention_days=7,
        usage_service=True,
    )


def test_the_writer_takes_exactly_the_keys_the_reader_reads() -> None:
    without_filer = {key: value for key, value in WRITTEN.items() if key != "filer_url"}
    for written in (without_filer, {**WRITTEN, "s3_access_key": "AKID"}, {**WRITTEN, "unknown": 1}):
        with pytest.raises(ValueError, match="health_target takes the keys"):
            health_target_output(**written)
