"""The usage service on the prod tier nodes, under Pulumi's mocks: each HAProxy node's document runs the model's
command in the image the program pushed, by digest; a changed image changes only those nodes' documents."""

from __future__ import annotations

import gzip
import json
import shlex
from pathlib import Path

import botocore
import pytest

from components.aws.node import PARAMETER_LIMITS
from components.aws.placement import AwsPlacement, prod_topology
from components.model.topology import Role
from components.rollout.resource import RolloutPlan
from components.stack import usage_image
from components.stack.usage_image import usage_in_image
from tests.support import stack_configs
from tests.support.prod_program import IMAGE, SSM, Run, execute

DYNAMIC = "pulumi-python:dynamic:Resource"
TIER_NODES = ("lb-0", "lb-1")


def usage_command(run: Run, node: str) -> list[str]:
    script = run.files(node)[f"/etc/aegis/seaweedfs-usage-{node}/run"]
    (line,) = [line for line in script.splitlines() if line.startswith("exec ")]
    return shlex.split(line)[1:]


def test_each_haproxy_node_runs_the_models_usage_service_in_the_pushed_image_by_digest(prod: Run):
    for node in TIER_NODES:
        command = usage_command(prod, node)
        image = next(arg for arg in command if "/aegis-storage/prod/usage@sha256:" in arg)
        assert image.split("@sha256:")[1] and len(image.split("@sha256:")[1]) == 64
        entrypoint = command[command.index("--entrypoint") + 1]
        argv = [entrypoint, *command[command.index(image) + 1 :]]
        assert argv[:3] == ["python3", "-m", "components.usage"]
        assert f"--node={node}" in argv and "--port=8890" in argv and "--bind=127.0.0.1" in argv
        assert any(a.startswith("--filers=filer-0.") and ":8888" in a for a in argv)
        assert "--env" in command and "PYTHONPATH=/opt/aegis" in command
        assert "--network" in command and command[command.index("--network") + 1] == "host"
        document = prod.document(node)
        assert document["units"] == [f"seaweedfs-{node}.service", f"seaweedfs-usage-{node}.service"]
        unit = prod.files(node)[f"/etc/systemd/system/seaweedfs-usage-{node}.service"]
        assert "Requires=" not in unit and "WantedBy=multi-user.target" in unit
        haproxy = prod.files(node)[f"/etc/systemd/system/seaweedfs-{node}.service"]
        # HAProxy starts it (a unit a rollout added) but never waits for it or stops with it.
        assert f"Wants=seaweedfs-usage-{node}.service" in haproxy and "Requires=" not in haproxy
        assert ["systemctl", "enable", "--now", "docker.service"] in document["runcmd"]
        assert IMAGE not in json.dumps(document)  # the SeaweedFS image is only the build's source


def test_the_rendered_command_is_the_models(prod: Run):
    cfg = stack_configs.prod()
    topology = prod_topology(cfg)
    for lb in topology.load_balancers:
        usage = usage_in_image(topology, lb, AwsPlacement(cfg.aws.network.dns_zone_name))
        command = usage_command(prod, lb.name)
        image = next(arg for arg in command if "@sha256:" in arg)
        assert [command[command.index("--entrypoint") + 1], *command[command.index(image) + 1 :]] == list(usage.argv)
        (rules,) = usage.files
        files = prod.files(lb.name)
        assert files[f"/etc/aegis/seaweedfs-usage-{lb.name}/templates{rules.path}"] == rules.content
        assert f"{usage.data_dir}:{usage.data_dir}" in command


def test_the_usage_image_is_built_from_the_stacks_registry_image_and_pushed_to_its_own_repository(prod: Run):
    (image,) = prod.run.of_type("docker:index/image:Image")
    assert image.inputs["build"]["args"]["SEAWEEDFS_IMAGE"] == IMAGE
    assert image.inputs["build"]["args"]["PYTHON_IMAGE"] == usage_image.USAGE_PYTHON_IMAGE
    assert image.inputs["build"]["platform"] == "linux/amd64"
    assert image.inputs["imageName"].split(":")[0].endswith("/aegis-storage/prod/usage")
    assert image.inputs["registry"]["server"].endswith("/aegis-storage/prod/usage")
    assert image.secret("registry.password") or image.secret("registry")
    (repository,) = [r for r in prod.run.of_type("aws:ecr/repository:Repository") if r.name == "usage-image"]
    assert repository.inputs["name"] == "aegis-storage/prod/usage"
    assert [t for t, _ in prod.run.invokes if t == "aws:ecr/getAuthorizationToken:getAuthorizationToken"]


def test_tier_documents_fit_the_advanced_tier_and_the_service_model_says_so(prod: Run):
    path = Path(botocore.__file__).parent / "data" / "ssm" / "2014-11-06" / "service-2.json.gz"
    model = json.loads(gzip.decompress(path.read_bytes()))
    assert set(PARAMETER_LIMITS) <= set(model["shapes"]["ParameterTier"]["enum"])
    value_doc = model["shapes"]["PutParameterRequest"]["members"]["Value"]["documentation"]
    assert "Standard parameters have a value limit of 4 KB" in value_doc and "Advanced parameters" in value_doc
    for node in TIER_NODES:
        parameter = prod.one(SSM, f"{node}-config")
        assert parameter.inputs["tier"] == "Advanced"
        assert PARAMETER_LIMITS["Standard"] < len(parameter.inputs["value"]) <= PARAMETER_LIMITS["Advanced"]


def test_the_rollout_and_each_haproxys_ready_gate_probe_the_usage_service_beside_it(prod: Run):
    (rollout,) = [r for r in prod.run.of_type(DYNAMIC) if r.name == "stack-rollout"]
    nodes = {n.name: n for n in RolloutPlan.from_json(rollout.inputs["plan_json"]).nodes}
    for node in TIER_NODES:
        assert nodes[node].usage == "127.0.0.1:8890"
        (ready,) = [r for r in prod.run.of_type(DYNAMIC) if r.name == f"{node}-ready"]
        (plan_node,) = RolloutPlan.from_json(ready.inputs["plan_json"]).nodes
        assert plan_node.usage == "127.0.0.1:8890"
    assert all(n.usage == "" for name, n in nodes.items() if name not in TIER_NODES)
    assert {n.role for n in nodes.values() if n.usage} == {"lb"} and Role.FILER.grpc_port == 18888


@pytest.fixture(scope="module")
def changed_code() -> Run:
    """The program after an edit of the usage service's code: a new content tag, so a new build and digest."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(usage_image, "_files_digest", lambda: "0" * 64)
        return execute()


def test_a_changed_usage_image_changes_only_the_haproxy_nodes_documents(prod: Run, changed_code: Run):
    def documents(run: Run) -> dict[str, str]:
        return {p.name: p.inputs["value"] for p in run.run.of_type(SSM) if p.name.endswith("-config")}

    before, after = documents(prod), documents(changed_code)
    assert {name for name in before if before[name] != after[name]} == {f"{n}-config" for n in TIER_NODES}
    (old,) = [r for r in prod.run.of_type(DYNAMIC) if r.name == "stack-rollout"]
    (new,) = [r for r in changed_code.run.of_type(DYNAMIC) if r.name == "stack-rollout"]
    targets = RolloutPlan.from_json(old.inputs["plan_json"]).targets()
    changed = RolloutPlan.from_json(new.inputs["plan_json"]).targets()
    assert {name for name in targets if targets[name] != changed[name]} == set(TIER_NODES)
