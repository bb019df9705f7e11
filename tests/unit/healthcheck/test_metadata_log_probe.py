"""The metadata log in the health check and the watch: read through the admin URL, degraded past its retention."""

from __future__ import annotations

import datetime

import httpx

from components.healthcheck import Target, run_checks
from components.healthcheck.metadata_log import utc_today
from components.healthcheck.watch import cluster_metrics, metadata_log_metrics
from tests.support.fake_cluster import ADMIN, FILER, FakeCluster, failure, make_target
from tests.support.health_outputs import fake_stack_outputs


def day(age: int) -> str:
    """The day folder `age` days before today, named as the filer names it."""
    return (utc_today() - datetime.timedelta(days=age)).isoformat()


def logged(*ages: int, size: int = 1000) -> FakeCluster:
    return FakeCluster(metadata_log={day(age): {"00-00.69dad7f4": size, "00-01.69dad7f4": size} for age in ages})


def log_result(cluster: FakeCluster, target: Target):
    report = run_checks(target, transport=cluster.transport)
    [result] = [r for r in report.results if r.check == "metadata log"]
    return report, result


def test_the_log_size_and_oldest_day_are_reported_through_the_admin_url() -> None:
    cluster = logged(0, 3, 8)
    report, result = log_result(cluster, make_target(admin_url=f"http://{ADMIN}", metadata_log_retention_days=7))
    assert report.healthy, report.table()
    assert (result.component, result.where) == ("filer", ADMIN)
    assert result.detail == f"6000 bytes in 3 day folder(s), oldest day {day(8)} (8 day(s) old)"
    # AEGIS's filer URL refuses /topics: the log is read on the admin frontend only.
    topics = [where for _, where in cluster.calls if "/topics/" in where]
    assert topics and all(where.startswith(ADMIN) for where in topics)


def test_a_log_older_than_the_retention_plus_a_day_is_degraded() -> None:
    target = make_target(admin_url=f"http://{ADMIN}", metadata_log_retention_days=7)
    report = run_checks(target, transport=logged(0, 9).transport)
    assert report.outcome == "degraded", report.table()
    problem = failure(report, "filer", "metadata log")
    assert problem.degraded and problem.where == ADMIN
    assert f"oldest day {day(9)} (9 day(s) old)" in problem.detail
    assert "older than the retention of 7 day(s) + 1, the purge is not running" in problem.detail


def test_a_cluster_that_never_wrote_has_an_empty_log() -> None:
    _, result = log_result(FakeCluster(), make_target(admin_url=f"http://{ADMIN}", metadata_log_retention_days=7))
    assert result.ok and result.detail == "0 bytes in 0 day folder(s), no day folder yet"


def test_a_filer_url_that_refuses_the_log_fails_the_check_naming_the_answer() -> None:
    # Without an admin URL the probe asks the filer URL, which refuses /topics as AEGIS's tier does.
    report = run_checks(make_target(metadata_log_retention_days=7), transport=logged(0).transport)
    problem = failure(report, "filer", "metadata log")
    assert (problem.where, problem.degraded) == (FILER, False)
    assert problem.detail == "cannot list /topics/.system/log: HTTP 403"


def test_an_unreachable_admin_url_is_a_clean_failure() -> None:
    cluster = logged(0)
    cluster.unreachable.add(ADMIN)
    report = run_checks(
        make_target(admin_url=f"http://{ADMIN}", metadata_log_retention_days=7), transport=cluster.transport
    )
    assert failure(report, "filer", "metadata log").detail == "cannot list /topics/.system/log: connection refused"


def test_no_retention_in_the_target_leaves_the_check_out() -> None:
    cluster = logged(30)
    report = run_checks(make_target(admin_url=f"http://{ADMIN}"), transport=cluster.transport)
    assert report.healthy and not [r for r in report.results if r.check == "metadata log"]
    assert not [where for _, where in cluster.calls if "/topics/" in where]


def test_the_retention_is_read_from_the_stack_outputs_and_old_outputs_default_it() -> None:
    assert Target.from_stack_outputs(fake_stack_outputs(metadata_log_retention_days=7)).metadata_log_retention_days == 7
    assert Target.from_stack_outputs(fake_stack_outputs()).metadata_log_retention_days == 0


def test_the_watch_publishes_the_log_bytes_and_its_oldest_day_age() -> None:
    target = make_target(admin_url=f"http://{ADMIN}", metadata_log_retention_days=7)
    metrics = cluster_metrics(target, [], transport=logged(0, 1, 9, size=250).transport)
    assert (metrics["MetadataLogBytes"], metrics["MetadataLogOldestDays"]) == (1500.0, 9.0)
    empty = cluster_metrics(target, [], transport=FakeCluster().transport)
    assert (empty["MetadataLogBytes"], empty["MetadataLogOldestDays"]) == (0.0, 0.0)


def test_the_watch_leaves_the_log_out_when_it_cannot_list_it() -> None:
    # Left out, not 0: the alarm treats missing data as breaching.
    with httpx.Client(transport=logged(0).transport) as client:
        assert metadata_log_metrics(client, f"http://{FILER}") == {}
        found = metadata_log_metrics(client, f"http://{ADMIN}", today=utc_today() + datetime.timedelta(days=2))
    assert found == {"MetadataLogBytes": 2000.0, "MetadataLogOldestDays": 2.0}
