"""The prod stack's CloudWatch dashboard, `aegis-storage-<stack>`: the figures an operator looks at over years.

Every widget reads what already exists: the `AEGIS/Storage` metrics the scheduled health function publishes
(`components/healthcheck/watch.py`; Stack-wide, and per volume server with the dimension `Server`) and the
internal NLB's `AWS/NetworkLB` metrics. Two figures are derived, not published:
- days until full: free disk bytes divided by the growth of used disk bytes per day, from two averages one
  growth window (7 days) apart (`RATE` is the change per second between a period's value and the previous
  one); no value while the used bytes do not grow;
- usage per tenant (top N): a search over `TenantBytes` with the dimension `Tenant`, which the health function
  publishes for the usage service's largest tenants (components/healthcheck/usage_probe.py). Where no usage
  service runs on the tier, the widget stays empty (docs/monitoring.md).

HAProxy's request latency reaches CloudWatch only as the watch's sample of the filers backend's `rtime`
(average of its last 1024 requests), once per schedule period; per-request rates and latencies are on
HAProxy's Prometheus endpoint (docs/monitoring.md). The NLB is a TCP balancer: it counts flows and bytes,
not HTTP requests, and has no latency metric.

`dashboard_body` is pure (a JSON string from plain values), so the widgets are tested without Pulumi.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

import pulumi
import pulumi_aws as aws

from components.aws.alarms import MIN_HEALTHY_FILERS
from components.healthcheck.watch import NAMESPACE, SERVER_DIMENSION, TENANT_DIMENSION, TENANT_METRIC, TOP_TENANTS
from components.model.config import AwsStackConfig

GROWTH_WINDOW_SECONDS = 7 * 86400
NLB = "AWS/NetworkLB"
WIDTH = 24  # CloudWatch's dashboard grid is 24 columns wide


@dataclass(frozen=True)
class DashboardSpec:
    """Plain values the body is built from; the ARN suffixes are what the NLB's metrics name as dimensions."""

    stack: str
    region: str
    period_seconds: int  # the health function's schedule: one data point per period
    masters: int
    min_free_volume_slots: int
    min_free_disk_percent: int
    min_healthy_filers: int
    load_balancer: str  # the NLB's arn_suffix, "net/<name>/<id>"
    filer_target_group: str  # the filer port's target group's arn_suffix, "targetgroup/<name>/<id>"
    top_tenants: int = TOP_TENANTS


def dashboard_name(stack: str) -> str:
    return f"aegis-storage-{stack}"


def dashboard_body(spec: DashboardSpec) -> str:
    """The dashboard's JSON (CloudWatch's dashboard body structure): rows of widgets on the 24-column grid."""
    rows = [
        [_leader(spec), _filers(spec), _copies(spec)],
        [_per_server(spec, "FreeVolumeSlots", "Free volume slots per server", spec.min_free_volume_slots)],
        [_per_server(spec, "FreeDiskPercent", "Free disk per server (%)", spec.min_free_disk_percent)],
        [_tier_flows(spec), _tier_latency(spec), _tier_resets(spec)],
        [_tenants(spec), _days_left(spec), _disk_bytes(spec)],
    ]
    widgets = [_intro(spec)]
    y = widgets[0]["height"]
    for row in rows:
        x = 0
        for widget in row:
            widget.update(x=x, y=y)
            widgets.append(widget)
            x += widget["width"]
        y += max(widget["height"] for widget in row)
    return json.dumps({"start": "-P7D", "widgets": widgets}, sort_keys=True)


def _intro(spec: DashboardSpec) -> dict[str, Any]:
    text = (
        f"## aegis-storage {spec.stack}\n"
        f"`{NAMESPACE}` metrics come from the scheduled health function, one point every "
        f"{spec.period_seconds // 60} min; a gap means it did not run or could not read the value. "
        "Usage per tenant stays empty where no usage service runs on the tier. "
        "Prometheus scrape config and HAProxy's request metrics: docs/monitoring.md."
    )
    return {"type": "text", "x": 0, "y": 0, "width": WIDTH, "height": 2, "properties": {"markdown": text}}


