"""The rollout driver against in-memory doubles of the nodes, the gates and HAProxy."""

from __future__ import annotations

from dataclasses import replace

import pytest

from components.model.rollout import RolloutNode
from components.model.topology import Role
from components.rollout.driver import Observed, Rollout, Timing
from components.rollout.gates import Haproxy, HttpGates, NewClusterGates, registered, server_rows

NAMES = ("master-0", "master-1", "master-2", "volume-0", "volume-1", "filer-0", "filer-1")


def nodes(target: str = "new") -> list[RolloutNode]:
    return [RolloutNode(n, Role(n.split("-")[0]), f"{n}:1", target) for n in NAMES]


class FakeCluster:
    """Nodes that run a fingerprint; a node given a `broken` fingerprint never becomes healthy, one given a
    `crashing` one exits as it starts."""

    def __init__(self, leader: str = "master-1", broken: str = "broken", crashing: str = "crashing") -> None:
        self.runs = dict.fromkeys(NAMES, "old")
        self.up = set(NAMES)
        self.log: list[str] = []
        self.leader_name = leader
        self.broken = broken
        self.crashing = crashing
        self.staged: dict[str, str] = {}
        self.marked: set[str] = set()  # stopped by a rollout, not settled since
        self.failing: dict[str, str] = {}  # node -> a probe failure whose cause is elsewhere
        self.short: str | None = None  # what the masters report short (copies, leader), when anything
        self.haproxy: dict[str, str] = {}  # filer -> its state in HAProxy when not UP
        self.mints: set[str] = set()  # masters first in -peers

    # NodeOperator
    def running(self, node: str) -> str | None:
        return self.runs[node] if node in self.up else None

    def observe(self, node: str) -> Observed:
        up = node in self.up
        return Observed(self.runs[node], up, node in self.marked, "" if up else "not running")

    def settled(self, node: str) -> None:
        self.marked.discard(node)

    def forget_raft_state(self, node: str) -> None:
        self.log.append(f"forget raft state {node}")

    def stop(self, node: str) -> None:
        self.marked.add(node)
        self.log.append(f"stop {node}")
        self.up.discard(node)
        if node == self.leader_name:
            self.leader_name = "master-0" if node != "master-0" else "master-2"

    def apply(self, node: str) -> None:
        self.runs[node] = self.staged.get(node, "new")

    def start(self, node: str) -> None:
        self.log.append(f"start {node}")
        if self.runs[node] != self.crashing:
            self.up.add(node)

    # Gates
    def leader(self) -> str | None:
        return self.leader_name

    def problem(self, node: RolloutNode) -> str | None:
        if node.name not in self.up or self.runs[node.name] == self.broken:
            return "down"
        return self.failing.get(node.name)

    def whole(self, nodes: list[RolloutNode], before: RolloutNode | None) -> str | None:
        self.log.append("whole")
        down = [n.name for n in nodes if (before is None or n.name != before.name) and n.name not in self.up]
        return f"{', '.join(down)} answers no answer on /healthz" if down else self.short


class FakeBalancers:
    def __init__(self, cluster: FakeCluster) -> None:
        self.cluster = cluster

    def drain(self, filer: str) -> None:
        self.cluster.log.append(f"drain {filer}")

    def ready(self, filer: str) -> None:
        self.cluster.log.append(f"ready {filer}")

    def problem(self, filer: str) -> str | None:
        return None

    def not_serving(self, filers: list[str]) -> str | None:
        found = [f for f in filers if f in self.cluster.haproxy]
        return f"HAProxy #0 reports {found[0]} {self.cluster.haproxy[found[0]]}" if found else None


def driver(cluster: FakeCluster) -> Rollout:
    return Rollout(cluster, cluster, FakeBalancers(cluster), Timing(gate_timeout=0.05, poll_interval=0.01))


def test_volume_servers_then_filers_drained_first_then_followers_and_the_leader_last():
    cluster = FakeCluster(leader="master-0")
    result = driver(cluster).run(nodes())
    assert result.ok and result.rolled == [
        "volume-0",
        "volume-1",
        "filer-0",
        "filer-1",
        "master-1",
        "master-2",
        "master-0",
    ]
    filer_steps = [line for line in cluster.log if "filer-0" in line]
    assert filer_steps == ["drain filer-0", "stop filer-0", "start filer-0", "ready filer-0"]
    assert all(v == "new" for v in cluster.runs.values())


