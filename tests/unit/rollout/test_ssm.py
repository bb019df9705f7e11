"""The SSM Run Command transport against a stand-in for boto3's SSM client."""

from __future__ import annotations

import pytest

from components.rollout import ssm
from components.rollout.ssm import SsmOperator, SsmShell, ssm_fetch, ssm_haproxy_sender


class FakeSsm:
    class exceptions:
        class InvocationDoesNotExist(Exception):
            pass

    def __init__(self, outputs: dict[str, tuple[str, str]]) -> None:
        self.outputs = outputs  # script -> (status, stdout)
        self.sent: list[tuple[str, str]] = []
        self.polls = 0

    def send_command(self, InstanceIds, DocumentName, Parameters):
        assert DocumentName == "AWS-RunShellScript"
        (script,) = Parameters["commands"]
        self.sent.append((InstanceIds[0], script))
        return {"Command": {"CommandId": f"cmd-{len(self.sent)}"}}

    def get_command_invocation(self, CommandId, InstanceId):
        self.polls += 1
        if self.polls % 2:  # registered only on the second poll, as right after send_command
            raise self.exceptions.InvocationDoesNotExist()
        status, out = self.outputs.get(self.sent[-1][1], ("Success", ""))
        return {"Status": status, "StandardOutputContent": out, "StandardErrorContent": "boom"}


@pytest.fixture(autouse=True)
def no_wait(monkeypatch):
    monkeypatch.setattr(ssm, "POLL_SECONDS", 0.0)


def test_the_operator_stops_applies_and_starts_with_the_bootstrap_and_reads_the_fingerprint():
    client = FakeSsm({"cat /etc/aegis/fingerprint 2>/dev/null || true": ("Success", "abc123\n")})
    operator = SsmOperator(SsmShell(client), {"filer-1": "i-1"})
    assert operator.running("filer-1") == "abc123"
    operator.stop("filer-1")
    operator.apply("filer-1")
    operator.start("filer-1")
    assert [script for _, script in client.sent[1:]] == [
        "systemctl stop seaweedfs-filer-1.service",
        "/usr/local/sbin/aegis-apply files",
        "/usr/local/sbin/aegis-apply start",
    ]
    assert {instance for instance, _ in client.sent} == {"i-1"}


def test_a_failed_command_raises_with_its_status_and_error():
    client = FakeSsm({"systemctl stop seaweedfs-master-0.service": ("Failed", "")})
    with pytest.raises(RuntimeError, match="Failed boom"):
        SsmOperator(SsmShell(client), {"master-0": "i-0"}).stop("master-0")


def test_a_probe_is_curl_on_the_node_with_the_status_on_the_last_line():
    url = "http://master-0.seaweedfs.internal:9333/cluster/status"
    script = f"curl -s -m 3 -w '\\n%{{http_code}}' {url} || true"
    client = FakeSsm({script: ("Success", '{"Leader": "x"}\n200\n')})
    assert ssm_fetch(SsmShell(client), "i-0")(url) == (200, '{"Leader": "x"}')
    assert ssm_fetch(SsmShell(FakeSsm({script: ("Success", "\n000\n")})), "i-0")(url) == (0, "")


def test_haproxy_commands_reach_the_admin_socket_through_python_on_the_node():
    client = FakeSsm({})
    ssm_haproxy_sender(SsmShell(client), "i-lb", "/etc/haproxy/admin.sock")("set server filers/filer-0 state drain")
    (_, script) = client.sent[0]
    assert script.startswith("printf '%s\\n' 'set server filers/filer-0 state drain' | python3 -c ")
    assert script.endswith(" /etc/haproxy/admin.sock")


def curl(url: str) -> str:
    return f"curl -s -m 3 -w '\\n%{{http_code}}' {url} || true"


def test_node_ready_probes_a_volume_server_from_its_own_instance_as_the_engine_delivers_it(monkeypatch):
    import json

    from components.rollout.resource import PlanNode, RolloutPlan, _NodeReadyProvider
    from tests.support.engine_wire import engine_delivers

    status = {"Topology": {"DataCenters": [{"Racks": [{"DataNodes": [{"Url": "volume-1.z:8080"}]}]}]}}
    client = FakeSsm(
        {
            curl("http://volume-1.z:8080/healthz"): ("Success", "\n200"),
            curl("http://master-0.z:9333/dir/status"): ("Success", json.dumps(status) + "\n200"),
            # a running cluster (it has a leader): the full gate
            curl("http://master-0.z:9333/cluster/status"): ("Success", '{"Leader": "master-0.z:9333.19333"}\n200'),
        }
    )
    monkeypatch.setattr(ssm.SsmShell, "for_region", classmethod(lambda cls, region: cls(client)))
    plan = RolloutPlan("us-east-1", (PlanNode("volume-1", "volume", "volume-1.z:8080", "", "i-v1"),), (), 5.0)
    props = engine_delivers({"plan_json": plan.to_json(), "masters_json": json.dumps({"master-0": "master-0.z:9333"})})
    assert _NodeReadyProvider().create(props).outs == props
    assert {instance for instance, _ in client.sent} == {"i-v1"}
    client.outputs[curl("http://master-0.z:9333/dir/status")] = ("Success", '{"Topology": {}}\n200')
    short = RolloutPlan(plan.region, plan.nodes, (), 0.1).to_json()
    with pytest.raises(Exception, match=r"volume-1: not healthy after 0\.1 s: not registered with the master"):
        _NodeReadyProvider().create(engine_delivers({**props, "plan_json": short}))


def test_stack_rollout_rolls_a_changed_haproxy_node_after_the_services_as_the_engine_delivers_it(monkeypatch):
    from components.rollout.resource import PlanNode, RolloutPlan, _RolloutRunProvider
    from tests.support.engine_wire import engine_delivers

    client = FakeSsm(
        {
            "cat /etc/aegis/fingerprint 2>/dev/null || true": ("Success", "old\n"),
            curl("http://lb-0.z:8404/healthz"): ("Success", "\n200"),
        }
    )
    monkeypatch.setattr(ssm.SsmShell, "for_region", classmethod(lambda cls, region: cls(client)))
    plan = RolloutPlan("us-east-1", (PlanNode("lb-0", "lb", "lb-0.z:8404", "new", "i-lb0"),), (), 5.0)
    news = engine_delivers({"plan_json": plan.to_json(), "version": "4.48", "allow_downgrade": False, "rolled": None})
    outs = _RolloutRunProvider().update("stack-rollout", news, news).outs
    assert outs["rolled"] == ["lb-0"]
    scripts = [script for _, script in client.sent]
    assert scripts[1:4] == [
        "systemctl stop seaweedfs-lb-0.service",
        "/usr/local/sbin/aegis-apply files",
        "/usr/local/sbin/aegis-apply start",
    ]
