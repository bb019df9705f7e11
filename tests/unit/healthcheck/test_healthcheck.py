"""Health check probes and CLI against a fake cluster served by httpx.MockTransport (no processes, no sockets).

The fake, tests/support/fake_cluster.py, answers the way weed 4.48 does.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from components.healthcheck import CheckResult, Report, Target, run_checks, wait_until_healthy
from components.healthcheck.__main__ import main
from components.healthcheck.checks import replica_counts
from components.usage.quotas import render_rules
from tests.support.fake_cluster import (
    ACCESS_KEY,
    FILER,
    MASTER,
    NOW_CRTIME,
    S3,
    VOLUME,
    FakeCluster,
    failure,
    make_target,
)
from tests.support.health_outputs import fake_stack_outputs

ROOT = Path(__file__).resolve().parents[3]


def test_all_healthy_runs_every_check_and_cleans_up() -> None:
    cluster = FakeCluster()
    report = run_checks(make_target(), transport=cluster.transport)

    assert report.healthy, report.table()
    assert report.summary() == "healthy"
    assert [(r.component, r.where, r.check) for r in report.results] == [
        ("filer", FILER, "/healthz"),
        ("master", MASTER, "/cluster/healthz"),
        ("master", MASTER, "leader"),
        ("master", MASTER, "peers"),
        ("volume", VOLUME, "registered"),
        ("replicas", MASTER, "copies"),
        ("volume", MASTER, "room for a new volume"),
        ("s3", S3, "ListBuckets"),
        ("s3", S3, "lists AEGIS data"),
        ("roundtrip", FILER, "write/read/delete"),
        ("aegis", FILER, "AEGIS calls"),
    ]
    methods = [method for method, url in cluster.calls if "/.aegis-healthcheck/probe-" in url]
    assert methods == ["PUT", "GET", "DELETE"]
    assert cluster.files == {}


def test_three_masters_count_themselves_plus_their_peers() -> None:
    masters = ["127.0.9.11:9333", "127.0.9.12:9333", "127.0.9.13:9333"]
    cluster = FakeCluster(
        leaders=dict.fromkeys(masters, f"{masters[0]}.19333"),
        peers={m: [f"{p}.19333" for p in masters if p != m] for m in masters},
    )
    target = make_target(master_urls=tuple(f"http://{m}" for m in masters), expected_masters=3)
    report = run_checks(target, transport=cluster.transport)

    assert report.healthy, report.table()
    notes = {(r.where, r.check): r.detail for r in report.results if r.component == "master"}
    assert notes[(masters[0], "leader")] == "this master leads"
    assert notes[(masters[1], "leader")] == f"leader {masters[0]}"
    assert notes[(masters[2], "peers")] == "3 master(s)"


def test_masters_that_list_themselves_among_their_peers_are_not_counted_twice() -> None:
    # hashicorp Raft's /cluster/status names every master, this one included, in Peers.
    masters = ["127.0.9.11:9333", "127.0.9.12:9333", "127.0.9.13:9333"]
    cluster = FakeCluster(
        leaders=dict.fromkeys(masters, f"{masters[0]}.19333"),
        peers={master: [f"{p}.19333" for p in masters] for master in masters},
    )
    target = make_target(master_urls=tuple(f"http://{m}" for m in masters), expected_masters=3)
    report = run_checks(target, transport=cluster.transport)

    assert report.healthy, report.table()


def test_no_leader_names_the_master() -> None:
    cluster = FakeCluster(leaders={MASTER: ""})
    report = run_checks(make_target(), transport=cluster.transport)

    assert failure(report, "master", "leader").detail == "no leader"
    assert failure(report, "master", "/cluster/healthz").detail == "no quorum or leader (503)"
    assert f"master {MASTER}: no leader" in report.summary().splitlines()


def test_wrong_master_count() -> None:
    cluster = FakeCluster(peers={MASTER: ["127.0.9.12:9333.19333"]})
    report = run_checks(make_target(expected_masters=3), transport=cluster.transport)

    detail = failure(report, "master", "peers").detail
    assert detail == "cluster has 2 master(s), expected 3 (peers: 127.0.9.12:9333)"


def test_missing_volume_server_is_named_and_extras_are_mentioned() -> None:
    cluster = FakeCluster(data_nodes=[VOLUME, "127.0.9.9:8080"])
    report = run_checks(make_target(expected_volume_servers=(VOLUME, "127.0.9.5:8080")), transport=cluster.transport)

    missing = failure(report, "volume", "registered")
    assert (missing.where, missing.detail) == ("127.0.9.5:8080", "volume server 127.0.9.5:8080 not registered")
    extra = [r for r in report.results if r.where == "127.0.9.9:8080"]
    assert [(r.ok, r.detail) for r in extra] == [(True, "registered but not expected")]
    assert len(report.failures()) == 1


def test_no_volume_servers_at_all() -> None:
    cluster = FakeCluster(data_nodes=[])
    report = run_checks(make_target(), transport=cluster.transport)

    assert failure(report, "volume", "registered").detail == f"volume server {VOLUME} not registered"


def test_topology_comes_from_the_next_master_when_the_first_is_down() -> None:
    other = "127.0.9.12:9333"
    cluster = FakeCluster(leaders={MASTER: f"{other}.19333", other: f"{other}.19333"}, unreachable={MASTER})
    target = make_target(master_urls=(f"http://{MASTER}", f"http://{other}"), expected_masters=1)
    report = run_checks(target, transport=cluster.transport)

    dead = [r for r in report.results if r.where == MASTER]
    assert [(r.check, r.ok, r.detail) for r in dead] == [("/cluster/healthz", False, "connection refused")]
    volume = [r for r in report.results if r.component == "volume" and r.check == "registered"]
    assert [(r.ok, r.detail) for r in volume] == [(True, f"via master {other}")]
    [room] = [r for r in report.results if r.check == "room for a new volume"]
    assert (room.ok, room.where) == (True, other)


def test_no_master_answers_dir_status() -> None:
    cluster = FakeCluster(unreachable={MASTER})
    report = run_checks(make_target(), transport=cluster.transport)

    detail = failure(report, "volume", "registered").detail
    assert detail == f"no master answered /dir/status ({MASTER}: connection refused)"


def test_filer_503_means_metadata_store_unreachable() -> None:
    cluster = FakeCluster(filer_health=503)
    report = run_checks(make_target(), transport=cluster.transport)

    assert failure(report, "filer", "/healthz").detail == "metadata store unreachable (503)"


def test_haproxy_503_means_no_filer_behind_it_is_up() -> None:
    page = "<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n"

    def haproxy(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/healthz" and request.url.netloc.decode() == FILER:
            return httpx.Response(503, text=page)
        return FakeCluster().handle(request)

    report = run_checks(make_target(), transport=httpx.MockTransport(haproxy))
    assert failure(report, "filer", "/healthz").detail == "no filer is up behind the load balancer (503)"


def test_each_filer_address_is_probed_once() -> None:
    cluster = FakeCluster()
    target = make_target(filer_addresses=(f"http://{FILER}", "http://127.0.9.31:8888"))
    report = run_checks(target, transport=cluster.transport)

    assert [r.where for r in report.results if r.component == "filer"] == [FILER, "127.0.9.31:8888"]


def test_roundtrip_mismatch_still_deletes() -> None:
    cluster = FakeCluster(corrupt_reads=True)
    report = run_checks(make_target(), transport=cluster.transport)

    detail = failure(report, "roundtrip", "write/read/delete").detail
    assert detail == "read back differs (4096 bytes read, 4096 written)"
    assert cluster.files == {}


def test_probe_files_left_by_timed_out_runs_are_swept() -> None:
    cluster = FakeCluster()
    old, recent, other = "/.aegis-healthcheck/probe-old", "/.aegis-healthcheck/probe-recent", "/.aegis-healthcheck/x"
    cluster.files = {old: b"x", recent: b"x", other: b"x"}
    cluster.created = {old: "2026-11-24T21:19:59Z", recent: "2026-11-24T21:20:01Z", other: "2026-11-24T20:00:00Z"}
    report = run_checks(make_target(), transport=cluster.transport)

    [roundtrip] = [r for r in report.results if r.component == "roundtrip"]
    assert (roundtrip.ok, roundtrip.detail) == (True, "4096 bytes; removed 1 stale probe file(s)")
    assert set(cluster.files) == {recent, other}


def test_failed_write_is_reported_and_nothing_else_is_tried() -> None:
    cluster = FakeCluster(put_status=500)
    report = run_checks(make_target(), transport=cluster.transport)

    assert failure(report, "roundtrip", "write/read/delete").detail == "write failed (500)"
    assert [method for method, url in cluster.calls if "/.aegis-healthcheck/" in url] == ["PUT"]


def test_connection_refused_is_a_clean_failure() -> None:
    cluster = FakeCluster(unreachable={FILER})
    report = run_checks(make_target(), transport=cluster.transport)

    assert failure(report, "filer", "/healthz").detail == "connection refused"
    assert failure(report, "roundtrip", "write/read/delete").detail == "write failed: connection refused"


def test_timeout_names_the_limit() -> None:
    cluster = FakeCluster(timing_out={S3})
    report = run_checks(make_target(), probe_timeout=1.5, transport=cluster.transport)

    assert failure(report, "s3", "ListBuckets").detail == "timed out after 1.5s"


def test_s3_403_means_wrong_credentials() -> None:
    cluster = FakeCluster(s3_status=403)
    report = run_checks(make_target(), transport=cluster.transport)

    detail = failure(report, "s3", "ListBuckets").detail
    assert detail == "signed ListBuckets denied (403): wrong S3 credentials (SignatureDoesNotMatch)"


def test_s3_without_keys_fails_without_a_request() -> None:
    cluster = FakeCluster()
    report = run_checks(make_target(s3_secret_key=""), transport=cluster.transport)

    assert failure(report, "s3", "ListBuckets").detail == "no S3 access/secret key given"
    assert not [url for _, url in cluster.calls if url.startswith(S3)]


def test_s3_is_skipped_without_endpoint() -> None:
    report = run_checks(make_target(s3_endpoint=None), transport=FakeCluster().transport)

    assert report.healthy
    assert "s3" not in {r.component for r in report.results}


def test_wait_until_healthy_retries_until_the_cluster_recovers() -> None:
    cluster = FakeCluster(filer_health=503)
    attempts = 0

    def recovering(request: httpx.Request) -> httpx.Response:
        nonlocal attempts
        if request.url.path == "/healthz":
            attempts += 1
            cluster.filer_health = 503 if attempts < 3 else 200
        return cluster.handle(request)

    report = wait_until_healthy(make_target(), timeout=5, interval=0.01, transport=httpx.MockTransport(recovering))

    assert report.healthy, report.table()
    assert attempts == 3


def test_wait_until_healthy_gives_up_with_the_last_report() -> None:
    cluster = FakeCluster(filer_health=503)
    report = wait_until_healthy(make_target(), timeout=0.05, interval=0.01, transport=cluster.transport)

    assert failure(report, "filer", "/healthz").detail == "metadata store unreachable (503)"
    assert sum(1 for _, url in cluster.calls if url == f"{FILER}/healthz") >= 2


def test_report_formats() -> None:
    report = Report(
        (
            CheckResult("master", MASTER, "leader", False, 2.25, "no leader"),
            CheckResult("volume", VOLUME, "registered", True, 12.0, ""),
        ),
        0.5,
    )

    assert report.table().splitlines() == [
        "component  where           check       result  latency  detail",
        "master     127.0.9.1:9333  leader      FAIL     2.2 ms  no leader",
        "volume     127.0.9.2:8080  registered  OK      12.0 ms",
    ]
    assert report.summary() == f"master {MASTER}: no leader"
    parsed = json.loads(report.to_json())
    assert parsed["healthy"] is False
    assert parsed["wall_seconds"] == 0.5
    assert parsed["results"][0] == {
        "component": "master",
        "where": MASTER,
        "check": "leader",
        "ok": False,
        "latency_ms": 2.25,
        "detail": "no leader",
        "degraded": False,
    }
    assert parsed["outcome"] == "unhealthy"


def stack_outputs(**health_changes: Any) -> dict[str, Any]:
    """The fake cluster's outputs with the optional fields set too: the filers' own addresses, the S3 region."""
    optional = {"filer_addresses": [f"http://{FILER}"], "s3_region": "eu-west-1"}
    return fake_stack_outputs(**(optional | health_changes))


def test_from_stack_outputs() -> None:
    assert Target.from_stack_outputs(stack_outputs()) == Target(
        filer_url=f"http://{FILER}",
        master_urls=(f"http://{MASTER}",),
        expected_masters=1,
        expected_volume_servers=(VOLUME,),
        filer_addresses=(f"http://{FILER}",),
        s3_endpoint=f"http://{S3}",
        s3_access_key=ACCESS_KEY,
        s3_secret_key="pw",
        s3_region="eu-west-1",
    )


def test_from_stack_outputs_without_s3() -> None:
    outputs = stack_outputs(s3_endpoint=None)
    del outputs["s3_admin_access_key"], outputs["s3_admin_secret_key"]
    target = Target.from_stack_outputs(outputs)

    assert (target.s3_endpoint, target.s3_access_key, target.s3_secret_key) == (None, "", "")


def test_from_stack_outputs_refuses_hidden_secrets() -> None:
    outputs = stack_outputs() | {"s3_admin_secret_key": "[secret]"}

    with pytest.raises(ValueError, match=r"s3_admin_secret_key .*--show-secrets"):
        Target.from_stack_outputs(outputs)


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        ({}, "no health_target"),
        (stack_outputs(expected_masters=True), "health_target.expected_masters has the wrong type"),
        (stack_outputs(master_urls=["127.0.9.1:9333"]), "is not an http"),
        (stack_outputs(expected_volume_servers=["http://v:8080"]), "must be host:port"),
        (stack_outputs(filer_url="http://127.0.0.1:abc"), "port of 1-65535"),
        (stack_outputs(master_urls=["http://127.0.0.1:65536"]), "port of 1-65535"),
        (stack_outputs(s3_endpoint="http://127.0.0.1:0"), "port of 1-65535"),
        (stack_outputs(expected_volume_servers=["v:70000"]), "port 1-65535"),
    ],
)
def test_from_stack_outputs_rejects_bad_values(outputs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Target.from_stack_outputs(outputs)


CLI_TARGET = [
    f"--filer-url=http://{FILER}",
    f"--master-url=http://{MASTER}",
    f"--expect-volume-server={VOLUME}",
]


def test_cli_healthy_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(CLI_TARGET, transport=FakeCluster().transport) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["component", "where", "check", "result", "latency", "detail"]
    assert lines[-1] == "healthy"


def test_cli_unhealthy_ends_with_the_failures(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(CLI_TARGET, transport=FakeCluster(data_nodes=[]).transport) == 1

    lines = capsys.readouterr().out.splitlines()
    assert lines[-2:] == ["UNHEALTHY: 1 failing check(s)", f"volume {VOLUME}: volume server {VOLUME} not registered"]


def test_cli_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*CLI_TARGET, "--json"], transport=FakeCluster(leaders={MASTER: ""}).transport) == 1

    report = json.loads(capsys.readouterr().out)
    assert report["healthy"] is False
    assert {(r["check"], r["detail"]) for r in report["results"] if not r["ok"]} == {
        ("/cluster/healthz", "no quorum or leader (503)"),
        ("leader", "no leader"),
    }


def test_cli_reads_stack_outputs_from_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(stack_outputs(s3_endpoint=None)))

    assert main(["--stack-outputs", str(path), "--json"], transport=FakeCluster().transport) == 0
    assert json.loads(capsys.readouterr().out)["healthy"] is True


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        ([], "", "give --stack-outputs, or --filer-url"),
        ([*CLI_TARGET, "--wait", "-1"], "", "argument --wait: must be 0-86400 seconds"),
        ([*CLI_TARGET, "--wait", "nan"], "", "argument --wait: not a finite number"),
        ([*CLI_TARGET, "--wait", "inf"], "", "argument --wait: not a finite number"),
        ([*CLI_TARGET, "--probe-timeout", "nan"], "", "argument --probe-timeout: not a finite number"),
        ([*CLI_TARGET, "--probe-timeout=-inf"], "", "argument --probe-timeout: not a finite number"),
        ([*CLI_TARGET, "--expect-masters", "0"], "", "argument --expect-masters: must be 1-100000"),
        ([*CLI_TARGET, "--expect-masters", "two"], "", "argument --expect-masters: not a whole number"),
        ([*CLI_TARGET, "--filer-url", "http://127.0.0.1:abc"], "", "port of 1-65535"),
        ([*CLI_TARGET, "--master-url", "http://127.0.0.1:65536"], "", "port of 1-65535"),
        ([*CLI_TARGET[:2], "--expect-volume-server", "v:65536"], "", "port 1-65535"),
        # What httpx or the socket layer would refuse mid-check, refused up front instead.
        ([*CLI_TARGET, "--filer-url", "http://💥:1"], "", "Invalid IDNA hostname"),
        ([*CLI_TARGET, "--filer-url", "http://a..b:1"], "", "label empty or too long"),
        ([*CLI_TARGET, "--filer-url", "http://127.0.0.1:1\n"], "", "space or control character ('\\n')"),
        ([*CLI_TARGET, "--master-url", "http://xn--:1"], "", "Malformed A-label"),
        ([*CLI_TARGET[:2], "--expect-volume-server", "a..b:1"], "", "label empty or too long"),
        ([*CLI_TARGET, "--s3-endpoint", "http://127.0.0.1:1", "--s3-region", "eu\u2028"], "", "S3 region"),
        ([*CLI_TARGET, "--probe-timeout", "1e308"], "", "argument --probe-timeout: must be 0.001-600 seconds"),
        ([*CLI_TARGET, "--wait", "1e400"], "", "argument --wait: not a finite number"),
        ([*CLI_TARGET, "--expect-masters", "9" * 5000], "", "argument --expect-masters: not a whole number"),
        ([*CLI_TARGET, "--bogus\nline"], "", "unrecognized arguments: --bogus\\nline"),
        (["--stack-outputs", "-"], "[" * 100_000, "nest too deeply"),
        (["--stack-outputs", "-"], json.dumps(stack_outputs(filer_url="http://127.0.0.1:abc")), "port of 1-65535"),
        ([*CLI_TARGET, "--bogus"], "", "unrecognized arguments: --bogus"),
        ([*CLI_TARGET, "--stack-outputs", "-"], "{}", "drop --filer-url, --master-url, --expect-volume-server"),
        (["--stack-outputs", "/nonexistent/out.json"], "", "cannot read stack outputs from /nonexistent/out.json"),
        (["--stack-outputs", "-"], "not json", "stack outputs in stdin are not JSON"),
        (["--stack-outputs", "-"], json.dumps({"health_target": "[secret]"}), "--show-secrets"),
    ],
)
def test_cli_usage_errors_exit_2_with_one_line(
    argv: list[str], stdin: str, message: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    cluster = FakeCluster()

    assert main(argv, transport=cluster.transport) == 2

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("healthcheck: error: ")
    assert message in captured.err
    assert captured.err.count("\n") == 1
    assert cluster.calls == []


@pytest.mark.parametrize(
    "argv",
    [
        [*CLI_TARGET, "--filer-url", "http://127.0.0.1:abc"],
        [*CLI_TARGET, "--probe-timeout", "nan"],
        [*CLI_TARGET, "--wait", "inf"],
        [*CLI_TARGET, "--filer-url", "http://💥:1"],
        [*CLI_TARGET, "--filer-url", "http://a..b:1"],
        [*CLI_TARGET, "--filer-url", "http://127.0.0.1:1\n"],
        [*CLI_TARGET, "--probe-timeout", "1e308"],
    ],
)
def test_the_real_cli_answers_bad_input_with_one_line_and_status_2(argv: list[str]) -> None:
    # A separate interpreter, as a user runs it: nothing here may reach the network or print a traceback.
    cli = subprocess.run(
        [sys.executable, "-m", "components.healthcheck", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (cli.returncode, cli.stdout) == (2, "")
    assert cli.stderr.startswith("healthcheck: error: ") and cli.stderr.count("\n") == 1, cli.stderr


RULES = '{\n  "version": 1,\n  "locations": [\n    {"locationPrefix": "/buckets/t/", "replication": "000"}\n  ]\n}\n'


def with_rules(served: str | None) -> FakeCluster:
    cluster = FakeCluster()
    if served is not None:
        cluster.files["/etc/seaweedfs/filer.conf"] = served.encode()
        cluster.created["/etc/seaweedfs/filer.conf"] = NOW_CRTIME
    return cluster


def test_live_rules_equal_to_the_rendered_ones_pass() -> None:
    report = run_checks(make_target(filer_rules=RULES), transport=with_rules(RULES).transport)
    assert report.healthy, report.table()
    assert [(r.component, r.where, r.check) for r in report.results if r.component == "rules"] == [
        ("rules", FILER, "filer.conf")
    ]


def test_live_rules_that_differ_fail_naming_the_first_different_line() -> None:
    served = RULES.replace('"000"', '"001"')
    report = run_checks(make_target(filer_rules=RULES), transport=with_rules(served).transport)
    assert failure(report, "rules", "filer.conf").detail == (
        "live /etc/seaweedfs/filer.conf differs from the rendered rules at line 4: "
        """'{"locationPrefix": "/buckets/t/", "replication": "001"}', """
        """expected '{"locationPrefix": "/buckets/t/", "replication": "000"}'"""
    )
    truncated = run_checks(make_target(filer_rules=RULES), transport=with_rules(RULES[:20]).transport)
    assert failure(truncated, "rules", "filer.conf").detail.endswith("at line 3: '', expected '\"locations\": ['")


def test_the_usage_services_read_only_rules_on_top_of_the_rendered_ones_pass_and_nothing_else_does() -> None:
    held = render_rules(RULES, ["/aegis/volumes/t/v1", "/aegis/volumes/t/v2"])
    report = run_checks(make_target(filer_rules=RULES), transport=with_rules(held).transport)
    assert report.healthy, report.table()
    # A read-only rule the service would not write (not a volume, or with more in it) is a hand-made change.
    for other in (
        render_rules(RULES, ["/aegis/volumes/t"]),
        held.replace('"readOnly": true', '"readOnly": true, "ttl": "1d"', 1),
        render_rules(RULES.replace('"000"', '"001"'), ["/aegis/volumes/t/v1"]),
    ):
        report = run_checks(make_target(filer_rules=RULES), transport=with_rules(other).transport)
        assert failure(report, "rules", "filer.conf").detail.startswith("live /etc/seaweedfs/filer.conf differs")


def test_missing_rules_fail() -> None:
    report = run_checks(make_target(filer_rules=RULES), transport=with_rules(None).transport)
    assert (
        failure(report, "rules", "filer.conf").detail
        == "no storage-class rules on the filer (/etc/seaweedfs/filer.conf: 404)"
    )


def test_rules_are_not_probed_without_rendered_rules() -> None:
    cluster = with_rules(None)
    assert run_checks(make_target(), transport=cluster.transport).healthy
    assert ("GET", f"{FILER}/etc/seaweedfs/filer.conf") not in cluster.calls


def test_from_stack_outputs_reads_the_rendered_rules() -> None:
    assert Target.from_stack_outputs(stack_outputs(filer_rules=RULES)).filer_rules == RULES
    with pytest.raises(ValueError, match=r"health_target\.filer_rules has the wrong type"):
        Target.from_stack_outputs(stack_outputs(filer_rules=["not", "text"]))


# --- degraded: a volume short of copies, a volume server short of slots or disk ---------------------------

OTHER = "127.0.9.5:8080"
REPLICATED = {"rack": 1}  # 010, as /vol/status writes it


def degraded_cluster(**changes: Any) -> FakeCluster:
    """Two volume servers with replication 010; volumes 3 and 7 lost their copy on OTHER."""
    values: dict[str, Any] = {
        "data_nodes": [VOLUME, OTHER],
        "volumes": {1: [VOLUME, OTHER], 3: [VOLUME], 7: [OTHER], 9: [VOLUME, OTHER]},
        "placement": REPLICATED,
    }
    return FakeCluster(**(values | changes))


def two_servers(**changes: Any) -> Target:
    return make_target(expected_volume_servers=(VOLUME, OTHER), **changes)


def test_volumes_short_of_copies_are_degraded_and_named_with_their_counts() -> None:
    report = run_checks(two_servers(), transport=degraded_cluster().transport)

    assert report.outcome == "degraded" and not report.healthy
    short = failure(report, "replicas", "copies")
    assert short.degraded and short.status == "DEGRADED" and short.where == MASTER
    assert short.detail == "2 of 4 volume(s) lack copies: volume 3 has 1 of 2 copies, volume 7 has 1 of 2 copies"


def test_full_copies_are_healthy_and_counted() -> None:
    cluster = degraded_cluster(volumes={1: [VOLUME, OTHER], 2: [OTHER, VOLUME]})
    report = run_checks(two_servers(), transport=cluster.transport)

    assert report.outcome == "healthy", report.table()
    [copies] = [r for r in report.results if r.component == "replicas"]
    assert copies.detail == "2 volume(s) with every copy"


def test_a_missing_server_makes_the_cluster_unhealthy_even_when_copies_are_also_short() -> None:
    cluster = degraded_cluster(data_nodes=[VOLUME])
    report = run_checks(two_servers(), transport=cluster.transport)

    assert report.outcome == "unhealthy"
    assert failure(report, "replicas", "copies").degraded
    assert not failure(report, "volume", "registered").degraded


def test_a_long_list_of_short_volumes_names_the_first_twenty() -> None:
    cluster = degraded_cluster(volumes={vid: [VOLUME] for vid in range(1, 31)})
    detail = failure(run_checks(two_servers(), transport=cluster.transport), "replicas", "copies").detail

    assert detail.startswith("30 of 30 volume(s) lack copies: volume 1 has 1 of 2 copies, ")
    assert "volume 20 has 1 of 2 copies and 10 more" in detail and "volume 21 " not in detail


def test_no_master_answering_vol_status_is_a_failure_not_a_verdict() -> None:
    cluster = FakeCluster(unreachable={MASTER})
    detail = failure(run_checks(make_target(), transport=cluster.transport), "replicas", "copies").detail

    assert detail == f"no master answered /vol/status ({MASTER}: connection refused)"


@pytest.mark.parametrize(
    ("body", "counts"),
    [
        ({"Volumes": {"DataCenters": None}}, {}),
        ({"Volumes": {"DataCenters": {"dc": {"r1": None, "r2": {"a:1": None}}}}}, {}),
        (
            {
                "Volumes": {
                    "DataCenters": {
                        "dc1": {"r1": {"a:1": [{"Id": 4, "ReplicaPlacement": {"dc": 1, "node": 1}}]}},
                        "dc2": {"r1": {"b:1": [{"Id": 4, "ReplicaPlacement": {"dc": 1, "node": 1}}]}},
                    }
                }
            },
            {4: (2, 3)},
        ),
        ({"Volumes": {"DataCenters": {"dc": {"r": {"a:1": [{"Id": 5, "ReplicaPlacement": None}]}}}}}, {5: (1, 1)}),
    ],
)
def test_replica_counts_read_every_level_of_vol_status(body: dict[str, Any], counts: dict[int, tuple[int, int]]):
    assert replica_counts(body) == counts


@pytest.mark.parametrize("body", [None, {"Volumes": {"DataCenters": ["x"]}}, {"Volumes": {"DataCenters": {"d": 3}}}])
def test_replica_counts_refuse_what_is_not_vol_status(body: Any) -> None:
    assert replica_counts(body) is None


def test_few_free_volume_slots_are_degraded_per_server() -> None:
    cluster = FakeCluster(used_slots=6)
    report = run_checks(make_target(min_free_volume_slots=3), transport=cluster.transport)

    low = failure(report, "volume", "free slots")
    assert report.outcome == "degraded" and low.where == VOLUME
    assert low.detail == "2 free volume slot(s), below the minimum of 3: new buckets cannot grow volumes"
    relaxed = run_checks(make_target(min_free_volume_slots=2), transport=cluster.transport)
    assert relaxed.healthy and any(r.check == "free slots" and r.detail == "2 free" for r in relaxed.results)


def test_little_free_disk_is_degraded_and_an_unreadable_disk_fails() -> None:
    target = make_target(min_free_disk_percent=10, volume_server_urls=(f"http://{VOLUME}",))
    report = run_checks(target, transport=FakeCluster(percent_free=4.25).transport)

    low = failure(report, "volume", "free disk")
    assert report.outcome == "degraded" and low.detail == "/data 4.2% free, below the minimum of 10%"
    assert run_checks(target, transport=FakeCluster(percent_free=40).transport).healthy
    unreadable = run_checks(target, transport=FakeCluster(timing_out={VOLUME}).transport)
    assert unreadable.outcome == "unhealthy"
    assert failure(unreadable, "volume", "free disk").detail == "cannot read disk use: timed out after 3.0s"


def test_capacity_checks_are_left_out_at_zero() -> None:
    # One slot left: room for a new volume, so only the (turned off) early warnings could speak.
    cluster = FakeCluster(used_slots=7, percent_free=0.0)
    report = run_checks(make_target(volume_server_urls=(f"http://{VOLUME}",)), transport=cluster.transport)

    assert report.healthy and not {"free slots", "free disk"} & {r.check for r in report.results}


def test_no_room_for_a_new_volume_is_unhealthy_even_with_the_minimums_at_zero() -> None:
    cluster = FakeCluster(used_slots=8, percent_free=0.0)
    report = run_checks(make_target(volume_server_urls=(f"http://{VOLUME}",)), transport=cluster.transport)

    full = failure(report, "volume", "room for a new volume")
    assert report.outcome == "unhealthy" and not full.degraded and len(report.failures()) == 1
    assert full.detail.startswith("no free volume slots on any volume server (0 of 8)")
    assert f"disk: {VOLUME} /data 0.0% free" in full.detail


def test_few_but_some_free_slots_stay_degraded_not_unhealthy() -> None:
    report = run_checks(make_target(min_free_volume_slots=3), transport=FakeCluster(used_slots=7).transport)

    assert report.outcome == "degraded", report.table()
    assert failure(report, "volume", "free slots").detail.startswith("1 free volume slot(s), below the minimum")


def test_from_stack_outputs_reads_the_capacity_thresholds() -> None:
    outputs = stack_outputs(min_free_volume_slots=12, min_free_disk_percent=10, volume_server_urls=[f"http://{VOLUME}"])
    target = Target.from_stack_outputs(outputs)

    assert (target.min_free_volume_slots, target.min_free_disk_percent) == (12, 10)
    assert target.volume_server_urls == (f"http://{VOLUME}",)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"min_free_volume_slots": -1}, "free volume slots must be 0 or more"),
        ({"min_free_disk_percent": 100}, "free disk must be 0-99 percent"),
        ({"min_free_disk_percent": True}, "min_free_disk_percent has the wrong type"),
        ({"volume_server_urls": ["127.0.9.2:8080"]}, "is not an http"),
    ],
)
def test_bad_capacity_thresholds_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Target.from_stack_outputs(stack_outputs(**changes))


DEGRADED_CLI = [*CLI_TARGET, f"--expect-volume-server={OTHER}"]


def test_cli_degraded_exits_3_and_ends_with_the_volumes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(DEGRADED_CLI, transport=degraded_cluster().transport) == 3

    lines = capsys.readouterr().out.splitlines()
    assert lines[-2] == "DEGRADED: 1 failing check(s)"
    assert lines[-1].startswith(f"replicas {MASTER}: 2 of 4 volume(s) lack copies: volume 3 has 1 of 2 copies")
    assert any(line.split()[3] == "DEGRADED" for line in lines[1:-2])


def test_cli_degraded_ok_exits_0_with_a_warning(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*DEGRADED_CLI, "--degraded-ok", "--json"], transport=degraded_cluster().transport) == 0

    out, err = capsys.readouterr()
    assert json.loads(out)["outcome"] == "degraded"
    assert err.startswith("healthcheck: warning: degraded\n") and "volume 7 has 1 of 2 copies" in err


def test_cli_degraded_ok_still_fails_an_unhealthy_cluster() -> None:
    assert main([*CLI_TARGET, "--degraded-ok"], transport=FakeCluster(leaders={MASTER: ""}).transport) == 1


def test_cli_capacity_flags_reach_the_checks(capsys: pytest.CaptureFixture[str]) -> None:
    flags = ["--min-free-volume-slots=3", "--min-free-disk-percent=10", f"--volume-server-url=http://{VOLUME}"]
    assert main([*CLI_TARGET, *flags], transport=FakeCluster(used_slots=6).transport) == 3

    assert "free volume slot(s), below the minimum of 3" in capsys.readouterr().out


@pytest.mark.parametrize(
    "flag", ["--min-free-volume-slots=-1", "--min-free-disk-percent=100", "--min-free-disk-percent=x"]
)
def test_cli_bad_capacity_flags_are_one_line_usage_errors(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*CLI_TARGET, flag]) == 2

    err = capsys.readouterr().err
    assert err.startswith("healthcheck: error: ") and len(err.splitlines()) == 1
