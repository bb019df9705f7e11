"""The filers' metadata store: a Multi-AZ RDS PostgreSQL owned by the stack, or an existing PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.model.config import DatabaseMode, DatabaseSettings

STORAGE_AUTOSCALING_FACTOR = 10


def final_snapshot_name(stack: str) -> str:
    """Stable, so whoever runs a disaster recovery knows which snapshot to restore."""
    return f"aegis-storage-{stack}-final"


@dataclass(frozen=True)
class MetadataDatabaseArgs:
    stack: str
    database: DatabaseSettings
    subnet_ids: Sequence[pulumi.Input[str]]
    # rds mode only: the db security group and the generated master password.
    security_group_id: pulumi.Input[str] | None
    password: pulumi.Input[str] | None


class MetadataDatabase(pulumi.ComponentResource):
    """`host` and `password` (secret) of the PostgreSQL the filers use.

    rds: the database user is the master user, so it owns the database and can create the filers'
    tables on PostgreSQL 15+. The instance cannot be lost by accident: protected in Pulumi, deletion
    protection in AWS, and a final snapshot with a stable name if it is ever deleted on purpose.
    external: nothing is created; the host is `databaseHost` and the password the `databasePassword` secret.
    """

    host: pulumi.Output[str]
    password: pulumi.Output[str]

    def __init__(self, name: str, args: MetadataDatabaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aegis:storage:MetadataDatabase", name, None, opts)
        if args.database.mode is DatabaseMode.EXTERNAL:
            self.host = pulumi.Output.from_input(args.database.host)
            self.password = pulumi.Config().require_secret("databasePassword")
        else:
            assert args.security_group_id is not None and args.password is not None, "rds needs a group and password"
            self._create_rds(name, args)
        self.register_outputs({"host": self.host, "password": self.password})

    def _create_rds(self, name: str, args: MetadataDatabaseArgs) -> None:
        child = pulumi.ResourceOptions(parent=self)
        stack, db = args.stack, args.database
        subnets = aws.rds.SubnetGroup(
            f"{name}-subnets",
            subnet_ids=list(args.subnet_ids),
            description=f"aegis-storage {stack}: private subnets",
            opts=child,
        )
        major = db.engine_version.split(".")[0]
        parameters = aws.rds.ParameterGroup(
            f"{name}-params",
            family=f"postgres{major}",
            description=f"aegis-storage {stack}: TLS only",
            # The filers connect with sslmode=require; refuse anything weaker.
            parameters=[aws.rds.ParameterGroupParameterArgs(name="rds.force_ssl", value="1")],
            opts=child,
        )
        instance = aws.rds.Instance(
            name,
            identifier=f"aegis-storage-{stack}",
            engine="postgres",
            engine_version=db.engine_version,
            instance_class=db.instance_class,
            allocated_storage=db.storage_gib,
            max_allocated_storage=db.storage_gib * STORAGE_AUTOSCALING_FACTOR,
            storage_type="gp3",
            storage_encrypted=True,
            multi_az=True,
            publicly_accessible=False,
            db_subnet_group_name=subnets.name,
            parameter_group_name=parameters.name,
            vpc_security_group_ids=[args.security_group_id],
            port=db.port,
            db_name=db.name,
            username=db.user,
            password=pulumi.Output.secret(args.password),
            snapshot_identifier=db.restore_snapshot_id or None,
            backup_retention_period=db.backup_retention_days,
            copy_tags_to_snapshot=True,
            deletion_protection=True,
            skip_final_snapshot=False,
            final_snapshot_identifier=final_snapshot_name(stack),
            # Point-in-time restore must outlive the instance: a deleted database is exactly when it is needed.
            delete_automated_backups=False,
            auto_minor_version_upgrade=True,
            # Changes wait for the maintenance window instead of restarting the filers' database mid-day.
            apply_immediately=False,
            tags={"Name": f"aegis-storage-{stack}"},
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )
        self.host = instance.address
        self.password = pulumi.Output.secret(args.password)
