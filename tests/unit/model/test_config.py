"""Config validation: every bad input fails with one message naming the key, the value and the fix."""

import json

import pytest

from components.model import config
from components.model.config import ConfigError, Platform, parse
from tests.support.stack_configs import PROD, problems, prod


def test_defaults_make_a_valid_single_node_dev_stack():
    cfg = parse({}, stack="dev")
    assert cfg.platform is Platform.DOCKER
    assert (cfg.master_count, cfg.volume_server_count, cfg.filer_count) == (1, 1, 1)
    assert cfg.aegis_replication == "000"
    assert cfg.aws is None


def test_shipped_prod_config_is_valid_and_sized_to_the_spec():
    cfg = prod()
    assert cfg.master_count == 3 and cfg.aws is not None
    assert cfg.aws.instances.volume_disk_gib >= 1024
    assert cfg.aws.instances.volume_instance_type == "c6i.xlarge"
    assert cfg.aws.instances.master_instance_type == "c6i.large"


@pytest.mark.parametrize("count", [2, 4, 1])
def test_prod_master_count_must_be_odd_and_at_least_three(count):
    [message] = problems(_platform="aws", masterCount=count)
    assert message.startswith(f"aegis-storage:masterCount = {count}: ")
    assert "odd number of masters" in message and "Fix: pulumi config set masterCount 3" in message


@pytest.mark.parametrize("value", ["0011", "01", "abc", "0x1"])
def test_replication_must_be_three_digits(value):
    [message] = problems(aegisReplication=value)
    assert f'aegis-storage:aegisReplication = "{value}"' in message and "three digits" in message


@pytest.mark.parametrize(
    ("key", "value", "minimum"),
    [("volumeDiskGiB", 500, "1024"), ("masterDiskGiB", 10, "20"), ("filerDiskGiB", 19, "20")],
)
def test_disks_under_the_spec_minimum_fail(key, value, minimum):
    [message] = problems(_platform="aws", **{key: value})
    assert f"aegis-storage:{key} = {value}" in message and f"minimum of {minimum} GiB" in message


def test_instance_type_under_the_spec_minimum_fails():
    [message] = problems(_platform="aws", volumeInstanceType="c6i.large")
    assert "aegis-storage:volumeInstanceType" in message and "below the spec's volume minimum" in message
    assert "Fix: pulumi config set volumeInstanceType c6i.xlarge" in message


def test_counts_under_the_spec_minimum_fail():
    assert any("volumeServerCount = 2" in p for p in problems(_platform="aws", volumeServerCount=2))
    assert any("filerCount = 2" in p for p in problems(_platform="aws", filerCount=2))


@pytest.mark.parametrize("url", ["ftp://filer:8888", "seaweedfs-filer:8888", "http://"])
def test_filer_url_must_be_http(url):
    [message] = problems(aegisFilerUrl=url)
    assert "aegis-storage:aegisFilerUrl" in message and "http(s) URL" in message


def test_external_database_without_password_is_a_missing_secret():
    messages = problems(_platform="aws", databaseMode="external", databaseHost="pg.internal")
    assert messages == [
        "aegis-storage:databasePassword is missing: external databaseMode needs the filers' PostgreSQL password. "
        "Fix: pulumi config set --secret databasePassword <password>"
    ]


def test_database_password_in_plain_text_is_refused():
    with pytest.raises(ConfigError) as err:
        parse(
            {**PROD, "databaseMode": "external", "databaseHost": "pg", "databasePassword": "hunter2"},
            stack="prod",
            aws_region="us-east-1",
        )
    [message] = err.value.problems
    assert "stored in plain text" in message and "hunter2" not in message


def test_secret_database_password_is_accepted():
    raw = {**PROD, "databaseMode": "external", "databaseHost": "pg", "databasePassword": "x"}
    cfg = parse(raw, stack="prod", aws_region="us-east-1", secret_keys={"databasePassword"})
    assert cfg.aws.database.host == "pg"


def test_same_rack_replication_with_one_server_per_zone_is_rejected_with_the_fix():
    [message] = problems(_platform="aws", aegisReplication="001")
    assert "needs 2 volume servers in one rack" in message
    assert "use 010" in message and "volumeServerCount" in message


def test_same_rack_replication_is_placeable_with_two_servers_per_zone():
    cfg = prod(aegisReplication="001", volumeServerCount=6)
    assert cfg.aegis_replication == "001"


def test_cross_data_center_replication_is_rejected():
    assert any("data centers" in p for p in problems(_platform="aws", defaultReplication="100"))


def test_dev_stack_only_places_single_copies():
    [message] = problems(aegisReplication="001")
    assert "one volume server" in message and "pulumi config set aegisReplication 000" in message


def test_dev_stack_is_single_node():
    assert any("masterCount = 3" in p for p in problems(masterCount=3))


def test_s3_gateway_needs_operator_networks_and_never_the_internet():
    assert any("operatorCidrs" in p and "no operator network" in p for p in problems(_platform="aws", operatorCidrs=[]))
    assert any("whole internet" in p for p in problems(_platform="aws", operatorCidrs=["0.0.0.0/0"]))


def test_orchestrators_need_a_way_in():
    messages = problems(_platform="aws", orchestratorCidrs=[])
    assert any("orchestratorSecurityGroupId" in p for p in messages)


def test_all_problems_are_reported_together():
    messages = problems(_platform="aws", masterCount=2, aegisReplication="0011", volumeDiskGiB=1)
    assert len(messages) == 3


def test_misspelt_key_is_reported():
    [message] = problems(mastercount=1)
    assert "aegis-storage:mastercount" in message and "not a key of this project" in message


def test_wrong_type_is_reported():
    [message] = problems(volumeSizeLimitMB="lots")
    assert "aegis-storage:volumeSizeLimitMB" in message and "not a valid integer" in message


@pytest.mark.parametrize(
    ("key", "value", "reason", "fix"),
    [
        ("tenantIds", ["t-one"], "created at run time", "pulumi config rm tenantIds"),
        ("ephemeralVolumePrefix", "eph-", "without a class prefix", "pulumi config rm ephemeralVolumePrefix"),
        ("ephemeralTtl", "24h", "would delete customer data", "pulumi config rm ephemeralTtl"),
        ("ephemeralReplication", "000", "applies to all AEGIS data", "pulumi config rm ephemeralReplication"),
        ("persistentReplication", "010", "aegisReplication", "pulumi config set aegisReplication 010"),
    ],
)
def test_storage_class_keys_are_retired_with_the_reason_and_what_to_do(key, value, reason, fix):
    [message] = problems(**{key: value})
    assert message.startswith(f"aegis-storage:{key} = {json.dumps(value)}: is retired: ")
    assert reason in message and "Fix: " in message and fix in message.split("Fix: ", 1)[1]


def test_a_ttl_on_aegis_data_cannot_be_configured_at_all():
    ttl_keys = [key for key in config.schema() if "ttl" in key.lower()]
    # defaultTtlHours is AEGIS's own expiry setting, written into its NodeConfig, never a filer rule.
    assert ttl_keys == ["defaultTtlHours"]
    [message] = problems(ephemeralTtl="7d")
    assert "/aegis/volumes/" in message and "persistent volumes" in message


def test_dr_snapshots_need_one_per_volume_server():
    [message] = problems(_platform="aws", volumeSnapshotIds=["snap-1"])
    assert "one snapshot per volume server (3)" in message
