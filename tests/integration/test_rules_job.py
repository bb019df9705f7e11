"""The storage-class rules job as every runner starts it (its argv: the model's shell script), on loopback.

`weed filer.copy` exits 0 even when the upload fails, e.g. before a volume server has registered; the job
must still end up with the filer serving exactly the rendered rules, and the health check must notice
when the live rules differ from the rendered ones.
"""

from __future__ import annotations

import time

import httpx
import pytest

from components.model.config import parse
from components.model.topology import FILER_RULES_PATH, Role
from tests.support.cluster import LocalCluster, fresh_values, health_target, loopback_topology, wait_for_report

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Master and filer only: the volume server is started by the tests."""
    root = tmp_path_factory.mktemp("rules-job")
    topology, _ = loopback_topology(parse({"platform": "docker"}, stack="dev"), root, "127.0.32")
    cluster = LocalCluster(topology, fresh_values(), root)
    try:
        for role in (Role.MASTER, Role.FILER):
            [service] = topology.of(role)
            cluster.start_service(service)
            cluster.wait_healthy(service.name)
        yield cluster
    finally:
        cluster.stop()


def served_rules(cluster: LocalCluster) -> httpx.Response:
    [filer] = cluster.topology.of(Role.FILER)
    return httpx.get(f"http://{filer.http_address}{FILER_RULES_PATH}", timeout=10)


def test_job_started_before_the_volume_server_applies_the_rules_once_it_registers(cluster):
    [job] = cluster.topology.jobs
    [volume] = cluster.topology.of(Role.VOLUME)
    process = cluster.start_job(job)
    # weed 4.48's filer.copy waits 30 s for a volume, prints "copy file error" and exits 0 anyway: wait for
    # that silent failure, so the job has to notice it and try again.
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and "try 1/" not in process.log.read_text():
        time.sleep(0.5)
    log = process.log.read_text()
    assert "copy file error" in log and "does not serve" in log and "try 1/" in log, log
    assert process.alive(), log
    assert served_rules(cluster).status_code == 404

    started = time.monotonic()
    cluster.start_service(volume)
    cluster.wait_job(job, timeout=150)
    print(f"rules served {time.monotonic() - started:.1f} s after the volume server was started")
    assert served_rules(cluster).content == cluster.topology.filer_rules.encode()


def test_health_check_fails_when_the_live_rules_differ_and_the_job_restores_them(cluster):
    [job] = cluster.topology.jobs
    [volume] = cluster.topology.of(Role.VOLUME)
    if volume.name not in cluster.processes:
        cluster.start_service(volume)
    cluster.run_job(job, timeout=150)
    for lb in cluster.topology.load_balancers:  # AEGIS's filer URL, where the health check looks
        if lb.name not in cluster.processes:
            cluster.start_load_balancer(lb)
            cluster.wait_healthy(lb.name)
    target = health_target(cluster.topology, cluster.values)
    report = wait_for_report(target, healthy=True)
    assert report.healthy, report.table()

    # A hand-made change, as `fs.configure` or an old deployment would leave it.
    [filer] = cluster.topology.of(Role.FILER)
    changed = cluster.topology.filer_rules.replace('"version": 1', '"version": 1 ')
    put = httpx.put(f"http://{filer.http_address}{FILER_RULES_PATH}", content=changed.encode(), timeout=30)
    assert put.status_code == 201
    report = wait_for_report(target, healthy=False)
    [rules] = [r for r in report.failures() if r.component == "rules"]
    assert rules.where == target.native_url.removeprefix("http://")  # the rules are read on the admin port
    assert rules.detail.startswith("live /etc/seaweedfs/filer.conf differs from the rendered rules at line 2")

    cluster.run_job(job, timeout=150)
    assert wait_for_report(target, healthy=True).healthy
