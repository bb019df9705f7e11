"""Generated credentials of the cluster, secret from creation to every consumer."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_random as random

from components.model.refs import Ref


@dataclass(frozen=True)
class ClusterSecretsArgs:
    s3_enabled: bool
    database_password: bool


class ClusterSecrets(pulumi.ComponentResource):
    """Random values for every secret `{{ref}}` the topology uses.

    `values` maps each Ref to an Output; secret refs are wrapped with Output.secret so no consumer,
    stack output or state file ever holds them in plain text.
    """

    values: dict[Ref, pulumi.Output[str]]

    def __init__(self, name: str, args: ClusterSecretsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aegis:storage:ClusterSecrets", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        def generated(ref: Ref, length: int, special: bool = False) -> pulumi.Output[str]:
            password = random.RandomPassword(
                f"{name}-{ref.value.replace('_', '-')}", length=length, special=special, opts=child
            )
            return pulumi.Output.secret(password.result)

        # 64 alphanumerics: 380 bits for the HMAC key that signs volume-server writes.
        self.values = {Ref.JWT_SIGNING_KEY: generated(Ref.JWT_SIGNING_KEY, 64)}
        if args.database_password:
            # RDS forbids / @ " and space in master passwords; alphanumerics also survive env files untouched.
            self.values[Ref.DB_PASSWORD] = generated(Ref.DB_PASSWORD, 40)
        if args.s3_enabled:
            self.values[Ref.S3_ADMIN_ACCESS_KEY] = generated(Ref.S3_ADMIN_ACCESS_KEY, 20)
            self.values[Ref.S3_ADMIN_SECRET_KEY] = generated(Ref.S3_ADMIN_SECRET_KEY, 40)
            self.values[Ref.S3_READONLY_ACCESS_KEY] = generated(Ref.S3_READONLY_ACCESS_KEY, 20)
            self.values[Ref.S3_READONLY_SECRET_KEY] = generated(Ref.S3_READONLY_SECRET_KEY, 40)
        self.register_outputs({ref.value: value for ref, value in self.values.items()})
