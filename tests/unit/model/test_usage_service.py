"""The usage service as the model renders it: beside each HAProxy, on the address its `usage` backend names."""

from components.model.config import parse
from components.model.haproxy import USAGE_PORT
from components.model.topology import Role
from components.model.usage import usage_service
from tests.support.cluster import loopback_topology


def test_it_binds_where_haproxy_sends_the_calls_and_tails_every_filer(tmp_path):
    topology, placement = loopback_topology(parse({}, stack="dev"), tmp_path, "127.0.9")
    lb = topology.load_balancers[0]
    usage = usage_service(topology, lb, placement, python="python3", weed="/usr/bin/weed", code_dir="/opt/aegis")
    assert f"server usage {usage.host}:{USAGE_PORT}" in lb.config.content
    assert usage.argv[:3] == ("python3", "-m", "components.usage")
    flags = dict(arg.removeprefix("--").split("=", 1) for arg in usage.argv[3:])
    assert flags["filers"] == ",".join(s.http_address for s in topology.of(Role.FILER))
    assert (flags["bind"], flags["port"], flags["node"], flags["weed"]) == (lb.host, "8890", lb.name, "/usr/bin/weed")
    assert flags["state-dir"] == usage.data_dir == placement.data_dir(usage.name)
    (rules,) = usage.files
    assert flags["rules"] == rules.path and rules.content == topology.filer_rules
    assert ("PYTHONPATH", "/opt/aegis") in usage.env
