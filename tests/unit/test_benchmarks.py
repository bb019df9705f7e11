"""The benchmark suite's pure parts: statistics, the table and JSON, arguments, budgets. No processes."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from benchmarks import aegis_delete, filer_failover, leader_failover, loadgen, probe, suite
from benchmarks.core import (
    SLACK,
    Budget,
    Context,
    Deadline,
    Estimate,
    Figure,
    describe,
    format_number,
    render_table,
    results_json,
)
from benchmarks.ha import Clusters
from components.model.haproxy import SHIPPED, render_haproxy_cfg


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_figure_statistics_are_min_median_max_of_its_values():
    assert Figure("s", "f", "s").stats() is None
    assert Figure("s", "f", "s", [3.0, 1.0, 2.0, 10.0]).stats() == (1.0, 2.5, 10.0)
    assert Figure("s", "f", "s", [7.0]).stats() == (7.0, 7.0, 7.0)


@pytest.mark.parametrize(
    ("value", "shown"),
    [(0, "0"), (12.0, "12"), (1234.5, "1234"), (27.84, "27.8"), (3.14159, "3.14"), (0.0512, "0.051"), (-2.5, "-2.50")],
)
def test_numbers_are_shown_with_useful_precision(value, shown):
    assert format_number(value) == shown


def test_table_has_the_seven_columns_one_row_per_figure_and_aligned_numbers():
    figures = [
        Figure("throughput", "PUT+GET via HAProxy", "ops/s", [210.0, 230.4, 199.9]),
        Figure("dr-drill", "files lost", "files", []),
    ]
    lines = render_table(figures).splitlines()
    cells = [[c.strip() for c in line.split("|")] for line in lines]
    assert cells[0] == ["scenario", "figure", "runs", "min", "median", "max", "unit"]
    assert set(lines[1]) <= {"-", "+"}
    assert cells[2] == ["throughput", "PUT+GET via HAProxy", "3", "200", "210", "230", "ops/s"]
    assert cells[3] == ["dr-drill", "files lost", "0", "-", "-", "-", "files"]
    assert len(lines) == 4
    # Every column is padded to one width, and numbers are right-aligned in it.
    assert len({tuple(i for i, c in enumerate(line) if c == "|") for line in lines[:1] + lines[2:]}) == 1
    assert lines[2].split("|")[3].endswith("200 ")


def test_json_keeps_every_raw_value_and_the_summary():
    document = results_json(
        [Figure("cold-start", "start", "s", [5.123456, 6.0, 5.5])],
        started="2026-01-01T00:00:00+00:00",
        total_seconds=812.345,
        runs=3,
        scenarios={"cold-start": {"seconds": 1.0, "estimate": 21.0, "error": None}},
    )
    assert json.loads(json.dumps(document)) == document
    assert document["total_seconds"] == 812.3
    (figure,) = document["figures"]
    assert figure == {
        "scenario": "cold-start",
        "figure": "start",
        "unit": "s",
        "runs": 3,
        "min": 5.123456,
        "median": 5.5,
        "max": 6.0,
        "values": [5.1235, 6.0, 5.5],
    }


def test_describe_marks_what_never_happened():
    assert describe({"leader": 3.912, "write": None}) == "leader 3.91s, write -"


def test_a_scenario_gets_its_estimate_with_slack_but_not_the_time_reserved_for_later_ones():
    clock = FakeClock()
    budget = Budget(900.0, clock)
    assert budget.deadline(100.0, reserved_after=0.0).left() == 100.0 * SLACK
    clock.now += 700.0
    # 200 s left, 150 s of it reserved for the scenarios still to come.
    assert budget.deadline(100.0, reserved_after=150.0).left() == 50.0
    clock.now += 300.0
    assert budget.deadline(100.0, reserved_after=0.0).left() == 0.0


def test_runs_always_include_the_first_and_stop_at_the_deadline(tmp_path):
    clock = FakeClock()
    ctx = Context(Clusters(tmp_path), tmp_path, Deadline(clock.now + 10.0, clock), "t")
    done = []
    for run in ctx.runs(5):
        done.append(run)
        clock.now += 6.0
    assert done == [0, 1]
    expired = Context(Clusters(tmp_path), tmp_path, Deadline(clock.now - 1.0, clock), "t")
    assert list(expired.runs(3)) == [0]


def test_arguments_default_to_three_runs_every_scenario_and_the_ignored_results_file():
    args = suite.parse_args([])
    assert args.runs == 3 and args.only is None and args.budget == 15 * 60
    assert args.json == Path(suite.__file__).parent / "results" / "latest.json"
    gitignore = (Path(suite.__file__).parent.parent / ".gitignore").read_text().split()
    assert "benchmarks/results/" in gitignore


def test_only_is_repeatable_and_the_plan_keeps_execution_order():
    args = suite.parse_args(["--only", "dr-drill", "--only", "throughput", "--runs", "5", "--json", "x.json"])
    assert [s.NAME for s in suite.plan(args.only)] == ["throughput", "dr-drill"]
    assert args.runs == 5 and args.json == Path("x.json")
    assert [s.NAME for s in suite.plan(None)] == list(suite.NAMES)


@pytest.mark.parametrize("argv", [["--only", "nope"], ["--runs", "0"]])
def test_bad_arguments_are_refused(argv):
    with pytest.raises(SystemExit):
        suite.parse_args(argv)


def test_every_scenario_is_a_small_module_with_a_name_an_estimate_and_a_run():
    assert len(set(suite.NAMES)) == len(suite.NAMES)
    assert {
        "throughput",
        "leader-failover",
        "filer-failover",
        "cold-start",
        "health-check",
        "mock-evaluation",
        "dr-drill",
        "repair",
    } <= set(suite.NAMES)
    for scenario in suite.SCENARIOS:
        assert scenario.__doc__ and callable(scenario.run) and isinstance(scenario.SHARED, bool)
        assert isinstance(scenario.ESTIMATE, Estimate) and scenario.ESTIMATE.seconds(1) > 0


def test_the_default_suite_fits_fifteen_minutes_by_its_measured_estimates():
    planned = suite.estimate(suite.plan(None), 3)
    assert planned < suite.LIMIT_SECONDS, planned
    # Later runs are dropped rather than blowing the limit, but the default must not rely on that.
    assert planned < 0.95 * suite.LIMIT_SECONDS


def test_the_shared_cluster_scenarios_run_back_to_back():
    shared = [s.SHARED for s in suite.SCENARIOS]
    first, last = shared.index(True), len(shared) - 1 - shared[::-1].index(True)
    assert all(shared[first : last + 1])


def test_haproxy_defaults_variant_renders_haproxys_own_behaviour():
    cfg = render_haproxy_cfg(
        ["f0:8888"],
        bind="127.0.0.1",
        port=8888,
        stats_bind="127.0.0.1",
        stats_port=8404,
        settings=filer_failover.VARIANTS["haproxy defaults"],
    )
    assert "retries" not in cfg and "redispatch" not in cfg and "retry-on" not in cfg
    assert "http-buffer-request" not in cfg
    assert "inter 2s fastinter 2s fall 3 rise 2" in cfg
    assert filer_failover.VARIANTS["shipped"] == SHIPPED
    unbuffered = filer_failover.VARIANTS["shipped, no http-buffer-request"]
    assert unbuffered.buffer_requests is False and unbuffered.retries == SHIPPED.retries


def test_leader_failover_variants_differ_only_in_the_master_raft_settings():
    variants = leader_failover.variants()
    assert {label: (c.raft_hashicorp, c.election_timeout) for label, c in variants.items()} == {
        "raft 10s": (False, "10s"),
        "hashicorp": (True, "10s"),
        "raft 3s": (False, "3s"),
    }
    base = variants["raft 10s"]
    for cfg in variants.values():
        assert cfg.aws == base.aws and cfg.master_count == base.master_count


def test_aegis_delete_sums_every_volume_of_a_volume_servers_status():
    status = {
        "Volumes": [
            {"Id": 1, "Size": 3000050, "DeletedByteCount": 3000050},
            {"Id": 2, "Size": 198, "DeletedByteCount": 0},
        ]
    }
    assert aegis_delete.volume_sizes(status) == (3000248, 3000050)
    assert aegis_delete.volume_sizes({"Volumes": None}) == (0, 0)


def test_aegis_delete_prints_one_aligned_row_per_step():
    rows = [
        ("ha", "empty cluster", aegis_delete.Bytes(0, 100 * 1024)),
        ("ha", "via the HTTP tier: 200 MiB written", aegis_delete.Bytes(400 * 1024 * 1024, 401 * 1024 * 1024)),
    ]
    lines = aegis_delete.render(rows).splitlines()
    assert lines[0].split()[:2] == ["topology", "step"]
    assert lines[1].split()[-4:] == ["0.0", "MiB", "0.1", "MiB"]
    assert lines[2].split()[-4:] == ["400.0", "MiB", "401.0", "MiB"]
    assert len({len(line) for line in lines}) == 1


def test_aegis_delete_is_not_in_the_default_suite():
    assert "aegis-delete" not in suite.NAMES
    with pytest.raises(SystemExit):
        aegis_delete.main(["--topology", "nope"])


def test_the_rolling_upgrade_runs_after_cold_start_so_its_older_weed_is_no_cold_start_figure():
    names = list(suite.NAMES)
    assert names.index("rolling-upgrade") > names.index("cold-start")


def test_write_unavailability_spans_each_failure_to_the_next_success_and_every_slow_write():
    from benchmarks.rolling_upgrade import unavailability

    assert unavailability([(0.0, 0.1, True), (1.0, 1.1, True)]) == 0.0
    # failed at 2.0 (hung 10 s), next success ends at 12.5; overlapping failures count once
    writes = [(0.0, 0.1, True), (2.0, 12.0, False), (3.0, 3.2, False), (12.1, 12.5, True), (20.0, 22.0, True)]
    assert unavailability(writes) == pytest.approx(10.5 + 2.0)
    assert unavailability([(0.0, 5.0, False)]) == 5.0  # never recovered: the failed write itself


def test_the_leader_failover_scenario_repeats_the_shipped_setting():
    from tests.support.stack_configs import prod

    shipped = leader_failover.variants()[leader_failover.SHIPPED]
    assert (shipped.raft_hashicorp, shipped.election_timeout) == (prod().raft_hashicorp, prod().election_timeout)


def _probes(*spans: tuple[float, float, bool]) -> list[probe.Probe]:
    return [probe.Probe(start, end, ok, "201" if ok else "ReadTimeout") for start, end, ok in spans]


def test_probe_gaps_are_zero_without_failures_and_without_probes():
    found = probe.gaps(_probes((0.0, 0.01, True), (0.1, 0.11, True), (0.2, 0.21, True)))
    assert (found.longest, found.total, found.failed, found.probes, found.recovered) == (0.0, 0.0, 0, 3, True)
    assert probe.gaps([]) == probe.Gaps(0.0, 0.0, 0, 0, True, {})


def test_a_probe_gap_runs_from_the_last_success_to_the_end_of_the_first_success_after_it():
    found = probe.gaps(
        _probes(
            (0.0, 0.01, True),
            (0.1, 0.5, False),  # timed out
            (0.5, 0.9, False),
            (0.9, 0.92, True),  # gap 0.01 -> 0.92
            (1.0, 1.01, True),
            (1.1, 1.5, False),
            (1.5, 1.52, True),  # gap 1.01 -> 1.52
        )
    )
    assert found.longest == pytest.approx(0.91)
    assert found.total == pytest.approx(0.91 + 0.51)
    assert (found.failed, found.probes, found.recovered) == (3, 7, True)
    assert found.errors == {"ReadTimeout": 3}


def test_probe_order_does_not_matter():
    spans = [(0.0, 0.01, True), (0.1, 0.5, False), (0.5, 0.52, True)]
    assert probe.gaps(_probes(*reversed(spans))) == probe.gaps(_probes(*spans))


def test_a_failure_at_the_start_counts_from_the_first_probe():
    found = probe.gaps(_probes((0.0, 0.4, False), (0.4, 0.8, False), (0.8, 0.81, True), (0.9, 0.91, True)))
    assert found.longest == pytest.approx(0.81) and found.total == pytest.approx(0.81)
    assert found.recovered


def test_a_failure_at_the_end_runs_to_its_last_probe_and_is_not_recovered():
    found = probe.gaps(_probes((0.0, 0.01, True), (0.1, 0.5, False), (0.5, 0.6, False)))
    assert found.longest == pytest.approx(0.59) and found.failed == 2
    assert not found.recovered
    only_failures = probe.gaps(_probes((2.0, 2.4, False), (2.4, 2.8, False)))
    assert only_failures.longest == pytest.approx(0.8) and not only_failures.recovered


def test_probe_figures_state_their_resolution_and_take_one_value_each():
    # The bar: a gap resolved to 0.5 s or better.
    assert probe.RESOLUTION <= 0.5
    assert all("0.5 s resolution" in name for name, unit in probe.UNITS.items() if unit == "s")
    write = probe.gaps(_probes((0.0, 0.01, True), (0.1, 0.5, False), (0.5, 0.51, True)))
    read = probe.gaps(_probes((0.0, 0.01, True)))
    values = probe.values({"write": write, "read": read})
    assert list(values) == list(probe.UNITS)
    assert list(values.values()) == pytest.approx([0.5, 0.5, 1.0, 0.0, 0.0])
    logged = probe.summary("write", write)
    assert logged == "write: 3 probes, 1 failed (ReadTimeout 1), longest gap 0.500s, total 0.500s"


def test_the_load_generator_sends_the_query_form_encoded_as_aegis_does():
    request = loadgen.get_request("127.0.0.1", 8888, "/dir/status", {"path": "/aegis/volumes/t/v"})
    assert request == (
        b"GET /dir/status?path=%2Faegis%2Fvolumes%2Ft%2Fv HTTP/1.1\r\nhost: 127.0.0.1:8888\r\n"
        b"accept: application/json\r\n\r\n"
    )


def test_an_answer_is_complete_at_its_content_length_and_says_when_the_server_closes():
    head = b"HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\nConnection: close\r\n\r\n"
    assert loadgen.answer_length(head[:-2]) is None
    assert loadgen.answer_length(head + b"no") == (404, len(head) + 5, True)
    assert loadgen.answer_length(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n") == (200, 38, False)


def test_percentiles_interpolate_and_a_single_value_is_its_own():
    assert loadgen.percentile(list(range(1, 102)), 50) == 51
    assert loadgen.percentile(list(range(1, 102)), 99) == pytest.approx(100)
    assert loadgen.percentile([3.0], 99) == 3.0


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format, *args):
        pass


def test_a_worker_answers_every_request_on_its_keep_alive_connections_and_counts_from_the_due_time():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        start = time.monotonic() + 0.05
        due = [start + i * 0.002 for i in range(50)]
        request = loadgen.get_request("127.0.0.1", server.server_port, "/x")
        result = loadgen.run_worker(("127.0.0.1", server.server_port), [request], due, connections=2)
    finally:
        server.shutdown()
    assert result.statuses == {200: 50}
    assert (result.failed, result.unanswered, result.reconnects) == (0, 0, 0)
    assert len(result.latencies_ms) == 50 and min(result.latencies_ms) > 0
    assert result.last_answer >= due[-1]
