"""The metadata backup restores instead of RDS: the backup job's own file and a later copy of the volumes give
back every file written before the backup, with 0 missing chunks; files written after it are orphans, counted."""

import pytest

from tests.support.metadata_drill import run_metadata_drill
from tests.support.stack_configs import prod

pytestmark = pytest.mark.integration

BEFORE, AFTER = 400, 100


def test_restore_from_the_metadata_backup_and_later_volumes_misses_no_chunk(tmp_path):
    result = run_metadata_drill(prod(), tmp_path, before=BEFORE, after=AFTER, subnet="127.0.86")
    print(f"\nmetadata-backup drill: {result.summary()}\nbackup job: {result.backup_output.strip()}")
    print("\n".join(line for line in result.fsck_output.splitlines() if "orphan" in line.lower()))
    assert result.files_before == BEFORE and result.files_after == AFTER
    assert "total" in result.backup_output and result.backup_bytes > 0
    assert result.files_lost == [] and result.checksum_mismatches == []
    assert result.fsck_missing == []
    # Written after the backup: on the disks, not in the metadata.
    assert result.after_files_visible == 0
    assert result.fsck_orphans >= result.chunks_after, result.fsck_output[-3000:]