def test_the_leader_is_looked_up_before_each_master_not_taken_from_the_start():
    cluster = FakeCluster(leader="master-0")
    rollout = driver(cluster)
    moved = []

    def leader() -> str | None:
        # leadership moves to master-2 once master-1 has been rolled
        if "start master-1" in cluster.log and not moved:
            moved.append(True)
            cluster.leader_name = "master-2"
        return cluster.leader_name

    methods = {"leader": staticmethod(leader), "problem": staticmethod(cluster.problem), "whole": cluster.whole}
    rollout.gates = type("G", (), methods)()
    result = rollout.run(nodes())
    assert result.rolled[-3:] == ["master-1", "master-0", "master-2"]


def test_the_first_node_that_fails_its_gate_stops_the_rollout_and_is_reported():
    cluster = FakeCluster()
    cluster.staged["filer-0"] = "broken"
    result = driver(cluster).run(nodes())
    assert result.failed == "filer-0" and "down" in result.reason
    assert result.rolled == ["volume-0", "volume-1"]
    assert cluster.runs["filer-1"] == "old" and cluster.runs["master-0"] == "old"
    assert "rollout stopped at filer-0" in result.summary()


def test_a_rerun_skips_nodes_at_their_target_and_rolls_a_broken_one_again():
    cluster = FakeCluster()
    cluster.staged["filer-0"] = "broken"
    driver(cluster).run(nodes())
    cluster.staged.clear()
    result = driver(cluster).run(nodes())
    assert result.ok
    assert result.skipped == ["volume-0", "volume-1"]
    assert result.rolled[0] == "filer-0"
    assert driver(cluster).run(nodes()).rolled == []


def test_an_operator_error_stops_the_rollout_at_that_node():
    cluster = FakeCluster()

    def fail(node: str) -> None:
        raise TimeoutError("ssm command timed out")

    cluster.start = fail  # type: ignore[method-assign]
    result = driver(cluster).run(nodes())
    assert result.failed == "volume-0" and "ssm command timed out" in result.reason


def test_a_node_found_down_that_no_rollout_stopped_stops_the_rollout_before_any_node_is_touched():
    cluster = FakeCluster()
    cluster.up.discard("filer-1")
    result = driver(cluster).run(nodes())
    assert result.failed == "filer-1" and result.rolled == [] and touched(cluster) == []
    assert result.summary().startswith("rollout stopped at filer-1: found down before it was touched (not running)")


def test_a_node_that_cannot_be_reached_is_reported_as_found_down():
    cluster = FakeCluster()

    def observe(node: str) -> Observed:
        if node == "volume-1":
            raise TimeoutError("ssm command timed out")
        return FakeCluster.observe(cluster, node)

    cluster.observe = observe  # type: ignore[method-assign]
    result = driver(cluster).run(nodes())
    assert result.failed == "volume-1" and touched(cluster) == []
    assert result.reason == "found down before it was touched (unreachable: ssm command timed out)"


def unregistered_at_target() -> FakeCluster:
    """volume-0 already runs its target release, and its probe fails: not registered with the master."""
    cluster = FakeCluster()
    cluster.runs["volume-0"] = "new"
    cluster.failing["volume-0"] = "not registered with the master"
    return cluster


def test_a_node_at_its_target_whose_probe_fails_is_reported_not_restarted():
    cluster = unregistered_at_target()
    result = driver(cluster).run(nodes())
    assert result.failed == "volume-0" and touched(cluster) == []
    assert result.reason == "at its target, not restarted: not healthy after 0.05 s: not registered with the master"


def test_a_node_at_its_target_whose_probe_fails_for_a_while_is_waited_for_and_skipped():
    cluster = unregistered_at_target()
    probes = []

    def problem(node: RolloutNode) -> str | None:
        if node.name == "volume-0":
            probes.append(node.name)
            if len(probes) == 3:  # a leader elected a moment ago: the volume server registers again
                cluster.failing.clear()
        return FakeCluster.problem(cluster, node)

    cluster.problem = problem  # type: ignore[method-assign]
    result = driver(cluster).run(nodes())
    assert result.ok and "volume-0" in result.skipped and "stop volume-0" not in cluster.log


