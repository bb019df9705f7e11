"""The volume data disks' IOPS and throughput are checked against EC2's limits before a preview creates anything,
and the health function's runtime is one the provider knows and the check runs on."""

from __future__ import annotations

import pulumi_aws as aws
import pytest

from components.model.config.aws import LAMBDA_PYTHON_RUNTIMES
from components.model.config.disks import DiskPerformance, derived_iops
from tests.support.stack_configs import problems, prod


def test_gp3_keeps_ec2s_free_baseline_and_io_disks_get_iops_derived_from_their_size():
    assert prod().aws.instances.volume_disk == DiskPerformance(iops=None, throughput=None)
    assert prod(volumeDiskType="io2").aws.instances.volume_disk.iops == 3072  # 3 per GiB of 1024 GiB
    assert derived_iops("io2", 100) == 3000  # never below what gp3 gives for free
    assert derived_iops("io2", 200_000) == 256_000  # io2's ceiling
    assert derived_iops("io1", 20) == 1000  # io1: at most 50 per GiB
    assert derived_iops("gp3", 1024) is None and derived_iops("st1", 1024) is None


def test_chosen_values_within_the_limits_reach_the_settings():
    disk = prod(volumeDiskType="io2", volumeDiskIops=64000).aws.instances.volume_disk
    assert disk == DiskPerformance(iops=64000, throughput=None)
    disk = prod(volumeDiskIops=12000, volumeDiskThroughput=1000).aws.instances.volume_disk
    assert disk == DiskPerformance(iops=12000, throughput=1000)


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        (
            {"volumeDiskType": "io2", "volumeDiskIops": 2_000_000},
            "aegis-storage:volumeDiskIops = 2000000: a 1024 GiB io2 disk takes 100-256000 IOPS (at most 1000 per GiB"
            " and 256000 in all). Fix: pulumi config set volumeDiskIops 0 (3072 IOPS, derived from the disk size),"
            " or a value in that range",
        ),
        (
            {"volumeDiskType": "io1", "volumeDiskIops": 60000},
            "aegis-storage:volumeDiskIops = 60000: a 1024 GiB io1 disk takes 100-51200 IOPS",
        ),
        ({"volumeDiskIops": 1000}, "aegis-storage:volumeDiskIops = 1000: a 1024 GiB gp3 disk takes 3000-80000 IOPS"),
        ({"volumeDiskType": "st1", "volumeDiskIops": 500}, "volumeDiskIops = 500: st1 disks take no provisioned IOPS"),
        (
            {"volumeDiskThroughput": 1000},
            "aegis-storage:volumeDiskThroughput = 1000: a gp3 disk with 3000 IOPS takes 125-750 MiB/s",
        ),
        (
            {"volumeDiskType": "io2", "volumeDiskThroughput": 500},
            "volumeDiskThroughput = 500: only gp3 disks take a provisioned throughput, not io2",
        ),
    ],
)
def test_a_value_ec2_would_refuse_fails_with_one_line_naming_the_key_the_value_and_the_fix(overrides, line):
    (problem,) = problems(_platform="aws", **overrides)
    assert problem.startswith(line) or line in problem
    assert "Fix: pulumi config set" in problem and "\n" not in problem


def test_the_health_function_runtime_is_a_provider_runtime_the_check_runs_on():
    provider = {r.value for r in aws.lambda_.Runtime if r.value.startswith("python3.")}
    assert set(LAMBDA_PYTHON_RUNTIMES) == {r for r in provider if int(r.split(".")[1]) >= 11}
    assert prod().aws.watch.runtime == "python3.11"
    assert prod(healthFunctionRuntime="python3.13").aws.watch.runtime == "python3.13"
    (problem,) = problems(_platform="aws", healthFunctionRuntime="python3.10")
    assert problem.startswith('aegis-storage:healthFunctionRuntime = "python3.10": is not a Lambda Python runtime')


def test_the_tenant_growth_alarm_key_names_its_range() -> None:
    assert prod(tenantGrowthAlarmGiBPerHour=0).aws.watch.tenant_growth_alarm_gib_per_hour == 0
    (problem,) = problems(_platform="aws", tenantGrowthAlarmGiBPerHour=-1)
    assert problem.startswith("aegis-storage:tenantGrowthAlarmGiBPerHour = -1: must be 0-100000")
    assert "pulumi config set tenantGrowthAlarmGiBPerHour 10" in problem
