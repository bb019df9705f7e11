"""The prod program's EBS snapshot schedule under Pulumi's mocks: what DLM would snapshot, how often, as whom."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from components.aws import backups
from components.aws.placement import prod_topology
from components.model.topology import Role
from tests.support import stack_configs
from tests.support.prod_program import ACCOUNT, EBS, Run, execute
from tests.support.pulumi_harness import RecordingMocks

DLM_POLICY = "aws:dlm/lifecyclePolicy:LifecyclePolicy"
ROLE = "aws:iam/role:Role"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"


def role_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


@pytest.fixture(scope="module")
def prod() -> Run:
    """The prod program, with each IAM role's computed ARN (the mocks echo inputs only)."""
    echo = RecordingMocks.new_resource

    def with_role_arn(self: RecordingMocks, args: Any) -> tuple[str, dict[str, Any]]:
        id_, outputs = echo(self, args)
        return id_, {**outputs, "arn": role_arn(args.name)} if args.typ == ROLE else outputs

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(RecordingMocks, "new_resource", with_role_arn)
        return execute()


def test_one_enabled_policy_snapshots_the_tagged_volumes_every_4_hours_for_7_days(prod: Run) -> None:
    (policy,) = prod.run.of_type(DLM_POLICY)
    assert prod.by_urn[policy.parent].type == "aegis:storage:VolumeBackups"
    assert policy.inputs["state"] == "ENABLED"
    details = policy.inputs["policyDetails"]
    assert details["policyType"] == "EBS_SNAPSHOT_MANAGEMENT"
    assert details["resourceTypes"] == ["VOLUME"]
    assert details["targetTags"] == {"aegis-storage:backup": "prod-volume-data"} == backups.backup_target("prod")
    (schedule,) = details["schedules"]
    assert schedule["createRule"] == {"interval": 4, "intervalUnit": "HOURS"}
    assert schedule["retainRule"] == {"count": 42}
    assert schedule["copyTags"] is True
    assert 4 * 42 == 7 * 24  # the retention is a week of snapshots
    # DLM rejects anything else in these two fields at create time, long after the preview passed.
    for text in (policy.inputs["description"], schedule["name"]):
        assert re.fullmatch(r"[0-9A-Za-z _-]+", text), text


def test_every_data_disk_carries_exactly_the_tag_the_policy_targets(prod: Run) -> None:
    (policy,) = prod.run.of_type(DLM_POLICY)
    target = policy.inputs["policyDetails"]["targetTags"]
    topology = prod_topology(stack_configs.prod())
    with_disks = [s.name for s in (*topology.of(Role.VOLUME), *topology.of(Role.MASTER))]
    volumes = {v.name: v for v in prod.run.of_type(EBS)}
    # Volume servers' data disks and masters' -mdir disks: every EBS volume of the stack, nothing else.
    assert sorted(volumes) == sorted(f"{node}-data" for node in with_disks)
    assert len(volumes) == 6
    for name, volume in volumes.items():
        assert target.items() <= volume.inputs["tags"].items(), name


def test_dlm_acts_as_a_role_only_dlm_can_assume_with_the_aws_managed_policy(prod: Run) -> None:
    (policy,) = prod.run.of_type(DLM_POLICY)
    (role,) = [r for r in prod.run.of_type(ROLE) if r.parent == policy.parent]
    trust = json.loads(role.inputs["assumeRolePolicy"])
    (statement,) = trust["Statement"]
    assert statement == {
        "Effect": "Allow",
        "Principal": {"Service": "dlm.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }
    assert policy.inputs["executionRoleArn"] == role_arn(role.name)
    (attachment,) = [a for a in prod.run.of_type(ATTACHMENT) if a.parent == policy.parent]
    assert attachment.inputs["role"] == f"{role.name}-id"
    assert attachment.inputs["policyArn"] == "arn:aws:iam::aws:policy/service-role/AWSDataLifecycleManagerServiceRole"
