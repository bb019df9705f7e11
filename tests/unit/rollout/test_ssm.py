"""The SSM Run Command transport against the SSM stand-in (real boto3 clients, botocore's service model)."""

from __future__ import annotations

import json

import pytest

from components.rollout import aws_identity, ssm
from components.rollout.aws_identity import AssumeRole, AwsIdentity, session_for
from components.rollout.ssm import (
    InstanceGone,
    NotRegistered,
    OutputCut,
    SsmOperator,
    SsmShell,
    fetch_script,
    observe_script,
    observed,
    ssm_fetch,
    ssm_haproxy_sender,
)
from tests.support.aws_ssm import SsmStandIn, installed, ssm_client
from tests.support.engine_wire import engine_delivers
from tests.support.gate_pages import volume_gate_pages

FINGERPRINT = "cat /etc/aegis/fingerprint 2>/dev/null || true"


@pytest.fixture(autouse=True)
def no_wait(monkeypatch):
    monkeypatch.setattr(ssm, "POLL_SECONDS", 0.0)
    monkeypatch.setattr(ssm, "REGISTRATION_POLL_SECONDS", 0.0)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "standin")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "standin")


def shell(standin: SsmStandIn, names: dict[str, str] | None = None, registration: float = 0.0) -> SsmShell:
    return SsmShell(ssm_client(standin), names, registration)


def test_the_operator_stops_applies_and_starts_with_the_bootstrap_and_reads_the_fingerprint():
    standin = SsmStandIn(outputs={FINGERPRINT: ("Success", "abc123\n")})
    operator = SsmOperator(shell(standin), {"filer-1": "i-1"})
    assert operator.running("filer-1") == "abc123"
    operator.stop("filer-1")
    operator.apply("filer-1")
    operator.start("filer-1")
    operator.settled("filer-1")
    assert [script for _, script in standin.sent[1:]] == [
        # the mark first: a stop that dies halfway leaves the node known as stopped by a rollout
        "mkdir -p $(dirname /etc/aegis/stopped-by-rollout) && touch /etc/aegis/stopped-by-rollout"
        " && systemctl stop seaweedfs-filer-1.service",
        "/usr/local/sbin/aegis-apply files",
        "/usr/local/sbin/aegis-apply start",
        "rm -f /etc/aegis/stopped-by-rollout",
    ]
    assert {instance for instance, _ in standin.sent} == {"i-1"}
    # Each command: InvocationDoesNotExist, then InProgress, then its end, through the waiter.
    assert standin.calls[:4] == ["SendCommand", "GetCommandInvocation", "GetCommandInvocation", "GetCommandInvocation"]


def test_observe_is_one_command_and_tells_running_down_crash_looping_and_marked():
    unit = "seaweedfs-volume-0.service"
    first = "first.ActiveState=active\nfirst.SubState=running\nfirst.NRestarts={}\n"
    standin = SsmStandIn(outputs={observe_script(unit): ("Success", "fingerprint=f1\nmark=no\n" + first.format(0))})
    seen = SsmOperator(shell(standin), {"volume-0": "i-v0"}).observe("volume-0")
    assert (seen.fingerprint, seen.up, seen.ours) == ("f1", True, False) and len(standin.sent) == 1
    looping = observed("fingerprint=f1\nmark=yes\n" + first.format(3) + first.format(4).replace("first.", "second."))
    assert (looping.up, looping.ours, looping.detail) == (False, True, "crash-looping: restarted 3 -> 4 times")
    stopped = observed("fingerprint=\nmark=yes\nfirst.ActiveState=inactive\nfirst.SubState=dead\nfirst.NRestarts=0")
    assert (stopped.fingerprint, stopped.up, stopped.detail) == (None, False, "unit inactive/dead")


