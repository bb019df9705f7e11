"""The dev stack's rendered commands, run for real on loopback, judged by the health check."""

import json
import subprocess
import sys
import time
import uuid

import httpx
import pytest

from components.healthcheck import run_checks
from components.model.aegis.layout import volume_path
from components.model.config import parse
from components.model.topology import Role
from tests.support.cluster import fresh_values, health_target, loopback_topology, running, wait_for_report

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    cfg = parse({"s3Enabled": True}, stack="dev")
    root = tmp_path_factory.mktemp("dev")
    topology, _ = loopback_topology(cfg, root, "127.0.1")
    values = fresh_values()
    with running(topology, values, root) as cluster:
        yield cluster, health_target(topology, values)


def test_storage_class_rules_are_applied(dev):
    cluster, target = dev
    # The rules and an entry's metadata are the filer's own API: the admin port, not AEGIS's filer URL.
    admin = target.native_url
    rules = httpx.get(f"{admin}/etc/seaweedfs/filer.conf", timeout=10).json()
    assert rules == json.loads(cluster.topology.filer_rules)
    assert httpx.get(f"{target.filer_url}/etc/seaweedfs/filer.conf", timeout=10).status_code == 403
    path = f"{volume_path('zaru-consumer', str(uuid.uuid4()))}/a.txt"
    assert httpx.put(f"{target.filer_url}{path}", content=b"x", timeout=30).status_code == 201
    assert httpx.get(f"{admin}{path}?metadata=true", timeout=10).json().get("TtlSec", 0) == 0


def test_health_check_cli_reports_healthy_then_names_each_stopped_component(dev):
    cluster, target = dev
    report = wait_for_report(target, healthy=True)
    assert report.healthy, report.table()
    checked = {r.component for r in report.results}
    assert checked == {"filer", "master", "volume", "replicas", "s3", "roundtrip", "rules", "aegis"}

    outputs = {
        "health_target": {
            "filer_url": target.filer_url,
            "admin_url": target.admin_url,
            "master_urls": list(target.master_urls),
            "expected_masters": target.expected_masters,
            "expected_volume_servers": list(target.expected_volume_servers),
            "s3_endpoint": target.s3_endpoint,
            "s3_region": "us-east-1",
            "filer_rules": cluster.topology.filer_rules,
        },
        "s3_admin_access_key": target.s3_access_key,
        "s3_admin_secret_key": target.s3_secret_key,
    }
    cli = [sys.executable, "-m", "components.healthcheck", "--stack-outputs", "-", "--json"]
    healthy = subprocess.run(cli, input=json.dumps(outputs), capture_output=True, text=True, timeout=60)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert json.loads(healthy.stdout)["healthy"] is True

    volume = cluster.topology.of(Role.VOLUME)[0]
    cluster.kill(volume.name)
    report = wait_for_report(target, healthy=False)
    assert not report.healthy
    assert any(f.component == "volume" and volume.http_address in f.detail for f in report.failures()), report.table()
    unhealthy = subprocess.run(cli[:-1], input=json.dumps(outputs), capture_output=True, text=True, timeout=60)
    assert unhealthy.returncode == 1
    assert f"volume server {volume.http_address} not registered" in unhealthy.stdout
    assert "Traceback" not in unhealthy.stdout + unhealthy.stderr

    filer = cluster.topology.of(Role.FILER)[0]
    cluster.kill(filer.name)
    # Through the HAProxy's admin port (once its checks have marked the filer down: `fall` x `inter`) and at the
    # filer's own address.
    expected = {
        target.native_url.removeprefix("http://"): "no filer is up behind the load balancer (503)",
        filer.http_address: "connection refused",
    }
    deadline = time.monotonic() + 30
    while True:
        report = run_checks(target)
        filer_failures = {f.where: f.detail for f in report.failures() if f.component == "filer"}
        if filer_failures == expected or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert filer_failures == expected, report.table()
