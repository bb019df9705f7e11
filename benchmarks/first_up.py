"""The first `pulumi up` of prod, simulated: the program's real dependency graph and AWS's creation times.

`.venv/bin/python -m benchmarks.first_up [--iterations N] [--seed S]` evaluates `__main__.py` under the
mocks (tests/support/prod_program.py), takes every custom resource with the resources it depends on (the
engine creates a resource only once all of them exist), gives each a creation time drawn from a triangular
distribution for its kind, and walks the graph: a resource starts when its last dependency finished. A
seeded Monte Carlo of bounded iterations gives the total at p50 and p95, the critical path of the median
run, and for every wait budget in the code its worst case against the budget. Nothing is started: it runs
in a second or two, and the suite (`python -m benchmarks --only first-up`) records the same figures.

Readiness the graph does not show is modelled where the code relies on it: `weed s3` answers only once a
filer does, so the S3 node's NodeReady cannot finish before the first filer's; the filer-rules job (one
filer.copy, retried for 2 minutes) succeeds only once two volume servers in two zones take writes
(replication 010).
"""

from __future__ import annotations

import argparse
import math
import random
import re
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.core import Context, Estimate

NAME = "first-up"
ESTIMATE = Estimate(fixed=3.0, per_run=2.0)
SHARED = False

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "deploy-prod.yml"
MAX_ITERATIONS = 20_000
MINUTE = 60.0
# Checkout, setup-python and the two pip installs of the deploy job before `pulumi up` starts (the pip
# cache is warm on a push; the test job's figures for the same steps).
WORKFLOW_SETUP_SECONDS = 4 * MINUTE


@dataclass(frozen=True)
class Span:
    """Seconds a kind of resource takes to create: triangular(low, mode, high)."""

    low: float
    mode: float
    high: float

    def sample(self, rng: random.Random) -> float:
        return rng.triangular(self.low, self.high, self.mode)


# Creation times per resource type (typical = mode, slow = high), each from AWS's documentation:
DURATIONS: dict[str, Span] = {
    # RDS Multi-AZ PostgreSQL: 15-25 min typical, up to ~40 (instance plus its synchronous standby;
    # https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_CreateDBInstance.html "can take several
    # minutes", https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Concepts.MultiAZSingleStandby.html).
    "aws:rds/instance:Instance": Span(15 * MINUTE, 20 * MINUTE, 40 * MINUTE),
    # NAT gateway "pending" to "available": 1-5 min
    # (https://docs.aws.amazon.com/vpc/latest/userguide/nat-gateway-working-with.html).
    "aws:ec2/natGateway:NatGateway": Span(1 * MINUTE, 2 * MINUTE, 5 * MINUTE),
    # RunInstances to "running" (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-instance-lifecycle.html);
    # the boot and cloud-init come after, inside the node's NodeReady (BOOT below).
    "aws:ec2/instance:Instance": Span(20.0, 40.0, 90.0),
    # NLB "provisioning" to "active": 2-5 min
    # (https://docs.aws.amazon.com/elasticloadbalancing/latest/network/network-load-balancers.html#load-balancer-state).
    "aws:lb/loadBalancer:LoadBalancer": Span(2 * MINUTE, 3 * MINUTE, 5 * MINUTE),
    # A function in a VPC is "Pending" while Lambda creates its Hyperplane ENIs: 1-3 min
    # (https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html,
    # https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html).
    "aws:lambda/function:Function": Span(1 * MINUTE, 90.0, 3 * MINUTE),
    # Private hosted zone and record changes "PENDING" to "INSYNC", typically within 60 s
    # (https://docs.aws.amazon.com/Route53/latest/APIReference/API_GetChange.html).
    "aws:route53/zone:Zone": Span(30.0, 45.0, 120.0),
    "aws:route53/record:Record": Span(20.0, 40.0, 90.0),
    # EBS "creating" to "available", then attach (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-creating-volume.html,
    # https://docs.aws.amazon.com/ebs/latest/userguide/ebs-attaching-volume.html).
    "aws:ebs/volume:Volume": Span(5.0, 10.0, 30.0),
    "aws:ec2/volumeAttachment:VolumeAttachment": Span(5.0, 15.0, 60.0),
    # IAM roles and instance profiles are eventually consistent; the provider waits for them to propagate.
    "aws:iam/instanceProfile:InstanceProfile": Span(5.0, 10.0, 30.0),
    "aws:iam/role:Role": Span(2.0, 5.0, 15.0),
}
API_CALL = Span(1.0, 2.0, 6.0)  # everything else: one API call (security groups, parameters, policies)
# A node's first boot inside its NodeReady: EC2 boot + cloud-init (dnf, the image pull, the first start) 1-3 min
# (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/user-data.html), and the SSM agent registering the
# instance, which the gate's Run Command needs: up to ~5 min after boot
# (https://docs.aws.amazon.com/systems-manager/latest/userguide/troubleshooting-managed-nodes.html).
BOOT = Span(1 * MINUTE, 2 * MINUTE, 3 * MINUTE)
SSM_REGISTRATION = Span(10.0, 60.0, 5 * MINUTE)
# The gate's own probes once the cluster is healthy (parallel HTTP checks plus a cold start).
GATE_PROBES = Span(5.0, 15.0, 60.0)
S3_CONNECT_SECONDS = 5.0  # `weed s3` retries its filer every few seconds

