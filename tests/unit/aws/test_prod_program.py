"""The real `__main__.py` for the prod stack under Pulumi's mocks: the resource graph the engine would get."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from components.aws.placement import prod_topology
from components.aws.security import SourceKind
from components.model import sizing
from tests.support import stack_configs
from tests.support.prod_ingress import PROD_MATRIX
from tests.support.prod_program import (
    ACCOUNT,
    AMI,
    CALLS,
    DB_ADDRESS,
    EBS,
    ENI,
    INGRESS,
    INSTANCE,
    NLB_DNS,
    SECRET_MARK,
    SSM,
    SUBNET,
    Run,
    execute,
)
from tests.support.pulumi_harness import RecordingMonitor, Registration, run_program
from tests.support.stack_configs import PROD, REGION

# The design plus the usage service beside each HAProxy, which reads the filers' metadata stream over gRPC.
DESIGNED = PROD_MATRIX | {("filer", 18888, SourceKind.TIER, "lb")}

ZONES = {"us-east-1a", "us-east-1b", "us-east-1c"}


def test_three_masters_in_three_zones_share_one_peer_list(prod: Run) -> None:
    masters = prod.instances("master-")
    assert [m.name for m in masters] == ["master-0", "master-1", "master-2"]
    assert {prod.zone(m.name) for m in masters} == ZONES
    peers = {next(a for a in prod.weed_args(m.name) if a.startswith("-peers=")) for m in masters}
    assert len(peers) == 1
    (peer_list,) = peers
    assert sorted(peer_list.removeprefix("-peers=").split(",")) == [
        f"master-{i}.seaweedfs.internal:9333" for i in range(3)
    ]
    for m in masters:
        record = prod.one("aws:route53/record:Record", f"{m.name}-dns")
        assert record.inputs["name"] == f"{m.name}.seaweedfs.internal"
        assert record.inputs["type"] == "A"
        assert record.inputs["zoneId"] == "Z0PRIVATEZONE"
        assert record.inputs["records"] == [prod.addresses[f"{m.name}-eni"]]
        assert m.inputs["instanceType"] == sizing.smallest_instance_type(sizing.MASTER).name


def test_every_instance_runs_the_models_command_line(prod: Run) -> None:
    topology = prod_topology(stack_configs.prod())
    assert len(prod.run.of_type(INSTANCE)) == len(topology.services) + len(topology.load_balancers)
    for service in topology.services:
        assert prod.weed_args(service.name) == list(service.args)


def test_rds_is_multi_az_encrypted_private_and_hard_to_lose(prod: Run) -> None:
    aws_cfg = stack_configs.prod().aws
    assert aws_cfg is not None
    (db,) = prod.run.of_type("aws:rds/instance:Instance")
    expected = {
        "engine": "postgres",
        "engineVersion": aws_cfg.database.engine_version,
        "multiAz": True,
        "storageEncrypted": True,
        "publiclyAccessible": False,
        "deletionProtection": True,
        "skipFinalSnapshot": False,
        "deleteAutomatedBackups": False,
        "finalSnapshotIdentifier": "aegis-storage-prod-final",
        "backupRetentionPeriod": aws_cfg.database.backup_retention_days,
        "copyTagsToSnapshot": True,
        "storageType": "gp3",
        "allocatedStorage": aws_cfg.database.storage_gib,
        "maxAllocatedStorage": 10 * aws_cfg.database.storage_gib,
        "dbName": aws_cfg.database.name,
        "username": aws_cfg.database.user,
        "applyImmediately": False,
        "vpcSecurityGroupIds": ["sg-db-id"],
    }
    assert {key: db.inputs.get(key) for key in expected} == expected
    assert "snapshotIdentifier" not in db.inputs
    assert db.protect
    assert db.secret("password")
    assert db.inputs["password"] == "generated-seaweedfs-db-password"
    (group,) = prod.run.of_type("aws:rds/parameterGroup:ParameterGroup")
    assert group.inputs["family"] == "postgres15"
    assert {"name": "rds.force_ssl", "value": "1"} in [
        {k: p[k] for k in ("name", "value")} for p in group.inputs["parameters"]
    ]
    assert db.inputs["parameterGroupName"] == f"{group.name}-0a1b2c3"
    assert db.inputs["dbSubnetGroupName"] == "metadata-db-subnets-0a1b2c3"


def test_volume_servers_use_the_smallest_fitting_type_and_big_encrypted_disks(prod: Run) -> None:
    volumes = prod.instances("volume-")
    assert len(volumes) == 3
    assert {prod.zone(v.name) for v in volumes} == ZONES
    for server in volumes:
        assert server.inputs["instanceType"] == sizing.smallest_instance_type(sizing.VOLUME).name
        disk = prod.one(EBS, f"{server.name}-data")
        assert disk.inputs["size"] >= 1024
        assert disk.inputs["encrypted"] is True
        assert disk.inputs["availabilityZone"] == prod.zone(server.name)
        attachment = prod.one("aws:ec2/volumeAttachment:VolumeAttachment", f"{server.name}-data")
        assert attachment.inputs["volumeId"] == f"{disk.name}-id"
        assert attachment.inputs["instanceId"] == f"{server.name}-id"
        assert attachment.inputs["stopInstanceBeforeDetaching"] is True
        # The node finds this very disk by its volume id.
        prepare = prod.files(server.name)["/usr/local/sbin/aegis-prepare-data-disk"]
        assert f"device=/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_{disk.name.replace('-', '')}id\n" in prepare
    masters_disks = [prod.one(EBS, f"master-{i}-data") for i in range(3)]
    assert all(d.inputs["type"] == "gp3" and d.inputs["size"] == 20 for d in masters_disks)
    assert not [r for r in prod.run.of_type(EBS) if r.name.startswith(("filer-", "lb-", "s3-"))]


def _ingress(run: Run) -> set[tuple[str, int, Any, str]]:
    tiers = {f"{g.name}-id": g.name.removeprefix("sg-") for g in run.run.of_type("aws:ec2/securityGroup:SecurityGroup")}
    rules = set()
    for rule in run.run.of_type(INGRESS):
        inputs = rule.inputs
        assert inputs["ipProtocol"] == "tcp"
        assert inputs["fromPort"] == inputs["toPort"]
        if "cidrIpv4" in inputs:
            source: tuple[Any, str] = ("cidr", inputs["cidrIpv4"])
        elif inputs["referencedSecurityGroupId"] in tiers:
            source = ("tier", tiers[inputs["referencedSecurityGroupId"]])
        else:
            source = ("security_group", inputs["referencedSecurityGroupId"])
        rules.add((tiers[inputs["securityGroupId"]], inputs["fromPort"], *source))
    assert len(rules) == len(run.run.of_type(INGRESS)), "duplicate ingress rules"
    return rules


def test_security_group_ingress_is_exactly_the_matrix(prod: Run) -> None:
    assert _ingress(prod) == {(tier, port, kind.value, source) for tier, port, kind, source in DESIGNED}
    for rule in prod.run.of_type(INGRESS):
        assert rule.inputs.get("cidrIpv4") != "0.0.0.0/0"
        assert rule.inputs.get("cidrIpv6") != "::/0"
    groups = prod.run.of_type("aws:ec2/securityGroup:SecurityGroup")
    assert sorted(g.name for g in groups) == sorted(
        f"sg-{t}" for t in ("nlb", "lb", "filer", "master", "volume", "s3", "db", "health")
    )
    assert {g.inputs["vpcId"] for g in groups} == {"network-vpc-id"}
    egress = prod.run.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
    assert sorted(e.inputs["securityGroupId"] for e in egress) == sorted(f"{g.name}-id" for g in groups)


def test_orchestrator_security_group_reaches_the_nlb_only() -> None:
    run = execute(orchestratorSecurityGroupId="sg-0orchestrators")
    assert {r for r in _ingress(run) if r[2] == "security_group"} == {
        ("nlb", 8888, "security_group", "sg-0orchestrators")
    }


def test_stateful_resources_are_protected(prod: Run) -> None:
    for eni in prod.run.of_type(ENI):
        assert eni.protect is eni.name.startswith("master-"), eni.name
    disks = prod.run.of_type(EBS)
    assert len(disks) == 6
    assert all(d.protect and d.retain_on_delete for d in disks)
    assert all(r.protect for r in prod.run.of_type("aws:rds/instance:Instance"))
    assert prod.one("aws:route53/zone:Zone", "network-zone").protect
    # Instances are cattle: nothing else is protected.
    assert not [r.name for r in prod.run.of_type(INSTANCE) if r.protect]


def test_instances_are_hardened_and_replaced_cleanly(prod: Run) -> None:
    for node in prod.run.of_type(INSTANCE):
        inputs = node.inputs
        assert inputs["ami"] == AMI
        assert inputs["metadataOptions"]["httpTokens"] == "required"
        assert inputs["maintenanceOptions"] == {"autoRecovery": "default"}
        assert inputs["rootBlockDevice"]["encrypted"] is True
        assert inputs["userDataReplaceOnChange"] is True
        assert inputs["primaryNetworkInterface"] == {
            "networkInterfaceId": f"{node.name}-eni-id",
            "deleteOnTermination": False,
        }
        options = prod.options[(INSTANCE, node.name)]
        assert options["delete_before_replace"] is True
        # A newer "latest" AMI must not replace the whole cluster on the next `pulumi up`.
        assert options["ignore_changes"] == ["ami"]
        assert len(inputs["userData"].encode()) < 16 * 1024
    assert prod.one(INSTANCE, "filer-0").inputs["rootBlockDevice"]["volumeSize"] == 20


def test_a_pinned_ami_is_used_as_is_and_rolls_out() -> None:
    run = execute(amiId="ami-0pinned")
    assert not [token for token, _ in run.run.invokes if token == "aws:ec2/getAmi:getAmi"]
    for node in run.run.of_type(INSTANCE):
        assert node.inputs["ami"] == "ami-0pinned"
        assert run.options[(INSTANCE, node.name)]["ignore_changes"] == []


def _leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _leaves(item, f"{path}[{i}]")
    else:
        yield path, value


def _under_secret(registration: Registration, path: str) -> bool:
    return any(path == s or path.startswith((s + ".", s + "[")) for s in registration.secret_paths)


def test_secrets_appear_only_in_secret_inputs_and_never_in_user_data(prod: Run) -> None:
    protected = 0
    for registration in prod.run.registrations:
        for path, leaf in _leaves(registration.inputs):
            if isinstance(leaf, str) and SECRET_MARK in leaf:
                assert _under_secret(registration, path), f"{registration.type} {registration.name} {path}"
                protected += 1
    assert protected == 6 + 1  # the six SSM parameters and the RDS master password
    for node in prod.run.of_type(INSTANCE):
        assert not node.secret("userData"), node.name
        assert SECRET_MARK not in node.inputs["userData"]
    filer = prod.files("filer-0")["/etc/aegis/seaweedfs-filer-0/templates/env"]
    assert "WEED_POSTGRES2_PASSWORD={{db_password}}" in filer
    assert f"WEED_POSTGRES2_HOSTNAME={DB_ADDRESS}\n" in filer


def test_no_secret_in_a_plain_stack_output(prod: Run) -> None:
    for key, value in prod.run.outputs.items():
        if key not in prod.run.secret_outputs:
            assert SECRET_MARK not in json.dumps(value), key
    assert {k for k in prod.run.outputs if k.startswith("s3_") and k.endswith("_key")} <= prod.run.secret_outputs
    assert len(prod.run.secret_outputs) == 4


def test_secrets_live_in_secure_string_parameters_read_by_their_tier_only(prod: Run) -> None:
    parameters = {p.inputs["name"]: p for p in prod.run.of_type(SSM) if "/nodes/" not in p.inputs["name"]}
    refs = [
        "jwt_signing_key",
        "db_password",
        *(f"s3_{w}_{k}_key" for w in ("admin", "readonly") for k in ("access", "secret")),
    ]
    assert sorted(parameters) == sorted(f"/aegis-storage/prod/{ref}" for ref in refs)
    for name, parameter in parameters.items():
        ref = name.rsplit("/", 1)[1]
        assert parameter.inputs["type"] == "SecureString"
        assert parameter.secret("value")
        assert parameter.inputs["value"] == f"generated-seaweedfs-{ref.replace('_', '-')}"

    def readable(tier: str) -> list[str]:
        policy = json.loads(prod.one("aws:iam/rolePolicy:RolePolicy", f"secrets-{tier}-read-secrets").inputs["policy"])
        ssm, kms = policy["Statement"]
        assert ssm["Action"] == ["ssm:GetParameter", "ssm:GetParameters"]
        assert kms["Action"] == "kms:Decrypt"
        assert kms["Resource"] == f"arn:aws:kms:{REGION}:{ACCOUNT}:key/*"
        assert kms["Condition"] == {"StringEquals": {"kms:ViaService": f"ssm.{REGION}.amazonaws.com"}}
        prefix = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/aegis-storage/prod/"
        assert all(arn.startswith(prefix) for arn in ssm["Resource"])
        return sorted(arn.removeprefix(prefix) for arn in ssm["Resource"])

    assert readable("master") == readable("volume") == ["jwt_signing_key"]
    assert readable("filer") == ["db_password", "jwt_signing_key"]
    assert readable("s3") == sorted(refs[2:])
    policies = [r.name for r in prod.run.of_type("aws:iam/rolePolicy:RolePolicy")]
    assert "secrets-lb-read-secrets" not in policies and "secrets-lb-read-node-config" in policies
    for node in prod.run.of_type(INSTANCE):
        tier = node.name.split("-")[0]
        assert node.inputs.get("iamInstanceProfile") == f"aegis-storage-prod-{tier}"


def test_nlb_is_internal_and_forwards_the_filer_admin_and_s3_ports(prod: Run) -> None:
    (nlb,) = prod.run.of_type("aws:lb/loadBalancer:LoadBalancer")
    assert nlb.inputs["internal"] is True
    assert nlb.inputs["loadBalancerType"] == "network"
    assert nlb.inputs["enableCrossZoneLoadBalancing"] is True
    assert nlb.inputs["securityGroups"] == ["sg-nlb-id"]
    assert len(nlb.inputs["subnets"]) == 3
    listeners = {x.inputs["port"]: x for x in prod.run.of_type("aws:lb/listener:Listener")}
    assert sorted(listeners) == [8333, 8888, 8889]
    groups = {g.inputs["port"]: g for g in prod.run.of_type("aws:lb/targetGroup:TargetGroup")}
    haproxy_check, s3_check = ("HTTP", "/healthz", "8404"), ("HTTP", "/healthz", "8333")
    checks = [(8888, haproxy_check), (8889, haproxy_check), (8333, s3_check)]
    for port, probe in checks:
        check = groups[port].inputs["healthCheck"]
        assert (check["protocol"], check["path"], check["port"]) == probe
        assert (groups[port].inputs["protocol"], groups[port].inputs["targetType"]) == ("TCP", "ip")
    lbs = prod.instances("lb-")
    assert len({prod.zone(lb.name) for lb in lbs}) == 2
    attachments = prod.run.of_type("aws:lb/targetGroupAttachment:TargetGroupAttachment")
    targets = {(a.inputs["targetGroupArn"], a.inputs["port"], a.inputs["targetId"]) for a in attachments}
    assert targets == {
        *(("arn:targetgroup/filer-lb-filer", 8888, prod.addresses[f"{lb.name}-eni"]) for lb in lbs),
        *(("arn:targetgroup/filer-lb-admin", 8889, prod.addresses[f"{lb.name}-eni"]) for lb in lbs),
        ("arn:targetgroup/filer-lb-s3", 8333, prod.addresses["s3-0-eni"]),
    }
    forwards = {port: x.inputs["defaultActions"][0]["targetGroupArn"] for port, x in listeners.items()}
    assert forwards == {
        8888: "arn:targetgroup/filer-lb-filer",
        8889: "arn:targetgroup/filer-lb-admin",
        8333: "arn:targetgroup/filer-lb-s3",
    }
    assert {x.inputs["loadBalancerArn"] for x in listeners.values()} == {"arn:nlb/filer-lb-nlb"}
    outputs = prod.run.outputs
    assert outputs["filer_url"] == f"http://{NLB_DNS}:8888"
    assert outputs["s3_endpoint"] == f"http://{NLB_DNS}:8333"
    assert f"filer_url: http://{NLB_DNS}:8888" in outputs["aegis_node_config"]
    assert outputs["health_target"]["master_urls"] == [f"http://master-{i}.seaweedfs.internal:9333" for i in range(3)]
    assert outputs["health_target"]["filer_addresses"] == [
        f"http://filer-{i}.seaweedfs.internal:8888" for i in range(3)
    ]
    # Read from inside the VPC, where each volume server's /status (disk use) is reachable.
    assert outputs["health_target"]["volume_server_urls"] == [
        f"http://volume-{i}.seaweedfs.internal:8080" for i in range(3)
    ]
    assert (outputs["health_target"]["min_free_volume_slots"], outputs["health_target"]["min_free_disk_percent"]) == (
        12,
        10,
    )


def test_five_filers_get_five_instances_and_five_haproxy_backends() -> None:
    run = execute(filerCount=5)
    assert [f.name for f in run.instances("filer-")] == [f"filer-{i}" for i in range(5)]
    for lb in run.instances("lb-"):
        config_text = run.files(lb.name)[f"/etc/aegis/seaweedfs-{lb.name}/templates/etc/haproxy/haproxy.cfg"]
        servers = [line.split()[2] for line in config_text.splitlines() if line.strip().startswith("server filer-")]
        assert servers == [f"filer-{i}.seaweedfs.internal:8888" for i in range(5)]


def test_children_are_parented_by_their_components(prod: Run) -> None:
    by_urn = prod.by_urn
    for registration in prod.run.registrations:
        parent = by_urn.get(registration.parent)
        if registration.custom:
            assert parent is not None and parent.type.startswith("aegis:storage:"), registration.name
        else:
            assert registration.type.startswith("aegis:storage:")
    expected_owner = {
        "master": "MasterQuorum",
        "volume": "VolumeServers",
        "filer": "FilerPool",
        "s3": "S3Gateway",
        "lb": "FilerLoadBalancer",
    }
    for node in prod.run.of_type(INSTANCE):
        cluster_node = by_urn[node.parent]
        assert cluster_node.type == "aegis:storage:ClusterNode"
        assert by_urn[cluster_node.parent].type == f"aegis:storage:{expected_owner[node.name.split('-')[0]]}"
    owners = {
        "aws:rds/instance:Instance": "MetadataDatabase",
        SSM: "SecretAccess",
        INGRESS: "SecurityGroups",
        "aws:route53/zone:Zone": "Network",
        "aws:lb/loadBalancer:LoadBalancer": "FilerLoadBalancer",
        "random:index/randomPassword:RandomPassword": "ClusterSecrets",
    }
    for type_, owner in owners.items():
        registrations = prod.run.of_type(type_)
        if type_ == SSM:  # node documents belong to their node
            registrations = [r for r in registrations if "/nodes/" not in r.inputs["name"]]
        assert {by_urn[r.parent].type for r in registrations} == {f"aegis:storage:{owner}"}


def test_an_existing_vpc_is_used_as_given() -> None:
    subnets = ["subnet-0a", "subnet-0b", "subnet-0c"]
    run = execute(vpcId="vpc-0existing", privateSubnetIds=subnets)
    created = {"aws:ec2/vpc:Vpc", SUBNET, "aws:ec2/natGateway:NatGateway", "aws:ec2/internetGateway:InternetGateway"}
    assert not [r for r in run.run.registrations if r.type in created]
    zone = run.one("aws:route53/zone:Zone", "network-zone")
    assert zone.inputs["vpcs"] == [{"vpcId": "vpc-0existing", "vpcRegion": REGION}]
    for i in range(3):
        assert run.one(ENI, f"master-{i}-eni").inputs["subnetId"] == subnets[i]
    assert {g.inputs["vpcId"] for g in run.run.of_type("aws:ec2/securityGroup:SecurityGroup")} == {"vpc-0existing"}


def test_an_external_database_gets_no_rds_and_its_password_stays_secret() -> None:
    run = execute(
        secret_keys=("databasePassword",),
        databaseMode="external",
        databaseHost="pg.internal.example",
        databasePassword="external-password",
    )
    assert not run.run.of_type("aws:rds/instance:Instance")
    assert not [g for g in run.run.of_type("aws:ec2/securityGroup:SecurityGroup") if g.name == "sg-db"]
    env = run.files("filer-0")["/etc/aegis/seaweedfs-filer-0/templates/env"]
    assert "WEED_POSTGRES2_HOSTNAME=pg.internal.example\n" in env
    parameter = run.one(SSM, "secrets-db-password")
    assert parameter.secret("value") and parameter.inputs["value"] == "external-password"
    for node in run.run.of_type(INSTANCE):
        assert "external-password" not in node.inputs["userData"]
    assert "random:index/randomPassword:RandomPassword" not in {
        r.type for r in run.run.registrations if r.name.endswith("db-password")
    }


def test_without_s3_there_is_no_gateway_listener_or_key() -> None:
    run = execute(s3Enabled=False, operatorCidrs=[])
    assert not run.instances("s3-")
    # Registration order follows when each listener's inputs resolve, so compare the set of ports.
    assert sorted(x.inputs["port"] for x in run.run.of_type("aws:lb/listener:Listener")) == [8888, 8889]
    assert not [p for p in run.run.of_type(SSM) if "s3" in p.inputs["name"]]
    assert "s3_endpoint" not in run.run.outputs and not run.run.secret_outputs


def test_invalid_config_fails_before_any_resource_is_registered() -> None:
    registered: list[str] = []
    original = RecordingMonitor.RegisterResource

    def recording(self: RecordingMonitor, request: Any) -> Any:
        registered.append(request.type)
        return original(self, request)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(RecordingMonitor, "RegisterResource", recording)
        with pytest.raises(Exception, match=r"aegisReplication = \"001\".*cannot be placed"):
            run_program(
                "prod",
                {**PROD, "aegisReplication": "001"},
                extra_config={"aws:region": REGION},
                call_results=CALLS,
                preview=True,
            )
    assert [t for t in registered if t != "pulumi:pulumi:Stack"] == []
