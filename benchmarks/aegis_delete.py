"""Bytes on the volume servers before and after AEGIS deletes its volumes, on the dev and the HA topology.

`python -m benchmarks.aegis_delete [--mib 200] [--topology dev|ha ...]` starts each topology on loopback (the
stacks' commands; HA with PostgreSQL), then with AEGIS's own calls (tests/support/aegis_client.py):

1. through AEGIS's filer URL, the HAProxy: creates VOLUMES volumes holding `--mib` MiB in FILES_PER_VOLUME files
   each, deletes them with `DELETE /dir/?path=<volume>&recursive=true`, waits until the volume servers count the
   deleted bytes, and vacuums (master `/vol/vacuum?garbageThreshold=0.0001`);
2. the same against the filer directly, as AEGIS talked to the dev filer before the HTTP tier: the filer answers
   204 and frees nothing. That run's volumes are then removed with the filer's own recursive delete.

It prints the volume servers' bytes at every step: the `Size` of their volumes (`/status`, every copy) and the
bytes allocated on disk in their data directories. Not part of `python -m benchmarks`, whose default run
has no room for it. Every wait is bounded; every process it starts is stopped by PID.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

from components.model.config import parse
from components.model.refs import Ref
from components.model.topology import Role
from tests.support import aegis_client as aegis
from tests.support.cluster import LocalCluster, fresh_values, health_target, loopback_topology, running, wait_for_report
from tests.support.postgres import LocalPostgres
from tests.support.stack_configs import prod

MIB = 1024 * 1024
VOLUMES = 20
FILES_PER_VOLUME = 5
SUBNETS = {"dev": "127.0.43", "ha": "127.0.46"}
GARBAGE_THRESHOLD = "0.0001"
SETTLE_LIMIT = 60.0


@dataclass(frozen=True)
class Bytes:
    volumes: int  # sum of every volume's Size on every volume server (each copy counts)
    on_disk: int  # bytes allocated to the files in the volume servers' data directories


def volume_sizes(status: dict) -> tuple[int, int]:
    """(Size, DeletedByteCount) summed over a volume server's `/status` answer."""
    volumes = status.get("Volumes") or []
    return sum(v["Size"] for v in volumes), sum(v["DeletedByteCount"] for v in volumes)


def allocated_bytes(directory: Path) -> int:
    return sum(path.stat().st_blocks * 512 for path in directory.rglob("*") if path.is_file())


def mib(count: int) -> str:
    return f"{count / MIB:,.1f} MiB"


def measure(cluster: LocalCluster) -> tuple[Bytes, int]:
    """The volume servers' bytes now, and the deleted bytes they still hold."""
    sizes, deleted, disk = 0, 0, 0
    for server in cluster.topology.of(Role.VOLUME):
        size, garbage = volume_sizes(httpx.get(f"http://{server.http_address}/status", timeout=10).json())
        sizes, deleted = sizes + size, deleted + garbage
        disk += allocated_bytes(Path(server.data_dir))
    return Bytes(sizes, disk), deleted


def wait_for(what: str, holds: Callable[[], bool], limit: float = SETTLE_LIMIT) -> float:
    started = time.monotonic()
    while not holds():
        if time.monotonic() - started > limit:
            raise TimeoutError(f"{what} did not happen within {limit:.0f}s")
        time.sleep(0.5)
    return time.monotonic() - started


def write_volumes(client: httpx.Client, url: str, total_mib: int, tag: str) -> list[str]:
    """VOLUMES AEGIS volumes, created, quota'd and filled the way AEGIS does it."""
    file_bytes = total_mib * MIB // (VOLUMES * FILES_PER_VOLUME)
    volumes = []
    for index in range(VOLUMES):
        volume = aegis.volume_path(f"bench-{tag}")
        for answer in [*aegis.create_directory(client, url, volume), aegis.set_quota(client, url, volume, 1000 * MIB)]:
            answer.raise_for_status()
        for number in range(FILES_PER_VOLUME):
            client.put(f"{url}{volume}/file-{number}.bin", content=os.urandom(file_bytes)).raise_for_status()
        volumes.append(volume)
        print(f"  {tag}: volume {index + 1}/{VOLUMES} written", file=sys.stderr, flush=True)
    return volumes


def vacuum(cluster: LocalCluster) -> None:
    """Ask the masters, in turn, until one runs the vacuum (followers may refuse)."""
    errors = []
    for master in cluster.topology.of(Role.MASTER):
        url = f"http://{master.http_address}/vol/vacuum?garbageThreshold={GARBAGE_THRESHOLD}"
        try:
            if httpx.get(url, timeout=300).status_code == 200:
                return
            errors.append(f"{master.name}: HTTP error")
        except httpx.HTTPError as err:
            errors.append(f"{master.name}: {type(err).__name__}")
    raise RuntimeError(f"no master ran the vacuum ({'; '.join(errors)})")


