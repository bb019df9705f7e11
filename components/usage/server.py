"""The usage service's HTTP side: AEGIS's `GET /dir/status` and `POST /quota`, as the tier routes them here, and
`GET /tenants` for operators (the tier's admin port passes its `/.usage/tenants` here unchanged)."""

from __future__ import annotations

import json
import sys
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from components.usage.quotas import QUOTA_HEADER, quota_file, volume_of
from components.usage.service import Settings, State, any_filer

# One answer while catching up and while lagging: AEGIS reads 404 as 0, and any other error status fails its write.
NOT_READY = "usage not ready: the usage service is catching up or its metadata stream lags; AEGIS reads this 404 as 0"
NO_VOLUME = "no such volume: nothing was ever written there; AEGIS reads this 404 as 0"
MAX_QUOTA_BODY = 64 * 1024
TENANTS_PATHS = ("/tenants", "/.usage/tenants")  # asked directly, and through the admin port


def multipart_fields(content_type: str, body: bytes) -> dict[str, str]:
    """The text fields of a multipart/form-data body, as reqwest's `multipart::Form::text` sends them."""
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            fields[str(name)] = part.get_payload(decode=True).decode(errors="replace")
    return fields


def store_quota(settings: Settings, state: State, volume: str, size: int) -> None:
    """The quota file in the filer; the stream brings it to every tier node (this one too)."""
    any_filer(settings, "PUT", quota_file(volume), str(size).encode(), {QUOTA_HEADER: str(size)})


def handler(settings: Settings, state: State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body leave in two writes; with Nagle on, the body waits for the client's delayed ACK
        # (about 40 ms on Linux), on a call AEGIS makes before every write.
        disable_nagle_algorithm = True

        def _answer(self, status: int, body: str, content_type: str = "text/plain") -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/healthz":
                return self._answer(*state.health())
            if url.path in TENANTS_PATHS:
                return self._answer(200, json.dumps(state.tenants()), "application/json")
            if url.path != "/dir/status":
                return self._answer(404, "not found")
            volume = volume_of(parse_qs(url.query).get("path", [""])[0])
            status = state.status(volume) if volume else None
            if status is None:
                return self._answer(404, NO_VOLUME if state.ready() else NOT_READY)
            return self._answer(200, json.dumps(status), "application/json")

        do_HEAD = do_GET

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(min(length, MAX_QUOTA_BODY))
            # The rest of a larger body stays unread: the connection must not carry another request after it.
            self.close_connection = self.close_connection or length > MAX_QUOTA_BODY
            if urlsplit(self.path).path != "/quota":
                return self._answer(404, "not found")
            return self._answer(200, set_quota(settings, state, self.headers.get("Content-Type", ""), body))

        def log_message(self, format: str, *args: object) -> None:
            pass  # one line per request would cost more than the answer; HAProxy logs the requests

    return Handler


def set_quota(settings: Settings, state: State, content_type: str, body: bytes) -> str:
    """Always 200: AEGIS fails the volume's creation on any error status (volume_manager.rs), so a quota
    that cannot be stored is reported in the body, as the tier did before, instead of breaking the volume."""
    fields = multipart_fields(content_type, body)
    volume = volume_of(fields.get("path", ""))
    if volume is None or not fields.get("bytes", "").isdigit():
        return "quota not stored: path must be /aegis/volumes/<tenant>/<volume> and bytes a number"
    try:
        store_quota(settings, state, volume, int(fields["bytes"]))
    except OSError as err:
        return f"quota not stored: the filer did not take it ({type(err).__name__})"
    return f"quota stored: {volume} {fields['bytes']} bytes"


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # HAProxy's check reads the status line and resets the connection, often before the body is written:
        # a traceback per check would flood the journal. Any other error is still printed.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


def make_server(settings: Settings, state: State, bind: str, port: int) -> ThreadingHTTPServer:
    return Server((bind, port), handler(settings, state))
