"""The weed image inside the account: an ECR repository the stack owns, filled by a digest-preserving copy.

Nodes boot and roll from `<account>.dkr.ecr.<region>.amazonaws.com/aegis-storage/<stack>/seaweedfs@sha256:...`,
never from Docker Hub: a replaced instance during a Docker Hub outage or rate limit still starts, and what it
runs is the digest the model pins, whoever retags the public release. A pull-through cache rule would fill
itself, but only on a first pull that still reaches Docker Hub, and with a Docker Hub credential in Secrets
Manager; copying once per release (docs/image-registry.md) needs neither.

The repository is looked up for the pinned digest before any node document names it: a release that was not
copied yet fails the preview (ECR's ImageNotFoundException), not a node's boot halfway through a rollout.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.model.version import registry_image


def repository_name(stack: str) -> str:
    return f"aegis-storage/{stack}/seaweedfs"


def pull_policy(repository_arn: str) -> dict[str, object]:
    """What a node needs to pull the image: a registry token (no resource ARN) and the repository's layers."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
                "Resource": repository_arn,
            },
        ],
    }


@dataclass(frozen=True)
class ImageRegistryArgs:
    stack: str
    # The release's image index digest (StackConfig.seaweedfs_image_digest).
    digest: str


class ImageRegistry(pulumi.ComponentResource):
    """The repository and the image reference every weed node runs."""

    repository_arn: pulumi.Output[str]
    image: pulumi.Output[str]

    def __init__(self, name: str, args: ImageRegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aegis:storage:ImageRegistry", name, None, opts)
        repository = aws.ecr.Repository(
            name,
            name=repository_name(args.stack),
            # A tag, once copied, always means the same digest; the nodes pull by digest anyway. No lifecycle
            # policy: an expired image would be a release no replaced node can boot, and a rollback target gone.
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
            opts=pulumi.ResourceOptions(parent=self),
        )
        found = aws.ecr.get_image_output(
            repository_name=repository.name,
            image_digest=args.digest,
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        self.repository_arn = repository.arn
        # Through the lookup, so the reference (and every node document) exists only once the image does.
        self.image = pulumi.Output.all(repository.repository_url, found.image_digest).apply(
            lambda v: registry_image(v[0], args.digest)
        )
        self.register_outputs({"repository_arn": self.repository_arn, "image": self.image})
