"""The dev stack's real __main__.py under Pulumi mocks: what the engine would be asked to create."""

from pathlib import Path

import pulumi
import pytest

from components.docker.storage import HOST_ADDRESS, DockerPlacement, dev_topology, usage_image_tag
from components.model import job_script
from components.model.config import parse
from components.model.refs import Ref, refs_in, substitute
from components.model.usage import usage_service
from components.model.version import IMAGE_TOOLS, IMAGE_USER
from tests.support.pulumi_harness import run_program

CONFIG = {"platform": "docker", "s3Enabled": True}
CONTAINER = "docker:index/container:Container"


def data_owner(registration) -> bool:
    return registration.name.endswith("-data-owner")


def long_running_and_jobs(run):
    """Every container but the one-shot chown of each volume."""
    return [c for c in run.of_type(CONTAINER) if not data_owner(c)]


@pytest.fixture(scope="module")
def run():
    return run_program("dev", CONFIG)


@pytest.fixture(scope="module")
def topology():
    return dev_topology(parse(CONFIG, stack="dev"))


def mock_value(ref: Ref) -> str:
    """What the mocked RandomPassword for `ref` resolves to."""
    return f"generated-seaweedfs-{ref.value.replace('_', '-')}"


MOCK_VALUES = {ref: mock_value(ref) for ref in Ref}


def test_one_container_per_service_with_the_models_command_and_env(run, topology):
    for service in topology.services:
        container = run.named(f"seaweedfs-{service.name}")
        assert container.inputs["entrypoints"] == ["/usr/bin/weed"]
        # What the bypassed image entrypoint would add, and nothing else: the global log flag first.
        assert container.inputs["command"] == ["-logtostderr=true", *service.args]
        assert container.inputs.get("envs", []) == [substitute(f"{k}={v}", MOCK_VALUES) for k, v in service.env]
        assert container.inputs["hostname"] == service.host


def test_config_files_are_uploaded_as_rendered(run, topology):
    s3 = topology.service("s3-0")
    uploads = run.named("seaweedfs-s3-0").inputs["uploads"]
    assert uploads == [{"file": f.path, "content": substitute(f.content, MOCK_VALUES)} for f in s3.files]


def test_only_master_s3_and_the_haproxys_filer_and_admin_ports_are_published_on_loopback(run):
    published = {
        (c.name, p["ip"], p["internal"], p["external"])
        for c in run.of_type(CONTAINER)
        for p in c.inputs.get("ports", [])
    }
    assert HOST_ADDRESS == "127.0.0.1"
    assert published == {
        ("seaweedfs-master-0", "127.0.0.1", 9333, 9333),
        ("seaweedfs-lb-0", "127.0.0.1", 8888, 8888),
        ("seaweedfs-lb-0", "127.0.0.1", 8889, 8889),
        ("seaweedfs-s3-0", "127.0.0.1", 8333, 8333),
    }


def test_without_s3_only_master_and_filer_are_published():
    run = run_program("dev", {"platform": "docker", "s3Enabled": False})
    published = {p["external"] for c in run.of_type(CONTAINER) for p in c.inputs.get("ports", [])}
    assert published == {9333, 8888, 8889}


def test_weed_never_runs_as_root_and_every_command_uses_a_tool_the_image_has(run, topology):
    # The image has no USER line: without `user` a container runs as root.
    for container in long_running_and_jobs(run):
        if container.name in ("seaweedfs-lb-0", "seaweedfs-usage-lb-0"):
            continue
        assert container.inputs["user"] == IMAGE_USER == "seaweed", container.name
        assert container.inputs["entrypoints"][0] in ("/usr/bin/weed", "/bin/sh"), container.name
    for service in topology.services:
        check = run.named(f"seaweedfs-{service.name}").inputs["healthcheck"]["tests"]
        assert check[0] == "CMD" and check[1] in IMAGE_TOOLS
    [job] = topology.jobs
    container = run.named(f"seaweedfs-{job.name}")
    assert [*container.inputs["entrypoints"], *container.inputs["command"]] == list(job.argv)
    assert job.argv[:2] == ("/bin/sh", "-c")
    assert set(job_script.TOOLS) - {"weed"} <= IMAGE_TOOLS
    for tool in job_script.TOOLS[1:]:
        assert f"{tool} " in job.argv[2], tool


def test_data_lives_in_named_volumes(run, topology):
    volumes = {v.inputs["name"] for v in run.of_type("docker:index/volume:Volume")}
    for service in topology.services:
        mounts = run.named(f"seaweedfs-{service.name}").inputs["volumes"]
        assert mounts == [{"volumeName": f"aegis-dev-{service.name}-data", "containerPath": service.data_dir}]
        assert f"aegis-dev-{service.name}-data" in volumes


