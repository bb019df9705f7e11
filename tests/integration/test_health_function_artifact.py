"""The in-VPC health function's artifact, built by the function the stack uses, run against the prod topology.

The zip is unpacked into a temp directory and its handler runs in a fresh interpreter started with
`-I -S`: no site-packages, no user site, no current directory, only the standard library and that
directory on sys.path, as on the Lambda runtime (whose boto3 is replaced here by an SSM stand-in that
serves the cluster's S3 keys, so the signed S3 check runs too, and keeps the watch's volume record in a file
between runs). The driver proves where httpx came from.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path

import httpx
import pytest

from components.aws.health_artifact import build_artifact
from components.healthcheck import Target
from components.healthcheck.ledger import Record, volumes_of
from components.healthcheck.target import SECRET_OUTPUTS, health_target_output
from components.model.refs import Ref
from components.model.topology import Role
from tests.support.cluster import (
    LocalCluster,
    health_target,
    running_prod,
    wait_for_report,
)
from tests.support.stack_configs import prod

pytestmark = pytest.mark.integration

SUBNET = "127.0.64"
ACCESS_PARAMETER = "/aegis-storage/prod/s3_admin_access_key"
SECRET_PARAMETER = "/aegis-storage/prod/s3_admin_secret_key"
RECORD_PARAMETER = "/aegis-storage/loopback/health/volume-record"

DRIVER = r"""
import json, os, sys
artifact, event_file, keys_file = sys.argv[1:4]
PUT = os.path.join(os.path.dirname(keys_file or "."), "parameters.json")
assert not any("site-packages" in entry for entry in sys.path), sys.path
sys.path.insert(0, artifact)
import httpx
from components.healthcheck import checks, lambda_handler
assert httpx.__file__.startswith(artifact), httpx.__file__
if event_file == "--has-degraded":
    print(json.dumps(hasattr(checks.Report, "outcome")))
    sys.exit(0)
keys = json.load(open(keys_file))

class ParameterNotFound(Exception):
    response = {"Error": {"Code": "ParameterNotFound"}}  # as botocore's ClientError carries it

class StandInSsm:
    def get_parameters(self, Names, WithDecryption):
        assert WithDecryption
        return {"Parameters": [{"Name": n, "Value": keys[n]} for n in Names if n in keys]}

    def get_parameter(self, Name):
        stored = json.load(open(PUT)) if os.path.exists(PUT) else {}
        if Name not in stored:
            raise ParameterNotFound(Name)
        return {"Parameter": {"Name": Name, "Value": stored[Name]["Value"]}}

    def put_parameter(self, **request):
        stored = json.load(open(PUT)) if os.path.exists(PUT) else {}
        json.dump({**stored, request["Name"]: request}, open(PUT, "w"))

class StandInCloudWatch:
    def put_metric_data(self, Namespace, MetricData):
        assert Namespace == "AEGIS/Storage" and MetricData

def client(service):
    return {"ssm": StandInSsm, "cloudwatch": StandInCloudWatch}[service]()

try:
    print(json.dumps(lambda_handler.run(json.load(open(event_file)), client)))
except lambda_handler.ClusterNotHealthy as failure:
    print(failure)
    sys.exit(1)
"""


@dataclass
class Function:
    directory: Path
    work: Path
    keys: dict[str, str]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        driver = self.work / "driver.py"
        driver.write_text(DRIVER)
        command = [sys.executable, "-I", "-S", str(driver), str(self.directory), *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=180, cwd=self.work, check=False)

    def gate(self, target: Target, timeout_seconds: float) -> subprocess.CompletedProcess[str]:
        return self._invoke({"mode": "gate", "target": target_output(target), "timeout_seconds": timeout_seconds})

    def watch(self, cluster: LocalCluster) -> dict[str, float]:
        """The metrics one scheduled run publishes."""
        stats = [f"http://{lb.host}:{lb.stats_port}/stats;csv" for lb in cluster.topology.load_balancers]
        event = {"mode": "watch", "target": target_output(target(cluster)), "stack": "loopback"}
        event["volume_record_parameter"] = RECORD_PARAMETER
        done = self._invoke({**event, "load_balancer_stats": stats})
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout)["metrics"]

    def _invoke(self, event: dict[str, object]) -> subprocess.CompletedProcess[str]:
        event["s3_key_parameters"] = {"access_key": ACCESS_PARAMETER, "secret_key": SECRET_PARAMETER}
        (self.work / "event.json").write_text(json.dumps(event))
        (self.work / "keys.json").write_text(json.dumps(self.keys))
        return self.run(str(self.work / "event.json"), str(self.work / "keys.json"))


def target_output(target: Target) -> dict[str, object]:
    """The stack's `health_target` output for `target`, written as the stacks write it (the secret keys are not
    in it), with the metadata log retention the masters here purge at."""
    written = {f.name: getattr(target, f.name) for f in fields(Target) if f.name not in SECRET_OUTPUTS}
    written = {key: list(value) if isinstance(value, tuple) else value for key, value in written.items()}
    return health_target_output(**{**written, "metadata_log_retention_days": 7})


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[LocalCluster]:
    root: Path = tmp_path_factory.mktemp("gate-artifact")
    with running_prod(prod(), root / "cluster", SUBNET) as (started, _):
        yield started


@pytest.fixture(scope="module")
def function(cluster: LocalCluster, tmp_path_factory) -> Function:
    work: Path = tmp_path_factory.mktemp("gate-function")
    artifact = work / "artifact.zip"
    artifact.write_bytes(build_artifact())
    directory = work / "task"
    with zipfile.ZipFile(artifact) as archive:
        archive.extractall(directory)
    keys = {
        ACCESS_PARAMETER: cluster.values[Ref.S3_ADMIN_ACCESS_KEY],
        SECRET_PARAMETER: cluster.values[Ref.S3_ADMIN_SECRET_KEY],
    }
    return Function(directory, work, keys)


def target(cluster: LocalCluster) -> Target:
    return health_target(cluster.topology, cluster.values)


def test_a_healthy_cluster_passes_the_gate(cluster: LocalCluster, function: Function) -> None:
    assert wait_for_report(target(cluster), healthy=True, timeout=60).healthy
    done = function.gate(target(cluster), timeout_seconds=30)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["outcome"] == "healthy"


def hold_data(cluster: LocalCluster) -> None:
    """A file that stays, and the master counting it: the probes delete what they write, and the master learns
    volume sizes from the volume servers' heartbeats, so a young cluster may have no volume holding data yet."""
    assert httpx.put(f"{target(cluster).native_url}/watch-record/kept", content=b"x" * 4096, timeout=30).is_success
    master = cluster.topology.of(Role.MASTER)[0].http_address
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if any(v.holds_data for v in volumes_of(httpx.get(f"http://{master}/vol/status", timeout=10).json())):
            return
        time.sleep(0.5)
    raise AssertionError("the master never counted the kept file")


