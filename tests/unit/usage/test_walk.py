"""A first start's walk: the filer's listing pages as index changes, and an index built from a walk that ran while
the volumes changed, plus the streams from before it, ends exact."""

from __future__ import annotations

import base64
import json
import random
import threading
import time
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.usage.index import Change, UsageIndex
from components.usage.quotas import QUOTA_HEADER, Quotas, quota_file
from components.usage.service import REPLAY_MARGIN_S, Settings, start, time_ago
from components.usage.walk import MODE_DIR, listing, walk, walk_changes

V = "/aegis/volumes/t/v"


def entry(path: str, size: int = 0, is_dir: bool = False, extended: Mapping[str, bytes] | None = None) -> dict:
    """One entry as weed 4.48's JSON listing spells it (Mode 432 = 0660 for a file)."""
    encoded = {k: base64.b64encode(v).decode() for k, v in (extended or {}).items()} or None
    return {"FullPath": path, "Mode": (MODE_DIR | 0o770) if is_dir else 432, "FileSize": size, "Extended": encoded}


def tree_lister(entries: list[dict], page: int = 2, gone: frozenset[str] = frozenset()) -> Any:
    """A filer holding `entries`, listing `page` at a time and answering 404 for the directories in `gone`."""
    calls: list[tuple[str, str]] = []

    def lister(directory: str, last: str) -> dict | None:
        calls.append((directory, last))
        if directory in gone:
            return None
        children = sorted(
            (e for e in entries if e["FullPath"].rsplit("/", 1)[0] == directory), key=lambda e: e["FullPath"]
        )
        after = [e for e in children if e["FullPath"].rsplit("/", 1)[-1] > last] if last else children
        return {"Entries": after[:page], "ShouldDisplayLoadMore": len(after) > page}

    lister.calls = calls  # type: ignore[attr-defined]
    return lister


def test_a_listing_page_names_its_entries_and_the_next_page() -> None:
    body = {"Entries": [entry(f"{V}/a", 5), entry(f"{V}/d", is_dir=True)], "ShouldDisplayLoadMore": True}
    found, last = listing(body)
    assert [(e.path, e.is_dir, e.size) for e in found] == [(f"{V}/a", False, 5), (f"{V}/d", True, 0)]
    assert last == "d"
    assert listing({"Entries": None, "ShouldDisplayLoadMore": False}) == ([], None)
    # An empty page that claims more would loop forever: it ends the directory.
    assert listing({"Entries": [], "ShouldDisplayLoadMore": True}) == ([], None)


def test_the_walk_pages_through_every_directory_and_skips_one_deleted_meanwhile() -> None:
    entries = [
        entry("/aegis/volumes/t", is_dir=True),
        entry(V, is_dir=True),
        *(entry(f"{V}/f{i}", i) for i in range(5)),
        entry(f"{V}/d", is_dir=True),
        entry(f"{V}/d/x", 100),
        entry("/aegis/volumes/t/gone", is_dir=True),
        entry("/aegis/volumes/t/gone/y", 7),
    ]
    lister = tree_lister(entries, gone=frozenset({"/aegis/volumes/t/gone"}))
    walked = {e.path: e.size for e in walk(lister) if not e.is_dir}
    assert walked == {**{f"{V}/f{i}": i for i in range(5)}, f"{V}/d/x": 100}
    # d and f0..f4 in V: three pages of two, each asked after the last name of the page before.
    assert [last for directory, last in lister.calls if directory == V] == ["", "f0", "f2"]


def test_walked_quota_files_carry_their_quota() -> None:
    quota = quota_file(V)
    parents = quota.split("/")
    dirs = ["/".join(parents[:i]) for i in range(4, len(parents))]
    lister = tree_lister([*(entry(d, is_dir=True) for d in dirs), entry(quota, 3, extended={QUOTA_HEADER: b"123"})])
    quotas = Quotas()
    for change in walk_changes(lister, 10):
        quotas.apply(change)
    assert quotas.get(V) == 123


FILES = [f"{V}/a", f"{V}/b", f"{V}/d/x", f"{V}/d/y", "/aegis/volumes/t/w/z"]
OPERATION = st.one_of(
    st.tuples(st.just("put"), st.sampled_from(FILES), st.integers(0, 50)),
    st.tuples(st.just("delete"), st.sampled_from(FILES)),
    st.tuples(st.just("rmdir"), st.just(f"{V}/d")),
)


