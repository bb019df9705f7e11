"""The health gate as the engine drives it: the dev program's recorded gate inputs, serialized by the SDK
into a protobuf Struct, sent over gRPC to `pulumi.dynamic`'s provider server in a fresh interpreter started
from the project directory, which unpickles the provider (dill, `__provider`) and runs the real check
against a loopback dev cluster. Only addresses and generated secrets are swapped for the cluster's own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import grpc
import pytest
from pulumi.runtime import proto, rpc

from components.model.config import parse
from components.model.haproxy import ADMIN_PORT, admin_url
from components.model.refs import Ref
from components.model.topology import Role
from tests.support.cluster import fresh_values, loopback_topology, running
from tests.support.engine_wire import PROVIDER_KEY, DynamicProviderServer, to_struct
from tests.support.pulumi_harness import run_program

pytestmark = pytest.mark.integration

CONFIG = {"platform": "docker", "s3Enabled": True, "healthTimeoutSeconds": 10}
GATE_TYPE = "pulumi-python:dynamic:Resource"


def _swap(value: Any, replacements: Mapping[str, str]) -> Any:
    """`value` with every replacement applied inside its strings; types and shape untouched."""
    if isinstance(value, str):
        for old in sorted(replacements, key=len, reverse=True):
            value = value.replace(old, replacements[old])
        return value
    if isinstance(value, dict):
        return {key: item if key == PROVIDER_KEY else _swap(item, replacements) for key, item in value.items()}
    if isinstance(value, list):
        return [_swap(item, replacements) for item in value]
    return value


@pytest.fixture(scope="module")
def recorded_gate():
    run = run_program("dev", CONFIG)
    [gate] = [r for r in run.of_type(GATE_TYPE) if r.name == "seaweedfs-health"]
    assert PROVIDER_KEY in gate.inputs
    return gate


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    cfg = parse(CONFIG, stack="dev")
    root = tmp_path_factory.mktemp("gate-wire")
    topology, _ = loopback_topology(cfg, root, "127.0.31")
    values = fresh_values()
    # With the usage service beside the HAProxy, as the dev stack runs it (its health target says so).
    with running(topology, values, root, usage=True) as cluster:
        yield cluster, values


def _loopback_inputs(gate_inputs: dict[str, Any], cluster: Any, values: Mapping[Ref, str]) -> dict[str, Any]:
    topology = cluster.topology
    [master], [volume], [s3] = (topology.of(role) for role in (Role.MASTER, Role.VOLUME, Role.S3))
    [lb] = topology.load_balancers
    replacements = {
        "http://127.0.0.1:8888": f"http://{lb.host}:{lb.port}",
        admin_url("127.0.0.1"): admin_url(lb.host),
        "http://127.0.0.1:9333": f"http://{master.http_address}",
        "http://127.0.0.1:8333": f"http://{s3.http_address}",
        "seaweedfs-volume:8080": volume.http_address,
    }
    # The mocks' RandomPassword results, as tests/support/pulumi_harness.py names them.
    replacements |= {f"generated-seaweedfs-{ref.value.replace('_', '-')}": values[ref] for ref in Ref}
    return _swap(gate_inputs, replacements)


def test_gate_passes_a_healthy_cluster_and_names_a_stopped_filer(recorded_gate, dev):
    cluster, values = dev
    urn = recorded_gate.urn
    news = to_struct(_loopback_inputs(recorded_gate.inputs, cluster, values))
    with DynamicProviderServer() as provider:
        checked = provider.check(urn, to_struct({}), news)
        created = provider.create(urn, checked)
        outs = rpc.deserialize_properties(created.properties)
        assert (created.id, outs["healthy"]) == ("health-gate", True)

        diff = provider.diff(urn, created.id, created.properties, checked)
        assert diff.changes == proto.DiffResponse.DIFF_SOME
        updated = provider.update(urn, created.id, created.properties, checked)
        assert rpc.deserialize_properties(updated.properties)["healthy"] is True

        filer = cluster.topology.of(Role.FILER)[0]
        cluster.kill(filer.name)
        with pytest.raises(grpc.RpcError) as failed:
            provider.create(urn, checked)
    message = failed.value.details()
    assert "SeaweedFS is unhealthy after 10 s" in message
    [lb] = cluster.topology.load_balancers
    # The filer probe reads the filers' health through the tier's admin frontend.
    assert f"filer {lb.host}:{ADMIN_PORT}: no filer is up behind the load balancer (503)" in message
