"""The maintenance script's `fs.log.purge` keeps `metadataLogRetentionDays` of the filers' metadata log.

A dev topology on loopback gets day folders under /topics/.system/log dated (and modified) 2020-01-01,
one day past the retention and one day inside it, each with a file written through the filer. The
script's own purge command then runs through `weed shell`; the health check's reader sees the log before
and after.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from components.healthcheck.metadata_log import LOG_DIR, read_metadata_log
from components.model.config import parse
from components.model.maintenance import maintenance_commands
from components.model.topology import Role
from tests.support.cluster import LocalCluster, fresh_values, loopback_topology, running
from tests.support.weed_shell import create_folders
from tests.support.weed_shell import run as weed_shell

pytestmark = pytest.mark.integration

SUBNET = "127.0.81"
RETENTION_DAYS = 7


@pytest.fixture(scope="module")
def dev(tmp_path_factory) -> Iterator[LocalCluster]:
    cfg = parse({"platform": "docker", "metadataLogRetentionDays": RETENTION_DAYS}, stack="dev")
    root = tmp_path_factory.mktemp("log-purge")
    topology, _ = loopback_topology(cfg, root, SUBNET)
    # The log is read and written at the filer itself; HAProxy has no part in it.
    with running(replace(topology, load_balancers=()), fresh_values(), root) as cluster:
        yield cluster


def test_the_purge_removes_day_folders_past_the_retention_and_keeps_the_rest(dev, tmp_path):
    filer = f"http://{dev.topology.of(Role.FILER)[0].http_address}"
    masters = ",".join(dev.topology.master_addresses)
    now = time.time()
    today = datetime.datetime.fromtimestamp(now, datetime.UTC).date()
    ages = {"ancient": (today - datetime.date(2020, 1, 1)).days, "past": RETENTION_DAYS + 1, "kept": RETENTION_DAYS - 1}
    days = {label: today - datetime.timedelta(days=age) for label, age in ages.items()}
    output = create_folders(
        masters, [(LOG_DIR, days[label].isoformat(), int(now - age * 86400)) for label, age in ages.items()], tmp_path
    )
    assert "total 3 directories" in output, output
    for label, day in days.items():
        response = httpx.put(f"{filer}{LOG_DIR}/{day.isoformat()}/00-00.0000000{len(label)}", content=b"x" * 1000)
        assert response.status_code == 201, response.text
    before = read_metadata_log(filer)
    assert before.oldest_day == days["ancient"] and before.bytes >= 3000, before

    (purge,) = [c for c in maintenance_commands(RETENTION_DAYS) if c.startswith("fs.log.purge")]
    assert purge == f"fs.log.purge -daysAgo={RETENTION_DAYS}"
    output = weed_shell(masters, f"{purge} -v\n")
    after = read_metadata_log(filer)
    listed = httpx.get(f"{filer}{LOG_DIR}/", headers={"Accept": "application/json"}).json()["Entries"]
    names = {e["FullPath"].rsplit("/", 1)[-1] for e in listed}
    print(f"\nbefore {before}\nafter {after}\n{output}")
    assert days["kept"].isoformat() in names
    assert not names & {days["ancient"].isoformat(), days["past"].isoformat()}, names
    assert after.oldest_day == days["kept"] and after.bytes == before.bytes - 2000, after
