from dataclasses import replace

import pytest

from components.model.rollout import RolloutNode, compare_versions
from components.model.topology import Role
from tests.support.cluster import loopback_topology
from tests.support.rollout_local import fingerprint, rollout_nodes, rollout_order
from tests.support.stack_configs import prod


def node(name: str) -> RolloutNode:
    return RolloutNode(name, Role(name.split("-")[0]), f"{name}:1", "t")


NODES = [node(n) for n in ("master-0", "master-1", "master-2", "filer-1", "filer-0", "volume-1", "volume-0", "s3-0")]


@pytest.mark.parametrize("leader", ["master-0", "master-1", "master-2"])
def test_volume_servers_then_filers_then_s3_then_the_masters_with_the_leader_last(leader: str):
    order = rollout_order(NODES, leader)
    assert order[:5] == ("volume-0", "volume-1", "filer-0", "filer-1", "s3-0")
    assert order[-1] == leader and sorted(order[5:]) == ["master-0", "master-1", "master-2"]


def test_without_a_known_leader_the_masters_go_in_name_order():
    assert rollout_order(NODES, None)[5:] == ("master-0", "master-1", "master-2")


@pytest.fixture(scope="module")
def topology(tmp_path_factory):
    return loopback_topology(prod(), tmp_path_factory.mktemp("fp"), "127.0.52")[0]


def test_fingerprint_changes_with_the_version_a_flag_an_env_value_a_file_or_an_extra_input(topology):
    master = topology.service("master-0")
    base = fingerprint(master, "4.48")
    assert fingerprint(master, "4.48") == base
    assert fingerprint(master, "4.49") != base
    assert fingerprint(replace(master, args=(*master.args, "-x=1")), "4.48") != base
    assert fingerprint(replace(master, env=(("A", "1"),)), "4.48") != base
    s3 = topology.service("s3-0")
    changed_file = replace(s3, files=(replace(s3.files[0], content="{}"),))
    assert fingerprint(changed_file, "4.48") != fingerprint(s3, "4.48")
    assert fingerprint(master, "4.48", {"instance_type": "c6i.xlarge"}) != base


def test_a_master_flag_changes_only_the_masters_fingerprints(tmp_path):
    topology = loopback_topology(prod(), tmp_path, "127.0.52")[0]
    before = {n.name: n.target for n in rollout_nodes(topology, "4.48")}
    changed = loopback_topology(prod(electionTimeout="5s"), tmp_path, "127.0.52")[0]
    after = {n.name: n.target for n in rollout_nodes(changed, "4.48")}
    assert {name for name in before if before[name] != after[name]} == {"master-0", "master-1", "master-2"}


@pytest.mark.parametrize(("a", "b", "want"), [("4.47", "4.48", -1), ("4.48", "4.48", 0), ("4.100", "4.48", 1)])
def test_versions_compare_numerically(a: str, b: str, want: int):
    assert compare_versions(a, b) == want
