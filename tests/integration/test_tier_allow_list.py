"""Adversarial requests against AEGIS's filer URL, on the real dev and HA tiers (weed, HAProxy, PostgreSQL on loopback).

The tier lets through AEGIS's calls only (components/model/aegis/calls.py). Every request here is one AEGIS never
sends: the filer's own API, other paths and tenants, encodings that a filer would read as a different path,
methods and bodies AEGIS does not use, and header tricks. Each must be refused with 400, 403 or 413 and one
line, no filer may see it (the filers backend's session count does not move), and no file on the filers may
change. Requests go over a raw socket, byte for byte, so no client library normalizes them first. The admin
frontend's sources are the network's job (tests/unit/aws/test_security_matrix.py for prod's security groups,
tests/unit/docker/test_dev_program.py for dev's 127.0.0.1), so here it only serves the setup and the checks.
"""

from __future__ import annotations

import contextlib
import csv
import io
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from components.model.aegis import calls
from components.model.aegis.layout import volume_path
from components.model.haproxy import admin_url
from tests.support.tiers import TIERS, healthy_target, running_tier

pytestmark = pytest.mark.integration

DEV_SUBNET = "127.0.47"
HA_SUBNET = "127.0.48"
TENANT, OTHER = "victim-a", "victim-b"
VOLUME_ID, OTHER_VOLUME_ID = "0b7e2c1a-0000-4000-8000-00000000a11a", "0b7e2c1a-0000-4000-8000-00000000b22b"
V = volume_path(TENANT, VOLUME_ID)
W = volume_path(OTHER, OTHER_VOLUME_ID)
# Outside AEGIS's volumes, where the filer keeps its own state or S3 and MQ keep theirs.
ELSEWHERE = ("/etc/seaweedfs/filer.conf", "/topics/victim/t.txt", "/buckets/victim/b.txt", "/victim-root.txt")
BODY_OVER_LIMIT = calls.MAX_BODY_BYTES + 1
# The filers' own metadata logs, which grow by themselves every minute.
FILER_LOGS = "/topics/.system"
# More than HAProxy's 16 KiB buffer: with http-buffer-request it decides once the buffer is full.
BODY_SENT = 64 * 1024


@dataclass(frozen=True)
class Case:
    label: str
    raw: bytes  # the request line and headers, without the final CRLF CRLF
    body: bytes = b""
    expected: tuple[int, ...] = (403,)


def request(method: str, target: str, *headers: str, body: bytes = b"", length: int | None = None) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: filer", *headers]
    if length is not None or body:
        lines.append(f"Content-Length: {len(body) if length is None else length}")
    return "\r\n".join(lines).encode()


def case(label: str, method: str, target: str, *headers: str, expected: tuple[int, ...] = (403,), **kw) -> Case:
    body = kw.get("body", b"")
    return Case(label, request(method, target, *headers, **kw), body, expected)


def dir_delete(path: str, recursive: str = "true") -> str:
    return f"/dir/?path={path}&recursive={recursive}"


