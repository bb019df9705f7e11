"""The pure topology model: what each stack runs and how."""

import json

import pytest
import yaml

from components.aws.placement import prod_topology
from components.docker.storage import dev_topology
from components.model.config import parse
from components.model.refs import Ref, refs_in
from components.model.topology import GRPC_OFFSET, Role
from tests.support.pulumi_harness import ROOT
from tests.support.stack_configs import prod


def flags(service) -> dict[str, str]:
    return dict(arg.lstrip("-").split("=", 1) if "=" in arg else (arg.lstrip("-"), "") for arg in service.args[1:])


def test_dev_topology_is_the_spec_dev_stack():
    topo = dev_topology(parse({"s3Enabled": True}, stack="dev"))
    assert [s.host for s in topo.services] == [
        "seaweedfs-master",
        "seaweedfs-volume",
        "seaweedfs-filer",
        "seaweedfs-s3",
    ]
    assert [s.role.http_port for s in topo.services] == [9333, 8080, 8888, 8333]
    master = flags(topo.service("master-0"))
    assert master["peers"] == "none" and master["defaultReplication"] == "000" and master["telemetry"] == "false"
    assert "defaultReplicaPlacement" not in master
    assert dict(topo.service("filer-0").env)["WEED_LEVELDB2_ENABLED"] == "true"
    # The HTTP tier AEGIS talks to, in front of the single filer, as on AWS.
    [lb] = topo.load_balancers
    assert (lb.host, lb.port) == ("seaweedfs-lb", 8888)
    assert " seaweedfs-filer:8888 check" in lb.config.content and "aegis_volume_delete" in lb.config.content


def test_grpc_port_is_http_plus_ten_thousand_everywhere():
    topo = dev_topology(parse({"s3Enabled": True}, stack="dev"))
    for service in topo.services:
        assert flags(service)["port.grpc"] == str(int(flags(service)["port"]) + GRPC_OFFSET)


def test_s3_gateway_is_left_out_unless_enabled():
    assert not dev_topology(parse({}, stack="dev")).of(Role.S3)


def test_s3_gateway_has_no_iceberg_or_lance_listeners_and_no_anonymous_identity():
    s3 = dev_topology(parse({"s3Enabled": True}, stack="dev")).service("s3-0")
    assert flags(s3)["port.iceberg"] == "0" and flags(s3)["port.lance"] == "0"
    identities = json.loads(s3.files[0].content)["identities"]
    assert {i["name"] for i in identities} == {"aegis-admin", "operator-readonly"}
    assert all(i["credentials"] for i in identities)
    readonly = next(i for i in identities if i["name"] == "operator-readonly")
    assert set(readonly["actions"]) == {"Read", "List"}
    assert set(refs_in(s3.files[0].content)) == {
        Ref.S3_ADMIN_ACCESS_KEY,
        Ref.S3_ADMIN_SECRET_KEY,
        Ref.S3_READONLY_ACCESS_KEY,
        Ref.S3_READONLY_SECRET_KEY,
    }


def test_jwt_signing_key_reaches_masters_volumes_and_filers_as_a_placeholder():
    topo = dev_topology(parse({}, stack="dev"))
    for service in topo.services:
        assert dict(service.env)["WEED_JWT_SIGNING_KEY"] == Ref.JWT_SIGNING_KEY.placeholder


def test_prod_masters_form_one_quorum_with_the_correct_replication_flag():
    topo = prod_topology(prod())
    masters = topo.of(Role.MASTER)
    assert len(masters) == 3
    peers = {flags(m)["peers"] for m in masters}
    assert peers == {
        "master-0.seaweedfs.internal:9333,master-1.seaweedfs.internal:9333,master-2.seaweedfs.internal:9333"
    }
    assert {flags(m)["defaultReplication"] for m in masters} == {"010"}


def test_prod_volume_servers_have_rack_per_zone_and_slots_from_disk():
    topo = prod_topology(prod())
    volumes = topo.of(Role.VOLUME)
    assert [flags(v)["rack"] for v in volumes] == ["us-east-1a", "us-east-1b", "us-east-1c"]
    assert {flags(v)["dataCenter"] for v in volumes} == {"us-east-1"}
    assert {flags(v)["max"] for v in volumes} == {str(1024 * 1024 // 4096)}
    assert {flags(v)["master"] for v in volumes} == {",".join(topo.master_addresses)}


def test_prod_filers_use_postgres2_with_leveldb_disabled():
    topo = prod_topology(prod())
    for filer in topo.of(Role.FILER):
        env = dict(filer.env)
        assert env["WEED_LEVELDB2_ENABLED"] == "false" and env["WEED_POSTGRES2_ENABLED"] == "true"
        assert env["WEED_POSTGRES2_PASSWORD"] == Ref.DB_PASSWORD.placeholder
        assert env["WEED_POSTGRES2_SSLMODE"] == "require"
        assert env["WEED_POSTGRES2_DATABASE"] == "seaweedfs"


def test_prod_haproxy_balances_every_filer():
    cfg = prod(filerCount=5)
    topo = prod_topology(cfg)
    assert len(topo.load_balancers) == 2
    assert [lb.rack for lb in topo.load_balancers] == ["us-east-1a", "us-east-1b"]
    for lb in topo.load_balancers:
        for filer in topo.of(Role.FILER):
            assert f" {filer.http_address} check" in lb.config.content
        assert "retry-on all-retryable-errors" in lb.config.content


@pytest.mark.parametrize("replication", ["000", "010"])
def test_filer_rules_give_every_aegis_volume_its_replication_and_no_ttl(replication):
    cfg = parse({"aegisReplication": replication}, stack="dev") if replication == "000" else prod()
    rules = json.loads(dev_topology(cfg).filer_rules if cfg.aws is None else prod_topology(cfg).filer_rules)
    # One collection for every tenant's bucket: its name is no valid tenant id or bucket name.
    location = {"locationPrefix": "/aegis/volumes/", "collection": "aegis_volumes", "replication": replication}
    assert rules == {"version": 1, "locations": [location]}
    assert not any("ttl" in location for location in rules["locations"])


def test_rules_job_copies_the_rules_file_to_the_filer_config_dir():
    topo = dev_topology(parse({}, stack="dev"))
    [job] = topo.jobs
    assert job.args == ("filer.copy", "/etc/seaweedfs/filer.conf", "http://seaweedfs-filer:8888/etc/seaweedfs/")
    assert job.files[0].content == topo.filer_rules


def test_expected_counts_follow_config():
    topo = prod_topology(prod())
    assert topo.expected[Role.MASTER] == 3 and topo.expected[Role.VOLUME] == 3 and topo.expected[Role.S3] == 1


def test_pulumi_yaml_is_loadable():
    assert yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["runtime"]["name"] == "python"
