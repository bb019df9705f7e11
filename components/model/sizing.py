"""The spec's minimum sizing table, and the instance types that satisfy it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NodeMinimum:
    """One row of the spec's "Minimum Sizing" table."""

    role: str
    cores: int
    memory_gib: int
    disk_gib: int
    count: int


MASTER = NodeMinimum("master", cores=2, memory_gib=4, disk_gib=20, count=3)
FILER = NodeMinimum("filer", cores=4, memory_gib=8, disk_gib=20, count=3)
VOLUME = NodeMinimum("volume", cores=4, memory_gib=8, disk_gib=1024, count=3)
# Not in the spec's table: HAProxy nodes need little, but two cores keep health checks on time under load.
LOAD_BALANCER = NodeMinimum("load balancer", cores=2, memory_gib=4, disk_gib=8, count=2)


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpus: int
    memory_gib: int
    usd_per_hour: float


# Current-generation, non-burstable x86_64 types (us-east-1 on-demand prices, used only to order them).
# Burstable types are left out on purpose: a Raft master or a filer that runs out of CPU credits
# misses heartbeats and elections under sustained load.
CATALOG: tuple[InstanceType, ...] = (
    InstanceType("c6i.large", 2, 4, 0.085),
    InstanceType("m6i.large", 2, 8, 0.096),
    InstanceType("r6i.large", 2, 16, 0.126),
    InstanceType("c6i.xlarge", 4, 8, 0.17),
    InstanceType("m6i.xlarge", 4, 16, 0.192),
    InstanceType("r6i.xlarge", 4, 32, 0.252),
    InstanceType("c6i.2xlarge", 8, 16, 0.34),
    InstanceType("m6i.2xlarge", 8, 32, 0.384),
    InstanceType("r6i.2xlarge", 8, 64, 0.504),
    InstanceType("c7i.large", 2, 4, 0.0893),
    InstanceType("m7i.large", 2, 8, 0.1008),
    InstanceType("c7i.xlarge", 4, 8, 0.1785),
    InstanceType("m7i.xlarge", 4, 16, 0.2016),
    InstanceType("c7i.2xlarge", 8, 16, 0.357),
    InstanceType("m7i.2xlarge", 8, 32, 0.4032),
)

_BY_NAME = {t.name: t for t in CATALOG}


def smallest_instance_type(minimum: NodeMinimum) -> InstanceType:
    """The cheapest catalog type with at least the row's cores and memory."""
    fitting = [t for t in CATALOG if t.vcpus >= minimum.cores and t.memory_gib >= minimum.memory_gib]
    return min(fitting, key=lambda t: (t.usd_per_hour, t.vcpus, t.memory_gib))


def instance_type_problem(name: str, minimum: NodeMinimum) -> str | None:
    """Why an operator's instance type override cannot be used for this role, or None."""
    chosen = _BY_NAME.get(name)
    if chosen is None:
        return f"is not a known type; use one of {', '.join(sorted(_BY_NAME))}"
    if chosen.vcpus < minimum.cores or chosen.memory_gib < minimum.memory_gib:
        return (
            f"has {chosen.vcpus} vCPU / {chosen.memory_gib} GiB, below the spec's {minimum.role} minimum of "
            f"{minimum.cores} cores / {minimum.memory_gib} GiB"
        )
    return None


def volume_slots(disk_gib: int, volume_size_limit_mb: int) -> int:
    """Volume slots (-max) a data disk holds: whole volumes of the size limit, at least one."""
    return max(1, (disk_gib * 1024) // volume_size_limit_mb)
