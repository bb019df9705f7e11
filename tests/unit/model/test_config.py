"""Config validation: every bad input fails with one message naming the key, the value and the fix."""

import pytest
import yaml

from components.model import config
from components.model.config import ConfigError, Platform, parse
from tests.pulumi_harness import ROOT

PROD = {k.split(":", 1)[1]: v for k, v in yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())["config"].items()}
PROD_CONFIG = {k: v for k, v in PROD.items() if k != "region"}


def prod(**overrides):
    return parse({**PROD_CONFIG, **overrides}, stack="prod", aws_region="us-east-1")


def problems(**kwargs) -> list[str]:
    platform = kwargs.pop("_platform", "docker")
    base = PROD_CONFIG if platform == "aws" else {}
    with pytest.raises(ConfigError) as err:
        parse({**base, **kwargs}, stack="t", aws_region="us-east-1")
    return err.value.problems


def test_defaults_make_a_valid_single_node_dev_stack():
    cfg = parse({}, stack="dev")
    assert cfg.platform is Platform.DOCKER
    assert (cfg.master_count, cfg.volume_server_count, cfg.filer_count) == (1, 1, 1)
    assert cfg.tenant_ids == (config.DEFAULT_TENANT_ID,)
    assert cfg.aws is None


def test_shipped_prod_config_is_valid_and_sized_to_the_spec():
    cfg = prod()
    assert cfg.master_count == 3 and cfg.aws is not None
    assert cfg.aws.volume_disk_gib >= 1024
    assert cfg.aws.volume_instance_type == "c6i.xlarge"
    assert cfg.aws.master_instance_type == "c6i.large"


@pytest.mark.parametrize("count", [2, 4, 1])
def test_prod_master_count_must_be_odd_and_at_least_three(count):
    [message] = problems(_platform="aws", masterCount=count)
    assert message.startswith(f"aegis-storage:masterCount = {count}: ")
    assert "odd number of masters" in message and "Fix: pulumi config set masterCount 3" in message


@pytest.mark.parametrize("value", ["0011", "01", "abc", "0x1"])
def test_replication_must_be_three_digits(value):
    [message] = problems(persistentReplication=value)
    assert f'aegis-storage:persistentReplication = "{value}"' in message and "three digits" in message


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


@pytest.mark.parametrize("tenant", ["Tenant1", "tenant_1", "ab", "192.168.1.1", "a..b"])
def test_tenant_ids_must_be_bucket_names(tenant):
    [message] = problems(tenantIds=[tenant])
    assert "aegis-storage:tenantIds" in message and "S3 bucket name" in message


def test_external_database_without_password_is_a_missing_secret():
    messages = problems(_platform="aws", databaseMode="external", databaseHost="pg.internal")
    assert messages == [
        "aegis-storage:databasePassword is missing: external databaseMode needs the filers' PostgreSQL password. "
        "Fix: pulumi config set --secret databasePassword <password>"
    ]


def test_database_password_in_plain_text_is_refused():
    with pytest.raises(ConfigError) as err:
        parse(
            {**PROD_CONFIG, "databaseMode": "external", "databaseHost": "pg", "databasePassword": "hunter2"},
            stack="prod",
            aws_region="us-east-1",
        )
    [message] = err.value.problems
    assert "stored in plain text" in message and "hunter2" not in message


def test_secret_database_password_is_accepted():
    raw = {**PROD_CONFIG, "databaseMode": "external", "databaseHost": "pg", "databasePassword": "x"}
    cfg = parse(raw, stack="prod", aws_region="us-east-1", secret_keys={"databasePassword"})
    assert cfg.aws.database_host == "pg"


def test_same_rack_replication_with_one_server_per_zone_is_rejected_with_the_fix():
    [message] = problems(_platform="aws", persistentReplication="001")
    assert "needs 2 volume servers in one rack" in message
    assert "use 010" in message and "volumeServerCount" in message


def test_same_rack_replication_is_placeable_with_two_servers_per_zone():
    cfg = prod(persistentReplication="001", volumeServerCount=6)
    assert cfg.persistent.replication == "001"


def test_cross_data_center_replication_is_rejected():
    assert any("data centers" in p for p in problems(_platform="aws", defaultReplication="100"))


def test_dev_stack_only_places_single_copies():
    [message] = problems(persistentReplication="001")
    assert "one volume server" in message and "pulumi config set persistentReplication 000" in message


def test_dev_stack_is_single_node():
    assert any("masterCount = 3" in p for p in problems(masterCount=3))


def test_s3_gateway_needs_operator_networks_and_never_the_internet():
    assert any("operatorCidrs" in p and "no operator network" in p for p in problems(_platform="aws", operatorCidrs=[]))
    assert any("whole internet" in p for p in problems(_platform="aws", operatorCidrs=["0.0.0.0/0"]))


def test_orchestrators_need_a_way_in():
    messages = problems(_platform="aws", orchestratorCidrs=[])
    assert any("orchestratorSecurityGroupId" in p for p in messages)


def test_all_problems_are_reported_together():
    messages = problems(_platform="aws", masterCount=2, persistentReplication="0011", volumeDiskGiB=1)
    assert len(messages) == 3


def test_misspelt_key_is_reported():
    [message] = problems(mastercount=1)
    assert "aegis-storage:mastercount" in message and "not a key of this project" in message


def test_wrong_type_is_reported():
    [message] = problems(volumeSizeLimitMB="lots")
    assert "aegis-storage:volumeSizeLimitMB" in message and "not a valid integer" in message


@pytest.mark.parametrize("ttl", ["0h", "256d", "24", "1x"])
def test_ttl_must_be_a_seaweedfs_ttl(ttl):
    [message] = problems(ephemeralTtl=ttl)
    assert "aegis-storage:ephemeralTtl" in message


def test_dr_snapshots_need_one_per_volume_server():
    [message] = problems(_platform="aws", volumeSnapshotIds=["snap-1"])
    assert "one snapshot per volume server (3)" in message
