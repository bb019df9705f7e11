"""The stdlib SigV4 signer must produce exactly botocore's Authorization header for the same request and clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from components.healthcheck.sigv4 import EMPTY_PAYLOAD_SHA256, sign_get

NOW = datetime(2026, 11, 24, 21, 5, 27, tzinfo=UTC)
CREDENTIALS = Credentials("AKIDHEALTH", "s3cr3t/with+chars")


def botocore_headers(auth_class: type[SigV4Auth], url: str, region: str, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: NOW)
    # Plain SigV4Auth only signs the payload hash if the header is present; S3 requires it, so set it as S3 clients do.
    request = AWSRequest(method="GET", url=url, headers={"X-Amz-Content-SHA256": EMPTY_PAYLOAD_SHA256})
    auth_class(CREDENTIALS, "s3", region).add_auth(request)
    return dict(request.headers.items())


@pytest.mark.parametrize("auth_class", [SigV4Auth, S3SigV4Auth])
@pytest.mark.parametrize(
    ("url", "region"),
    [
        ("http://127.0.9.4:8333/", "us-east-1"),
        ("https://s3.example.internal/", "eu-west-1"),
        ("http://127.0.9.4:80/", "us-east-1"),
    ],
)
def test_list_buckets_matches_botocore(
    auth_class: type[SigV4Auth], url: str, region: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = botocore_headers(auth_class, url, region, monkeypatch)
    ours = sign_get(url, CREDENTIALS.access_key, CREDENTIALS.secret_key, region, now=NOW)

    assert ours["Authorization"] == expected["Authorization"]
    assert ours["X-Amz-Date"] == expected["X-Amz-Date"] == "20261124T210527Z"
    assert ours["X-Amz-Content-SHA256"] == expected["X-Amz-Content-SHA256"]


def test_path_and_query_match_botocore(monkeypatch: pytest.MonkeyPatch) -> None:
    # botocore takes the URL's query as already encoded and only sorts it, so hand it the canonical form.
    url = "http://127.0.9.4:8333/bucket-1/a%20b.txt?prefix=x%2By&a-b=2&a=1&list-type=2"
    expected = botocore_headers(S3SigV4Auth, url, "us-east-1", monkeypatch)

    assert sign_get(url, "AKIDHEALTH", "s3cr3t/with+chars", "us-east-1", now=NOW) == {
        "Host": "127.0.9.4:8333",
        "X-Amz-Date": expected["X-Amz-Date"],
        "X-Amz-Content-SHA256": EMPTY_PAYLOAD_SHA256,
        "Authorization": expected["Authorization"],
    }


def test_default_port_is_left_out_of_host() -> None:
    assert sign_get("https://s3.example.internal:443/", "k", "s", "us-east-1", now=NOW)["Host"] == "s3.example.internal"


def test_a_different_secret_changes_the_signature() -> None:
    first = sign_get("http://127.0.9.4:8333/", "k", "one", "us-east-1", now=NOW)["Authorization"]
    second = sign_get("http://127.0.9.4:8333/", "k", "two", "us-east-1", now=NOW)["Authorization"]

    assert first.split("Signature=")[0] == second.split("Signature=")[0]
    assert first != second
