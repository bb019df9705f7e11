"""The filers' PostgreSQL connection pools, and the budget they must fit on the stack's RDS instance class.

Every filer holds its own pool (postgres2 `connection_max_open`, `_max_idle`, `_max_lifetime_seconds`).
Unset, the filer.toml scaffold's values apply (`weed scaffold -config=filer`: 50, 50, 300 s): 50 per filer
that no budget accounted for, and every connection replaced after five minutes. The lifetime is what
benchmarks/db_connections.py saw on weed 4.48 (3 filers under load, 345 s): keys unset, the oldest
connection was 292 s old and the run opened 26 backends for a peak of 18; with the model's pools, 22 for
22, the oldest as old as the run.
The pools are therefore always explicit, and the preview refuses a set of pools the chosen class cannot hold.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.model.config.reader import Reader

# Memory of the RDS classes this project allows, in GiB (AWS, "Hardware specifications for DB instance
# classes": https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Concepts.DBInstanceClass.Summary.html).
# Burstable classes (db.t*) are left out for the reason sizing.py leaves out burstable EC2 types: a metadata
# store that runs out of CPU credits stalls every filer at once.
RDS_CLASS_MEMORY_GIB: dict[str, int] = {
    "db.m6g.large": 8,
    "db.m6g.xlarge": 16,
    "db.m6g.2xlarge": 32,
    "db.m6g.4xlarge": 64,
    "db.m7g.large": 8,
    "db.m7g.xlarge": 16,
    "db.m7g.2xlarge": 32,
    "db.m6i.large": 8,
    "db.m6i.xlarge": 16,
    "db.m6i.2xlarge": 32,
    "db.r6g.large": 16,
    "db.r6g.xlarge": 32,
    "db.r6g.2xlarge": 64,
    "db.r6i.large": 16,
    "db.r6i.xlarge": 32,
}
# RDS for PostgreSQL's default max_connections is LEAST({DBInstanceClassMemory/9531392}, 5000)
# (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/CHAP_Limits.html#RDS_Limits.MaxConnections).
MEMORY_BYTES_PER_CONNECTION = 9531392
MAX_CONNECTIONS_CAP = 5000
# DBInstanceClassMemory is the class's memory less what the OS and RDS's own processes keep, which AWS
# does not publish per class; counting 90 % of the nominal memory errs towards refusing, not towards a
# filer that cannot connect.
CLASS_MEMORY_SHARE = 0.9
# Slots clients of the filers' user cannot take: PostgreSQL's superuser_reserved_connections (3) and RDS's
# rds.rds_superuser_reserved_connections (2), both defaults of the parameter group this stack creates.
RDS_RESERVED_CONNECTIONS = 5


@dataclass(frozen=True)
class FilerPool:
    """One filer's pool, as postgres2's filer.toml keys take it."""

    max_open: int = 32
    max_idle: int = 32
    max_lifetime_seconds: int = 3600

    def env(self) -> tuple[tuple[str, str], ...]:
        """filer.toml's `[postgres2] connection_max_*` keys in env form (WEED_ + upper key, . -> _)."""
        return (
            ("WEED_POSTGRES2_CONNECTION_MAX_OPEN", str(self.max_open)),
            ("WEED_POSTGRES2_CONNECTION_MAX_IDLE", str(self.max_idle)),
            ("WEED_POSTGRES2_CONNECTION_MAX_LIFETIME_SECONDS", str(self.max_lifetime_seconds)),
        )


@dataclass(frozen=True)
class Client:
    """Something that holds connections to the filers' database, with how many and why."""

    name: str
    connections: int
    why: str


# Clients besides the filers. The usage service (components/usage) tails the filers' metadata over gRPC and
# keeps its quotas as filer files, so it holds no connection of its own today; a store of its own would go here.
USAGE_SERVICE_CONNECTIONS = 0
OTHER_CLIENTS = (
    Client("rules job", 0, "weed filer.copy writes through a filer over HTTP, on that filer's pool"),
    Client("maintenance", 0, "the leader's weed shell talks gRPC to volume servers and filers, never to PostgreSQL"),
    Client("usage service", USAGE_SERVICE_CONNECTIONS, "weed filer.meta.tail and filer files, no database of its own"),
    Client("operators", 2, "a psql session and a pg_dump during a disaster-recovery drill"),
    Client("RDS reserved", RDS_RESERVED_CONNECTIONS, "superuser_reserved_connections + rds_superuser_reserved"),
)


def rds_max_connections(instance_class: str) -> int | None:
    """The class's default max_connections, or None for a class outside the table."""
    memory_gib = RDS_CLASS_MEMORY_GIB.get(instance_class)
    if memory_gib is None:
        return None
    memory = memory_gib * 1024**3 * CLASS_MEMORY_SHARE
    return min(int(memory // MEMORY_BYTES_PER_CONNECTION), MAX_CONNECTIONS_CAP)


def connection_clients(filer_count: int, pool: FilerPool) -> tuple[Client, ...]:
    """Every client of the database, the filers first."""
    filers = Client("filers", filer_count * pool.max_open, f"{filer_count} filers x {pool.max_open} max open")
    return (filers, *OTHER_CLIENTS)


def parse_filer_pool(r: Reader) -> FilerPool:
    max_open = r.checked(
        "databaseMaxOpenConnections",
        # 0 is database/sql's "unlimited": the one setting that cannot be budgeted.
        lambda v: None if v >= 1 else "must be at least 1 (0 means unlimited, which no database can budget)",
        "pulumi config set databaseMaxOpenConnections 32",
    )
    return FilerPool(
        max_open=max_open,
        max_idle=r.checked(
            "databaseMaxIdleConnections",
            lambda v: (
                None
                if 1 <= v <= max(max_open, 1)
                else f"must be from 1 (0 reconnects per statement) to databaseMaxOpenConnections ({max_open})"
            ),
            f"pulumi config set databaseMaxIdleConnections {max(max_open, 1)}",
        ),
        max_lifetime_seconds=r.checked(
            "databaseConnectionMaxLifetimeSeconds",
            lambda v: None if v == 0 or v >= 60 else "must be 0 (never replaced) or at least 60 seconds",
            "pulumi config set databaseConnectionMaxLifetimeSeconds 3600",
        ),
    )


def check_connection_budget(r: Reader, instance_class: str, filer_count: int, pool: FilerPool) -> None:
    """On an RDS class of the table, every client's connections must fit its max_connections."""
    limit = rds_max_connections(instance_class)
    if limit is None:
        r.problem(
            "databaseInstanceClass",
            instance_class,
            "is not an RDS class this project sizes the filers' connections for",
            f"use one of {', '.join(RDS_CLASS_MEMORY_GIB)} (or add it, with its memory, to "
            "components/model/config/database_pool.py)",
        )
        return
    clients = connection_clients(filer_count, pool)
    total = sum(c.connections for c in clients)
    if total <= limit:
        return
    spread = ", ".join(f"{c.name} {c.connections}" for c in clients if c.connections)
    fitting = max(1, (limit - (total - clients[0].connections)) // max(filer_count, 1))
    r.problem(
        "databaseMaxOpenConnections",
        pool.max_open,
        f"filerCount ({filer_count}) x databaseMaxOpenConnections ({pool.max_open}) plus the other clients need "
        f"{total} connections ({spread}), above the {limit} that databaseInstanceClass {instance_class} allows",
        f"pulumi config set databaseMaxOpenConnections {fitting}, or a larger databaseInstanceClass",
    )