def test_a_node_an_earlier_run_left_down_is_rolled_again_and_settled():
    cluster = FakeCluster()
    cluster.staged["filer-0"] = "crashing"
    first = driver(cluster).run(nodes())
    assert first.failed == "filer-0" and "filer-0" not in cluster.up and "filer-0" in cluster.marked
    cluster.staged.clear()
    result = driver(cluster).run(nodes())
    assert result.ok and result.rolled[0] == "filer-0", result.summary()
    assert cluster.marked == set()


def test_a_node_at_its_target_and_healthy_is_skipped_and_its_mark_cleared():
    cluster = FakeCluster()
    cluster.runs["volume-0"] = "new"
    cluster.marked.add("volume-0")  # an earlier run timed out on it; it came up later
    result = driver(cluster).run(nodes())
    assert result.ok and "volume-0" in result.skipped and "stop volume-0" not in cluster.log
    assert "volume-0" not in cluster.marked


def test_followers_start_with_their_raft_state_moved_aside_and_the_leader_keeps_its_own():
    cluster = FakeCluster(leader="master-0")
    result = driver(cluster).run(nodes())
    assert result.ok
    masters = [line for line in touched(cluster) if "master" in line]
    assert masters == [
        "stop master-1",
        "forget raft state master-1",
        "start master-1",
        "stop master-2",
        "forget raft state master-2",
        "start master-2",
        "stop master-0",
        "start master-0",
    ]


def touched(cluster: FakeCluster) -> list[str]:
    """What was done to the nodes (the whole-cluster probes left out)."""
    return [line for line in cluster.log if not line.startswith("whole")]


def test_a_node_killed_during_the_volume_tier_stops_the_rollout_before_the_next_stop_naming_it():
    cluster = FakeCluster()
    events: list[str] = []
    rollout = driver(cluster)

    def on_event(node: str, what: str) -> None:
        events.append(f"{node} {what}")
        if (node, what) == ("volume-0", "healthy"):
            cluster.up.discard("volume-1")  # killed by something else, not by the rollout

    rollout.on_event = on_event
    result = rollout.run(nodes())
    assert result.failed == "volume-1" and result.before and result.rolled == ["volume-0"]
    assert result.summary().startswith(
        "rollout stopped before volume-1: cluster not whole: volume-1 answers no answer on /healthz (waited 0.05 s)"
    )
    assert touched(cluster)[-1] == "start volume-0"  # nothing after: volume-1 is reported, never restarted
    # Killed when the filers are next: stopped before the filer is even drained.
    cluster = FakeCluster()
    rollout = driver(cluster)
    rollout.on_event = lambda node, what: (
        cluster.up.discard("volume-0") if (node, what) == ("volume-1", "healthy") else None
    )
    result = rollout.run(nodes())
    assert (result.failed, result.before, result.rolled) == ("filer-0", True, ["volume-0", "volume-1"])
    assert "volume-0" in result.reason and "drain filer-0" not in cluster.log


def test_under_replicated_volumes_block_the_next_stop():
    cluster = FakeCluster()
    cluster.short = "volume 7 has 1 of 2 copies"
    result = driver(cluster).run(nodes())
    assert result.failed == "volume-0" and result.before and touched(cluster) == []
    assert result.reason == "cluster not whole: volume 7 has 1 of 2 copies (waited 0.05 s)"


def test_no_leader_blocks_and_a_leader_back_within_the_timeout_lets_it_go_on():
    cluster = FakeCluster()
    cluster.short = "no Raft leader"
    result = driver(cluster).run(nodes())
    assert result.failed == "volume-0" and "cluster not whole: no Raft leader" in result.reason
    assert touched(cluster) == []
    rollout = Rollout(cluster, cluster, FakeBalancers(cluster), Timing(gate_timeout=5, poll_interval=0.01))
    rollout.on_event = lambda node, what: None
    probes = []

    def whole(nodes_: list[RolloutNode], before: RolloutNode | None) -> str | None:
        probes.append(before)
        return "no Raft leader" if len(probes) < 3 else None  # elected a moment later

    cluster.whole = whole  # type: ignore[method-assign]
    assert rollout.run(nodes()).ok


