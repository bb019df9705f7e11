"""Drives a rollout: one node at a time, in `components.model.rollout` order, each gated on its health.

Plain Python with no Pulumi in it: the AWS rollout resource drives it over SSM Run Command, the loopback
tests and the benchmark drive it over local processes. Only the `NodeOperator` (how a node is stopped,
given its new config and started), the `LoadBalancers` (how a filer leaves and rejoins HAProxy) and the
`Gates` (how health is probed) differ.

A rollout stops at the first node that does not pass its gate and reports it; the nodes after it keep
what they run. Before it stops any node it waits (the gate's timeout at most) until the whole cluster is
there (`Gates.whole`: every master answers and names one leader whose peers are all the other masters,
every volume server answers and is registered, every volume has all its copies, the other filers are UP in
every HAProxy, the S3 gateway answers); otherwise it stops before that node, naming what is missing. So it
never stops a node while another node is down, and never takes a volume's last copy away. A re-run
skips every node whose running fingerprint is already the target, so it resumes where the last one
stopped; a node an earlier run left down is rolled first, before any other node.

Before touching anything the driver sorts every node (`Rollout.plan`): running at another fingerprint is
rolled; running at its target and healthy is skipped; running at its target but failing its gate is
given the gate's timeout and then reported, never restarted (the cause may be elsewhere, e.g. the
masters); down, or unreachable, is reported unless a rollout stopped it and it has not passed its gate
since (an earlier run left it broken, so rolling it again is the resume). An operator marks a node when
it stops it and clears the mark once the node passed its gate (`settled`); the mark lives on the node,
beside its fingerprint, so a re-run sees it.

A master restarted while another master leads starts with its Raft state moved aside
(`forget_raft_state`). goraft has no pre-vote: a follower that hears no heartbeat within its election
timeout (3 s in prod, randomized up to twice that) campaigns with a higher term, and the leader steps
down when it sees that term. While a master is down, the leader's gRPC link to it waits longer and
longer between reconnects (exponential backoff, up to about two minutes), so a master back after a long
stop, as on a resume after a failed start, hears nothing for longer than its timeout and takes the
leadership (loopback, 4 resumes: the leader moved in 3, up to 68 writes failed). goraft promotes only a
follower that has a log: with an empty one the master waits until the leader reaches it and copies the
log over (1-18 s measured, at most that backoff). weed itself does this at every start with
-resumeState=false. A master without state joins only through a leader (the first master in -peers
mints a new cluster when it finds no leader anywhere), so the state is moved only while another master
leads; the leader keeps its own, it is restarted last and its move is the planned one. The master first in
-peers (`RolloutNode.mints_cluster`) always keeps its state: without it, a leader lost during its join
would let it mint a second cluster beside the first (split brain, seaweedfs#10880), which is worse than
the leader moving once.

Whatever a step raises (a gate's transport, the operator, the leader lookup) ends the rollout at the node
being worked on with one line, never a traceback.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol, runtime_checkable

from components.model.rollout import RolloutNode, next_master, tiers
from components.model.topology import Role


class NodeOperator(Protocol):
    def running(self, node: str) -> str | None:
        """The fingerprint the node runs now, None when it cannot tell."""

    def stop(self, node: str) -> None:
        """Stop the node; an `ObservingOperator` first marks it as stopped by a rollout."""

    def apply(self, node: str) -> None:
        """Put the node's new config (and binary) in place; it runs after the next start."""

    def start(self, node: str) -> None: ...


@runtime_checkable
class ObservingOperator(NodeOperator, Protocol):
    """An operator that tells a node that is down from one at another fingerprint. Without it (an
    operator with `running` only) the driver rolls every node not at its target and healthy."""

    def observe(self, node: str) -> Observed:
        """What the node runs, whether its process runs, and whether a rollout stopped it and it has not
        passed its gate since (the mark `stop` leaves on the node); raises when the node cannot be reached."""

    def settled(self, node: str) -> None:
        """The node passed its gate: clear the mark `stop` left."""


@runtime_checkable
class RaftStateOperator(Protocol):
    def forget_raft_state(self, node: str) -> None:
        """A stopped master: move its Raft state (-mdir's log, conf, term, snapshot) aside, so it starts
        with an empty log and joins as a follower only."""


class LoadBalancers(Protocol):
    def drain(self, filer: str) -> None:
        """No new requests to `filer`; returns once its open requests finished (bounded)."""

    def ready(self, filer: str) -> None:
        """Let `filer` take requests again once its health checks pass."""

    def problem(self, filer: str) -> str | None:
        """Why some load balancer does not send requests to `filer`, None when all of them do."""

    def not_serving(self, filers: Sequence[str]) -> str | None:
        """The first of `filers` some load balancer does not send requests to, and why; None when all serve."""