def test_health_checks_come_from_the_model(run, topology):
    for service in topology.services:
        check = run.named(f"seaweedfs-{service.name}").inputs["healthcheck"]
        assert check["tests"][-1] == f"http://127.0.0.1:{service.health.port}{service.health.path}"
        assert run.named(f"seaweedfs-{service.name}").inputs["restart"] == "unless-stopped"


def test_two_pinned_images_each_pulled_once(run):
    images = {image.inputs["name"] for image in run.of_type("docker:index/remoteImage:RemoteImage")}
    assert images == {"chrislusf/seaweedfs:4.48", "haproxy:2.6.12-alpine"}
    for container in run.of_type(CONTAINER):
        if container.name == "seaweedfs-usage-lb-0":
            continue  # built (test_the_usage_service_runs_beside_the_haproxy_in_its_network)
        expected = "haproxy:2.6.12-alpine" if container.name == "seaweedfs-lb-0" else "chrislusf/seaweedfs:4.48"
        assert container.inputs["image"] == f"sha256:mock-{expected}", container.name


def test_the_haproxy_runs_the_models_config_and_command_as_its_own_user_after_the_filer(run, topology):
    [lb] = topology.load_balancers
    container = run.named("seaweedfs-lb-0")
    assert [*container.inputs["entrypoints"], *container.inputs["command"]] == list(lb.argv)
    assert container.inputs["user"] == "haproxy"
    assert container.inputs["uploads"] == [{"file": lb.config.path, "content": lb.config.content}]
    check = container.inputs["healthcheck"]["tests"]
    assert check == ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8404/healthz"]
    assert run.named("seaweedfs-filer-0").urn in container.dependencies
    assert container.inputs["networksAdvanced"][0]["aliases"] == ["seaweedfs-lb"]


def test_volumes_written_by_root_are_handed_to_the_image_user_before_weed_starts(run, topology):
    owners = [c for c in run.of_type(CONTAINER) if data_owner(c)]
    assert len(owners) == len(topology.services)
    for service in topology.services:
        owner = run.named(f"seaweedfs-{service.name}-data-owner")
        assert owner.inputs["user"] == "root"
        assert [*owner.inputs["entrypoints"], *owner.inputs["command"]] == ["chown", "-R", "seaweed", "/data"]
        assert "chown" in IMAGE_TOOLS
        assert owner.inputs["volumes"] == run.named(f"seaweedfs-{service.name}").inputs["volumes"]
        # attach: the create returns only once chown has exited; no network, no ports, never restarted.
        assert owner.inputs["attach"] is True and owner.inputs["mustRun"] is False
        assert "networksAdvanced" not in owner.inputs and "ports" not in owner.inputs
        assert owner.urn in run.named(f"seaweedfs-{service.name}").dependencies


def test_containers_are_deleted_before_their_replacement_is_created(run):
    # Fixed names and host ports: a replacement created first could never start next to the old one.
    for container in run.of_type(CONTAINER):
        assert container.delete_before_replace, container.name


def test_containers_share_one_private_network(run):
    [network] = run.of_type("docker:index/network:Network")
    for container in long_running_and_jobs(run):
        if container.name == "seaweedfs-usage-lb-0":
            continue  # in the HAProxy's network namespace
        assert [n["name"] for n in container.inputs["networksAdvanced"]] == [network.inputs["name"]]


def test_secrets_are_sent_as_secrets(run, topology):
    for service in topology.services:
        container = run.named(f"seaweedfs-{service.name}")
        for i, (key, value) in enumerate(service.env):
            assert container.secret(f"envs[{i}]") == bool(refs_in(value)), key
        for i, _ in enumerate(service.files):
            assert container.secret(f"uploads[{i}].content")
    for password in run.of_type("random:index/randomPassword:RandomPassword"):
        assert password.parent.endswith("aegis:storage:ClusterSecrets::seaweedfs")


def test_plain_values_are_not_hidden_from_preview_diffs(run):
    container = run.named("seaweedfs-filer-0")
    assert not container.secret("command")
    assert not container.secret("envs[1]")


def test_every_secret_bearing_output_is_secret(run):
    assert run.secret_outputs == {
        "s3_admin_access_key",
        "s3_admin_secret_key",
        "s3_readonly_access_key",
        "s3_readonly_secret_key",
    }
    for key, value in run.outputs.items():
        if key not in run.secret_outputs:
            assert "generated-" not in str(value), key


def test_outputs_a_user_needs(run):
    assert run.outputs["filer_url"] == "http://127.0.0.1:8888"
    assert run.outputs["master_url"] == "http://127.0.0.1:9333"
    assert run.outputs["s3_endpoint"] == "http://127.0.0.1:8333"
    assert "filer_url: http://127.0.0.1:8888" in run.outputs["aegis_node_config"]
    assert run.outputs["health_target"]["expected_volume_servers"] == ["seaweedfs-volume:8080"]


