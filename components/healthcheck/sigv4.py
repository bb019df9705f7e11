"""AWS Signature Version 4 for the requests the health check signs: body-less S3 GETs (ListBuckets, ListObjectsV2).

Standard library only, so the check runs wherever Python and httpx do; botocore is far too heavy a dependency
for one header.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from urllib.parse import SplitResult, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_PAYLOAD_SHA256 = hashlib.sha256(b"").hexdigest()
_DEFAULT_PORTS = {"http": 80, "https": 443}


def sign_get(
    url: str,
    access_key: str,
    secret_key: str,
    region: str,
    service: str = "s3",
    now: datetime | None = None,
) -> dict[str, str]:
    """Return the headers that authenticate a GET of `url` without a body.

    `url` must be percent-encoded exactly as it goes on the wire: its path and query are signed as they are.
    `now` must be timezone-aware (default: the current time). The result includes `Host`: send it as given,
    because the signature covers it and HTTP clients differ on whether they spell out default ports.
    """
    parts = urlsplit(url)
    amz_date = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    signed = {"host": _host(parts), "x-amz-content-sha256": EMPTY_PAYLOAD_SHA256, "x-amz-date": amz_date}
    signed_names = ";".join(sorted(signed))
    canonical_request = "\n".join(
        [
            "GET",
            parts.path or "/",
            _canonical_query(parts.query),
            "".join(f"{name}:{signed[name]}\n" for name in sorted(signed)),
            signed_names,
            EMPTY_PAYLOAD_SHA256,
        ]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()])
    key = f"AWS4{secret_key}".encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return {
        "Host": signed["host"],
        "X-Amz-Date": amz_date,
        "X-Amz-Content-SHA256": EMPTY_PAYLOAD_SHA256,
        "Authorization": (
            f"{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={signed_names}, Signature={signature}"
        ),
    }


def _host(parts: SplitResult) -> str:
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host


def _canonical_query(query: str) -> str:
    # Sort (key, value) pairs, not "key=value" strings: "a-b=1" sorts before "a=1" as a string but after it as a key.
    pairs = sorted((key, value) for key, _, value in (pair.partition("=") for pair in query.split("&") if pair))
    return "&".join(f"{key}={value}" for key, value in pairs)
