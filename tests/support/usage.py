"""The usage service on loopback beside a LocalCluster, and the filer listing its answers are held to."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from components.model.topology import Role
from tests.support.cluster import LocalCluster, weed_binary

REPO = Path(__file__).resolve().parents[2]


@dataclass
class UsageProcess:
    url: str
    popen: subprocess.Popen[bytes]

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.popen.poll() is None:
            os.kill(self.popen.pid, sig)
        self.popen.wait(timeout=20)

    def status(self, volume: str) -> httpx.Response:
        return httpx.get(f"{self.url}/dir/status", params={"path": volume}, timeout=10)

    def wait_caught_up(self, timeout: float = 60.0) -> float:
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).text == "ok":
                    return time.monotonic() - start
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"{self.url} did not catch up within {timeout:.0f}s")


def start_usage(cluster: LocalCluster, host: str, port: int, state_dir: Path, node: str = "lb-0") -> UsageProcess:
    """`python -m components.usage` for `cluster`'s filers, with the topology's rendered filer rules."""
    rules = state_dir / "filer.conf"
    state_dir.mkdir(parents=True, exist_ok=True)
    rules.write_text(cluster.topology.filer_rules)
    filers = ",".join(s.http_address for s in cluster.topology.of(Role.FILER))
    argv = [sys.executable, "-m", "components.usage", f"--filers={filers}", f"--bind={host}", f"--port={port}"]
    argv += [f"--state-dir={state_dir}", f"--node={node}", f"--rules={rules}", f"--weed={weed_binary()}"]
    log = (state_dir / "usage.log").open("ab")
    popen = subprocess.Popen(argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return UsageProcess(f"http://{host}:{port}", popen)


@contextmanager
def running_usage(cluster: LocalCluster, host: str, port: int, state_dir: Path) -> Iterator[UsageProcess]:
    process = start_usage(cluster, host, port, state_dir)
    try:
        process.wait_caught_up()
        yield process
    finally:
        process.stop()


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
