"""The volume ledger and its record: a volume that lost every copy is named, a deliberate removal is not.

Bodies follow weed 4.48's /vol/status (fields copied from a loopback cluster): ReplicaPlacement leaves out zero
digits, a volume holding nothing is the 8-byte superblock.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from components.healthcheck.ledger import (
    MAX_RECORD_BYTES,
    Record,
    Recorded,
    VolumeSeen,
    compare,
    volumes_of,
)
from components.healthcheck.probing import Http
from components.healthcheck.volume_record import FileRecord, SsmRecord, check_volume_record

MASTER = "127.0.9.1:9333"
A, B, C = "127.0.9.21:8080", "127.0.9.22:8080", "127.0.9.23:8080"


def volume(vid: int, size: int = 4096, files: int = 3, deletes: int = 0, deleted: int = 0, **extra: Any) -> dict:
    return {
        "Id": vid,
        "Collection": extra.get("collection", ""),
        "ReplicaPlacement": {"rack": 1},
        "Ttl": extra.get("ttl", {"Count": 0, "Unit": 0}),
        "Size": size,
        "DeletedByteCount": deleted,
        "FileCount": files,
        "DeleteCount": deletes,
    }


def vol_status(holders: dict[str, list[dict]]) -> dict[str, Any]:
    racks = {f"rack-{server}": {server: volumes} for server, volumes in holders.items()}
    return {"Version": "8000GB 4.48 pypi", "Volumes": {"DataCenters": {"dc": racks}}}


def seen(vid: int, **changes: Any) -> VolumeSeen:
    values: dict[str, Any] = dict(
        id=vid, collection="", replication="010", servers=(A, B), size=4096, deleted_bytes=0, file_count=3
    )
    return VolumeSeen(**(values | {"delete_count": 0} | changes))


def test_volumes_merge_their_copies_and_read_the_placement() -> None:
    body = vol_status({A: [volume(1), volume(2, size=8, files=0)], B: [volume(1, size=5000)]})
    found = {v.id: v for v in volumes_of(body)}
    assert found[1].servers == (A, B) and found[1].size == 5000 and found[1].replication == "010"
    assert found[2].servers == (A,) and not found[2].holds_data


@pytest.mark.parametrize("body", [{}, {"Volumes": {"DataCenters": {"dc": {"r": {A: [{"Size": 1}]}}}}}, []])
def test_what_is_not_vol_status_is_refused(body: Any) -> None:
    with pytest.raises(ValueError, match="not a /vol/status body"):
        volumes_of(body)


@pytest.mark.parametrize(
    "volume_seen, holds",
    [
        (seen(1), True),
        (seen(1, size=8, file_count=0), False),  # never written: what volume.deleteEmpty deletes
        (seen(1, size=4096, deleted_bytes=4088, file_count=3, delete_count=3), False),  # every file deleted
        (seen(1, size=4096, deleted_bytes=100, file_count=3, delete_count=3), False),  # files all deleted
        (seen(1, size=4096, deleted_bytes=100, file_count=3, delete_count=1), True),
    ],
)
def test_what_counts_as_holding_data(volume_seen: VolumeSeen, holds: bool) -> None:
    assert volume_seen.holds_data is holds


def test_a_volume_gone_that_held_data_is_lost_and_an_empty_one_is_not() -> None:
    first = compare(Record(), [seen(1), seen(2, size=8, file_count=0), seen(3)])
    assert not first.lost and set(first.next_record.volumes) == {1, 3}
    second = compare(first.next_record, [seen(3)])  # 1 held data, 2 was empty
    assert [lose.id for lose in second.lost] == [1]
    assert second.lost[0].recorded == Recorded("", "010", (A, B))


def test_a_lost_volume_stays_named_until_a_copy_returns() -> None:
    lost_once = compare(compare(Record(), [seen(1), seen(2)]).next_record, [seen(2)])
    still = compare(lost_once.next_record, [seen(2)])
    assert [lose.id for lose in still.lost] == [1]
    back = compare(still.next_record, [seen(1, servers=(C,)), seen(2)])
    assert not back.lost and back.next_record.volumes[1].servers == (C,)


def test_a_volume_emptied_before_it_went_is_a_deliberate_removal() -> None:
    record = compare(Record(), [seen(1)]).next_record
    emptied = compare(record, [seen(1, deleted_bytes=4088, delete_count=3)]).next_record
    assert not compare(emptied, []).lost


def test_ttl_volumes_are_not_recorded() -> None:
    assert not compare(Record(), [seen(1, ttl=True)]).next_record.volumes


def test_vacuum_keeps_the_id_so_nothing_is_lost() -> None:
    record = compare(Record(), [seen(1, deleted_bytes=2000, delete_count=1)]).next_record
    assert not compare(record, [seen(1, size=2104)]).lost


def test_the_record_round_trips_as_ranges() -> None:
    volumes = {vid: Recorded("", "010", (A, B)) for vid in (*range(1, 200), 300)}
    volumes[7] = Recorded("tenant", "010", (B, C))
    text = Record(volumes).to_json()
    assert Record.from_json(text) == Record(volumes)
    assert '"1-6,8-199,300"' in text and len(text) < 200


def test_the_record_stays_inside_its_bound_in_the_worst_case() -> None:
    # Every other id: no range can merge them; 7-digit ids; two server pairs.
    volumes = {1_000_000 + 2 * i: Recorded("", "010", (A, B) if i % 2 else (B, C)) for i in range(900)}
    assert len(Record(volumes).to_json()) <= MAX_RECORD_BYTES


@pytest.mark.parametrize(
    "text", ["{}", '{"v": 2, "servers": [], "groups": []}', '{"v":1,"servers":[],"groups":[[[0],"","010","1"]]}']
)
def test_a_broken_record_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        Record.from_json(text)


def run(body: dict[str, Any] | None, store: Any) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        if body is None:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        return httpx.Response(200, json=body)

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        [result] = check_volume_record(Http(client, 3.0), [f"http://{MASTER}"], store)
    return result


def test_the_check_names_lost_volumes_with_their_last_servers(tmp_path: Path) -> None:
    store = FileRecord(tmp_path / "record.json")
    first = run(vol_status({A: [volume(1), volume(2), volume(3, size=8, files=0)], B: [volume(1), volume(2)]}), store)
    assert first.ok and "first run: recorded 2 volume(s)" in first.detail
    later = run(vol_status({A: [volume(1)], B: [volume(1)]}), store)
    assert not later.ok and not later.degraded
    assert later.detail.startswith("1 volume(s) lost every copy without a deliberate delete: ")
    assert f"volume 2 (default collection, 010) last on {A}, {B}" in later.detail
    assert "volume 3" not in later.detail
    assert later.detail.endswith(f"removed from the record, {store.path})")  # where an operator finds it


def test_an_unreachable_master_keeps_the_record(tmp_path: Path) -> None:
    store = FileRecord(tmp_path / "record.json")
    run(vol_status({A: [volume(1)]}), store)
    before = store.path.read_text()
    failed = run(None, store)
    assert not failed.ok and "no master answered /vol/status" in failed.detail and "record is kept" in failed.detail
    assert store.path.read_text() == before


def test_a_corrupt_record_fails_the_check_instead_of_passing(tmp_path: Path) -> None:
    store = FileRecord(tmp_path / "record.json")
    store.path.write_text("not json")
    result = run(vol_status({A: [volume(1)]}), store)
    assert not result.ok and str(store.path) in result.detail


def test_the_file_is_replaced_atomically_and_leaves_no_temp_file(tmp_path: Path) -> None:
    store = FileRecord(tmp_path / "deep" / "record.json")
    store.save(Record({1: Recorded("", "000", (A,))}))
    store.save(Record({2: Recorded("", "000", (A,))}))
    assert [p.name for p in store.path.parent.iterdir()] == ["record.json"]
    assert set(Record.from_json(store.path.read_text()).volumes) == {2}


class FakeSsm:
    class ParameterNotFound(Exception):
        pass

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.puts: list[dict[str, Any]] = []

    def get_parameter(self, Name: str) -> dict[str, Any]:
        if Name not in self.values:
            raise FakeSsm.ParameterNotFound(f"An error occurred (ParameterNotFound) when calling GetParameter: {Name}")
        return {"Parameter": {"Name": Name, "Value": self.values[Name]}}

    def put_parameter(self, **kwargs: Any) -> None:
        self.puts.append(kwargs)
        self.values[kwargs["Name"]] = kwargs["Value"]


def test_the_ssm_record_starts_empty_and_overwrites_one_parameter() -> None:
    ssm = FakeSsm()
    store = SsmRecord(ssm, "/aegis-storage/prod/health/volume-record")
    assert run(vol_status({A: [volume(5)]}), store).ok
    lost = run(vol_status({A: []}), store)
    assert "volume 5" in lost.detail
    assert [p["Overwrite"] for p in ssm.puts] == [True, True] and ssm.puts[0]["Tier"] == "Advanced"
    assert json.loads(ssm.values[store.name])["groups"][0][3] == "5"