class Gates(Protocol):
    def leader(self) -> str | None:
        """The name of the current Raft leader, None when there is none."""

    def problem(self, node: RolloutNode) -> str | None:
        """Why `node` is not healthy in the cluster yet, None when it is."""

    def whole(self, nodes: Sequence[RolloutNode], before: RolloutNode | None) -> str | None:
        """What of the cluster `nodes` is missing, None when every node is there and every volume has all its
        copies. `before`, when given, is a node an earlier run left down that is about to be rolled: it is
        left out, and the copies it holds are not counted as missing."""


class NoLoadBalancers:
    """Stacks whose clients reach the single filer directly (dev)."""

    def drain(self, filer: str) -> None:
        return None

    def ready(self, filer: str) -> None:
        return None

    def problem(self, filer: str) -> str | None:
        return None

    def not_serving(self, filers: Sequence[str]) -> str | None:
        return None


@dataclass(frozen=True)
class Observed:
    fingerprint: str | None
    up: bool
    ours: bool  # a rollout stopped it and it has not passed its gate since
    detail: str = ""  # why it is not up, for the report


class Action(Enum):
    RESUME = "resume"  # an earlier run stopped it and it never passed its gate: rolled before any other node
    ROLL = "roll"
    SKIP = "skip"


@dataclass(frozen=True)
class Timing:
    gate_timeout: float = 120.0
    poll_interval: float = 0.5


@dataclass
class RolloutResult:
    rolled: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: str | None = None
    reason: str = ""
    before: bool = False  # stopped before `failed` was touched (the cluster was not whole)

    @property
    def ok(self) -> bool:
        return self.failed is None

    def summary(self) -> str:
        done = f"rolled {', '.join(self.rolled) or 'nothing'}; already current: {', '.join(self.skipped) or 'none'}"
        where = "before" if self.before else "at"
        return done if self.ok else f"rollout stopped {where} {self.failed}: {self.reason} ({done})"


class NodeFailed(Exception):
    def __init__(self, node: str, reason: str, before: bool = False) -> None:
        super().__init__(f"{node}: {reason}")
        self.node = node
        self.reason = reason
        self.before = before
        self.last = reason  # what the wait saw last, when it was a wait that ran out


Event = Callable[[str, str], None]  # (node, what happened)


