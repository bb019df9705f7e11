"""The health gate's provider, fed what the engine delivers: the dev program's recorded gate inputs, sent
through the SDK's serializer into a protobuf Struct and back (numbers as doubles)."""

import json

import pytest

from components import healthcheck
from components.docker.health_gate import _HealthGateProvider
from components.healthcheck import CheckResult, Report
from tests.support.engine_wire import engine_delivers
from tests.support.pulumi_harness import run_program


@pytest.fixture(scope="module")
def delivered():
    run = run_program("dev", {"platform": "docker", "s3Enabled": True, "healthTimeoutSeconds": 42})
    [gate] = [r for r in run.of_type("pulumi-python:dynamic:Resource") if r.name == "seaweedfs-health"]
    return engine_delivers(gate.inputs)


def report(ok: bool) -> Report:
    result = CheckResult("master", "127.0.0.1:9333", "leader", ok, 1.0, "" if ok else "no leader")
    return Report((result,), wall_seconds=0.5)


@pytest.fixture
def verdict(monkeypatch):
    seen = {}

    def fake_wait(target, timeout, **_):
        seen["target"], seen["timeout"] = target, timeout
        return seen["report"]

    monkeypatch.setattr(healthcheck, "wait_until_healthy", fake_wait)
    return seen


def test_the_wire_turns_every_number_into_a_double():
    # Why the target crosses as one JSON string: a count sent as a number comes back as 1.0.
    assert engine_delivers({"expected_masters": 1}) == {"expected_masters": 1.0}
    assert isinstance(engine_delivers({"expected_masters": 1})["expected_masters"], float)


def test_the_target_crosses_as_one_json_string(delivered):
    assert isinstance(delivered["timeout_seconds"], float)
    target = json.loads(delivered["stack_outputs_json"])["health_target"]
    assert target["expected_masters"] == 1 and isinstance(target["expected_masters"], int)


def test_every_update_is_a_change_so_the_check_runs_on_every_up(delivered):
    assert _HealthGateProvider().diff("health-gate", delivered, delivered).changes is True


def test_healthy_cluster_passes_with_the_stack_outputs_as_target(verdict, delivered):
    verdict["report"] = report(True)
    result = _HealthGateProvider().create(delivered)
    assert result.outs == {"healthy": True, "wall_seconds": 0.5}
    assert verdict["timeout"] == 42.0
    target = verdict["target"]
    assert (target.expected_masters, target.expected_volume_servers) == (1, ("seaweedfs-volume:8080",))
    assert target.s3_access_key == "generated-seaweedfs-s3-admin-access-key"


def test_unhealthy_cluster_fails_the_update_with_the_report(verdict, delivered):
    verdict["report"] = report(False)
    with pytest.raises(Exception, match="unhealthy after 42 s") as err:
        _HealthGateProvider().update("health-gate", delivered, delivered)
    assert "no leader" in str(err.value)


def test_degraded_cluster_fails_the_update_naming_the_volumes(verdict, delivered):
    short = CheckResult("replicas", "127.0.0.1:9333", "copies", False, 1.0, "volume 7 has 1 of 2 copies", True)
    verdict["report"] = Report((short,), wall_seconds=0.5)
    with pytest.raises(Exception, match="degraded after 42 s") as err:
        _HealthGateProvider().update("health-gate", delivered, delivered)
    assert "volume 7 has 1 of 2 copies" in str(err.value)


def test_the_capacity_thresholds_reach_the_gate_as_whole_numbers(verdict, delivered):
    verdict["report"] = report(True)
    _HealthGateProvider().create(delivered)
    target = verdict["target"]
    assert (target.min_free_volume_slots, target.min_free_disk_percent) == (12, 10)
    # The dev stack publishes no volume server port on the host, so its disk use is not read from there.
    assert target.volume_server_urls == ()
