"""The health gate's provider: it checks on every update and fails it with the report when unhealthy."""

import pytest

from components import healthcheck
from components.healthcheck import CheckResult, Report
from components.healthcheck.gate import _HealthGateProvider

OUTPUTS = {
    "health_target": {
        "filer_url": "http://127.0.0.1:8888",
        "master_urls": ["http://127.0.0.1:9333"],
        "expected_masters": 1,
        "expected_volume_servers": ["seaweedfs-volume:8080"],
    }
}


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


def test_every_update_is_a_change_so_the_check_runs_on_every_up():
    assert _HealthGateProvider().diff("health-gate", {}, {}).changes is True


def test_healthy_cluster_passes_with_the_stack_outputs_as_target(verdict):
    verdict["report"] = report(True)
    result = _HealthGateProvider().create({"outputs": OUTPUTS, "timeout_seconds": 42})
    assert result.outs == {"healthy": True, "wall_seconds": 0.5}
    assert verdict["timeout"] == 42.0
    assert verdict["target"].expected_volume_servers == ("seaweedfs-volume:8080",)


def test_unhealthy_cluster_fails_the_update_with_the_report(verdict):
    verdict["report"] = report(False)
    with pytest.raises(Exception, match="not healthy after 42 s") as err:
        _HealthGateProvider().update("health-gate", {}, {"outputs": OUTPUTS, "timeout_seconds": 42})
    assert "no leader" in str(err.value)
