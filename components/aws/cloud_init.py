"""The node document that turns an Amazon Linux 2023 instance into one node of the topology model: its files,
first-boot commands and systemd units. It lives in the node's SSM parameter and the stable bootstrap user
data (bootstrap.py) applies it, at boot and at each rollout.

Pure and secret-free: the document shows in every preview, so it carries only the model's texts with their
secret `{{ref}}` placeholders. Each node runs
one systemd unit per process. At every start of a unit, `aegis-render` reads the SSM SecureString
parameters the unit's templates reference and writes the filled files under /run (tmpfs, root-only):
secrets never reach the user data, the AMI or the instance's disks, and a rotated secret is picked up
by restarting the unit.

Non-secret deploy-time values (the database host) are substituted here, at render time, so a change of
such a value changes the document, and the rollout applies it node by node.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from components.model.config import PROJECT
from components.model.metadata_backup import MetadataBackup
from components.model.refs import Ref, refs_in, substitute
from components.model.topology import ConfigFile, Job, LoadBalancer, Service
from components.model.usage import UsageService
from components.model.version import SEAWEEDFS_IMAGE, WEED_IN_IMAGE

RENDER = "/usr/local/sbin/aegis-render"
PREPARE_DATA_DISK = "/usr/local/sbin/aegis-prepare-data-disk"
ETC = "/etc/aegis"
RUN = "/run/aegis"
DOCKER = "/usr/bin/docker"
EBS_BY_ID = "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_"
DEVICE_WAIT_TRIES = 120  # x 5 s: the data volume is attached only after the instance is running
# docker's own config directory: the ECR credential helper per registry, so every pull (a restart's too) gets a
# fresh token from the instance role; `aws ecr get-login-password` would leave a 12-hour login behind.
DOCKER_CONFIG = f"{ETC}/docker"
ECR_HOST = re.compile(r"^([0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?)/")
ECR_HELPER_PACKAGE = "amazon-ecr-credential-helper"  # Amazon Linux 2023's docker-credential-ecr-login

# Runs as root at every unit start, with the AMI's python3 (3.9 on Amazon Linux 2023).
RENDER_SCRIPT = r'''#!/usr/bin/python3
"""Fills {{ref}} placeholders from SSM SecureString parameters into root-only files."""
import json
import os
import re
import subprocess
import sys
import time

PLACEHOLDER = re.compile(r"\{\{([a-z0-9_]+)\}\}")


def fetch(names, region):
    if not names:
        return {}
    for _ in range(60):
        # The values come back through a pipe: never through argv, the environment or a log.
        run = subprocess.run(
            ["aws", "ssm", "get-parameters", "--with-decryption", "--region", region, "--output", "json",
             "--names", *sorted(names.values())],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
        )
        if run.returncode == 0:
            found = {p["Name"]: p["Value"] for p in json.loads(run.stdout)["Parameters"]}
            if all(name in found for name in names.values()):
                return {ref: found[name] for ref, name in names.items()}
        else:
            sys.stderr.write(run.stderr)
        # A fresh instance profile takes a while to become usable.
        time.sleep(5)
    sys.exit("cannot read " + ", ".join(sorted(names.values())))


def main(path):
    with open(path) as f:
        manifest = json.load(f)
    values = fetch(manifest["parameters"], manifest["region"])
    os.umask(0o077)
    for entry in manifest["files"]:
        with open(entry["template"]) as f:
            text = PLACEHOLDER.sub(lambda m: values[m.group(1)], f.read())
        os.makedirs(os.path.dirname(entry["target"]), exist_ok=True)
        partial = entry["target"] + ".partial"
        with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(text)
        os.replace(partial, entry["target"])


main(sys.argv[1])
'''


def parameter_name(stack: str, ref: Ref) -> str:
    """The SSM parameter holding `ref` for a stack."""
    return f"/{PROJECT}/{stack}/{ref.value}"


@dataclass(frozen=True)
class SecretSource:
    """Where a node reads its secret refs at boot: the stack's SSM parameters in its region."""

    stack: str
    region: str

    def parameter(self, ref: Ref) -> str:
        return parameter_name(self.stack, ref)