def test_the_raft_state_of_a_master_moves_aside_but_never_that_of_the_first_in_peers():
    standin = SsmStandIn()
    operator = SsmOperator(shell(standin), {"master-0": "i-m0", "master-1": "i-m1"}, {"master-1": "/data/m9333"})
    operator.forget_raft_state("master-1")
    assert standin.sent == [
        ("i-m1", "if [ -e /data/m9333 ]; then rm -rf /data/m9333.before-rollout && mv /data/m9333 "
         "/data/m9333.before-rollout; fi")
    ]  # fmt: skip
    with pytest.raises(RuntimeError, match="first in -peers"):
        operator.forget_raft_state("master-0")


def test_a_failed_command_raises_with_its_status_and_error():
    standin = SsmStandIn(outputs={"/usr/local/sbin/aegis-apply start": ("Failed", "")})
    with pytest.raises(RuntimeError, match=r"master-0 \(i-0\): `/usr/local/sbin/aegis-apply start`: Failed"):
        SsmOperator(shell(standin, {"i-0": "master-0"}), {"master-0": "i-0"}).start("master-0")


def test_a_probe_is_curl_on_the_node_answering_gzip_base64_with_the_status_on_the_last_line():
    url = "http://master-0.seaweedfs.internal:9333/cluster/status"
    assert fetch_script(url) == f"curl -s -m 3 -w '\\n%{{http_code}}' {url} | gzip -c | base64 -w0"
    standin = SsmStandIn(pages={url: (200, '{"Leader": "x"}')})
    assert ssm_fetch(shell(standin), "i-0")(url) == (200, '{"Leader": "x"}')
    assert ssm_fetch(shell(SsmStandIn()), "i-0")(url) == (0, "")


def test_an_answer_longer_than_ssm_returns_is_fetched_compressed_or_fails_naming_the_cut():
    url = "http://master-0.z:9333/vol/status"
    topology = json.dumps({"Volumes": {"DataCenters": {"dc": {f"rack-{i}": {} for i in range(4000)}}}})
    assert len(topology) > 24_000
    standin = SsmStandIn(pages={url: (200, topology)})
    assert ssm_fetch(shell(standin), "i-0")(url) == (200, topology)  # compressed, it fits
    standin.outputs["journalctl"] = ("Success", "x" * 30_000)
    with pytest.raises(OutputCut, match=r"i-0: `journalctl` printed more than the 24,000 characters SSM returns"):
        shell(standin).run("i-0", "journalctl")


def test_throttling_is_retried_by_botocores_retry_mode():
    standin = SsmStandIn(outputs={FINGERPRINT: ("Success", "abc\n")}, throttle=2)
    client = SsmShell.for_identity(AwsIdentity("us-east-1")).client
    assert client.meta.config.retries["mode"] == "standard"
    with installed(standin):
        assert SsmOperator(SsmShell.for_identity(AwsIdentity("us-east-1")), {"s3-0": "i-s"}).running("s3-0") == "abc"
    assert standin.calls[:3] == ["SendCommand throttled", "SendCommand throttled", "SendCommand"]


def test_an_agent_not_registered_yet_is_waited_for_within_the_budget_then_named():
    standin = SsmStandIn(unregistered={"i-v1": 3})
    assert shell(standin, {"i-v1": "volume-1"}, registration=5.0).run("i-v1", "true") == ""
    assert standin.calls.count("SendCommand") == 4
    standin = SsmStandIn(unregistered={"i-v1": 10_000})
    with pytest.raises(NotRegistered) as raised:
        shell(standin, {"i-v1": "volume-1"}, registration=0.05).run("i-v1", "true")
    assert str(raised.value) == (
        "volume-1 (i-v1): SSM agent not registered after 0.05 s; last answer: InvalidInstanceId: "
        "Instances [[i-v1]] not in a valid state for account 123456789012"
    )


