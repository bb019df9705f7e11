"""A first start's index, from a walk of the filer's listing of `/aegis/volumes/`, when there is no checkpoint.

A tier node that starts without a checkpoint (a new stack, a replaced instance, a lost root disk) cannot rebuild
the index from the metadata log alone: the filers purge it past `metadataLogRetentionDays` (fs.log.purge), so
every file written before that would be missing and AEGIS would see those volumes as emptier than they are.

The walk lists every directory below `/aegis/volumes/` through the filer's JSON listing and turns each entry into
a `Change` stamped `walk_ts`: a margin before the walk began. The streams are tailed from before `walk_ts`, so
every write, delete or rename during or shortly before the walk arrives as an event newer than what the walk saw
and wins (the index keeps the newest event per path, tombstones included); an entry nothing touched since keeps
what the walk saw. The margin covers a filer clock behind this node's.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.usage.index import VOLUMES, Change

PAGE = 1000  # entries per listing request: the filer's own default page is 100
MODE_DIR = 1 << 31  # Go's os.ModeDir in a listing's `Mode`

# One listing page of a directory: its JSON body, or None when the directory is gone (404).
Lister = Callable[[str, str], Mapping[str, Any] | None]


@dataclass(frozen=True)
class Listed:
    path: str
    is_dir: bool
    size: int
    extended: tuple[tuple[str, bytes], ...]


def listing(body: Mapping[str, Any]) -> tuple[list[Listed], str | None]:
    """A listing page's entries, and the `lastFileName` of the next page (None when this one is the last)."""
    found = []
    for entry in body.get("Entries") or ():
        extended = tuple(sorted((k, base64.b64decode(v or "")) for k, v in (entry.get("Extended") or {}).items()))
        mode = int(entry.get("Mode") or 0)
        found.append(Listed(entry["FullPath"], bool(mode & MODE_DIR), int(entry.get("FileSize") or 0), extended))
    more = bool(body.get("ShouldDisplayLoadMore")) and found
    return found, (found[-1].path.rsplit("/", 1)[-1] if more else None)


def walk(lister: Lister, root: str = VOLUMES) -> Iterator[Listed]:
    """Every entry below `root`, depth first; a directory deleted while the walk runs is skipped."""
    pending = [root.rstrip("/")]
    while pending:
        directory, last = pending.pop(), ""
        while last is not None:
            body = lister(directory, last)
            if body is None:
                break
            entries, last = listing(body)
            for entry in entries:
                yield entry
                if entry.is_dir:
                    pending.append(entry.path)


def walk_changes(lister: Lister, walk_ts: int) -> Iterator[Change]:
    """The walk as index changes stamped `walk_ts`."""
    for entry in walk(lister):
        yield Change(walk_ts, new=entry.path, new_is_dir=entry.is_dir, new_size=entry.size, extended=entry.extended)


def filer_lister(filers: Sequence[str], timeout: float = 30.0) -> Lister:
    """Lists through the first filer that answers; a 404 from one is the directory's absence, not its failure."""

    def page(directory: str, last: str) -> Mapping[str, Any] | None:
        query = urllib.parse.urlencode({"limit": PAGE, "lastFileName": last})
        path = urllib.parse.quote(directory + "/")
        error: Exception = RuntimeError("no filers")
        for filer in filers:
            request = urllib.request.Request(f"http://{filer}{path}?{query}", headers={"Accept": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=timeout) as answer:
                    return json.loads(answer.read())
            except urllib.error.HTTPError as err:
                if err.code == 404:
                    return None
                error = err
            except OSError as err:
                error = err
        raise error

    return page
