"""haproxy.cfg for the filer load balancer.

Retries, redispatch and request buffering let a request whose filer died go to another filer, a PUT
included, since its body is still in HAProxy's buffer (docs/decisions/2026-11-24-haproxy-retries.md).

Two frontends share the filers: `filer` is AEGIS's filer URL and lets through AEGIS's calls only
(components/model/aegis/calls.py); `admin` passes the filer's native API unchanged, for what is not AEGIS's
(the health check's probes and cleanup, operators' repairs). The network decides who reaches `admin`: prod's
security groups admit the health function, the cluster's nodes and the operators' CIDRs; dev publishes it on
127.0.0.1 only.

`filer` sends AEGIS's usage and quota calls to the `usage` backend, the usage service beside HAProxy. Its check
is the service's `/healthz`, which answers 200 only once the service has caught up and while its metadata
stream is current (components/usage/freshness.py): a service catching up or lagging is DOWN, and so is a
stopped one. A connection it refuses marks it down at once (`on-error mark-down`), and the retry goes to the
backup server, HAProxy's own `filer` frontend, which answers the call itself while the service is down
(calls.py): AEGIS never sees a 503 for them, even in the seconds before a check notices a stopped service.

`admin` sends `GET /.usage/tenants` (usage per tenant, for operators and the health check) to the service
through the `tenants` backend, whose plain connect check keeps it routed while the service catches up or lags
(the answer says so); with no service listening, HAProxy's own 503 is one line. A filer path starting with
`/.usage` is nobody's: AEGIS writes below /aegis/volumes, and the filer URL refuses the path.

Both /healthz checks use HAProxy's default expectation (any 2xx or 3xx): the filer's and the service's
/healthz answer 200 or 503, and every byte of haproxy.cfg counts against the node document's 4 KiB.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from components.model.aegis.calls import aegis_call_rules

# The admin frontend's port: the filer's native API, for what is not AEGIS's.
ADMIN_PORT = 8889
# The usage service's port (components/usage), beside each HAProxy: AEGIS's `/dir/status` and `/quota`.
USAGE_PORT = 8890
# The admin frontend's path for usage per tenant (components/healthcheck/wire.py reads it as TENANTS_PATH).
USAGE_TENANTS_PATH = "/.usage/tenants"
NO_USAGE_SERVICE = "no usage service is up"
# The usage service's check, GET /healthz: every second, so a service that starts lagging stops being asked
# within about 2 s of saying so; two failed checks before DOWN, so one answer slowed by a busy node does not
# flap it (a refused connection still marks it down at once); one good check back to UP, since a service that
# says "ok" has caught up and its answers are exact.
USAGE_CHECK = "inter 1s fall 2 rise 1"


def beside(bind: str) -> str:
    """The address a process beside an HAProxy bound to `bind` is reached at: its own address on loopback (the
    tests give every node one), else 127.0.0.1 (a tier node, or a container sharing HAProxy's network)."""
    return "127.0.0.1" if bind == "0.0.0.0" else bind


def admin_url(host: str) -> str:
    """The admin URL (the filer's native API) of the HAProxy that `host` names."""
    return f"http://{host}:{ADMIN_PORT}"


def admin_url_beside(filer_url: str) -> str:
    """The admin URL on the host of a filer URL (http://<host>:<port>: the NLB's name in prod, 127.0.0.1 in dev)."""
    parts = urlsplit(filer_url)
    if parts.scheme != "http" or not parts.hostname or parts.path not in ("", "/"):
        raise ValueError(f"{filer_url!r} is not an HAProxy's filer URL (http://<host>:<port>)")
    return admin_url(parts.hostname)


@dataclass(frozen=True)
class HaproxySettings:
    check_interval: str = "1s"
    fast_interval: str = "500ms"
    fall: int = 2
    rise: int = 2
    retries: int = 3
    buffer_requests: bool = True


SHIPPED = HaproxySettings()


def render_haproxy_cfg(
    filers: Sequence[str],
    *,
    bind: str,
    port: int,
    stats_bind: str,
    stats_port: int,
    admin_port: int = ADMIN_PORT,
    admin_socket: str = "",
    settings: HaproxySettings = SHIPPED,
) -> str:
    """A config with one frontend on `bind:port` balancing over `filers` ("host:port"). A rolling change
    drains a filer through `admin_socket` before stopping it (`components/rollout/gates.py`)."""
    timing = (
        f"inter {settings.check_interval} fastinter {settings.fast_interval} fall {settings.fall} rise {settings.rise}"
        # Start even while a filer's DNS name does not resolve yet, and follow it when it changes.
        " init-addr libc,none resolvers system"
    )
    servers = "\n".join(f"    server filer-{i} {address} check" for i, address in enumerate(filers))
    retry = (
        f"    retries {settings.retries}\n    option redispatch\n    retry-on all-retryable-errors\n"
        if settings.retries
        else ""
    )
    buffering = "    option http-buffer-request\n" if settings.buffer_requests else ""
    # haproxy.cfg carries no comments: every byte counts against the node document's 4 KiB (SSM). The stats
    # frontend's monitor-uri is a plain 200 for the NLB's target health check, independent of the filers' state.
    return f"""{_global_and_defaults(admin_socket, retry + buffering)}
resolvers system
    parse-resolv-conf
    hold valid 10s

frontend filer
    bind {bind}:{port}
{aegis_call_rules()}    default_backend filers

frontend admin
    bind {bind}:{admin_port}
    use_backend tenants if {{ path {USAGE_TENANTS_PATH} }}
    default_backend filers

{_usage_backends(beside(bind), port)}
frontend stats
    bind {stats_bind}:{stats_port}
    stats uri /stats
    monitor-uri /healthz

backend filers
    balance leastconn
    option httpchk GET /healthz
    default-server {timing}
{servers}
"""


def _usage_backends(host: str, port: int) -> str:
    """`usage` (AEGIS's usage calls, checked on /healthz, HAProxy's own answer as the backup), `quota` (its quota
    calls, checked by a plain connect, the same backup) and `tenants` (the admin port's usage per tenant, checked
    by a plain connect)."""
    return f"""backend usage
    option httpchk GET /healthz
    server usage {host}:{USAGE_PORT} check observe layer4 error-limit 1 on-error mark-down {USAGE_CHECK}
    server fixed {host}:{port} backup

backend quota
    server usage {host}:{USAGE_PORT} check observe layer4 error-limit 1 on-error mark-down inter 1s rise 1
    server fixed {host}:{port} backup

backend tenants
    http-error status 503 content-type text/plain string "{NO_USAGE_SERVICE}"
    server usage {host}:{USAGE_PORT} check inter 1s rise 1
"""


def _global_and_defaults(admin_socket: str, request_options: str) -> str:
    admin = f"    stats socket {admin_socket} mode 600 level admin\n" if admin_socket else ""
    # maxconn: about 2 file descriptors per connection, which stays under a 10k-descriptor default limit.
    return f"""global
    maxconn 4096
{admin}
defaults
    mode http
    timeout connect 2s
    timeout client 300s
    timeout server 300s
    timeout http-request 30s
{request_options}"""
