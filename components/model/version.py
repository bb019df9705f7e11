"""The one SeaweedFS version of the whole project: the container image and the tests' binary."""

SEAWEEDFS_VERSION = "4.48"
SEAWEEDFS_IMAGE = f"chrislusf/seaweedfs:{SEAWEEDFS_VERSION}"
# Where the image keeps the binary; containers start it directly so the image entrypoint adds no flags.
WEED_IN_IMAGE = "/usr/bin/weed"
