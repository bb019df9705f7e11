"""`weed shell` against a loopback cluster, and filer entries with a chosen modification time.

`fs.log.purge` judges a metadata log day folder by its modification time, which the filer sets when the
folder is created (a file written into it later leaves it unchanged). An old day folder is therefore made
with `fs.meta.load`, whose input is what `fs.meta.save` writes: each record a 4-byte big-endian length and
a `filer_pb.FullEntry` (dir = 1, entry = 2; Entry: name = 1, is_directory = 2, attributes = 4;
FuseAttributes: mtime = 2, file_mode = 3, crtime = 6), encoded here by hand.
"""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

from tests.support.cluster import weed_binary

GO_MODE_DIR = 1 << 31  # Go's os.ModeDir, as the filer stores a folder's mode


def run(masters: str, script: str, timeout: float = 120) -> str:
    """Feed `script` (commands, one a line) to `weed shell`; its stdout and stderr."""
    result = subprocess.run(
        [weed_binary(), "shell", f"-master={masters}"], input=script, capture_output=True, text=True, timeout=timeout
    )
    return result.stdout + result.stderr


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, value: int | bytes) -> bytes:
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def folder_record(parent: str, name: str, mtime: int) -> bytes:
    """One fs.meta.load record: the folder `parent/name`, modified (and created) at unix time `mtime`."""
    attributes = _field(2, mtime) + _field(3, GO_MODE_DIR | 0o755) + _field(6, mtime)
    entry = _field(1, name.encode()) + _field(2, 1) + _field(4, attributes)
    record = _field(1, parent.encode()) + _field(2, entry)
    return struct.pack(">I", len(record)) + record


def create_folders(masters: str, folders: list[tuple[str, str, int]], scratch: Path) -> str:
    """Create each (parent, name, mtime) folder through `fs.meta.load`; the shell's output."""
    meta = scratch / "folders.meta"
    meta.write_bytes(b"".join(folder_record(*folder) for folder in folders))
    return run(masters, f"fs.meta.load {meta}\n")
