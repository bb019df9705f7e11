"""The prod program under mocks: the in-VPC gate after every node, the watch, the alarms and their topic."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest

from components.aws import health_function
from components.aws.health_artifact import HANDLER, build_artifact
from components.model.topology import LB_STATS_PORT, METRICS_PORTS
from tests.support import prod_program
from tests.support.prod_ingress import MONITORING, OPERATORS, ORCHESTRATORS
from tests.support.prod_program import INGRESS, INSTANCE, SECRET_MARK, Run, execute
from tests.support.pulumi_harness import ROOT

FUNCTION = "aws:lambda/function:Function"
INVOCATION = "aws:lambda/invocation:Invocation"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC = "aws:sns/topic:Topic"
CONFIGURED_TOPIC = "arn:aws:sns:us-east-1:123456789012:storage-oncall"


def with_arns(type_: str, name: str, addresses: dict[str, str]) -> dict[str, Any]:
    """The prod program's computed outputs, plus the ARNs AWS gives the topic, function and rule."""
    computed = dict(COMPUTED(type_, name, addresses))
    if type_ in (TOPIC, FUNCTION, "aws:cloudwatch/eventRule:EventRule"):
        computed["arn"] = f"arn:mock:{name}"
    return computed


COMPUTED = prod_program.computed_outputs


def run_prod(**overrides: Any) -> Run:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(prod_program, "computed_outputs", with_arns)
        return execute(**overrides)


@pytest.fixture(scope="module")
def prod() -> Run:
    return run_prod()


def gate_input(run: Run) -> dict[str, Any]:
    [gate] = run.run.of_type(INVOCATION)
    return json.loads(gate.inputs["input"])


def test_the_gate_runs_the_function_after_every_node_and_the_load_balancer(prod: Run) -> None:
    [gate] = prod.run.of_type(INVOCATION)
    [function] = prod.run.of_type(FUNCTION)
    assert gate.inputs["functionName"] == function.inputs["name"] == "aegis-storage-prod-health"
    instances = prod.run.of_type(INSTANCE)
    assert len(instances) == 12  # 3 masters, 3 volume servers, 3 filers, the S3 gateway, 2 HAProxy
    assert {i.urn for i in instances} <= set(gate.dependencies)
    attachments = prod.run.of_type("aws:ec2/volumeAttachment:VolumeAttachment")
    assert {a.urn for a in attachments} <= set(gate.dependencies)
    listeners = prod.run.of_type("aws:lb/listener:Listener")
    assert listeners and {listener.urn for listener in listeners} <= set(gate.dependencies)
    assert function.urn in gate.dependencies


def test_the_gate_probes_the_stack_health_target_and_holds_no_secret(prod: Run) -> None:
    event = gate_input(prod)
    assert event["mode"] == "gate"
    assert event["target"] == prod.run.outputs["health_target"]
    assert event["timeout_seconds"] == 300
    assert event["s3_key_parameters"] == {
        "access_key": "/aegis-storage/prod/s3_admin_access_key",
        "secret_key": "/aegis-storage/prod/s3_admin_secret_key",
    }
    [gate] = prod.run.of_type(INVOCATION)
    # One JSON string crosses the engine byte for byte: the count stays an int for Target, not a double.
    assert '"expected_masters": 3,' in gate.inputs["input"]
    assert SECRET_MARK not in gate.inputs["input"]
    assert not gate.secret_paths


def test_the_gate_runs_again_when_a_node_or_the_code_changes() -> None:
    ids = ["i-master0", "i-volume0"]
    base = health_function.fingerprint(ids, "code-a")
    assert health_function.fingerprint(list(reversed(ids)), "code-a") == base
    assert health_function.fingerprint(["i-master0-replaced", "i-volume0"], "code-a") != base
    assert health_function.fingerprint(ids, "code-b") != base


def test_the_function_runs_the_packaged_handler_in_the_private_subnets(prod: Run) -> None:
    [function] = prod.run.of_type(FUNCTION)
    assert function.inputs["handler"] == HANDLER
    # The stack's healthFunctionRuntime, not the deployer's interpreter.
    assert function.inputs["runtime"] == "python3.11"
    assert function.inputs["timeout"] == 360  # healthTimeoutSeconds 300 + a minute
    vpc = function.inputs["vpcConfig"]
    assert vpc["securityGroupIds"] == ["sg-health-id"]
    assert vpc["subnetIds"] == [f"network-private-us-east-1{zone}-id" for zone in "abc"]


