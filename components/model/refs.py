"""Values known only at deploy time, referenced from the topology model as `{{name}}` placeholders.

The model stays pure and secret-free: an env value or a config file that needs, say, the JWT signing
key holds `{{jwt_signing_key}}`. Whoever places the model substitutes real values: the dev stack from
Pulumi outputs (kept secret), the AWS instances at boot from SSM parameters, the tests from their own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum


class Ref(StrEnum):
    JWT_SIGNING_KEY = "jwt_signing_key"
    DB_HOST = "db_host"
    DB_PASSWORD = "db_password"
    S3_ADMIN_ACCESS_KEY = "s3_admin_access_key"
    S3_ADMIN_SECRET_KEY = "s3_admin_secret_key"
    S3_READONLY_ACCESS_KEY = "s3_readonly_access_key"
    S3_READONLY_SECRET_KEY = "s3_readonly_secret_key"
    # Where the filer metadata backup is copied (components/model/metadata_backup.py): the stack's bucket.
    METADATA_BACKUP_URL = "metadata_backup_url"

    @property
    def placeholder(self) -> str:
        return "{{" + self.value + "}}"

    @property
    def secret(self) -> bool:
        return self not in _PLAIN


# Addresses, not credentials: substituted into the node documents at render time.
_PLAIN = frozenset({Ref.DB_HOST, Ref.METADATA_BACKUP_URL})


_PLACEHOLDER = re.compile(r"\{\{([a-z0-9_]+)\}\}")


def refs_in(text: str) -> tuple[Ref, ...]:
    """The deploy-time values a text needs, in order of first use."""
    seen: dict[Ref, None] = {}
    for name in _PLACEHOLDER.findall(text):
        seen[Ref(name)] = None
    return tuple(seen)


def is_secret(text: str) -> bool:
    return any(ref.secret for ref in refs_in(text))


def substitute(text: str, values: Mapping[Ref, str]) -> str:
    """Replace every placeholder; a missing value is an error, never an empty string."""

    def replace(match: re.Match[str]) -> str:
        ref = Ref(match.group(1))
        if ref not in values:
            raise KeyError(f"no value for {ref.placeholder}")
        return values[ref]

    return _PLACEHOLDER.sub(replace, text)
