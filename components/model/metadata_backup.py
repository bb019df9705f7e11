"""The filer metadata backup that does not depend on the metadata store: `fs.meta.save` of the whole filer tree,
gzipped, copied to where the stack keeps it, on a schedule.

RDS point-in-time recovery is the database's own backup; a lost account, a dropped database or a corruption
replicated before anyone noticed takes it with it. This one is the filer's view (every entry and the chunks it
is made of, as `filer_pb.FullEntry` records), read through the filer, so it restores into any filer store with
`fs.meta.load`, PostgreSQL or not.

Seen on weed 4.48 (tests/integration/test_metadata_backup.py):
- `fs.meta.save -o <file>.meta.gz /` writes the tree gzip-compressed (the name decides) and prints
  `meta data for http://<filer>/ is saved to <file>`; `fs.meta.load <file>.meta.gz` reads it back as is.
- `weed shell` exits 1 when the command fails (an unreachable filer, an unwritable file); the script also
  requires the "is saved to" line, so a shell that exits 0 without saving never uploads a partial file.
- `fs.meta.save` walks the live tree, so the backup is not one instant: it holds each entry as it was when
  the walk reached it. What matters for a restore is that every chunk it names was written before the save
  finished; the upload's time (the object's LastModified) is therefore the backup's time.
- It takes no admin `lock`: the masters' maintenance script and an operator's shell are not held up.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from components.model.refs import Ref
from components.model.topology import Role, Topology

# Hourly: a disaster-recovery restore pairs the newest backup finished before the disk snapshots (DLM, every
# 4 hours within a one-hour window AWS picks), so the files written or changed between the two are at most
# about an hour's worth. A constant, like the snapshot schedule in components/aws/backups.py.
SCHEDULE = "hourly"  # systemd OnCalendar
OBJECT_PREFIX = "filer-metadata"
SAVED = "is saved to"  # the line fs.meta.save prints once the file is complete


@dataclass(frozen=True)
class MetadataBackup:
    """A scheduled job on one node: save the tree through a filer the masters name, then copy the file to
    `target`.

    `target` is `{{metadata_backup_url}}` in the model: an `s3://bucket/prefix` on AWS (copied with the AWS
    CLI, which the node has), a directory anywhere else (the tests, or an operator's run by hand).
    """

    name: str
    node: str  # the weed node that runs it
    masters: str
    # Under the node's data directory, which its process sees at the same path: the AWS nodes run the save
    # inside the node's own container (`docker exec`), and the host copies the file from there.
    work_dir: str
    schedule: str = SCHEDULE
    target: str = Ref.METADATA_BACKUP_URL.placeholder

    def script(self, weed: Sequence[str]) -> str:
        """The POSIX sh script; `weed` is how this placement runs the binary (the image on AWS)."""
        return backup_script(weed, self.masters, self.work_dir, self.target)


def metadata_backup(topology: Topology) -> MetadataBackup:
    """The backup runs on the first filer's node: one copy an hour is enough, a filer node may reach the
    filers' gRPC (a master or volume node may not), and its shell asks the masters for a filer, so any one
    filer up is enough: they all see the whole tree (they share the store). While that node is down no backup
    is taken; the first run after it is back takes one."""
    filer = topology.of(Role.FILER)[0]
    return MetadataBackup(
        name="metadata-backup",
        node=filer.name,
        masters=",".join(topology.master_addresses),
        work_dir=f"{filer.data_dir}/metadata-backup",
    )


def backup_script(weed: Sequence[str], masters: str, work_dir: str, target: str) -> str:
    """Terse on purpose: it is in a node document, which must fit a 4 KB SSM parameter.
    The name carries the UTC start time, so names sort in time order. The work directory keeps the newest
    file (a local copy until the next run), and whatever a run killed halfway left behind is removed by the
    next one. A local `target` must exist."""
    shell = shlex.join((*weed, "shell", f"-master={masters}"))
    work = shlex.quote(work_dir)
    return f"""#!/bin/sh
set -eu
target={shlex.quote(target)}
name=filer-metadata-$(date -u +%Y-%m-%dT%H-%M-%SZ).meta.gz
mkdir -p {work}
cd {work}
rm -f filer-metadata-*.meta.gz
echo "fs.meta.save -o $PWD/$name /" | {shell} >save.log 2>&1 && grep -q {shlex.quote(SAVED)} save.log || {{
  cat save.log >&2
  exit 1
}}
case $target in
  s3://*) aws s3 cp --only-show-errors "$name" "$target/" ;;
  *) cp "$name" "$target/" ;;
esac
grep total save.log
"""


def loadable(meta: bytes) -> bytes:
    """The uncompressed backup with one record appended, so `fs.meta.load` keeps its last file.

    weed 4.48's `fs.meta.load` creates files in goroutines and returns at the end of its input without waiting
    for them: the filer connection closes under the last create, that file is lost, and it still prints
    "is loaded" (the drill lost exactly the backup's last record). A directory record makes it wait for every
    file before it, so the backup's first named directory is repeated at the end: recreating an existing
    directory with its own attributes changes nothing. Records: a 4-byte big-endian length and a
    `filer_pb.FullEntry` (dir = 1, entry = 2; Entry: name = 1, is_directory = 2)."""
    offset = 0
    while offset + 4 <= len(meta):
        size = int.from_bytes(meta[offset : offset + 4], "big")
        record = meta[offset : offset + 4 + size]
        if _is_named_directory(record[4:]):
            return meta + record
        offset += 4 + size
    return meta


def _is_named_directory(full_entry: bytes) -> bool:
    fields = dict(_fields(full_entry))
    entry = fields.get(2)
    if not isinstance(entry, bytes):
        return False
    inner = dict(_fields(entry))
    return bool(inner.get(1)) and inner.get(2) == 1


def _fields(message: bytes) -> list[tuple[int, int | bytes]]:
    """Top-level (field number, value) pairs of a protobuf message: varints and length-delimited fields only,
    which is all a FullEntry's first fields use; stops at anything else."""
    found: list[tuple[int, int | bytes]] = []
    offset = 0
    while offset < len(message):
        key, offset = _varint(message, offset)
        number, kind = key >> 3, key & 7
        if kind == 0:
            value, offset = _varint(message, offset)
            found.append((number, value))
        elif kind == 2:
            length, offset = _varint(message, offset)
            found.append((number, message[offset : offset + length]))
            offset += length
        else:
            break
    return found


def _varint(data: bytes, offset: int) -> tuple[int, int]:
    value, shift = 0, 0
    while offset < len(data):
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return value, offset
