"""The usage service's HTTP side on a loopback socket: AEGIS's calls, keep-alive, hostile and oversized requests,
failures inside a handler, and the bounds on connections, idle time and request size."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.error import URLError
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from components.usage import server as server_module
from components.usage.index import Change
from components.usage.quotas import QUOTA_HEADER, quota_bytes, volume_of
from components.usage.server import (
    MAX_DISCARD,
    MAX_HEAD,
    MAX_QUOTA_BODY,
    NO_VOLUME,
    NOT_READY,
    QUOTA_REFUSED,
    UsageServer,
    make_server,
    query_path,
    split_target,
)
from components.usage.service import Settings, State

V = "/aegis/volumes/t-1/5eed0000-0000-4000-8000-00000000f00d"
BOUNDARY = "b0undary"


@dataclass
class Rig:
    server: UsageServer
    state: State
    stored: list[tuple[str, str, bytes, dict]] = field(default_factory=list)  # the filer calls made
    filer_error: Exception | None = None

    @property
    def address(self) -> tuple[str, int]:
        return self.server.server_address


@pytest.fixture
def rig(monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    state = State()
    state.index.apply(Change(1, new=V, new_is_dir=True))
    state.index.apply(Change(2, new=f"{V}/a", new_size=1000))
    state.caught_up.set()
    settings = Settings(filers=("127.0.0.1:9",), state_dir=Path("/nonexistent"), node="n", base_rules="{}")
    server = make_server(settings, state, "127.0.0.1", 0)
    rig = Rig(server, state)

    def any_filer(settings: Settings, method: str, path: str, body: bytes = b"", headers: dict | None = None) -> bytes:
        if rig.filer_error is not None:
            raise rig.filer_error
        rig.stored.append((method, path, body, headers or {}))
        return b""

    monkeypatch.setattr(server_module, "any_filer", any_filer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rig
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()
        assert not thread.is_alive()


def connect(rig: Rig) -> socket.socket:
    return socket.create_connection(rig.address, timeout=5)


def read_answer(sock: socket.socket, head_only: bool = False) -> tuple[int, dict[str, str], str]:
    """(status, headers, body) of the next answer on `sock`."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before an answer: {data!r}"
        data += chunk
    head, _, data = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = 0 if head_only else int(headers["content-length"])
    while len(data) < length:
        chunk = sock.recv(65536)
        assert chunk, "closed inside the body"
        data += chunk
    assert len(data) == length, "more than the answer arrived"
    return int(lines[0].split(" ")[1]), headers, data.decode()


def closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def ask(rig: Rig, request: bytes, head_only: bool = False) -> tuple[int, dict[str, str], str]:
    with connect(rig) as sock:
        sock.sendall(request)
        return read_answer(sock, head_only)


def status_request(path: str, method: str = "GET", extra: str = "") -> bytes:
    """AEGIS's usage call, as reqwest sends it: the query form-encoded."""
    return f"{method} /dir/status?{urlencode({'path': path})} HTTP/1.1\r\nhost: x\r\n{extra}\r\n".encode()


def form(fields: dict[str, str]) -> bytes:
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ]
    return ("".join(parts) + f"--{BOUNDARY}--\r\n").encode()