def test_nothing_can_reach_the_function_and_it_reaches_only_http_ports(prod: Run) -> None:
    rules = prod.run.of_type(INGRESS)
    assert not [r for r in rules if r.inputs["securityGroupId"] == "sg-health-id"]
    from_function = {
        (r.inputs["securityGroupId"], r.inputs["fromPort"])
        for r in rules
        if r.inputs.get("referencedSecurityGroupId") == "sg-health-id"
    }
    assert from_function == {
        ("sg-nlb-id", 8888),
        ("sg-nlb-id", 8889),
        ("sg-nlb-id", 8333),
        ("sg-lb-id", LB_STATS_PORT),
        ("sg-filer-id", 8888),
        ("sg-master-id", 9333),
        ("sg-volume-id", 8080),
    }
    [permission] = prod.run.of_type("aws:lambda/permission:Permission")
    assert permission.inputs["principal"] == "events.amazonaws.com"
    assert permission.inputs["sourceArn"] == "arn:mock:health-schedule"
    assert not prod.run.of_type("aws:lambda/functionUrl:FunctionUrl")


def test_no_ingress_is_open_beyond_the_vpc_except_to_the_configured_networks(prod: Run) -> None:
    cidr_rules = [r for r in prod.run.of_type(INGRESS) if "cidrIpv4" in r.inputs or "cidrIpv6" in r.inputs]
    assert {r.inputs.get("cidrIpv4") for r in cidr_rules} == {ORCHESTRATORS, OPERATORS, MONITORING}
    monitoring_ports = {*METRICS_PORTS.values(), LB_STATS_PORT}
    opened = {r.inputs["fromPort"] for r in cidr_rules if r.inputs["cidrIpv4"] == MONITORING}
    assert opened == monitoring_ports
    for rule in cidr_rules:
        if rule.inputs["fromPort"] in monitoring_ports:
            assert rule.inputs["cidrIpv4"] == MONITORING, rule.name


def test_the_function_may_read_only_the_s3_admin_keys_and_publish_only_its_namespace(prod: Run) -> None:
    policy = json.loads(prod.one("aws:iam/rolePolicy:RolePolicy", "health-policy").inputs["policy"])
    by_action = {json.dumps(s["Action"]): s for s in policy["Statement"]}
    assert by_action['"ssm:GetParameters"']["Resource"] == [
        "arn:aws:ssm:us-east-1:123456789012:parameter/aegis-storage/prod/s3_admin_access_key",
        "arn:aws:ssm:us-east-1:123456789012:parameter/aegis-storage/prod/s3_admin_secret_key",
    ]
    assert by_action['"cloudwatch:PutMetricData"']["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": "AEGIS/Storage"}
    }
    assert by_action['"kms:Decrypt"']["Condition"] == {
        "StringEquals": {"kms:ViaService": "ssm.us-east-1.amazonaws.com"}
    }
    role = prod.one("aws:iam/role:Role", "health-role")
    assert json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Principal"] == {
        "Service": "lambda.amazonaws.com"
    }


def test_the_watch_runs_on_the_configured_schedule_without_the_rules_text(prod: Run) -> None:
    rule = prod.one("aws:cloudwatch/eventRule:EventRule", "health-schedule")
    assert rule.inputs["scheduleExpression"] == "rate(5 minutes)"
    target = prod.one("aws:cloudwatch/eventTarget:EventTarget", "health-schedule")
    assert target.inputs["arn"] == "arn:mock:health"
    event = json.loads(target.inputs["input"])
    assert event["mode"] == "watch" and event["stack"] == "prod"
    assert "filer_rules" not in event["target"]
    assert event["load_balancer_stats"] == [
        f"http://{prod.addresses[f'{lb}-eni']}:{LB_STATS_PORT}/stats;csv" for lb in ("lb-0", "lb-1")
    ]
    assert len(target.inputs["input"]) < 8192  # EventBridge's limit on a target's input
    one_minute = run_prod(healthScheduleMinutes=1)
    assert one_minute.one("aws:cloudwatch/eventRule:EventRule", "health-schedule").inputs["scheduleExpression"] == (
        "rate(1 minute)"
    )


