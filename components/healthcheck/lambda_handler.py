"""The in-VPC health function (AWS Lambda): the prod stack's post-deploy gate and its scheduled watch.

The event is JSON built by `components/aws/health_function.py`:
- `mode`: "gate" (invoked by the deployment) or "watch" (invoked by the schedule);
- `target`: the stack's `health_target` output, which holds no secret;
- `s3_key_parameters` (optional): the SSM SecureString names of the S3 admin keys, read here, so the keys
  never appear in an event, the Invocation's state or a preview;
- gate: `timeout_seconds`, how long to wait for a healthy cluster;
- watch: `load_balancer_stats` (HAProxy stats CSV URLs: filers UP, and each HAProxy's usage service), `namespace`
  and `stack` for the metrics, and `volume_record_parameter` (optional): the SSM parameter holding the volume
  ledger's record.

The gate raises `ClusterNotHealthy` with the report unless the outcome is "healthy": Lambda returns that as
a function error, which fails the `aws.lambda_.Invocation` and with it `pulumi up`. The watch never raises
over the cluster's state: it publishes metrics and the alarms judge them, so the function's own Errors
metric means the function itself is broken.

boto3 (SSM, CloudWatch) comes with the Lambda runtime and is imported only when an event needs it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from components.healthcheck.checks import HEALTHY, Target, not_healthy_message, run_checks, wait_until_healthy
from components.healthcheck.volume_record import SsmRecord, with_volume_record
from components.healthcheck.watch import (
    NAMESPACE,
    SERVER_DIMENSION,
    TENANT_DIMENSION,
    TENANT_METRIC,
    ServerMetrics,
    cluster_readings,
    report_metrics,
    tenant_bytes,
    usage_metrics,
)

# A client for an AWS service by name ("ssm", "cloudwatch"); boto3.client in the function, a fake in tests.
ClientFactory = Callable[[str], Any]


class ClusterNotHealthy(Exception):
    """The gate's verdict: the message is the outcome and the whole report."""


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entry point (`components.healthcheck.lambda_handler.handler`)."""
    return run(event, _boto3_client)


def run(event: Mapping[str, Any], client: ClientFactory) -> dict[str, Any]:
    mode = event.get("mode")
    if mode == "gate":
        return gate(event, client)
    if mode == "watch":
        return watch(event, client)
    raise ValueError(f"event mode must be gate or watch, got {mode!r}")


def target_of(event: Mapping[str, Any], client: ClientFactory) -> Target:
    """The event's target, with the S3 keys read from SSM when the event names their parameters."""
    outputs: dict[str, Any] = {"health_target": event["target"]}
    names = event.get("s3_key_parameters")
    if names:
        values = _parameters(client, [names["access_key"], names["secret_key"]])
        outputs["s3_admin_access_key"] = values[names["access_key"]]
        outputs["s3_admin_secret_key"] = values[names["secret_key"]]
    return Target.from_stack_outputs(outputs)


def gate(event: Mapping[str, Any], client: ClientFactory) -> dict[str, Any]:
    timeout = float(event["timeout_seconds"])
    report = wait_until_healthy(target_of(event, client), timeout=timeout)
    if report.outcome != HEALTHY:
        raise ClusterNotHealthy(not_healthy_message(report, timeout))
    return {"outcome": report.outcome, "wall_seconds": report.wall_seconds}


def watch(event: Mapping[str, Any], client: ClientFactory) -> dict[str, Any]:
    target = target_of(event, client)
    stats = event.get("load_balancer_stats", [])
    report = run_checks(target, load_balancer_stats=stats)
    if event.get("volume_record_parameter"):
        # The record of volume ids the cluster held: a volume gone without a deliberate delete is unhealthy.
        store = SsmRecord(client("ssm"), event["volume_record_parameter"])
        report = with_volume_record(report, target.master_urls, store)
    found, per_server = cluster_readings(target, stats)
    metrics = {**report_metrics(report), **usage_metrics(report), **found}
    tenants = tenant_bytes(report)
    data = metric_data(metrics, event["stack"]) + server_metric_data(per_server, event["stack"])
    data += tenant_metric_data(tenants, event["stack"])
    namespace = event.get("namespace", NAMESPACE)
    # PutMetricData takes up to 1,000 metrics a call: about 15 Stack-wide, 2 per volume server, TOP_TENANTS.
    client("cloudwatch").put_metric_data(Namespace=namespace, MetricData=data)
    return {
        "outcome": report.outcome,
        "metrics": metrics,
        "servers": per_server,
        "tenants": tenants,
        "problems": report.summary(),
    }


def metric_data(metrics: Mapping[str, float], stack: str) -> list[dict[str, Any]]:
    """CloudWatch MetricData, one datum per metric, each with the stack as its only dimension."""
    return [
        {"MetricName": name, "Dimensions": [{"Name": "Stack", "Value": stack}], "Value": value, "Unit": "None"}
        for name, value in sorted(metrics.items())
    ]


def server_metric_data(per_server: ServerMetrics, stack: str) -> list[dict[str, Any]]:
    """CloudWatch MetricData for the per-volume-server metrics: dimensions Stack and Server."""
    return [
        {
            "MetricName": name,
            "Dimensions": [{"Name": "Stack", "Value": stack}, {"Name": SERVER_DIMENSION, "Value": server}],
            "Value": value,
            "Unit": "None",
        }
        for server, metrics in sorted(per_server.items())
        for name, value in sorted(metrics.items())
    ]


def tenant_metric_data(tenants: Mapping[str, float], stack: str) -> list[dict[str, Any]]:
    """CloudWatch MetricData for `TenantBytes` of the top tenants: dimensions Stack and Tenant."""
    return [
        {
            "MetricName": TENANT_METRIC,
            "Dimensions": [{"Name": "Stack", "Value": stack}, {"Name": TENANT_DIMENSION, "Value": tenant}],
            "Value": value,
            "Unit": "Bytes",
        }
        for tenant, value in sorted(tenants.items())
    ]


def _parameters(client: ClientFactory, names: list[str]) -> dict[str, str]:
    answer = client("ssm").get_parameters(Names=names, WithDecryption=True)
    values = {p["Name"]: p["Value"] for p in answer.get("Parameters", [])}
    missing = [name for name in names if name not in values]
    if missing:
        raise ValueError(f"SSM parameters not found: {', '.join(missing)}")
    return values


def _boto3_client(service: str) -> Any:
    import boto3  # in the Lambda runtime, not in the artifact

    return boto3.client(service)
