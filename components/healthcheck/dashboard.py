"""The prod dashboard's figures as one terminal view, for the dev stack (or any stack the runner can reach).

    pulumi stack output --json --show-secrets | python -m components.healthcheck.dashboard --stack-outputs -

It reads what the scheduled watch reads (components/healthcheck/watch.py), once: each master's
`/cluster/status` (leader and quorum), a master's `/dir/status` (free slots per volume server) and `/vol/status`
(copies missing), each volume server's `/status` where the target names a readable URL (disk; the dev stack
publishes no volume server port, so its disk shows as not readable), and each HAProxy stats CSV given with
`--haproxy-stats` (filers UP; dev publishes no stats port either), and usage per tenant from the usage service
through the admin URL's `/.usage/tenants` (the top ten, as the prod dashboard). Days until full need an
earlier sample: `--sample-file PATH` keeps one an hour for 8 days, and the growth is measured against the oldest.

Exit status 0 once drawn, whatever the cluster's state (the health check judges it), 2 for bad input.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from components.healthcheck.target import Target
from components.healthcheck.usage_probe import TOP_TENANTS
from components.healthcheck.watch import degraded_volumes, healthy_filers, missing_copies, ok_text
from components.healthcheck.wire import (
    FILER_BACKEND,
    TENANTS_PATH,
    UsageReport,
    backend_servers,
    cluster_status,
    data_nodes,
    json_object,
    lowest_percent_free,
    usage_report,
)
from components.healthcheck.wire import disks as disks_of

SAMPLE_EVERY_SECONDS = 3600
SAMPLE_KEEP_SECONDS = 8 * 86400
GIB = 1024**3


@dataclass(frozen=True)
class Server:
    name: str
    rack: str
    free_slots: int | None
    max_slots: int | None
    disk_percent_free: float | None = None
    disk_free_bytes: int | None = None
    disk_all_bytes: int | None = None


@dataclass(frozen=True)
class Figures:
    """What the view shows; None where a value could not be read (never a guess)."""

    taken_at: float
    masters: tuple[tuple[str, str | None], ...]  # (master, the leader it names: "" none, None no answer)
    expected_masters: int
    filers: tuple[tuple[str, int, int], ...]  # (HAProxy stats URL, filers UP, filers listed)
    degraded_volumes: int | None
    missing_copies: int | None
    servers: tuple[Server, ...]
    used_bytes: int | None  # every volume server's disks together; None unless every one answered
    free_bytes: int | None
    usage: UsageReport | None = None  # usage per tenant; None where no usage service answers


def gather(
    target: Target,
    stats_urls: Sequence[str] = (),
    *,
    transport: httpx.BaseTransport | None = None,
    timeout: float = 3.0,
    now: Callable[[], float] = time.time,
) -> Figures:
    with httpx.Client(transport=transport, timeout=timeout) as client:

        def body(url: str) -> dict[str, Any] | None:
            return json_object(ok_text(client, url))

        masters = tuple(_leader_named(body(f"{url.rstrip('/')}/cluster/status")) for url in target.master_urls)
        topology = _first(body, target.master_urls, "/dir/status")
        volumes = _first(body, target.master_urls, "/vol/status")
        disks = {url: body(f"{url.rstrip('/')}/status") for url in target.volume_server_urls}
        filers = tuple((url, *_filers_up(ok_text(client, url))) for url in stats_urls)
        usage = usage_report(body(f"{target.admin_url.rstrip('/')}{TENANTS_PATH}")) if target.admin_url else None
    degraded = missing = None
    with contextlib.suppress(ValueError):
        degraded, missing = degraded_volumes(volumes or {}), missing_copies(volumes or {})
    servers, used, free = _servers(topology, disks)
    return Figures(
        taken_at=now(),
        masters=tuple(zip((_host(u) for u in target.master_urls), masters, strict=True)),
        expected_masters=target.expected_masters,
        filers=tuple((url, up, total) for url, up, total in filers if up >= 0),
        degraded_volumes=degraded,
        missing_copies=missing,
        servers=servers,
        used_bytes=used,
        free_bytes=free,
        usage=usage,
    )


def _first(body: Callable[[str], dict[str, Any] | None], masters: Sequence[str], path: str) -> dict[str, Any] | None:
    # A follower answers 502 without a leader; the next master may know better.
    return next((found for url in masters if (found := body(f"{url.rstrip('/')}{path}")) is not None), None)


def _host(url: str) -> str:
    return url.split("://", 1)[-1].rstrip("/")


def _leader_named(body: dict[str, Any] | None) -> str | None:
    status = cluster_status(body)
    return None if status is None else status.leader_address


def _filers_up(csv_text: str | None) -> tuple[int, int]:
    if csv_text is None:
        return -1, -1
    return healthy_filers(csv_text), len(backend_servers(csv_text, FILER_BACKEND))


def _servers(
    topology: dict[str, Any] | None, disks: dict[str, dict[str, Any] | None]
) -> tuple[tuple[Server, ...], int | None, int | None]:
    """Each volume server with its slots, and its disk when its /status URL names the same host:port."""
    by_address = {_host(url): body for url, body in disks.items()}
    servers, used, free = [], 0, 0
    readable = bool(disks) and all(body is not None for body in disks.values())
    for node in data_nodes(topology) or ():
        server = Server(node.name, node.rack, node.free_slots, node.max_volumes)
        status = next((by_address[name] for name in node.names if by_address.get(name) is not None), None)
        found = disks_of(status) if status is not None else ()
        pairs = [disk.used_and_free for disk in found or ()]
        if found is None or None in pairs:
            sizes, percent, readable = [], None, False
        else:
            sizes = [pair for pair in pairs if pair is not None]
            percent = lowest_percent_free(found) if found else None
        if status is not None and sizes:
            node_used, node_free = sum(u for u, _ in sizes), sum(f for _, f in sizes)
            used, free = used + node_used, free + node_free
            server = Server(
                node.name, node.rack, node.free_slots, node.max_volumes, percent, node_free, node_used + node_free
            )
        servers.append(server)
    return tuple(servers), (used if readable else None), (free if readable else None)


@dataclass(frozen=True)
class Sample:
    at: float
    used: int
    free: int


def load_samples(path: Path) -> list[Sample]:
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
        return [Sample(float(r["at"]), int(r["used"]), int(r["free"])) for r in rows]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a sample file ({exc}); delete it to start over") from exc


def next_samples(samples: list[Sample], figures: Figures) -> list[Sample]:
    """The samples to keep: one an hour at most, none older than 8 days; unchanged when disk was unreadable."""
    if figures.used_bytes is None or figures.free_bytes is None:
        return samples
    kept = [s for s in samples if figures.taken_at - s.at <= SAMPLE_KEEP_SECONDS]
    if kept and figures.taken_at - kept[-1].at < SAMPLE_EVERY_SECONDS:
        return kept
    return [*kept, Sample(figures.taken_at, figures.used_bytes, figures.free_bytes)]


def save_samples(path: Path, samples: list[Sample]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Same directory and a rename: a run killed mid-write leaves the previous samples.
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump([s.__dict__ for s in samples], out)
    os.replace(temp, path)


def days_until_full(samples: Sequence[Sample], figures: Figures) -> tuple[float | None, str]:
    """(days, how they were found) at the growth since the oldest sample; None with the reason otherwise.
    The same figure as the prod dashboard's: free bytes / used bytes' growth per day."""
    if figures.used_bytes is None or figures.free_bytes is None:
        return None, "disk not readable (no volume server /status URL answered)"
    oldest = next((s for s in samples if s.at < figures.taken_at), None)
    if oldest is None:
        return None, "no earlier sample yet (--sample-file keeps one an hour)"
    per_day = (figures.used_bytes - oldest.used) / (figures.taken_at - oldest.at) * 86400
    since = time.strftime("%Y-%m-%d %H:%M", time.gmtime(oldest.at))
    if per_day <= 0:
        return None, f"used disk not growing since {since} UTC"
    return figures.free_bytes / per_day, f"at {_bytes(per_day)}/day since {since} UTC"


def _bytes(value: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


class Paint:
    """ANSI colours, or none (a pipe, NO_COLOR, --no-color)."""

    def __init__(self, on: bool) -> None:
        self.on = on

    def __call__(self, text: str, colour: str) -> str:
        codes = {"ok": "32", "warn": "33", "bad": "31;1", "dim": "2", "head": "1;36"}
        return f"\x1b[{codes[colour]}m{text}\x1b[0m" if self.on else text


def render(figures: Figures, days: tuple[float | None, str], title: str, paint: Paint) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(figures.taken_at))
    lines = [paint(f"{title}  ·  {when}", "head"), ""]
    lines += _leader_lines(figures, paint)
    lines += _filer_lines(figures, paint)
    lines += _copies_lines(figures, paint)
    lines += _server_lines(figures, paint)
    lines += _tenant_lines(figures, paint)
    value, how = days
    shown = paint("n/a", "dim") if value is None else paint(f"{value:,.0f} days", "ok" if value > 90 else "bad")
    lines.append(f"{'Days until full':<30}{shown}  {paint(how, 'dim')}")
    return "\n".join(lines) + "\n"


def _leader_lines(figures: Figures, paint: Paint) -> list[str]:
    named = [leader for _, leader in figures.masters if leader]
    quorum = figures.expected_masters // 2 + 1
    agreed = max((named.count(leader) for leader in set(named)), default=0)
    ok = agreed >= quorum and len(set(named)) == 1
    head = f"{named[0]}, named by {agreed} of {figures.expected_masters} (quorum {quorum})" if named else "none"
    lines = [f"{'Raft leader':<30}{paint(head, 'ok' if ok else 'bad')}"]
    for master, leader in figures.masters:
        state = "no answer" if leader is None else ("leader" if leader == master else f"follows {leader or 'nobody'}")
        lines.append(f"  {master:<28}{paint(state, 'dim' if leader else 'bad')}")
    return lines


def _filer_lines(figures: Figures, paint: Paint) -> list[str]:
    if not figures.filers:
        return [f"{'Filers behind HAProxy':<30}" + paint("n/a: no HAProxy stats answered (--haproxy-stats URL)", "dim")]
    lines = [f"{'Filers behind HAProxy':<30}"]
    for url, up, total in figures.filers:
        text = f"{up} of {total} UP"
        lines.append(
            f"  {_host(url).split('/')[0]:<28}{paint(text, 'ok' if up == total and up else 'warn' if up else 'bad')}"
        )
    return lines


def _copies_lines(figures: Figures, paint: Paint) -> list[str]:
    if figures.missing_copies is None:
        return [f"{'Copies missing':<30}" + paint("n/a: no master's /vol/status answered", "bad")]
    text = f"{figures.missing_copies} ({figures.degraded_volumes} volume(s) short of copies)"
    return [f"{'Copies missing':<30}{paint(text, 'ok' if not figures.missing_copies else 'warn')}"]


def _server_lines(figures: Figures, paint: Paint) -> list[str]:
    lines = [f"{'Volume servers':<31}{'free slots':<13}free disk"]
    if not figures.servers:
        lines.append("  " + paint("none registered with the master that answered", "bad"))
    for s in figures.servers:
        slots = "?" if s.free_slots is None else f"{s.free_slots} of {s.max_slots}"
        if s.disk_percent_free is None:
            disk = paint("not readable", "dim")
        else:
            bar = _bar(s.disk_percent_free)
            size = f"{_bytes(s.disk_free_bytes or 0)} of {_bytes(s.disk_all_bytes or 0)}"
            colour = "ok" if s.disk_percent_free >= 20 else "warn" if s.disk_percent_free >= 10 else "bad"
            disk = f"{paint(bar, colour)} {s.disk_percent_free:5.1f}% ({size})"
        name = f"{s.name} ({s.rack or 'no rack'})"
        lines.append(f"  {name:<28} {slots:<13}{disk}")
    return lines


def _tenant_lines(figures: Figures, paint: Paint) -> list[str]:
    usage = figures.usage
    if usage is None:
        return [f"{'Usage per tenant':<30}" + paint("n/a: no usage service answers on the admin URL", "dim")]
    state = "current" if not usage.lagging else "catching up" if not usage.caught_up else f"lagging {usage.lag_s:.0f} s"
    lines = [f"{'Usage per tenant':<30}" + paint(f"top {TOP_TENANTS}, {state}", "ok" if not usage.lagging else "warn")]
    for tenant in usage.top(TOP_TENANTS):
        growth = "growth n/a" if tenant.growth_bytes_per_hour is None else f"{_bytes(tenant.growth_bytes_per_hour)}/h"
        lines.append(f"  {tenant.tenant:<28}{_bytes(tenant.bytes):>12}  {tenant.volumes} volume(s)  {growth}")
    return lines


def _bar(percent_free: float, width: int = 20) -> str:
    used = round((100 - percent_free) / 100 * width)
    return "█" * used + "░" * (width - used)


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m components.healthcheck.dashboard", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--stack-outputs", required=True, help="`pulumi stack output --json --show-secrets`, a file or -"
    )
    parser.add_argument("--haproxy-stats", action="append", default=[], help="an HAProxy stats CSV URL (repeatable)")
    parser.add_argument("--sample-file", type=Path, help="where the samples for days until full are kept")
    parser.add_argument("--title", default="aegis-storage", help="the view's heading")
    parser.add_argument("--no-color", action="store_true")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, transport: httpx.BaseTransport | None = None) -> int:
    args = _arguments(argv)
    try:
        text = sys.stdin.read() if args.stack_outputs == "-" else Path(args.stack_outputs).read_text(encoding="utf-8")
        target = Target.from_stack_outputs(json.loads(text))
        samples = load_samples(args.sample_file) if args.sample_file else []
    except (OSError, ValueError) as exc:
        print(f"dashboard: {exc}", file=sys.stderr)
        return 2
    figures = gather(target, args.haproxy_stats, transport=transport)
    days = days_until_full(samples, figures)
    if args.sample_file:
        save_samples(args.sample_file, next_samples(samples, figures))
    colour = not args.no_color and "NO_COLOR" not in os.environ and sys.stdout.isatty()
    sys.stdout.write(render(figures, days, args.title, Paint(colour)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
