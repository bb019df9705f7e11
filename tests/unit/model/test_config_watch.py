"""The health function's schedule and alarm settings: defaults, and one message per bad value."""

from __future__ import annotations

import pytest

from components.model.config import ConfigError
from tests.support.stack_configs import prod


def test_defaults_create_a_topic_and_run_every_five_minutes() -> None:
    settings = prod().aws.watch
    assert settings is not None
    assert settings.schedule_minutes == 5
    assert settings.alarm_topic_arn == ""


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("healthScheduleMinutes", 0, "must be 1-60 minutes"),
        ("healthScheduleMinutes", 61, "must be 1-60 minutes"),
        ("alarmTopicArn", "storage-oncall", "is not an SNS topic ARN"),
        ("healthTimeoutSeconds", 841, "the in-VPC gate (one Lambda run) waits at most 840 s"),
    ],
)
def test_a_bad_value_is_one_problem_naming_the_key_and_the_fix(key: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError) as failure:
        prod(**{key: value})
    [problem] = failure.value.problems
    assert problem.startswith(f"aegis-storage:{key} = ")
    assert message in problem and "Fix: pulumi config set " + key in problem


def test_a_topic_arn_is_kept() -> None:
    arn = "arn:aws:sns:us-east-1:123456789012:storage-oncall"
    settings = prod(alarmTopicArn=arn).aws.watch
    assert settings is not None and settings.alarm_topic_arn == arn
