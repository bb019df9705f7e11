"""Prod as AWS behaves, under Pulumi's mocks: the weed image comes from the stack's own ECR repository by
digest, io1/io2 disks carry IOPS, and the first `pulumi up` creates things in an order AWS can serve."""

from __future__ import annotations

import json

import pytest

from components.aws.cloud_init import DOCKER_CONFIG, ECR_HELPER_PACKAGE
from tests.support.prod_program import EBS, IMAGE, INSTANCE, REGISTRY, SSM, Run, execute

DYNAMIC = "pulumi-python:dynamic:Resource"
WEED_NODES = {f"{role}-{i}" for role in ("master", "volume", "filer") for i in range(3)} | {"s3-0"}


def weed_documents(run: Run) -> dict[str, str]:
    return {node: json.dumps(run.document(node)) for node in WEED_NODES}


def test_every_weed_node_runs_the_registry_image_by_digest_and_never_docker_hub(prod: Run):
    for node, text in weed_documents(prod).items():
        assert "docker.io" not in text and "chrislusf/seaweedfs" not in text, node
        files = prod.files(node)
        # Every unit that starts a container; the metadata backup only execs into the filer's running one.
        runs = [content for path, content in files.items() if path.endswith("/run") and "docker exec" not in content]
        assert runs and all(IMAGE in content for content in runs), node
        # Logged in through the instance role's credential helper, at every pull.
        assert json.loads(files[f"{DOCKER_CONFIG}/config.json"]) == {"credHelpers": {REGISTRY: "ecr-login"}}
        assert ["dnf", "install", "-y", "docker", ECR_HELPER_PACKAGE] in prod.document(node)["runcmd"]
        # A rollout writes files and restarts units, without first-boot commands: each start installs it too.
        assert all(f"|| dnf install -y {ECR_HELPER_PACKAGE}\n" in content for content in runs), node
    assert "@sha256:" in IMAGE and IMAGE.startswith(REGISTRY + "/aegis-storage/prod/seaweedfs@")


def test_the_image_reference_waits_for_the_registry_lookup_of_the_pinned_digest(prod: Run):
    (lookup,) = [args for token, args in prod.run.invokes if token == "aws:ecr/getImage:getImage"]
    assert lookup["imageDigest"] == IMAGE.split("@")[1]
    (repository,) = [r for r in prod.run.of_type("aws:ecr/repository:Repository") if r.name == "image"]
    assert repository.inputs["imageTagMutability"] == "IMMUTABLE"


def test_weed_nodes_may_pull_from_the_repository_and_haproxy_nodes_from_the_usage_one(prod: Run):
    policies = {r.name: json.loads(r.inputs["policy"]) for r in prod.run.of_type("aws:iam/rolePolicy:RolePolicy")}
    pulls = {name.removeprefix("secrets-").removesuffix("-pull-image") for name in policies if "pull-image" in name}
    assert pulls == {"master", "volume", "filer", "s3", "lb"}
    lb = policies["secrets-lb-pull-image"]["Statement"]
    assert lb[1]["Resource"].endswith(":repository/aegis-storage/prod/usage")
    statements = policies["secrets-volume-pull-image"]["Statement"]
    assert statements[0] == {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}
    assert set(statements[1]["Action"]) >= {"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"}
    assert statements[1]["Resource"].endswith(":repository/aegis-storage/prod/seaweedfs")


def test_haproxy_nodes_install_the_distributions_package_and_pull_only_the_usage_image(prod: Run):
    for node in ("lb-0", "lb-1"):
        assert ["dnf", "install", "-y", "haproxy", "docker", ECR_HELPER_PACKAGE] in prod.document(node)["runcmd"]
        text = json.dumps(prod.document(node))
        assert "aegis-storage/prod/seaweedfs" not in text and "aegis-storage/prod/usage@sha256:" in text


@pytest.fixture(scope="module")
def io2() -> Run:
    return execute(volumeDiskType="io2")


def test_io2_data_disks_get_iops_and_gp3_disks_keep_ec2s_baseline(prod: Run, io2: Run):
    volumes = {r.name: r.inputs for r in io2.run.of_type(EBS)}
    data = {name: inputs for name, inputs in volumes.items() if name.startswith("volume-")}
    assert len(data) == 3
    for name, inputs in data.items():
        assert inputs["type"] == "io2" and inputs["iops"] == 3072, name
    for name, inputs in volumes.items():
        if name.startswith("master-"):
            assert inputs["type"] == "gp3" and "iops" not in inputs, name
    for inputs in (r.inputs for r in prod.run.of_type(EBS)):
        assert inputs["type"] == "gp3" and "iops" not in inputs and "throughput" not in inputs


def test_the_s3_gateway_boots_after_every_filer_is_ready(prod: Run):
    s3 = prod.one(INSTANCE, "s3-0")
    ready = {r.urn for r in prod.run.of_type(DYNAMIC) if r.name in {"filer-0-ready", "filer-1-ready", "filer-2-ready"}}
    assert len(ready) == 3 and ready <= set(s3.dependencies)


def test_every_instance_boots_after_the_nat_route_of_every_zone(prod: Run):
    routes = {r.urn for r in prod.run.of_type("aws:ec2/routeTable:RouteTable") if "-private-" in r.name}
    associations = {
        r.urn for r in prod.run.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation") if "-private-" in r.name
    }
    assert len(routes) == len(associations) == 3
    for instance in prod.run.of_type(INSTANCE):
        assert routes | associations <= set(instance.dependencies), instance.name


def test_an_existing_vpc_adds_no_route_to_wait_for():
    run = execute(vpcId="vpc-0123", privateSubnetIds=["subnet-a", "subnet-b", "subnet-c"])
    assert not run.run.of_type("aws:ec2/routeTable:RouteTable")
    assert len(run.run.of_type(INSTANCE)) == 12 and run.run.of_type(SSM)
