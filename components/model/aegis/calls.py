"""What the HTTP tier in front of the filers does with AEGIS's own calls, decided call by call.

AEGIS (orchestrator/core/src/infrastructure/storage/seaweedfs.rs) speaks a filer API that weed 4.48 does
not have. Replayed on a real filer, three of its calls answer success and do something else. HAProxy sits
where AEGIS's filer URL points in both stacks, so these rules go there. Every other request passes unchanged.

- `DELETE /dir/?path=<volume>&recursive=true` (delete a volume, or a directory inside one). The filer deletes
  by URL path, so it deletes the empty `/dir` and answers 204 while the volume stays on disk forever.
  Rewritten into the filer's real recursive delete, `DELETE <volume>?recursive=true`. The path is only
  accepted below `/aegis/volumes/<tenant>/<volume>`, without `.`/`..` segments, control characters,
  characters a path cannot carry unencoded (so nothing can move into the query), or a query that HAProxy
  and the filer could read differently (an unencoded `?` or `;`). Anything else gets a 403
  and one line saying why, and reaches no filer. AEGIS (reqwest) form-encodes the value, so `%2F` turns back
  into `/` and `+` into `%20`. The rest stays percent-encoded for the filer to decode once.
- `POST /quota` (multipart `path`, `bytes`). SeaweedFS has no per-directory quota (bucket quotas exist only for
  S3 buckets, one collection each). An error status would fail every volume creation, because AEGIS treats a
  failed quota as a failed volume (volume_manager.rs, create_volume). So HAProxy answers 200 itself with a
  line saying the quota is not enforced, and the filer never writes the stray `/quota` file.
- `GET /dir/status?path=<volume>` (usage). The filer has no directory usage, and summing a volume on every
  write (AEGIS asks before each one) would cost a full listing. AEGIS reads 404 as usage 0, and any other
  error fails the write, so HAProxy answers 404 itself with a line saying usage is not tracked. Answering
  here also keeps a `/dir/status` file, if one were ever written, from being served as usage.
- `POST /dir/` with a multipart `path` (mkdir, once per ancestor). It creates one empty directory `/dir` at the
  filer root and nothing else. Harmless, and left alone: AEGIS always writes `<volume>/.keep` next, which
  creates every ancestor for real. `/dir` is outside `/aegis/`, holds no data, and the rules above keep
  `/dir/...` requests from ever reading it. Rewriting it would mean parsing multipart bodies in HAProxy.
"""

from __future__ import annotations

AEGIS_VOLUMES = "/aegis/volumes/"

DELETE_REFUSED = (
    f"refused: DELETE /dir/ needs path={AEGIS_VOLUMES}<tenant>/<volume>[/<dir>...] without . or .. segments, "
    "control characters, or an unencoded ? or ; in the query"
)
QUOTA_NOT_ENFORCED = (
    "quota not enforced: SeaweedFS has no per-directory quota; nothing was stored "
    "(capacity: see the health check and the README)"
)
USAGE_NOT_TRACKED = "usage not tracked: the SeaweedFS filer has no per-directory usage; AEGIS reads this 404 as 0"

# One path segment as AEGIS's form encoding leaves it: unreserved characters and %XX escapes only.
_SEGMENT = "[A-Za-z0-9._~*%-]+"
_VOLUME_PATH = f"^{AEGIS_VOLUMES}{_SEGMENT}/{_SEGMENT}(/{_SEGMENT})*/?$"
# HAProxy conditions: AND binds tighter than ||, so each alternative names the delete again.
_REFUSE_IF = " || ".join(
    f"aegis_volume_delete {acl}"
    for acl in ("!aegis_volume_path", "aegis_dot_segment", "aegis_control_char", "aegis_ambiguous_query")
)


def _line(text: str) -> str:
    assert '"' not in text and "\\" not in text, "a response line is written into a double-quoted argument"
    return f'"{text}"'


def aegis_call_rules() -> str:
    """`http-request` rules for the filer frontend of haproxy.cfg (indented, newline-terminated)."""
    return f"""\
    # AEGIS's calls, decided one by one in components/model/aegis/calls.py.
    acl aegis_dir_delete method DELETE
    acl aegis_dir_api path /dir/
    acl aegis_recursive urlp(recursive) -m str true
    acl aegis_has_path urlp(path) -m found
    http-request set-var(txn.aegis_volume) urlp(path),regsub('%2[Ff]',/,g),regsub('[+]',%20,g) \
if aegis_dir_delete aegis_dir_api aegis_recursive aegis_has_path
    acl aegis_volume_delete var(txn.aegis_volume) -m found
    acl aegis_volume_path var(txn.aegis_volume) -m reg '{_VOLUME_PATH}'
    acl aegis_dot_segment var(txn.aegis_volume),url_dec -m reg '(^|/)[.][.]?(/|$)'
    acl aegis_control_char var(txn.aegis_volume) -m reg '%([01][0-9A-Fa-f]|7[Ff])'
    # urlp() also ends a value at ';' and starts one after a second '?': a query with either is ambiguous.
    acl aegis_ambiguous_query query -m reg '[?;]'
    http-request return status 403 content-type text/plain string {_line(DELETE_REFUSED)} \
if {_REFUSE_IF}
    http-request set-path %[var(txn.aegis_volume)] if aegis_volume_delete
    http-request set-query recursive=true if aegis_volume_delete
    http-request return status 200 content-type text/plain string {_line(QUOTA_NOT_ENFORCED)} \
if {{ method POST }} {{ path /quota }}
    http-request return status 404 content-type text/plain string {_line(USAGE_NOT_TRACKED)} \
if {{ method GET HEAD }} {{ path /dir/status }}
"""