def test_children_carry_their_component_parent(run):
    storage = run.named("seaweedfs-network").parent
    assert storage.endswith("aegis:storage:DevStorage::seaweedfs")
    for registration in run.registrations:
        if registration.type.startswith("docker:"):
            assert registration.parent == storage
            assert "aegis:storage:DevStorage$docker:" in registration.urn


def test_health_gate_runs_after_every_container(run):
    [gate] = [r for r in run.of_type("pulumi-python:dynamic:Resource") if r.name == "seaweedfs-health"]
    containers = {c.urn for c in run.of_type(CONTAINER)}
    assert containers <= set(gate.dependencies)
    assert gate.inputs["timeout_seconds"] == 120


def test_rules_job_runs_once_after_the_services(run):
    job = run.named("seaweedfs-filer-rules")
    assert job.inputs["mustRun"] is False and job.inputs["restart"] == "on-failure"
    service_urns = {c.urn for c in long_running_and_jobs(run) if c.name != "seaweedfs-filer-rules"}
    assert service_urns <= set(job.dependencies)


def test_invalid_config_creates_nothing():
    with pytest.raises(pulumi.RunError) as err:
        run_program("dev", {"platform": "docker", "masterCount": 2, "aegisReplication": "0011"})
    assert "aegis-storage:masterCount = 2" in str(err.value)
    assert "aegis-storage:aegisReplication" in str(err.value)


def test_invalid_config_registers_no_resource(monkeypatch):
    from tests.support import pulumi_harness

    seen = []
    monkeypatch.setattr(pulumi_harness.RecordingMocks, "new_resource", lambda self, args: seen.append(args))
    with pytest.raises(pulumi.RunError):
        run_program("dev", {"platform": "docker", "ephemeralTtl": "24h"})
    assert seen == []


def test_the_usage_service_runs_beside_the_haproxy_in_its_network(run, topology):
    [lb] = topology.load_balancers
    placement = DockerPlacement()
    usage = usage_service(topology, lb, placement, python="python3", weed="/usr/bin/weed", code_dir="/opt/aegis")
    container = run.named("seaweedfs-usage-lb-0")
    assert [*container.inputs["entrypoints"], *container.inputs["command"]] == list(usage.argv)
    assert container.inputs["envs"] == [f"{k}={v}" for k, v in usage.env]
    assert container.inputs["uploads"] == [{"file": f.path, "content": f.content} for f in usage.files]
    # HAProxy sends the calls to 127.0.0.1:8890: the same network namespace, no network or ports of its own.
    assert usage.host == "127.0.0.1" and "server usage 127.0.0.1:8890" in lb.config.content
    assert container.inputs["networkMode"] == "container:seaweedfs-lb-0-id"
    assert "networksAdvanced" not in container.inputs and "ports" not in container.inputs
    assert run.named("seaweedfs-lb-0").urn in container.dependencies
    assert container.inputs["user"] == "usage" and container.inputs["restart"] == "unless-stopped"
    assert container.inputs["volumes"] == [{"volumeName": "aegis-dev-usage-lb-0-data", "containerPath": "/data"}]
    assert container.inputs["healthcheck"]["tests"][-1] == "http://127.0.0.1:8890/healthz"
    # Python and the stack's weed in one image, built from the repository's Dockerfile, never pushed.
    [image] = run.of_type("docker:index/image:Image")
    assert container.inputs["image"] == image.inputs["imageName"] == usage_image_tag("chrislusf/seaweedfs:4.48")
    assert image.inputs["build"]["args"] == {
        "SEAWEEDFS_IMAGE": "chrislusf/seaweedfs:4.48",
        "PYTHON_IMAGE": "python:3.12-alpine",
        "CODE_DIR": "/opt/aegis",
        "WEED": "/usr/bin/weed",
    }
    assert image.inputs["skipPush"] is True
    dockerfile = Path(image.inputs["build"]["dockerfile"]).read_text()
    assert "COPY --from=seaweedfs ${WEED} ${WEED}" in dockerfile and "USER usage" in dockerfile
    assert "COPY usage ${CODE_DIR}/components/usage" in dockerfile


def test_the_usage_image_context_holds_only_what_the_dockerfile_copies(run):
    """The provider rebuilds on any change in the context, and a rebuild is a new image: only the package root
    and components/usage are in it, so an edit elsewhere leaves the image (and the tier nodes) as they are."""
    [image] = run.of_type("docker:index/image:Image")
    context = Path(image.inputs["build"]["context"])
    files = sorted(str(p.relative_to(context)) for p in context.rglob("*") if p.is_file())
    components = Path(__file__).resolve().parents[3] / "components"
    assert files == ["__init__.py", *sorted(f"usage/{p.name}" for p in (components / "usage").glob("*.py"))]
    assert context.name.startswith("usage-image-")
    for name in files:
        assert (context / name).read_bytes() == (components / name).read_bytes()