CASES = [
    # Whole trees: the volumes root, a tenant, /aegis, through AEGIS's delete form and the filer's own.
    case("AEGIS delete of the volumes root", "DELETE", dir_delete("%2Faegis%2Fvolumes")),
    case("AEGIS delete of a tenant", "DELETE", dir_delete(f"%2Faegis%2Fvolumes%2F{TENANT}")),
    case("AEGIS delete of /aegis", "DELETE", dir_delete("%2Faegis")),
    case("AEGIS delete climbing out of a volume", "DELETE", dir_delete(f"{V}%2F..%2F..%2F{OTHER}")),
    case("AEGIS delete with encoded dots", "DELETE", dir_delete(f"{V}%2F%2E%2E%2F%2e%2e")),
    case("AEGIS delete, not recursive", "DELETE", dir_delete(V, "false")),
    case("AEGIS delete, ; in the query", "DELETE", f"/dir/?path={V};/../../x&recursive=true"),
    case("native recursive delete of the volumes root", "DELETE", "/aegis/volumes?recursive=true"),
    case("native recursive delete of a tenant", "DELETE", f"/aegis/volumes/{TENANT}?recursive=true"),
    case("native recursive delete of /aegis", "DELETE", "/aegis?recursive=true"),
    case("native recursive delete of a volume", "DELETE", f"{V}?recursive=true"),
    case("plain delete of a tenant folder", "DELETE", f"/aegis/volumes/{TENANT}"),
    # The filer's own API and state.
    case("read the filer rules", "GET", "/etc/seaweedfs/filer.conf"),
    case("overwrite the filer rules", "PUT", "/etc/seaweedfs/filer.conf", body=b"{}"),
    case("delete the filer rules", "DELETE", "/etc/seaweedfs/filer.conf"),
    case("list /topics", "GET", "/topics/", "Accept: application/json"),
    case("write under /topics", "PUT", "/topics/victim/x.txt", body=b"x"),
    case("write under /buckets", "PUT", "/buckets/victim/x.txt", body=b"x"),
    case("list the filer root with a query", "GET", "/?pretty=y"),
    case("list the tenants", "GET", "/aegis/volumes/", "Accept: application/json"),
    case("list another tenant's volumes", "GET", f"/aegis/volumes/{OTHER}/", "Accept: application/json"),
    case("entry metadata", "GET", f"{V}/a.txt?metadata=true"),
    case("pretty listing", "GET", f"{V}/?pretty=y"),
    case("server-side move from another tenant", "POST", f"{V}/stolen.txt?mv.from={W}/b.txt", body=b"x"),
    case("write into another collection", "PUT", f"{V}/c.txt?collection=other", body=b"x"),
    case("write with a TTL", "PUT", f"{V}/t.txt?ttl=1m", body=b"x"),
    case("GET /dir/ listing", "GET", "/dir/", "Accept: application/json"),
    case("POST /dir/ without a form", "POST", "/dir/", body=b"path=/aegis"),
    case("HEAD of the root", "HEAD", "/"),
    # HAProxy itself refuses an authority that differs from the Host header (400).
    case("absolute-form target", "GET", "http://filer:8888/etc/seaweedfs/filer.conf", expected=(400, 403)),
    # Paths a filer would read differently from the tier: dot segments, encoded separators, doubled slashes.
    case("raw dot segments", "PUT", f"{V}/../../{OTHER}/{OTHER_VOLUME_ID}/b.txt", body=b"x"),
    case("encoded dot segments", "PUT", f"{V}/%2e%2e/%2E%2E/{OTHER}/{OTHER_VOLUME_ID}/b.txt", body=b"x"),
    case("single encoded dot segment", "GET", f"{V}/%2e/a.txt"),
    case("encoded slash", "GET", f"{V}/..%2f..%2f..%2f..%2fetc%2fseaweedfs%2ffiler.conf"),
    case("encoded slash, upper case", "DELETE", f"{V}/x%2F..%2F..%2F{OTHER}"),
    case("doubled slash inside a volume", "PUT", f"{V}//a.txt", body=b"x"),
    case("doubled slash at the start", "GET", f"/{V}/a.txt"),
    case("doubled slash before the tenant", "GET", f"/aegis/volumes//{TENANT}/{VOLUME_ID}/a.txt"),
    case("backslashes", "PUT", f"{V}\\..\\..\\{OTHER}\\x", body=b"x", expected=(400, 403)),
    case("encoded backslashes", "PUT", f"{V}/%5c..%5c..%5cx", body=b"x"),
    case("encoded NUL", "PUT", f"{V}/a%00.txt", body=b"x"),
    case("encoded newline", "PUT", f"{V}/a%0a.txt", body=b"x"),
    # Tenants and volumes AEGIS's own validation rejects.
    case("upper-case tenant", "PUT", f"/aegis/volumes/Victim-A/{VOLUME_ID}/x", body=b"x"),
    case("tenant with a leading hyphen", "PUT", f"/aegis/volumes/-victim/{VOLUME_ID}/x", body=b"x"),
    case("tenant with an underscore", "PUT", f"/aegis/volumes/victim_a/{VOLUME_ID}/x", body=b"x"),
    case("tenant of 64 characters", "PUT", f"/aegis/volumes/{'t' * 64}/{VOLUME_ID}/x", body=b"x"),
    case("volume that is no UUID", "PUT", f"/aegis/volumes/{TENANT}/vol-abc/x", body=b"x"),
    case("upper-case UUID", "PUT", f"/aegis/volumes/{TENANT}/{VOLUME_ID.upper()}/x", body=b"x"),
    case("file right in a tenant folder", "PUT", f"/aegis/volumes/{TENANT}/x.txt", body=b"x"),
    # Methods AEGIS never sends.
    case("PATCH", "PATCH", f"{V}/a.txt", body=b"x"),
    case("MKCOL", "MKCOL", f"{V}/newdir"),
    case("PROPFIND", "PROPFIND", f"{V}/", "Depth: 1"),
    case("OPTIONS *", "OPTIONS", "*", expected=(400, 403)),
    case("OPTIONS of a file", "OPTIONS", f"{V}/a.txt"),
    case("TRACE", "TRACE", f"{V}/a.txt"),
    # Bodies: over 100 MiB, chunked, smuggled.
    Case(
        "body over 100 MiB",
        request("PUT", f"{V}/big.bin", length=BODY_OVER_LIMIT),
        b"\0" * BODY_SENT,
        (413,),
    ),
    Case(
        "mkdir form over 100 MiB",
        request("POST", "/dir/", "Content-Type: multipart/form-data; boundary=b", length=BODY_OVER_LIMIT),
        b"\0" * BODY_SENT,
        (413,),
    ),
    case("chunked body", "PUT", f"{V}/chunked.bin", "Transfer-Encoding: chunked", expected=(400,)),
    Case(
        "Transfer-Encoding with Content-Length",
        request("PUT", f"{V}/smuggled.bin", "Transfer-Encoding: chunked", length=5),
        b"0\r\n\r\nGET /etc/seaweedfs/filer.conf HTTP/1.1\r\nHost: filer\r\n\r\n",
        (400,),
    ),
    Case(
        "two different Content-Lengths",
        request("PUT", f"{V}/two.bin", "Content-Length: 1", length=40),
        b"x" * 40,
        (400,),
    ),
    case(
        "Transfer-Encoding, space before the colon",
        "PUT",
        f"{V}/te.bin",
        "Transfer-Encoding : chunked",
        expected=(400,),
    ),
]