@dataclass(frozen=True)
class DataDisk:
    """The node's data EBS volume, formatted on first use and mounted at `mount_point`."""

    volume_id: str
    mount_point: str

    @property
    def device(self) -> str:
        # Nitro instances expose each EBS volume under its id without the dash.
        return EBS_BY_ID + self.volume_id.replace("-", "")


@dataclass(frozen=True)
class _Template:
    """A file to render at unit start: `content` may hold secret placeholders, `target` is on the host."""

    name: str
    content: str
    target: str


def unit_name(name: str) -> str:
    return f"seaweedfs-{name}"


def secret_refs(texts: Sequence[str]) -> tuple[Ref, ...]:
    """The secret refs a set of texts needs, in order of first use."""
    seen: dict[Ref, None] = {}
    for text in texts:
        seen.update((ref, None) for ref in refs_in(text) if ref.secret)
    return tuple(seen)


def node_texts(
    node: Service | LoadBalancer,
    jobs: Sequence[Job] = (),
    scheduled: Sequence[MetadataBackup] = (),
    usage: UsageService | None = None,
) -> tuple[str, ...]:
    """Every model text a node renders: env values and config files of its process and jobs, where its
    scheduled jobs copy to, and the usage service's beside an HAProxy."""
    if isinstance(node, LoadBalancer):
        beside = (*(value for _, value in usage.env), *(f.content for f in usage.files)) if usage else ()
        return (node.config.content, *beside)
    return (
        *(value for _, value in node.env),
        *(f.content for f in node.files),
        *(f.content for job in jobs for f in job.files),
        *(s.target for s in scheduled),
    )


def cloud_config(document: Mapping[str, Any]) -> str:
    """`#cloud-config` YAML with scripts and configs as literal blocks, readable in previews."""
    return "#cloud-config\n" + yaml.dump(
        dict(document), Dumper=_BlockDumper, sort_keys=False, default_flow_style=None, width=1000
    )


def node_document(
    node: Service | LoadBalancer,
    *,
    secrets: SecretSource,
    values: Mapping[Ref, str] | None = None,
    data_disk: DataDisk | None = None,
    jobs: Sequence[Job] = (),
    image: str = SEAWEEDFS_IMAGE,
    scheduled: Sequence[MetadataBackup] = (),
    usage: UsageService | None = None,
) -> dict[str, Any]:
    """What a node runs: the files to write, the commands of its first boot and its systemd units. `image` is
    the weed image of a weed node, and the usage service's image of an HAProxy node that runs `usage`."""
    plain = dict(values or {})
    leaked = sorted(ref.value for ref in plain if ref.secret)
    if leaked:
        raise ValueError(f"secret refs never go into a node document: {', '.join(leaked)}")
    writer = _Writer(secrets, plain)
    writer.file(RENDER, RENDER_SCRIPT, "0700")
    if isinstance(node, LoadBalancer):
        # HAProxy from the distribution; the usage service beside it is a container, so the node gets docker too.
        usage_units = [_usage_unit(writer, usage, image)] if usage else []
        units = [_load_balancer_unit(writer, node, wants=usage_units), *usage_units]
        install = "haproxy" + (" " + _docker_packages(writer, image) if usage else "")
    else:
        timers = [_scheduled_unit(writer, s, node) for s in scheduled]
        units = [_service_unit(writer, node, data_disk, image, wants=timers)]
        units += [_job_unit(writer, job, node, image) for job in jobs]
        units += timers
        install = _docker_packages(writer, image)
    runcmd: list[list[str]] = []
    if data_disk is not None:
        writer.file(PREPARE_DATA_DISK, _prepare_data_disk_script(data_disk), "0700")
        runcmd.append([PREPARE_DATA_DISK])
    runcmd += [["dnf", "install", "-y", *install.split()]]
    if "docker" in install.split():
        runcmd.append(["systemctl", "enable", "--now", "docker.service"])
    # --no-block: a job waits for the cluster, and cloud-init must not wait for the job.
    runcmd += [["systemctl", "daemon-reload"], ["systemctl", "enable", "--now", "--no-block", *units]]
    return {"write_files": writer.files, "runcmd": runcmd, "units": units}


