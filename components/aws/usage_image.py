"""The usage service's image in the stack's own registry: built where `pulumi up` runs, pushed to ECR, and named
by its digest in the HAProxy nodes' documents.

The build is the dev stack's (components/stack/usage_image.py): the same Dockerfile, Python image and build
context, with weed copied from the stack's SeaweedFS image in ECR, by digest. The provider rebuilds only when the
context or an argument changes; each rebuild is a new digest, so the HAProxy nodes' documents change with the
usage code or the SeaweedFS release, and the rollout restarts them one at a time.

Its own repository beside the SeaweedFS one (components/aws/registry.py): that one is a digest-preserving copy
of public releases with immutable tags, this one is filled by the program. Tags here are mutable: the build is
not bit-for-bit reproducible (layers carry build times), so the same content tag built again on another runner
is a new digest under the same tag; the nodes pull by digest, never by tag, and an overwritten tag leaves its
old image in place for the nodes that still name it. No lifecycle policy, as for the SeaweedFS images: an expired
image would be one a replaced node cannot boot.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_docker as docker

from components.stack.usage_image import usage_build, usage_content_tag

# The nodes' AMI is x86_64 (program.py's lookup); a deployer on another architecture builds for them.
PLATFORM = "linux/amd64"


def usage_repository_name(stack: str) -> str:
    return f"aegis-storage/{stack}/usage"


@dataclass(frozen=True)
class UsageImageArgs:
    stack: str
    # The stack's SeaweedFS image in its registry, by digest (ImageRegistry.image): the weed the service runs.
    seaweedfs_image: pulumi.Input[str]


class UsageImage(pulumi.ComponentResource):
    """The repository and the pushed image, by digest, that every HAProxy node runs beside HAProxy."""

    repository_arn: pulumi.Output[str]
    image: pulumi.Output[str]

    def __init__(self, name: str, args: UsageImageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aegis:storage:UsageImage", name, None, opts)
        repository = aws.ecr.Repository(
            name,
            name=usage_repository_name(args.stack),
            image_tag_mutability="MUTABLE",
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
            opts=pulumi.ResourceOptions(parent=self),
        )
        # A 12-hour token from the deployer's credentials, fetched at every run: the build pulls the SeaweedFS image
        # from the same registry and pushes this one.
        token = aws.ecr.get_authorization_token_output(
            registry_id=repository.registry_id, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        seaweedfs = pulumi.Output.from_input(args.seaweedfs_image)
        built = docker.Image(
            f"{name}-build",
            image_name=pulumi.Output.all(repository.repository_url, seaweedfs).apply(
                lambda v: f"{v[0]}:{usage_content_tag(v[1])}"
            ),
            build=usage_build(seaweedfs, platform=PLATFORM),
            registry=docker.RegistryArgs(
                server=repository.repository_url,
                username=token.user_name,
                password=pulumi.Output.secret(token.password),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.repository_arn = repository.arn
        # The digest the push reported: a node never pulls by the mutable tag.
        self.image = built.repo_digest
        self.register_outputs({"repository_arn": self.repository_arn, "image": self.image})
