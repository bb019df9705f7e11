"""Alarms on what the scheduled health function publishes, and EC2 automatic recovery for every node.

Every alarm notifies one SNS topic, `alarmTopicArn` or one created here (stack output `alarm_topic_arn`), on
ALARM and back on OK. The custom metrics (namespace AEGIS/Storage, dimension Stack) arrive once per
schedule period, so a period without a data point means the function did not run or could not read the
value: missing data is breaching, never "fine". Each alarm needs two periods in a row (degraded copies:
30 minutes, the time the masters' maintenance takes to copy them back). The metadata log alarm fires at the
age past which the health check calls the cluster degraded: its oldest day folder more than
`metadataLogRetentionDays` + 1 days old (the masters' purge is not running).

From the usage service (published by the same function): usage lagging on any HAProxy for two periods (a
restart catches up in seconds, so two scheduled runs in a row seeing it is a stalled stream), and the
fastest-growing tenant above `tenantGrowthAlarmGiBPerHour` (0: no such alarm). The growth is published only once
known (an hour after the service started, and only where one runs), so its missing data is not breaching.

Each node also gets a `StatusCheckFailed_System` alarm whose action is EC2's own recover action: the
instance comes back on other hardware with the same ENI, EBS volumes and instance id.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.healthcheck.watch import NAMESPACE
from components.model.config import WatchSettings
from components.model.config.upkeep import Upkeep

MIN_HEALTHY_FILERS = 2
# EventBridge does not start runs on period boundaries: one period can hold no data point and the next
# two. An alarm therefore needs two periods in a row, so one late run never notifies anybody.
CONFIRM_PERIODS = 2
# A volume server replaced empty leaves volumes short of copies until the masters' maintenance has copied
# them back (within their 15-minute default interval, plus seconds): only a longer shortfall alarms.
DEGRADED_GRACE_MINUTES = 30
RECOVERY_PERIOD_SECONDS = 60
GIB = 1024**3
RECOVERY_PERIODS = 2


@dataclass(frozen=True)
class MetricAlarmSpec:
    """One alarm on one metric: it fires when `statistic` compared with `threshold` holds for `periods`."""

    suffix: str
    metric: str
    statistic: str
    comparison: str
    threshold: float
    description: str
    periods: int = CONFIRM_PERIODS
    # A period without a data point: "breaching" where the function always publishes the metric.
    missing: str = "breaching"


def metric_alarms(watch: WatchSettings, upkeep: Upkeep) -> list[MetricAlarmSpec]:
    """The alarms on the health function's metrics. Capacity alarms fire below the same minimums at which the
    health check says "degraded" (0 turns both off), so the gate and the alarms never disagree."""
    lower = "LessThanThreshold"
    repair_periods = max(CONFIRM_PERIODS, math.ceil(DEGRADED_GRACE_MINUTES / watch.schedule_minutes))
    specs = [
        MetricAlarmSpec("unhealthy", "Healthy", "Minimum", lower, 1, "the health check finds the cluster unhealthy"),
        MetricAlarmSpec("no-raft-leader", "RaftLeader", "Minimum", lower, 1, "no master names a Raft leader"),
        MetricAlarmSpec(
            "degraded-volumes",
            "DegradedVolumes",
            "Maximum",
            "GreaterThanThreshold",
            0,
            "volumes have fewer copies than their replication asks for",
            periods=repair_periods,
        ),
        MetricAlarmSpec(
            "volume-slots",
            "FreeVolumeSlots",
            "Minimum",
            lower,
            upkeep.min_free_volume_slots,
            "a volume server is running out of volume slots: new volumes cannot be grown",
        ),
        MetricAlarmSpec(
            "disk-space",
            "FreeDiskPercent",
            "Minimum",
            lower,
            upkeep.min_free_disk_percent,
            "a volume server's disk is nearly full",
        ),
        MetricAlarmSpec(
            "haproxy-filers",
            "HealthyFilersBehindLB",
            "Minimum",
            lower,
            MIN_HEALTHY_FILERS,
            f"an HAProxy sees fewer than {MIN_HEALTHY_FILERS} healthy filers",
        ),
        MetricAlarmSpec(
            "metadata-log-purge",
            "MetadataLogOldestDays",
            "Maximum",
            "GreaterThanThreshold",
            upkeep.metadata_log_retention_days + 1,
            f"the filers' metadata log keeps days past its retention of {upkeep.metadata_log_retention_days} "
            "day(s) + 1: the masters' purge is not running",
        ),
        *usage_alarms(watch),
    ]
    return [spec for spec in specs if spec.threshold > 0 or spec.comparison != lower]


def usage_alarms(watch: WatchSettings) -> list[MetricAlarmSpec]:
    """Usage lagging (published 1/0 on every run, so missing data is the function not running) and one tenant's
    growth (one Stack-wide metric, the largest growth: one static alarm covers every tenant)."""
    growth_gib = watch.tenant_growth_alarm_gib_per_hour
    lagging = [
        MetricAlarmSpec(
            "usage-lagging",
            "UsageLagging",
            "Maximum",
            "GreaterThanThreshold",
            0,
            "the usage service is down, catching up or its metadata stream stopped: AEGIS reads usage 0 and "
            "quotas are not enforced",
        ),
    ]
    if not growth_gib:
        return lagging
    return [
        *lagging,
        MetricAlarmSpec(
            "tenant-growth",
            "TenantGrowthMaxBytesPerHour",
            "Maximum",
            "GreaterThanThreshold",
            growth_gib * GIB,
            f"a tenant's usage grows faster than {growth_gib} GiB an hour",
            missing="notBreaching",
        ),
    ]


@dataclass(frozen=True)
class StorageAlarmsArgs:
    stack: str
    region: str
    watch: WatchSettings
    # The health check's capacity minimums: the alarms fire below the same ones.
    upkeep: Upkeep
    function_name: pulumi.Input[str]
    # node name -> instance id: each gets automatic recovery.
    instance_ids: Mapping[str, pulumi.Input[str]]


class StorageAlarms(pulumi.ComponentResource):
    """The topic, the alarms on the health metrics and the function's errors, and per-node recovery."""

    topic_arn: pulumi.Output[str]

    def __init__(self, name: str, args: StorageAlarmsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aegis:storage:StorageAlarms", name, None, opts)
        stack = args.stack
        child = pulumi.ResourceOptions(parent=self)
        self._prefix = name
        if args.watch.alarm_topic_arn:
            self.topic_arn = pulumi.Output.from_input(args.watch.alarm_topic_arn)
        else:
            self.topic_arn = aws.sns.Topic(f"{name}-topic", name=f"aegis-storage-{stack}-alarms", opts=child).arn
        period = args.watch.schedule_minutes * 60
        for spec in metric_alarms(args.watch, args.upkeep):
            self._alarm(
                spec.suffix,
                namespace=NAMESPACE,
                metric_name=spec.metric,
                dimensions={"Stack": stack},
                statistic=spec.statistic,
                comparison_operator=spec.comparison,
                threshold=spec.threshold,
                evaluation_periods=spec.periods,
                period=period,
                alarm_description=f"aegis-storage {stack}: {spec.description}",
                treat_missing_data=spec.missing,
            )
        self._alarm(
            "function-errors",
            namespace="AWS/Lambda",
            metric_name="Errors",
            dimensions={"FunctionName": args.function_name},
            statistic="Sum",
            comparison_operator="GreaterThanThreshold",
            threshold=0,
            evaluation_periods=CONFIRM_PERIODS,
            period=period,
            alarm_description=f"aegis-storage {stack}: the health function failed or did not run",
        )
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self)).partition
        recover = pulumi.Output.format("arn:{0}:automate:{1}:ec2:recover", partition, args.region)
        for node, instance_id in args.instance_ids.items():
            self._recovery(node, instance_id, recover)
        self.register_outputs({"topic_arn": self.topic_arn})

    def _alarm(
        self, suffix: str, treat_missing_data: str = "breaching", **settings: object
    ) -> aws.cloudwatch.MetricAlarm:
        return aws.cloudwatch.MetricAlarm(
            f"{self._prefix}-{suffix}",
            treat_missing_data=treat_missing_data,
            alarm_actions=[self.topic_arn],
            ok_actions=[self.topic_arn],
            **settings,  # type: ignore[arg-type]
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _recovery(self, node: str, instance_id: pulumi.Input[str], recover: pulumi.Output[str]) -> None:
        aws.cloudwatch.MetricAlarm(
            f"{self._prefix}-recover-{node}",
            namespace="AWS/EC2",
            metric_name="StatusCheckFailed_System",
            dimensions={"InstanceId": instance_id},
            statistic="Maximum",
            comparison_operator="GreaterThanOrEqualToThreshold",
            threshold=1,
            period=RECOVERY_PERIOD_SECONDS,
            evaluation_periods=RECOVERY_PERIODS,
            # No data is no evidence of a failed host: recovering a healthy instance would restart it.
            treat_missing_data="missing",
            alarm_description=f"{node}: the host failed its system status check; EC2 recovers the instance",
            alarm_actions=[recover, self.topic_arn],
            opts=pulumi.ResourceOptions(parent=self),
        )
