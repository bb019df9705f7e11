"""The metadata backup's model: where it runs, what its script does, and the file `fs.meta.load` keeps whole."""

from __future__ import annotations

import struct

from components.aws.placement import prod_topology
from components.model.metadata_backup import SAVED, loadable, metadata_backup
from components.model.refs import Ref
from tests.support.stack_configs import prod
from tests.support.weed_shell import folder_record


def file_record(parent: str, name: str) -> bytes:
    record = b"\n" + bytes([len(parent)]) + parent.encode() + b"\x12" + bytes([len(name) + 2]) + b"\n"
    record += bytes([len(name)]) + name.encode()
    return struct.pack(">I", len(record)) + record


def test_it_runs_on_the_first_filer_and_copies_to_the_stack_url():
    backup = metadata_backup(prod_topology(prod()))
    assert backup.node == "filer-0" and backup.target == Ref.METADATA_BACKUP_URL.placeholder
    assert not Ref.METADATA_BACKUP_URL.secret
    script = backup.script(("weed",))
    assert "weed shell -master=master-0." in script and "-filer" not in script
    assert 'echo "fs.meta.save -o $PWD/$name /"' in script and f"grep -q '{SAVED}' save.log" in script
    assert 's3://*) aws s3 cp --only-show-errors "$name" "$target/"' in script


def test_loadable_repeats_the_first_named_directory_at_the_end():
    root = folder_record("", "", 1)  # the root record fs.meta.save writes first has no name
    aegis = folder_record("/", "aegis", 2)
    meta = root + aegis + file_record("/aegis", "a.bin") + file_record("/aegis", "b.bin")
    assert loadable(meta) == meta + aegis
    files_only = file_record("/aegis", "a.bin")
    assert loadable(files_only) == files_only
