"""The rollout on AWS as Pulumi dynamic resources: one `RolloutRun` and one `NodeReady` per node.

`RolloutRun` (the resource `stack-rollout`, inside the `StackRollout` component) holds every node's
target fingerprint (the digest of its SSM node document). A changed flag, env value or release changes
those parameters and this resource's plan, nothing else, so a preview shows the change as an update of
the rollout. Its update drives `components.rollout.driver`
over SSM Run Command: one node at a time in the model's order, each gated on its health; a node that
fails its gate fails the update and names the node; the next `pulumi up` resumes (nodes already at
their target are skipped). Its `check` refuses a release below the running one unless allowDowngrade.

`NodeReady` waits until one node's instance passes its gate. Each instance depends on the NodeReady of
the node before it in rollout order, so an AMI or instance-type change replaces one instance at a time.

Both run SSM as the stack's AWS provider does: its `aws:region`, `aws:profile` and `aws:assumeRoles`
reach them as the plain JSON input `aws_identity` (a secret output when any of it is a secret), which
`components.rollout.aws_identity` turns into a boto3 session. Neither's diff looks at it: a changed
profile changes who runs the next rollout, not what it does.

Both take their plan as ONE JSON string: the engine carries properties as a protobuf Struct, where a
number is a double and nested maps lose their types; a string crosses unchanged
(tests/support/engine_wire.py feeds them exactly that).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any

import pulumi
from pulumi.dynamic import CheckResult, CreateResult, DiffResult, ResourceProvider, UpdateResult

from components.model.rollout import mints_cluster, raft_state_dir
from components.model.topology import LoadBalancer, Role, Service
from components.rollout.aws_identity import AwsIdentity, stack_identity

# Importable here too: stacks' states name it under this module (see `_StackRolloutProvider` below).
from components.stack.release import _ReleaseGuardProvider as _ReleaseGuardProvider
from components.stack.release import release_check

LB_ROLE = "lb"


@dataclass(frozen=True)
class PlanNode:
    name: str
    role: str  # a model Role value, or "lb" for an HAProxy node
    address: str  # host:port its health is probed at
    target: str
    instance_id: str
    # A master first in -peers: its Raft state is never moved aside (components/rollout/driver.py).
    mints_cluster: bool = False
    raft_state: str = ""  # a master's Raft state directory (-mdir's m<port>); "" for the others
    # host:port of the usage service beside an HAProxy, probed on the node once HAProxy answers; "" for the others.
    usage: str = ""


@dataclass(frozen=True)
class RolloutPlan:
    region: str
    nodes: tuple[PlanNode, ...]
    load_balancers: tuple[tuple[str, str], ...]  # (instance id, admin socket) of each HAProxy
    gate_timeout: float

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RolloutPlan:
        raw = json.loads(text)
        return cls(
            region=str(raw["region"]),
            nodes=tuple(PlanNode(**node) for node in raw["nodes"]),
            load_balancers=tuple((str(i), str(s)) for i, s in raw["load_balancers"]),
            gate_timeout=float(raw["gate_timeout"]),
        )

    def targets(self) -> dict[str, tuple[str, str]]:
        return {n.name: (n.target, n.instance_id) for n in self.nodes}


def plan_node(model: Service | LoadBalancer, target: str, instance_id: str, usage: str = "") -> PlanNode:
    """The node as the rollout resources see it; HAProxy is probed on its stats port, then the usage service
    beside it (`usage`, host:port) on its own."""
    if isinstance(model, LoadBalancer):
        return PlanNode(model.name, LB_ROLE, f"{model.host}:{model.stats_port}", target, instance_id, usage=usage)
    raft = raft_state_dir(model) if model.role is Role.MASTER else ""
    return PlanNode(model.name, model.role.value, model.http_address, target, instance_id, mints_cluster(model), raft)


def identity_input(region: str) -> pulumi.Input[str]:
    """The stack's AWS identity for a rollout resource's `aws_identity` input, secret when any of it is."""
    identity, secret = stack_identity(region)
    return pulumi.Output.secret(identity.to_json()) if secret else identity.to_json()


def _identity(props: dict[str, Any], plan: RolloutPlan) -> AwsIdentity:
    # A state written before the input existed: the plan's region and the default credential chain.
    text = props.get("aws_identity")
    return AwsIdentity.from_json(text) if text else AwsIdentity(plan.region)


def _shell(props: dict[str, Any], plan: RolloutPlan, budget: float) -> Any:
    from components.rollout.ssm import SsmShell  # boto3 only in the provider's process

    names = {n.instance_id: n.name for n in plan.nodes}
    return SsmShell.for_identity(_identity(props, plan), names, registration_timeout=budget)


def _driver(plan: RolloutPlan, shell: Any, masters: dict[str, str] | None = None) -> Any:
    # Imported here: this runs in the dynamic provider's own process, and boto3 only there.
    from components.model.rollout import RolloutNode
    from components.rollout.driver import Rollout, Timing
    from components.rollout.gates import Haproxy, HttpGates, NewClusterGates
    from components.rollout.ssm import SsmOperator, ssm_fetch, ssm_haproxy_sender

    services = [n for n in plan.nodes if n.role != LB_ROLE]
    # A whole plan knows its masters; a NodeReady's plan is one node, and a first instance may be alone.
    gates = HttpGates if masters is None else NewClusterGates
    masters = masters or {n.name: n.address for n in services if n.role == Role.MASTER.value}
    instances = {n.name: n.instance_id for n in plan.nodes}
    # Each gate is probed from its own node (see HttpGates); the leader is looked up from a master.
    leader_probe = next((instances[name] for name in masters if name in instances), plan.nodes[0].instance_id)
    # Never the master first in -peers (it could mint a rival Raft cluster without its state).
    raft_states = {n.name: n.raft_state for n in services if n.raft_state and not n.mints_cluster}
    rollout = Rollout(
        SsmOperator(shell, {n.name: n.instance_id for n in services}, raft_states),
        gates(masters, ssm_fetch(shell, leader_probe), lambda name: ssm_fetch(shell, instances[name])),
        Haproxy([ssm_haproxy_sender(shell, i, s) for i, s in plan.load_balancers]),
        Timing(gate_timeout=plan.gate_timeout, poll_interval=2.0),
        on_event=lambda node, what: pulumi.log.info(f"rollout: {node} {what}"),
    )
    nodes = [RolloutNode(n.name, Role(n.role), n.address, n.target, n.mints_cluster) for n in services]
    return rollout, nodes


def _roll(props: dict[str, Any]) -> dict[str, Any]:
    plan = RolloutPlan.from_json(props["plan_json"])
    shell = _shell(props, plan, plan.gate_timeout)
    rollout, nodes = _driver(plan, shell)
    result = rollout.run(nodes)
    if not result.ok:
        raise Exception(f"{result.summary()}. Fix the node or its config, then run pulumi up again: it resumes.")
    return {**props, "rolled": result.rolled + _roll_load_balancers(plan, shell)}


def _roll_load_balancers(plan: RolloutPlan, shell: Any) -> list[str]:
    """The HAProxy nodes last, one at a time, each back on its health port (and its usage service ready) before
    the next (the NLB routes around the one restarting). Every unit of the node's document is stopped, so the
    start restarts the usage service with HAProxy (a start alone leaves a running unit as it is)."""
    from components.rollout.ssm import SsmOperator

    lbs = [n for n in plan.nodes if n.role == LB_ROLE]
    operator = SsmOperator(shell, {n.name: n.instance_id for n in lbs})
    rolled = []
    for node in lbs:
        try:
            if operator.running(node.name) == node.target:
                continue
            for step in (operator.stop_all, operator.apply, operator.start):
                step(node.name)
            _wait_lb(plan, node, shell)
        except Exception as err:  # one line naming the node, never the transport's traceback
            raise Exception(f"rollout stopped at {node.name}: {err}") from None
        rolled.append(node.name)
    return rolled


def _same_targets(olds: dict[str, Any], news: dict[str, Any]) -> bool:
    return RolloutPlan.from_json(olds["plan_json"]).targets() == RolloutPlan.from_json(news["plan_json"]).targets()


class _RolloutRunProvider(ResourceProvider):
    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        # The same refusal as the ReleaseGuard: a rollout never applies a release it would refuse.
        return release_check(olds, news)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # Only what is rolled: a field the plan gains (a master's Raft facts) or a new identity rolls nothing.
        changed = not _same_targets(olds, news) or olds.get("version") != news["version"]
        return DiffResult(changes=changed, replaces=[], stables=[], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> CreateResult:
        # New instances boot from their own documents (and NodeReady gates them): nothing to roll yet.
        return CreateResult(id_="stack-rollout", outs={**props, "rolled": []})

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=_roll(news))


class RolloutRun(pulumi.dynamic.Resource):
    """Applies changed node documents one node at a time, gated on health (see the module docstring)."""

    rolled: pulumi.Output[list[str]]

    def __init__(
        self,
        name: str,
        plan_json: pulumi.Input[str],
        version: str,
        allow_downgrade: bool,
        opts: pulumi.ResourceOptions | None = None,
        aws_identity: pulumi.Input[str] | None = None,
    ) -> None:
        props = {
            "plan_json": plan_json,
            "version": version,
            "allow_downgrade": allow_downgrade,
            "aws_identity": aws_identity,
            "rolled": None,
        }
        super().__init__(_RolloutRunProvider(), name, props, opts)


# A stack's state holds each dynamic provider pickled by module and class name, and `pulumi refresh` and
# `pulumi destroy` unpickle it from there (an update rewrites it): states written by earlier releases of
# this project name the rollout's provider `_StackRolloutProvider` and the release guard's
# `_ReleaseGuardProvider`, both in this module.
_StackRolloutProvider = _RolloutRunProvider


def _wait_ready(props: dict[str, Any]) -> dict[str, Any]:
    """Until the node's instance passes its gate, all within the plan's budget (gate_timeout_seconds): first
    its SSM agent registers (minutes after EC2 reports it running), then its gate gets what is left."""
    from components.rollout.driver import NodeFailed

    plan = RolloutPlan.from_json(props["plan_json"])
    (node,) = plan.nodes
    started = time.monotonic()
    shell = _shell(props, plan, plan.gate_timeout)
    try:
        shell.run(node.instance_id, "true", timeout=60)
        left = RolloutPlan(
            plan.region,
            plan.nodes,
            (),
            max(plan.gate_timeout - (time.monotonic() - started), min(plan.gate_timeout, 1.0)),
        )
        if node.role == LB_ROLE:
            _wait_lb(left, node, shell)
            return props
        rollout, (rollout_node,) = _driver(left, shell, json.loads(props["masters_json"]))
        rollout.wait_ready(rollout_node)
    except NodeFailed as failed:
        raise Exception(f"{failed.node}: {failed.reason}") from None
    except Exception as err:  # one line naming the node, never the transport's traceback
        raise Exception(f"{node.name}: {err}") from None
    return props


def _wait_lb(plan: RolloutPlan, node: PlanNode, shell: Any) -> None:
    """Until HAProxy answers 200 on its health port, then the usage service beside it 200 on its `/healthz` (it
    answers 503 while it catches up with the filers' metadata stream), both probed on the node, within the
    plan's gate timeout. A new stack's HAProxy nodes start after its filers, so a fresh service catches up
    within it too."""
    from components.rollout.ssm import ssm_fetch

    fetch = ssm_fetch(shell, node.instance_id)
    deadline = time.monotonic() + plan.gate_timeout
    probes = [("HAProxy", node.address)] + ([("usage service", node.usage)] if node.usage else [])
    for what, address in probes:
        while (last := fetch(f"http://{address}/healthz"))[0] != 200:
            if time.monotonic() > deadline:
                answer = f"HTTP {last[0]} {last[1].strip()[:200]}".rstrip() if last[0] else "no answer"
                raise Exception(f"{node.name}: {what} not ready after {plan.gate_timeout:g} s; last answer: {answer}")
            time.sleep(2.0)


class _NodeReadyProvider(ResourceProvider):
    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # The node and instance waited for; a field the plan gains (a master's Raft facts) waits for nothing new.
        changed = _waited_for(olds.get("plan_json")) != _waited_for(news["plan_json"])
        return DiffResult(changes=changed, replaces=[], stables=[])

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_="node-ready", outs=_wait_ready(props))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=_wait_ready(news))


def _waited_for(plan_json: str | None) -> Any:
    if not plan_json:
        return None
    plan = RolloutPlan.from_json(plan_json)
    return (plan.region, plan.gate_timeout, [(n.name, n.role, n.address, n.instance_id) for n in plan.nodes])


class NodeReady(pulumi.dynamic.Resource):
    """Done once the node's current instance passes its health gate (see the module docstring)."""

    def __init__(
        self,
        name: str,
        plan_json: pulumi.Input[str],
        masters_json: str,
        opts: pulumi.ResourceOptions | None = None,
        aws_identity: pulumi.Input[str] | None = None,
    ) -> None:
        # The stack's AWS identity, unless given: NodeReady is built where the program's config is.
        identity = aws_identity if aws_identity is not None else _program_identity(plan_json)
        props = {"plan_json": plan_json, "masters_json": masters_json, "aws_identity": identity}
        super().__init__(_NodeReadyProvider(), name, props, opts)


def _program_identity(plan_json: pulumi.Input[str]) -> pulumi.Input[str]:
    region = pulumi.Output.from_input(plan_json).apply(lambda text: RolloutPlan.from_json(text).region)
    return region.apply(identity_input)
