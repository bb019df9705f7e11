"""Config keys this project no longer has, each with why it went and what to do instead.

A stack file that still sets one fails the preview with that message, instead of the generic
"not a key of this project": the old key promised something the cluster cannot do for AEGIS.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from components.model.config_reader import Reader


@dataclass(frozen=True)
class RetiredKey:
    why: str
    fix: str


RETIRED_KEYS: dict[str, RetiredKey] = {
    "fallbackToLocal": RetiredKey(
        "is retired: the AEGIS orchestrator removed spec.storage.fallback_to_local in February 2026 "
        "and ignores it, so it switched nothing",
        "pulumi config rm fallbackToLocal",
    ),
}


def retired_key_problems(r: Reader, raw: Mapping[str, Any]) -> None:
    """Add one problem per retired key the stack still sets."""
    for key in sorted(set(raw) & set(RETIRED_KEYS)):
        retired = RETIRED_KEYS[key]
        r.problem(key, raw[key], retired.why, retired.fix)
