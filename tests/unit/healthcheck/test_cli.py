"""The health check CLI as an operator meets it: --help, secrets from the environment, masked credentials,
--wait's progress. Runs against the fake cluster (httpx.MockTransport); nothing reaches the network."""

from __future__ import annotations

import io
import json
import re
import time
from typing import Any

import httpx
import pytest

from components.healthcheck import __main__ as cli
from components.healthcheck.__main__ import main
from components.healthcheck.cli_input import mask, one_line, passwords_in, url_problem
from tests.support.fake_cluster import ACCESS_KEY, FILER, MASTER, S3, VOLUME, FakeCluster
from tests.support.health_outputs import fake_stack_outputs

SECRET = "hunter2"
TARGET = [
    f"--filer-url=http://{FILER}",
    f"--master-url=http://{MASTER}",
    f"--expect-volume-server={VOLUME}",
]


def test_help_lists_the_exit_codes_and_the_environment(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0

    text = capsys.readouterr().out
    for code, meaning in [("0", "healthy"), ("1", "unhealthy"), ("2", "bad usage"), ("3", "degraded")]:
        assert re.search(rf"^  {code}  {meaning}", text, re.MULTILINE), code
    assert "AEGIS_S3_ACCESS_KEY" in text and "AEGIS_S3_SECRET_KEY" in text


def test_s3_keys_come_from_the_environment_and_a_flag_wins(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AEGIS_S3_ACCESS_KEY", ACCESS_KEY)
    monkeypatch.setenv("AEGIS_S3_SECRET_KEY", "pw")
    s3 = [*TARGET, f"--s3-endpoint=http://{S3}", "--json"]

    assert main(s3, transport=FakeCluster().transport) == 0
    monkeypatch.setenv("AEGIS_S3_ACCESS_KEY", "WRONG")
    assert main(s3, transport=FakeCluster().transport) == 1
    assert main([*s3, f"--s3-access-key={ACCESS_KEY}"], transport=FakeCluster().transport) == 0
    capsys.readouterr()


@pytest.mark.parametrize("hidden", ["[secret]", None])
def test_environment_keys_stand_in_for_hidden_or_missing_stack_outputs(
    hidden: str | None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    document = fake_stack_outputs()
    document["s3_admin_access_key"] = document["s3_admin_secret_key"] = hidden
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(document)))
    monkeypatch.setenv("AEGIS_S3_ACCESS_KEY", ACCESS_KEY)
    monkeypatch.setenv("AEGIS_S3_SECRET_KEY", "pw")

    assert main(["--stack-outputs", "-", "--json"], transport=FakeCluster().transport) == 0
    assert json.loads(capsys.readouterr().out)["healthy"] is True


def test_environment_keys_never_replace_keys_the_outputs_carry(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(fake_stack_outputs())))
    monkeypatch.setenv("AEGIS_S3_ACCESS_KEY", "STALE")

    assert main(["--stack-outputs", "-"], transport=FakeCluster().transport) == 0
    capsys.readouterr()


@pytest.mark.parametrize("as_json", [False, True])
def test_passwords_in_urls_are_masked_in_the_report(as_json: bool, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [f"--filer-url=http://admin:{SECRET}@{FILER}", *TARGET[1:], *(["--json"] if as_json else [])]

    assert main(argv, transport=FakeCluster(data_nodes=[]).transport) == 1

    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err
    assert f"admin:***@{FILER}" in captured.out


def test_passwords_from_stack_outputs_are_masked_in_errors(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    document = fake_stack_outputs(filer_url=f"http://admin:{SECRET}@{FILER.replace(':8888', ':99999')}")
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(document)))

    assert main(["--stack-outputs", "-"]) == 2

    err = capsys.readouterr().err
    assert SECRET not in err and "http://admin:***@127.0.9.3:99999" in err and err.count("\n") == 1


def test_a_password_that_looks_like_anything_is_masked_in_every_spelling() -> None:
    password = 'p@ss:w"rd/'
    found = passwords_in([f"http://u:{password.replace('/', '%2F')}@h:1", {"x": ["http://v:second@h:2"]}])
    assert found == {password.replace("/", "%2F"), "second"}
    text = f'u:{password}@h "u:p@ss:w\\"rd%2F@h" v:second@h:2 see https://w:other@example.org/x'
    assert mask(text, found) == 'u:***@h "u:***@h" v:***@h:2 see https://w:***@example.org/x'


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://127.0.0.1:8888", None),
        ("https://[::1]:1/path", None),
        ("http://bücher.example:80", None),
        ("http://user:pass@host:1", None),
        ("ftp://host:1", "not an http(s)://host[:port] URL"),
        ("http://:1", "not an http(s)://host[:port] URL"),
        ("http://h:0", "port outside 1-65535"),
        ("http://h:70000", "not a URL the health check can reach"),
        ("http://[::1:1", "not a URL the health check can reach"),
        ("http://h\u2028:1", "space or control character"),
        ("http://h:1/\udcff", "space or control character"),
    ],
)
def test_url_problem(url: str, problem: str | None) -> None:
    found = url_problem(url)
    assert found is None if problem is None else (found is not None and problem in found), found


def test_one_line_escapes_every_line_break() -> None:
    assert one_line("a\nb\rc\u2028d\u0085e\x00f") == "a\\nb\\rc\\u2028d\\x85e\\x00f"


def slow(transport: httpx.MockTransport, seconds: float) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        time.sleep(seconds)
        return transport.handle_request(request)

    return httpx.MockTransport(handle)


def test_wait_reports_progress_on_stderr_while_a_run_is_still_going(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Scaled down: a progress line every 0.05 s while each run takes longer than that.
    monkeypatch.setattr(cli, "PROGRESS_SECONDS", 0.05)
    monkeypatch.setattr(cli, "RETRY_SECONDS", 0.01)
    transport = slow(FakeCluster(data_nodes=[]).transport, 0.02)

    assert main([*TARGET, "--wait", "0.4"], transport=transport) == 1

    lines = capsys.readouterr().err.splitlines()
    assert len(lines) >= 3, lines
    assert all(line.startswith("healthcheck: waiting for healthy: ") for line in lines)
    failing = [line for line in lines if "checks failing" in line]
    assert failing and re.search(rf": 1 of \d+ checks failing \(volume {VOLUME} registered\), ", failing[-1])
    assert re.search(r", \d+ s left$", failing[-1])


def test_a_wait_that_ends_healthy_prints_only_the_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*TARGET, "--wait", "30"], transport=FakeCluster().transport) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out.endswith("healthy\n")


def test_a_crash_inside_the_checks_is_one_line_and_not_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("probe bug")

    monkeypatch.setattr(cli, "run_checks", broken)
    assert main(TARGET) == 1
    err = capsys.readouterr().err
    assert err == "healthcheck: error: the checks could not run (RuntimeError: probe bug)\n"


def test_a_volume_server_with_credentials_is_refused_without_printing_them(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*TARGET[:2], f"--expect-volume-server=admin:{SECRET}@{VOLUME}"]) == 2
    err = capsys.readouterr().err
    assert SECRET not in err and "admin:***@" in err and "without credentials" in err


def test_ctrl_c_during_the_checks_is_one_line_and_status_130(capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(request: httpx.Request) -> httpx.Response:
        raise KeyboardInterrupt

    assert main([*TARGET, "--wait=60"], transport=httpx.MockTransport(interrupted)) == 130
    err = capsys.readouterr().err
    assert err.splitlines() == ["healthcheck: error: interrupted before the cluster was found healthy"]
