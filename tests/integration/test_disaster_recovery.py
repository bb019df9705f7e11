"""The disaster-recovery drill of docs/disaster-recovery.md, for real on loopback."""

import httpx
import pytest

from components.model.refs import Ref
from components.model.topology import Role
from tests.support.drill import fsck_missing, run_drill, signed_volume_delete
from tests.support.stack_configs import prod

pytestmark = pytest.mark.integration


def test_rebuild_from_a_consistent_backup_loses_nothing(tmp_path):
    rebuilt = run_drill(prod(), tmp_path, files=2000, subnet="127.0.5")
    try:
        result = rebuilt.result
        print(f"\ndisaster-recovery drill: {result.summary()}")
        assert result.files == 2000
        assert result.healthy_after, result.health_table
        assert result.files_lost == []
        assert result.checksum_mismatches == []
        assert result.new_writes_failed == 0
        assert result.fid_collisions == []
        assert result.fsck_missing == []

        # The fsck verdict can fail: lose one restored chunk on purpose and it must name the file.
        victim = next(f for f in rebuilt.files if len(f.fids) == 1)
        volume_id = victim.fids[0][0]
        cluster = rebuilt.cluster
        master = cluster.topology.of(Role.MASTER)[0].http_address
        lookup = httpx.get(f"http://{master}/dir/lookup?volumeId={volume_id}", timeout=10).json()
        meta = httpx.get(
            f"http://{cluster.topology.of(Role.FILER)[0].http_address}{victim.path}?metadata=true", timeout=10
        ).json()
        file_id = meta["chunks"][0]["file_id"]
        for location in lookup["locations"]:
            deleted = signed_volume_delete(location["url"], file_id, cluster.values[Ref.JWT_SIGNING_KEY])
            assert deleted.status_code == 202, deleted.text
        assert fsck_missing(cluster.topology) == [victim.path]
    finally:
        rebuilt.close()
