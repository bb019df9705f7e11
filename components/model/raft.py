"""The masters' Raft engine: which one a stack runs, how the flag is rendered, and when a change is refused.

weed has two engines: its built-in goraft and hashicorp/raft (`-raftHashicorp`). Seen on weed 4.48, a
3-master loopback cluster with data (tests/integration/test_raft_engine.py):
- There is no migration between them. Each keeps its own files in `<mdir>/m<port>` (goraft `conf`, `log`,
  `snapshot/`; hashicorp `logs.dat`, `stable.dat`, `snapshots/`) and neither reads the other's; the
  hashicorp masters log "Initializing new cluster" and mint a new TopologyId.
- Rolled one master at a time, as every rollout does, the first master on the new engine never finds a
  leader (its peers speak the other protocol): its /cluster/healthz stays 503, so the rollout's gate
  stops there, with the cluster still served by the two masters on the old engine.
- All masters stopped, then started together on the new engine: a leader within seconds, and the
  topology and MaxVolumeId come back from the volume servers' heartbeats (the Raft log holds no more
  than that), so every file reads back and new volumes get ids above the old maximum.
Hence `raftEngineMigration: restart-all-masters`, and nothing weaker, lets a running stack change engines.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

GORAFT = "goraft"
HASHICORP = "hashicorp"
RESTART_ALL_MASTERS = "restart-all-masters"
MIGRATIONS = ("", RESTART_ALL_MASTERS)  # "": no engine change is expected


def engine(raft_hashicorp: bool) -> str:
    return HASHICORP if raft_hashicorp else GORAFT


def master_flag(raft_hashicorp: bool) -> str:
    """Always explicit: a release whose default engine differs must not switch a running cluster."""
    return f"-raftHashicorp={'true' if raft_hashicorp else 'false'}"


def engine_change_problem(running: str, wanted: str, migration: str) -> str | None:
    """The one-line refusal of a Raft engine change on a running stack, None when nothing is refused."""
    if not running or running == wanted or migration == RESTART_ALL_MASTERS:
        return None
    flag = "true" if running == HASHICORP else "false"
    return (
        f"raftHashicorp would move the masters from {running} to {wanted}, and weed has no migration between "
        "the two Raft engines: rolled one master at a time, the first one on the new engine never finds a leader. "
        f"Fix: pulumi config set raftHashicorp {flag}, or to change engines with every master stopped and started "
        f"together (docs/decisions/2026-12-07-raft-engine.md): pulumi config set raftEngineMigration "
        f"{RESTART_ALL_MASTERS}"
    )


def raft_engine_problem(olds: Mapping[str, Any], news: Mapping[str, Any]) -> str | None:
    """`engine_change_problem` for a release check's inputs: the previous inputs hold the engine the stack
    runs (none in a new stack, or in a state written before the engine was recorded)."""
    if "raft_engine" not in news:
        return None
    return engine_change_problem(
        str(olds.get("raft_engine") or ""), str(news["raft_engine"]), str(news.get("raft_engine_migration") or "")
    )