def test_the_watch_keeps_its_volume_record_in_the_one_parameter_it_may_read_and_write(prod: Run) -> None:
    target = prod.one("aws:cloudwatch/eventTarget:EventTarget", "health-schedule")
    name = "/aegis-storage/prod/health/volume-record"
    assert json.loads(target.inputs["input"])["volume_record_parameter"] == name
    assert "volume_record_parameter" not in gate_input(prod)  # the gate retries; one record per watch run
    policy = json.loads(prod.one("aws:iam/rolePolicy:RolePolicy", "health-policy").inputs["policy"])
    record = [s for s in policy["Statement"] if "ssm:PutParameter" in s["Action"]]
    assert record == [
        {
            "Effect": "Allow",
            "Action": ["ssm:GetParameter", "ssm:PutParameter"],
            "Resource": f"arn:aws:ssm:us-east-1:123456789012:parameter{name}",
        }
    ]
    # The function creates the parameter with its first PutParameter: the stack does not own its value.
    assert not [p for p in prod.run.of_type("aws:ssm/parameter:Parameter") if "volume-record" in p.name]


def alarms(run: Run) -> dict[str, dict[str, Any]]:
    return {a.name: a.inputs for a in run.run.of_type(ALARM)}


def test_every_alarm_notifies_the_topic_the_stack_creates_and_outputs(prod: Run) -> None:
    [topic] = prod.run.of_type(TOPIC)
    assert topic.inputs["name"] == "aegis-storage-prod-alarms"
    arn = "arn:mock:alarms-topic"
    assert prod.run.outputs["alarm_topic_arn"] == arn
    for name, inputs in alarms(prod).items():
        assert arn in inputs["alarmActions"], name


def test_a_configured_topic_gets_every_alarm_and_no_topic_is_created() -> None:
    run = run_prod(alarmTopicArn=CONFIGURED_TOPIC)
    assert not run.run.of_type(TOPIC)
    assert run.run.outputs["alarm_topic_arn"] == CONFIGURED_TOPIC
    for name, inputs in alarms(run).items():
        assert CONFIGURED_TOPIC in inputs["alarmActions"], name


def test_the_health_alarms_watch_each_failure_and_treat_missing_data_as_breaching(prod: Run) -> None:
    found = alarms(prod)
    expected = {
        "alarms-no-raft-leader": ("RaftLeader", "LessThanThreshold", 1),
        "alarms-degraded-volumes": ("DegradedVolumes", "GreaterThanThreshold", 0),
        "alarms-volume-slots": ("FreeVolumeSlots", "LessThanThreshold", 12),
        "alarms-disk-space": ("FreeDiskPercent", "LessThanThreshold", 10),
        "alarms-haproxy-filers": ("HealthyFilersBehindLB", "LessThanThreshold", 2),
        "alarms-unhealthy": ("Healthy", "LessThanThreshold", 1),
        # The purge keeps 7 days (metadataLogRetentionDays' default); a day more of slack, as the health check.
        "alarms-metadata-log-purge": ("MetadataLogOldestDays", "GreaterThanThreshold", 8),
    }
    for name, (metric, comparison, threshold) in expected.items():
        inputs = found[name]
        assert (inputs["metricName"], inputs["comparisonOperator"], inputs["threshold"]) == (
            metric,
            comparison,
            threshold,
        )
        assert inputs["namespace"] == "AEGIS/Storage" and inputs["dimensions"] == {"Stack": "prod"}
        assert inputs["treatMissingData"] == "breaching" and inputs["period"] == 300, name
        assert inputs["okActions"] == inputs["alarmActions"]
        # Two runs in a row, so a run EventBridge starts late never notifies; copies get 30 min to come back.
        assert inputs["evaluationPeriods"] == (6 if metric == "DegradedVolumes" else 2), name
    errors = found["alarms-function-errors"]
    assert (errors["namespace"], errors["metricName"]) == ("AWS/Lambda", "Errors")
    assert errors["dimensions"] == {"FunctionName": "aegis-storage-prod-health"}
    assert errors["treatMissingData"] == "breaching" and errors["evaluationPeriods"] == 2


