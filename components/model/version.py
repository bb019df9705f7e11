"""The one SeaweedFS version of the whole project: the container image and the tests' binary, and what the
project relies on inside that image.

Facts of the image (its Dockerfile): Alpine, with busybox `sh`, `wget` and `curl`; the user `seaweed`
(uid 1000) owns /data; there is no USER line, and /entrypoint.sh adds defaults of its own for some
subcommands, drops root with su-exec and adds -logtostderr=true.
"""

import re

# The default of the `seaweedfsVersion` stack key; a stack may choose another release.
SEAWEEDFS_VERSION = "4.48"
VERSION_PATTERN = re.compile(r"^[0-9]+\.[0-9]+$")


# The image index (multi-arch manifest list) digest of each release prod may run, as Docker Hub serves
# chrislusf/seaweedfs:<release> (4.48's is also what ghcr.io/chrislusf/seaweedfs:4.48 serves). Prod pulls only by
# digest from the stack's own ECR repository, filled by a digest-preserving copy (docs/image-registry.md): an
# upgrade adds the next release's line here. Older lines stay, so a rollback still has its image.
SEAWEEDFS_IMAGE_DIGESTS = {
    "4.48": "sha256:4e61d15fd35994cb1e43e1e553dff106794841fd9a99ade2fc8c8bfce4d7872d",
}
DIGEST_PATTERN = re.compile(r"^sha256:[0-9a-f]{64}$")


def seaweedfs_image(version: str = SEAWEEDFS_VERSION) -> str:
    """The public image by tag: what the dev stack pulls from Docker Hub."""
    return f"chrislusf/seaweedfs:{version}"


def registry_image(repository_url: str, digest: str) -> str:
    """The image prod nodes run: `<account>.dkr.ecr.<region>.amazonaws.com/<repository>@sha256:<digest>`, the
    same bytes as the public release whose index has `digest`, from a registry inside the account."""
    if not DIGEST_PATTERN.match(digest):
        raise ValueError(f"{digest!r} is not an image digest (sha256:<64 hex>)")
    return f"{repository_url}@{digest}"


SEAWEEDFS_IMAGE = seaweedfs_image()
# Containers start the binary directly, so only the model's flags reach weed (the entrypoint's own
# defaults never do), and take over the two things the entrypoint does: the user and the log flag.
WEED_IN_IMAGE = "/usr/bin/weed"
IMAGE_USER = "seaweed"  # uid 1000; a new named volume on /data is created owned by it
# glog's files would pile up in the container's /tmp; stderr is what `docker logs` shows. A global flag,
# so it goes before the subcommand.
WEED_LOG_FLAGS = ("-logtostderr=true",)
# What health checks and jobs may call inside the image: busybox applets of the Alpine base, and curl.
IMAGE_TOOLS = frozenset({"sh", "wget", "curl", "cmp", "sleep", "chown"})

# The HTTP tier in front of the dev filer (AWS nodes install their distribution's HAProxy). 2.6.12 is the release
# the integration tests run (Debian 12's haproxy package), so the haproxy.cfg the container loads is the one
# the tests exercise; the alpine variant brings busybox wget for the container's health check. The image runs
# as its own unprivileged `haproxy` user.
HAPROXY_VERSION = "2.6.12"
HAPROXY_IMAGE = f"haproxy:{HAPROXY_VERSION}-alpine"
HAPROXY_USER = "haproxy"
