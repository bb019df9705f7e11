"""The document of a prod node (what its SSM parameter holds and its bootstrap applies): the model's command
line verbatim, no secret in it, and boot scripts that behave (run here against stand-ins for blkid, mkfs and
the AWS CLI)."""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.aws.cloud_init import (
    PREPARE_DATA_DISK,
    RENDER,
    DataDisk,
    SecretSource,
    cloud_config,
    node_document,
    parameter_name,
)
from components.aws.placement import prod_topology
from components.model import config
from components.model.refs import Ref
from components.model.topology import LoadBalancer, Role, Service, Topology
from components.model.version import SEAWEEDFS_IMAGE

ROOT = Path(__file__).resolve().parents[3]
SOURCE = SecretSource(stack="prod", region="us-east-1")
DB_HOST = "aegis-storage-prod.abc123.us-east-1.rds.amazonaws.com"
VOLUME_ID = "vol-0123456789abcdef0"


def prod_config(**overrides: Any) -> config.StackConfig:
    raw = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())["config"]
    values = {k.split(":", 1)[1]: v for k, v in raw.items() if k.startswith(f"{config.PROJECT}:")}
    return config.parse({**values, **overrides}, stack="prod", aws_region=raw["aws:region"])


@pytest.fixture(scope="module")
def topology() -> Topology:
    return prod_topology(prod_config())


def render_cloud_init(node: Service | LoadBalancer, **kwargs: Any) -> str:
    """The node's document as cloud-config YAML, which is how these tests read its files and commands."""
    document = node_document(node, **kwargs)
    return cloud_config({"write_files": document["write_files"], "runcmd": document["runcmd"]})


def render(service: Service, topology: Topology, **kwargs: Any) -> str:
    jobs = topology.jobs if service.role is Role.FILER else ()
    values = {Ref.DB_HOST: DB_HOST} if service.role is Role.FILER else {}
    return render_cloud_init(service, secrets=SOURCE, values=values, jobs=jobs, **kwargs)


def files(user_data: str) -> dict[str, str]:
    return {f["path"]: f["content"] for f in yaml.safe_load(user_data)["write_files"]}


def run_command(script: str) -> list[str]:
    """What the run script execs; it may span lines (a job's shell script is one quoted argument)."""
    _, command = script.split("\nexec ", 1)
    return shlex.split(command)


def weed_args(command: list[str]) -> list[str]:
    """What follows the image in a `docker run`: the weed command line."""
    return command[command.index(SEAWEEDFS_IMAGE) + 1 :]


def test_every_node_gets_valid_cloud_config(topology: Topology) -> None:
    nodes = [*topology.services, *topology.load_balancers]
    assert len(nodes) == 3 + 3 + 3 + 1 + 2
    for node in nodes:
        text = render_cloud_init(node, secrets=SOURCE, values={Ref.DB_HOST: DB_HOST}, jobs=topology.jobs)
        assert text.startswith("#cloud-config\n")
        document = yaml.safe_load(text)
        assert set(document) == {"write_files", "runcmd"}
        assert all(isinstance(step, list) for step in document["runcmd"])
        # EC2 rejects user data over 16 KiB.
        assert len(text.encode()) < 16 * 1024


def test_each_service_runs_its_exact_command_line_in_the_pinned_image(topology: Topology) -> None:
    for service in topology.services:
        run = files(render(service, topology))[f"/etc/aegis/seaweedfs-{service.name}/run"]
        command = run_command(run)
        assert command[:2] == ["/usr/bin/docker", "run"]
        assert weed_args(command) == list(service.args)
        assert command[command.index("--entrypoint") + 2] == SEAWEEDFS_IMAGE
        for flag, value in [
            ("--network", "host"),
            ("--entrypoint", "/usr/bin/weed"),
            ("--name", f"seaweedfs-{service.name}"),
        ]:
            assert command[command.index(flag) + 1] == value
        assert f"{service.data_dir}:{service.data_dir}" in command


