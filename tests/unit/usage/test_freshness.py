"""Caught up, current and lagging, with a fake clock and heartbeats fed as the stream would bring them back."""

from __future__ import annotations

import json
from pathlib import Path

from components.usage.freshness import CATCHING_UP, HEARTBEAT_HEADER, LAG_LIMIT_S, Freshness, health_line
from components.usage.index import Change
from components.usage.quotas import SYNC_ROOT
from components.usage.server import NO_VOLUME, NOT_READY
from components.usage.service import IDLE_CHECKPOINT_S, Settings, State, checkpoint_due, stale_for

MARKER = f"{SYNC_ROOT}lb-0"
V = "/aegis/volumes/t/v"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def beat_back(state: State, value: str, ts: int = 1) -> None:
    """The stream bringing back the marker's overwrite with heartbeat `value`."""
    extended = ((HEARTBEAT_HEADER, value.encode()),)
    state.apply(Change(ts, old=MARKER, new=MARKER, extended=extended))


def started() -> tuple[State, Clock]:
    clock = Clock()
    return State(marker=MARKER, freshness=Freshness("s1"), clock=clock), clock


def test_a_heartbeat_that_comes_back_ends_the_lag_and_one_left_out_makes_it_grow():
    fresh = Freshness("s1")
    assert fresh.lag_s(0.0) == 0.0  # nothing sent: nothing to wait for
    first = fresh.next_beat(10.0)
    second = fresh.next_beat(15.0)
    assert (first, second) == ("s1.1", "s1.2")
    assert fresh.lag_s(20.0) == 10.0
    assert fresh.seen(first) and fresh.lag_s(20.0) == 5.0
    assert fresh.seen(second) and fresh.lag_s(99.0) == 0.0
    fresh.next_beat(100.0)
    assert not fresh.lagging(100.0 + LAG_LIMIT_S)
    assert fresh.lagging(100.0 + LAG_LIMIT_S + 0.1)


def test_a_later_heartbeat_clears_every_earlier_one_and_other_starts_count_for_nothing():
    fresh = Freshness("s2")
    for at in (1.0, 2.0, 3.0):
        fresh.next_beat(at)
    assert not fresh.seen("s1.3")  # an earlier start's heartbeat, replayed
    assert not fresh.seen("s2.x")
    assert fresh.lag_s(4.0) == 3.0
    assert fresh.seen("s2.3") and fresh.lag_s(4.0) == 0.0


def test_a_dead_stream_keeps_its_oldest_unseen_heartbeat_however_many_are_sent():
    fresh = Freshness("s")
    for at in range(10_000):
        fresh.next_beat(float(at))
    assert fresh.lag_s(10_000.0) == 10_000.0
    assert len(fresh._unseen) <= 100


def test_health_says_catching_up_then_ok_then_lagging_on_one_line():
    fresh = Freshness("s")
    assert health_line(False, fresh, 0.0) == (503, CATCHING_UP)
    assert health_line(True, fresh, 0.0) == (200, "ok")
    fresh.next_beat(0.0)
    assert health_line(True, fresh, 31.4) == (503, "lagging: the metadata stream brought nothing back for 31 s")


def test_the_service_answers_usage_only_while_caught_up_and_fresh():
    state, clock = started()
    state.apply(Change(5, new=f"{V}/a", new_size=7))
    assert state.health() == (503, CATCHING_UP) and state.status(V) is None
    beat = state.freshness.next_beat(clock())
    beat_back(state, beat, ts=6)
    assert state.health() == (200, "ok") and state.status(V) == {"TotalSize": 7, "FileCount": 1}
    state.freshness.next_beat(clock())  # the stream stops here: this one never comes back
    clock.now += LAG_LIMIT_S + 1
    assert state.health()[0] == 503 and "lagging" in state.health()[1]
    assert state.status(V) is None and not state.ready()
    # A peer's heartbeat on the same stream, or this node's from an earlier start, proves nothing.
    beat_back(state, "s0.99", ts=7)
    state.apply(Change(8, old=f"{SYNC_ROOT}lb-1", new=f"{SYNC_ROOT}lb-1", extended=((HEARTBEAT_HEADER, b"s1.9"),)))
    assert not state.ready()
    beat_back(state, f"s1.{state.freshness.sequence}", ts=9)
    assert state.ready()


def test_the_not_ready_answer_is_the_404_aegis_reads_as_0_whether_catching_up_or_lagging():
    assert NOT_READY.startswith("usage not ready: ") and "404 as 0" in NOT_READY
    assert NO_VOLUME != NOT_READY


def test_heartbeats_move_the_replay_point_but_rewrite_the_checkpoint_only_rarely(tmp_path: Path):
    state, clock = started()
    settings = Settings(filers=(), state_dir=tmp_path, node="lb-0", base_rules="{}")
    beat_back(state, state.freshness.next_beat(clock()), ts=50)
    assert state.index.last_ts == 50 and not state.changed
    assert not checkpoint_due(state, settings.checkpoint_every_s, 0, settings)
    assert checkpoint_due(state, IDLE_CHECKPOINT_S, 0, settings)
    assert not checkpoint_due(state, IDLE_CHECKPOINT_S, 50, settings)  # nothing new since that save
    state.apply(Change(60, new=f"{V}/a", new_size=1))
    assert state.changed and checkpoint_due(state, settings.checkpoint_every_s, 50, settings)


def test_tenants_report_says_whether_the_figures_are_current():
    state, clock = started()
    state.apply(Change(5, new=f"{V}/a", new_size=7))
    body = json.loads(json.dumps(state.tenants()))
    assert body["caught_up"] is False and body["lagging"] is True
    assert body["tenants"] == {"t": {"bytes": 7, "files": 1, "volumes": 1, "growth_bytes_per_hour": None}}
    beat_back(state, state.freshness.next_beat(clock()), ts=6)
    body = state.tenants()
    assert (body["caught_up"], body["lagging"], body["lag_s"]) == (True, False, 0.0)
    assert body["lag_limit_s"] == LAG_LIMIT_S and body["growth_window_s"] == 3600.0


def test_a_tail_is_restarted_only_once_it_ran_and_the_service_lagged_for_twice_the_limit():
    state, clock = started()
    state.freshness.next_beat(clock())
    started_at = clock()
    clock.now += 2 * LAG_LIMIT_S
    assert not stale_for(state, started_at, clock())
    clock.now += 1
    assert stale_for(state, started_at, clock())
    assert not stale_for(state, clock() - 5, clock())  # a tail restarted 5 s ago gets its chance