def truth(operations: list[tuple], upto: int) -> dict[str, int]:
    files: dict[str, int] = {}
    for kind, path, *rest in operations[:upto]:
        if kind == "put":
            files[path] = rest[0]
        elif kind == "delete":
            files.pop(path, None)
        else:
            files = {p: s for p, s in files.items() if not p.startswith(path + "/")}
    return files


def as_change(ts: int, operation: tuple) -> Change:
    kind, path, *rest = operation
    if kind == "put":
        return Change(ts, new=path, new_size=rest[0])
    return Change(ts, old=path, old_is_dir=kind == "rmdir")


@settings(max_examples=300, deadline=None)
@given(
    operations=st.lists(OPERATION, min_size=1, max_size=25),
    data=st.data(),
)
def test_a_walk_during_writes_plus_the_streams_from_before_it_is_exact(operations: list[tuple], data: Any) -> None:
    """Event i has ts i+1. The walk begins after event `start` and reads each path at its own moment between then
    and the end; its changes are stamped a margin before it began, and the streams replay every event from before
    that stamp on, interleaved with the walk in any order (the walk and the tails are separate threads)."""
    n = len(operations)
    start = data.draw(st.integers(0, n))
    margin = data.draw(st.integers(1, 3))
    walk_ts = start + 1 - margin
    seen: list[tuple[str, int]] = []
    for path in FILES:
        state = truth(operations, data.draw(st.integers(start, n)))
        if path in state:
            seen.append((path, state[path]))
    walked = list(walk_changes(_lister_of(seen), walk_ts))
    streamed = [as_change(i + 1, op) for i, op in enumerate(operations) if i + 1 >= walk_ts]
    rng = random.Random(data.draw(st.integers(0, 2**32)))
    merged = _interleave(walked, streamed, rng)
    index = UsageIndex()
    for change in merged:
        index.apply(change)
    final = truth(operations, n)
    for volume in ("/aegis/volumes/t/v", "/aegis/volumes/t/w"):
        files = {p: s for p, s in final.items() if p.startswith(volume + "/")}
        got = index.status(volume) or {"TotalSize": 0, "FileCount": 0}
        assert got == {"TotalSize": sum(files.values()), "FileCount": len(files)}, (volume, merged)


def _lister_of(seen: list[tuple[str, int]]) -> Any:
    """The walk over a listing of exactly `seen` (directories derived from the paths)."""
    directories = {"/".join(p.split("/")[:i]) for p, _ in seen for i in range(4, p.count("/") + 1)}
    entries = [entry(d, is_dir=True) for d in directories] + [entry(p, s) for p, s in seen]
    return tree_lister(entries, page=3)


def _interleave(walked: list, streamed: list, rng: random.Random) -> list:
    """Each list keeps its own order; which comes next is random."""
    merged, i, j = [], 0, 0
    while i < len(walked) or j < len(streamed):
        if j >= len(streamed) or (i < len(walked) and rng.random() < 0.5):
            merged.append(walked[i])
            i += 1
        else:
            merged.append(streamed[j])
            j += 1
    return merged


def started(state_dir: Any) -> Any:
    """`start` with its stop already set: every thread ends at once, before any process or request."""
    stop = threading.Event()
    stop.set()
    settings = Settings(filers=("127.0.0.1:9",), state_dir=state_dir, node="lb-0", base_rules="{}")
    state, threads = start(settings, stop)
    for thread in threads:
        thread.join(timeout=10)
    return state


def test_a_first_start_walks_and_tails_from_just_before_the_walk_not_from_the_log_start(tmp_path: Any) -> None:
    before = time.time_ns()
    state = started(tmp_path)
    assert not state.walked.is_set()  # the walk never ran: the index is partial
    assert before - state.index.last_ts == pytest.approx(REPLAY_MARGIN_S * 1e9, abs=5e9)
    assert time_ago(state.index.last_ts) == f"{2 * REPLAY_MARGIN_S:.0f}s"
    assert not (tmp_path / "checkpoint.json").exists()  # a partial index is never a checkpoint


def test_a_restart_with_a_checkpoint_does_not_walk(tmp_path: Any) -> None:
    index = UsageIndex()
    index.apply(Change(int(1e18), new=f"{V}/a", new_size=5))
    (tmp_path / "checkpoint.json").write_text(json.dumps({"index": index.snapshot(), "quotas": {}}))
    state = started(tmp_path)
    assert state.walked.is_set()
    assert state.index.status(V) == {"TotalSize": 5, "FileCount": 1}