def test_a_filer_down_in_haproxy_blocks_but_the_filer_about_to_be_drained_does_not():
    cluster = FakeCluster()
    cluster.haproxy["filer-1"] = "DOWN"  # e.g. its name stopped resolving in HAProxy: a restart fixes nothing
    result = driver(cluster).run(nodes())
    assert result.failed == "volume-0" and result.before and touched(cluster) == []
    assert result.reason == "cluster not whole: HAProxy #0 reports filer-1 DOWN (waited 0.05 s)"
    cluster.haproxy = {"filer-0": "DOWN"}
    cluster.runs.update(dict.fromkeys(["volume-0", "volume-1"], "new"))
    result = driver(cluster).run(nodes())
    # filer-0 is the one about to be drained: it does not block itself; filer-1 is then blocked by it.
    assert result.failed == "filer-1" and result.rolled == ["filer-0"], result.summary()


def test_a_node_an_earlier_run_left_down_is_rolled_before_any_other():
    cluster = FakeCluster()
    cluster.up.discard("filer-1")
    cluster.marked.add("filer-1")
    result = driver(cluster).run(nodes())
    assert result.ok and result.rolled[0] == "filer-1", result.summary()


def test_the_master_first_in_peers_keeps_its_raft_state_even_while_another_leads():
    cluster = FakeCluster(leader="master-1")
    plan = [replace(n, mints_cluster=n.name == "master-0") for n in nodes()]
    result = driver(cluster).run(plan)
    assert result.ok
    assert "forget raft state master-0" not in cluster.log
    assert "forget raft state master-2" in cluster.log and "stop master-0" in cluster.log


def test_any_error_of_a_gate_ends_the_rollout_in_one_line_naming_the_node():
    cluster = FakeCluster()

    def whole(nodes_: list[RolloutNode], before: RolloutNode | None) -> str | None:
        raise RuntimeError("volume-1 (i-0v1) is no longer a managed instance (stopped, terminated or replaced)")

    cluster.whole = whole  # type: ignore[method-assign]
    result = driver(cluster).run(nodes())
    assert result.summary().startswith(
        "rollout stopped at volume-0: RuntimeError: volume-1 (i-0v1) is no longer a managed instance"
    )


class RunningOnly:
    """An operator that only reads the fingerprint (no `observe`): the driver rolls what is not current."""

    def __init__(self, cluster: FakeCluster) -> None:
        self.running, self.stop, self.apply, self.start = cluster.running, cluster.stop, cluster.apply, cluster.start


def test_an_operator_without_observe_gets_every_node_not_current_rolled():
    cluster = FakeCluster()
    cluster.up.discard("filer-1")
    rollout = Rollout(RunningOnly(cluster), cluster, FakeBalancers(cluster), Timing(0.05, 0.01))
    result = rollout.run(nodes())
    assert result.ok and "filer-1" in result.rolled
    assert not any(line.startswith("forget") for line in cluster.log)


SHOW_STAT = (
    "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status\n"
    "filers,FRONTEND,,,0,0,4096,0,0,0,0,0,0,,,,,OPEN\n"
    "filers,filer-0,0,0,2,3,,9,0,0,,0,,0,0,0,0,DRAIN\n"
    "filers,filer-1,0,0,0,3,,9,0,0,,0,,0,0,0,0,UP\n"
    "filers,BACKEND,0,0,2,3,,9,0,0,0,0,,0,0,0,0,UP\n"
)


def test_haproxy_rows_states_and_drain_commands():
    rows = server_rows(SHOW_STAT)
    assert set(rows) == {"filer-0", "filer-1"} and rows["filer-0"]["scur"] == "2"
    sent: list[str] = []

    def send(command: str) -> str:
        sent.append(command)
        return SHOW_STAT if command == "show stat" else ""

    lb = Haproxy([send, send], drain_timeout=0.05)
    assert lb.problem("filer-1") is None
    assert lb.problem("filer-0") == "HAProxy #0 reports filer-0 DRAIN"
    lb.drain("filer-0")
    lb.ready("filer-0")
    assert sent.count("set server filers/filer-0 state drain") == 2
    assert sent.count("set server filers/filer-0 state ready") == 2


def test_a_volume_server_counts_as_registered_only_when_the_topology_lists_it():
    status = {"Topology": {"DataCenters": [{"Racks": [{"DataNodes": [{"Url": "10.0.0.5:8080"}]}]}]}}
    assert registered(status, "10.0.0.5:8080")
    assert not registered(status, "10.0.0.6:8080")
    assert not registered({"Topology": {}}, "10.0.0.5:8080")


