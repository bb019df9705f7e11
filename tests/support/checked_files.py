"""Files a load writes whose bytes follow from their path, so any of them can be checked without keeping it."""

from __future__ import annotations

import hashlib

import httpx


def body(path: str) -> bytes:
    """4 KiB derived from the path."""
    return (hashlib.sha256(path.encode()).digest() * 128)[:4096]


def reads_back(client: httpx.Client, url: str, path: str) -> bool:
    """Whether `url` answers 200 with `path`'s bytes; False for any other answer or no answer."""
    try:
        got = client.get(url)
    except httpx.HTTPError:
        return False
    return got.status_code == 200 and got.content == body(path)
