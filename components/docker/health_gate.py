"""A resource that fails `pulumi up` when the deployed cluster is not healthy.

It is a Pulumi dynamic resource: the engine calls `create`/`update` only during an update, never in
preview. Its diff always reports a change, so the check runs on every `pulumi up`, after the resources
it depends on, and a failing check fails the update with the health report.

The target crosses into the provider as ONE JSON string, because the engine's protobuf `Struct` turns every
number into a double; a string arrives byte for byte and is read by the CLI's own `Target.from_stack_outputs`
(docs/decisions/2026-11-24-health-gate-json-input.md).

The gate keeps no volume record: it retries until healthy, and a record belongs to one run's final look.
`scripts/deploy` runs the health check with `--volume-record` right after `pulumi up` instead, so the
record's per-user path stays out of the stack's inputs and state. The gate does judge room for a new
volume, which is one of `run_checks`' probes.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider, UpdateResult


def _verify(inputs: dict[str, Any]) -> dict[str, Any]:
    # Imported here: this runs in the dynamic provider's own process.
    from components.healthcheck import Target, not_healthy_message, wait_until_healthy

    target = Target.from_stack_outputs(json.loads(inputs["stack_outputs_json"]))
    # A plain number is a double on the wire, and seconds are a float anyway.
    timeout = float(inputs["timeout_seconds"])
    report = wait_until_healthy(target, timeout=timeout)
    if not report.healthy:
        # A degraded cluster (a volume short of copies, a server short of slots or disk) fails the update too.
        raise Exception(not_healthy_message(report, timeout))
    return {"healthy": True, "wall_seconds": round(report.wall_seconds, 3)}


class _HealthGateProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_="health-gate", outs=_verify(props))

    def diff(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> DiffResult:
        return DiffResult(changes=True)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=_verify(news))


class HealthGate(pulumi.dynamic.Resource):
    """Waits up to `timeout_seconds` for the health check to pass against `outputs` (stack-output shape)."""

    healthy: pulumi.Output[bool]

    def __init__(
        self,
        name: str,
        outputs: pulumi.Input[dict[str, Any]],
        timeout_seconds: int,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            _HealthGateProvider(),
            name,
            {
                "stack_outputs_json": pulumi.Output.json_dumps(outputs),
                "timeout_seconds": timeout_seconds,
                "healthy": None,
                "wall_seconds": None,
            },
            opts,
        )
