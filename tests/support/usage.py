"""The filer listing the usage service's answers are held to (the service itself runs in LocalCluster)."""

from __future__ import annotations

import httpx


def listed_usage(client: httpx.Client, filer: str, directory: str) -> dict[str, int] | None:
    """What a full listing of `directory` adds up to, as AEGIS's JSON; None when it does not exist."""
    total = count = 0
    pending = [directory]
    while pending:
        current = pending.pop()
        last = ""
        while True:
            answer = client.get(
                f"{filer}{current}/",
                params={"limit": 1000, "lastFileName": last},
                headers={"Accept": "application/json"},
            )
            if answer.status_code == 404:
                if current == directory:
                    return None
                break
            answer.raise_for_status()
            entries = answer.json().get("Entries") or []
            for entry in entries:
                if entry["Mode"] & (1 << 31):  # os.ModeDir
                    pending.append(entry["FullPath"])
                else:
                    total += entry["FileSize"]
                    count += 1
            if not answer.json().get("ShouldDisplayLoadMore"):
                break
            last = entries[-1]["FullPath"].rsplit("/", 1)[-1]
    return {"TotalSize": total, "FileCount": count}
