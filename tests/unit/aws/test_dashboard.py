"""The prod dashboard: its body reads only metrics that exist, and the prod program registers it with that body."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from components.aws.dashboard import (
    NLB,
    TENANT_DIMENSION,
    TENANT_METRIC,
    DashboardSpec,
    dashboard_body,
    dashboard_name,
)
from components.healthcheck import CheckResult, Report, Target, lambda_handler, watch
from tests.support import prod_program, stack_configs

SPEC = DashboardSpec(
    stack="prod-eu",
    region="eu-west-1",
    period_seconds=300,
    masters=3,
    min_free_volume_slots=12,
    min_free_disk_percent=10,
    min_healthy_filers=2,
    load_balancer="net/filer-lb-nlb/50dc6c495c0c9188",
    filer_target_group="targetgroup/filer-lb-filer/6d0ecf831eec9f09",
)
# AWS/NetworkLB metrics as AWS documents them (Elastic Load Balancing, "CloudWatch metrics for your NLB").
NLB_METRICS = {
    "ActiveFlowCount",
    "NewFlowCount",
    "ProcessedBytes",
    "HealthyHostCount",
    "UnHealthyHostCount",
    "TCP_Client_Reset_Count",
    "TCP_ELB_Reset_Count",
    "TCP_Target_Reset_Count",
}
STATS_CSV = "# pxname,svname,status,rtime\nfilers,filer-0,UP,4\nfilers,BACKEND,UP,4\n"


def published() -> tuple[set[str], set[str]]:
    """(Stack-wide, per-server) metric names the watch publishes for a cluster where everything is readable."""
    bodies = {
        "/dir/status": {"Topology": {"DataCenters": [{"Id": "dc", "Racks": [{"Id": "a", "DataNodes": [node()]}]}]}},
        "/vol/status": {"Volumes": {"DataCenters": {"dc": {"a": {"v0:8080": [{"Id": 1}]}}}}},
        "/status": {"DiskStatuses": [{"all": 100, "used": 40, "free": 60, "percent_free": 60.0}]},
    }

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/stats"):
            return httpx.Response(200, text=STATS_CSV)
        return httpx.Response(200, json=bodies[request.url.path])

    target = Target(
        filer_url="http://lb:8888",
        master_urls=("http://m0:9333",),
        expected_masters=1,
        expected_volume_servers=("v0:8080",),
    )
    stack, per_server = watch.cluster_readings(
        target, ["http://lb:8404/stats;csv"], transport=httpx.MockTransport(answer)
    )
    leader = CheckResult("master", "m0:9333", "leader", True, 1.0, "")
    stack.update(watch.report_metrics(Report((leader,), 0.1)))
    return set(stack), {name for metrics in per_server.values() for name in metrics}


def node() -> dict[str, Any]:
    return {"Url": "v0:8080", "Max": 8, "Volumes": 1}


def metric_rows(body: dict[str, Any]) -> list[list[Any]]:
    return [row for w in body["widgets"] if w["type"] == "metric" for row in w["properties"]["metrics"]]


def test_the_body_is_json_on_the_grid_with_the_stacks_region() -> None:
    body = json.loads(dashboard_body(SPEC))
    cells: set[tuple[int, int]] = set()
    for widget in body["widgets"]:
        assert widget["x"] >= 0 and widget["x"] + widget["width"] <= 24
        taken = {
            (widget["x"] + dx, widget["y"] + dy) for dx in range(widget["width"]) for dy in range(widget["height"])
        }
        assert not cells & taken, f"{widget} overlaps another widget"
        cells |= taken
        if widget["type"] == "metric":
            assert widget["properties"]["region"] == "eu-west-1"
    assert "prod-eu" in body["widgets"][0]["properties"]["markdown"]
    assert len(body["widgets"]) == 12


def test_every_own_metric_is_one_the_watch_publishes_with_its_dimensions() -> None:
    stack_wide, per_server = published()
    rows = metric_rows(json.loads(dashboard_body(SPEC)))
    named = [row for row in rows if isinstance(row[0], str) and row[0] == watch.NAMESPACE]
    assert named
    for row in named:
        assert row[2:4] == ["Stack", "prod-eu"] and isinstance(row[4], dict), row
        assert row[1] in stack_wide, f"{row[1]} is not published Stack-wide"
    searches = [
        found.groups()
        for row in rows
        if "expression" in row[0]
        for found in re.finditer(
            r"\{AEGIS/Storage,Stack,(\w+)\} Stack=\"([^\"]+)\" MetricName=\"(\w+)\"", row[0]["expression"]
        )
    ]
    assert ("Server", "prod-eu", "FreeVolumeSlots") in searches
    for dimension, stack, metric in searches:
        assert stack == "prod-eu"
        if dimension == watch.SERVER_DIMENSION:
            assert metric in per_server
        else:
            # Per tenant: what the health function publishes from the usage service's figures.
            assert (dimension, metric) == (TENANT_DIMENSION, TENANT_METRIC)
            [datum] = lambda_handler.tenant_metric_data({"t": 1.0}, "prod-eu")
            assert datum["MetricName"] == metric and datum["Dimensions"][1]["Name"] == dimension


def test_tier_widgets_read_the_nlbs_metrics_for_this_load_balancer() -> None:
    rows = [row for row in metric_rows(json.loads(dashboard_body(SPEC))) if row[0] == NLB]
    assert {row[1] for row in rows} <= NLB_METRICS
    for row in rows:
        dims = dict(zip(row[2:-1:2], row[3:-1:2], strict=True))
        assert dims["LoadBalancer"] == SPEC.load_balancer
        if row[1].endswith("HostCount"):
            # Host counts exist per target group only: the filer port's.
            assert dims["TargetGroup"] == SPEC.filer_target_group


def test_expressions_use_ids_that_exist_and_days_left_needs_growth() -> None:
    body = json.loads(dashboard_body(SPEC))
    for widget in body["widgets"][1:]:
        rows = widget["properties"]["metrics"]
        ids = {row[-1]["id"] for row in rows if isinstance(row[-1], dict) and "id" in row[-1]}
        for row in rows:
            if "expression" in row[0]:
                bare = re.sub(r"SEARCH\('[^']*'[^)]*\)", "", row[0]["expression"])
                used = set(re.findall(r"\b([a-z]\w*)\b", bare))
                assert used <= ids, (widget["properties"]["title"], used - ids)
    (days,) = [w for w in body["widgets"] if "Days until full" in w["properties"].get("title", "")]
    [expression] = [row[0]["expression"] for row in days["properties"]["metrics"] if "expression" in row[0]]
    assert expression == "IF(RATE(used) > 0, free / (RATE(used) * 86400))"
    (tenants,) = [w for w in body["widgets"] if "per tenant" in w["properties"].get("title", "")]
    assert tenants["properties"]["metrics"][0][0]["expression"].startswith("SORT(SEARCH('{AEGIS/Storage,Stack,Tenant}")
    assert tenants["properties"]["metrics"][0][0]["expression"].endswith(", MAX, DESC, 10)")


def test_the_prod_program_registers_the_dashboard_with_that_body() -> None:
    run = prod_program.execute()
    (dashboard,) = run.run.of_type("aws:cloudwatch/dashboard:Dashboard")
    (component,) = run.run.of_type("aegis:storage:StorageDashboard")
    assert dashboard.parent == component.urn
    assert dashboard.inputs["dashboardName"] == dashboard_name("prod")
    cfg = stack_configs.prod()
    spec = DashboardSpec(
        stack="prod",
        region=stack_configs.REGION,
        period_seconds=60 * cfg.aws.watch.schedule_minutes,
        masters=3,
        min_free_volume_slots=cfg.upkeep.min_free_volume_slots,
        min_free_disk_percent=cfg.upkeep.min_free_disk_percent,
        min_healthy_filers=2,
        # What the mocks compute for the NLB and the filer port's target group.
        load_balancer="net/filer-lb-nlb/50dc6c495c0c9188",
        filer_target_group="targetgroup/filer-lb-filer/6d0ecf831eec9f09",
    )
    assert dashboard.inputs["dashboardBody"] == dashboard_body(spec)
