"""Each rule of `policy.rules` as a mandatory Pulumi policy. Building the `PolicyPack` (which starts a
server and blocks) is left to `__main__.py`, so this module can be imported and its policies exercised.

Two rules need the stack's own values (who the orchestrators are, the database port). A policy pack can
read them with `pulumi.Config`: the CLI starts the pack with the stack's config in PULUMI_CONFIG, and
pulumi-policy loads it before every analysis. They are read when a policy runs, never at import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pulumi
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from components.model.config import PROJECT, schema
from policy import rules

PACK_NAME = "aegis-storage"


@dataclass(frozen=True)
class StackSettings:
    orchestrator_groups: tuple[str, ...]
    orchestrator_cidrs: tuple[str, ...]
    database_port: int


def stack_settings() -> StackSettings:
    """The config values the rules need; an unset key takes its Pulumi.yaml default."""
    cfg = pulumi.Config(PROJECT)
    group = cfg.get("orchestratorSecurityGroupId") or schema()["orchestratorSecurityGroupId"].default
    cidrs = cfg.get_object("orchestratorCidrs") or schema()["orchestratorCidrs"].default
    port = cfg.get_int("databasePort") or schema()["databasePort"].default
    return StackSettings(
        orchestrator_groups=(group,) if group else (), orchestrator_cidrs=tuple(cidrs), database_port=port
    )


ResourceRule = Callable[[ResourceValidationArgs], list[str]]


def _resource_policy(name: str, description: str, rule: ResourceRule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in rule(args):
            report_violation(message, args.urn)

    return ResourceValidationPolicy(
        name=name, description=description, validate=validate, enforcement_level=EnforcementLevel.MANDATORY
    )


def _quorum(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    resources = [(r.resource_type, r.props, r.opts.protect) for r in args.resources]
    for message in rules.master_quorum(resources):
        report_violation(message, None)


def _one_replacement_per_tier(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    resources = [(r.resource_type, r.props, r.urn, [d.urn for d in r.dependencies]) for r in args.resources]
    for message in rules.one_replacement_per_tier(resources):
        report_violation(message, None)


def _s3_from_orchestrators(args: ResourceValidationArgs) -> list[str]:
    settings = stack_settings()
    return rules.s3_from_orchestrators(
        args.resource_type, args.props, settings.orchestrator_groups, settings.orchestrator_cidrs
    )


def policies() -> list[Policy]:
    """Every rule, mandatory: a violation fails the preview and stops the update."""
    return [
        StackValidationPolicy(
            name="master-quorum",
            description="Masters form a Raft quorum: an odd number of master instances, at least 3.",
            validate=_quorum,
            enforcement_level=EnforcementLevel.MANDATORY,
        ),
        StackValidationPolicy(
            name="one-replacement-per-tier",
            description="Instances of a tier are replaced one at a time, each after the previous one is ready.",
            validate=_one_replacement_per_tier,
            enforcement_level=EnforcementLevel.MANDATORY,
        ),
        _resource_policy(
            "rds-hardened",
            "The metadata database is Multi-AZ, encrypted, private, deletion-protected, with a final snapshot.",
            lambda args: rules.rds_hardened(args.resource_type, args.props),
        ),
        _resource_policy(
            "disks-encrypted",
            "EBS volumes and instance block devices are encrypted.",
            lambda args: rules.unencrypted_disks(args.resource_type, args.props),
        ),
        _resource_policy(
            "no-public-storage-ports",
            "No security group rule opens a SeaweedFS or PostgreSQL port to 0.0.0.0/0 or ::/0.",
            lambda args: rules.public_ingress(args.resource_type, args.props, stack_settings().database_port),
        ),
        _resource_policy(
            "s3-not-from-orchestrators",
            "The S3 gateway port is never reachable from the orchestrators' security group or CIDRs.",
            _s3_from_orchestrators,
        ),
        _resource_policy(
            "functions-private",
            "Lambda functions run in the VPC, with no function URL and no permission for any principal.",
            lambda args: rules.private_functions(args.resource_type, args.props),
        ),
        _resource_policy(
            "stateful-resources-protected",
            "The database, EBS volumes, the DNS zone, the metadata backup bucket and the masters' network interfaces "
            "are protected.",
            lambda args: rules.unprotected_state(args.resource_type, args.props, args.opts.protect),
        ),
    ]
