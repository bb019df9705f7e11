"""The metadata log and database connection benchmarks' pure parts: what they write, how they extrapolate."""

from __future__ import annotations

from pathlib import Path

from benchmarks import db_connections, metadata_log
from components.aws.placement import prod_topology
from components.model.topology import Role
from tests.support.cluster import loopback_topology
from tests.support.stack_configs import prod


def test_writes_are_laid_out_as_aegis_volumes_each_with_its_keep():
    paths = metadata_log.aegis_paths(250)
    assert len(paths) == len(set(paths)) == 250
    assert all(p.startswith("/aegis/volumes/") for p in paths)
    keeps = [p for p in paths if p.endswith("/.keep")]
    assert len(keeps) == 3 and paths[0] == keeps[0] and paths[metadata_log.FILES_PER_VOLUME].endswith("/.keep")


def test_the_table_extrapolates_a_year_without_the_purge_and_retention_plus_one_days_with_it():
    header, *rows = metadata_log.table(bytes_per_write=1000.0, retention_days=7)
    assert "8 days" in header and len(rows) == len(metadata_log.DAILY_RATES)
    assert rows[1].split() == ["1,000,000", "339.9", "GiB", "7.5", "GiB"]
    assert metadata_log.human(417.1 * 1024 * 1024) == "417.1 MiB"


def test_the_unset_variant_drops_only_the_filers_pool_keys(tmp_path: Path):
    topology, _ = loopback_topology(prod(), tmp_path, "127.0.84")
    bare = db_connections.without_pools(topology)
    assert bare.load_balancers == ()
    for before, after in zip(topology.services, bare.services, strict=True):
        dropped = {k for k, _ in before.env} - {k for k, _ in after.env}
        assert dropped == (set(db_connections.POOL_KEYS) if before.role is Role.FILER else set())
    assert set(db_connections.POOL_KEYS) <= {k for k, _ in prod_topology(prod()).of(Role.FILER)[0].env}
