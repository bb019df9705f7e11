"""Quotas: where they live in the filer, and the read-only rules that hold a volume past its quota.

A quota is a file in the filer itself, so every tier node sees it and it survives restarts:
`/aegis/volumes/.usage/quotas/<tenant>/<volume>`. Its value is also in the header `Seaweed-Quota-Bytes`,
which the filer keeps in the entry's extended attributes, so the metadata event that carries the
volumes' usage carries the quota too (one stream, one checkpoint). `.usage` can never be an AEGIS tenant
(tenant ids are [a-z0-9-]).

A volume whose usage passes its quota gets a filer rule `{"locationPrefix": "<volume>/", "readOnly": true}`
in /etc/seaweedfs/filer.conf: on weed 4.48 every filer then answers a write below it 507 "read only"
within about 2 s, while reads and deletes still work, so the volume can drop back under its quota. The
service owns only those rules; the rest of the file is the stack's rendered rules, passed in, so with no
volume over quota the file is exactly what the rules job wrote.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from urllib.parse import unquote

from components.usage.index import VOLUMES, Change

USAGE_ROOT = f"{VOLUMES}.usage/"
QUOTA_ROOT = f"{USAGE_ROOT}quotas/"
SYNC_ROOT = f"{USAGE_ROOT}sync/"
QUOTA_HEADER = "Seaweed-Quota-Bytes"


# Exactly what AEGIS sends: its tenant ids are [a-z0-9-] and its volume ids UUIDs; upper case and "_" keep the
# names operators and tests use. Nothing else passes ("?", "#", "%", ".", spaces, control characters): the name
# becomes part of the quota file's URL, and one of those would turn the rest into a query, a fragment, another
# path or an invalid URL.
_VOLUME_PATH = re.compile(re.escape(VOLUMES) + r"[A-Za-z0-9_-]+/[A-Za-z0-9_-]+/?")
# The filer keeps a quota as an int64 (its extended attribute is read back as a number): 19 digits at most.
MAX_QUOTA_BYTES = 2**63 - 1


def volume_of(path: str) -> str | None:
    """The volume `path` names (AEGIS's `path=` value, decoded; one more percent-decoding is allowed, and the
    result must still be exactly a volume), or None unless it is exactly a volume."""
    decoded = unquote(path)
    if _VOLUME_PATH.fullmatch(decoded) is None:
        return None
    return decoded.rstrip("/")


def quota_bytes(text: str) -> int | None:
    """A quota's size as AEGIS sends it (ASCII digits only), or None. str.isdigit() alone lets through Unicode
    digits such as "²" and numbers int() refuses (over 4,300 digits); the filer takes at most an int64."""
    if not 0 < len(text) <= 19 or not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if value <= MAX_QUOTA_BYTES else None


def quota_file(volume: str) -> str:
    return QUOTA_ROOT + volume[len(VOLUMES) :]


class Quotas:
    """volume -> quota bytes, from the quota files' events (newest event wins, deletes included)."""

    def __init__(self, entries: Mapping[str, tuple[int, int]] | None = None) -> None:
        self.entries: dict[str, tuple[int, int]] = dict(entries or {})  # volume -> (bytes or -1, ts)

    def apply(self, change: Change) -> bool:
        """Takes `change` if it is about a quota file; False when it is not."""
        touched = False
        for path, value in ((change.old, None), (change.new, dict(change.extended).get(QUOTA_HEADER))):
            if path is None or not path.startswith(QUOTA_ROOT):
                continue
            touched = True
            volume = VOLUMES + path[len(QUOTA_ROOT) :]
            if self.entries.get(volume, (0, -1))[1] <= change.ts_ns:
                self.entries[volume] = (int(value) if value is not None else -1, change.ts_ns)
        return touched

    def get(self, volume: str) -> int | None:
        value = self.entries.get(volume, (-1, 0))[0]
        return None if value < 0 else value


def over_quota(usage: Mapping[str, int], quotas: Quotas) -> set[str]:
    """The volumes whose usage (volume -> TotalSize) is past their quota."""
    over = set()
    for volume, (limit, _ts) in quotas.entries.items():
        if limit >= 0 and usage.get(volume, 0) > limit:
            over.add(volume)
    return over


def render_rules(base_rules: str, read_only: Iterable[str]) -> str:
    """filer.conf: the stack's rules unchanged when no volume is over quota, else with one read-only rule each."""
    volumes = sorted(read_only)
    if not volumes:
        return base_rules
    conf = json.loads(base_rules)
    conf.setdefault("locations", []).extend({"locationPrefix": f"{v}/", "readOnly": True} for v in volumes)
    return json.dumps(conf, indent=2) + "\n"


def held_read_only(live: str, base_rules: str) -> frozenset[str] | None:
    """The volumes whose read-only rules this service added to the stack's `base_rules` to make `live` (empty
    when `live` is `base_rules` itself); None when `live` is anything else, which is for the health check to
    report (components/healthcheck/filer_rules.py)."""
    if live == base_rules:
        return frozenset()
    try:
        conf = json.loads(live)
    except ValueError:
        return None
    locations = conf.get("locations") if isinstance(conf, dict) else None
    volumes = []
    for rule in locations if isinstance(locations, list) else ():
        prefix = rule.get("locationPrefix") if isinstance(rule, dict) else None
        if rule == {"locationPrefix": prefix, "readOnly": True} and isinstance(prefix, str) and prefix.endswith("/"):
            volumes.append(prefix[:-1])
    held = frozenset(v for v in volumes if volume_of(v) == v)
    return held if held and render_rules(base_rules, held) == live else None
