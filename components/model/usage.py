"""The usage service (components/usage) as a process the model renders: one beside each HAProxy of the tier.

HAProxy sends AEGIS's `GET /dir/status` and `POST /quota` to it on `USAGE_PORT` of the address `beside` names
(components/model/haproxy.py), so it binds there. It tails every filer's metadata stream with `weed
filer.meta.tail`, so it needs the filers' addresses and a `weed` binary; its checkpoint lives in its data
directory, and the stack's rendered filer rules are its base for the read-only rules it adds.

Runners differ only in the interpreter, the `weed` binary and where the package's code lives; the Placement
gives the directories, as for every other process.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.model.haproxy import USAGE_PORT, beside
from components.model.topology import ConfigFile, HealthProbe, LoadBalancer, Placement, Role, Topology


@dataclass(frozen=True)
class UsageService:
    name: str
    host: str  # where HAProxy (and a test) reaches it
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    files: tuple[ConfigFile, ...]
    data_dir: str
    python: str

    port = USAGE_PORT
    # 200 "ok" only once caught up and while its metadata stream is current, else 503 and why: HAProxy's check
    # of the `usage` backend, so a service catching up or lagging is not asked AEGIS's usage calls.
    health = HealthProbe("/healthz", USAGE_PORT)

    @property
    def argv(self) -> tuple[str, ...]:
        return (self.python, "-m", "components.usage", *self.args)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def usage_name(lb: LoadBalancer) -> str:
    return f"usage-{lb.name}"


def usage_service(
    topology: Topology, lb: LoadBalancer, placement: Placement, *, python: str, weed: str, code_dir: str
) -> UsageService:
    """The usage service beside `lb`. `code_dir` holds the `components` package (it imports only the standard
    library, so any Python 3.9+ runs it)."""
    name = usage_name(lb)
    host = beside(placement.bind(lb.name))
    rules = ConfigFile(f"{placement.config_dir(name)}/filer.conf", topology.filer_rules)
    data_dir = placement.data_dir(name)
    args = (
        f"--filers={','.join(s.http_address for s in topology.of(Role.FILER))}",
        f"--bind={host}",
        f"--port={USAGE_PORT}",
        f"--state-dir={data_dir}",
        # The name of its catch-up marker: unique per tier node, so two nodes never take each other's.
        f"--node={lb.name}",
        f"--rules={rules.path}",
        f"--weed={weed}",
    )
    # Unbuffered: its few log lines reach the journal or the log file as they happen.
    env = (("PYTHONPATH", code_dir), ("PYTHONUNBUFFERED", "1"))
    return UsageService(name, host, args, env, (rules,), data_dir, python)
