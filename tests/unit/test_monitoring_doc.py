"""docs/monitoring.md's Prometheus scrape config names the model's metrics ports, so the two cannot drift."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from components.model.topology import METRICS_PORTS

DOC = Path(__file__).resolve().parents[2] / "docs" / "monitoring.md"


def scrape_jobs() -> dict[str, dict]:
    (block,) = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S)
    return {job["job_name"]: job for job in yaml.safe_load(block)["scrape_configs"]}


def test_every_weed_role_is_scraped_on_its_metrics_port() -> None:
    jobs = scrape_jobs()
    assert set(jobs) == {f"aegis-storage-{role}" for role in METRICS_PORTS}
    for role, port in METRICS_PORTS.items():
        (discovery,) = jobs[f"aegis-storage-{role}"]["ec2_sd_configs"]
        assert discovery["port"] == port, role
        # The instances' Name tag (components/aws/node.py): aegis-storage-<stack>-<node>, node = <role>-<index>.
        assert discovery["filters"] == [{"name": "tag:Name", "values": [f"aegis-storage-prod-{role}-*"]}]


def test_the_rendered_commands_use_those_ports() -> None:
    from components.aws.placement import prod_topology
    from tests.support.stack_configs import prod

    for service in prod_topology(prod()).services:
        assert f"-metricsPort={METRICS_PORTS[service.role.value]}" in service.args
