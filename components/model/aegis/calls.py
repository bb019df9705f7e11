"""What the HTTP tier in front of the filers lets through on AEGIS's filer URL: AEGIS's own calls and nothing else.

The allow-list is read from the orchestrator's filer client (`orchestrator/core/src/infrastructure/storage/
seaweedfs.rs` at 59bc51e, the commit of components/model/aegis/schema.py), its callers (`application/
volume_manager.rs`, `domain/fsal.rs`, `application/storage_router.rs`) and its id rules (`domain/shared_kernel.rs`):

- Every file call names a path built as `/aegis/volumes/{tenant}/{volume}/{path in the volume}`: the tenant is a
  `TenantId` (1-63 of `[a-z0-9-]`, no leading or trailing hyphen) and the volume a `VolumeId`, a UUID that
  prints lower-case and hyphenated. The calls are `GET` (a `Range` read, the whole-file read of `write_at` and
  `rename`, and a directory listing with `Accept: application/json`), `HEAD` (open, stat), `PUT` (whole-file
  write, `.keep`, create), `POST` (rename's copy, a raw body) and `DELETE` (one file). None carries a query.
- AEGIS builds URLs with reqwest (the `url` crate): it resolves `.`/`..` segments, `%2e` included, turns `\\`
  into `/`, and never percent-encodes `%`. So a dot segment, a backslash, a doubled slash or an encoded `/` or
  `\\` is never AEGIS; a file name holding a literal `%2F` would even be read by the filer as a separator.
- Its bodies always carry a Content-Length (`Vec<u8>` bodies and multipart forms of text fields), never
  `Transfer-Encoding`; the largest file it can read back is 100 MiB (`SEAWEEDFS_MAX_RESPONSE_BYTES`).

Rewritten or answered here, because weed 4.48 does something else with them:

- `DELETE /dir/?path=<volume>&recursive=true` (delete a volume, or a directory inside one). The filer deletes
  by URL path, so it deletes the empty `/dir` and answers 204 while the volume stays on disk forever.
  Rewritten into the filer's real recursive delete, `DELETE <volume>?recursive=true`, only below
  `/aegis/volumes/<tenant>/<volume-uuid>`, without `.`/`..` segments, control characters, characters a path
  cannot carry unencoded (so nothing can move into the query), or a query that HAProxy and the filer could
  read differently (an unencoded `?` or `;`). AEGIS (reqwest) form-encodes the value, so `%2F` turns back
  into `/` and `+` into `%20`. The rest stays percent-encoded for the filer to decode once.
- `POST /quota` (multipart `path`, `bytes`) and `GET /dir/status?path=<volume>` (usage). SeaweedFS has neither a
  per-directory quota nor a directory's usage, so both go to the usage service beside HAProxy (components/usage),
  `/dir/status` only for a `path` that is exactly a volume. While that service is down, HAProxy answers them
  itself, as before it existed: an error status would fail every volume creation (volume_manager.rs,
  create_volume) and every write (fsal.rs), so `/quota` gets 200 and `/dir/status` 404 (AEGIS reads it as
  usage 0), each with the reason. A `/dir/status` naming anything but a volume gets that 404 too.
- `POST /dir/` with a multipart `path` (mkdir, once per ancestor). The filer would only create an empty `/dir`
  (or store a file part's content under `/dir/`), while AEGIS's next call, `PUT <dir>/.keep`, creates every
  directory for real. HAProxy answers 201 and no filer sees it.
- `GET /` (AEGIS's health check: any 2xx). Sent to the filer as `GET /healthz`, which answers 200 only while
  its metadata store works, instead of a listing of the filer's root.

Everything else gets 403 (or 400/413 for the body rules) and one line saying why, and reaches no filer: the
filer's own API (`?metadata`, `?recursive`, listings with a query, `/etc/seaweedfs`, `/topics`, `/buckets`),
other paths, whole tenants and the volumes root. What is not AEGIS's uses the admin frontend
(components/model/haproxy.py), which the network keeps away from AEGIS.
"""

from __future__ import annotations

