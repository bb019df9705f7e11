"""The AWS identity of the rollout's dynamic providers: the stack's own `aws:region`, `aws:profile` and
`aws:assumeRoles`, so SSM Run Command runs as the stack's AWS provider does, not as whatever the
deployer's environment happens to hold.

The program reads them (`stack_identity`) and hands them to the resources as one plain JSON string (a
dynamic provider sees only its inputs); the provider builds its boto3 session from them (`session_for`):
the profile, then each role of the chain assumed with STS in order, its credentials refreshed by botocore
before they expire (a rollout can outlast an hour).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from botocore.config import Config

# Throttling (ThrottlingException, TooManyUpdates, ...) and transient errors are retried by botocore's
# standard retry mode (exponential backoff with jitter), not by our loops.
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 10}, connect_timeout=10, read_timeout=30)
SESSION_NAME = "aegis-storage-rollout"


@dataclass(frozen=True)
class AssumeRole:
    role_arn: str
    session_name: str = ""
    external_id: str = ""


@dataclass(frozen=True)
class AwsIdentity:
    region: str
    profile: str = ""
    assume_roles: tuple[AssumeRole, ...] = ()

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> AwsIdentity:
        raw = json.loads(text)
        roles = tuple(AssumeRole(**role) for role in raw.get("assume_roles") or ())
        return cls(str(raw["region"]), str(raw.get("profile") or ""), roles)


def _role(raw: dict[str, Any]) -> AssumeRole:
    # The provider's keys (pulumi-aws `assumeRoles` items); the others (policy, tags, ...) are not carried.
    return AssumeRole(str(raw["roleArn"]), str(raw.get("sessionName") or ""), str(raw.get("externalId") or ""))


def stack_identity(region: str) -> tuple[AwsIdentity, bool]:
    """The stack's AWS provider identity from `pulumi.Config("aws")`, and whether any of it is a secret (the
    caller then passes it as a secret output, so it is never plain in the state)."""
    import pulumi
    from pulumi.runtime.config import is_config_secret

    config = pulumi.Config("aws")
    roles = config.get_object("assumeRoles") or []
    single = config.get_object("assumeRole")  # the provider's older, single-role key
    if not roles and isinstance(single, dict):
        roles = [single]
    identity = AwsIdentity(region, config.get("profile") or "", tuple(_role(r) for r in roles))  # type: ignore[arg-type]
    secret = any(is_config_secret(f"aws:{key}") for key in ("profile", "assumeRoles", "assumeRole"))
    return identity, secret


def session_for(identity: AwsIdentity) -> Any:
    """A boto3 session for `identity`: its profile (the default chain without one), then each role assumed."""
    import boto3

    session = boto3.Session(profile_name=identity.profile or None, region_name=identity.region)
    for role in identity.assume_roles:
        session = _assumed(session, role, identity.region)
    return session


def _assumed(base: Any, role: AssumeRole, region: str) -> Any:
    import boto3
    import botocore.session
    from botocore.credentials import CredentialProvider, RefreshableCredentials

    sts = base.client("sts", region_name=region, config=CLIENT_CONFIG)

    def fetch() -> dict[str, str]:
        params = {"RoleArn": role.role_arn, "RoleSessionName": role.session_name or SESSION_NAME}
        if role.external_id:
            params["ExternalId"] = role.external_id
        got = sts.assume_role(**params)["Credentials"]
        return {
            "access_key": got["AccessKeyId"],
            "secret_key": got["SecretAccessKey"],
            "token": got["SessionToken"],
            "expiry_time": got["Expiration"].isoformat(),
        }

    credentials = RefreshableCredentials.create_from_metadata(fetch(), fetch, "assume-role")

    class _Assumed(CredentialProvider):  # type: ignore[misc]
        METHOD = "assume-role-chain"

        def load(self) -> RefreshableCredentials:
            return credentials

    core = botocore.session.Session()
    core.get_component("credential_provider").insert_before("env", _Assumed())
    return boto3.Session(botocore_session=core, region_name=region)
