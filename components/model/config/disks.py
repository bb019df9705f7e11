"""EBS limits of the volume servers' data disks: the IOPS and throughput EC2 accepts for each disk type.

The ranges are the ones the EC2 API documents for CreateVolume (botocore 1.44's service model, `Iops`:
"Required for io1, io2 ... Optional for gp3 ... Omit for all other volume types"; gp3 3,000 (default) -
80,000 IOPS, io1 100 - 64,000, io2 100 - 256,000; `Throughput`: "gp3 only", 125 - 2,000 MiB/s). The ratios
to the size come from the EBS user guide's volume types page
(https://docs.aws.amazon.com/ebs/latest/userguide/provisioned-iops.html,
https://docs.aws.amazon.com/ebs/latest/userguide/general-purpose.html): io2 at most 1,000 IOPS per GiB, io1
50 per GiB, gp3 500 per GiB, and gp3 throughput at most 0.25 MiB/s per provisioned IOPS. A value outside
them fails CreateVolume/ModifyVolume halfway through an update; here it fails the preview instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.model.config.reader import Reader


@dataclass(frozen=True)
class IopsLimits:
    minimum: int
    maximum: int
    per_gib: int

    def ceiling(self, size_gib: int) -> int:
        return min(self.maximum, self.per_gib * size_gib)


IOPS_LIMITS = {
    "gp3": IopsLimits(3_000, 80_000, 500),
    "io1": IopsLimits(100, 64_000, 50),
    "io2": IopsLimits(100, 256_000, 1_000),
}
# Provisioned IOPS disks cannot be created without IOPS; gp3 has a free 3,000 baseline.
IOPS_REQUIRED = ("io1", "io2")
GP3_THROUGHPUT = (125, 2_000)  # MiB/s; 125 is the free baseline
GP3_MIB_PER_IOPS = 0.25
# gp2's baseline rate: an io1/io2 disk gets at least gp3's free 3,000 IOPS and grows with its size like gp2.
DERIVED_IOPS_PER_GIB = 3


@dataclass(frozen=True)
class DiskPerformance:
    """Provisioned IOPS and throughput of a data disk; None leaves EC2's default (what gp3 gives for free)."""

    iops: int | None = None
    throughput: int | None = None


def derived_iops(disk_type: str, size_gib: int) -> int | None:
    """The IOPS a disk gets when `volumeDiskIops` is 0: none for gp3 and st1, a size-based value for io1/io2."""
    if disk_type not in IOPS_REQUIRED:
        return None
    limits = IOPS_LIMITS[disk_type]
    return max(limits.minimum, min(limits.ceiling(size_gib), max(3_000, DERIVED_IOPS_PER_GIB * size_gib)))


def iops_problem(disk_type: str, size_gib: int, iops: int) -> str | None:
    """Why EC2 would refuse `iops` on a `disk_type` disk of `size_gib`, or None (0 = derived, always fine)."""
    if iops == 0:
        return None
    limits = IOPS_LIMITS.get(disk_type)
    if limits is None:
        return f"{disk_type} disks take no provisioned IOPS"
    ceiling = limits.ceiling(size_gib)
    if not limits.minimum <= iops <= ceiling:
        return (
            f"a {size_gib} GiB {disk_type} disk takes {limits.minimum}-{ceiling} IOPS "
            f"(at most {limits.per_gib} per GiB and {limits.maximum} in all)"
        )
    return None


def throughput_problem(disk_type: str, iops: int | None, throughput: int) -> str | None:
    """Why EC2 would refuse `throughput` MiB/s on this disk, or None (0 = EC2's default)."""
    if throughput == 0:
        return None
    if disk_type != "gp3":
        return f"only gp3 disks take a provisioned throughput, not {disk_type}"
    low, high = GP3_THROUGHPUT
    ceiling = min(high, int((iops or IOPS_LIMITS["gp3"].minimum) * GP3_MIB_PER_IOPS))
    if not low <= throughput <= ceiling:
        return f"a gp3 disk with {iops or 3000} IOPS takes {low}-{ceiling} MiB/s (at most {GP3_MIB_PER_IOPS} per IOPS)"
    return None


def parse_volume_disk(r: Reader, disk_type: str, size_gib: int) -> DiskPerformance:
    """`volumeDiskIops` and `volumeDiskThroughput`, checked against the disk's type and size."""
    derived = derived_iops(disk_type, size_gib)
    meaning = f"{derived} IOPS, derived from the disk size" if derived else "EC2's default"
    iops = r.checked(
        "volumeDiskIops",
        lambda v: iops_problem(disk_type, size_gib, v),
        f"pulumi config set volumeDiskIops 0 ({meaning})"
        + (", or a value in that range" if disk_type in IOPS_LIMITS else ""),
    )
    effective = (iops or derived) if not iops_problem(disk_type, size_gib, iops) else None
    throughput = r.checked(
        "volumeDiskThroughput",
        lambda v: throughput_problem(disk_type, effective, v),
        "pulumi config set volumeDiskThroughput 0 (EC2's 125 MiB/s baseline)"
        + (", or a value in that range" if disk_type == "gp3" else ""),
    )
    return DiskPerformance(iops=effective, throughput=throughput or None)
