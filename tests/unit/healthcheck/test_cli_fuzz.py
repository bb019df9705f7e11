"""Property tests of the health check CLI: whatever the flags and the stack outputs hold, it answers with an exit
status of 0-3 and never a traceback, bad input is exactly one line on stderr, and a password in a URL is never
printed.

The CLI runs in-process on the real httpx transport, so the socket layer sees every URL that gets past the
input checks; `socket.getaddrinfo` is replaced by one that encodes the host as CPython does (so a name the
socket layer refuses still fails) and answers with a loopback port nothing listens on: every connection is
refused at once and nothing leaves the machine. The clock `--wait` reads jumps a day per look, so no example
waits.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.healthcheck import __main__ as cli

PASSWORD = "hunter2"  # the password of every URL with credentials below; it must never be printed
FLAGS = sorted(option for action in cli._parser()._actions for option in action.option_strings)
ENV = sorted(cli.ENV_KEYS.values())
HOSTILE = [
    "",
    "-",
    " ",
    "http://💥:1",
    "http://a..b:1",
    "http://127.0.0.1:1\n",
    "http://xn--:1",
    "http://[::1",
    "http://[::1]:1",
    f"http://admin:{PASSWORD}@127.0.0.1:1",
    f"https://admin:{PASSWORD}@a..b:99999",
    "http://127.0.0.1:0",
    "http://127.0.0.1:65536",
    "http://:1",
    "ftp://127.0.0.1:1",
    "127.0.0.1:1",
    "a..b:1",
    "💥:1",
    "h:\u0661",  # an Arabic-Indic digit one: \d matches it, a port cannot be it
    "1e308",
    "-1e308",
    "1e-320",
    "nan",
    "inf",
    "-0",
    "0",
    "0.01",
    "86400",
    "9" * 5000,
    "0x10",
    "1_000",
    "\udcff",
    "\x00",
    "\u2028",
    "[secret]",
    "/nonexistent/out.json",
    "/",
]
VALID = [
    "--filer-url",
    "http://127.0.0.1:1",
    "--master-url",
    "http://127.0.0.1:2",
    "--expect-volume-server",
    "127.0.0.1:3",
    "--probe-timeout",
    "0.05",
]

hosts = st.one_of(
    st.sampled_from(["127.0.0.1", "[::1]", "localhost", "a..b", "💥", "xn--", "bücher.de", f"u:{PASSWORD}@h"]),
    st.text(max_size=12),
)
urls = st.builds(
    "{}://{}:{}{}".format,
    st.sampled_from(["http", "https", "ftp", ""]),
    hosts,
    st.integers(-1, 70_000),
    st.sampled_from(["", "/", "/x?y#z", "\n"]),
)
values = st.one_of(
    st.sampled_from(HOSTILE),
    urls,
    st.text(max_size=24),
    st.floats().map(repr),
    st.integers(-(10**30), 10**30).map(str),
)
argument = st.one_of(
    st.tuples(st.sampled_from(FLAGS), values).map(list),
    st.tuples(st.sampled_from(FLAGS), values).map(lambda pair: ["=".join(pair)]),
    st.sampled_from(FLAGS).map(lambda flag: [flag]),
    values.map(lambda value: [value]),
)
argvs = st.builds(
    lambda base, extra: base + [token for tokens in extra for token in tokens],
    st.sampled_from([[], VALID]),
    st.lists(argument, max_size=8),
)
# os.environ takes neither NUL nor a surrogate outside the range surrogateescape maps back to bytes.
env_values = values.filter(lambda v: "\x00" not in v and all(not "\ud800" <= c < "\udc80" for c in v))
environments = st.dictionaries(st.sampled_from(ENV), env_values, max_size=2)

json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**40), 10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=16),
    st.sampled_from(HOSTILE),
    urls,
)
json_documents = st.recursive(
    json_leaves,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=24,
)
HEALTH_KEYS = [
    "filer_url",
    "master_urls",
    "expected_masters",
    "expected_volume_servers",
    "filer_addresses",
    "s3_endpoint",
    "s3_region",
    "filer_rules",
    "min_free_volume_slots",
    "min_free_disk_percent",
    "volume_server_urls",
]


def stack_outputs(changes: dict[str, Any], secrets: dict[str, Any]) -> dict[str, Any]:
    """A well-formed stack output with some keys replaced: what gets past the JSON reader and into Target."""
    health = {
        "filer_url": "http://127.0.0.1:1",
        "master_urls": ["http://127.0.0.1:2"],
        "expected_masters": 1,
        "expected_volume_servers": ["127.0.0.1:3"],
    }
    return {"health_target": health | changes, **secrets}


structured = st.builds(
    stack_outputs,
    st.dictionaries(st.sampled_from(HEALTH_KEYS), json_documents, max_size=4),
    st.dictionaries(st.sampled_from(["s3_admin_access_key", "s3_admin_secret_key"]), json_documents, max_size=2),
)
RAW_DOCUMENTS = [
    "",
    "not json",
    "NaN",
    "[" * 100_000,
    '{"health_target": {"expected_masters": 1e999}}',
    '{"health_target": {"expected_masters": ' + "9" * 5000 + "}}",
    '{"health_target": {"filer_url": "\\udcff"}}',
    '{"health_target": "[secret]"}',
    '{"health_target": {}, "health_target": []}',
]
stdins = st.one_of(
    json_documents.map(json.dumps),
    structured.map(json.dumps),
    st.sampled_from(RAW_DOCUMENTS),
    st.text(max_size=40),
)


class JumpingClock:
    """time for the CLI's --wait: a day passes at every look, and sleeping takes no time."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        self.now += 86_400.0
        return self.now

    def sleep(self, seconds: float) -> None:
        pass