def _graph(spec: DashboardSpec, title: str, metrics: list[list[Any]], width: int, **extra: Any) -> dict[str, Any]:
    properties = {
        "title": title,
        "region": spec.region,
        "view": "timeSeries",
        "stacked": False,
        "period": spec.period_seconds,
        "metrics": metrics,
        **extra,
    }
    return {"type": "metric", "width": width, "height": 6, "properties": properties}


def _own(spec: DashboardSpec, metric: str, stat: str, label: str, **options: Any) -> list[Any]:
    """A Stack-wide metric of the health function."""
    return [NAMESPACE, metric, "Stack", spec.stack, {"stat": stat, "label": label, **options}]


def _floor(label: str, value: float) -> dict[str, Any]:
    return {"horizontal": [{"label": label, "value": value}]}


def _leader(spec: DashboardSpec) -> dict[str, Any]:
    quorum = spec.masters // 2 + 1
    metrics = [
        _own(spec, "RaftLeader", "Minimum", "a leader is named (1)"),
        _own(spec, "MastersNamingLeader", "Minimum", f"masters naming a leader (of {spec.masters})"),
    ]
    axis = {"left": {"min": 0, "max": spec.masters}}
    return _graph(spec, "Raft leader and quorum", metrics, 8, annotations=_floor("quorum", quorum), yAxis=axis)


def _filers(spec: DashboardSpec) -> dict[str, Any]:
    dims = ["TargetGroup", spec.filer_target_group, "LoadBalancer", spec.load_balancer]
    metrics = [
        _own(spec, "HealthyFilersBehindLB", "Minimum", "filers UP in the weakest HAProxy"),
        [NLB, "HealthyHostCount", *dims, {"stat": "Minimum", "label": "HAProxy nodes healthy at the NLB"}],
        [NLB, "UnHealthyHostCount", *dims, {"stat": "Maximum", "label": "HAProxy nodes unhealthy at the NLB"}],
    ]
    floor = _floor("alarm below", spec.min_healthy_filers)
    return _graph(spec, "Filers behind HAProxy", metrics, 8, annotations=floor, yAxis={"left": {"min": 0}})


def _copies(spec: DashboardSpec) -> dict[str, Any]:
    metrics = [
        _own(spec, "DegradedVolumes", "Maximum", "volumes short of copies"),
        _own(spec, "MissingCopies", "Maximum", "copies missing"),
    ]
    return _graph(spec, "Copies missing", metrics, 8, yAxis={"left": {"min": 0}})


def _search(spec: DashboardSpec, dimension: str, metric: str, stat: str, period: int) -> str:
    schema = f"{{{NAMESPACE},Stack,{dimension}}}"
    return f"SEARCH('{schema} Stack=\"{spec.stack}\" MetricName=\"{metric}\"', '{stat}', {period})"


def _per_server(spec: DashboardSpec, metric: str, title: str, minimum: int) -> dict[str, Any]:
    expression = _search(spec, SERVER_DIMENSION, metric, "Minimum", spec.period_seconds)
    metrics = [[{"expression": expression, "id": "servers"}]]
    floor = _floor("degraded below", minimum) if minimum else {}
    return _graph(spec, title, metrics, WIDTH, annotations=floor, yAxis={"left": {"min": 0}})


def _tier_flows(spec: DashboardSpec) -> dict[str, Any]:
    lb = ["LoadBalancer", spec.load_balancer]
    metrics = [
        [NLB, "NewFlowCount", *lb, {"stat": "Sum", "label": "new connections"}],
        [NLB, "ActiveFlowCount", *lb, {"stat": "Average", "label": "open connections"}],
        [NLB, "ProcessedBytes", *lb, {"stat": "Sum", "label": "bytes", "yAxis": "right"}],
    ]
    # The NLB's flow metrics are per load balancer: the filer, admin and S3 listeners together.
    return _graph(spec, "Connections and bytes at the NLB (all listeners)", metrics, 8)


def _tier_latency(spec: DashboardSpec) -> dict[str, Any]:
    metrics = [_own(spec, "FilerResponseTimeMs", "Maximum", "filers backend rtime (ms), slowest HAProxy")]
    title = "Filer response time at HAProxy (sampled)"
    return _graph(spec, title, metrics, 8, yAxis={"left": {"min": 0}})


