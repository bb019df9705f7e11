"""The value rules of the stack config: each answers why a value is wrong, or None."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from urllib.parse import urlparse

REPLICATION_PATTERN = re.compile(r"^[0-9]{3}$")
DURATION_PATTERN = re.compile(r"^[1-9][0-9]*(ms|s|m)$")


def replication_problem(value: str) -> str | None:
    if not REPLICATION_PATTERN.match(value):
        return (
            "must be three digits xyz (x other data centers, y other racks, z other servers in the same rack), "
            "e.g. 000 or 001"
        )
    return None


def cidr_list_problem(cidrs: tuple[str, ...]) -> str | None:
    for cidr in cidrs:
        try:
            network = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            return f"{cidr!r} is not a CIDR"
        if network.prefixlen == 0:
            return f"{cidr!r} opens the port to the whole internet"
    return None


def url_problem(value: str) -> str | None:
    if not value:
        return None
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return "must be an http(s) URL with a host, e.g. http://seaweedfs-filer-lb:8888"
    return None


def placement_problem(replication: str, servers_per_rack: Mapping[str, int]) -> str | None:
    """Why volumes of `replication` cannot grow on these racks (one data center), or None.

    xyz: x copies in other data centers, y on other racks, z on other servers of the same rack.
    """
    x, y, z = (int(d) for d in replication)
    if x:
        return f"needs {x + 1} data centers; the stack runs in one region (one data center)"
    if len(servers_per_rack) < y + 1:
        return f"needs {y + 1} racks (zones) with volume servers, there are {len(servers_per_rack)}"
    if z and max(servers_per_rack.values(), default=0) < z + 1:
        return (
            f"needs {z + 1} volume servers in one rack (zone), the most in any zone is "
            f"{max(servers_per_rack.values(), default=0)}: volumes cannot grow and writes hang"
        )
    return None
