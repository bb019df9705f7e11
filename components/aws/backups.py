"""Disaster recovery for the data disks: Data Lifecycle Manager snapshots every data volume on a schedule."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.aws.iam import assume_role_policy

BACKUP_TAG = "aegis-storage:backup"
# Every 4 hours, kept 7 days: losing a zone or a disk costs at most 4 hours of writes, and a week covers a
# corruption noticed after a weekend. Constants, not config: if operators need to tune them, they become
# keys in Pulumi.yaml, validated by components/model/config/__init__.py like every other knob.
INTERVAL_HOURS = 4
RETAIN_COUNT = 42
DLM_MANAGED_POLICY = "iam::aws:policy/service-role/AWSDataLifecycleManagerServiceRole"


def backup_target(stack: str) -> dict[str, str]:
    """The tag DLM selects volumes by; ClusterNode puts it on every data disk (volume servers and masters)."""
    return {BACKUP_TAG: f"{stack}-volume-data"}


@dataclass(frozen=True)
class VolumeBackupsArgs:
    stack: str


class VolumeBackups(pulumi.ComponentResource):
    """A DLM policy snapshotting every volume tagged `backup_target(stack)`, and the role DLM acts as.

    Snapshots are crash-consistent (taken from live disks, like a power cut) and carry the volume's tags
    (`copy_tags`), so the snapshot of each node's disk is found by its `aegis-storage:node` tag; restore
    with `volumeSnapshotIds` (one per volume server, in order). Deleting the policy keeps its snapshots.
    """

    def __init__(self, name: str, args: VolumeBackupsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aegis:storage:VolumeBackups", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-dlm",
            assume_role_policy=assume_role_policy("dlm.amazonaws.com"),
            description=f"aegis-storage {args.stack}: Data Lifecycle Manager snapshots of the data disks",
            opts=child,
        )
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self))
        aws.iam.RolePolicyAttachment(
            f"{name}-dlm",
            # A role's id is its name.
            role=role.id,
            policy_arn=pulumi.Output.format("arn:{0}:{1}", partition.partition, DLM_MANAGED_POLICY),
            opts=child,
        )
        policy = aws.dlm.LifecyclePolicy(
            name,
            # DLM accepts only letters, digits, spaces, "_" and "-" in descriptions and schedule names.
            description=f"aegis-storage {args.stack} data disks every {INTERVAL_HOURS} hours",
            execution_role_arn=role.arn,
            state="ENABLED",
            policy_details=aws.dlm.LifecyclePolicyPolicyDetailsArgs(
                policy_type="EBS_SNAPSHOT_MANAGEMENT",
                resource_types=["VOLUME"],
                target_tags=backup_target(args.stack),
                schedules=[
                    aws.dlm.LifecyclePolicyPolicyDetailsScheduleArgs(
                        name=f"every {INTERVAL_HOURS} hours keep {RETAIN_COUNT}",
                        create_rule=aws.dlm.LifecyclePolicyPolicyDetailsScheduleCreateRuleArgs(
                            interval=INTERVAL_HOURS, interval_unit="HOURS"
                        ),
                        retain_rule=aws.dlm.LifecyclePolicyPolicyDetailsScheduleRetainRuleArgs(count=RETAIN_COUNT),
                        copy_tags=True,
                    )
                ],
            ),
            tags={"Name": f"aegis-storage-{args.stack}-data-disks"},
            opts=child,
        )
        self.register_outputs({"policy_id": policy.id})
