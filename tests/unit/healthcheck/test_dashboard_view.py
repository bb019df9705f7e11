"""The dev terminal view (`python -m components.healthcheck.dashboard`) against the mocked cluster."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from components.healthcheck import dashboard
from components.healthcheck.wire import TENANTS_PATH
from tests.support.fake_cluster import ADMIN, MASTER, VOLUME, FakeCluster, make_target

STATS = "http://127.0.9.5:8404/stats;csv"
CSV = "# pxname,svname,status\nfilers,filer-0,UP\nfilers,filer-1,DOWN\nfilers,BACKEND,UP\n"


def transport(cluster: FakeCluster) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/stats"):
            return httpx.Response(200, text=CSV)
        return cluster.handle(request)

    return httpx.MockTransport(handle)


def outputs(tmp_path: Path) -> Path:
    target = make_target(volume_server_urls=(f"http://{VOLUME}",))
    health = {
        "filer_url": target.filer_url,
        "master_urls": list(target.master_urls),
        "expected_masters": 1,
        "expected_volume_servers": [VOLUME],
        "volume_server_urls": list(target.volume_server_urls),
    }
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({"health_target": health}))
    return path


def test_the_view_shows_every_figure_of_a_healthy_cluster(tmp_path, capsys) -> None:
    cluster = FakeCluster(used_slots=3, percent_free=40.0)
    argv = ["--stack-outputs", str(outputs(tmp_path)), "--haproxy-stats", STATS, "--no-color", "--title", "dev"]
    assert dashboard.main(argv, transport=transport(cluster)) == 0
    view = capsys.readouterr().out
    assert f"{MASTER}, named by 1 of 1 (quorum 1)" in view
    assert "1 of 2 UP" in view
    assert "Copies missing                0 (0 volume(s) short of copies)" in view
    assert f"{VOLUME} (DefaultRack)" in view and "5 of 8" in view and "40.0%" in view
    assert "n/a: no usage service answers on the admin URL" in view  # no admin URL in these outputs
    assert "no earlier sample yet (--sample-file keeps one an hour)" in view  # no --sample-file given


def test_copies_missing_and_a_lost_leader_show(tmp_path) -> None:
    cluster = FakeCluster(leaders={MASTER: ""}, volumes={1: [VOLUME], 2: [VOLUME]}, placement={"rack": 1})
    target = make_target()
    figures = dashboard.gather(target, transport=cluster.transport)
    assert figures.missing_copies == 2 and figures.degraded_volumes == 2
    view = dashboard.render(figures, (None, "why"), "dev", dashboard.Paint(False))
    assert "Raft leader                   none" in view
    assert "follows nobody" in view
    assert "not readable" in view  # no volume server /status URL: disk left out, never guessed


def test_days_until_full_come_from_the_growth_since_the_oldest_sample(tmp_path) -> None:
    cluster = FakeCluster(percent_free=50.0)  # 1000 bytes, 500 used
    target = make_target(volume_server_urls=(f"http://{VOLUME}",))
    now = 1_800_000_000.0
    figures = dashboard.gather(target, transport=cluster.transport, now=lambda: now)
    assert (figures.used_bytes, figures.free_bytes) == (500, 500)
    assert dashboard.days_until_full([], figures)[0] is None
    # 100 bytes more in 2 days: 50 a day, 500 free -> 10 days.
    days, how = dashboard.days_until_full([dashboard.Sample(now - 2 * 86400, 400, 600)], figures)
    assert days == pytest.approx(10.0) and "50 B/day" in how
    assert dashboard.days_until_full([dashboard.Sample(now - 86400, 500, 500)], figures)[0] is None


def test_the_sample_file_keeps_one_an_hour_for_eight_days(tmp_path) -> None:
    path = tmp_path / "samples.json"
    cluster = FakeCluster()
    target = make_target(volume_server_urls=(f"http://{VOLUME}",))
    samples: list[dashboard.Sample] = []
    for hours in (0, 0.5, 1, 24 * 9):
        figures = dashboard.gather(target, transport=cluster.transport, now=lambda h=hours: h * 3600)
        samples = dashboard.next_samples(samples, figures)
        dashboard.save_samples(path, samples)
    assert [s.at for s in dashboard.load_samples(path)] == [24 * 9 * 3600]
    path.write_text("{broken")
    with pytest.raises(ValueError, match="delete it to start over"):
        dashboard.load_samples(path)


def test_bad_input_is_one_line_and_status_2(tmp_path, capsys) -> None:
    path = tmp_path / "outputs.json"
    path.write_text("{}")
    assert dashboard.main(["--stack-outputs", str(path)]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_the_view_lists_the_top_tenants_from_the_usage_service(tmp_path, capsys) -> None:
    cluster = FakeCluster()
    tenants = {
        "small": {"bytes": 10, "files": 1, "volumes": 1, "growth_bytes_per_hour": None},
        "big": {"bytes": 3 * 1024**3, "files": 9, "volumes": 2, "growth_bytes_per_hour": 1024.0**2},
    }
    body = {"caught_up": True, "lagging": False, "lag_s": 0.0, "tenants": tenants}

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.netloc.decode() == ADMIN and request.url.path == TENANTS_PATH:
            return httpx.Response(200, json=body)
        return cluster.handle(request)

    path = outputs(tmp_path)
    document = json.loads(path.read_text())
    document["health_target"]["admin_url"] = f"http://{ADMIN}"
    path.write_text(json.dumps(document))
    assert dashboard.main(["--stack-outputs", str(path), "--no-color"], transport=httpx.MockTransport(handle)) == 0
    view = capsys.readouterr().out
    assert "top 10, current" in view
    lines = view.splitlines()
    big = next(i for i, line in enumerate(lines) if line.strip().startswith("big"))
    assert "3.0 GiB" in lines[big] and "1.0 MiB/h" in lines[big] and "small" in lines[big + 1]
