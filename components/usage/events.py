"""`weed filer.meta.tail` output (pretty-printed JSON objects, one after another) turned into `Change`s.

Each object is a SubscribeMetadataResponse in protojson: `directory` (the old entry's parent),
`eventNotification` with `oldEntry`, `newEntry` and `newParentPath` (the new entry's parent; a rename has
both entries), and `tsNs` as a string. A directory rename or recursive delete is one event for the directory
followed by one per entry below it (seen on weed 4.48).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

from components.usage.index import Change


def _join(parent: str, name: str) -> str:
    return f"{parent.rstrip('/')}/{name}"


def entry_size(entry: dict[str, Any]) -> int:
    """The file's size as the filer lists it (`FileSize`): its attribute, or its chunks' extent or its inline
    content when those are larger."""
    size = int(entry.get("attributes", {}).get("fileSize", 0) or 0)
    for chunk in entry.get("chunks") or ():
        size = max(size, int(chunk.get("offset", 0) or 0) + int(chunk.get("size", 0) or 0))
    content = entry.get("content") or ""
    if content:
        size = max(size, len(base64.b64decode(content)))
    return size


def to_change(event: dict[str, Any]) -> Change | None:
    note = event.get("eventNotification") or {}
    old, new = note.get("oldEntry"), note.get("newEntry")
    if not old and not new:
        return None
    directory = event.get("directory", "/")
    extended = tuple(
        sorted((key, base64.b64decode(value)) for key, value in ((new or {}).get("extended") or {}).items())
    )
    return Change(
        ts_ns=int(event.get("tsNs", 0)),
        old=_join(directory, old["name"]) if old else None,
        old_is_dir=bool(old and old.get("isDirectory")),
        new=_join(note.get("newParentPath") or directory, new["name"]) if new else None,
        new_is_dir=bool(new and new.get("isDirectory")),
        new_size=entry_size(new) if new else 0,
        extended=extended,
    )


class ObjectStream:
    """Feed it lines as they arrive; it yields each complete top-level object. weed prints each event
    indented with its closing brace alone at the start of a line, so only that line ends an object (which
    keeps parsing linear instead of retrying a half-received object)."""

    def __init__(self) -> None:
        self._lines: list[str] = []

    def feed_line(self, line: str) -> dict[str, Any] | None:
        if not self._lines and not line.startswith("{"):
            return None  # a log line between events
        self._lines.append(line)
        if not line.startswith("}"):
            return None
        text, self._lines = "".join(self._lines), []
        value = json.loads(text)
        return value if isinstance(value, dict) else None

    def feed(self, text: str) -> Iterator[dict[str, Any]]:
        for line in text.splitlines(keepends=True):
            value = self.feed_line(line)
            if value is not None:
                yield value