AEGIS_VOLUMES = "/aegis/volumes/"
MAX_BODY_BYTES = 100 * 1024 * 1024  # the largest file AEGIS reads back (SEAWEEDFS_MAX_RESPONSE_BYTES)
METHODS = ("GET", "HEAD", "PUT", "POST", "DELETE")

# TenantId::validate (shared_kernel.rs) and VolumeId's Display (a hyphenated lower-case UUID).
TENANT = "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
VOLUME_ID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

DELETE_REFUSED = (
    f"refused: DELETE /dir/ needs path={AEGIS_VOLUMES}<tenant>/<volume-uuid>[/<dir>...] and recursive=true, "
    "without . or .. segments, control characters, or an unencoded ? or ; in the query"
)
QUOTA_NOT_ENFORCED = (
    "quota not enforced: no usage service is up on this tier node; nothing was stored "
    "(capacity: see the health check and the README)"
)
USAGE_NOT_TRACKED = "usage not tracked: no usage service is up, or path is no volume; AEGIS reads this 404 as 0"
# The backend and server HAProxy sends AEGIS's usage and quota calls to (components/model/haproxy.py).
USAGE_SERVER = "usage/usage"
# Quotas go to the service whenever it listens, even while it catches up or lags: storing one needs only a
# filer, and AEGIS never sends a volume's quota twice (a rollout's restart would otherwise drop those it sent).
QUOTA_SERVER = "quota/usage"
MKDIR_ANSWERED = "directory not stored: its first file creates it (AEGIS writes .keep next)"
CHUNKED_REFUSED = "refused: Transfer-Encoding; AEGIS always sends a Content-Length"
TOO_LARGE = "refused: body over 100 MiB, the largest file AEGIS can read back"
METHOD_REFUSED = f"refused: AEGIS sends only {' '.join(METHODS)}"
PATH_UNSAFE = "refused: dot segment, double slash, backslash, encoded slash or control character"
QUERY_REFUSED = "refused: AEGIS sends a query only to /dir/ and /dir/status"
OUTSIDE_VOLUMES = f"refused: not below {AEGIS_VOLUMES}<tenant>/<volume-uuid>/ (the admin port serves the rest)"

# One path segment as AEGIS's form encoding leaves it: unreserved characters and %XX escapes only.
_SEGMENT = "[A-Za-z0-9._~*%-]+"
_VOLUME_ROOT = f"{AEGIS_VOLUMES}{TENANT}/{VOLUME_ID}"
_DELETE_PATH = f"^{_VOLUME_ROOT}(/{_SEGMENT})*/?$"
# A file call's path: the volume itself or anything below it, with no empty segment.
_FILE_PATH = f"^{_VOLUME_ROOT}(/[^/]+)*/?$"
_MKDIR_IF = "{ method POST } aegis_dir_api !aegis_query { req.fhdr(content-type) -m beg multipart/form-data }"
# HAProxy conditions: AND binds tighter than ||, so each alternative names the delete again.
_DELETE_REFUSE_IF = " || ".join(
    f"aegis_dir_delete aegis_dir_api {acl}"
    for acl in (
        "!aegis_recursive",
        "!aegis_volume_path",
        "aegis_dot_segment",
        "aegis_control_char",
        "aegis_ambiguous_query",
    )
)


def _line(text: str) -> str:
    assert '"' not in text and "\\" not in text, "a response line is written into a double-quoted argument"
    return f'"{text}"'


def _answer(status: int, text: str, condition: str) -> str:
    return f"    http-request return status {status} content-type text/plain string {_line(text)} if {condition}\n"


def _deny(status: int, text: str, condition: str) -> str:
    # deny (not return): HAProxy counts these as denied requests in its stats, and closes the connection.
    return f"    http-request deny deny_status {status} content-type text/plain string {_line(text)} if {condition}\n"