def _docker_packages(writer: _Writer, image: str) -> str:
    """The packages a node that runs `image` installs: docker, and the ECR credential helper with its config when
    the image is in ECR."""
    registry = ecr_registry(image)
    if not registry:
        return "docker"
    writer.file(f"{DOCKER_CONFIG}/config.json", json.dumps({"credHelpers": {registry: "ecr-login"}}), "0644")
    return f"docker {ECR_HELPER_PACKAGE}"


class _Writer:
    """Collects cloud-init `write_files` entries and the render manifests of units."""

    def __init__(self, secrets: SecretSource, values: Mapping[Ref, str]) -> None:
        self.secrets = secrets
        self.values = values
        self.files: list[dict[str, Any]] = []

    def file(self, path: str, content: str, permissions: str) -> None:
        self.files.append({"path": path, "owner": "root:root", "permissions": permissions, "content": content})

    def manifest(self, unit: str, templates: Sequence[_Template]) -> str:
        """Writes the unit's templates and its render manifest; returns the manifest path."""
        entries = []
        for template in templates:
            path = f"{ETC}/{unit}/templates/{template.name}"
            self.file(path, self.fill_plain(template.content), "0600")
            entries.append({"template": path, "target": template.target})
        refs = secret_refs([t.content for t in templates])
        manifest = {
            "region": self.secrets.region,
            "parameters": {ref.value: self.secrets.parameter(ref) for ref in refs},
            "files": entries,
        }
        path = f"{ETC}/{unit}/manifest.json"
        self.file(path, json.dumps(manifest, indent=2) + "\n", "0600")
        return path

    def fill_plain(self, text: str) -> str:
        """Substitutes the non-secret refs, keeping every secret placeholder for the node to fill."""
        return substitute(text, {**{ref: ref.placeholder for ref in Ref if ref.secret}, **self.values})


def _container_files(unit: str, files: Sequence[ConfigFile]) -> tuple[list[_Template], list[str]]:
    """Templates rendered under /run for the model's config files, and the bind mounts that show them."""
    root = f"{RUN}/{unit}/files"
    templates = [_Template(f.path.lstrip("/"), f.content, root + f.path) for f in files]
    directories = sorted({f.path.rsplit("/", 1)[0] for f in files})
    mounts = [arg for d in directories for arg in ("--volume", f"{root}{d}:{d}:ro")]
    return templates, mounts


def ecr_registry(image: str) -> str | None:
    """The ECR registry host of `image`, whose pulls need the instance role's credentials; None for a public one."""
    found = ECR_HOST.match(image)
    return found.group(1) if found else None


def _docker_run(unit: str, options: Sequence[str], argv: Sequence[str], image: str) -> list[str]:
    """`docker run` of the SeaweedFS image with `argv[0]` as the entrypoint and the rest as its arguments."""
    return [
        DOCKER,
        *(("--config", DOCKER_CONFIG) if ecr_registry(image) else ()),
        "run",
        "--rm",
        "--name",
        unit,
        "--network",
        "host",
        # The image's default user changed between releases and its chown-ing entrypoint is bypassed:
        # run as root, without any capability, so root-only files and the data disk are usable and
        # nothing else is.
        "--user",
        "0:0",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        # journald caps log size; docker's default json-file log grows until the root disk is full.
        "--log-driver",
        "journald",
        *options,
        "--entrypoint",
        argv[0],
        image,
        *argv[1:],
    ]


def _credential_helper(image: str) -> str:
    """Installs the ECR credential helper before a pull needs it. First boot installs it with docker, but a
    rollout applies only the files of a changed document, never its first-boot commands: a node that moved
    to the registry image in a rollout gets the helper here, at its unit's next start."""
    if not ecr_registry(image):
        return ""
    return f"command -v docker-credential-ecr-login >/dev/null || dnf install -y {ECR_HELPER_PACKAGE}\n"


def _run_script(command: Sequence[str], prelude: str = "") -> str:
    return f"#!/bin/sh\nset -eu\n{prelude}exec {shlex.join(command)}\n"


