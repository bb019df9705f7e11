"""The usage service in the health check, the watch's metrics and `--json`: lagging is degraded, tenants are listed,
and a tier without a usage service reports nothing (network replaced, no processes)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from components.healthcheck import lambda_handler, watch
from components.healthcheck.__main__ import EXIT_DEGRADED, EXIT_USAGE, main
from components.healthcheck.checks import DEGRADED, Report, run_checks
from components.healthcheck.probing import Http
from components.healthcheck.usage_probe import TOP_TENANTS, usage_probe
from components.healthcheck.wire import TENANTS_PATH, usage_report, usage_server_down
from tests.support.fake_cluster import ADMIN, FakeCluster, make_target

STATS = "http://lb0:8404/stats;csv"
HEADER = "# pxname,svname,status,check_status,last_chk\n"


def tenants_body(lagging: bool = False, caught_up: bool = True, count: int = 3) -> dict[str, Any]:
    tenants = {
        f"t-{i:02d}": {"bytes": 100 * i, "files": i, "volumes": 1, "growth_bytes_per_hour": None if i else 5.0}
        for i in range(count)
    }
    return {"caught_up": caught_up, "lagging": lagging, "lag_s": 42.0 if lagging else 0.2, "tenants": tenants}


def stats_csv(status: str, check: str, last: str = "") -> str:
    return f"{HEADER}usage,usage,{status},{check},{last}\nusage,fixed,no check,,\nfilers,filer-0,UP,L7OK,\n"


def probe(
    answers: dict[str, httpx.Response],
    admin: str | None = f"http://{ADMIN}",
    stats: tuple[str, ...] = (),
    expected: bool = False,
):
    def handle(request: httpx.Request) -> httpx.Response:
        return answers.get(f"{request.url.netloc.decode()}{request.url.path}", httpx.Response(404))

    with httpx.Client(transport=httpx.MockTransport(handle)) as client:
        return usage_probe(Http(client, 1.0), admin, stats, expected)


def test_the_tenants_reader_sorts_by_bytes_and_refuses_what_is_not_the_services_answer():
    report = usage_report(tenants_body(count=3))
    assert report is not None and [t.tenant for t in report.tenants] == ["t-02", "t-01", "t-00"]
    assert report.max_growth == 5.0 and report.top(1)[0].bytes == 200
    for broken in (None, {}, {"tenants": []}, {**tenants_body(), "lag_s": "x"}, {**tenants_body(), "lagging": 1}):
        assert usage_report(broken) is None, broken
    bad_entry = {**tenants_body(), "tenants": {"t": {"bytes": "1"}}}
    assert usage_report(bad_entry) is None


def test_the_stats_reader_names_a_usage_server_that_answers_but_fails_its_check():
    down = stats_csv("DOWN", "L7STS", "HTTP status check returned code <503>")
    assert usage_server_down(down) == "L7STS: HTTP status check returned code <503>"
    assert usage_server_down(stats_csv("DOWN", "* L7TOUT")) == "L7TOUT"
    assert usage_server_down(stats_csv("DOWN", "L4CON", "Connection refused")) == "L4CON: Connection refused"
    assert usage_server_down(stats_csv("UP", "L7OK")) is None
    assert usage_server_down(stats_csv("UP 1/2", "L7STS")) is None  # one failed check: not down yet
    assert usage_server_down(f"{HEADER}filers,filer-0,UP,L7OK,\n") is None


def test_a_lagging_or_catching_up_service_is_degraded_and_a_current_one_is_ok():
    url = f"{ADMIN}{TENANTS_PATH}"
    lagging, report = probe({url: httpx.Response(200, json=tenants_body(lagging=True))})
    assert report is not None and [r.degraded for r in lagging] == [True]
    assert lagging[0].detail.startswith("usage lagging: the metadata stream brought nothing back for 42 s")
    catching_up, _ = probe({url: httpx.Response(200, json=tenants_body(lagging=True, caught_up=False))})
    assert "catching up" in catching_up[0].detail and catching_up[0].degraded
    current, _ = probe({url: httpx.Response(200, json=tenants_body())})
    assert current[0].ok and current[0].detail == "current (lag 0.2 s), 3 tenant(s)"


def test_any_haproxy_whose_check_finds_the_service_lagging_makes_it_degraded():
    answers = {"lb0:8404/stats;csv": httpx.Response(200, text=stats_csv("DOWN", "L7STS", "code <503>"))}
    results, report = probe(answers, admin=None, stats=(STATS,))
    assert report is None and [(r.where, r.degraded) for r in results] == [("lb0:8404", True)]
    assert "HAProxy's check of the usage service fails (L7STS: code <503>)" in results[0].detail


def test_no_usage_service_and_a_bare_filer_report_nothing():
    no_service = {f"{ADMIN}{TENANTS_PATH}": httpx.Response(503, text="no usage service is up")}
    assert probe(no_service) == ([], None)
    assert probe({}) == ([], None)  # an admin port without the route: the filer's 404
    assert probe({}, admin=None) == ([], None)
    # A refused connection without `expected`: a stopped service and a tier node without one look alike.
    refused = {"lb0:8404/stats;csv": httpx.Response(200, text=stats_csv("DOWN", "L4CON"))}
    assert probe(refused, stats=(STATS,)) == ([], None)


def test_where_the_stacks_say_a_service_runs_one_that_answers_nothing_is_down():
    no_service = {f"{ADMIN}{TENANTS_PATH}": httpx.Response(503, text="no usage service is up")}
    results, report = probe(no_service, expected=True)
    assert report is None and [(r.where, r.degraded) for r in results] == [(ADMIN, True)]
    assert results[0].detail.startswith(f"usage service down: {TENANTS_PATH} answered HTTP 503")
    refused = {
        f"{ADMIN}{TENANTS_PATH}": httpx.Response(200, json=tenants_body()),
        "lb0:8404/stats;csv": httpx.Response(200, text=stats_csv("DOWN", "L4CON", "Connection refused")),
    }
    results, report = probe(refused, stats=(STATS,), expected=True)
    assert report is not None and [(r.where, r.ok, r.degraded) for r in results] == [
        (ADMIN, True, False),  # the admin port reached the other tier node's service
        ("lb0:8404", False, True),
    ]
    assert "usage service down: HAProxy cannot reach it (L4CON: Connection refused)" in results[1].detail


def with_tenants(cluster: FakeCluster, body: dict[str, Any]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == TENANTS_PATH and request.url.netloc.decode() == ADMIN:
            return httpx.Response(200, json=body)
        return cluster.handle(request)

    return httpx.MockTransport(handle)


def test_the_report_lists_every_tenant_and_the_top_ones_in_json():
    cluster = FakeCluster()
    target = make_target(admin_url=f"http://{ADMIN}")
    report = run_checks(target, transport=with_tenants(cluster, tenants_body(count=TOP_TENANTS + 2)))
    document = json.loads(report.to_json())
    assert [t["tenant"] for t in document["tenants"]][:2] == ["t-11", "t-10"]
    assert len(document["tenants"]) == TOP_TENANTS + 2 and len(document["top_tenants"]) == TOP_TENANTS
    assert document["top_tenants"][0] == {
        "tenant": "t-11",
        "bytes": 1100,
        "files": 11,
        "volumes": 1,
        "growth_bytes_per_hour": None,
    }
    plain = json.loads(run_checks(make_target(), transport=cluster.transport).to_json())
    assert "tenants" not in plain and "top_tenants" not in plain


def test_usage_lagging_behind_any_haproxy_is_the_degraded_exit_status_of_the_cli(capsys):
    cluster = FakeCluster()

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.host == "lb0":
            return httpx.Response(200, text=stats_csv("DOWN", "L7STS", "code <503>"))
        return cluster.handle(request)

    transport = httpx.MockTransport(handle)
    argv = ["--filer-url", "http://127.0.9.3:8888", "--master-url", "http://127.0.9.1:9333"]
    argv += ["--expect-volume-server", "127.0.9.2:8080", "--json"]
    assert main(argv, transport=transport) == 0
    capsys.readouterr()
    assert main([*argv, "--haproxy-stats", STATS], transport=transport) == EXIT_DEGRADED
    document = json.loads(capsys.readouterr().out)
    assert document["outcome"] == DEGRADED and "tenants" not in document  # no admin URL: no tenants read
    assert main([*argv, "--haproxy-stats", "ftp://lb0/stats"], transport=transport) == EXIT_USAGE


def test_the_watch_publishes_lagging_the_largest_growth_and_the_top_tenants_bytes():
    report = Report((), 0.1, usage_report(tenants_body(count=TOP_TENANTS + 5)))
    assert watch.usage_metrics(report) == {"UsageLagging": 0.0, "TenantGrowthMaxBytesPerHour": 5.0}
    top = watch.tenant_bytes(report)
    assert len(top) == TOP_TENANTS and top["t-14"] == 1400.0 and "t-00" not in top
    data = lambda_handler.tenant_metric_data({"t-14": 1400.0}, "prod")
    assert data == [
        {
            "MetricName": watch.TENANT_METRIC,
            "Dimensions": [{"Name": "Stack", "Value": "prod"}, {"Name": watch.TENANT_DIMENSION, "Value": "t-14"}],
            "Value": 1400.0,
            "Unit": "Bytes",
        }
    ]
    lagging = Report(tuple(probe({f"{ADMIN}{TENANTS_PATH}": httpx.Response(200, json=tenants_body(True))})[0]), 0.1)
    assert watch.usage_metrics(lagging) == {"UsageLagging": 1.0}
    assert watch.usage_metrics(Report((), 0.1)) == {"UsageLagging": 0.0} and watch.tenant_bytes(Report((), 0.1)) == {}
