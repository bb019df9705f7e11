"""Drives a rollout: one node at a time, in `components.model.rollout` order, each gated on its health.

Plain Python with no Pulumi in it: the AWS rollout resource drives it over SSM Run Command, the loopback
tests and the benchmark drive it over local processes. Only the `NodeOperator` (how a node is stopped,
given its new config and started), the `LoadBalancers` (how a filer leaves and rejoins HAProxy) and the
`Gates` (how health is probed) differ.

A rollout stops at the first node that does not pass its gate and reports it; the nodes after it keep
what they run. A re-run skips every node whose running fingerprint is already the target, so it resumes
where the last one stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from components.model.rollout import RolloutNode, next_master, tiers
from components.model.topology import Role


class NodeOperator(Protocol):
    def running(self, node: str) -> str | None:
        """The fingerprint the node runs now, None when it cannot tell."""

    def stop(self, node: str) -> None: ...

    def apply(self, node: str) -> None:
        """Put the node's new config (and binary) in place; it runs after the next start."""

    def start(self, node: str) -> None: ...


class LoadBalancers(Protocol):
    def drain(self, filer: str) -> None:
        """No new requests to `filer`; returns once its open requests finished (bounded)."""

    def ready(self, filer: str) -> None:
        """Let `filer` take requests again once its health checks pass."""

    def problem(self, filer: str) -> str | None:
        """Why some load balancer does not send requests to `filer`, None when all of them do."""


class Gates(Protocol):
    def leader(self) -> str | None:
        """The name of the current Raft leader, None when there is none."""

    def problem(self, node: RolloutNode) -> str | None:
        """Why `node` is not healthy in the cluster yet, None when it is."""


class NoLoadBalancers:
    """Stacks whose clients reach the single filer directly (dev)."""

    def drain(self, filer: str) -> None:
        return None

    def ready(self, filer: str) -> None:
        return None

    def problem(self, filer: str) -> str | None:
        return None


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

    @property
    def ok(self) -> bool:
        return self.failed is None

    def summary(self) -> str:
        done = f"rolled {', '.join(self.rolled) or 'nothing'}; already current: {', '.join(self.skipped) or 'none'}"
        return done if self.ok else f"rollout stopped at {self.failed}: {self.reason} ({done})"


class NodeFailed(Exception):
    def __init__(self, node: str, reason: str) -> None:
        super().__init__(f"{node}: {reason}")
        self.node = node
        self.reason = reason


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
        """Roll every node not at its target; stop at the first node that fails its gate."""
        result = RolloutResult()
        try:
            for tier in tiers(nodes):
                pending = [n for n in tier if not self._current(n, result)]
                while pending:
                    node = next_master(pending, self.gates.leader()) if node_is_master(pending) else pending[0]
                    self.roll(node)
                    result.rolled.append(node.name)
                    pending.remove(node)
        except NodeFailed as failure:
            result.failed, result.reason = failure.node, failure.reason
            self.on_event(failure.node, f"failed: {failure.reason}")
        return result

    def _current(self, node: RolloutNode, result: RolloutResult) -> bool:
        """At its target and healthy: a node left broken by an earlier run is rolled again."""
        if self.operator.running(node.name) != node.target or self._problem(node) is not None:
            return False
        result.skipped.append(node.name)
        return True

    def _problem(self, node: RolloutNode) -> str | None:
        problem = self.gates.problem(node)
        if problem is None and node.role is Role.FILER:
            problem = self.balancers.problem(node.name)
        return problem

    def roll(self, node: RolloutNode) -> None:
        """Stop, apply, start one node and wait for its gate; a filer leaves HAProxy first."""
        try:
            if node.role is Role.FILER:
                self.balancers.drain(node.name)
                self.on_event(node.name, "drained")
            if node.role is Role.MASTER and self.leader_handover and self.gates.leader() == node.name:
                self.leader_handover(node.name)
                self.on_event(node.name, "handed leadership over")
            self.operator.stop(node.name)
            self.on_event(node.name, "stopped")
            self.operator.apply(node.name)
            self.operator.start(node.name)
        except Exception as err:  # whatever the transport raised, the rollout reports the node
            raise NodeFailed(node.name, f"{type(err).__name__}: {err}") from err
        self.on_event(node.name, "started")
        self._wait(node, lambda: self.gates.problem(node))
        if node.role is Role.FILER:
            self.balancers.ready(node.name)
        self.wait_ready(node)

    def wait_ready(self, node: RolloutNode) -> None:
        """Until `node` passes its gate (a filer: also UP in every HAProxy); NodeFailed after the timeout."""
        self._wait(node, lambda: self._problem(node))
        self.on_event(node.name, "healthy")

    def _wait(self, node: RolloutNode, problem: Callable[[], str | None]) -> None:
        deadline = time.monotonic() + self.timing.gate_timeout
        last = problem()
        while last is not None:
            if time.monotonic() >= deadline:
                raise NodeFailed(node.name, f"not healthy after {self.timing.gate_timeout:g} s: {last}")
            time.sleep(self.timing.poll_interval)
            last = problem()


def node_is_master(pending: Sequence[RolloutNode]) -> bool:
    return pending[0].role is Role.MASTER
