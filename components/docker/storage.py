"""The dev stack: the topology model placed on the local Docker engine, one container per service."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from components.model.config import StackConfig
from components.model.haproxy import ADMIN_PORT
from components.model.refs import Ref
from components.model.topology import (
    START_ORDER,
    ConfigFile,
    HealthProbe,
    Job,
    LoadBalancer,
    Role,
    Service,
    Topology,
    build_topology,
)
from components.model.usage import UsageService
from components.model.version import (
    HAPROXY_IMAGE,
    HAPROXY_USER,
    IMAGE_USER,
    WEED_IN_IMAGE,
    WEED_LOG_FLAGS,
    seaweedfs_image,
)
from components.stack.deploy_values import resolved
from components.stack.usage_image import USAGE_USER, usage_build, usage_image_tag, usage_in_image

HOST_ADDRESS = "127.0.0.1"  # published ports never leave the developer's machine
# What a developer reaches from the host: the master UI and the S3 gateway; AEGIS's filer URL is the HAProxy in
# front of the filer. The filer itself, volume servers and every gRPC port stay on the private network (the
# filer streams file contents itself), so nothing reaches the filer around the HTTP tier's rules.
PUBLISHED_ROLES = (Role.MASTER, Role.S3)


class DockerPlacement:
    """Containers reach each other by the spec's service names on a private network; data under /data."""

    def host(self, node: str) -> str:
        role, index = node.rsplit("-", 1)
        return f"seaweedfs-{role}" if index == "0" else f"seaweedfs-{role}-{index}"

    def bind(self, node: str) -> str:
        return "0.0.0.0"

    def data_dir(self, node: str) -> str:
        return "/data"

    def config_dir(self, node: str) -> str:
        return "/etc/seaweedfs"


def dev_topology(cfg: StackConfig) -> Topology:
    return build_topology(cfg, DockerPlacement())


def published_url(role: Role) -> str:
    return f"http://{HOST_ADDRESS}:{role.http_port}"


@dataclass(frozen=True)
class DevStorageArgs:
    cfg: StackConfig
    topology: Topology
    values: Mapping[Ref, pulumi.Input[str]]


