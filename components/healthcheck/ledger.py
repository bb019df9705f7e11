"""The volume ledger: which volume ids the cluster held last time, so a volume that lost every copy is noticed.

A volume whose last copy is gone is simply absent from the master's `/vol/status` and `/dir/status`: the
copy count of the replica check only sees volumes that still have a copy. Only a record of earlier runs
can tell "gone" from "never existed". Pure: no I/O here; `volume_record.py` reads the cluster and stores
the record.

When an id disappears, the last record decides whether that was deliberate (weed 4.48, read in its source
and seen on loopback):
- `volume.deleteEmpty` deletes a volume only when its `.dat` is the bare 8-byte superblock
  (`v.Size <= super_block.SuperBlockSize`, weed/shell/command_volume_delete_empty.go), quiet for
  `-quietFor` (default 24 h). A volume whose every file was deleted is compacted to that size by vacuum.
- vacuum compacts a volume in place: the id stays (only `CompactRevision` and the sizes change).
- a volume with a TTL is deleted by its volume server once expired; AEGIS data never has one, and such
  volumes are left out of the record (their removal is by design, whenever it happens).
So an id gone that was empty or whose files were all deleted was removed on purpose; any other is lost.

The persisted form groups ids by (servers, collection, replication) as ranges, and keeps only volumes
that hold data: an empty volume may vanish at any time without loss, so it needs no entry. That keeps the
record small enough for an SSM parameter (see `MAX_RECORD_BYTES`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from components.healthcheck.wire import VolumeCopy, volume_copies

SUPERBLOCK_BYTES = 8  # a volume's .dat holding no needle at all; what volume.deleteEmpty deletes
RECORD_VERSION = 1
# The record's worst case per volume: a 7-digit id and its comma in a list of single ids (ids are dealt out
# in sequence, so ranges usually make it far less). Servers and collections are written once per group.
BYTES_PER_VOLUME = 8
MAX_RECORDED_VOLUMES = 900
# An SSM Advanced parameter holds 8 KiB; 900 volumes x 8 bytes plus the group keys stays under it.
# Prod has 3 x 256 slots, at most 384 two-copy volumes.
MAX_RECORD_BYTES = 8192


@dataclass(frozen=True)
class VolumeSeen:
    """One volume as the master's /vol/status lists it, merged over its copies."""

    id: int
    collection: str
    replication: str  # "010"
    servers: tuple[str, ...]
    size: int  # bytes of the largest copy's .dat
    deleted_bytes: int
    file_count: int
    delete_count: int
    ttl: bool = False

    @property
    def holds_data(self) -> bool:
        """False for what volume.deleteEmpty may delete now or after a vacuum: no needle, or every one deleted."""
        if self.size <= SUPERBLOCK_BYTES or self.size - self.deleted_bytes <= SUPERBLOCK_BYTES:
            return False
        return self.file_count > self.delete_count


@dataclass(frozen=True)
class Recorded:
    """What the record keeps of a volume that held data."""

    collection: str
    replication: str
    servers: tuple[str, ...]


@dataclass(frozen=True)
class Record:
    """Volume id -> what it was when last seen holding data."""

    volumes: Mapping[int, Recorded] = field(default_factory=dict)

    def to_json(self) -> str:
        groups: dict[tuple[tuple[str, ...], str, str], list[int]] = {}
        for vid, seen in sorted(self.volumes.items()):
            groups.setdefault((seen.servers, seen.collection, seen.replication), []).append(vid)
        servers = sorted({server for key in groups for server in key[0]})
        index = {server: i for i, server in enumerate(servers)}
        rows = [[[index[s] for s in key[0]], key[1], key[2], _ranges(ids)] for key, ids in sorted(groups.items())]
        return json.dumps({"v": RECORD_VERSION, "servers": servers, "groups": rows}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Record:
        """Raises ValueError for anything that is not a record this module wrote."""
        try:
            body = json.loads(text)
            if body["v"] != RECORD_VERSION:
                raise ValueError(f"volume record version {body['v']!r}, expected {RECORD_VERSION}")
            servers = [str(s) for s in body["servers"]]
            volumes = {
                vid: Recorded(str(collection), str(replication), tuple(servers[i] for i in holders))
                for holders, collection, replication, ranges in body["groups"]
                for vid in _ids(ranges)
            }
        except (KeyError, TypeError, IndexError, AttributeError) as exc:
            raise ValueError(f"not a volume record: {exc!r}") from None
        return cls(volumes)


def _ranges(ids: list[int]) -> str:
    """[1, 2, 3, 7] -> "1-3,7" (ids sorted)."""
    parts: list[str] = []
    start = prev = ids[0]
    for vid in [*ids[1:], None]:
        if vid is not None and vid == prev + 1:
            prev = vid
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if vid is not None:
            start = prev = vid
    return ",".join(parts)


def _ids(ranges: str) -> list[int]:
    found: list[int] = []
    for part in ranges.split(","):
        low, _, high = part.partition("-")
        found.extend(range(int(low), int(high or low) + 1))
    return found


@dataclass(frozen=True)
class Lost:
    id: int
    recorded: Recorded


@dataclass(frozen=True)
class Comparison:
    lost: tuple[Lost, ...]  # held data last time, no copy now
    next_record: Record
    recorded: int  # volumes the record held
    seen: int  # volumes with a copy now


def compare(previous: Record, current: Iterable[VolumeSeen]) -> Comparison:
    """Judge the ids the previous record holds against the volumes seen now.

    The next record is what holds data now plus every volume still lost: a lost volume stays named run
    after run until a copy comes back or an operator takes it out of the record, instead of being
    reported once and forgotten.
    """
    seen = {volume.id: volume for volume in current}
    lost = tuple(Lost(vid, rec) for vid, rec in sorted(previous.volumes.items()) if vid not in seen)
    kept: dict[int, Recorded] = {lose.id: lose.recorded for lose in lost}
    for volume in seen.values():
        if volume.holds_data and not volume.ttl:
            kept[volume.id] = Recorded(volume.collection, volume.replication, volume.servers)
    return Comparison(lost, Record(kept), len(previous.volumes), len(seen))


def volumes_of(vol_status: Mapping[str, Any] | None) -> list[VolumeSeen]:
    """Every volume in a master's /vol/status body, its copies merged; ValueError if the body is not one, or a
    copy's sizes or TTL are unreadable (a guessed size could call a volume holding data empty)."""
    copies = volume_copies(vol_status)
    if copies is None:
        raise ValueError("not a /vol/status body")
    by_id: dict[int, list[VolumeCopy]] = {}
    for copy in copies:
        by_id.setdefault(copy.id, []).append(copy)
    return [_merged(vid, found) for vid, found in sorted(by_id.items())]


def _merged(vid: int, found: list[VolumeCopy]) -> VolumeSeen:
    counts = [(c.size, c.deleted_bytes, c.file_count, c.delete_count) for c in found]
    if any(count is None for row in counts for count in row) or found[0].ttl is None:
        raise ValueError(f"not a /vol/status body: volume {vid} has unreadable sizes")
    first = found[0]
    # Copies can differ for a moment (one has taken a write the other has not): the largest decides.
    largest = max(found, key=lambda copy: copy.size or 0)
    return VolumeSeen(
        id=vid,
        collection=first.collection,
        replication=first.replication,
        servers=tuple(sorted(copy.server for copy in found)),
        size=largest.size or 0,
        deleted_bytes=largest.deleted_bytes or 0,
        file_count=largest.file_count or 0,
        delete_count=largest.delete_count or 0,
        ttl=bool(first.ttl),
    )