DYNAMIC = "pulumi-python:dynamic:Resource"
INSTANCE = "aws:ec2/instance:Instance"
GATE = "aws:lambda/invocation:Invocation"
NODE_READY = re.compile(r"^(?P<node>[a-z0-9]+-[0-9]+)-ready$")


@dataclass(frozen=True)
class Resource:
    key: str  # URN
    name: str
    type: str
    after: tuple[str, ...]  # keys of what the engine creates first
    # Simulated after these too, without waiting for them: what the resource's run-time wait looks at.
    observes: tuple[str, ...] = ()


@dataclass
class Outcome:
    """One simulated `pulumi up`: when each resource finished, and the waits the code budgets."""

    finish: dict[str, float]
    start: dict[str, float]
    waits: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return max(self.finish.values(), default=0.0)


def critical_path(resources: Mapping[str, Resource], outcome: Outcome) -> list[str]:
    """The chain that set the total: from the last resource to finish, back through the dependency that
    finished last before it started, to a resource that waited for nothing."""
    if not outcome.finish:
        return []
    key = max(outcome.finish, key=outcome.finish.__getitem__)
    path = [key]
    while resources[key].after:
        key = max(resources[key].after, key=outcome.finish.__getitem__)
        path.append(key)
    return list(reversed(path))


def order(resources: Mapping[str, Resource]) -> list[str]:
    """Keys in creation order (dependencies first); a cycle is a bug in the graph, not a slow cloud."""
    done: dict[str, None] = {}
    visiting: set[str] = set()

    def visit(key: str) -> None:
        if key in done:
            return
        if key in visiting:
            raise ValueError(f"dependency cycle through {resources[key].name}")
        visiting.add(key)
        for dep in (*resources[key].after, *resources[key].observes):
            visit(dep)
        visiting.discard(key)
        done[key] = None

    for key in sorted(resources):
        visit(key)
    return list(done)


Duration = Callable[[Resource, Outcome, float, random.Random], float]


def simulate(resources: Mapping[str, Resource], duration: Duration, rng: random.Random) -> Outcome:
    """One run: each resource starts when its last dependency finished and takes `duration` seconds."""
    outcome = Outcome(finish={}, start={})
    for key in order(resources):
        resource = resources[key]
        start = max((outcome.finish[d] for d in resource.after), default=0.0)
        outcome.start[key] = start
        outcome.finish[key] = start + duration(resource, outcome, start, rng)
    return outcome


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


# --- the prod program's graph -----------------------------------------------------------------------------


def program_graph(**overrides: object) -> dict[str, Resource]:
    """Every custom resource of the prod program under the mocks, with its dependencies. The S3 node's
    NodeReady also observes the filers' (`weed s3` answers only once a filer does; see `prod_duration`)."""
    from tests.support.prod_program import execute

    run = execute(**overrides).run
    custom = {r.urn: r for r in run.registrations if r.custom}
    filers = tuple(sorted(urn for urn, r in custom.items() if (_ready_node(r.name, r.type) or "").startswith("filer-")))
    return {
        urn: Resource(
            urn,
            r.name,
            r.type,
            tuple(sorted(d for d in set(r.dependencies) if d in custom)),
            filers if (_ready_node(r.name, r.type) or "").startswith("s3-") else (),
        )
        for urn, r in custom.items()
    }