def test_the_watch_measures_a_healthy_cluster(cluster: LocalCluster, function: Function) -> None:
    hold_data(cluster)
    metrics = function.watch(cluster)
    assert {k: metrics[k] for k in ("Healthy", "RaftLeader", "DegradedVolumes", "HealthyFilersBehindLB")} == {
        "Healthy": 1.0,
        "RaftLeader": 1.0,
        "DegradedVolumes": 0.0,
        "HealthyFilersBehindLB": 3.0,
    }
    assert metrics["FreeVolumeSlots"] > 0
    assert 0 < metrics["FreeDiskPercent"] <= 100
    # Read through the admin URL (left out when the log cannot be listed); a young cluster's log may not be
    # flushed to its day folder yet, so its size can still be 0.
    assert metrics["MetadataLogBytes"] >= 0 and metrics["MetadataLogOldestDays"] <= 1, metrics
    # The first run found no parameter and created it with the record of the volumes holding data.
    put = json.loads((function.work / "parameters.json").read_text())[RECORD_PARAMETER]
    assert (put["Type"], put["Tier"], put["Overwrite"]) == ("String", "Advanced", True)
    assert Record.from_json(put["Value"]).volumes


def watch_until(
    function: Function, cluster: LocalCluster, done: Callable[[dict[str, float]], bool]
) -> dict[str, float]:
    """Scheduled runs, repeated until `done` holds (bounded: 30 runs, at most about 60 s)."""
    deadline = time.monotonic() + 60
    metrics = function.watch(cluster)
    for _ in range(30):
        if done(metrics) or time.monotonic() > deadline:
            break
        time.sleep(1.0)
        metrics = function.watch(cluster)
    return metrics


def test_a_stopped_filer_fails_the_gate_naming_it(cluster: LocalCluster, function: Function) -> None:
    filer = cluster.topology.of(Role.FILER)[1]
    cluster.kill(filer.name)  # SIGKILL by PID
    try:
        failed = function.gate(target(cluster), timeout_seconds=3)
        watched = watch_until(function, cluster, lambda m: m.get("HealthyFilersBehindLB") == 2.0)
    finally:
        cluster.restart(filer.name)
        cluster.wait_healthy(filer.name)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "Traceback" not in failed.stderr, failed.stderr
    assert "unhealthy" in failed.stdout.splitlines()[0], failed.stdout
    assert f"filer {filer.http_address}: connection refused" in failed.stdout, failed.stdout
    assert (watched["Healthy"], watched["HealthyFilersBehindLB"]) == (0.0, 2.0), watched
    assert wait_for_report(target(cluster), healthy=True, timeout=60).healthy
    back = watch_until(function, cluster, lambda m: m.get("HealthyFilersBehindLB") == 3.0)
    assert back["HealthyFilersBehindLB"] == 3.0, back


@pytest.fixture(scope="module")
def lost_replicas(cluster: LocalCluster) -> str:
    """A volume server replaced by an empty one on the same address: registered again, its copies gone."""
    assert wait_for_report(target(cluster), healthy=True, timeout=60).healthy  # volumes exist with both copies
    server = cluster.topology.of(Role.VOLUME)[2]
    cluster.kill(server.name)  # SIGKILL by PID
    shutil.rmtree(server.data_dir)
    cluster.start_service(server)
    cluster.wait_healthy(server.name)
    return server.name


def test_a_lost_replica_shows_in_the_watch_metrics(cluster: LocalCluster, function: Function, lost_replicas) -> None:
    metrics = watch_until(function, cluster, lambda m: m.get("DegradedVolumes", 0) > 0)
    assert metrics["DegradedVolumes"] > 0, metrics
    assert metrics["RaftLeader"] == 1.0


def test_a_lost_replica_makes_the_gate_report_degraded(
    cluster: LocalCluster, function: Function, lost_replicas
) -> None:
    support = function.run("--has-degraded", "", "")
    assert support.returncode == 0, support.stderr
    if not json.loads(support.stdout):
        pytest.skip("the packaged health check has no degraded outcome (Report.outcome) in this branch yet")
    degraded = function.gate(target(cluster), timeout_seconds=5)
    assert degraded.returncode == 1, degraded.stdout + degraded.stderr
    assert "degraded" in degraded.stdout.splitlines()[0], degraded.stdout
