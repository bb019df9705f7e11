"""Usage per AEGIS volume, exact under any order of replayed or duplicated events.

The stream is at-least-once and, across filers, not strictly ordered: every filer forwards its peers'
events (seen on weed 4.48 with three filers on one PostgreSQL: a write shows up once or twice on each
filer's stream), and a restart replays from a checkpoint with a margin. So every file keeps the timestamp
of the event that set it, and every delete leaves a tombstone with its timestamp: an event older than what
the index already holds for that path (or for a directory above it) changes nothing. Applying the same
events twice, or an older duplicate after a newer event, gives the same index.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

VOLUMES = "/aegis/volumes/"


@dataclass(frozen=True)
class Change:
    """One metadata event: an entry at `old` replaced by one at `new` (either may be None)."""

    ts_ns: int
    old: str | None = None
    old_is_dir: bool = False
    new: str | None = None
    new_is_dir: bool = False
    new_size: int = 0
    extended: tuple[tuple[str, bytes], ...] = ()


def split_volume(path: str) -> tuple[str, str] | None:
    """`/aegis/volumes/<t>/<v>/rest` -> (`/aegis/volumes/<t>/<v>`, `rest`); `rest` is "" for the volume itself.
    None for anything that is not in a volume (the tenant directories, `/aegis/volumes/` itself) and for
    tenants starting with "." (never an AEGIS tenant: its ids are [a-z0-9-]; the service keeps its own files
    there)."""
    if not path.startswith(VOLUMES):
        return None
    parts = path[len(VOLUMES) :].split("/", 2)
    if len(parts) < 2 or not parts[0] or not parts[1] or parts[0].startswith("."):
        return None
    return f"{VOLUMES}{parts[0]}/{parts[1]}", (parts[2] if len(parts) == 3 else "")


def _ancestors(rel: str) -> Iterator[str]:
    """Tombstone keys of the directories above `rel`: "" (the volume), "a/", "a/b/" for "a/b/c"."""
    yield ""
    parts = rel.split("/")[:-1]
    for depth in range(1, len(parts) + 1):
        yield "/".join(parts[:depth]) + "/"


@dataclass
class Volume:
    """One volume: its files (relative path -> (size, ts)) and recent tombstones (path, dirs with "/")."""

    files: dict[str, tuple[int, int]] = field(default_factory=dict)
    tombstones: dict[str, int] = field(default_factory=dict)
    total: int = 0
    exists: bool = False  # the volume directory was seen and not deleted since

    def _deleted_after(self, rel: str, ts: int) -> bool:
        if self.tombstones.get(rel, -1) >= ts:
            return True
        return any(self.tombstones.get(key, -1) >= ts for key in _ancestors(rel))

    def put(self, rel: str, size: int, ts: int) -> None:
        current = self.files.get(rel)
        if (current is not None and current[1] > ts) or self._deleted_after(rel, ts):
            return
        self.total += size - (current[0] if current else 0)
        self.files[rel] = (size, ts)
        self.tombstones.pop(rel, None)
        self.exists = True

    def remove(self, rel: str, ts: int) -> None:
        current = self.files.get(rel)
        if current is not None and current[1] <= ts:
            self.total -= current[0]
            del self.files[rel]
        self.tombstones[rel] = max(ts, self.tombstones.get(rel, -1))

    def remove_dir(self, rel_dir: str, ts: int) -> dict[str, int]:
        """Drops every file under `rel_dir` ("" is the whole volume) not written after `ts`: their sizes."""
        prefix = rel_dir + "/" if rel_dir else ""
        removed = {}
        for rel in [r for r in self.files if r.startswith(prefix)]:
            size, file_ts = self.files[rel]
            if file_ts <= ts:
                removed[rel[len(prefix) :]] = size
                self.remove(rel, ts)
        self.tombstones[prefix] = max(ts, self.tombstones.get(prefix, -1))
        if not rel_dir:
            self.exists = False
        return removed

    def status(self) -> dict[str, int]:
        return {"TotalSize": self.total, "FileCount": len(self.files)}


class UsageIndex:
    """Every volume's usage, from `apply(change)`; `horizon_ns` bounds how long tombstones are kept."""

    def __init__(self) -> None:
        self.volumes: dict[str, Volume] = {}
        self.last_ts = 0

    def status(self, volume: str) -> dict[str, int] | None:
        """AEGIS's answer for `volume`, or None when no such volume exists."""
        entry = self.volumes.get(volume)
        if entry is None or not (entry.exists or entry.files):
            return None
        return entry.status()

    def _volume(self, key: str) -> Volume:
        entry = self.volumes.get(key)
        if entry is None:
            entry = self.volumes[key] = Volume()
        return entry

    def apply(self, change: Change) -> None:
        self.last_ts = max(self.last_ts, change.ts_ns)
        moved: dict[str, int] = {}
        renamed = change.old is not None and change.new is not None and change.old != change.new
        if change.old is not None and (change.new is None or renamed):
            moved = self._remove(change.old, change.old_is_dir, change.ts_ns)
        if change.new is None:
            return
        if change.new_is_dir:
            self._add_dir(change.new, moved if renamed else {}, change.ts_ns)
        else:
            self._put(change.new, change.new_size, change.ts_ns)

    def _remove(self, path: str, is_dir: bool, ts: int) -> dict[str, int]:
        where = split_volume(path)
        if where is None:
            # A tenant directory (or /aegis/volumes itself): everything below goes.
            return self._remove_above_volumes(path, ts) if is_dir else {}
        volume, rel = where
        entry = self._volume(volume)
        if is_dir:
            return entry.remove_dir(rel, ts)
        size = entry.files.get(rel, (0, 0))[0]
        entry.remove(rel, ts)
        return {"": size}

    def _remove_above_volumes(self, path: str, ts: int) -> dict[str, int]:
        prefix = path.rstrip("/") + "/"
        removed = {}
        for volume in [v for v in self.volumes if v.startswith(prefix)]:
            for rel, size in self.volumes[volume].remove_dir("", ts).items():
                removed[f"{volume[len(prefix) :]}/{rel}"] = size
        return removed

    def _put(self, path: str, size: int, ts: int) -> None:
        where = split_volume(path)
        if where is not None and where[1]:
            self._volume(where[0]).put(where[1], size, ts)

    def _add_dir(self, path: str, moved: dict[str, int], ts: int) -> None:
        """A directory created, or moved here with the files `moved` (relative paths -> sizes)."""
        where = split_volume(path)
        if where is not None:
            # A directory anywhere in the volume means the volume directory exists: a rename into a volume that
            # was never created makes the filer create it without an event of its own.
            entry = self._volume(where[0])
            if entry.tombstones.get("", -1) < ts:
                entry.exists = True
        for rel, size in moved.items():
            self._put(f"{path}/{rel}" if rel else path, size, ts)

    def prune(self, older_than_ns: int) -> None:
        """Forgets tombstones older than `older_than_ns` (no replay reaches that far back) and empty volumes."""
        for key in list(self.volumes):
            entry = self.volumes[key]
            entry.tombstones = {rel: ts for rel, ts in entry.tombstones.items() if ts >= older_than_ns}
            if not entry.files and not entry.exists and not entry.tombstones:
                del self.volumes[key]

    def snapshot(self) -> dict[str, Any]:
        return {
            "last_ts": self.last_ts,
            "volumes": {key: [entry.exists, entry.files, entry.tombstones] for key, entry in self.volumes.items()},
        }

    @classmethod
    def restore(cls, data: dict[str, Any]) -> UsageIndex:
        index = cls()
        index.last_ts = int(data["last_ts"])
        for key, (exists, files, tombstones) in data["volumes"].items():
            files = {rel: (int(size), int(ts)) for rel, (size, ts) in files.items()}
            index.volumes[key] = Volume(files, dict(tombstones), sum(s for s, _ in files.values()), bool(exists))
        return index