def _ready_node(name: str, type_: str) -> str | None:
    found = NODE_READY.match(name)
    return found.group("node") if found and type_ == DYNAMIC else None


def _node(resource: Resource) -> str | None:
    return _ready_node(resource.name, resource.type)


def _readies(resources: Mapping[str, Resource], outcome: Outcome, role: str) -> list[float]:
    return sorted(
        outcome.finish[k]
        for k, r in resources.items()
        if (n := _node(r)) and n.startswith(f"{role}-") and k in outcome.finish
    )


def prod_duration(resources: Mapping[str, Resource]) -> Duration:
    """Creation times of the prod graph, with the run-time waits of NodeReady, the S3 node and the gate."""

    def duration(resource: Resource, outcome: Outcome, start: float, rng: random.Random) -> float:
        node = _node(resource)
        if node is not None:
            end = start + max(BOOT.sample(rng), SSM_REGISTRATION.sample(rng))
            filers = [outcome.finish[k] for k in resource.observes]
            if filers:
                end = max(end, min(filers) + S3_CONNECT_SECONDS)
            outcome.waits[f"NodeReady {node}"] = end - start
            return end - start
        if resource.type == GATE:
            seconds = GATE_PROBES.sample(rng)
            outcome.waits["health gate"] = seconds
            return seconds
        return DURATIONS.get(resource.type, API_CALL).sample(rng)

    return duration


def rules_job_wait(resources: Mapping[str, Resource], outcome: Outcome) -> float:
    """How long the first filer's rules job retries: until two volume servers (two zones, replication 010) are up."""
    filers, volumes = _readies(resources, outcome, "filer"), _readies(resources, outcome, "volume")
    if not filers or len(volumes) < 2:
        return 0.0
    return max(0.0, volumes[1] - filers[0])


# --- the budgets in the code ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    name: str
    seconds: float
    wait: str  # the key of Outcome.waits it bounds, or a prefix of several


def budgets(workflow: Path = WORKFLOW) -> list[Budget]:
    from components.aws.node import NodeContext
    from components.model.job_script import APPLY_INTERVAL_SECONDS, APPLY_TRIES
    from tests.support.stack_configs import prod

    cfg = prod()
    return [
        Budget("NodeReady (NodeContext.gate_timeout_seconds)", NodeContext.gate_timeout_seconds, "NodeReady "),
        Budget("health gate (healthTimeoutSeconds)", float(cfg.health_timeout_seconds), "health gate"),
        Budget("filer-rules job (APPLY_TRIES x interval)", float(APPLY_TRIES * APPLY_INTERVAL_SECONDS), "rules job"),
        Budget("NAT route before an instance runs (first boot has no retry)", 0.0, "NAT route"),
        Budget("deploy job (timeout-minutes), incl. ~4 min of setup", workflow_minutes(workflow) * MINUTE, "workflow"),
    ]


def workflow_minutes(workflow: Path = WORKFLOW) -> float:
    """`timeout-minutes` of the deploy job."""
    deploy = workflow.read_text().split("\n  deploy:", 1)[1]
    found = re.search(r"timeout-minutes:\s*([0-9]+)", deploy)
    if not found:
        raise ValueError(f"{workflow} has no timeout-minutes for the deploy job")
    return float(found.group(1))


def waits_of(outcome: Outcome, resources: Mapping[str, Resource]) -> dict[str, float]:
    waits = dict(outcome.waits)
    waits["rules job"] = rules_job_wait(resources, outcome)
    waits["NAT route"] = nat_after_boot(resources, outcome)
    waits["workflow"] = outcome.total + WORKFLOW_SETUP_SECONDS
    return waits


@dataclass
class Report:
    totals: list[float]
    worst: dict[str, list[float]]  # budget wait key -> its worst value per run
    median_path: list[str]


