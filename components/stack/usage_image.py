"""The usage service's image (usage.Dockerfile), one definition for both stacks: dev builds it on the local engine,
prod builds it where `pulumi up` runs and pushes it to the stack's registry (components/aws/usage_image.py).

What goes into it: `USAGE_PYTHON_IMAGE`, the stack's weed copied from its SeaweedFS image, and the `components`
package with only `components/usage`. The build context is a copy of exactly those files, under a directory named
after their digest: the Docker provider rebuilds whenever anything in its context changes, and a rebuild is a new
image digest (the layers carry build times), which would restart the usage service on every tier node for an
edit anywhere else in `components/`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pulumi
import pulumi_docker as docker

from components.model.topology import LoadBalancer, Placement, Topology
from components.model.usage import UsageService, usage_service
from components.model.version import WEED_IN_IMAGE

USAGE_PYTHON_IMAGE = "python:3.12-alpine"
# Inside the image, passed to the Dockerfile as build arguments, so the rendered command and the image agree.
USAGE_PYTHON = "python3"  # on the image's PATH
USAGE_CODE_DIR = "/opt/aegis"
USAGE_WEED = WEED_IN_IMAGE
USAGE_USER = "usage"
COMPONENTS = Path(__file__).resolve().parents[1]
USAGE_DOCKERFILE = Path(__file__).with_name("usage.Dockerfile")
BUILD_DIR = COMPONENTS.parent / ".build"


def _sources() -> list[tuple[str, Path]]:
    """(path in the build context, source) of what the Dockerfile copies: the package root and the service."""
    usage = sorted((COMPONENTS / "usage").glob("*.py"))
    return [("__init__.py", COMPONENTS / "__init__.py"), *((f"usage/{p.name}", p) for p in usage)]


def build_args(seaweedfs: pulumi.Input[str]) -> dict[str, pulumi.Input[str]]:
    """The Dockerfile's arguments: the SeaweedFS image its weed comes from, and where things go inside."""
    return {
        "SEAWEEDFS_IMAGE": seaweedfs,
        "PYTHON_IMAGE": USAGE_PYTHON_IMAGE,
        "CODE_DIR": USAGE_CODE_DIR,
        "WEED": USAGE_WEED,
    }


def _files_digest() -> str:
    """A digest of the Dockerfile and the files it copies."""
    digest = hashlib.sha256()
    for name, path in [("Dockerfile", USAGE_DOCKERFILE), *_sources()]:
        digest.update(name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def usage_content_tag(seaweedfs: str) -> str:
    """A digest of everything that goes into the image: a changed service, weed or Dockerfile gets a new tag."""
    inputs = f"{USAGE_PYTHON_IMAGE}\n{seaweedfs}\n{USAGE_CODE_DIR}\n{USAGE_WEED}\n{_files_digest()}\n"
    return hashlib.sha256(inputs.encode()).hexdigest()[:16]


def usage_image_tag(seaweedfs: str) -> str:
    """The dev stack's local name, `aegis-usage:<content tag>`: a changed image replaces its containers (a rebuilt
    image under the same tag would leave them running the old one)."""
    return f"aegis-usage:{usage_content_tag(seaweedfs)}"


def build_context(root: Path = BUILD_DIR) -> Path:
    """The build context: a copy of the files the Dockerfile copies, in a directory named after their digest
    (so a path always means the same files), with fixed modes (the provider's context digest reads them)."""
    directory = root / f"usage-image-{_files_digest()[:16]}"
    for name, source in _sources():
        target = directory / name
        content = source.read_bytes()
        if not target.exists() or target.read_bytes() != content:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        target.chmod(0o644)
    return directory


def usage_build(seaweedfs: pulumi.Input[str], *, platform: str | None = None) -> docker.DockerBuildArgs:
    """How to build the image for a stack whose SeaweedFS image is `seaweedfs`."""
    return docker.DockerBuildArgs(
        context=str(build_context()),
        dockerfile=str(USAGE_DOCKERFILE),
        args=build_args(seaweedfs),
        platform=platform,
    )


def usage_in_image(topology: Topology, lb: LoadBalancer, placement: Placement) -> UsageService:
    """The model's usage service beside `lb`, as this image runs it."""
    return usage_service(topology, lb, placement, python=USAGE_PYTHON, weed=USAGE_WEED, code_dir=USAGE_CODE_DIR)
