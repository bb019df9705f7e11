"""The usage service's HTTP side: AEGIS's `GET /dir/status` and `POST /quota`, as the tier routes them here, and
`GET /tenants` for operators (the tier's admin port passes its `/.usage/tenants` here unchanged).

AEGIS asks `GET /dir/status` before every write, so that call is the hot path: one asyncio event loop, a small
HTTP/1.1 parser that reads only the request line and the few headers it needs, and every answer in one write
(a status line, Content-Type, Content-Length, and Connection only when it differs from the default). A standard
library ThreadingHTTPServer spent about 190 µs of CPU per call (a thread per connection, an email parser for the
headers, two writes per answer); the service's image carries Python and this package only, so the standard
library it stays.

Anything that may block or take long runs in a small thread pool, never on the loop: storing a quota (the
filer, over blocking urllib, 10 s per filer at worst) and `/tenants` (a pass over every volume).

Every answer is one line, also when something goes wrong: AEGIS fails a write on any error status of
`/dir/status` but 404 (which it reads as usage 0), and fails the volume's creation on any error status of
`/quota`. So a failure there is a 404 and a 200 "quota not stored: ..." respectively, never a 5xx and never
a dropped connection (which HAProxy would turn into a 502).

Bounds: 1,000 connections (more wait in the listen backlog), a request head of 16 KiB, a quota form of 64 KiB
(a larger one is refused whole), 30 s to send a request, 60 s idle on a keep-alive connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import socket
import sys
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from http import HTTPStatus
from urllib.parse import quote, unquote_plus

from components.usage.quotas import QUOTA_HEADER, quota_bytes, quota_file, volume_of
from components.usage.service import Settings, State, any_filer

# One answer while catching up and while lagging: AEGIS reads 404 as 0, and any other error status fails its write.
NOT_READY = "usage not ready: the usage service is catching up or its metadata stream lags; AEGIS reads this 404 as 0"
NO_VOLUME = "no such volume: nothing was ever written there; AEGIS reads this 404 as 0"
QUOTA_REFUSED = "quota not stored: path must be /aegis/volumes/<tenant>/<volume> and bytes a number"
TENANTS_PATHS = ("/tenants", "/.usage/tenants")  # asked directly, and through the admin port

MAX_QUOTA_BODY = 64 * 1024
# An oversized body up to this is read and thrown away, so the client reads the answer instead of a reset (a
# reset would also count as a layer-4 error in HAProxy's `observe layer4` and take the service out). Beyond it
# the answer leaves at once and the connection closes once this much has been read.
MAX_DISCARD = 2 * 1024 * 1024
MAX_HEAD = 16 * 1024
# Under the usual 1,024-descriptor limit with room for the pool's filer connections and the tails' pipes.
MAX_CONNECTIONS = 1000
BACKLOG = 1024
IDLE_S = 60.0
REQUEST_S = 30.0  # HAProxy's own `timeout http-request`
SWEEP_S = 5.0
ACCEPT_RETRY_S = 0.5  # out of descriptors: accepting again after this
SLOW_WORKERS = 4

JSON = "application/json"
TEXT = "text/plain"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
KEEP, CLOSE, KEEP_1_0 = b"", b"\r\nConnection: close", b"\r\nConnection: keep-alive"


class BadRequest(Exception):
    """A request the parser cannot take; the connection closes after its one-line answer."""

    def __init__(self, status: int, text: str, path: str = "") -> None:
        super().__init__(text)
        self.status, self.text, self.path = status, text, path


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query: str
    connection: bytes  # KEEP, CLOSE or KEEP_1_0: what the answer says, and whether the connection stays
    length: int = 0
    chunked: bool = False
    expect_continue: bool = False
    content_type: str = ""


_HEADS: dict[tuple[int, str], bytes] = {}


def answer(
    status: int, text: str, content_type: str = TEXT, connection: bytes = KEEP, head_only: bool = False
) -> bytes:
    """The whole answer, for one write; the status line and Content-Type are built once per pair."""
    head = _HEADS.get((status, content_type))
    if head is None:
        line = f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nContent-Type: {content_type}\r\nContent-Length: "
        head = _HEADS[(status, content_type)] = line.encode()
    data = text.encode()
    return b"".join((head, str(len(data)).encode(), connection, b"\r\n\r\n", b"" if head_only else data))


def split_target(target: str) -> tuple[str, str]:
    """(path, query) of a request target, as urlsplit reads them: the fragment dropped, an absolute URL's
    scheme and host too."""
    if not target.startswith("/") and "://" in target:
        target = "/" + target.split("://", 1)[1].partition("/")[2]
    path, _, query = target.partition("#")[0].partition("?")
    return path, query


def query_path(query: str) -> str:
    """The first non-empty `path=` value of a query, decoded, as parse_qs reads it ("" when there is none)."""
    for item in query.split("&"):
        name, sep, value = item.partition("=")
        if sep and value and (name == "path" or unquote_plus(name) == "path"):
            return unquote_plus(value)
    return ""


def parse_head(head: bytes) -> Request:
    """The request line and the headers that matter here; raises BadRequest for what HTTP/1.1 does not allow."""
    lines = head.split(b"\r\n")
    parts = lines[0].decode("latin-1").split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(400, "bad request: the request line must be <method> <target> HTTP/1.x")
    method, target, version = parts
    path, query = split_target(target)
    request = Request(method, path, query, KEEP if version == "HTTP/1.1" else CLOSE)
    lengths = set()
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or name != name.strip() or not name:
            raise BadRequest(400, "bad request: a header line without a name", path)
        key = name.lower()
        if key == b"content-length":
            lengths.add(value.strip())
        elif key == b"transfer-encoding":
            request.chunked = True
        elif key == b"connection":
            tokens = {token.strip() for token in value.lower().split(b",")}
            if b"close" in tokens:
                request.connection = CLOSE
            elif b"keep-alive" in tokens and version == "HTTP/1.0":
                request.connection = KEEP_1_0
        elif key == b"expect":
            request.expect_continue = value.strip().lower() == b"100-continue"
        elif key == b"content-type":
            request.content_type = value.strip().decode("latin-1")
    if len(lengths) > 1 or any(not v.isdigit() or len(v) > 19 for v in lengths):
        raise BadRequest(400, "bad request: Content-Length must be one number", path)
    request.length = int(lengths.pop()) if lengths else 0
    return request


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
    """The quota file in the filer; the stream brings it to every tier node (this one too). The name is already
    exactly a volume; quoting keeps any character the filer would read as URL syntax a part of the path."""
    any_filer(settings, "PUT", quote(quota_file(volume)), str(size).encode(), {QUOTA_HEADER: str(size)})


def set_quota(settings: Settings, state: State, content_type: str, body: bytes) -> str:
    """Always 200: AEGIS fails the volume's creation on any error status (volume_manager.rs), so a quota
    that cannot be stored is reported in the body, as the tier did before, instead of breaking the volume."""
    fields = multipart_fields(content_type, body)
    volume = volume_of(fields.get("path", ""))
    size = quota_bytes(fields.get("bytes", ""))
    if volume is None or size is None:
        return QUOTA_REFUSED
    try:
        store_quota(settings, state, volume, size)
    except OSError as err:
        return f"quota not stored: the filer did not take it ({type(err).__name__})"
    return f"quota stored: {volume} {fields['bytes']} bytes"


def refusal(path: str, status: int, text: str) -> tuple[int, str]:
    """A request refused before it was answered, as AEGIS can take it: `/quota` 200 with nothing stored,
    `/dir/status` 404 (usage 0); anything else keeps `status`."""
    if path == "/quota":
        return 200, f"quota not stored: {text}"
    if path == "/dir/status":
        return 404, f"usage not answered: {text}; AEGIS reads this 404 as 0"
    return status, text


Answer = tuple[int, str, str]  # status, one line, Content-Type
Slow = Callable[[], Answer]


class Routes:
    """What each request gets: an answer at once, or work for the thread pool (a Slow) that returns one."""

    def __init__(self, settings: Settings, state: State) -> None:
        self.settings, self.state = settings, state

    def route(self, request: Request, body: bytes) -> Answer | Slow:
        path = request.path
        if request.method in ("GET", "HEAD"):
            if path == "/dir/status":
                return self.usage(request.query)
            if path == "/healthz":
                return (*self.state.health(), TEXT)
            if path in TENANTS_PATHS:
                return lambda: (200, json.dumps(self.state.tenants()), JSON)
            return 404, "not found", TEXT
        if request.method == "POST":
            if path == "/quota":
                return lambda: (200, set_quota(self.settings, self.state, request.content_type, body), TEXT)
            return 404, "not found", TEXT
        return 405, "method not allowed: the usage service answers GET, HEAD and POST", TEXT

    def usage(self, query: str) -> Answer:
        volume = volume_of(query_path(query))
        status = self.state.status(volume) if volume else None
        if status is None:
            return 404, NO_VOLUME if self.state.ready() else NOT_READY, TEXT
        return 200, json.dumps(status), JSON


def failed(request: Request, error: BaseException) -> Answer:
    """A bug met while answering: printed, and answered with one line AEGIS can take."""
    traceback.print_exception(error, file=sys.stderr)
    if request.path == "/healthz":
        return 503, f"health not known: {type(error).__name__}", TEXT
    return (*refusal(request.path, 500, f"internal error: {type(error).__name__}"), TEXT)


def guarded(slow: Slow, request: Request) -> Answer:
    """A Slow, run in the thread pool; any exception becomes the one-line answer AEGIS can take."""
    try:
        return slow()
    except Exception as err:
        return failed(request, err)


def first_line_path(buffer: bytes) -> str:
    """The path on the first line of a request that could not be read whole ("" when that line is not whole)."""
    line, end, _ = buffer.partition(b"\r\n")
    parts = line.decode("latin-1").split(" ")
    return split_target(parts[1])[0] if end and len(parts) == 3 else ""


class Connection(asyncio.Protocol):
    """One client connection: requests answered one at a time, in order."""

    def __init__(self, server: UsageServer) -> None:
        self.server = server
        self.loop = server.loop
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.request: Request | None = None  # its head read, its body not yet whole
        self.continued = False  # "100 Continue" sent for self.request
        self.busy = False  # an answer is being worked out in the thread pool
        self.discard = 0  # bytes of an oversized body still to throw away
        self.after_discard: tuple[int, str, str, Request] | None = None  # its answer, once they are
        self.closing = False
        self.last_seen = self.started = self.loop.time()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.server.connections.discard(self)
        self.server.connection_ended()

    def data_received(self, data: bytes) -> None:
        self.last_seen = self.loop.time()
        if self.discard:
            taken = min(self.discard, len(data))
            self.discard -= taken
            data = data[taken:]
            if self.discard:
                return
            if self.closing:  # the answer has gone; the body was read as far as MAX_DISCARD
                return self.close()
            if self.after_discard is not None:
                pending, self.after_discard = self.after_discard, None
                self.write(*pending)
            if not data:
                return
        if not self.buffer:
            self.started = self.last_seen
        self.buffer += data
        if not self.busy:
            self.next_requests()

    def next_requests(self) -> None:
        """Answers every complete request in the buffer, in order, until one must wait."""
        while self.buffer and not self.busy and not self.closing:
            if self.request is None:
                if self.buffer.startswith(b"\r\n"):  # empty lines before a request: RFC 9112 lets them pass
                    self.buffer = self.buffer.lstrip(b"\r\n")
                    continue
                end = self.buffer.find(b"\r\n\r\n", 0, MAX_HEAD + 4)
                if end < 0:
                    if len(self.buffer) > MAX_HEAD:
                        self.refuse(431, "request head over 16 KiB", first_line_path(self.buffer))
                    return
                try:
                    self.request = parse_head(self.buffer[:end])
                except BadRequest as err:
                    return self.write(*refusal(err.path, err.status, err.text), TEXT, None)
                self.buffer, self.continued = self.buffer[end + 4 :], False
            if not self.take_body(self.request):
                return

    def take_body(self, request: Request) -> bool:
        """Answers `request` once its body is whole; False while it must wait for more."""
        if request.chunked:
            self.refuse(411, "chunked bodies are refused; send a Content-Length", request.path)
            return False
        if request.length > MAX_QUOTA_BODY:
            self.oversized(request)
            return True
        if len(self.buffer) < request.length:
            if request.expect_continue and not self.continued and self.transport is not None:
                self.continued = True
                self.transport.write(CONTINUE)
            return False
        body, self.buffer = self.buffer[: request.length], self.buffer[request.length :]
        self.request, self.started = None, self.last_seen
        self.handle(request, body)
        return True

    def oversized(self, request: Request) -> None:
        """Refused whole: no prefix of the body is ever parsed. Up to MAX_DISCARD the body is read and thrown
        away before the answer, so the connection stays in step for the next request; beyond, the answer leaves
        at once and the connection closes once MAX_DISCARD has been read."""
        status, text = refusal(request.path, 413, "request body over 64 KiB")
        taken = min(len(self.buffer), request.length)
        self.buffer, self.request = self.buffer[taken:], None
        if request.length > MAX_DISCARD:
            self.discard = max(MAX_DISCARD - taken, 0)
            self.write(status, text, TEXT, request, close=True)
        elif taken < request.length:
            self.discard = request.length - taken
            self.after_discard = (status, text, TEXT, request)
        else:
            self.write(status, text, TEXT, request)

    def handle(self, request: Request, body: bytes) -> None:
        try:
            routed = self.server.routes.route(request, body)
        except Exception as err:
            routed = failed(request, err)
        if not callable(routed):
            return self.write(*routed, request)
        assert self.transport is not None
        self.busy = True
        self.transport.pause_reading()  # the next request waits in the socket until this one is answered
        work = self.server.executor.submit(guarded, routed, request)
        work.add_done_callback(lambda done: self.server.call_soon(self.slow_done, request, done))

    def slow_done(self, request: Request, done: Future[Answer]) -> None:
        self.busy = False
        if self.closing or self.transport is None:
            return
        self.write(*done.result(), request)
        if not self.closing:
            self.transport.resume_reading()
            self.next_requests()

    def write(self, status: int, text: str, content_type: str, request: Request | None, close: bool = False) -> None:
        """One answer in one write; without a request (it could not be read) the connection closes after it."""
        if self.transport is None or self.transport.is_closing():
            return
        connection = CLOSE if request is None or close else request.connection
        head_only = request is not None and request.method == "HEAD"
        self.transport.write(answer(status, text, content_type, connection, head_only))
        if connection == CLOSE:
            self.closing = True
            if not self.discard:
                self.close()

    def refuse(self, status: int, text: str, path: str) -> None:
        """A request that cannot be read whole: one line, by its path if known, and the connection closes."""
        self.write(*refusal(path, status, text), TEXT, None)

    def close(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.close()

    def expire(self, now: float) -> None:
        """Closes a connection idle past IDLE_S, or one sending a request for longer than REQUEST_S."""
        if self.busy or self.closing:
            return
        if (self.buffer or self.request) and now - self.started > REQUEST_S:
            path = self.request.path if self.request else first_line_path(self.buffer)
            self.refuse(408, "request not sent within 30 s", path)
        elif now - self.last_seen > IDLE_S:
            self.close()


class UsageServer:
    """The event loop and its listening socket. serve_forever() runs it in the calling thread until shutdown(),
    which any thread may call, as with socketserver."""

    def __init__(self, settings: Settings, state: State, bind: str, port: int) -> None:
        self.routes = Routes(settings, state)
        self.socket = socket.create_server((bind, port), backlog=BACKLOG)
        self.socket.setblocking(False)
        self.server_address: tuple[str, int] = self.socket.getsockname()[:2]
        self.loop = asyncio.new_event_loop()
        self.executor = ThreadPoolExecutor(max_workers=SLOW_WORKERS, thread_name_prefix="usage-http")
        self.connections: set[Connection] = set()
        self.open = 0  # accepted and not yet ended (some not yet in `connections`)
        self.accepting = False
        self.stop_requested = threading.Event()
        self.serving = threading.Event()
        self.stopped = threading.Event()
        self.stop: asyncio.Future[None] | None = None

    def serve_forever(self) -> None:
        self.serving.set()
        try:
            self.loop.run_until_complete(self.serve())
        finally:
            self.stopped.set()

    def shutdown(self) -> None:
        """Stops serve_forever() and waits until it has returned."""
        self.stop_requested.set()
        if self.serving.is_set() and not self.stopped.is_set():
            self.call_soon(self.wake)
            self.stopped.wait()

    def server_close(self) -> None:
        self.socket.close()
        self.executor.shutdown(wait=False, cancel_futures=True)
        if not self.loop.is_running():
            self.loop.close()

    def call_soon(self, callback: Callable[..., object], *args: object) -> None:
        """From any thread; nothing once the loop is closed (a slow answer finished after shutdown)."""
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(callback, *args)

    def wake(self) -> None:
        if self.stop is not None and not self.stop.done():
            self.stop.set_result(None)

    async def serve(self) -> None:
        self.stop = self.loop.create_future()
        if self.stop_requested.is_set():
            return
        self.resume_accepting()
        sweeper = self.loop.call_later(SWEEP_S, self.sweep)
        try:
            await self.stop
        finally:
            sweeper.cancel()
            self.pause_accepting()
            for connection in list(self.connections):
                connection.close()
            for _ in range(20):  # the transports close on the loop's next turns
                if not self.connections:
                    break
                await asyncio.sleep(0.05)

    def sweep(self) -> None:
        now = self.loop.time()
        for connection in list(self.connections):
            connection.expire(now)
        self.loop.call_later(SWEEP_S, self.sweep)

    def resume_accepting(self) -> None:
        if not self.accepting and self.open < MAX_CONNECTIONS and self.socket.fileno() >= 0:
            self.accepting = True
            self.loop.add_reader(self.socket, self.accept)

    def pause_accepting(self) -> None:
        if self.accepting:
            self.accepting = False
            self.loop.remove_reader(self.socket)

    def accept(self) -> None:
        """Takes the waiting connections; at MAX_CONNECTIONS the rest wait in the backlog until one ends."""
        while self.open < MAX_CONNECTIONS:
            try:
                client, _ = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as err:  # out of descriptors or buffers: the connections wait in the backlog
                print(f"usage service: accept failed: {errno.errorcode.get(err.errno or 0, err)}", file=sys.stderr)
                self.pause_accepting()
                self.loop.call_later(ACCEPT_RETRY_S, self.resume_accepting)
                return
            self.open += 1
            self.loop.create_task(self.adopt(client))
        self.pause_accepting()

    async def adopt(self, client: socket.socket) -> None:
        client.setblocking(False)
        try:
            await self.loop.connect_accepted_socket(lambda: Connection(self), client)
        except OSError:
            client.close()
            self.connection_ended()

    def connection_ended(self) -> None:
        self.open -= 1
        if self.stop is not None and not self.stop.done():
            self.resume_accepting()


def make_server(settings: Settings, state: State, bind: str, port: int) -> UsageServer:
    return UsageServer(settings, state, bind, port)