def aegis_call_rules() -> str:
    """`http-request` rules for the filer frontend of haproxy.cfg (indented, newline-terminated).

    urlp() ends a value at ';' and starts one after a second '?', so a query with either is ambiguous. Paths are
    checked as sent and once decoded, as the filer decodes them. Order matters: the body and method rules first,
    then AEGIS's `/dir/` calls, answered or checked before any path rule, then the path rules, and the rewrites
    last, so every check sees the path AEGIS sent."""
    return (
        # haproxy.cfg stays without comments: every byte counts against the node document's 4 KiB (SSM).
        # A chunked body has no length to check, and a request with both headers is how bodies are smuggled.
        _deny(400, CHUNKED_REFUSED, "{ req.hdr_cnt(transfer-encoding) gt 0 }")
        + _deny(413, TOO_LARGE, f"{{ req.hdr_val(content-length) gt {MAX_BODY_BYTES} }}")
        + _deny(403, METHOD_REFUSED, f"!{{ method {' '.join(METHODS)} }}")
        + f"""\
    acl aegis_query query -m found
    acl aegis_dir_api path /dir/
    acl aegis_dir_delete method DELETE
    acl aegis_recursive urlp(recursive) -m str true
    http-request set-var(txn.aegis_volume) urlp(path),regsub('%2[Ff]',/,g),regsub('[+]',%20,g) \
if aegis_dir_delete aegis_dir_api
    acl aegis_volume_delete var(txn.aegis_volume) -m found
    acl aegis_volume_path var(txn.aegis_volume) -m reg '{_DELETE_PATH}'
    acl aegis_dot_segment var(txn.aegis_volume),url_dec -m reg '(^|/)[.][.]?(/|$)'
    acl aegis_control_char var(txn.aegis_volume) -m reg '%([01][0-9A-Fa-f]|7[Ff])'
    acl aegis_ambiguous_query query -m reg '[?;]'
"""
        + _deny(403, DELETE_REFUSED, _DELETE_REFUSE_IF)
        # srv_is_up, not nbsrv: nbsrv counts the usage backend's backup server once the service is down.
        + f"""\
    acl aegis_usage_up srv_is_up({USAGE_SERVER})
    acl aegis_quota_up srv_is_up({QUOTA_SERVER})
    acl aegis_status_volume urlp(path),regsub('%2[Ff]',/,g) -m reg '^{_VOLUME_ROOT}/?$'
    http-request set-var(txn.aegis_usage) int(1) if aegis_quota_up {{ method POST }} {{ path /quota }} !aegis_query \
|| aegis_usage_up {{ method GET HEAD }} {{ path /dir/status }} aegis_status_volume !aegis_ambiguous_query
    acl aegis_usage_call var(txn.aegis_usage) -m found
"""
        + _answer(200, QUOTA_NOT_ENFORCED, "{ method POST } { path /quota } !aegis_usage_call")
        + _answer(404, USAGE_NOT_TRACKED, "{ method GET HEAD } { path /dir/status } !aegis_usage_call")
        + _answer(201, MKDIR_ANSWERED, _MKDIR_IF)
        + f"""\
    acl aegis_health method GET
    http-request set-var(txn.aegis_health) int(1) if aegis_health {{ path / }} !aegis_query
    acl aegis_health_call var(txn.aegis_health) -m found
    acl aegis_unsafe_path path -m reg -i '//|[\\\\]|%2f|%5c|%[01][0-9a-f]|%7f'
    acl aegis_unsafe_path path,url_dec -m reg '(^|/)[.][.]?(/|$)'
    acl aegis_file_path path -m reg '{_FILE_PATH}'
"""
        + _deny(403, PATH_UNSAFE, "aegis_unsafe_path")
        + _deny(403, QUERY_REFUSED, "aegis_query !aegis_volume_delete !aegis_usage_call")
        + _deny(403, OUTSIDE_VOLUMES, "!aegis_file_path !aegis_volume_delete !aegis_health_call !aegis_usage_call")
        + """\
    http-request set-path %[var(txn.aegis_volume)] if aegis_volume_delete
    http-request set-query recursive=true if aegis_volume_delete
    http-request set-path /healthz if aegis_health_call
    use_backend quota if aegis_usage_call { method POST }
    use_backend usage if aegis_usage_call
"""
    )
