"""AEGIS's filer calls, sent the way the orchestrator sends them (orchestrator/core/src/infrastructure/storage/
seaweedfs.rs at 59bc51e, reqwest): multipart text fields without a file name, query values form-encoded
(`/` as `%2F`, space as `+`), no Authorization header. Tests and benchmarks replay AEGIS with these.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

import httpx

TIMEOUT = 30.0  # AEGIS's own client timeout


def volume_path(tenant: str = "zaru-consumer", volume_id: str | None = None) -> str:
    return f"/aegis/volumes/{tenant}/{volume_id or uuid.uuid4()}"


def ancestors(path: str) -> list[str]:
    """`/a/b/c` -> `/a`, `/a/b`, `/a/b/c`: what create_directory POSTs, one by one."""
    parts = [p for p in path.split("/") if p]
    return ["/" + "/".join(parts[: depth + 1]) for depth in range(len(parts))]


def form_query(**params: str) -> str:
    """A query string as reqwest's `.query()` writes it (application/x-www-form-urlencoded)."""
    return urlencode(params)


def mkdir_form(client: httpx.Client, base: str, path: str) -> httpx.Response:
    return client.post(f"{base}/dir/", files={"path": (None, path)})


def create_directory(client: httpx.Client, base: str, path: str) -> list[httpx.Response]:
    """`POST /dir/` per ancestor, then `PUT <path>/.keep` (empty): every answer, in order."""
    answers = [mkdir_form(client, base, ancestor) for ancestor in ancestors(path)]
    answers.append(client.put(f"{base}{path.rstrip('/')}/.keep", content=b""))
    return answers


def set_quota(client: httpx.Client, base: str, path: str, size_bytes: int) -> httpx.Response:
    return client.post(f"{base}/quota", files={"path": (None, path), "bytes": (None, str(size_bytes))})


def get_usage(client: httpx.Client, base: str, path: str) -> httpx.Response:
    return client.get(f"{base}/dir/status?{form_query(path=path)}", headers={"Accept": "application/json"})


def delete_directory(client: httpx.Client, base: str, path: str) -> httpx.Response:
    return client.delete(f"{base}/dir/?{form_query(path=path, recursive='true')}")


def read_at(client: httpx.Client, base: str, path: str, offset: int, length: int) -> httpx.Response:
    return client.get(f"{base}{path}", headers={"Range": f"bytes={offset}-{offset + length - 1}"})
