"""The prod health gate and watch: the health check as a Lambda function inside the VPC.

The Pulumi runner usually cannot reach the private subnets, so the check runs where it can: a function
in those subnets, with its own security group (`Tier.HEALTH`: it reaches the HTTP ports the probes use,
nothing reaches it), packaged from the project's own code (`health_artifact.build_artifact`).

- **Gate.** An `aws.lambda_.Invocation` runs it after every node and the load balancer (`depends_on`).
  The provider invokes synchronously and fails the resource when the function returns a function error
  (terraform-provider-aws `invoke`: `if output.FunctionError != nil { return error(payload) }`); the
  handler raises unless the outcome is "healthy", so `pulumi up` fails with the report. The Invocation
  invokes only when it is created or replaced, which its `input` changing does: the input carries a
  fingerprint of every instance id and of the code, so any deployment that replaces a node or changes
  the check runs it again, and a failed gate (never recorded in the state) runs again at the next `up`.
  An `up` that changes nothing does not run it: the drift check (`preview --expect-no-changes`) needs
  a stable input, and the schedule below watches the cluster between deployments.
- **Watch.** An EventBridge rule invokes the same function every `healthScheduleMinutes`; it publishes the
  AEGIS/Storage metrics that `alarms.py` watches, and keeps the volume record (the ids of the volumes
  holding data, so a volume that lost every copy is named) in one SSM parameter.

The record's parameter is not a resource of the stack: the watch's first PutParameter (Overwrite, Advanced
tier) creates it. The function rewrites its value every run, so a stack-owned parameter would show drift at
every refresh and a `pulumi up` would put back the stack's stale value, i.e. forget the volumes seen since;
and no value the stack could give it is better than none, which the check reads as a first run. It outlives
`pulumi destroy` (delete it by hand with the stack, `aws ssm delete-parameter --name` the watch event's
`volume_record_parameter`).

No secret is in any event: the S3 keys stay in their SSM SecureString parameters, which only this
function's role (besides the S3 gateway's) may read and decrypt.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.aws.cloud_init import parameter_name
from components.aws.health_artifact import HANDLER, ROOT, build_artifact, write_artifact
from components.aws.iam import assume_role_policy
from components.healthcheck.volume_record import record_policy_statement, ssm_parameter_name
from components.healthcheck.watch import NAMESPACE
from components.model.refs import Ref
from components.model.topology import LB_STATS_PORT

ARTIFACT_DIR = ROOT / ".build"
LAMBDA_MAX_SECONDS = 900
# Beyond the gate's wait: one last round of probes, the SSM read and a cold start.
GATE_MARGIN_SECONDS = 60
MEMORY_MB = 256
LOG_RETENTION_DAYS = 30


def function_timeout(health_timeout_seconds: int) -> int:
    return min(LAMBDA_MAX_SECONDS, health_timeout_seconds + GATE_MARGIN_SECONDS)


def s3_key_parameters(stack: str, s3_enabled: bool) -> dict[str, str] | None:
    """The SSM names of the S3 admin keys the signed ListBuckets check needs, when S3 is enabled."""
    if not s3_enabled:
        return None
    return {
        "access_key": parameter_name(stack, Ref.S3_ADMIN_ACCESS_KEY),
        "secret_key": parameter_name(stack, Ref.S3_ADMIN_SECRET_KEY),
    }


def stats_url(private_ip: str) -> str:
    return f"http://{private_ip}:{LB_STATS_PORT}/stats;csv"


def fingerprint(deployment_values: Sequence[str], code_sha256: str) -> str:
    """Changes whenever one of the values or the function's code changes: the gate's reason to run."""
    return hashlib.sha256("\n".join([code_sha256, *sorted(deployment_values)]).encode()).hexdigest()


def gate_event(
    target: Mapping[str, Any], timeout_seconds: int, deployment: str, keys: Mapping[str, str] | None
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "mode": "gate",
        "target": target,
        "timeout_seconds": timeout_seconds,
        "deployment": deployment,
    }
    if keys:
        event["s3_key_parameters"] = dict(keys)
    return event


def watch_event(
    target: Mapping[str, Any], stack: str, stats: Sequence[str], keys: Mapping[str, str] | None
) -> dict[str, Any]:
    """The scheduled run's event. EventBridge caps a target's input at 8,192 characters, so the rendered
    storage-class rules (as long as the tenant list) stay out: the gate compares them at every deployment.
    Only the watch keeps the volume record: the gate retries until healthy, and a record rewritten on each
    retry would belong to no one run."""
    event: dict[str, Any] = {
        "mode": "watch",
        "target": {key: value for key, value in target.items() if key != "filer_rules"},
        "stack": stack,
        "namespace": NAMESPACE,
        "load_balancer_stats": list(stats),
        "volume_record_parameter": ssm_parameter_name(stack),
    }
    if keys:
        event["s3_key_parameters"] = dict(keys)
    return event


def function_policy(
    log_group_arn: str, parameter_arns: Sequence[str], kms_key_arn: str, region: str, record_arn: str
) -> dict[str, Any]:
    """What the function may do: write its log, attach to the VPC, read the S3 keys, publish its metrics,
    read and write its volume record (a plain String parameter: no KMS)."""
    statements: list[dict[str, Any]] = [
        {"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": f"{log_group_arn}:*"},
        # A function in a VPC creates and removes its own network interfaces; these actions take no resource ARN.
        {
            "Effect": "Allow",
            "Action": [
                "ec2:CreateNetworkInterface",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DeleteNetworkInterface",
                "ec2:AssignPrivateIpAddresses",
                "ec2:UnassignPrivateIpAddresses",
            ],
            "Resource": "*",
        },
        {
            "Effect": "Allow",
            "Action": "cloudwatch:PutMetricData",
            "Resource": "*",
            "Condition": {"StringEquals": {"cloudwatch:namespace": NAMESPACE}},
        },
        record_policy_statement(record_arn),
    ]
    if parameter_arns:
        statements += [
            {"Effect": "Allow", "Action": "ssm:GetParameters", "Resource": list(parameter_arns)},
            {
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": kms_key_arn,
                "Condition": {"StringEquals": {"kms:ViaService": f"ssm.{region}.amazonaws.com"}},
            },
        ]
    return {"Version": "2012-10-17", "Statement": statements}


@dataclass(frozen=True)
class HealthFunctionArgs:
    stack: str
    region: str
    # The Lambda runtime (WatchSettings, `healthFunctionRuntime`): set in config, not the deployer's Python.
    runtime: str
    # The watch runs every `schedule_minutes` (WatchSettings).
    schedule_minutes: int
    # How long the gate waits for the cluster to become healthy.
    health_timeout_seconds: int
    # With S3, the check also lists buckets with the admin keys it reads from SSM.
    s3_enabled: bool
    subnet_ids: Sequence[pulumi.Input[str]]
    security_group_id: pulumi.Input[str]
    # The stack's `health_target` output: what the check probes and expects.
    target: pulumi.Input[Mapping[str, Any]]
    load_balancer_ips: Sequence[pulumi.Input[str]]
    # Values that change when a deployment changes the cluster (every instance id; where a node's
    # configuration can change without replacing it, that configuration's hash too).
    deployment_values: Sequence[pulumi.Input[str]]
    # Every node and the load balancer (and whatever applies changes to them): the gate runs after all.
    deployed: Sequence[pulumi.Resource]


class HealthFunction(pulumi.ComponentResource):
    """The function, its role and log group, the post-deploy gate and the schedule of the watch."""

    function: aws.lambda_.Function
    gate: aws.lambda_.Invocation
    function_name: pulumi.Output[str]

    def __init__(self, name: str, args: HealthFunctionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aegis:storage:HealthFunction", name, None, opts)
        self._name, self._args = name, args
        self._keys = s3_key_parameters(args.stack, args.s3_enabled)
        content = build_artifact()
        code_sha256 = hashlib.sha256(content).digest()
        function_name = f"aegis-storage-{args.stack}-health"
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-log",
            name=f"/aws/lambda/{function_name}",
            retention_in_days=LOG_RETENTION_DAYS,
            opts=pulumi.ResourceOptions(parent=self),
        )
        role, policy = self._role(log_group.name)
        self.function = aws.lambda_.Function(
            name,
            name=function_name,
            description=f"aegis-storage {args.stack}: SeaweedFS health gate and watch (components/healthcheck)",
            runtime=args.runtime,
            handler=HANDLER,
            role=role.arn,
            # Relative to the project directory, where Pulumi runs the program: the state then names the
            # same archive whichever machine or checkout deployed it.
            code=pulumi.FileArchive(str(write_artifact(ARTIFACT_DIR, content).relative_to(ROOT))),
            source_code_hash=base64.b64encode(code_sha256).decode(),
            timeout=function_timeout(args.health_timeout_seconds),
            memory_size=MEMORY_MB,
            vpc_config=aws.lambda_.FunctionVpcConfigArgs(
                subnet_ids=list(args.subnet_ids), security_group_ids=[args.security_group_id]
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_group, policy]),
        )
        self.function_name = self.function.name
        self.gate = self._gate(code_sha256.hex(), policy)
        self._schedule()
        self.register_outputs({"function_name": self.function_name, "gate_result": self.gate.result})

    def _role(self, log_group: pulumi.Output[str]) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
        child = pulumi.ResourceOptions(parent=self)
        args = self._args
        role = aws.iam.Role(
            f"{self._name}-role",
            assume_role_policy=assume_role_policy("lambda.amazonaws.com"),
            description=f"aegis-storage {args.stack} health function",
            opts=child,
        )
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self)).partition
        region = args.region
        account = (partition, region, identity.account_id)
        parameter_arns = [
            pulumi.Output.format("arn:{0}:ssm:{1}:{2}:parameter{3}", *account, parameter)
            for parameter in (self._keys or {}).values()
        ]
        record_arn = pulumi.Output.format("arn:{0}:ssm:{1}:{2}:parameter{3}", *account, ssm_parameter_name(args.stack))
        # SecureStrings use the AWS-managed aws/ssm key; decrypting is allowed only through SSM.
        any_key = pulumi.Output.format("arn:{0}:kms:{1}:{2}:key/*", *account)
        log_group_arn = pulumi.Output.format("arn:{0}:logs:{1}:{2}:log-group:{3}", *account, log_group)
        document = pulumi.Output.all(log_group_arn, any_key, record_arn, *parameter_arns).apply(
            lambda arns: function_policy(
                log_group_arn=arns[0], kms_key_arn=arns[1], record_arn=arns[2], parameter_arns=arns[3:], region=region
            )
        )
        policy = aws.iam.RolePolicy(
            f"{self._name}-policy", role=role.id, policy=pulumi.Output.json_dumps(document), opts=child
        )
        return role, policy

    def _gate(self, code_sha256: str, policy: aws.iam.RolePolicy) -> aws.lambda_.Invocation:
        args = self._args
        deployment = pulumi.Output.all(*args.deployment_values).apply(lambda values: fingerprint(values, code_sha256))
        event = pulumi.Output.all(args.target, deployment).apply(
            lambda resolved: gate_event(resolved[0], args.health_timeout_seconds, resolved[1], self._keys)
        )
        return aws.lambda_.Invocation(
            f"{self._name}-gate",
            function_name=self.function.name,
            input=pulumi.Output.json_dumps(event),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.function, policy, *args.deployed]),
        )

    def _schedule(self) -> None:
        args, child = self._args, pulumi.ResourceOptions(parent=self)
        minutes = args.schedule_minutes
        rule = aws.cloudwatch.EventRule(
            f"{self._name}-schedule",
            description=f"aegis-storage {args.stack}: run the health watch",
            schedule_expression=f"rate({minutes} minute{'s' if minutes > 1 else ''})",
            opts=child,
        )
        permission = aws.lambda_.Permission(
            f"{self._name}-from-schedule",
            action="lambda:InvokeFunction",
            function=self.function.name,
            principal="events.amazonaws.com",
            source_arn=rule.arn,
            opts=child,
        )
        stats = [pulumi.Output.from_input(ip).apply(stats_url) for ip in args.load_balancer_ips]
        event = pulumi.Output.all(args.target, *stats).apply(
            lambda resolved: watch_event(resolved[0], args.stack, resolved[1:], self._keys)
        )
        aws.cloudwatch.EventTarget(
            f"{self._name}-schedule",
            rule=rule.name,
            arn=self.function.arn,
            input=pulumi.Output.json_dumps(event),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[permission]),
        )
