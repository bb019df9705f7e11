"""The usage service as the model renders it: beside each HAProxy, on the address its `usage` backend names."""

import re

from components.healthcheck.wire import TENANTS_PATH
from components.model.config import parse
from components.model.haproxy import NO_USAGE_SERVICE, USAGE_PORT, USAGE_TENANTS_PATH, render_haproxy_cfg
from components.model.topology import HealthProbe, Role
from components.model.usage import UsageService, usage_service
from components.usage.server import TENANTS_PATHS
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


def sections(cfg: str) -> dict[str, str]:
    parts = re.split(r"^(\S.*)$", cfg, flags=re.MULTILINE)
    return {header.strip(): body for header, body in zip(parts[1::2], parts[2::2], strict=True)}


CFG = sections(render_haproxy_cfg(["f:8888"], bind="0.0.0.0", port=8888, stats_bind="0.0.0.0", stats_port=8404))


def test_haproxy_asks_the_service_only_while_its_healthz_says_it_is_current():
    usage = CFG["backend usage"]
    assert "option httpchk GET /healthz" in usage
    # Still marked down at the first refused connection; the backup answers AEGIS's call while it is down.
    server = "server usage 127.0.0.1:8890 check observe layer4 error-limit 1 on-error mark-down inter 1s fall 2 rise 1"
    assert server in usage
    assert "server fixed 127.0.0.1:8888 backup" in usage
    assert UsageService.health == HealthProbe("/healthz", USAGE_PORT)


def test_usage_per_tenant_is_on_the_admin_port_only_and_answers_one_line_without_a_service():
    assert f"use_backend tenants if {{ path {USAGE_TENANTS_PATH} }}" in CFG["frontend admin"]
    assert "tenants" not in CFG["frontend filer"]
    tenants = CFG["backend tenants"]
    # A plain connect check: the service answers /tenants (saying it lags) while HAProxy keeps it off AEGIS's calls.
    assert "httpchk" not in tenants and "server usage 127.0.0.1:8890 check inter 1s rise 1" in tenants
    assert f'http-error status 503 content-type text/plain string "{NO_USAGE_SERVICE}"' in tenants
    assert "\n" not in NO_USAGE_SERVICE


def test_the_tenants_path_is_spelled_alike_by_haproxy_the_service_and_the_health_check():
    assert USAGE_TENANTS_PATH == TENANTS_PATH and USAGE_TENANTS_PATH in TENANTS_PATHS
    assert USAGE_TENANTS_PATH.startswith("/.usage/")  # no AEGIS path (below /aegis/volumes) and no filer default
