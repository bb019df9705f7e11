"""AEGIS's calls, replayed as the orchestrator sends them (tests/support/aegis_client.py), one test per call, against
the real dev and HA topologies: weed, HAProxy and (HA) PostgreSQL on loopback, through AEGIS's filer URL, which
is the HAProxy in both stacks.

Each call either does what AEGIS means or gets the refusal documented in components/model/aegis/calls.py. What is
not AEGIS's (checking the filers, cleaning up) goes through the admin frontend or to each filer directly.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from components.healthcheck import run_checks
from components.healthcheck.s3_view import PROBE_TENANT
from components.model.aegis.calls import (
    DELETE_REFUSED,
    MKDIR_ANSWERED,
    QUERY_REFUSED,
    QUOTA_NOT_ENFORCED,
    USAGE_NOT_TRACKED,
)
from components.model.topology import Role
from tests.support import aegis_client as aegis
from tests.support.cluster import LocalCluster, health_target
from tests.support.tiers import TIERS, healthy_target, running_tier

pytestmark = pytest.mark.integration

HA_SUBNET = "127.0.42"
DEV_SUBNET = "127.0.43"


@dataclass
class Stack:
    cluster: LocalCluster
    url: str  # AEGIS's filer URL: the HAProxy in front of the filers
    admin: str  # the same HAProxy's admin frontend: the filer's native API
    client: httpx.Client

    @property
    def filers(self) -> list[str]:
        return [f"http://{f.http_address}" for f in self.cluster.topology.of(Role.FILER)]

    def status_everywhere(self, path: str) -> set[int]:
        """What every filer, asked directly, answers for `path`."""
        return {httpx.get(f"{filer}{path}", timeout=10).status_code for filer in self.filers}


@pytest.fixture(scope="module", params=TIERS)
def stack(request, tmp_path_factory) -> Iterator[Stack]:
    root: Path = tmp_path_factory.mktemp(f"aegis-{request.param}")
    subnet = DEV_SUBNET if request.param == "dev" else HA_SUBNET
    with running_tier(request.param, root, subnet) as cluster, httpx.Client(timeout=aegis.TIMEOUT) as client:
        target = healthy_target(cluster)
        assert target.admin_url is not None
        yield Stack(cluster, target.filer_url, target.admin_url, client)


def new_volume(stack: Stack) -> str:
    volume = aegis.volume_path()
    answers = aegis.create_directory(stack.client, stack.url, volume)
    assert [a.status_code for a in answers] == [201] * len(answers), [a.text for a in answers]
    return volume


def test_post_dir_form_is_answered_and_keep_creates_the_volume_leaving_no_dir_entry(stack: Stack):
    volume = new_volume(stack)
    answer = aegis.mkdir_form(stack.client, stack.url, volume)
    assert (answer.status_code, answer.text) == (201, MKDIR_ANSWERED)
    # AEGIS's directory listing: a GET of the volume with Accept: application/json, no query.
    listing = stack.client.get(f"{stack.url}{volume}/", headers={"Accept": "application/json"}).json()
    assert [e["FullPath"] for e in listing["Entries"]] == [f"{volume}/.keep"]
    # Creating the same volume again is idempotent, as AEGIS expects.
    assert {a.status_code for a in aegis.create_directory(stack.client, stack.url, volume)} <= {200, 201, 409}
    assert stack.status_everywhere("/dir/") == {404}, "no filer saw the mkdir form, so no stray /dir entry"


def test_aegis_health_call_is_the_filers_health(stack: Stack):
    answer = stack.client.get(f"{stack.url}/", timeout=5)  # AEGIS's health_check: GET /, any 2xx
    assert answer.status_code == 200 and "Entries" not in answer.text, "the filer root must not be listed"


def test_file_io_writes_reads_a_range_stats_and_deletes(stack: Stack):
    volume = new_volume(stack)
    body = os.urandom(300 * 1024)
    path = f"{volume}/work/data.bin"
    assert stack.client.put(f"{stack.url}{path}", content=body).status_code == 201
    ranged = aegis.read_at(stack.client, stack.url, path, 1000, 5000)
    assert ranged.status_code == 206 and ranged.content == body[1000:6000]
    head = stack.client.head(f"{stack.url}{path}")
    assert head.status_code == 200 and int(head.headers["content-length"]) == len(body)
    assert stack.status_everywhere(path) == {200}
    assert stack.client.delete(f"{stack.url}{path}").status_code == 204
    assert stack.status_everywhere(path) == {404}


def test_quota_is_answered_as_not_enforced_and_stores_nothing(stack: Stack):
    volume = new_volume(stack)
    answer = aegis.set_quota(stack.client, stack.url, volume, 1_000 * 1024 * 1024)
    # Any error status would fail AEGIS's volume creation; 200 with the reason keeps it working.
    assert (answer.status_code, answer.text) == (200, QUOTA_NOT_ENFORCED)
    assert stack.status_everywhere("/quota") == {404}


def test_usage_is_answered_404_which_aegis_reads_as_zero(stack: Stack):
    volume = new_volume(stack)
    assert stack.client.put(f"{stack.url}{volume}/file.txt", content=b"x" * 100).status_code == 201
    answer = aegis.get_usage(stack.client, stack.url, volume)
    assert (answer.status_code, answer.text) == (404, USAGE_NOT_TRACKED)


def test_delete_dir_form_removes_the_volume_on_every_filer_and_nothing_else(stack: Stack):
    volume, neighbour = new_volume(stack), new_volume(stack)
    files = [f"{volume}/.keep", f"{volume}/a.txt", f"{volume}/deep/er/b.bin"]
    for path in files[1:]:
        assert stack.client.put(f"{stack.url}{path}", content=os.urandom(4096)).status_code == 201
    answer = aegis.delete_directory(stack.client, stack.url, volume)
    assert answer.status_code == 204
    for path in [*files, f"{volume}/"]:
        assert stack.status_everywhere(path) == {404}, path
    assert stack.status_everywhere(f"{neighbour}/.keep") == {200}
    # Deleting it again is not an error for AEGIS (the filer answers 204 for a missing path).
    assert aegis.delete_directory(stack.client, stack.url, volume).status_code == 204


def test_delete_of_a_directory_with_space_plus_and_percent_in_its_name_deletes_only_that_one(stack: Stack):
    volume = new_volume(stack)
    names = ["my dir", "my dirX", "100%+plus", "100% plus"]
    for name in names:
        assert stack.client.put(f"{stack.url}{volume}/{quote(name)}/f.txt", content=b"x").status_code == 201
    for gone in ("my dir", "100%+plus"):
        assert aegis.delete_directory(stack.client, stack.url, f"{volume}/{gone}").status_code == 204
        remaining = {n for n in names if stack.client.get(f"{stack.url}{volume}/{quote(n)}/f.txt").status_code == 200}
        names.remove(gone)
        assert remaining == set(names), gone


@pytest.mark.parametrize(
    "query",
    [
        aegis.form_query(path="/aegis/volumes/zaru-consumer", recursive="true"),  # a whole tenant
        aegis.form_query(path="/aegis/volumes", recursive="true"),
        aegis.form_query(path="/", recursive="true"),
        aegis.form_query(path="/etc/seaweedfs", recursive="true"),
        aegis.form_query(path="/aegis/volumes/zaru-consumer/../../../etc", recursive="true"),
        "path=/aegis/volumes/zaru-consumer/%2E%2E/x&recursive=true",
        "path=/aegis/volumes/zaru-consumer/v/%0A&recursive=true",
        "path=/aegis/volumes/zaru-consumer/v?x&recursive=true",
        "path=/aegis/volumes/zaru-consumer/v;/../../x&recursive=true",
        "path=aegis/volumes/zaru-consumer/v&recursive=true",
    ],
)
def test_delete_outside_a_volume_is_refused_before_any_filer(stack: Stack, query: str):
    volume = new_volume(stack)
    answer = stack.client.delete(f"{stack.url}/dir/?{query}")
    assert (answer.status_code, answer.text) == (403, DELETE_REFUSED)
    assert stack.status_everywhere(f"{volume}/.keep") == {200}
    assert stack.status_everywhere("/etc/seaweedfs/filer.conf") == {200}


def test_the_filers_own_recursive_delete_is_refused_on_aegis_url_and_works_on_the_admin_port(stack: Stack):
    volume = new_volume(stack)
    refused = stack.client.delete(f"{stack.url}{volume}?recursive=true")
    assert (refused.status_code, refused.text) == (403, QUERY_REFUSED)
    assert stack.status_everywhere(f"{volume}/.keep") == {200}
    assert stack.client.delete(f"{stack.admin}{volume}?recursive=true").status_code == 204
    assert stack.status_everywhere(f"{volume}/.keep") == {404}


def test_the_health_checks_aegis_probe_passes_through_the_tier_and_fails_on_a_bare_filer(stack: Stack):
    target = health_target(stack.cluster.topology, stack.cluster.values)
    [through_tier] = [r for r in run_checks(target).results if r.component == "aegis"]
    assert through_tier.ok, through_tier.detail

    bare = replace(target, filer_url=stack.filers[0])
    [direct] = [r for r in run_checks(bare).results if r.component == "aegis"]
    assert not direct.ok
    assert direct.detail.startswith("AEGIS's volume delete left the file in place (GET answered 200)")
    tenant = f"{stack.admin}/aegis/volumes/{PROBE_TENANT}/"
    probe_tenant = stack.client.get(tenant, headers={"Accept": "application/json"})
    assert probe_tenant.status_code == 404 or not probe_tenant.json().get("Entries"), "the probe cleans up after itself"
