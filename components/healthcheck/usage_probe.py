"""Whether the usage service's figures are current, and usage per tenant, as the health check reports them.

Two sources, since the admin port reaches one HAProxy's service at a time (prod: the NLB picks one):
- `/.usage/tenants` on the admin URL: the service's own view (`lagging` while catching up or while its
  heartbeats do not come back) and the tenants' figures;
- each HAProxy's stats CSV, when given: the usage server DOWN on a failed HTTP check is a service that runs
  but is catching up or lagging, whichever HAProxy it sits beside.

"Usage lagging" is degraded, not unhealthy: AEGIS keeps working (the tier answers its usage calls with the 404
it reads as 0), but usage is stale and quotas go unenforced. A tier with no usage service (the admin port
answers 503 or 404, HAProxy cannot connect to it) reports "usage service down" where the stacks say one runs
(`Target.usage_service`), and nothing otherwise: there a stopped service and one never installed look alike.
"Down" is degraded too, for the same reason.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from components.healthcheck.probing import CheckResult, Http, address, check_result, json_object, since
from components.healthcheck.wire import TENANTS_PATH, UsageReport, answers_checks, usage_report, usage_server_down

LAGGING = "usage lagging"
DOWN = "usage service down"
# How many tenants `--json` lists as `top_tenants` and the watch publishes `TenantBytes` for: CloudWatch bills
# each custom metric (docs/decisions/2026-12-07-usage-lag-and-tenants.md).
TOP_TENANTS = 10
CONSEQUENCE = "AEGIS reads usage 0 and quotas are not enforced until it has caught up"


def _lagging(where: str, latency_ms: float, why: str) -> CheckResult:
    return CheckResult("usage", where, "current", False, latency_ms, f"{LAGGING}: {why}; {CONSEQUENCE}", True)


def _down(where: str, latency_ms: float, why: str) -> CheckResult:
    consequence = "AEGIS reads usage 0 and quotas are not enforced until it is back"
    return CheckResult("usage", where, "current", False, latency_ms, f"{DOWN}: {why}; {consequence}", True)


def read_tenants(http: Http, admin_url: str) -> tuple[UsageReport | None, float, str]:
    """(the report or None, the latency, what was answered instead of a report)."""
    answer = http.send("GET", f"{admin_url.rstrip('/')}{TENANTS_PATH}")
    ok = answer.response is not None and answer.response.status_code == 200
    report = usage_report(json_object(answer.response)) if ok and answer.response else None
    got = "no answer" if answer.response is None else f"HTTP {answer.response.status_code}"
    return report, answer.latency_ms, f"{TENANTS_PATH} answered {got if report is None and not ok else 'no report'}"


def usage_probe(
    http: Http, admin_url: str | None, load_balancer_stats: Sequence[str] = (), expected: bool = False
) -> tuple[list[CheckResult], UsageReport | None]:
    """(results, the tenants' figures); `expected`: the tier runs the service, so one that does not answer is
    down. Without it, no result and None where no usage service answers."""
    start = time.perf_counter()
    report, latency, missing = read_tenants(http, admin_url) if admin_url else (None, 0.0, "")
    results = []
    if report is None and admin_url and expected:
        results.append(_down(address(admin_url), latency, missing))
    if report is not None and admin_url:
        where = address(admin_url)
        if not report.caught_up:
            results.append(_lagging(where, latency, "the usage service is catching up"))
        elif report.lagging:
            why = f"the metadata stream brought nothing back for {report.lag_s:.0f} s"
            results.append(_lagging(where, latency, why))
        else:
            note = f"current (lag {report.lag_s:.1f} s), {len(report.tenants)} tenant(s)"
            results.append(check_result("usage", where, "current", latency, "", note))
    for url in load_balancer_stats:
        answer = http.send("GET", url)
        if answer.response is None or answer.response.status_code != 200:
            continue  # the watch's own metric on HAProxy's filers reports an unreadable stats page
        down = usage_server_down(answer.response.text)
        if down is not None and answers_checks(down):
            results.append(_lagging(address(url), since(start), f"HAProxy's check of the usage service fails ({down})"))
        elif down is not None and expected:
            results.append(_down(address(url), since(start), f"HAProxy cannot reach it ({down})"))
    return results, report
