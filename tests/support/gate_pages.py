"""The HTTP pages a node's health gate reads, as an SSM stand-in (tests/support/aws_ssm.py) serves them."""

from __future__ import annotations

import json

Pages = dict[str, tuple[int, str]]


def volume_gate_pages() -> Pages:
    """volume-1 (`volume-1.z:8080`) in a running cluster: its /healthz answers, master-0's /dir/status lists it,
    and /cluster/status names a leader, so the full gate applies. A new dict each time: tests change pages."""
    status = {"Topology": {"DataCenters": [{"Racks": [{"DataNodes": [{"Url": "volume-1.z:8080"}]}]}]}}
    return {
        "http://volume-1.z:8080/healthz": (200, ""),
        "http://master-0.z:9333/dir/status": (200, json.dumps(status)),
        "http://master-0.z:9333/cluster/status": (200, '{"Leader": "master-0.z:9333.19333"}'),
    }