def delete_and_vacuum(cluster: LocalCluster, client: httpx.Client, url: str, volumes: list[str]) -> list[Bytes]:
    """AEGIS's delete of every volume through `url`, then the vacuum: the bytes after each."""
    before, garbage_before = measure(cluster)
    for volume in volumes:
        answer = aegis.delete_directory(client, url, volume)
        if answer.status_code not in (200, 204):
            raise RuntimeError(f"AEGIS's delete of {volume} answered {answer.status_code}: {answer.text}")
    # The filer hands chunk deletions to the volume servers in the background; wait for them, bounded.
    stable = [measure(cluster)[1]]

    def garbage_settled() -> bool:
        stable.append(measure(cluster)[1])
        return stable[-1] > garbage_before and stable[-1] == stable[-2]

    # Nothing counted within the limit: nothing was deleted, which is what a bare filer does.
    with suppress(TimeoutError):
        wait_for("the volume servers counting the deleted bytes", garbage_settled, limit=15.0)
    deleted, _ = measure(cluster)
    vacuum(cluster)
    vacuumed, _ = measure(cluster)
    return [before, deleted, vacuumed]


@contextmanager
def started(topology_name: str, root: Path) -> Iterator[LocalCluster]:
    subnet = SUBNETS[topology_name]
    with ExitStack() as stack:
        if topology_name == "dev":
            cfg = parse({}, stack="dev")
            values = fresh_values()
        else:
            cfg = prod()
            values = fresh_values(f"{subnet}.60")
            assert cfg.aws is not None
            postgres = LocalPostgres(
                f"{subnet}.60",
                cfg.aws.database.port,
                cfg.aws.database.name,
                cfg.aws.database.user,
                values[Ref.DB_PASSWORD],
            )
            stack.callback(postgres.remove)
            postgres.init()
        topology, _ = loopback_topology(cfg, root, subnet)
        cluster = stack.enter_context(running(topology, values, root))
        report = wait_for_report(health_target(topology, values), healthy=True, timeout=90)
        if not report.healthy:
            raise RuntimeError(f"{topology_name} cluster not healthy:\n{report.table()}")
        yield cluster


def run_topology(topology_name: str, total_mib: int, root: Path) -> list[tuple[str, str, Bytes]]:
    rows: list[tuple[str, str, Bytes]] = []
    with started(topology_name, root) as cluster, httpx.Client(timeout=aegis.TIMEOUT) as client:
        lb = cluster.topology.load_balancers[0]
        filer = cluster.topology.of(Role.FILER)[0]
        paths = {"via the HTTP tier": f"http://{lb.host}:{lb.port}", "filer directly": f"http://{filer.http_address}"}
        rows.append((topology_name, "empty cluster", measure(cluster)[0]))
        for path_name, url in paths.items():
            volumes = write_volumes(client, url, total_mib, path_name.split()[0])
            written, deleted, vacuumed = delete_and_vacuum(cluster, client, url, volumes)
            rows += [
                (topology_name, f"{path_name}: {total_mib} MiB written", written),
                (topology_name, f"{path_name}: AEGIS deleted", deleted),
                (topology_name, f"{path_name}: after vacuum", vacuumed),
            ]
            for volume in volumes:  # what a bare filer left behind goes with its real delete
                client.delete(f"{url}{volume}?recursive=true")
    return rows


def render(rows: Sequence[tuple[str, str, Bytes]]) -> str:
    header = ("topology", "step", "volume Size (all copies)", "allocated on disk")
    cells = [header, *((t, step, mib(b.volumes), mib(b.on_disk)) for t, step, b in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(4)]
    return "\n".join(
        "  ".join(f"{c:{'>' if i > 1 else '<'}{w}}" for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        for row in cells
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.aegis_delete", description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=200, help="MiB of AEGIS volumes per run (default 200)")
    parser.add_argument("--topology", action="append", choices=sorted(SUBNETS), help="repeatable; default both")
    args = parser.parse_args(argv)
    if args.mib < VOLUMES * FILES_PER_VOLUME / 1024:
        parser.error("--mib is too small")
    rows = []
    started_at = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="aegis-delete-") as tmp:
        for name in args.topology or ["dev", "ha"]:
            rows += run_topology(name, args.mib, Path(tmp) / name)
    print(render(rows))
    print(f"total wall time {time.monotonic() - started_at:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