def monte_carlo(resources: Mapping[str, Resource], keys: Iterable[str], iterations: int, seed: int) -> Report:
    iterations = max(1, min(iterations, MAX_ITERATIONS))
    rng = random.Random(seed)
    duration = prod_duration(resources)
    totals: list[float] = []
    worst: dict[str, list[float]] = {key: [] for key in keys}
    outcomes: list[Outcome] = []
    for _ in range(iterations):
        outcome = simulate(resources, duration, rng)
        outcomes.append(outcome)
        totals.append(outcome.total)
        waits = waits_of(outcome, resources)
        for key in worst:
            worst[key].append(max((v for k, v in waits.items() if k.startswith(key)), default=0.0))
    median = statistics.median_low(totals)
    path = critical_path(resources, outcomes[totals.index(median)])
    return Report(totals, worst, [resources[k].name for k in path])


def render(report: Report, budget_list: Sequence[Budget], title: str) -> str:
    lines = [
        title,
        f"  total: p50 {report_minutes(percentile(report.totals, 0.5))}, "
        f"p95 {report_minutes(percentile(report.totals, 0.95))}, max {report_minutes(max(report.totals))}",
        "  | budget | seconds | worst case p50 | worst case p95 | fits at p95 |",
        "  |---|---|---|---|---|",
    ]
    for budget in budget_list:
        values = report.worst[budget.wait]
        p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
        lines.append(
            f"  | {budget.name} | {budget.seconds:.0f} | {p50:.0f} | {p95:.0f} | "
            f"{'yes' if p95 <= budget.seconds else 'NO'} |"
        )
    lines.append("  critical path (median run): " + " -> ".join(report.median_path))
    return "\n".join(lines)


def report_minutes(seconds: float) -> str:
    return f"{seconds / MINUTE:.1f} min"


def without_fixes(resources: Mapping[str, Resource]) -> dict[str, Resource]:
    """The graph before the S3 instance waited for the filers' NodeReady and every instance for the NAT routes."""
    routes = ("aws:ec2/routeTable:RouteTable", "aws:ec2/routeTableAssociation:RouteTableAssociation")

    def kept(r: Resource, dep: Resource) -> bool:
        if dep.type in routes:
            return False
        return not (r.name.startswith("s3-") and (_node(dep) or "").startswith("filer-"))

    return {
        key: Resource(key, r.name, r.type, tuple(d for d in r.after if kept(r, resources[d])), r.observes)
        if r.type == INSTANCE
        else r
        for key, r in resources.items()
    }


def nat_after_boot(resources: Mapping[str, Resource], outcome: Outcome) -> float:
    """How long the last NAT route came after an instance was running: cloud-init's `dnf install` and the image
    pull run once, at first boot, and fail without a way out."""
    routes = [
        outcome.finish[k]
        for k, r in resources.items()
        if r.type == "aws:ec2/routeTableAssociation:RouteTableAssociation"
    ]
    booted = [outcome.finish[k] for k, r in resources.items() if r.type == INSTANCE]
    if not routes or not booted:
        return 0.0
    return max(0.0, max(routes) - min(booted))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.first_up", description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000, help=f"Monte Carlo runs (at most {MAX_ITERATIONS})")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    resources = program_graph()
    budget_list = budgets()
    keys = [b.wait for b in budget_list]
    print(render(monte_carlo(resources, keys, args.iterations, args.seed), budget_list, "as deployed"))
    before = monte_carlo(without_fixes(resources), keys, args.iterations, args.seed)
    print(render(before, budget_list, "before: S3 node not after the filers, instances not after the NAT routes"))
    return 0


def run(ctx: Context, runs: int) -> None:
    resources = program_graph()
    budget_list = budgets()
    keys = [b.wait for b in budget_list]
    p50, p95 = ctx.figure("first pulumi up, simulated: total p50", "min"), ctx.figure("… total p95", "min")
    for index in ctx.runs(runs):
        report = monte_carlo(resources, keys, 2000, seed=index + 1)
        p50.values.append(percentile(report.totals, 0.5) / MINUTE)
        p95.values.append(percentile(report.totals, 0.95) / MINUTE)
        ctx.log(render(report, budget_list, f"seed {index + 1}"))


if __name__ == "__main__":
    raise SystemExit(main())
