"""A fake SeaweedFS cluster served by httpx.MockTransport: masters, a volume server, a filer and the S3 gateway.

The fake answers the way weed 4.48 does (bodies copied from a running cluster): `/cluster/status` leaves out
`Leader` when there is none and lists only the *other* masters in `Peers`; master addresses read
"host:port.grpcPort"; empty topology levels are null. Tests set its fields to break one part and read
`calls` and `files` to see what a check did; `make_target` points the health check at it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import httpx

from components.healthcheck import CheckResult, Report, Target
from components.healthcheck.metadata_log import LOG_DIR

FILER = "127.0.9.3:8888"
MASTER = "127.0.9.1:9333"
VOLUME = "127.0.9.2:8080"
S3 = "127.0.9.4:8333"
ADMIN = "127.0.9.3:8889"  # the tier's admin frontend: the filer's native API, /topics included
ACCESS_KEY = "AKIDHEALTH"
NOW_DATE = "Tue, 24 Nov 2026 21:30:00 GMT"  # the filer's clock, as its Date header reports it
NOW_CRTIME = "2026-11-24T21:30:00Z"


@dataclass
class FakeCluster:
    """Mutable state of one fake SeaweedFS cluster; `handle` is the MockTransport handler."""

    leaders: dict[str, str] = field(default_factory=lambda: {MASTER: f"{MASTER}.19333"})
    peers: dict[str, list[str]] = field(default_factory=dict)
    data_nodes: list[str] = field(default_factory=lambda: [VOLUME])
    volumes: dict[int, list[str]] = field(default_factory=lambda: {1: [VOLUME]})  # volume id -> its holders
    placement: dict[str, int] = field(default_factory=dict)  # ReplicaPlacement as weed writes it: 010 = {"rack": 1}
    used_slots: int = 0
    percent_free: float = 50.0
    filer_health: int = 200
    put_status: int = 201
    corrupt_reads: bool = False
    s3_status: int = 200
    s3_sees_aegis_data: bool = True
    unreachable: set[str] = field(default_factory=set)
    timing_out: set[str] = field(default_factory=set)
    # False: a filer without the HTTP tier's rewrite, which answers AEGIS's delete with 204 and deletes nothing.
    aegis_delete_rewritten: bool = True
    files: dict[str, bytes] = field(default_factory=dict)
    # The filers' metadata log: day folder ("2026-11-24") -> file ("21-30.69dad7f4") -> bytes. AEGIS's filer
    # URL (FILER) refuses /topics as the tier does; the admin frontend (ADMIN) lists it.
    metadata_log: dict[str, dict[str, int]] = field(default_factory=dict)
    created: dict[str, str] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        host, path = request.url.netloc.decode(), request.url.path
        self.calls.append((request.method, f"{host}{path}"))
        if host in self.unreachable:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        if host in self.timing_out:
            raise httpx.ReadTimeout("timed out", request=request)
        if host == S3:
            return self._s3(request)
        if host in self.leaders:
            return self._master(host, path)
        if host in self.data_nodes:
            return self._volume_server(path)
        return self._filer(request)

    def _volume_server(self, path: str) -> httpx.Response:
        if path != "/status":
            return httpx.Response(404)
        disk = {"dir": "/data", "all": 1000, "used": 1000 - 10 * self.percent_free, "percent_free": self.percent_free}
        return httpx.Response(200, json={"DiskStatuses": [disk], "Version": "8000GB 4.48 pypi", "Volumes": []})

    def _vol_status(self) -> dict[str, Any]:
        """/vol/status: DataCenters -> rack -> server -> volumes, zero ReplicaPlacement digits left out."""
        servers = {
            node: [{"Id": vid, "Collection": "", "ReplicaPlacement": self.placement or None} for vid in sorted(vids)]
            for node in self.data_nodes
            if (vids := [vid for vid, holders in self.volumes.items() if node in holders])
        }
        return {
            "Version": "8000GB 4.48 pypi",
            "Volumes": {"DataCenters": {"DefaultDataCenter": {"DefaultRack": servers}}},
        }

    def _master(self, host: str, path: str) -> httpx.Response:
        leader = self.leaders[host]
        if path == "/cluster/healthz":
            return httpx.Response(200 if leader else 503)
        if path == "/cluster/status":
            status: dict[str, Any] = {}
            if leader:
                status["Leader"] = leader
                status["IsLeader"] = leader.startswith(host)
            if self.peers.get(host):
                status["Peers"] = self.peers[host]
            return httpx.Response(200, json=status)
        if path == "/dir/status":
            nodes = [{"Url": n, "PublicUrl": n, "Volumes": self.used_slots, "Max": 8} for n in self.data_nodes] or None
            racks = [{"Id": "DefaultRack", "DataNodes": nodes}]
            topology = {"Max": 8, "Free": 8, "DataCenters": [{"Id": "DefaultDataCenter", "Racks": racks}]}
            return httpx.Response(200, json={"Topology": topology, "Version": "8000GB 4.48 pypi"})
        if path == "/vol/status":
            return httpx.Response(200, json=self._vol_status())
        return httpx.Response(404)

    def _filer(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/healthz":
            return httpx.Response(self.filer_health)
        if path.startswith("/topics/"):
            return self._log_listing(path) if request.url.netloc.decode() == ADMIN else httpx.Response(403)
        if request.method == "PUT":
            if self.put_status < 300:
                self.files[path] = request.content
                self.created[path] = NOW_CRTIME
            return httpx.Response(self.put_status)
        if request.method == "POST" and path == "/dir/":
            return httpx.Response(201)  # the filer makes an empty /dir whatever the form says
        if request.method == "DELETE":
            return self._delete(request)
        if request.method == "GET" and path.endswith("/"):
            return self._listing(path)
        if request.method in ("GET", "HEAD") and path in self.files:
            return self._read(request, self.files[path])
        return httpx.Response(404)

    def _listing(self, path: str) -> httpx.Response:
        entries = [
            {"FullPath": name, "Crtime": self.created[name], "FileSize": len(body)}
            for name, body in list(self.files.items())  # other probes write concurrently
            if name.startswith(path)
        ]
        if not entries and path != "/.aegis-healthcheck/":
            return httpx.Response(404)
        return httpx.Response(200, json={"Path": path[:-1], "Entries": entries or None}, headers={"Date": NOW_DATE})

    def _log_listing(self, path: str) -> httpx.Response:
        """A folder of the metadata log as the filer lists it: the day folders, or one day's files (one page)."""
        folder = path.rstrip("/")
        if folder == LOG_DIR and self.metadata_log:
            entries = [{"FullPath": f"{LOG_DIR}/{day}", "FileSize": 0, "Mode": 2147484141} for day in self.metadata_log]
        elif folder.startswith(f"{LOG_DIR}/") and (day := folder.removeprefix(f"{LOG_DIR}/")) in self.metadata_log:
            files = self.metadata_log[day].items()
            entries = [{"FullPath": f"{folder}/{name}", "FileSize": size, "Mode": 420} for name, size in files]
        else:
            return httpx.Response(404)
        last = entries[-1]["FullPath"].rsplit("/", 1)[-1] if entries else ""
        body = {"Path": folder, "Entries": entries or None, "LastFileName": last, "ShouldDisplayLoadMore": False}
        return httpx.Response(200, json=body)

    def _read(self, request: httpx.Request, body: bytes) -> httpx.Response:
        if self.corrupt_reads:
            body = bytes([body[0] ^ 1]) + body[1:]
        if request.method == "HEAD":
            return httpx.Response(200, headers={"Content-Length": str(len(body))})
        if found := re.fullmatch(r"bytes=(\d+)-(\d+)", request.headers.get("Range", "")):
            return httpx.Response(206, content=body[int(found.group(1)) : int(found.group(2)) + 1])
        return httpx.Response(200, content=body)

    def _delete(self, request: httpx.Request) -> httpx.Response:
        path, query = request.url.path, dict(request.url.params)
        if path == "/dir/" and query.get("recursive") == "true":
            # AEGIS's form: the tier rewrites it into the recursive delete below, a bare filer ignores path=.
            if not self.aegis_delete_rewritten:
                return httpx.Response(204)
            path = query["path"]
        if query.get("recursive") == "true":
            for name in [n for n in list(self.files) if n.startswith(path.rstrip("/") + "/")]:
                del self.files[name]
            return httpx.Response(204)
        if path in self.files:
            del self.files[path]
            return httpx.Response(204)
        if request.method == "DELETE" and request.url.params.get("recursive") == "true":
            for name in [name for name in self.files if name.startswith(f"{path}/")]:
                del self.files[name]
            return httpx.Response(204)
        return httpx.Response(404)

    def _s3(self, request: httpx.Request) -> httpx.Response:
        signed = request.headers.get("Authorization", "").startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/")
        bucket = request.url.path.strip("/")
        if (bucket and not re.fullmatch(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", bucket)) or not signed:
            return httpx.Response(400)
        if self.s3_status == 403:
            return httpx.Response(403, text="<Error><Code>SignatureDoesNotMatch</Code></Error>")
        if not bucket:
            return httpx.Response(self.s3_status, text="<ListAllMyBucketsResult/>")
        # The gateway serves the filer's buckets folder /aegis/volumes: bucket `<tenant>` is /aegis/volumes/<tenant>/.
        folder = f"/aegis/volumes/{bucket}/"
        prefix = f"{folder}{request.url.params['prefix']}"
        keys = [name.removeprefix(folder) for name in self.files if name.startswith(prefix)]
        contents = "".join(f"<Contents><Key>{key}</Key></Contents>" for key in keys if self.s3_sees_aegis_data)
        return httpx.Response(200, text=f"<ListBucketResult><Name>{bucket}</Name>{contents}</ListBucketResult>")

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)


def make_target(**changes: Any) -> Target:
    """A health check target for the fake cluster: one master, one volume server, the filer and S3."""
    values: dict[str, Any] = {
        "filer_url": f"http://{FILER}",
        "master_urls": (f"http://{MASTER}",),
        "expected_masters": 1,
        "expected_volume_servers": (VOLUME,),
        "s3_endpoint": f"http://{S3}",
        "s3_access_key": ACCESS_KEY,
        "s3_secret_key": "secret",
    }
    return Target(**(values | changes))


def failure(report: Report, component: str, check: str) -> CheckResult:
    """The one failed check `check` of `component` in `report`."""
    matches = [r for r in report.failures() if (r.component, r.check) == (component, check)]
    assert len(matches) == 1, report.table()
    return matches[0]
