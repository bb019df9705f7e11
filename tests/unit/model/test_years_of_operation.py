"""What keeps a stack running for years: the filers' database connections budgeted at preview, and the
masters' Raft engine pinned in the command line and in state, a change of it refused without a migration."""

from __future__ import annotations

import pytest

from components.aws.placement import prod_topology
from components.docker.storage import dev_topology
from components.model import raft
from components.model.config import ConfigError, parse
from components.model.config.database_pool import (
    OTHER_CLIENTS,
    RDS_CLASS_MEMORY_GIB,
    FilerPool,
    connection_clients,
    rds_max_connections,
)
from components.model.topology import Role
from tests.support.stack_configs import PROD, REGION, problems, prod


def filer_env(cfg) -> dict[str, str]:
    return dict(prod_topology(cfg).of(Role.FILER)[0].env)


def test_every_filer_renders_its_pool_explicitly_with_the_defaults():
    for filer in prod_topology(prod()).of(Role.FILER):
        env = dict(filer.env)
        assert env["WEED_POSTGRES2_CONNECTION_MAX_OPEN"] == "32"
        assert env["WEED_POSTGRES2_CONNECTION_MAX_IDLE"] == "32"
        assert env["WEED_POSTGRES2_CONNECTION_MAX_LIFETIME_SECONDS"] == "3600"
    # leveldb2 on docker: no pool
    assert not any("POSTGRES2" in k for k, _ in dev_topology(parse({}, stack="dev")).of(Role.FILER)[0].env)


def test_pool_keys_reach_the_filers():
    env = filer_env(
        prod(databaseMaxOpenConnections=20, databaseMaxIdleConnections=10, databaseConnectionMaxLifetimeSeconds=0)
    )
    assert (
        env["WEED_POSTGRES2_CONNECTION_MAX_OPEN"],
        env["WEED_POSTGRES2_CONNECTION_MAX_IDLE"],
        env["WEED_POSTGRES2_CONNECTION_MAX_LIFETIME_SECONDS"],
    ) == ("20", "10", "0")


def test_max_connections_follows_the_rds_formula_on_the_class_memory():
    # LEAST(DBInstanceClassMemory / 9531392, 5000), DBInstanceClassMemory taken as 90 % of 8 GiB
    assert rds_max_connections("db.m6g.large") == int(8 * 1024**3 * 0.9 // 9531392) == 811
    assert rds_max_connections("db.r6g.2xlarge") == min(int(64 * 1024**3 * 0.9 // 9531392), 5000) == 5000
    assert rds_max_connections("db.t4g.micro") is None
    assert all(rds_max_connections(c) for c in RDS_CLASS_MEMORY_GIB)


def test_the_budget_counts_every_client():
    clients = connection_clients(3, FilerPool(max_open=32))
    assert clients[0].connections == 96 and clients[1:] == OTHER_CLIENTS
    assert {c.name for c in clients} >= {"filers", "rules job", "maintenance", "usage service", "RDS reserved"}


def test_filers_times_max_open_above_the_class_limit_fails_the_preview_naming_the_keys():
    assert not problems_or_none(filerCount=25)  # 25 x 32 + 7 others = 807 of db.m6g.large's 811
    (message,) = problems(_platform="aws", filerCount=26)
    assert message.startswith("aegis-storage:databaseMaxOpenConnections = 32: filerCount (26) x")
    assert "need 839 connections" in message and "above the 811 that databaseInstanceClass db.m6g.large" in message
    assert "Fix: pulumi config set databaseMaxOpenConnections 30, or a larger databaseInstanceClass" in message
    (message,) = problems(_platform="aws", databaseMaxOpenConnections=300, databaseMaxIdleConnections=32)
    assert "databaseMaxOpenConnections = 300" in message and "need 907 connections" in message
    assert "pulumi config set databaseMaxOpenConnections 268" in message
    assert not problems_or_none(databaseMaxOpenConnections=300, databaseInstanceClass="db.r6g.xlarge")


def problems_or_none(**keys) -> list[str]:
    try:
        parse({**PROD, **keys}, stack="prod", aws_region=REGION, secret_keys={"databasePassword"})
    except ConfigError as err:
        return err.problems
    return []


def test_an_external_database_is_not_budgeted_here():
    external = {"databaseMode": "external", "databaseHost": "pg.internal", "databasePassword": "x"}
    assert not problems_or_none(**external, databaseMaxOpenConnections=900, databaseMaxIdleConnections=900)


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("databaseMaxOpenConnections", -1, "0 means unlimited"),
        ("databaseMaxIdleConnections", 0, "0 reconnects per statement"),
        ("databaseMaxIdleConnections", 33, "to databaseMaxOpenConnections (32)"),
        ("databaseConnectionMaxLifetimeSeconds", 5, "at least 60 seconds"),
        ("databaseInstanceClass", "db.t4g.micro", "is not an RDS class this project sizes"),
    ],
)
def test_bad_pool_settings_fail_with_the_key_and_the_fix(key, value, says):
    (message, *_) = problems(_platform="aws", **{key: value})
    assert f"aegis-storage:{key} = " in message and says in message and "Fix: " in message


def test_the_engine_flag_is_always_explicit():
    for hashicorp, flag in ((False, "-raftHashicorp=false"), (True, "-raftHashicorp=true")):
        cfg = prod(raftHashicorp=hashicorp)
        assert cfg.raft_engine == (raft.HASHICORP if hashicorp else raft.GORAFT)
        for master in prod_topology(cfg).of(Role.MASTER):
            assert flag in master.args and "-raftHashicorp" not in master.args
    assert "-raftHashicorp=false" in dev_topology(parse({}, stack="dev")).of(Role.MASTER)[0].args


def test_a_migration_that_is_no_documented_one_is_refused():
    (message,) = problems(raftEngineMigration="live")
    assert 'raftEngineMigration = "live"' in message and raft.RESTART_ALL_MASTERS in message