def quota_request(fields: dict[str, str] | None = None, body: bytes | None = None, extra: str = "") -> bytes:
    body = form(fields or {}) if body is None else body
    return (
        f"POST /quota HTTP/1.1\r\nhost: x\r\ncontent-type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"content-length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


# --- AEGIS's calls ----------------------------------------------------------------------------------------------


def test_usage_of_a_volume_and_the_404_aegis_reads_as_0(rig: Rig) -> None:
    status, headers, body = ask(rig, status_request(V))
    assert (status, headers["content-type"], json.loads(body)) == (200, "application/json", rig.state.status(V))
    assert body == json.dumps({"TotalSize": 1000, "FileCount": 1})
    assert ask(rig, status_request(f"{V}x"))[::2] == (404, NO_VOLUME)
    status, headers, body = ask(rig, status_request(f"{V}x", "HEAD"), head_only=True)
    assert (status, headers["content-length"], body) == (404, str(len(NO_VOLUME)), "")
    rig.state.caught_up.clear()
    assert ask(rig, status_request(V))[::2] == (404, NOT_READY)


def test_health_and_tenants(rig: Rig) -> None:
    assert ask(rig, b"GET /healthz HTTP/1.0\r\n\r\n")[::2] == (200, "ok")
    for path in ("/tenants", "/.usage/tenants"):
        status, headers, body = ask(rig, f"GET {path} HTTP/1.1\r\n\r\n".encode())
        assert (status, headers["content-type"]) == (200, "application/json")
        assert json.loads(body)["tenants"]["t-1"]["bytes"] == 1000
    rig.state.caught_up.clear()
    assert ask(rig, b"GET /healthz HTTP/1.1\r\n\r\n")[0] == 503
    assert ask(rig, b"GET /elsewhere HTTP/1.1\r\n\r\n")[::2] == (404, "not found")
    assert ask(rig, b"POST /elsewhere HTTP/1.1\r\n\r\n")[::2] == (404, "not found")


def test_keep_alive_carries_many_calls_and_close_or_http_1_0_ends_the_connection(rig: Rig) -> None:
    with connect(rig) as sock:
        for _ in range(3):
            sock.sendall(status_request(V))
            assert read_answer(sock)[0] == 200
        sock.sendall(status_request(V) + status_request(f"{V}x"))  # pipelined: answered in order
        assert [read_answer(sock)[0] for _ in range(2)] == [200, 404]
        sock.sendall(status_request(V, extra="connection: close\r\n"))
        status, headers, _ = read_answer(sock)
        assert (status, headers["connection"]) == (200, "close") and closed(sock)
    with connect(rig) as sock:
        sock.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        assert read_answer(sock)[0] == 200 and closed(sock)
    with connect(rig) as sock:
        sock.sendall(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        assert read_answer(sock)[1]["connection"] == "keep-alive"
        sock.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        assert read_answer(sock)[0] == 200 and closed(sock)


def test_a_quota_is_stored_under_its_volume_and_the_connection_goes_on(rig: Rig) -> None:
    with connect(rig) as sock:
        sock.sendall(quota_request({"path": V, "bytes": "5242880"}))
        assert read_answer(sock)[::2] == (200, f"quota stored: {V} 5242880 bytes")
        sock.sendall(status_request(V))
        assert read_answer(sock)[0] == 200
    method, path, body, headers = rig.stored[0]
    assert (method, path, body, headers) == (
        "PUT",
        f"/aegis/volumes/.usage/quotas/{V[15:]}",
        b"5242880",
        {QUOTA_HEADER: "5242880"},
    )


def test_a_quota_the_filer_refuses_or_a_bug_gets_one_line_200(rig: Rig) -> None:
    rig.filer_error = URLError("down")
    assert ask(rig, quota_request({"path": V, "bytes": "1"}))[::2] == (
        200,
        "quota not stored: the filer did not take it (URLError)",
    )
    rig.filer_error = ValueError("a bug")
    assert ask(rig, quota_request({"path": V, "bytes": "1"}))[::2] == (
        200,
        "quota not stored: internal error: ValueError",
    )


HOSTILE_QUOTAS = [
    {"path": V, "bytes": "1²"},
    {"path": V, "bytes": "9" * 5000},
    {"path": V, "bytes": "9" * 20},
    {"path": V, "bytes": "9223372036854775808"},  # one past int64
    {"path": V, "bytes": "-1"},
    {"path": V, "bytes": " 5"},
    {"path": V, "bytes": ""},
    {"path": V},
    {"path": f"{V} x", "bytes": "1"},
    {"path": f"{V}\x01", "bytes": "1"},
    {"path": f"{V}?x", "bytes": "1"},
    {"path": f"{V}#x", "bytes": "1"},
    {"path": f"{V}%23x", "bytes": "1"},
    {"path": f"{V}/../x", "bytes": "1"},
    {"path": "/aegis/volumes/.usage/quotas/t", "bytes": "1"},
    {},
]


@pytest.mark.parametrize("fields", HOSTILE_QUOTAS)
def test_a_hostile_quota_gets_the_one_line_refusal_and_stores_nothing(rig: Rig, fields: dict[str, str]) -> None:
    assert ask(rig, quota_request(fields))[::2] == (200, QUOTA_REFUSED)
    assert rig.stored == []


def test_a_quota_body_over_64_kib_is_refused_whole_and_the_connection_stays_in_step(rig: Rig) -> None:
    body = form({"path": V, "bytes": "1", "pad": "p" * MAX_QUOTA_BODY})
    with connect(rig) as sock:
        sock.sendall(quota_request(body=body))
        assert read_answer(sock)[::2] == (200, "quota not stored: request body over 64 KiB")
        sock.sendall(status_request(V))
        assert read_answer(sock)[0] == 200
    assert rig.stored == []


def test_a_body_past_the_discard_bound_is_answered_then_the_connection_closes(rig: Rig) -> None:
    body = form({"path": V, "bytes": "1", "pad": "p" * (MAX_DISCARD + 1)})
    with connect(rig) as sock:
        request = quota_request(body=body)
        head = request[: len(request) - len(body)]
        sock.sendall(head + body[:1000])
        assert read_answer(sock)[::2] == (200, "quota not stored: request body over 64 KiB")
        sock.sendall(body[1000:MAX_DISCARD])  # read and thrown away: no reset while the client still sends
        assert closed(sock)
    assert rig.stored == []


def test_chunked_bodies_and_bad_requests_get_one_line_and_a_close(rig: Rig) -> None:
    with connect(rig) as sock:
        sock.sendall(b"POST /quota HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        status, headers, body = read_answer(sock)
        assert (status, headers["connection"]) == (200, "close") and body.startswith("quota not stored: ")
        assert closed(sock)
    for bad in (b"GARBAGE\r\n\r\n", b"GET /dir/status HTTP/1.1\r\ncontent-length: 1, 2\r\n\r\n"):
        with connect(rig) as sock:
            sock.sendall(bad)
            status, _, body = read_answer(sock)
            assert status in (400, 404) and "\n" not in body and closed(sock)


def test_a_head_over_16_kib_gets_one_line_404_for_the_usage_call(rig: Rig) -> None:
    with connect(rig) as sock:
        sock.sendall(status_request(V, extra=f"x-pad: {'p' * MAX_HEAD}\r\n"))
        status, _, body = read_answer(sock)
        assert status == 404 and body.startswith("usage not answered: ") and closed(sock)
    with connect(rig) as sock:
        sock.sendall(f"GET /healthz HTTP/1.1\r\nx-pad: {'p' * MAX_HEAD}\r\n\r\n".encode())
        assert read_answer(sock)[0] == 431


def test_an_exception_in_the_usage_call_is_a_404_never_a_5xx(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(volume: str) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(rig.state, "status", broken)
    with connect(rig) as sock:
        sock.sendall(status_request(V))
        status, _, body = read_answer(sock)
        assert (status, body) == (404, "usage not answered: internal error: RuntimeError; AEGIS reads this 404 as 0")
        sock.sendall(b"GET /healthz HTTP/1.1\r\n\r\n")  # the connection carries on
        assert read_answer(sock)[0] == 200


def test_a_reset_connection_prints_nothing_and_a_bug_prints_its_traceback(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    # HAProxy's check reads the status line and resets the connection: a line per check would flood the journal.
    for _ in range(3):
        sock = connect(rig)
        sock.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # linger 0: a reset
    assert ask(rig, b"GET /healthz HTTP/1.1\r\n\r\n")[0] == 200
    assert capfd.readouterr().err == ""

    def broken() -> None:
        raise ValueError("a bug")

    monkeypatch.setattr(rig.state, "tenants", broken)
    assert ask(rig, b"GET /tenants HTTP/1.1\r\n\r\n")[::2] == (500, "internal error: ValueError")
    assert "ValueError: a bug" in capfd.readouterr().err


def test_expect_continue_gets_its_interim_answer(rig: Rig) -> None:
    body = form({"path": V, "bytes": "7"})
    with connect(rig) as sock:
        request = quota_request(body=body, extra="expect: 100-continue\r\n")
        sock.sendall(request[: len(request) - len(body)])
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        assert read_answer(sock)[::2] == (200, f"quota stored: {V} 7 bytes")


def test_an_idle_connection_is_closed(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module, "IDLE_S", 0.2)
    monkeypatch.setattr(server_module, "SWEEP_S", 0.1)
    rig.server.call_soon(rig.server.sweep)  # the next sweeps come every 0.1 s
    with connect(rig) as sock:
        sock.sendall(status_request(V))
        assert read_answer(sock)[0] == 200
        started = time.monotonic()
        assert closed(sock)
        assert time.monotonic() - started < 3


def test_connections_past_the_bound_wait_until_one_ends(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module, "MAX_CONNECTIONS", 2)
    first, second = connect(rig), connect(rig)
    for sock in (first, second):
        sock.sendall(status_request(V))
        assert read_answer(sock)[0] == 200
    with connect(rig) as third:
        third.settimeout(0.5)
        third.sendall(status_request(V))
        with pytest.raises(TimeoutError):
            third.recv(1)
        first.close()
        third.settimeout(5)
        assert read_answer(third)[0] == 200
    second.close()


def test_shutdown_from_another_thread_ends_serve_forever() -> None:
    settings = Settings(filers=(), state_dir=Path("/nonexistent"), node="n", base_rules="{}")
    server = make_server(settings, State(), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    idle = socket.create_connection(server.server_address, timeout=5)
    idle.sendall(b"GET /healthz HTTP/1.1\r\n\r\n")
    assert read_answer(idle)[0] == 503  # served: a keep-alive connection now open on the server
    threading.Thread(target=server.shutdown).start()
    thread.join(timeout=5)
    assert not thread.is_alive() and closed(idle)
    idle.close()
    server.server_close()


# --- parsing as the standard library read it --------------------------------------------------------------------

QUERIES = [
    "path=%2Faegis%2Fvolumes%2Ft%2Fv",
    "path=&path=%2Fa",
    "x=1&path=a+b&path=c",
    "pa%74h=z",
    "path",
    "",
    "path=/aegis/volumes/.usage&path=/aegis/volumes/t/v",
    "path=a;b",
]


@pytest.mark.parametrize("query", QUERIES)
def test_the_path_of_a_query_is_the_one_parse_qs_reads(query: str) -> None:
    assert query_path(query) == parse_qs(query).get("path", [""])[0]


@pytest.mark.parametrize("target", ["/dir/status?path=x", "/dir/status#f?path=x", "/a?b#c", "http://h:1/dir/status?x"])
def test_a_target_splits_as_urlsplit_splits_it(target: str) -> None:
    url = urlsplit(target)
    assert split_target(target) == (url.path, url.query)


def test_volume_of_takes_only_what_aegis_sends() -> None:
    assert volume_of(V) == V and volume_of(f"{V}/") == V
    assert volume_of("/aegis/volumes/p-0123abcd/v0") == "/aegis/volumes/p-0123abcd/v0"
    for path in (f"{V} x", f"{V}?x", f"{V}#x", f"{V}%23x", f"{V}%00", f"{V}\n", f"{V}/a", "/aegis/volumes/t/.v"):
        assert volume_of(path) is None, path


def test_quota_bytes_takes_ascii_digits_that_fit_an_int64() -> None:
    assert quota_bytes("5242880") == 5242880 and quota_bytes("9223372036854775807") == 2**63 - 1
    for text in ("1²", "٣", "9" * 5000, "9223372036854775808", "-1", "+1", " 1", "1e3", "0x10", ""):
        assert quota_bytes(text) is None, text
