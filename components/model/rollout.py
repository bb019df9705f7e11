"""What a rolling change compares and in which order it touches the nodes.

A node needs a rollout when its target fingerprint differs from the one it runs. On AWS the target is the
digest of the node's SSM document (`document_fingerprint` in components/aws/bootstrap.py): every file,
setup command and unit, so argv, env and config files as the model renders them (with `{{ref}}`
placeholders, so a rotated secret leaves it unchanged) and the SeaweedFS release as the image tag.
`aegis-apply` records the digest of the document it applied in NODE_FINGERPRINT_FILE, which is what the
node runs.

The order follows the dependencies: volume servers first (filers and masters keep working while one is
away, its replicas serve reads), then filers (HAProxy sends requests to the others), then the S3 gateway,
then the masters: followers first and the current leader last, so a rollout changes the leader at most
once. The leader is looked up when the master tier starts and again before each master, never taken
from an index.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.model.topology import Role, Service

TIER_ORDER = (Role.VOLUME, Role.FILER, Role.S3, Role.MASTER)

# On an AWS node: the script that applies the node's document, and the fingerprint of what the node runs.
# The bootstrap installs them there; the rollout's transport calls and reads them.
NODE_APPLY_SCRIPT = "/usr/local/sbin/aegis-apply"
NODE_FINGERPRINT_FILE = "/etc/aegis/fingerprint"
# The document `aegis-apply` applied last: its units are what a rollout stops.
NODE_APPLIED_DOCUMENT = "/etc/aegis/node.json"
# Left by a rollout when it stops a node, removed once the node passed its gate: a re-run tells a node an
# earlier run left down from one found down that no rollout touched.
NODE_ROLLOUT_MARK = "/etc/aegis/stopped-by-rollout"


@dataclass(frozen=True)
class RolloutNode:
    """One node of a rollout: where its health is probed and the fingerprint it must end up running."""

    name: str
    role: Role
    address: str  # host:port of its HTTP listener
    target: str
    # A master first in its own -peers: weed lets it mint a new Raft cluster when it sees no leader, so its
    # Raft state is never moved aside (see `mints_cluster`).
    mints_cluster: bool = False


def _flag(service: Service, name: str) -> str | None:
    prefix = f"-{name}="
    return next((arg[len(prefix) :] for arg in service.args if arg.startswith(prefix)), None)


def mints_cluster(service: Service) -> bool:
    """Whether `service` is a master first in its own -peers. weed 4.48's `-raftBootstrap` help: that master
    bootstraps a new Raft cluster by itself once it finds no leader anywhere; without its Raft state it
    would do so while the leader is merely unreachable during its join, a second cluster beside the first
    (split brain, seaweedfs#10880). Read from the rendered flag, so it follows whatever order -peers has."""
    peers = _flag(service, "peers") if service.role is Role.MASTER else None
    if not peers or peers == "none":
        return False
    return peers.split(",")[0] == service.http_address


def raft_state_dir(service: Service) -> str:
    """Where a master keeps its Raft log, conf and snapshots: `m<port>` under its -mdir."""
    return f"{(_flag(service, 'mdir') or service.data_dir).rstrip('/')}/m{service.role.http_port}"


def tiers(nodes: Sequence[RolloutNode]) -> tuple[tuple[RolloutNode, ...], ...]:
    """The nodes grouped by tier in rollout order; within a tier, by name (masters are reordered later)."""
    return tuple(
        tuple(sorted((n for n in nodes if n.role is role), key=lambda n: n.name))
        for role in TIER_ORDER
        if any(n.role is role for n in nodes)
    )


def next_master(pending: Sequence[RolloutNode], leader: str | None) -> RolloutNode:
    """The next master to roll: the first follower still pending, the leader only when it is the last."""
    followers = [n for n in pending if n.name != leader]
    return followers[0] if followers else pending[0]


def compare_versions(a: str, b: str) -> int:
    """-1, 0 or 1 as SeaweedFS version `a` is below, equal to or above `b` ("4.47" < "4.48" < "4.100")."""
    left, right = _version_key(a), _version_key(b)
    return (left > right) - (left < right)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.strip().split("."))


def downgrade_problem(running: str, wanted: str, allow_downgrade: bool) -> str | None:
    """The one-line refusal of a release below the running one, None when the change is allowed."""
    if not running or allow_downgrade or compare_versions(wanted, running) >= 0:
        return None
    return (
        f'seaweedfsVersion = "{wanted}" is below {running}, the release this stack runs. '
        f"Fix: pulumi config set seaweedfsVersion {running}, or to downgrade on purpose: "
        "pulumi config set allowDowngrade true"
    )


def release_problem(olds: Mapping[str, Any], news: Mapping[str, Any]) -> str | None:
    """`downgrade_problem` for a release check's inputs as the engine passes them: the previous inputs hold
    the release the stack runs (none in a new stack), the new ones the wanted release and allowDowngrade."""
    return downgrade_problem(str(olds.get("version") or ""), news["version"], bool(news["allow_downgrade"]))