def send(host: str, port: int, item: Case) -> tuple[int, str]:
    """One request on its own connection, byte for byte; the status and the body's first line."""
    head = item.raw + b"\r\nConnection: close\r\n\r\n"
    if item.label == "chunked body":
        head += b"1\r\nx\r\n0\r\n\r\n"
    with socket.create_connection((host, port), timeout=10) as conn:
        # HAProxy may answer and close before the whole body is sent, and reset what it did not read.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            conn.sendall(head + item.body)
        answer = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := conn.recv(65536):
                answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    body = rest.partition(b"\r\n\r\n")[2].decode(errors="replace")
    return int(status_line.split()[1]), body.splitlines()[0] if body else ""


@dataclass
class Tier:
    host: str
    port: int
    stats: str
    admin: str

    def backend_sessions(self) -> int:
        """Sessions the filers backend has carried (HAProxy's stot): a refused request adds none."""
        text = httpx.get(f"{self.stats}/stats;csv", timeout=5).text.lstrip("# ")
        rows = csv.DictReader(io.StringIO(text))
        return next(int(r["stot"]) for r in rows if r["pxname"] == "filers" and r["svname"] == "BACKEND")

    def files(self) -> dict[str, int]:
        """Every file on the filers (path -> size), read through the admin frontend; directories are left
        out, since the filer's empty-folder cleanup may remove an empty one at any time."""
        found: dict[str, int] = {}
        pending = ["/"]
        with httpx.Client(base_url=self.admin, timeout=10, headers={"Accept": "application/json"}) as client:
            while pending:
                listing = client.get(pending.pop(), params={"limit": 10_000}).json()
                for entry in listing.get("Entries") or []:
                    if entry["FullPath"].startswith(FILER_LOGS):
                        continue
                    if entry.get("Mode", 0) & 0o20000000000:  # os.ModeDir
                        pending.append(f"{entry['FullPath']}/")
                    else:
                        found[entry["FullPath"]] = entry.get("FileSize", 0)
        return found


