"""Every flag the model renders exists in the pinned binaries; every rendered config is accepted.

This is what stops a spec error such as `weed master -defaultReplicaPlacement` from shipping.
"""

import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

from components.aws.placement import prod_topology
from components.docker.storage import dev_topology
from components.model.config import parse
from tests.support.cluster import loopback_topology, weed_binary
from tests.support.stack_configs import prod

pytestmark = pytest.mark.integration

TOPOLOGIES = {
    "dev": dev_topology(parse({"s3Enabled": True}, stack="dev")),
    "prod": prod_topology(prod()),
    "prod-hashicorp": prod_topology(prod(raftHashicorp=True, electionTimeout="3s")),
    # Loopback volume servers get one flag more (loopback copy sources), so the harness's commands count too.
    "loopback": loopback_topology(prod(), Path("/nonexistent"), "127.0.61")[0],
}


@cache
def defined_flags(command: str) -> frozenset[str]:
    result = subprocess.run([weed_binary(), command, "-h"], capture_output=True, text=True, timeout=30)
    flags = frozenset(re.findall(r"^\s+-([A-Za-z0-9_.]+)", result.stdout + result.stderr, re.M))
    assert flags, f"weed {command} -h listed no flags"
    return flags


def rendered_commands():
    for stack, topology in TOPOLOGIES.items():
        for service in topology.services:
            yield pytest.param(service.args, id=f"{stack}-{service.name}")
        for job in topology.jobs:
            yield pytest.param(job.args, id=f"{stack}-{job.name}")


@pytest.mark.parametrize("args", list(rendered_commands()))
def test_every_rendered_flag_exists_in_the_pinned_weed(args):
    command, *flags = args
    for flag in flags:
        if not flag.startswith("-"):
            continue
        name = flag.lstrip("-").split("=", 1)[0]
        assert name in defined_flags(command), f"weed {command} has no flag -{name}"


def test_the_specs_master_flag_would_be_caught():
    assert "defaultReplicaPlacement" not in defined_flags("master")
    assert "defaultReplication" in defined_flags("master")


@pytest.mark.parametrize("where", ["loopback", "aws"])
def test_rendered_haproxy_config_is_accepted_by_haproxy(tmp_path: Path, where: str):
    # On AWS the filers are private DNS names that do not resolve here: the config must still load.
    topology = loopback_topology(prod(), tmp_path, "127.0.3")[0] if where == "loopback" else TOPOLOGIES["prod"]
    assert topology.load_balancers
    for lb in topology.load_balancers:
        path = tmp_path / f"{lb.name}.cfg"
        path.write_text(lb.config.content)
        result = subprocess.run(["haproxy", "-c", "-f", str(path)], capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stdout + result.stderr
