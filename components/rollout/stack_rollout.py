"""The stack's `StackRollout`: every node's target fingerprint and instance, in one plan for `RolloutRun`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi

from components.model.topology import LoadBalancer, Service
from components.rollout.resource import RolloutPlan, RolloutRun, identity_input, plan_node


@dataclass(frozen=True)
class RolloutTarget:
    """One node as the rollout needs it: its model, its target fingerprint (the digest of its node
    document) and the instance it runs on."""

    model: Service | LoadBalancer
    fingerprint: pulumi.Input[str]
    instance_id: pulumi.Input[str]
    # host:port of the usage service beside an HAProxy node, ready before the next node is rolled; "" for the others.
    usage_address: str = ""


@dataclass(frozen=True)
class StackRolloutArgs:
    region: str
    version: str
    allow_downgrade: bool
    gate_timeout_seconds: float
    targets: Mapping[str, RolloutTarget]
    # The nodes' resources: a changed document is rolled out only once every node exists.
    after: Sequence[pulumi.Resource] = ()


class StackRollout(pulumi.ComponentResource):
    """Holds the stack's `RolloutRun` (a dynamic resource's own type token cannot be chosen)."""

    run: RolloutRun

    def __init__(self, name: str, args: StackRolloutArgs) -> None:
        super().__init__("aegis:storage:StackRollout", name, None, pulumi.ResourceOptions(depends_on=list(args.after)))
        self.run = rollout_run(args, parent=self)
        self.register_outputs({"rolled": self.run.rolled})


def rollout_run(args: StackRolloutArgs, parent: pulumi.Resource) -> RolloutRun:
    """After every node exists: a changed node document is then applied one node at a time."""
    names = sorted(args.targets)
    models = {name: args.targets[name].model for name in names}
    # The HAProxy nodes in the order given (the model's), as the plan has always listed them.
    lbs = [(name, t.model.admin_socket) for name, t in args.targets.items() if isinstance(t.model, LoadBalancer)]

    def plan(resolved: list[str]) -> str:
        # resolved: each node's fingerprint and instance id, in `names` order
        found = dict(zip(names, zip(resolved[::2], resolved[1::2], strict=True), strict=True))
        return RolloutPlan(
            region=args.region,
            nodes=tuple(plan_node(models[name], *found[name], args.targets[name].usage_address) for name in names),
            load_balancers=tuple((found[name][1], admin_socket) for name, admin_socket in lbs),
            gate_timeout=args.gate_timeout_seconds,
        ).to_json()

    inputs = [value for name in names for value in (args.targets[name].fingerprint, args.targets[name].instance_id)]
    return RolloutRun(
        "stack-rollout",
        plan_json=pulumi.Output.all(*inputs).apply(plan),
        version=args.version,
        allow_downgrade=args.allow_downgrade,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(args.after)),
        # The stack's own AWS provider identity (aws:region, aws:profile, aws:assumeRoles) for SSM.
        aws_identity=identity_input(args.region),
    )