@dataclass
class Rollout:
    operator: NodeOperator
    gates: Gates
    balancers: LoadBalancers = field(default_factory=NoLoadBalancers)
    timing: Timing = field(default_factory=Timing)
    on_event: Event = lambda _node, _what: None
    # Called with the leader's name before it stops (e.g. cluster.raft.transferLeader); None: it fails over.
    leader_handover: Callable[[str], None] | None = None

    def run(self, nodes: Sequence[RolloutNode]) -> RolloutResult:
        """Roll every node not at its target; stop at the first node that fails its gate, before touching
        any node when one is found down or broken that no rollout stopped, and before a node when the rest
        of the cluster is not whole."""
        result = RolloutResult()
        self._nodes = tuple(nodes)
        self._resumed: set[str] = set()
        self._current = nodes[0].name if nodes else ""
        try:
            resumed, to_roll = self.plan(nodes, result)
            self._resumed = {node.name for node in resumed}
            # A node an earlier run left down goes first: until it is back the cluster is not whole.
            for node in resumed:
                self._roll_one(node, result)
            for tier in tiers(to_roll):
                pending = list(tier)
                while pending:
                    node = next_master(pending, self.gates.leader()) if node_is_master(pending) else pending[0]
                    self._roll_one(node, result)
                    pending.remove(node)
        except NodeFailed as failure:
            result.failed, result.reason, result.before = failure.node, failure.reason, failure.before
        except Exception as err:  # a transport's error outside any node step: the node being worked on
            result.failed, result.reason = self._current, f"{type(err).__name__}: {err}"
        if result.failed:
            self.on_event(result.failed, f"failed: {result.reason}")
        return result

    def _roll_one(self, node: RolloutNode, result: RolloutResult) -> None:
        self._current = node.name
        self.roll(node)
        result.rolled.append(node.name)

    def plan(self, nodes: Sequence[RolloutNode], result: RolloutResult) -> tuple[list[RolloutNode], list[RolloutNode]]:
        """The nodes an earlier run left down, and the other nodes to roll, each in rollout order; the
        others go to `result.skipped`."""
        resumed: list[RolloutNode] = []
        to_roll: list[RolloutNode] = []
        for node in (n for tier in tiers(nodes) for n in tier):
            self._current = node.name
            action = self.action(node)
            if action is Action.SKIP:
                result.skipped.append(node.name)
            else:
                (resumed if action is Action.RESUME else to_roll).append(node)
        return resumed, to_roll

    def action(self, node: RolloutNode) -> Action:
        """Roll or skip `node`; NodeFailed when it is down, or broken at its target, and no rollout stopped it."""
        if not isinstance(self.operator, ObservingOperator):
            # An operator that cannot tell down from another fingerprint: every node not current is rolled.
            running = self.operator.running(node.name)
            if running is None:  # down: back first, the cluster is not whole without it
                return Action.RESUME
            current = running == node.target and self._problem(node) is None
            return Action.SKIP if current else Action.ROLL
        try:
            seen = self.operator.observe(node.name)
        except Exception as err:  # whatever the transport raised: the node cannot be reached
            raise NodeFailed(node.name, f"found down before it was touched (unreachable: {err})") from err
        if not seen.up:
            if seen.ours:  # an earlier run stopped it and its new config never came up: roll it again
                return Action.RESUME
            raise NodeFailed(node.name, f"found down before it was touched ({seen.detail or 'not running'})")
        if seen.fingerprint != node.target:
            return Action.ROLL
        problem = self._problem(node)
        if problem is not None and seen.ours:  # left broken at its target by an earlier run
            return Action.RESUME
        if problem is not None:
            # Never restarted for it: the cause may be elsewhere (a leader elected a moment ago, masters
            # without quorum) and a restart would add a second broken node. It gets its gate's time to pass.
            try:
                self.wait_ready(node)
            except NodeFailed as failed:
                raise NodeFailed(node.name, f"at its target, not restarted: {failed.reason}") from failed
        if seen.ours:
            self.operator.settled(node.name)
        return Action.SKIP

    def _problem(self, node: RolloutNode) -> str | None:
        problem = self.gates.problem(node)
        if problem is None and node.role is Role.FILER:
            problem = self.balancers.problem(node.name)
        return problem

    def wait_whole(self, before: RolloutNode) -> None:
        """Until the cluster is whole (bounded by the gate's timeout); NodeFailed naming what is missing. It
        only reports: a node found missing is never restarted for it (the cause may be elsewhere, a name
        that does not resolve, a disk, a zone), and `before` is not stopped. `before` itself is left out
        only when an earlier run left it down; a filer about to be drained may be out of HAProxy already."""
        others = [n.name for n in self._nodes if n.role is Role.FILER and n.name != before.name]
        left_down = before if before.name in self._resumed else None

        def missing() -> str | None:
            return self.gates.whole(self._nodes, left_down) or self.balancers.not_serving(others)

        try:
            self._wait(before, missing)
        except NodeFailed as failed:
            raise NodeFailed(before.name, f"cluster not whole: {failed.last}", before=True) from failed

    def roll(self, node: RolloutNode) -> None:
        """Once the cluster is whole: stop, apply, start one node and wait for its gate; a filer leaves
        HAProxy first."""
        self.wait_whole(node)
        try:
            if node.role is Role.FILER:
                self.balancers.drain(node.name)
                self.on_event(node.name, "drained")
            leader = self.gates.leader() if node.role is Role.MASTER else None
            if node.role is Role.MASTER and self.leader_handover and leader == node.name:
                self.leader_handover(node.name)
                self.on_event(node.name, "handed leadership over")
            self.operator.stop(node.name)
            self.on_event(node.name, "stopped")
            self.operator.apply(node.name)
            if leader not in (None, node.name) and self._may_forget(node):
                # A follower with an empty log cannot campaign: it waits for the leader (module docstring).
                self.operator.forget_raft_state(node.name)  # type: ignore[attr-defined]
                self.on_event(node.name, "raft state moved aside")
            self.operator.start(node.name)
        except Exception as err:  # whatever the transport raised, the rollout reports the node
            raise NodeFailed(node.name, f"{type(err).__name__}: {err}") from err
        self.on_event(node.name, "started")
        self._wait(node, lambda: self.gates.problem(node))
        if node.role is Role.FILER:
            self.balancers.ready(node.name)
        self.wait_ready(node)
        if isinstance(self.operator, ObservingOperator):
            self.operator.settled(node.name)

    def _may_forget(self, node: RolloutNode) -> bool:
        # Never the master first in -peers: without state it could mint a rival cluster (module docstring).
        return isinstance(self.operator, RaftStateOperator) and not node.mints_cluster

    def wait_ready(self, node: RolloutNode) -> None:
        """Until `node` passes its gate (a filer: also UP in every HAProxy); NodeFailed after the timeout."""
        self._wait(node, lambda: self._problem(node))
        self.on_event(node.name, "healthy")

    def _wait(self, node: RolloutNode, problem: Callable[[], str | None]) -> None:
        deadline = time.monotonic() + self.timing.gate_timeout
        last = problem()
        while last is not None:
            if time.monotonic() >= deadline:
                failed = NodeFailed(node.name, f"not healthy after {self.timing.gate_timeout:g} s: {last}")
                failed.last = f"{last} (waited {self.timing.gate_timeout:g} s)"
                raise failed
            time.sleep(self.timing.poll_interval)
            last = problem()


def node_is_master(pending: Sequence[RolloutNode]) -> bool:
    return pending[0].role is Role.MASTER