def test_an_instance_that_goes_away_after_it_registered_ends_in_one_line_naming_the_node():
    standin = SsmStandIn()
    runner = shell(standin, {"i-f1": "filer-1"}, registration=5.0)
    runner.run("i-f1", "true")
    standin.gone.add("i-f1")  # terminated, or replaced by a new instance
    with pytest.raises(InstanceGone, match=r"^filer-1 \(i-f1\) is no longer a managed instance \(stopped, termin"):
        runner.run("i-f1", "true")
    standin = SsmStandIn(undeliverable={"i-f1"})
    with pytest.raises(InstanceGone, match=r"^filer-1 \(i-f1\) went away while `true` ran .*Failed \(Undeliverable\)"):
        shell(standin, {"i-f1": "filer-1"}).run("i-f1", "true")


def test_a_command_that_never_finishes_ends_naming_the_node_and_the_last_answer():
    standin = SsmStandIn(in_progress=10_000)
    with pytest.raises(TimeoutError, match=r"^s3-0 \(i-s\): `sleep 9` did not finish within 1 s; last answer: InPr"):
        shell(standin, {"i-s": "s3-0"}).run("i-s", "sleep 9", timeout=1)


def test_haproxy_commands_reach_the_admin_socket_through_python_on_the_node():
    standin = SsmStandIn()
    ssm_haproxy_sender(shell(standin), "i-lb", "/etc/haproxy/admin.sock")("set server filers/filer-0 state drain")
    (_, script) = standin.sent[0]
    assert script.startswith("printf '%s\\n' 'set server filers/filer-0 state drain' | python3 -c ")
    assert script.endswith(" /etc/haproxy/admin.sock")


