"""Day 2 under Pulumi's mocks: a flag or a release change reaches the nodes through their SSM documents and
the rollout resource, never through user data, and instances are chained one at a time per tier."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.aws.bootstrap import decode_document, node_parameter_name
from components.aws.node import PARAMETER_LIMITS
from components.model.rollout import NODE_APPLY_SCRIPT
from components.model.version import SEAWEEDFS_VERSION, registry_image
from components.rollout.resource import RolloutPlan, _NodeReadyProvider, _RolloutRunProvider
from tests.support.engine_wire import engine_delivers
from tests.support.prod_program import INSTANCE, REPOSITORY_URL, SSM, Run, execute

DYNAMIC = "pulumi-python:dynamic:Resource"
MASTERS = {"master-0", "master-1", "master-2"}
WEED_NODES = MASTERS | {"volume-0", "volume-1", "volume-2", "filer-0", "filer-1", "filer-2", "s3-0"}
# The usage image beside each HAProxy carries the release's weed: a release change rebuilds it.
TIER_NODES = {"lb-0", "lb-1"}
NEXT_DIGEST = "sha256:" + "49" * 32  # a release not pinned in version.py comes with its digest


@pytest.fixture(scope="module")
def runs(prod: Run) -> dict[str, Run]:
    return {
        "base": prod,
        "flag": execute(electionTimeout="5s"),
        "version": execute(seaweedfsVersion="4.49", seaweedfsImageDigest=NEXT_DIGEST),
    }


def instances(run: Run) -> dict[str, dict[str, Any]]:
    return {i.name: i.inputs for i in run.run.of_type(INSTANCE)}


def documents(run: Run) -> dict[str, str]:
    return {
        p.name.removesuffix("-config"): p.inputs["value"] for p in run.run.of_type(SSM) if p.name.endswith("-config")
    }


def rollout_inputs(run: Run) -> dict[str, Any]:
    (rollout,) = [r for r in run.run.of_type(DYNAMIC) if r.name == "stack-rollout"]
    return rollout.inputs


def plan(run: Run) -> RolloutPlan:
    return RolloutPlan.from_json(rollout_inputs(run)["plan_json"])


@pytest.mark.parametrize("change", ["flag", "version"])
def test_a_flag_or_release_change_leaves_every_instance_as_it_is(runs: dict[str, Run], change: str):
    base, changed = instances(runs["base"]), instances(runs[change])
    assert set(base) == set(changed) and len(base) == 12
    for name, inputs in base.items():
        assert changed[name] == inputs, name


@pytest.mark.parametrize(("change", "nodes"), [("flag", MASTERS), ("version", WEED_NODES | TIER_NODES)])
def test_it_changes_the_node_documents_and_the_rollout_plan_instead(runs: dict[str, Run], change: str, nodes: set):
    base, changed = documents(runs["base"]), documents(runs[change])
    assert {name for name in base if base[name] != changed[name]} == nodes
    old, new = plan(runs["base"]).targets(), plan(runs[change]).targets()
    assert {name for name in old if old[name] != new[name]} == nodes
    delivered = {run: engine_delivers(rollout_inputs(runs[run])) for run in ("base", change)}
    assert _RolloutRunProvider().diff("stack-rollout", delivered["base"], delivered[change]).changes is True
    assert _RolloutRunProvider().diff("stack-rollout", delivered["base"], delivered["base"]).changes is False
    for ready in (r for r in runs[change].run.of_type(DYNAMIC) if r.name.endswith("-ready")):
        (before,) = [r for r in runs["base"].run.of_type(DYNAMIC) if r.name == ready.name]
        assert _NodeReadyProvider().diff("node-ready", before.inputs, ready.inputs).changes is False


def test_the_release_reaches_the_documents_as_the_image_digest(runs: dict[str, Run]):
    run = documents(runs["version"])["master-0"]
    script = next(f["content"] for f in decode_document(run)["write_files"] if f["path"].endswith("/run"))
    assert registry_image(REPOSITORY_URL, NEXT_DIGEST) in script
    assert rollout_inputs(runs["version"])["version"] == "4.49"
    assert rollout_inputs(runs["base"])["version"] == SEAWEEDFS_VERSION


def test_user_data_is_the_bootstrap_that_reads_the_nodes_own_parameter(runs: dict[str, Run]):
    for name, inputs in instances(runs["base"]).items():
        user_data = inputs["userData"]
        assert NODE_APPLY_SCRIPT in user_data and json.dumps(node_parameter_name("prod", name)) in user_data
        assert "weed" not in user_data and "haproxy" not in user_data, name
    for parameter in (p for p in runs["base"].run.of_type(SSM) if p.name.endswith("-config")):
        # Each document fits the tier its parameter gets (no tier: the provider's default, Standard).
        tier = parameter.inputs.get("tier", "Standard")
        assert len(parameter.inputs["value"]) <= PARAMETER_LIMITS[tier], parameter.name
        assert tier == ("Advanced" if parameter.name.startswith("lb-") else "Standard"), parameter.name


def test_instances_of_a_tier_are_replaced_one_at_a_time(runs: dict[str, Run]):
    run = runs["base"]
    ready = {r.urn: r.name.removesuffix("-ready") for r in run.run.of_type(DYNAMIC) if r.name.endswith("-ready")}
    # The first HAProxy waits for every filer: the usage service beside it is ready once it read their stream.
    first = {"lb": ["filer-0", "filer-1", "filer-2"]}
    for tier in ("master", "volume", "filer", "lb"):
        chain = run.instances(f"{tier}-")
        for before, instance in zip([None, *chain], chain, strict=False):
            waits_for = sorted(ready[urn] for urn in instance.dependencies if urn in ready)
            assert waits_for == ([before.name] if before else first.get(tier, [])), instance.name


def test_a_release_below_the_running_one_is_refused_at_check_unless_downgrades_are_allowed(runs: dict[str, Run]):
    running = engine_delivers(rollout_inputs(runs["base"]))
    older = engine_delivers({**rollout_inputs(runs["base"]), "version": "4.47"})
    (failure,) = _RolloutRunProvider().check(running, older).failures
    assert failure.property == "version"
    assert '"4.47" is below 4.48' in failure.reason and "allowDowngrade true" in failure.reason
    allowed = engine_delivers({**rollout_inputs(runs["base"]), "version": "4.47", "allow_downgrade": True})
    assert _RolloutRunProvider().check(running, allowed).failures == []
    assert _RolloutRunProvider().check({}, older).failures == []  # a new stack runs nothing yet
    newer = engine_delivers({**rollout_inputs(runs["base"]), "version": "4.49"})
    assert _RolloutRunProvider().check(running, newer).failures == []


def test_a_refused_downgrade_stops_both_stacks_before_any_node_document_or_container_changes(runs: dict[str, Run]):
    from components.stack.release import _ReleaseGuardProvider
    from tests.support.pulumi_harness import run_program

    prod_run = runs["base"].run
    (guard,) = [r for r in prod_run.of_type(DYNAMIC) if r.name == "seaweedfs-release"]
    for parameter in (p for p in prod_run.of_type(SSM) if p.name.endswith("-config")):
        assert guard.urn in parameter.dependencies, parameter.name
    dev = run_program("dev", {"platform": "docker", "seaweedfsVersion": "4.47"})
    (dev_guard,) = [r for r in dev.of_type(DYNAMIC) if r.name == "seaweedfs-release"]
    (storage,) = [r for r in dev.registrations if r.type == "aegis:storage:DevStorage"]
    assert dev_guard.urn in storage.dependencies
    running = engine_delivers(guard.inputs)
    older = engine_delivers(dev_guard.inputs)
    (failure,) = _ReleaseGuardProvider().check(running, older).failures
    assert '"4.47" is below 4.48' in failure.reason
    assert _ReleaseGuardProvider().diff("release-guard", running, older).changes is True
