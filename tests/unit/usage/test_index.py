"""The usage index, pure: every event kind the filer's stream carries, replays and duplicates."""

from __future__ import annotations

import json
import random

from components.usage.events import ObjectStream, entry_size, to_change
from components.usage.index import Change, UsageIndex, split_volume
from components.usage.quotas import QUOTA_HEADER, Quotas, over_quota, quota_file, render_rules, volume_of
from components.usage.service import time_ago

V = "/aegis/volumes/t/v"


def put(ts: int, path: str, size: int) -> Change:
    return Change(ts, new=path, new_size=size)


def delete(ts: int, path: str, is_dir: bool = False) -> Change:
    return Change(ts, old=path, old_is_dir=is_dir)


def move(ts: int, old: str, new: str, is_dir: bool = False, size: int = 0) -> Change:
    return Change(ts, old=old, old_is_dir=is_dir, new=new, new_is_dir=is_dir, new_size=size)


def usage(changes: list[Change], volume: str = V) -> dict[str, int] | None:
    index = UsageIndex()
    for change in changes:
        index.apply(change)
    return index.status(volume)


def test_split_volume_names_only_paths_in_a_volume() -> None:
    assert split_volume(V) == (V, "")
    assert split_volume(f"{V}/a/b") == (V, "a/b")
    assert split_volume("/aegis/volumes/t") is None
    assert split_volume("/aegis/volumes/.usage/quotas/t/v") is None
    assert split_volume("/etc/seaweedfs/filer.conf") is None


def test_writes_overwrites_truncations_and_deletes() -> None:
    changes = [put(1, f"{V}/.keep", 0), put(2, f"{V}/a", 100), put(3, f"{V}/a", 40), put(4, f"{V}/b", 7)]
    assert usage(changes) == {"TotalSize": 47, "FileCount": 3}
    assert usage([*changes, delete(5, f"{V}/a")]) == {"TotalSize": 7, "FileCount": 2}


def test_recursive_delete_of_a_directory_and_of_the_volume() -> None:
    changes = [put(1, f"{V}/d/x", 10), put(2, f"{V}/d/e/y", 20), put(3, f"{V}/z", 1)]
    assert usage([*changes, delete(4, f"{V}/d", is_dir=True)]) == {"TotalSize": 1, "FileCount": 1}
    assert usage([*changes, delete(4, V, is_dir=True)]) is None
    assert usage([*changes, delete(4, "/aegis/volumes/t", is_dir=True)]) is None


def test_renames_of_files_and_directories_within_and_across_volumes() -> None:
    other = "/aegis/volumes/t/w"
    changes = [put(1, f"{V}/d/x", 10), put(2, f"{V}/d/y", 20)]
    assert usage([*changes, move(3, f"{V}/d", f"{V}/e/d", is_dir=True)]) == {"TotalSize": 30, "FileCount": 2}
    index = UsageIndex()
    for change in [*changes, move(3, f"{V}/d/x", f"{other}/x", size=10)]:
        index.apply(change)
    assert index.status(V) == {"TotalSize": 20, "FileCount": 1}
    assert index.status(other) == {"TotalSize": 10, "FileCount": 1}


def test_directory_rename_then_per_entry_events_as_weed_sends_them() -> None:
    changes = [
        put(1, f"{V}/d/x", 10),
        move(2, f"{V}/d", f"{V}/e/d", is_dir=True),
        move(3, f"{V}/d/x", f"{V}/e/d/x", size=10),
    ]
    index = UsageIndex()
    for change in changes:
        index.apply(change)
    assert index.status(V) == {"TotalSize": 10, "FileCount": 1}
    assert set(index.volumes[V].files) == {"e/d/x"}


def test_duplicates_and_late_older_events_change_nothing() -> None:
    changes = [put(1, f"{V}/a", 5), put(2, f"{V}/a", 9), put(3, f"{V}/d/b", 4), delete(4, f"{V}/d", is_dir=True)]
    expected = usage(changes)
    for seed in range(50):
        shuffled = changes * 2
        random.Random(seed).shuffle(shuffled)
        assert usage(shuffled) == expected == {"TotalSize": 9, "FileCount": 1}