def test_the_session_is_the_stacks_profile_then_its_assume_role_chain(tmp_path, monkeypatch):
    config = tmp_path / "config"
    config.write_text("[profile deployer]\naws_access_key_id = AKIADEPLOYER0000\naws_secret_access_key = s\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    arns = ("arn:aws:iam::111111111111:role/hop", "arn:aws:iam::222222222222:role/deploy")
    standin = SsmStandIn(roles={arns[0]: "ASIAHOP000000000", arns[1]: "ASIADEPLOY000000"})
    identity = AwsIdentity("eu-west-1", "deployer", (AssumeRole(arns[0], external_id="x-1"), AssumeRole(arns[1])))
    assert AwsIdentity.from_json(identity.to_json()) == identity
    with installed(standin) as sessions:
        client = session_for(identity).client("ssm", config=aws_identity.CLIENT_CONFIG)
    # each role assumed with the credentials of the step before it, the first with the profile's
    assert standin.assumed == [(arns[0], "AKIADEPLOYER0000"), (arns[1], "ASIAHOP000000000")]
    assert (sessions[0].service, sessions[0].profile, sessions[0].access_key) == ("sts", "deployer", "AKIADEPLOYER0000")
    assert client.meta.region_name == "eu-west-1"
    assert client._request_signer._credentials.get_frozen_credentials().access_key == "ASIADEPLOY000000"


def curl(url: str) -> str:
    return fetch_script(url)


def test_node_ready_probes_a_volume_server_from_its_own_instance_through_registration(monkeypatch):
    from components.rollout.resource import PlanNode, RolloutPlan, _NodeReadyProvider

    standin = SsmStandIn(pages=volume_gate_pages(), unregistered={"i-v1": 3}, not_yet=2)
    plan = RolloutPlan("us-east-1", (PlanNode("volume-1", "volume", "volume-1.z:8080", "", "i-v1"),), (), 5.0)
    identity = AwsIdentity("us-east-1").to_json()
    masters = json.dumps({"master-0": "master-0.z:9333"})
    props = engine_delivers({"plan_json": plan.to_json(), "masters_json": masters, "aws_identity": identity})
    with installed(standin):
        assert _NodeReadyProvider().create(props).outs == props
        assert {instance for instance, _ in standin.sent} == {"i-v1"}
        standin.pages["http://master-0.z:9333/dir/status"] = (200, '{"Topology": {}}')
        short = RolloutPlan(plan.region, plan.nodes, (), 0.1).to_json()
        with pytest.raises(Exception, match=r"^volume-1: not healthy after 0\.1 s: not registered with the master"):
            _NodeReadyProvider().create(engine_delivers({**props, "plan_json": short}))
        # Terminated right after its agent answered: the probes find it gone.
        standin.on_send = lambda instance, script: standin.gone.add(instance) if script == "true" else None
        with pytest.raises(
            Exception,
            match=r"^volume-1: volume-1 \(i-v1\) went away while `true` ran \(stopped, terminated or replaced\)",
        ):
            _NodeReadyProvider().create(props)


def test_the_stop_script_stops_every_unit_of_the_applied_document(tmp_path):
    import subprocess

    from components.rollout.ssm import stop_units_script

    document = tmp_path / "node.json"
    document.write_text(json.dumps({"units": ["seaweedfs-lb-0.service", "seaweedfs-usage-lb-0.service"]}))
    script = stop_units_script(str(document)).split(" && ", 2)[2].replace("systemctl stop", "echo", 1)
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["seaweedfs-lb-0.service", "seaweedfs-usage-lb-0.service"]


def test_an_haproxy_node_is_ready_only_once_the_usage_service_beside_it_has_caught_up():
    from components.rollout.resource import PlanNode, RolloutPlan, _RolloutRunProvider

    usage = "http://127.0.0.1:8890/healthz"
    standin = SsmStandIn(
        outputs={FINGERPRINT: ("Success", "old\n")},
        pages={"http://lb-0.z:8404/healthz": (200, ""), usage: (503, "usage catching up")},
        not_yet=1,
    )
    node = PlanNode("lb-0", "lb", "lb-0.z:8404", "new", "i-lb0", usage="127.0.0.1:8890")
    plan = RolloutPlan("us-east-1", (node,), (), 1.0)
    news = engine_delivers({"plan_json": plan.to_json(), "version": "4.48", "allow_downgrade": False, "rolled": None})
    with installed(standin):
        with pytest.raises(Exception, match=r"lb-0: usage service not ready after 1 s; last answer: HTTP 503 usage"):
            _RolloutRunProvider().update("stack-rollout", news, news)
        standin.pages[usage] = (200, "ok")
        assert _RolloutRunProvider().update("stack-rollout", news, news).outs["rolled"] == ["lb-0"]


def test_stack_rollout_rolls_a_changed_haproxy_node_after_the_services_as_the_engine_delivers_it():
    from components.rollout.resource import PlanNode, RolloutPlan, _RolloutRunProvider
    from components.rollout.ssm import stop_units_script

    standin = SsmStandIn(
        outputs={FINGERPRINT: ("Success", "old\n")}, pages={"http://lb-0.z:8404/healthz": (200, "")}, not_yet=3
    )
    plan = RolloutPlan("us-east-1", (PlanNode("lb-0", "lb", "lb-0.z:8404", "new", "i-lb0"),), (), 5.0)
    news = engine_delivers({"plan_json": plan.to_json(), "version": "4.48", "allow_downgrade": False, "rolled": None})
    with installed(standin):
        outs = _RolloutRunProvider().update("stack-rollout", news, news).outs
        assert outs["rolled"] == ["lb-0"]
        scripts = [script for _, script in standin.sent]
        # Every unit of the document it ran (HAProxy and the usage service beside it), so the start restarts both.
        assert scripts[1:4] == [
            stop_units_script(),
            "/usr/local/sbin/aegis-apply files",
            "/usr/local/sbin/aegis-apply start",
        ]
        # Terminated (or replaced) once it was stopped: the next command finds it gone.
        standin.on_send = lambda instance, script: standin.gone.add(instance) if "systemctl stop" in script else None
        with pytest.raises(Exception, match=r"^rollout stopped at lb-0: lb-0 \(i-lb0\) went away while `mkdir"):
            _RolloutRunProvider().update("stack-rollout", news, news)