def test_arguments_survive_the_shell_verbatim(topology: Topology) -> None:
    tricky = ("master", "-a=x y", "-b=it's", '-c="$HOME"', "-d=`id`;rm -rf /", "-e=%n")
    service = replace(topology.of(Role.MASTER)[0], args=tricky)
    run = files(render_cloud_init(service, secrets=SOURCE))["/etc/aegis/seaweedfs-master-0/run"]
    assert weed_args(run_command(run)) == list(tricky)
    completed = subprocess.run(
        ["sh", "-c", run.replace("exec /usr/bin/docker", 'printf "%s\\n"'), "sh"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert completed.stdout.splitlines()[-len(tricky) :] == list(tricky)


def test_user_data_holds_placeholders_and_parameter_names_never_secrets(topology: Topology) -> None:
    filer = topology.of(Role.FILER)[0]
    written = files(render(filer, topology))
    env = written["/etc/aegis/seaweedfs-filer-0/templates/env"]
    assert "WEED_JWT_SIGNING_KEY={{jwt_signing_key}}" in env
    assert "WEED_POSTGRES2_PASSWORD={{db_password}}" in env
    manifest = json.loads(written["/etc/aegis/seaweedfs-filer-0/manifest.json"])
    assert manifest["region"] == "us-east-1"
    assert manifest["parameters"] == {
        "jwt_signing_key": "/aegis-storage/prod/jwt_signing_key",
        "db_password": "/aegis-storage/prod/db_password",
    }
    assert manifest["files"] == [
        {"template": "/etc/aegis/seaweedfs-filer-0/templates/env", "target": "/run/aegis/seaweedfs-filer-0/env"}
    ]
    s3 = files(render(topology.of(Role.S3)[0], topology))
    template = s3["/etc/aegis/seaweedfs-s3-0/templates/etc/seaweedfs/s3.json"]
    assert "{{s3_admin_secret_key}}" in template and "{{s3_readonly_secret_key}}" in template
    assert "/run/aegis/seaweedfs-s3-0/files/etc/seaweedfs:/etc/seaweedfs:ro" in s3["/etc/aegis/seaweedfs-s3-0/run"]


def test_only_non_secret_values_are_substituted_at_render_time(topology: Topology) -> None:
    filer = topology.of(Role.FILER)[0]
    env = files(render(filer, topology))["/etc/aegis/seaweedfs-filer-0/templates/env"]
    assert f"WEED_POSTGRES2_HOSTNAME={DB_HOST}\n" in env
    with pytest.raises(ValueError, match="db_password"):
        render_cloud_init(filer, secrets=SOURCE, values={Ref.DB_HOST: DB_HOST, Ref.DB_PASSWORD: "hunter2"})
    with pytest.raises(KeyError, match="db_host"):
        render_cloud_init(filer, secrets=SOURCE)


def test_units_start_in_order_and_wait_for_their_disk(topology: Topology) -> None:
    master = topology.of(Role.MASTER)[0]
    document = yaml.safe_load(render(master, topology, data_disk=DataDisk(VOLUME_ID, master.data_dir)))
    runcmd = document["runcmd"]
    assert runcmd.index([PREPARE_DATA_DISK]) < runcmd.index(["dnf", "install", "-y", "docker"])
    assert runcmd[-1] == ["systemctl", "enable", "--now", "--no-block", "seaweedfs-master-0.service"]
    written = {f["path"]: f for f in document["write_files"]}
    unit = written["/etc/systemd/system/seaweedfs-master-0.service"]["content"]
    assert "RequiresMountsFor=/data\n" in unit
    assert f"ExecStartPre={RENDER} /etc/aegis/seaweedfs-master-0/manifest.json\n" in unit
    assert "ExecStart=/etc/aegis/seaweedfs-master-0/run\n" in unit
    assert written[RENDER]["permissions"] == "0700"
    # Without a data disk nothing waits for a mount that never comes.
    filer_unit = files(render(topology.of(Role.FILER)[0], topology))["/etc/systemd/system/seaweedfs-filer-0.service"]
    assert "RequiresMountsFor" not in filer_unit


def test_filer_rules_job_runs_after_the_local_filer_is_healthy(topology: Topology) -> None:
    filer = topology.of(Role.FILER)[1]
    (job,) = topology.jobs
    written = files(render(filer, topology))
    unit = written["/etc/systemd/system/seaweedfs-filer-rules.service"]
    assert "Requires=seaweedfs-filer-1.service\nAfter=seaweedfs-filer-1.service\n" in unit
    assert "Type=oneshot" in unit and "Restart=on-failure" in unit
    run = written["/etc/aegis/seaweedfs-filer-rules/run"]
    wait, _ = run.split("exec ", 1)
    assert f"http://127.0.0.1:{filer.health.port}{filer.health.path}" in wait
    command = run_command(run)
    # The job's own script, which applies the rules and waits until the filer serves them.
    assert command[command.index("--entrypoint") + 1] == job.argv[0] == "/bin/sh"
    assert weed_args(command) == list(job.argv[1:])
    (rules,) = job.files
    assert written["/etc/aegis/seaweedfs-filer-rules/templates/etc/seaweedfs/filer.conf"] == rules.content
    assert "seaweedfs-filer-rules.service" in yaml.safe_load(render(filer, topology))["runcmd"][-1]


def test_load_balancer_runs_the_models_haproxy_with_the_models_config(topology: Topology) -> None:
    lb = topology.load_balancers[0]
    document = yaml.safe_load(render_cloud_init(lb, secrets=SOURCE))
    assert ["dnf", "install", "-y", "haproxy"] in document["runcmd"]
    assert not any("docker" in " ".join(step) for step in document["runcmd"])
    written = {f["path"]: f["content"] for f in document["write_files"]}
    assert written["/etc/aegis/seaweedfs-lb-0/templates/etc/haproxy/haproxy.cfg"] == lb.config.content
    manifest = json.loads(written["/etc/aegis/seaweedfs-lb-0/manifest.json"])
    assert manifest["parameters"] == {}
    assert manifest["files"][0]["target"] == lb.config.path
    assert run_command(written["/etc/aegis/seaweedfs-lb-0/run"]) == list(lb.argv)


def test_data_disk_is_found_by_its_volume_id() -> None:
    disk = DataDisk(VOLUME_ID, "/data")
    assert disk.device == "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0"


def _stub(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


@pytest.mark.parametrize(
    ("blkid_status", "formats", "succeeds"),
    [(2, True, True), (0, False, True), (4, False, False)],
    ids=["blank disk is formatted", "existing filesystem is kept", "unreadable disk is left alone"],
)
def test_data_disk_is_formatted_only_when_blkid_finds_nothing(
    tmp_path: Path, topology: Topology, blkid_status: int, formats: bool, succeeds: bool
) -> None:
    master = topology.of(Role.MASTER)[0]
    disk = DataDisk(VOLUME_ID, master.data_dir)
    script = files(render(master, topology, data_disk=disk))[PREPARE_DATA_DISK]
    device, mount_point, fstab = tmp_path / "device", tmp_path / "mnt", tmp_path / "fstab"
    device.write_text("")
    fstab.write_text("")
    script = (
        script.replace(disk.device, str(device))
        .replace(f"mount_point={disk.mount_point}", f"mount_point={mount_point}")
        .replace("/etc/fstab", str(fstab))
    )
    bin_dir, log = tmp_path / "bin", tmp_path / "log"
    bin_dir.mkdir()
    _stub(bin_dir, "blkid", f'echo "blkid $*" >>{log}; exit {blkid_status}')
    for name in ("mkfs.xfs", "mount", "systemctl"):
        _stub(bin_dir, name, f'echo "{name} $*" >>{log}')
    _stub(bin_dir, "mountpoint", "exit 1")
    result = subprocess.run(
        ["sh", "-c", script], env={"PATH": f"{bin_dir}:/usr/bin:/bin"}, capture_output=True, text=True
    )
    calls = log.read_text().splitlines()
    assert calls[0] == f"blkid -p {device}"
    assert (f"mkfs.xfs {device}" in calls) is formats
    assert (result.returncode == 0) is succeeds, result.stderr
    if succeeds:
        assert fstab.read_text() == f"{device} {mount_point} xfs defaults,nofail 0 2\n"
        assert calls[-1] == f"mount {mount_point}"


def test_render_script_fills_placeholders_from_ssm_into_root_only_files(tmp_path: Path, topology: Topology) -> None:
    filer = topology.of(Role.FILER)[0]
    written = files(render(filer, topology))
    template = tmp_path / "env.template"
    template.write_text(written["/etc/aegis/seaweedfs-filer-0/templates/env"])
    target = tmp_path / "run" / "env"
    manifest = json.loads(written["/etc/aegis/seaweedfs-filer-0/manifest.json"])
    manifest["files"] = [{"template": str(template), "target": str(target)}]
    manifest_path = tmp_path / "manifest.json"
    manifest_path.write_text(json.dumps(manifest))
    secrets = {
        parameter_name("prod", Ref.JWT_SIGNING_KEY): "jwt-from-ssm",
        parameter_name("prod", Ref.DB_PASSWORD): "password-from-ssm",
    }
    bin_dir, argv_log = tmp_path / "bin", tmp_path / "aws-argv"
    bin_dir.mkdir()
    answer = json.dumps({"Parameters": [{"Name": n, "Value": v} for n, v in secrets.items()], "InvalidParameters": []})
    _stub(bin_dir, "aws", f"echo \"$*\" >>{argv_log}\ncat <<'EOF'\n{answer}\nEOF")
    script = tmp_path / "aegis-render"
    script.write_text(written[RENDER])
    subprocess.run(
        [sys.executable, str(script), str(manifest_path)],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
        check=True,
        timeout=30,
    )
    rendered = target.read_text()
    assert "WEED_JWT_SIGNING_KEY=jwt-from-ssm\n" in rendered
    assert "WEED_POSTGRES2_PASSWORD=password-from-ssm\n" in rendered
    assert f"WEED_POSTGRES2_HOSTNAME={DB_HOST}\n" in rendered
    assert "{{" not in rendered
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(target.parent).st_mode) == 0o700
    (argv,) = argv_log.read_text().splitlines()
    assert argv.startswith("ssm get-parameters --with-decryption --region us-east-1")
    assert sorted(argv.split("--names ")[1].split()) == sorted(secrets)


def test_masters_get_the_maintenance_script_as_one_env_file_line_each(topology: Topology) -> None:
    # docker run --env-file ends a value at the first newline, so the script must be one line to arrive whole.
    master = topology.of(Role.MASTER)[0]
    env = files(render(master, topology))["/etc/aegis/seaweedfs-master-0/templates/env"]
    expected = dict(master.env)
    lines = dict(line.split("=", 1) for line in env.splitlines())
    assert lines["WEED_MASTER_MAINTENANCE_SCRIPTS"] == expected["WEED_MASTER_MAINTENANCE_SCRIPTS"]
    assert lines["WEED_MASTER_MAINTENANCE_SCRIPTS"].startswith("lock; volume.fix.replication -apply; ")
    assert lines["WEED_MASTER_MAINTENANCE_SLEEP_MINUTES"] == "15"