def _service_unit(
    writer: _Writer, service: Service, data_disk: DataDisk | None, image: str, wants: Sequence[str] = ()
) -> str:
    unit = unit_name(service.name)
    env_file = f"{RUN}/{unit}/env"
    env = "".join(f"{key}={value}\n" for key, value in service.env)
    templates, mounts = _container_files(unit, service.files)
    manifest = writer.manifest(unit, [_Template("env", env, env_file), *templates])
    options = ["--env-file", env_file, "--volume", f"{service.data_dir}:{service.data_dir}", *mounts]
    run = f"{ETC}/{unit}/run"
    command = _docker_run(unit, options, (WEED_IN_IMAGE, *service.args), image)
    writer.file(run, _run_script(command, prelude=_credential_helper(image)), "0700")
    # A data disk that is not mounted must stop the process: it would start on an empty directory.
    needs_mount = f"RequiresMountsFor={data_disk.mount_point}\n" if data_disk else ""
    # The process's start starts its timers: a timer a rollout added is started at every boot, though only
    # the first boot enables units.
    needs_mount += "".join(f"Wants={timer}\n" for timer in wants)
    writer.file(
        f"/etc/systemd/system/{unit}.service",
        f"""[Unit]
Description=SeaweedFS {service.name} (weed {service.role.value})
Requires=docker.service
After=docker.service network-online.target
Wants=network-online.target
{needs_mount}StartLimitIntervalSec=0

{_container_service(unit, manifest, run)}""",
        "0644",
    )
    return f"{unit}.service"


def _container_service(unit: str, manifest: str, run: str) -> str:
    """The [Service] and [Install] sections of a unit whose process is the container `unit`, run by `run`."""
    return f"""[Service]
ExecStartPre={RENDER} {manifest}
ExecStartPre=-{DOCKER} rm --force {unit}
ExecStart={run}
ExecStop={DOCKER} stop {unit}
Restart=always
RestartSec=5
# Covers the wait for SSM parameters on a fresh instance.
TimeoutStartSec=900

[Install]
WantedBy=multi-user.target
"""


def _job_unit(writer: _Writer, job: Job, service: Service, image: str) -> str:
    """A one-shot unit that runs `job` once the node's own process answers its health probe."""
    unit = unit_name(job.name)
    service_unit = unit_name(service.name)
    templates, mounts = _container_files(unit, job.files)
    manifest = writer.manifest(unit, templates)
    probe = f"http://127.0.0.1:{service.health.port}{service.health.path}"
    wait = f"until curl -fsS -o /dev/null {shlex.quote(probe)}; do sleep 5; done\n"
    run = f"{ETC}/{unit}/run"
    command = _docker_run(unit, mounts, job.argv, image)
    writer.file(run, _run_script(command, prelude=_credential_helper(image) + wait), "0700")
    writer.file(
        f"/etc/systemd/system/{unit}.service",
        f"""[Unit]
Description=SeaweedFS job {job.name} (idempotent; runs after {service.name} is healthy)
Requires={service_unit}.service
After={service_unit}.service
StartLimitIntervalSec=0

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStartPre={RENDER} {manifest}
ExecStart={run}
Restart=on-failure
RestartSec=10
TimeoutStartSec=900

[Install]
WantedBy=multi-user.target
""",
        "0644",
    )
    return f"{unit}.service"


def _scheduled_unit(writer: _Writer, backup: MetadataBackup, service: Service) -> str:
    """A timer and the one-shot unit it starts: the metadata backup, on the host (its copy to S3 uses the
    host's AWS CLI and instance role). weed runs inside the node's running container: the same release, no
    pull, and the work directory is under the node's data directory, which the container mounts."""
    unit = unit_name(backup.name)
    service_unit = unit_name(service.name)
    weed = (DOCKER, "exec", "-i", service_unit, WEED_IN_IMAGE)
    run = f"{ETC}/{unit}/run"
    # Only plain values (where to copy): the script holds no secret.
    writer.file(run, writer.fill_plain(backup.script(weed)), "0700")
    writer.file(
        f"/etc/systemd/system/{unit}.service",
        # Requisite, not Requires: a run while a rollout has stopped the node's process fails, and never starts it.
        # The timeout ends a hung run before the next one is due.
        f"""[Unit]
Description=SeaweedFS filer metadata backup (fs.meta.save)
Requisite={service_unit}.service
After={service_unit}.service

[Service]
Type=oneshot
ExecStart={run}
TimeoutStartSec=3300
""",
        "0644",
    )
    writer.file(
        f"/etc/systemd/system/{unit}.timer",
        f"""[Timer]
OnCalendar={backup.schedule}

[Install]
WantedBy=timers.target
""",
        "0644",
    )
    return f"{unit}.timer"