def _tier_resets(spec: DashboardSpec) -> dict[str, Any]:
    lb = ["LoadBalancer", spec.load_balancer]
    metrics = [
        [NLB, name, *lb, {"stat": "Sum", "label": label}]
        for name, label in (
            ("TCP_Target_Reset_Count", "reset by HAProxy"),
            ("TCP_ELB_Reset_Count", "reset by the NLB"),
            ("TCP_Client_Reset_Count", "reset by clients"),
        )
    ]
    return _graph(spec, "TCP resets at the NLB", metrics, 8)


def _tenants(spec: DashboardSpec) -> dict[str, Any]:
    search = _search(spec, TENANT_DIMENSION, TENANT_METRIC, "Maximum", 300)
    n = spec.top_tenants
    metrics = [[{"expression": f"SORT({search}, MAX, DESC, {n})", "id": "tenants"}]]
    title = f"Usage per tenant, top {n} (bytes; empty where no usage service runs)"
    return _graph(spec, title, metrics, 12, period=300, yAxis={"left": {"min": 0}})


def _days_left(spec: DashboardSpec) -> dict[str, Any]:
    window = GROWTH_WINDOW_SECONDS
    hidden = {"stat": "Average", "visible": False, "period": window}
    metrics = [
        [NAMESPACE, "UsedDiskBytes", "Stack", spec.stack, {**hidden, "id": "used"}],
        [NAMESPACE, "FreeDiskBytes", "Stack", spec.stack, {**hidden, "id": "free"}],
        # RATE: bytes per second between the last two window averages; no value unless the disks fill.
        [{"expression": "IF(RATE(used) > 0, free / (RATE(used) * 86400))", "id": "days", "label": "days until full"}],
    ]
    title = f"Days until full at the last {window // 86400} days' growth"
    widget = _graph(spec, title, metrics, 6, view="singleValue", period=window)
    widget["properties"].update(start=f"-PT{window * 5 // 3600}H", setPeriodToTimeRange=False)
    return widget


def _disk_bytes(spec: DashboardSpec) -> dict[str, Any]:
    metrics = [
        _own(spec, "UsedDiskBytes", "Average", "used (all volume servers)"),
        _own(spec, "FreeDiskBytes", "Average", "free (all volume servers)"),
    ]
    return _graph(spec, "Disk used and free (bytes)", metrics, 6, stacked=True)


@dataclass(frozen=True)
class StorageDashboardArgs:
    spec: DashboardSpec  # with the ARN suffixes left "" here: they come from the inputs below
    load_balancer_arn_suffix: pulumi.Input[str]
    filer_target_group_arn_suffix: pulumi.Input[str]


class StorageDashboard(pulumi.ComponentResource):
    """One `aws.cloudwatch.Dashboard` with `dashboard_body`, once the NLB's ARN suffixes are known."""

    def __init__(self, name: str, args: StorageDashboardArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aegis:storage:StorageDashboard", name, None, opts)
        body = pulumi.Output.all(args.load_balancer_arn_suffix, args.filer_target_group_arn_suffix).apply(
            lambda found: dashboard_body(replace(args.spec, load_balancer=found[0], filer_target_group=found[1]))
        )
        self.dashboard = aws.cloudwatch.Dashboard(
            name,
            dashboard_name=dashboard_name(args.spec.stack),
            dashboard_body=body,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.dashboard_name = self.dashboard.dashboard_name
        self.register_outputs({"dashboard_name": self.dashboard_name})


def stack_dashboard(
    cfg: AwsStackConfig, load_balancer_arn_suffix: pulumi.Input[str], filer_target_group_arn_suffix: pulumi.Input[str]
) -> StorageDashboard:
    """The dashboard of a prod stack, with the alarms' and the health check's thresholds drawn in."""
    spec = DashboardSpec(
        stack=cfg.stack,
        region=cfg.aws.network.region,
        period_seconds=cfg.aws.watch.schedule_minutes * 60,
        masters=cfg.master_count,
        min_free_volume_slots=cfg.upkeep.min_free_volume_slots,
        min_free_disk_percent=cfg.upkeep.min_free_disk_percent,
        min_healthy_filers=MIN_HEALTHY_FILERS,
        load_balancer="",
        filer_target_group="",
    )
    return StorageDashboard(
        "dashboard", StorageDashboardArgs(spec, load_balancer_arn_suffix, filer_target_group_arn_suffix)
    )
