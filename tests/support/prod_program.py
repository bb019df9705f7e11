"""The real `__main__.py` for the prod stack under Pulumi's mocks, with what AWS would compute filled in.

`execute()` runs the program with the shipped prod config (plus overrides) and returns a `Run`: the
registrations, the replacement options the harness does not record, and the mocked private IP of each ENI.
The constants are the mocked data-source results and computed outputs, so tests can follow where each flows.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from typing import Any

import pytest

from components.aws.bootstrap import decode_document
from components.model.version import SEAWEEDFS_IMAGE_DIGESTS, SEAWEEDFS_VERSION
from tests.support.pulumi_harness import ProgramRun, RecordingMocks, RecordingMonitor, Registration, run_program
from tests.support.stack_configs import PROD, REGION

AMI = "ami-0aaaabbbbccccdddd"
ACCOUNT = "123456789012"
DIGEST = SEAWEEDFS_IMAGE_DIGESTS[SEAWEEDFS_VERSION]
REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
REPOSITORY_URL = f"{REGISTRY}/aegis-storage/prod/seaweedfs"
IMAGE = f"{REPOSITORY_URL}@{DIGEST}"  # what every weed node runs, as the registry's lookup finds it
USAGE_REPOSITORY_URL = f"{REGISTRY}/aegis-storage/prod/usage"
USAGE_REPOSITORY_ARN = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/aegis-storage/prod/usage"
DOCKER_IMAGE = "docker:index/image:Image"
CALLS = {
    "aws:ec2/getAmi:getAmi": {"id": AMI, "architecture": "x86_64"},
    "aws:ecr/getImage:getImage": {"imageDigest": DIGEST},
    "aws:index/getCallerIdentity:getCallerIdentity": {"accountId": ACCOUNT},
    "aws:index/getPartition:getPartition": {"partition": "aws"},
}
SECRET_MARK = "generated-"  # every mocked RandomPassword result starts with it
NLB_DNS = "internal-filer-lb-0123.elb.us-east-1.amazonaws.com"
DB_ADDRESS = "aegis-storage-prod.c0ffee.us-east-1.rds.amazonaws.com"
# As long as a real one: bucket_prefix plus the provider's 26-digit suffix (the filer-0 document must fit 4 KB).
BUCKET = "aegis-storage-prod-metadata-20261207034353123400000001"

INSTANCE = "aws:ec2/instance:Instance"
ENI = "aws:ec2/networkInterface:NetworkInterface"
SUBNET = "aws:ec2/subnet:Subnet"
EBS = "aws:ebs/volume:Volume"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SSM = "aws:ssm/parameter:Parameter"


class Run:
    """A program run plus the replacement options the harness does not record."""

    def __init__(self, run: ProgramRun, options: dict[str, Any], addresses: dict[str, str]) -> None:
        self.run = run
        self.options = options
        self.addresses = addresses  # ENI name -> its mocked private IP
        self.by_urn = {r.urn: r for r in run.registrations}

    def one(self, type_: str, name: str) -> Registration:
        (match,) = [r for r in self.run.of_type(type_) if r.name == name]
        return match

    def instances(self, prefix: str) -> list[Registration]:
        return sorted((r for r in self.run.of_type(INSTANCE) if r.name.startswith(prefix)), key=lambda r: r.name)

    def zone(self, node: str) -> str:
        eni_id = self.one(INSTANCE, node).inputs["primaryNetworkInterface"]["networkInterfaceId"]
        subnet_id = self.one(ENI, eni_id.removesuffix("-id")).inputs["subnetId"]
        return self.one(SUBNET, subnet_id.removesuffix("-id")).inputs["availabilityZone"]

    def document(self, node: str) -> dict[str, Any]:
        """What the node runs: the document in its SSM parameter (the user data only bootstraps it)."""
        return decode_document(self.one(SSM, f"{node}-config").inputs["value"])

    def files(self, node: str) -> dict[str, str]:
        return {f["path"]: f["content"] for f in self.document(node)["write_files"]}

    def weed_args(self, node: str) -> list[str]:
        run = self.files(node)[f"/etc/aegis/seaweedfs-{node}/run"]
        (line,) = [line for line in run.splitlines() if line.startswith("exec ")]
        command = shlex.split(line)
        return command[command.index(IMAGE) + 1 :]


def usage_repo_digest(inputs: dict[str, Any]) -> str:
    """What the Docker provider reports after a push, made from what was built: a changed build, a new digest."""
    built = json.dumps([inputs.get("imageName"), inputs.get("build", {}).get("args")], sort_keys=True)
    return f"{USAGE_REPOSITORY_URL}@sha256:{hashlib.sha256(built.encode()).hexdigest()}"


def computed_outputs(type_: str, name: str, addresses: dict[str, str]) -> dict[str, Any]:
    """What AWS computes and the program reads, so the mocks can show where each value flows."""
    if type_ == ENI:
        return {"privateIp": addresses.setdefault(name, f"10.40.{len(addresses)}.10")}
    if type_ == "aws:ecr/repository:Repository" and name == "usage-image":
        return {"repositoryUrl": USAGE_REPOSITORY_URL, "arn": USAGE_REPOSITORY_ARN, "registryId": ACCOUNT}
    return {
        "aws:route53/zone:Zone": {"zoneId": "Z0PRIVATEZONE"},
        "aws:lb/loadBalancer:LoadBalancer": {
            "dnsName": NLB_DNS,
            "arn": f"arn:nlb/{name}",
            "arnSuffix": f"net/{name}/50dc6c495c0c9188",
        },
        "aws:lb/targetGroup:TargetGroup": {
            "arn": f"arn:targetgroup/{name}",
            "arnSuffix": f"targetgroup/{name}/6d0ecf831eec9f09",
        },
        "aws:rds/instance:Instance": {"address": DB_ADDRESS},
        "aws:s3/bucket:Bucket": {"bucket": BUCKET, "arn": f"arn:aws:s3:::{BUCKET}"},
        "aws:ecr/repository:Repository": {
            "repositoryUrl": REPOSITORY_URL,
            "arn": f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/aegis-storage/prod/seaweedfs",
        },
        "aws:rds/parameterGroup:ParameterGroup": {"name": f"{name}-0a1b2c3"},
        "aws:rds/subnetGroup:SubnetGroup": {"name": f"{name}-0a1b2c3"},
    }.get(type_, {})


def execute(secret_keys: tuple[str, ...] = (), **overrides: Any) -> Run:
    """The prod program on the shipped config with `overrides`; `secret_keys` are set as secrets."""
    options: dict[str, Any] = {}
    addresses: dict[str, str] = {}
    original = RecordingMonitor.RegisterResource
    new_resource = RecordingMocks.new_resource

    def with_computed(self: RecordingMocks, args: Any) -> tuple[str, dict[str, Any]]:
        id_, outputs = new_resource(self, args)
        if args.typ == DOCKER_IMAGE:  # the provider's answer after a push
            outputs = {**outputs, "repoDigest": usage_repo_digest(dict(args.inputs))}
        return id_, {**outputs, **computed_outputs(args.typ, args.name, addresses)}

    def recording(self: RecordingMonitor, request: Any) -> Any:
        options[(request.type, request.name)] = {
            "delete_before_replace": request.deleteBeforeReplace,
            "ignore_changes": list(request.ignoreChanges),
        }
        return original(self, request)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(RecordingMonitor, "RegisterResource", recording)
        patch.setattr(RecordingMocks, "new_resource", with_computed)
        run = run_program(
            "prod",
            {**PROD, **overrides},
            secret_keys=secret_keys,
            extra_config={"aws:region": REGION},
            call_results=CALLS,
        )
    return Run(run, options, addresses)