class DevStorage(pulumi.ComponentResource):
    """Master, volume server, filer (LevelDB), optional S3 gateway, and the HAProxy AEGIS talks to, as containers.

    Data lives in named volumes so it survives re-runs of `pulumi up` and container replacement. The
    volumes are not protected: a dev stack is meant to be thrown away with `pulumi destroy`.

    weed runs as the image's unprivileged `seaweed` user with the model's flags only: the entrypoint is
    bypassed (see components/model/version.py), so the container does what it would add, `user` and
    -logtostderr=true. Only a one-shot `chown` per volume runs as root.

    Containers have fixed names and host ports, so a changed one is deleted before its replacement is
    created; otherwise the replacement could never start next to it.
    """

    containers: dict[str, docker.Container]

    def __init__(self, name: str, args: DevStorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aegis:storage:DevStorage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self._args = args
        prefix = f"aegis-{args.cfg.stack}"

        self.network = docker.Network(f"{name}-network", name=f"{prefix}-seaweedfs", opts=child)
        self.image = docker.RemoteImage(
            f"{name}-image", name=seaweedfs_image(args.cfg.seaweedfs_version), keep_locally=True, opts=child
        )

        self.containers = {}
        for service in args.topology.services:
            volume = docker.Volume(f"{name}-{service.name}-data", name=f"{prefix}-{service.name}-data", opts=child)
            depends = [self._data_owner(name, prefix, service, volume)] + [
                self.containers[s.name]
                for s in args.topology.services
                if START_ORDER.index(s.role) < START_ORDER.index(service.role)
            ]
            self.containers[service.name] = self._service_container(name, prefix, service, volume, depends)
        self.haproxy_image = docker.RemoteImage(
            f"{name}-haproxy-image", name=HAPROXY_IMAGE, keep_locally=True, opts=child
        )
        filers = [self.containers[s.name] for s in args.topology.of(Role.FILER)]
        for lb in args.topology.load_balancers:
            self.containers[lb.name] = self._load_balancer_container(name, prefix, lb, filers)
        self._usage(name, prefix, filers)
        for job in args.topology.jobs:
            self.containers[job.name] = self._job_container(name, prefix, job)

        self.filer_url = LoadBalancer.filer_url(HOST_ADDRESS)
        self.master_url = published_url(Role.MASTER)
        self.s3_endpoint = published_url(Role.S3) if args.topology.of(Role.S3) else None
        self.register_outputs(
            {
                "filer_url": self.filer_url,
                "master_url": self.master_url,
                "s3_endpoint": self.s3_endpoint,
                "containers": {n: c.name for n, c in self.containers.items()},
            }
        )

    def _uploads(self, files: tuple[ConfigFile, ...]) -> list[docker.ContainerUploadArgs]:
        return [docker.ContainerUploadArgs(file=f.path, content=resolved(f.content, self._args.values)) for f in files]

    def _data_owner(self, name: str, prefix: str, service: Service, volume: docker.Volume) -> docker.Container:
        """A one-shot root container that hands the data volume to the image's user before weed starts.

        A new volume is `seaweed`'s already (Docker copies the image's /data into it). One written while
        weed still ran as root holds root-owned files the unprivileged weed cannot open. `attach` makes the
        create wait until it has exited; it runs again only when replaced.
        """
        return docker.Container(
            f"{name}-{service.name}-data-owner",
            name=f"{prefix}-{service.host}-data-owner",
            image=self.image.image_id,
            entrypoints=["chown"],
            command=["-R", IMAGE_USER, service.data_dir],
            user="root",
            volumes=[docker.ContainerVolumeArgs(volume_name=volume.name, container_path=service.data_dir)],
            attach=True,
            must_run=False,
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )

    def _service_container(
        self,
        name: str,
        prefix: str,
        service: Service,
        volume: docker.Volume,
        depends: list[docker.Container],
    ) -> docker.Container:
        return docker.Container(
            f"{name}-{service.name}",
            name=f"{prefix}-{service.host}",
            hostname=service.host,
            image=self.image.image_id,
            entrypoints=[WEED_IN_IMAGE],
            command=[*WEED_LOG_FLAGS, *service.args],
            user=IMAGE_USER,
            envs=[resolved(f"{key}={value}", self._args.values) for key, value in service.env],
            uploads=self._uploads(service.files),
            volumes=[docker.ContainerVolumeArgs(volume_name=volume.name, container_path=service.data_dir)],
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=self.network.name, aliases=[service.host])],
            ports=[
                docker.ContainerPortArgs(internal=port, external=port, ip=HOST_ADDRESS)
                for port in ([service.role.http_port] if service.role in PUBLISHED_ROLES else [])
            ],
            healthcheck=_http_healthcheck(service.health, start_period="15s"),
            restart="unless-stopped",
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends, delete_before_replace=True),
        )

    def _load_balancer_container(
        self, name: str, prefix: str, lb: LoadBalancer, filers: list[docker.Container]
    ) -> docker.Container:
        """The HTTP tier AEGIS talks to: the model's haproxy.cfg and command line, the filer URL on the host."""
        return docker.Container(
            f"{name}-{lb.name}",
            name=f"{prefix}-{lb.host}",
            hostname=lb.host,
            image=self.haproxy_image.image_id,
            # The model's argv, not the image entrypoint's (which would add its own flags).
            entrypoints=list(lb.argv[:1]),
            command=list(lb.argv[1:]),
            user=HAPROXY_USER,
            uploads=self._uploads((lb.config,)),
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=self.network.name, aliases=[lb.host])],
            # AEGIS's filer URL and the admin frontend (the filer's native API), both on the host's loopback only.
            ports=[
                docker.ContainerPortArgs(internal=port, external=port, ip=HOST_ADDRESS)
                for port in (lb.port, ADMIN_PORT)
            ],
            healthcheck=_http_healthcheck(lb.health, start_period="5s"),
            restart="unless-stopped",
            opts=pulumi.ResourceOptions(parent=self, depends_on=filers, delete_before_replace=True),
        )

    def _usage(self, name: str, prefix: str, filers: list[docker.Container]) -> None:
        """The usage service beside each HAProxy, in the HAProxy container's network namespace: haproxy.cfg
        sends AEGIS's usage and quota calls to 127.0.0.1:8890 as on a tier node, and nothing else on the
        network reaches the service. Its own container (not a second process in HAProxy's) keeps HAProxy's
        image stock and gives the service its own restart policy, health check and data volume."""
        seaweedfs = seaweedfs_image(self._args.cfg.seaweedfs_version)
        self.usage_image = docker.Image(
            f"{name}-usage-image",
            image_name=usage_image_tag(seaweedfs),
            build=usage_build(seaweedfs),
            skip_push=True,  # the local engine runs it; no registry
            opts=pulumi.ResourceOptions(parent=self),
        )
        placement = DockerPlacement()
        for lb in self._args.topology.load_balancers:
            usage = usage_in_image(self._args.topology, lb, placement)
            self.containers[usage.name] = self._usage_container(name, prefix, usage, self.containers[lb.name], filers)

    def _usage_container(
        self, name: str, prefix: str, usage: UsageService, lb: docker.Container, filers: list[docker.Container]
    ) -> docker.Container:
        volume = docker.Volume(
            f"{name}-{usage.name}-data", name=f"{prefix}-{usage.name}-data", opts=pulumi.ResourceOptions(parent=self)
        )
        return docker.Container(
            f"{name}-{usage.name}",
            name=f"{prefix}-seaweedfs-{usage.name}",
            image=self.usage_image.image_name,
            entrypoints=list(usage.argv[:1]),
            command=list(usage.argv[1:]),
            user=USAGE_USER,
            envs=[f"{key}={value}" for key, value in usage.env],
            uploads=self._uploads(usage.files),
            volumes=[docker.ContainerVolumeArgs(volume_name=volume.name, container_path=usage.data_dir)],
            # By id: a replaced HAProxy container takes its network namespace with it, so this one is replaced too.
            network_mode=lb.id.apply(lambda lb_id: f"container:{lb_id}"),
            healthcheck=_http_healthcheck(usage.health, start_period="10s"),
            restart="unless-stopped",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[lb, *filers], delete_before_replace=True),
        )

    def _job_container(self, name: str, prefix: str, job: Job) -> docker.Container:
        """A one-shot container running the job's script, which retries until its effect is served back.

        The script's retries are bounded; Docker restarts it a few times more if it still fails (e.g. the
        filer is restarting), and the health gate fails the update if the rules never arrive.
        """
        return docker.Container(
            f"{name}-{job.name}",
            name=f"{prefix}-seaweedfs-{job.name}",
            image=self.image.image_id,
            entrypoints=list(job.argv[:1]),
            command=list(job.argv[1:]),
            user=IMAGE_USER,
            uploads=self._uploads(job.files),
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=self.network.name)],
            restart="on-failure",
            max_retry_count=3,
            must_run=False,
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=list(self.containers.values()), delete_before_replace=True
            ),
        )


def _http_healthcheck(probe: HealthProbe, start_period: str) -> docker.ContainerHealthcheckArgs:
    """Docker's health check of a container: its model probe, fetched from inside with the image's busybox wget."""
    return docker.ContainerHealthcheckArgs(
        tests=["CMD", "wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{probe.port}{probe.path}"],
        interval="5s",
        timeout="3s",
        retries=5,
        start_period=start_period,
    )