def _load_balancer_unit(writer: _Writer, lb: LoadBalancer, wants: Sequence[str] = ()) -> str:
    """HAProxy from the distribution, started with the model's own command line. Its start starts `wants` (the
    usage service) without waiting for it or failing with it: a unit a rollout added is started at every boot,
    though only the first boot enables units, and HAProxy answers AEGIS's usage calls itself while it is down."""
    unit = unit_name(lb.name)
    wanted = "".join(f"Wants={w}\n" for w in wants)
    # Rendered at start, after the package is installed, so the package's default config never wins.
    config = lb.config
    manifest = writer.manifest(unit, [_Template(config.path.lstrip("/"), config.content, config.path)])
    run = f"{ETC}/{unit}/run"
    writer.file(run, _run_script(lb.argv), "0700")
    writer.file(
        f"/etc/systemd/system/{unit}.service",
        f"""[Unit]
Description=HAProxy {lb.name} in front of the SeaweedFS filers
After=network-online.target
Wants=network-online.target
{wanted}StartLimitIntervalSec=0

[Service]
ExecStartPre={RENDER} {manifest}
ExecStart={run}
Restart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
""",
        "0644",
    )
    return f"{unit}.service"


def _usage_unit(writer: _Writer, usage: UsageService, image: str) -> str:
    """The usage service beside HAProxy: the model's command in its image, its rules file rendered under /run,
    its checkpoint in its data directory on the root disk."""
    unit = unit_name(usage.name)
    templates, mounts = _container_files(unit, usage.files)
    manifest = writer.manifest(unit, templates)
    env = [arg for key, value in usage.env for arg in ("--env", f"{key}={value}")]
    options = [*env, "--volume", f"{usage.data_dir}:{usage.data_dir}", *mounts]
    run = f"{ETC}/{unit}/run"
    command = _docker_run(unit, options, usage.argv, image)
    writer.file(run, _run_script(command, prelude=_docker_prelude(image)), "0700")
    # No Requires= on docker: a node that got this unit in a rollout has no docker until the run script installs it.
    writer.file(
        f"/etc/systemd/system/{unit}.service",
        f"""[Unit]
Description=Usage service {usage.name} beside HAProxy (optional: HAProxy answers for it while it is down)
After=docker.service network-online.target
Wants=network-online.target
StartLimitIntervalSec=0

{_container_service(unit, manifest, run)}""",
        "0644",
    )
    return f"{unit}.service"


def _docker_prelude(image: str) -> str:
    """docker and the ECR credential helper before the first pull. First boot installs both, but a rollout
    applies only the files of a changed document: an HAProxy node that got the usage service in a rollout has
    neither until here."""
    docker = "command -v docker >/dev/null || dnf install -y docker\nsystemctl start docker.service\n"
    return docker + _credential_helper(image)


def _prepare_data_disk_script(disk: DataDisk) -> str:
    device = shlex.quote(disk.device)
    mount_point = shlex.quote(disk.mount_point)
    return f"""#!/bin/sh
set -eu
device={device}
mount_point={mount_point}
tries=0
until [ -e "$device" ]; do
  tries=$((tries + 1))
  if [ "$tries" -gt {DEVICE_WAIT_TRIES} ]; then
    echo "$device did not appear" >&2
    exit 1
  fi
  sleep 5
done
# Never format a disk that holds a filesystem: one restored from a snapshot (disaster recovery) or
# re-attached after an instance replacement keeps its data. blkid -p exits 2 only when it found nothing.
status=0
blkid -p "$device" >/dev/null || status=$?
if [ "$status" -eq 2 ]; then
  mkfs.xfs "$device"
elif [ "$status" -ne 0 ]; then
  echo "blkid cannot probe $device (exit $status); leaving it untouched" >&2
  exit 1
fi
mkdir -p "$mount_point"
if ! grep -q "^$device " /etc/fstab; then
  echo "$device $mount_point xfs defaults,nofail 0 2" >>/etc/fstab
fi
systemctl daemon-reload
mountpoint -q "$mount_point" || mount "$mount_point"
"""


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks, so scripts and configs read as they are in previews."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _represent_str)
