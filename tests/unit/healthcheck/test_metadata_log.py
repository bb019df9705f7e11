"""The metadata log reader against listings shaped as a weed 4.48 filer sends them (seen on loopback)."""

from __future__ import annotations

import datetime

import httpx

from components.healthcheck.metadata_log import LOG_DIR, MetadataLog, read_metadata_log


def entry(path: str, size: int = 0) -> dict:
    return {"FullPath": path, "Mtime": "2026-12-07T03:31:37.789488311Z", "FileSize": size, "Mode": 420}


def filer(folders: dict[str, list[dict]], page: int = 1000) -> httpx.Client:
    """A filer whose listing pages `page` entries at a time, as ?limit= and ?lastFileName= ask."""

    def handle(request: httpx.Request) -> httpx.Response:
        assert request.headers["Accept"] == "application/json"
        path = request.url.path.rstrip("/")
        if path not in folders:
            return httpx.Response(404)
        names = folders[path]
        last = request.url.params.get("lastFileName", "")
        start = next((i + 1 for i, e in enumerate(names) if e["FullPath"].endswith("/" + last)), 0) if last else 0
        limit = min(int(request.url.params["limit"]), page)
        chunk = names[start : start + limit]
        more = start + limit < len(names)
        body = {"Path": path, "Entries": chunk or None, "Limit": limit, "ShouldDisplayLoadMore": more}
        body["LastFileName"] = chunk[-1]["FullPath"].rsplit("/", 1)[-1] if chunk else ""
        return httpx.Response(200, json=body)

    return httpx.Client(transport=httpx.MockTransport(handle))


def test_bytes_are_summed_over_every_day_and_the_oldest_day_is_named():
    folders = {
        LOG_DIR: [entry(f"{LOG_DIR}/2026-12-01"), entry(f"{LOG_DIR}/2026-12-07")],
        f"{LOG_DIR}/2026-12-01": [entry(f"{LOG_DIR}/2026-12-01/23-59.69dad7f4", 806)],
        f"{LOG_DIR}/2026-12-07": [entry(f"{LOG_DIR}/2026-12-07/{m:02d}-00.69dad7f4", 1000) for m in range(5)],
    }
    log = read_metadata_log("http://filer:8888", client=filer(folders, page=2))
    assert log == MetadataLog(bytes=5806, days=2, oldest_day=datetime.date(2026, 12, 1))
    assert log.age_days(datetime.date(2026, 12, 8)) == 7


def test_a_cluster_that_never_wrote_has_an_empty_log():
    log = read_metadata_log("http://filer:8888/", client=filer({}))
    assert log == MetadataLog(bytes=0, days=0, oldest_day=None)
    assert log.age_days(datetime.date(2026, 12, 8)) == 0


def test_a_folder_that_is_not_a_day_counts_its_bytes_but_not_its_age():
    folders = {
        LOG_DIR: [entry(f"{LOG_DIR}/2026-12-07"), entry(f"{LOG_DIR}/stray")],
        f"{LOG_DIR}/2026-12-07": [entry(f"{LOG_DIR}/2026-12-07/00-00.1", 10)],
        f"{LOG_DIR}/stray": [entry(f"{LOG_DIR}/stray/x", 5)],
    }
    log = read_metadata_log("http://filer:8888", client=filer(folders))
    assert (log.bytes, log.days, log.oldest_day) == (15, 1, datetime.date(2026, 12, 7))
