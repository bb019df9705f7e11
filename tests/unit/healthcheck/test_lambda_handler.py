"""The in-VPC health function's handler and metrics, with the network and AWS replaced (no processes)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from components.healthcheck import CheckResult, Report, Target, lambda_handler, watch

TARGET = {
    "filer_url": "http://lb:8888",
    "master_urls": ["http://m0:9333", "http://m1:9333"],
    "expected_masters": 2,
    "expected_volume_servers": ["v0:8080", "v1:8080"],
    "filer_addresses": ["http://f0:8888"],
    "s3_endpoint": "http://lb:8333",
    "s3_region": "us-east-1",
}
ACCESS, SECRET = "/aegis-storage/prod/s3_admin_access_key", "/aegis-storage/prod/s3_admin_secret_key"
KEYS = {ACCESS: "AKID", SECRET: "SECRET"}
PARAMETERS = {"access_key": ACCESS, "secret_key": SECRET}


def result(component: str, check: str, ok: bool, detail: str = "") -> CheckResult:
    return CheckResult(component, f"{component}-host", check, ok, 1.0, detail)


HEALTHY = Report((result("master", "leader", True), result("filer", "/healthz", True)), 0.1)
FILER_DOWN = Report((result("master", "leader", True), result("filer", "/healthz", False, "connection refused")), 0.1)
NO_LEADER = Report((result("master", "leader", False, "no leader"),) * 2, 0.1)


class FakeAws:
    def __init__(self) -> None:
        self.metric_calls: list[dict[str, Any]] = []
        self.ssm_calls: list[dict[str, Any]] = []

    def __call__(self, service: str) -> Any:
        return self

    def get_parameters(self, **kwargs: Any) -> dict[str, Any]:
        self.ssm_calls.append(kwargs)
        return {"Parameters": [{"Name": n, "Value": KEYS[n]} for n in kwargs["Names"] if n in KEYS]}

    def put_metric_data(self, **kwargs: Any) -> None:
        self.metric_calls.append(kwargs)


def gate_event(**extra: Any) -> dict[str, Any]:
    return {"mode": "gate", "target": TARGET, "timeout_seconds": 7.0, **extra}


def test_the_gate_reads_the_s3_keys_from_ssm_with_decryption(monkeypatch) -> None:
    seen: list[Target] = []
    monkeypatch.setattr(lambda_handler, "wait_until_healthy", lambda target, timeout: seen.append(target) or HEALTHY)
    aws = FakeAws()
    assert lambda_handler.run(gate_event(s3_key_parameters=PARAMETERS), aws)["outcome"] == "healthy"
    assert aws.ssm_calls == [{"Names": list(KEYS), "WithDecryption": True}]
    assert (seen[0].s3_access_key, seen[0].s3_secret_key) == ("AKID", "SECRET")


def test_the_gate_raises_with_the_report_when_the_cluster_is_not_healthy(monkeypatch) -> None:
    monkeypatch.setattr(lambda_handler, "wait_until_healthy", lambda target, timeout: FILER_DOWN)
    with pytest.raises(lambda_handler.ClusterNotHealthy) as failure:
        lambda_handler.run(gate_event(), FakeAws())
    message = str(failure.value)
    assert message.startswith("SeaweedFS is unhealthy after 7 s:")
    assert "filer filer-host: connection refused" in message


def test_a_degraded_outcome_fails_the_gate_as_degraded(monkeypatch) -> None:
    class DegradedReport(Report):
        outcome = "degraded"

    report = DegradedReport(HEALTHY.results, 0.1)
    monkeypatch.setattr(lambda_handler, "wait_until_healthy", lambda target, timeout: report)
    with pytest.raises(lambda_handler.ClusterNotHealthy, match=r"^SeaweedFS is degraded after 7 s"):
        lambda_handler.run(gate_event(), FakeAws())


def test_a_missing_ssm_parameter_is_named() -> None:
    names = {**PARAMETERS, "secret_key": "/aegis-storage/prod/gone"}
    with pytest.raises(ValueError, match="SSM parameters not found: /aegis-storage/prod/gone"):
        lambda_handler.run(gate_event(s3_key_parameters=names), FakeAws())


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="gate or watch"):
        lambda_handler.run({"mode": "deploy"}, FakeAws())


def test_the_watch_publishes_every_metric_per_stack_and_does_not_raise(monkeypatch) -> None:
    monkeypatch.setattr(lambda_handler, "run_checks", lambda target, load_balancer_stats: NO_LEADER)
    per_server = {"v0:8080": {"FreeVolumeSlots": 5.0, "FreeDiskPercent": 40.0}}
    monkeypatch.setattr(
        lambda_handler, "cluster_readings", lambda target, stats: ({"FreeVolumeSlots": 12.0}, per_server)
    )
    aws = FakeAws()
    answer = lambda_handler.run({"mode": "watch", "target": TARGET, "stack": "prod"}, aws)
    assert answer["outcome"] == "unhealthy"
    [call] = aws.metric_calls
    assert call["Namespace"] == "AEGIS/Storage"
    stack_wide = [d for d in call["MetricData"] if len(d["Dimensions"]) == 1]
    assert {d["MetricName"]: d["Value"] for d in stack_wide} == {
        "FreeVolumeSlots": 12.0,
        "Healthy": 0.0,
        "RaftLeader": 0.0,
        "MastersNamingLeader": 0.0,
        "UsageLagging": 0.0,  # no usage service answered: nothing lags
    }
    assert all(d["Dimensions"] == [{"Name": "Stack", "Value": "prod"}] for d in stack_wide)
    # The per-server metrics carry the server beside the stack: the alarms' Stack-only metrics stay apart.
    server = [{"Name": "Stack", "Value": "prod"}, {"Name": "Server", "Value": "v0:8080"}]
    assert sorted((d["MetricName"], d["Value"]) for d in call["MetricData"] if d["Dimensions"] == server) == [
        ("FreeDiskPercent", 40.0),
        ("FreeVolumeSlots", 5.0),
    ]
    assert len(call["MetricData"]) == 7


def test_a_degraded_cluster_stays_healthy_in_the_metrics_its_own_alarms_tell() -> None:
    class DegradedReport(Report):
        outcome = "degraded"

    assert watch.report_metrics(DegradedReport(HEALTHY.results, 0.1)) == {
        "Healthy": 1.0,
        "RaftLeader": 1.0,
        "MastersNamingLeader": 1.0,
    }
    assert watch.report_metrics(FILER_DOWN)["Healthy"] == 0.0


def test_handler_imports_boto3_only_when_called(monkeypatch) -> None:
    made: list[str] = []

    class FakeBoto3:
        @staticmethod
        def client(service: str) -> FakeAws:
            made.append(service)
            return FakeAws()

    monkeypatch.setitem(__import__("sys").modules, "boto3", FakeBoto3)
    monkeypatch.setattr(lambda_handler, "wait_until_healthy", lambda target, timeout: HEALTHY)
    lambda_handler.handler(gate_event(s3_key_parameters=PARAMETERS), None)
    assert made == ["ssm"]


def vol_status(copies: dict[str, list[tuple[int, dict[str, int]]]]) -> dict[str, Any]:
    """A /vol/status body: server -> [(volume id, ReplicaPlacement)], one rack per server as in prod."""
    racks = {
        f"rack-{server}": {server: [{"Id": vid, "ReplicaPlacement": rp} for vid, rp in volumes]}
        for server, volumes in copies.items()
    }
    return {"Version": "4.48", "Volumes": {"DataCenters": {"dc1": racks}}}


def dir_status(nodes: dict[str, tuple[int, int]]) -> dict[str, Any]:
    """A /dir/status body: server -> (Max, Volumes), one rack per server; empty levels are null, as weed sends."""
    racks = [
        {"Id": f"rack-{url}", "DataNodes": [{"Url": url, "Max": m, "Volumes": v}]} for url, (m, v) in nodes.items()
    ]
    return {"Topology": {"DataCenters": [{"Id": "dc1", "Racks": racks}, {"Id": "dc2", "Racks": None}]}}


def test_free_slots_are_those_of_the_fullest_volume_server() -> None:
    assert watch.min_free_slots(dir_status({"v0:8080": (78, 14), "v1:8080": (78, 75)})) == 3


def test_degraded_volumes_counts_volumes_short_of_their_placement() -> None:
    rack_copy = {"rack": 1}
    status = vol_status(
        {
            "v0:8080": [(1, rack_copy), (2, rack_copy), (3, {}), (4, rack_copy)],
            "v1:8080": [(1, rack_copy), (4, rack_copy)],
        }
    )
    assert watch.degraded_volumes(status) == 1  # volume 2: one copy of two; 3 wants one; 1 and 4 have two


STATS_CSV = """# pxname,svname,qcur,status,check_status
filer,FRONTEND,,OPEN,
filers,filer-0,0,UP,L7OK
filers,filer-1,0,DOWN,L4CON
filers,filer-2,0,UP 1/2,L7OK
filers,BACKEND,0,UP,
stats,FRONTEND,,OPEN,
"""
# The same, with the columns the response time comes from (HAProxy 2.6 has more; the reader goes by name).
TIMED_CSV = """# pxname,svname,status,rtime
filers,filer-0,UP,7
filers,BACKEND,UP,9
"""


def test_healthy_filers_counts_the_backend_servers_haproxy_sees_up() -> None:
    assert watch.healthy_filers(STATS_CSV) == 2


def test_cluster_metrics_reads_slots_replicas_disks_and_haproxy(monkeypatch) -> None:
    bodies = {
        "m0:9333/dir/status": (502, ""),
        "m1:9333/dir/status": (200, json.dumps(dir_status({"v0:8080": (78, 14), "v1:8080": (78, 70)}))),
        "m0:9333/vol/status": (200, json.dumps(vol_status({"v0:8080": [(1, {"rack": 1})]}))),
        "v0:8080/status": (200, json.dumps({"DiskStatuses": [disk(31.5, 300, 700)]})),
        "v1:8080/status": (200, json.dumps({"DiskStatuses": [disk(12.25, 900, 100)]})),
        "lb0:8404/stats;csv": (200, STATS_CSV),
        "lb1:8404/stats;csv": (200, STATS_CSV.replace("filer-0,0,UP", "filer-0,0,DOWN")),
    }

    def answer(request: httpx.Request) -> httpx.Response:
        status, text = bodies[request.url.netloc.decode() + request.url.raw_path.decode()]
        return httpx.Response(status, text=text)

    target = Target.from_stack_outputs({"health_target": TARGET})
    stats = ["http://lb0:8404/stats;csv", "http://lb1:8404/stats;csv"]
    metrics, per_server = watch.cluster_readings(target, stats, transport=httpx.MockTransport(answer))
    assert metrics == {
        "FreeVolumeSlots": 8.0,
        "DegradedVolumes": 1.0,
        "MissingCopies": 1.0,
        "FreeDiskPercent": 12.25,
        "UsedDiskBytes": 1200.0,
        "FreeDiskBytes": 800.0,
        "HealthyFilersBehindLB": 1.0,
        # No rtime column in these CSVs: left out, not 0.
    }
    assert per_server == {
        "v0:8080": {"FreeVolumeSlots": 64.0, "FreeDiskPercent": 31.5},
        "v1:8080": {"FreeVolumeSlots": 8.0, "FreeDiskPercent": 12.25},
    }
    assert watch.cluster_metrics(target, stats, transport=httpx.MockTransport(answer)) == metrics


def disk(percent_free: float, used: int, free: int) -> dict[str, Any]:
    """One entry of a volume server's /status DiskStatuses, with the keys weed 4.48 sends."""
    return {"dir": "/data", "all": used + free, "used": used, "free": free, "percent_free": percent_free}


def test_the_filers_response_time_is_the_backend_rows_rtime() -> None:
    assert watch.filer_response_ms(TIMED_CSV) == 9.0
    assert watch.filer_response_ms(STATS_CSV) is None


def test_missing_copies_count_every_copy_short() -> None:
    status = vol_status({"v0:8080": [(1, {"rack": 1, "dc": 1}), (2, {"rack": 1})], "v1:8080": [(2, {"rack": 1})]})
    assert watch.missing_copies(status) == 2  # volume 1 lacks two of three, volume 2 has both


def test_cluster_metrics_leaves_out_what_it_cannot_read() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    target = Target.from_stack_outputs({"health_target": TARGET})
    metrics = watch.cluster_metrics(target, ["http://lb0:8404/stats;csv"], transport=httpx.MockTransport(refuse))
    assert metrics == {}