def test_snapshot_restores_the_same_index_and_keeps_filtering_replays() -> None:
    index = UsageIndex()
    for change in [put(1, f"{V}/a", 5), put(2, f"{V}/b", 6), delete(3, f"{V}/b")]:
        index.apply(change)
    restored = UsageIndex.restore(json.loads(json.dumps(index.snapshot())))
    assert restored.status(V) == index.status(V) == {"TotalSize": 5, "FileCount": 1}
    restored.apply(put(2, f"{V}/b", 6))  # a replay from before the checkpoint
    assert restored.status(V) == {"TotalSize": 5, "FileCount": 1}
    assert restored.last_ts == 3


def test_prune_forgets_old_tombstones_and_empty_volumes() -> None:
    index = UsageIndex()
    for change in [put(1, f"{V}/a", 5), delete(2, V, is_dir=True)]:
        index.apply(change)
    index.prune(older_than_ns=10)
    assert V not in index.volumes


def event(directory: str, old: dict | None, new: dict | None, parent: str = "", ts: int = 7) -> dict:
    note = {"oldEntry": old, "newEntry": new, "newParentPath": parent}
    return {"directory": directory, "eventNotification": note, "tsNs": str(ts)}


def test_events_as_weed_prints_them() -> None:
    new = {"name": "a.bin", "isDirectory": False, "attributes": {"fileSize": "100"}, "chunks": [{"size": "100"}]}
    text = json.dumps(event(V, None, new, V), indent=2) + "\n" + json.dumps(event(V, new, None), indent=2) + "\n"
    stream = ObjectStream()
    changes = [to_change(e) for line in text.splitlines(keepends=True) if (e := stream.feed_line(line))]
    assert changes == [Change(7, new=f"{V}/a.bin", new_size=100), Change(7, old=f"{V}/a.bin")]


def test_entry_size_takes_chunks_and_inline_content() -> None:
    assert entry_size({"attributes": {"fileSize": "3"}, "chunks": [{"offset": "4", "size": "6"}]}) == 10
    assert entry_size({"attributes": {}, "content": "aGVsbG8="}) == 5


def test_quota_files_set_and_clear_quotas() -> None:
    quotas = Quotas()
    path = quota_file(V)
    assert quotas.apply(Change(5, new=path, extended=((QUOTA_HEADER, b"100"),)))
    assert not quotas.apply(put(6, f"{V}/a", 1))
    assert quotas.get(V) == 100
    assert over_quota({V: 101}, quotas) == {V} and over_quota({V: 100}, quotas) == set()
    quotas.apply(Change(4, new=path, extended=((QUOTA_HEADER, b"1"),)))  # older: ignored
    assert quotas.get(V) == 100
    quotas.apply(Change(7, old=path))
    assert quotas.get(V) is None


def test_read_only_rules_leave_the_stacks_rules_byte_for_byte_when_none_is_over() -> None:
    base = '{"version":1,"locations":[{"locationPrefix":"/aegis/volumes/","replication":"010"}]}\n'
    assert render_rules(base, []) == base
    rendered = json.loads(render_rules(base, [V]))
    assert rendered["locations"][1] == {"locationPrefix": f"{V}/", "readOnly": True}


def test_volume_of_accepts_exactly_a_volume() -> None:
    assert volume_of("%2Faegis%2Fvolumes%2Ft%2Fv") == V
    assert volume_of(f"{V}/") == V
    assert volume_of(f"{V}/a") is None
    assert volume_of("/aegis/volumes/t/..") is None
    assert volume_of("/aegis/volumes/.usage/quotas") is None


def test_time_ago_resumes_a_margin_before_the_checkpoint() -> None:
    assert time_ago(int(1000e9), now_s=1100.0) == "160s"


def test_a_directory_moved_into_a_volume_never_created_makes_the_volume_exist():
    # The filer creates the missing volume directory for the rename without an event of its own.
    changes = [
        put(1, f"{V}1/d/e/a", 0),
        delete(2, f"{V}1/d/e", is_dir=True),
        move(3, f"{V}1/d", f"{V}0/d", is_dir=True),
    ]
    assert usage(changes, f"{V}0") == {"TotalSize": 0, "FileCount": 0}
    assert usage([*changes, delete(4, f"{V}0", is_dir=True)], f"{V}0") is None
    assert usage([delete(4, f"{V}0", is_dir=True), *changes], f"{V}0") is None  # replayed after the delete