@pytest.fixture(scope="module")
def refused_port() -> Iterator[int]:
    # Bound and never listening: a connection to it is refused at once, and no other process can take it.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def run_cli(argv: list[str], stdin: str, env: dict[str, str], port: int) -> tuple[int, str, str]:
    real = socket.getaddrinfo

    def resolve(host: Any, _port: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str):
            host.encode("idna")  # what CPython's socket module does with a str host before resolving it
        return real("127.0.0.1", port, *args, **kwargs)

    out, err = io.StringIO(), io.StringIO()
    clean = {k: v for k, v in os.environ.items() if k not in ENV and "proxy" not in k.lower()}
    with (
        mock.patch.dict(os.environ, clean | env, clear=True),
        mock.patch("socket.getaddrinfo", resolve),
        mock.patch.object(cli, "time", JumpingClock()),
        mock.patch("sys.stdin", io.StringIO(stdin)),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        code = cli.main(argv)
    return code, out.getvalue(), err.getvalue()


def assert_contract(code: int, out: str, err: str, inputs: tuple[str, ...] = ()) -> None:
    assert code in {0, 1, 2, 3}, (code, err)
    assert "Traceback" not in out + err
    # A crash inside a probe is reported (exit 1), but it is a bug these examples are here to find.
    assert "the checks could not run" not in err, err
    # Hypothesis also draws the literal on its own, as a plain value the CLI may quote back.
    if not any(PASSWORD in text.replace(f":{PASSWORD}@", "") for text in inputs):
        assert PASSWORD not in out + err
    if code == 2:
        assert out == "" and err.count("\n") == 1 and len(err.splitlines()) == 1, err
        assert err.startswith("healthcheck: error: ")


FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,  # no .hypothesis directory in the working tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FUZZ
@given(argv=argvs, stdin=stdins, env=environments)
def test_any_flags_answer_with_a_status_and_never_a_traceback(
    refused_port: int, argv: list[str], stdin: str, env: dict[str, str]
) -> None:
    assert_contract(*run_cli(argv, stdin, env, refused_port), (*argv, stdin, *env.values()))


@FUZZ
@given(
    stdin=stdins,
    extra=st.lists(st.sampled_from([["--json"], ["--wait", "5"], ["--degraded-ok"]]), max_size=2),
    env=environments,
)
def test_any_stack_outputs_answer_with_a_status_and_never_a_traceback(
    refused_port: int, stdin: str, extra: list[list[str]], env: dict[str, str]
) -> None:
    argv = ["--stack-outputs", "-", "--probe-timeout", "0.05", *(token for tokens in extra for token in tokens)]
    assert_contract(*run_cli(argv, stdin, env, refused_port), (stdin, *env.values()))


def test_a_reachable_looking_target_is_probed_and_found_unhealthy(refused_port: int) -> None:
    # The harness itself: valid input gets past the checks, reaches the socket layer and is refused there.
    code, out, err = run_cli([*VALID, f"--filer-address=http://admin:{PASSWORD}@127.0.0.1:4"], "", {}, refused_port)
    assert (code, err) == (1, "") and "connection refused" in out and "admin:***@127.0.0.1:4" in out
    assert_contract(code, out, err)