@pytest.fixture(scope="module", params=TIERS)
def tier(request, tmp_path_factory) -> Iterator[Tier]:
    root: Path = tmp_path_factory.mktemp(f"allow-{request.param}")
    with running_tier(request.param, root, DEV_SUBNET if request.param == "dev" else HA_SUBNET) as cluster:
        healthy_target(cluster)
        lb = cluster.topology.load_balancers[0]
        yield Tier(lb.host, lb.port, f"http://{lb.host}:{lb.stats_port}", admin_url(lb.host))


def test_every_adversarial_request_is_refused_before_any_filer_and_nothing_changes(tier: Tier):
    assert len(CASES) >= 40
    with httpx.Client(timeout=30) as client:
        for path in (f"{V}/a.txt", f"{W}/b.txt", f"{V}/.keep", f"{W}/.keep", *ELSEWHERE[1:]):
            assert client.put(f"{tier.admin}{path}", content=f"victim {uuid.uuid4()}".encode()).status_code == 201
        rules = client.get(f"{tier.admin}{ELSEWHERE[0]}").content
    before, sessions = tier.files(), tier.backend_sessions()
    assert set(ELSEWHERE) <= set(before)

    outcomes = {item.label: send(tier.host, tier.port, item) for item in CASES}
    expected = {item.label: item.expected for item in CASES}
    wrong = {label: got for label, got in outcomes.items() if got[0] not in expected[label]}
    assert not wrong, wrong
    # HAProxy's own refusals (malformed requests) carry its HTML page; every rule's answer is one line of ours.
    ours = {label: line for label, (status, line) in outcomes.items() if line.startswith("refused:")}
    assert all("\n" not in line for line in ours.values())
    assert len(ours) >= 40, outcomes

    assert tier.backend_sessions() == sessions, "a refused request reached a filer"
    assert tier.files() == before
    assert httpx.get(f"{tier.admin}{ELSEWHERE[0]}", timeout=10).content == rules


def test_aegis_own_calls_still_pass_after_the_refusals(tier: Tier):
    with httpx.Client(base_url=f"http://{tier.host}:{tier.port}", timeout=30) as client:
        assert client.get("/").status_code == 200
        assert client.put(f"{V}/after.txt", content=b"still works").status_code == 201
        assert client.get(f"{V}/after.txt", headers={"Range": "bytes=0-4"}).content == b"still"
        assert client.head(f"{V}/after.txt").status_code == 200
        # rename's copy (a raw-body POST) passes the tier; weed 4.48 itself answers it 500 (it wants a form).
        renamed = client.post(f"{V}/renamed.txt", content=b"copy")
        assert renamed.status_code in (200, 201, 500) and not renamed.text.startswith("refused"), renamed.text
        assert client.delete(f"{V}/after.txt").status_code == 204
        mkdir = client.post("/dir/", files={"path": (None, f"{V}/sub"), "x": ("evil.txt", b"payload")})
        assert mkdir.status_code == 201
    # The mkdir form is answered by the tier: not even a file part of it reaches a filer.
    assert httpx.get(f"{tier.admin}/dir/evil.txt", timeout=10).status_code == 404
