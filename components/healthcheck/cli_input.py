"""What the CLI checks before it probes anything, and how it keeps credentials out of what it prints.

`Target` accepts any URL `urlsplit` can read; the network stack is stricter, and a URL it refuses would
surface mid-check as an exception (httpx.InvalidURL for a host IDNA cannot encode, UnicodeError from the
socket layer for `a..b`, a control character in the request line). `target_problem` refuses those up
front, so bad input is a usage error and never a crash inside a probe.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import httpx

from components.healthcheck.target import Target

MASK = "***"
# Target fields holding URLs (admin_url is optional: the field may not exist on every version of Target).
_URL_FIELDS = ("filer_url", "admin_url", "master_urls", "filer_addresses", "volume_server_urls", "s3_endpoint")
# Unicode categories that must not appear in a URL or key: controls, format characters, surrogates,
# unassigned code points, and line/paragraph separators (which split one line of output into two).
_UNPRINTABLE = ("C", "Zl", "Zp", "Zs")
# Userinfo in any URL-shaped text: scheme://user:password@ (the password may itself hold "@").
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#:@'\"]*):[^\s/?#'\"]*@")


def url_problem(url: str) -> str | None:
    """Why the HTTP stack would refuse `url`, or None: the checks `Target` leaves to the network stack."""
    bad = [char for char in url if unicodedata.category(char).startswith(_UNPRINTABLE)]
    if bad:
        return f"{mask(url)!r} holds a space or control character ({bad[0]!a})"
    try:
        parts = urlsplit(url)
        port = parts.port
        parsed = httpx.URL(url)
        # The socket layer encodes the host with Python's IDNA codec, which refuses empty or long labels
        # ("a..b") that httpx lets through; encode it here the same way.
        parsed.raw_host.decode("ascii").encode("idna")
        host = parsed.host  # decodes an xn-- label, and refuses a malformed one
    except (ValueError, httpx.InvalidURL) as exc:  # UnicodeError and idna.IDNAError are ValueErrors
        return f"{mask(url)!r} is not a URL the health check can reach: {exc}"
    if parts.scheme not in ("http", "https") or not parts.hostname or not host:
        return f"{mask(url)!r} is not an http(s)://host[:port] URL"
    if port is not None and not 1 <= port <= 65535:
        return f"{mask(url)!r} has a port outside 1-65535"
    return None


def key_problem(name: str, value: str) -> str | None:
    """S3 keys and the region go into a signed header as ASCII: anything else would fail inside the probe."""
    if all("!" <= char <= "~" for char in value):
        return None
    return f"{name} must be printable ASCII without spaces"


def target_problem(target: Target) -> str | None:
    """The first URL, volume server or S3 setting of `target` the HTTP stack would refuse, or None."""
    urls = list(_urls(target))
    # With no volume server URLs the checks read http://<server>/status for each expected volume server.
    urls += [f"http://{server}" for server in target.expected_volume_servers]
    for url in urls:
        if problem := url_problem(url):
            return problem
    for server in target.expected_volume_servers:
        if "@" in server:  # the master names volume servers host:port; credentials there could never match
            return f"volume server {mask(server, passwords_in([server]))!r} must be host:port, without credentials"
    keys = {"the S3 access key": target.s3_access_key, "the S3 secret key": target.s3_secret_key}
    keys["the S3 region"] = target.s3_region
    return next((problem for name, value in keys.items() if (problem := key_problem(name, value))), None)


def _urls(target: Target) -> Iterator[str]:
    for name in _URL_FIELDS:
        value = getattr(target, name, None)
        if isinstance(value, str):
            yield value
        elif isinstance(value, tuple):
            yield from value


def passwords_in(values: Iterable[Any]) -> set[str]:
    """The passwords of every URL among `values` (strings, and the strings inside JSON lists and objects)."""
    found: set[str] = set()
    stack = list(values)
    while stack:  # iterative: a stack-outputs document may nest deeper than the recursion limit
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str) and "@" in value:
            found.update(_password(value))
    return found


def _password(text: str) -> set[str]:
    # Each word may hold a URL (`--filer-url=http://user:password@host`) or a bare `user:password@host`.
    found = set()
    for word in text.split():
        try:
            found.add(urlsplit("//" + word.split("://", 1)[-1]).password or "")
        except ValueError:
            continue
    return found - {""}


def mask(text: str, passwords: Iterable[str] = ()) -> str:
    """`text` with the password of every URL in it replaced by ***: `http://user:***@host`.

    Known passwords are replaced in every spelling a report may carry (as typed, percent-decoded or
    encoded, JSON-escaped), which also covers bare `user:password@host` addresses in the table; the pattern
    covers any other URL."""
    for password in sorted(passwords, key=len, reverse=True):
        for spelling in {password, unquote(password), quote(password, safe=""), json.dumps(password)[1:-1]}:
            text = text.replace(f":{spelling}@", f":{MASK}@")
    return _USERINFO.sub(lambda found: f"{found.group('head')}:{MASK}@", text)


def one_line(text: str) -> str:
    """`text` on one line: line breaks and other control characters escaped, so an error is one line."""
    return "".join(
        ascii(char)[1:-1] if unicodedata.category(char).startswith(("C", "Zl", "Zp")) else char for char in text
    )
