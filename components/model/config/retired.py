"""Config keys this project no longer has, each with why it went and what to do instead.

A stack file that still sets one fails the preview with that message, instead of the generic
"not a key of this project": the old key promised something the cluster cannot do for AEGIS.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from components.model.config.reader import Reader


@dataclass(frozen=True)
class RetiredKey:
    why: str
    fix: str  # may name the old value as {value}


# Why the storage-class keys cannot work: AEGIS's paths carry no storage class (aegis_layout).
_NO_CLASS_IN_PATH = (
    "AEGIS writes every volume to /aegis/volumes/<tenant>/<uuid>/, ephemeral and persistent alike, "
    "so no path rule can tell the storage classes apart"
)

RETIRED_KEYS: dict[str, RetiredKey] = {
    "fallbackToLocal": RetiredKey(
        "is retired: the AEGIS orchestrator removed spec.storage.fallback_to_local in February 2026 "
        "and ignores it, so it switched nothing",
        "pulumi config rm fallbackToLocal",
    ),
    "tenantIds": RetiredKey(
        "is retired: AEGIS tenants are slugs created at run time (one per user and team), so no static list "
        "can name them; the rules cover every tenant under /aegis/volumes/",
        "pulumi config rm tenantIds",
    ),
    "ephemeralVolumePrefix": RetiredKey(
        f"is retired: AEGIS volume ids are UUIDs without a class prefix; {_NO_CLASS_IN_PATH}",
        "pulumi config rm ephemeralVolumePrefix",
    ),
    "ephemeralTtl": RetiredKey(
        f"is retired: {_NO_CLASS_IN_PATH}, and a TTL on a prefix that holds persistent volumes would delete "
        "customer data; AEGIS deletes its expired ephemeral volumes itself (its volume manager's garbage "
        "collection, with each volume's own TTL)",
        "pulumi config rm ephemeralTtl",
    ),
    "ephemeralReplication": RetiredKey(
        f"is retired: {_NO_CLASS_IN_PATH}; one replication, aegisReplication, applies to all AEGIS data",
        "pulumi config rm ephemeralReplication",
    ),
    "persistentReplication": RetiredKey(
        f"is retired: {_NO_CLASS_IN_PATH}; one replication, aegisReplication, applies to all AEGIS data",
        "pulumi config rm persistentReplication && pulumi config set aegisReplication {value}",
    ),
}


def retired_key_problems(r: Reader, raw: Mapping[str, Any]) -> None:
    """Add one problem per retired key the stack still sets."""
    for key in sorted(set(raw) & set(RETIRED_KEYS)):
        retired = RETIRED_KEYS[key]
        r.problem(key, raw[key], retired.why, retired.fix.format(value=raw[key]))