def fetcher(answers: dict[str, tuple[int, str]]):
    return lambda url: answers.get(url, (0, ""))


MASTER_ADDRESSES = {"master-0": "m0:9333", "master-1": "m1:9333", "master-2": "m2:9333"}
FIRST = RolloutNode("master-0", Role.MASTER, "m0:9333", "")


def test_a_master_rejoined_when_it_knows_the_leader_and_the_leader_lists_it():
    answers = {
        "http://m0:9333/cluster/healthz": (200, ""),
        "http://m0:9333/cluster/status": (200, '{"Leader": "m1:9333.19333"}'),
        "http://m1:9333/cluster/status": (200, '{"IsLeader": true, "Leader": "m1:9333.19333", "Peers": ["m2:9333"]}'),
    }
    gates = HttpGates(MASTER_ADDRESSES, fetcher(answers))
    assert gates.leader() == "master-1"
    assert "not among the leader's peers" in (gates.problem(FIRST) or "")
    answers["http://m1:9333/cluster/status"] = (200, '{"Leader": "m1:9333.19333", "Peers": ["m0:9333.19333"]}')
    assert gates.problem(FIRST) is None
    answers["http://m0:9333/cluster/status"] = (200, "{}")
    assert gates.problem(FIRST) == "knows no Raft leader"


def test_only_the_first_master_of_a_new_cluster_passes_without_a_leader():
    answers = {"http://m0:9333/cluster/healthz": (503, ""), "http://m0:9333/cluster/status": (200, "{}")}
    assert NewClusterGates(MASTER_ADDRESSES, fetcher(answers)).problem(FIRST) is None
    answers["http://m1:9333/cluster/status"] = (200, "{}")  # a peer exists: a running cluster, full gate
    assert NewClusterGates(MASTER_ADDRESSES, fetcher(answers)).problem(FIRST) == "health probe answered HTTP 503"


def test_in_a_cluster_without_a_leader_yet_a_first_volume_server_passes_once_it_answers():
    volume = RolloutNode("volume-0", Role.VOLUME, "v0:8080", "")
    answers = {"http://v0:8080/": (404, ""), "http://m0:9333/cluster/status": (200, "{}")}
    assert NewClusterGates(MASTER_ADDRESSES, fetcher(answers)).problem(volume) is None
    answers["http://m0:9333/cluster/status"] = (200, '{"Leader": "m0:9333.19333"}')
    answers["http://v0:8080/healthz"] = (200, "")
    answers["http://m0:9333/dir/status"] = (200, '{"Topology": {}}')
    assert NewClusterGates(MASTER_ADDRESSES, fetcher(answers)).problem(volume) == "not registered with the master"


def test_the_model_marks_the_master_first_in_peers_and_the_loopback_operator_keeps_its_state(tmp_path):
    from pathlib import Path
    from types import SimpleNamespace

    from components.aws.placement import prod_topology
    from components.model.rollout import mints_cluster, raft_state_dir
    from tests.support.cluster import loopback_topology
    from tests.support.rollout_local import LoopbackOperator, Release
    from tests.support.stack_configs import prod

    aws = {m.name: (mints_cluster(m), raft_state_dir(m)) for m in prod_topology(prod()).of(Role.MASTER)}
    assert aws == {name: (name == "master-0", "/data/m9333") for name in ("master-0", "master-1", "master-2")}
    topology, _ = loopback_topology(prod(), tmp_path, "127.0.99")
    targets = {s.name: Release(s, "weed", "4.48") for s in topology.of(Role.MASTER)}
    operator = LoopbackOperator(SimpleNamespace(processes={}), {}, targets)  # type: ignore[arg-type]
    for service in topology.of(Role.MASTER):
        Path(raft_state_dir(service)).mkdir(parents=True)
    with pytest.raises(RuntimeError, match="master-0 is first in -peers"):
        operator.forget_raft_state("master-0")
    operator.forget_raft_state("master-1")
    assert Path(raft_state_dir(targets["master-0"].service)).exists()
    assert not Path(raft_state_dir(targets["master-1"].service)).exists()
    assert Path(raft_state_dir(targets["master-1"].service) + ".before-rollout").exists()
