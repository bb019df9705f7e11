"""Stateless filers (metadata in PostgreSQL); each also applies the storage-class path rules once healthy."""

from __future__ import annotations

import pulumi

from components.aws.node import ClusterNode, RoleArgs, place
from components.model.metadata_backup import metadata_backup
from components.model.refs import Ref
from components.model.topology import Role


class FilerPool(pulumi.ComponentResource):
    """Filers on ClusterNodes, round-robin over the zones. No data disk: the root volume is enough for
    a process whose state lives in the database.

    The filer-rules job runs on every filer: it is idempotent, and no single filer has to be up for the
    rules to be applied. The first filer's node also runs the hourly metadata backup
    (components/model/metadata_backup.py), when the context says where it goes.
    """

    nodes: dict[str, ClusterNode]
    addresses: list[str]

    def __init__(self, name: str, args: RoleArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aegis:storage:FilerPool", name, None, opts)
        filers = args.topology.of(Role.FILER)
        spec = args.node_spec(args.instances.filer_instance_type, root_disk_gib=args.instances.filer_disk_gib)
        backups = (metadata_backup(args.topology),) if Ref.METADATA_BACKUP_URL in args.context.values else ()
        self.nodes = place(
            self,
            filers,
            [spec] * len(filers),
            args.context,
            jobs=args.topology.jobs,
            after=args.after,
            scheduled=backups,
        )
        self.addresses = [f"http://{f.http_address}" for f in filers]
        self.register_outputs({"addresses": self.addresses})
