"""NodeReady and the stack's RolloutRun as the engine drives them, against the SSM stand-in: their providers
run in `pulumi.dynamic`'s provider server in a fresh interpreter, reached over gRPC with their inputs as a
protobuf Struct, while the instance's SSM agent is not registered yet (InvalidInstanceId for the first
calls), each invocation does not exist yet right after SendCommand, and the first requests are throttled."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pulumi.dynamic.dynamic import serialize_provider

from components.rollout.aws_identity import AwsIdentity
from components.rollout.resource import PlanNode, RolloutPlan, _NodeReadyProvider, _RolloutRunProvider
from components.rollout.ssm import fetch_script, stop_units_script
from tests.support.aws_ssm import STANDIN_ENV, SsmStandIn, scenario
from tests.support.engine_wire import PROVIDER_KEY, DynamicProviderServer, to_struct
from tests.support.gate_pages import volume_gate_pages

pytestmark = pytest.mark.integration

READY = "urn:pulumi:prod::aegis-storage::pulumi-python:dynamic:Resource::volume-1-ready"
ROLLOUT = "urn:pulumi:prod::aegis-storage::pulumi-python:dynamic:Resource::stack-rollout"
IDENTITY = AwsIdentity("us-east-1").to_json()
ENV = {"AWS_ACCESS_KEY_ID": "standin", "AWS_SECRET_ACCESS_KEY": "standin", "AWS_CONFIG_FILE": "/dev/null"}


def server(standin: SsmStandIn, log: Path) -> DynamicProviderServer:
    env = {**ENV, STANDIN_ENV: scenario(standin), f"{STANDIN_ENV}_LOG": str(log)}
    return DynamicProviderServer(module="tests.support.aws_ssm", env=env)


def test_node_ready_waits_through_registration_and_invocations_not_there_yet(tmp_path):
    standin = SsmStandIn(pages=volume_gate_pages(), unregistered={"i-v1": 4}, not_yet=2, throttle=2)
    plan = RolloutPlan("us-east-1", (PlanNode("volume-1", "volume", "volume-1.z:8080", "", "i-v1"),), (), 60.0)
    props = {
        "plan_json": plan.to_json(),
        "masters_json": json.dumps({"master-0": "master-0.z:9333"}),
        "aws_identity": IDENTITY,
        PROVIDER_KEY: serialize_provider(_NodeReadyProvider()),
    }
    with server(standin, tmp_path / "seen.json") as provider:
        created = provider.create(READY, to_struct(props))
    assert created.id == "node-ready"
    seen = json.loads((tmp_path / "seen.json").read_text())
    assert seen["calls"][:2] == ["SendCommand throttled", "SendCommand throttled"]
    assert seen["calls"].count("SendCommand") >= 4  # the registration delay was waited out
    assert {instance for instance, _ in seen["sent"]} == {"i-v1"}
    assert fetch_script("http://volume-1.z:8080/healthz") in [script for _, script in seen["sent"]]


def test_the_stack_rollout_rolls_a_changed_node_through_the_same(tmp_path):
    fingerprint = "cat /etc/aegis/fingerprint 2>/dev/null || true"
    standin = SsmStandIn(
        outputs={fingerprint: ("Success", "old\n")},
        pages={"http://lb-0.z:8404/healthz": (200, "")},
        unregistered={"i-lb0": 2},
        not_yet=3,
    )
    plan = RolloutPlan("us-east-1", (PlanNode("lb-0", "lb", "lb-0.z:8404", "new", "i-lb0"),), (), 60.0)
    news = {
        "plan_json": plan.to_json(),
        "version": "4.48",
        "allow_downgrade": False,
        "aws_identity": IDENTITY,
        PROVIDER_KEY: serialize_provider(_RolloutRunProvider()),
    }
    with server(standin, tmp_path / "seen.json") as provider:
        updated = provider.update(ROLLOUT, "stack-rollout", to_struct(news), to_struct(news))
    assert list(updated.properties["rolled"]) == ["lb-0"]
    scripts = [script for _, script in json.loads((tmp_path / "seen.json").read_text())["sent"]]
    # An HAProxy node stops every unit of the document it runs (HAProxy and the usage service beside it).
    assert stop_units_script().endswith("/etc/aegis/node.json)")
    assert scripts[1:4] == [
        stop_units_script(),
        "/usr/local/sbin/aegis-apply files",
        "/usr/local/sbin/aegis-apply start",
    ]