def test_every_node_recovers_automatically_from_a_failed_host(prod: Run) -> None:
    found = alarms(prod)
    for instance in prod.run.of_type(INSTANCE):
        recover = found[f"alarms-recover-{instance.name}"]
        assert recover["metricName"] == "StatusCheckFailed_System" and recover["namespace"] == "AWS/EC2"
        assert recover["dimensions"] == {"InstanceId": f"{instance.name}-id"}
        assert recover["alarmActions"][0] == "arn:aws:automate:us-east-1:ec2:recover"
    assert len([n for n in found if n.startswith("alarms-recover-")]) == len(prod.run.of_type(INSTANCE))


def test_the_function_code_is_the_artifact_build_artifact_makes(prod: Run) -> None:
    [function] = prod.run.of_type(FUNCTION)
    path = function.inputs["code"]["path"]
    assert path.startswith(".build/health-function-") and path.endswith(".zip")
    content = (ROOT / path).read_bytes()
    assert content == build_artifact()
    assert function.inputs["sourceCodeHash"] == base64.b64encode(hashlib.sha256(content).digest()).decode()


def test_the_function_may_run_a_minute_beyond_the_gate_wait_up_to_the_lambda_limit() -> None:
    assert health_function.function_timeout(300) == 360
    assert health_function.function_timeout(840) == 900


def test_degraded_copies_get_thirty_minutes_whatever_the_schedule() -> None:
    every_minute = run_prod(healthScheduleMinutes=1)
    assert alarms(every_minute)["alarms-degraded-volumes"]["evaluationPeriods"] == 30
    hourly = run_prod(healthScheduleMinutes=60)
    assert alarms(hourly)["alarms-degraded-volumes"]["evaluationPeriods"] == 2


def test_capacity_alarms_follow_the_health_checks_minimums_and_zero_turns_them_off() -> None:
    raised = alarms(run_prod(minFreeVolumeSlots=40, minFreeDiskPercent=25))
    assert (raised["alarms-volume-slots"]["threshold"], raised["alarms-disk-space"]["threshold"]) == (40, 25)
    off = alarms(run_prod(minFreeVolumeSlots=0, minFreeDiskPercent=0))
    assert "alarms-volume-slots" not in off and "alarms-disk-space" not in off
    assert "alarms-degraded-volumes" in off


def test_the_metadata_log_alarm_follows_the_retention_and_the_health_target_carries_it() -> None:
    run = run_prod(metadataLogRetentionDays=30)
    alarm = alarms(run)["alarms-metadata-log-purge"]
    assert (alarm["metricName"], alarm["statistic"], alarm["threshold"]) == ("MetadataLogOldestDays", "Maximum", 31)
    assert "purge is not running" in alarm["alarmDescription"]
    assert gate_input(run)["target"]["metadata_log_retention_days"] == 30


def test_usage_alarms_fire_on_lag_for_two_runs_and_on_a_tenants_growth_once_it_is_known(prod: Run) -> None:
    found = alarms(prod)
    lag = found["alarms-usage-lagging"]
    assert (lag["metricName"], lag["statistic"], lag["comparisonOperator"], lag["threshold"]) == (
        "UsageLagging",
        "Maximum",
        "GreaterThanThreshold",
        0,
    )
    # Published 1/0 on every run: a gap is the function not running.
    assert lag["treatMissingData"] == "breaching" and lag["evaluationPeriods"] == 2
    growth = found["alarms-tenant-growth"]
    assert (growth["metricName"], growth["statistic"], growth["threshold"]) == (
        "TenantGrowthMaxBytesPerHour",
        "Maximum",
        10 * 1024**3,
    )
    # Published only an hour after a usage service started, and only where one runs.
    assert growth["treatMissingData"] == "notBreaching" and growth["dimensions"] == {"Stack": "prod"}
    assert "10 GiB an hour" in growth["alarmDescription"]


def test_the_tenant_growth_alarm_follows_its_key_and_zero_turns_it_off() -> None:
    growth = alarms(run_prod(tenantGrowthAlarmGiBPerHour=50))["alarms-tenant-growth"]
    assert growth["threshold"] == 50 * 1024**3 and "50 GiB an hour" in growth["alarmDescription"]
    off = alarms(run_prod(tenantGrowthAlarmGiBPerHour=0))
    assert "alarms-tenant-growth" not in off and "alarms-usage-lagging" in off
