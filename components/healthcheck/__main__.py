"""Command line of the health check.

Exit status: 0 healthy, 1 unhealthy, 2 bad usage or unreadable input, 3 degraded (the cluster serves
everything but a volume lacks a copy, or a volume server runs short of slots or disk). With
--degraded-ok, as scheduled runs use it, degraded exits 0 with a warning on stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import httpx

from components.healthcheck.checks import DEGRADED, HEALTHY, Report, Target, run_checks, wait_until_healthy
from components.healthcheck.volume_record import FileRecord, with_volume_record

EXIT_HEALTHY = 0
EXIT_UNHEALTHY = 1
EXIT_USAGE = 2
EXIT_DEGRADED = 3

# Flags that describe the target by hand; --stack-outputs describes it completely, so they cannot be mixed.
_TARGET_FLAGS = {
    "filer_url": "--filer-url",
    "master_url": "--master-url",
    "expect_masters": "--expect-masters",
    "expect_volume_server": "--expect-volume-server",
    "filer_address": "--filer-address",
    "s3_endpoint": "--s3-endpoint",
    "s3_access_key": "--s3-access-key",
    "s3_secret_key": "--s3-secret-key",
    "s3_region": "--s3-region",
    "min_free_volume_slots": "--min-free-volume-slots",
    "min_free_disk_percent": "--min-free-disk-percent",
    "volume_server_url": "--volume-server-url",
}


class UsageError(Exception):
    """Bad flags or input: reported on one line of stderr with exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse would print the whole usage block and exit by itself; the contract is one line and status 2.
        raise UsageError(message)


def _seconds(allow_zero: bool) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"not a finite number of seconds: {text}")
        if value < 0 or (value == 0 and not allow_zero):
            raise argparse.ArgumentTypeError(f"must be {'0 or more' if allow_zero else 'more than 0'}: {text}")
        return value

    return parse


def _positive_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text}")
    return value


def _percent(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole percentage: {text!r}") from None
    if not 0 <= value < 100:
        raise argparse.ArgumentTypeError(f"must be 0-99: {text}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {text}")
    return value


def _parser() -> _Parser:
    parser = _Parser(
        prog="python -m components.healthcheck",
        description=(
            "Probe a deployed SeaweedFS cluster: filers, Raft masters, volume servers, S3, a write round trip, "
            "AEGIS's own call sequence."
        ),
    )
    add = parser.add_argument
    add("--stack-outputs", metavar="FILE", help="JSON of `pulumi stack output --json --show-secrets`; - for stdin")
    add("--filer-url", metavar="URL", help="the filer (or load balancer) AEGIS uses")
    add("--master-url", metavar="URL", action="append", default=[], help="a master; repeat for each")
    add(
        "--expect-masters",
        metavar="N",
        type=_positive_count,
        help="Raft cluster size (default: the number of --master-url)",
    )
    add("--expect-volume-server", metavar="HOST:PORT", action="append", default=[], help="as the master lists it")
    add("--filer-address", metavar="URL", action="append", default=[], help="one filer directly; repeat for each")
    add("--s3-endpoint", metavar="URL", help="S3 gateway; enables the signed ListBuckets check")
    add("--s3-access-key", metavar="KEY")
    add("--s3-secret-key", metavar="KEY")
    add("--s3-region", metavar="REGION", help="default us-east-1")
    add("--min-free-volume-slots", metavar="N", type=_count, help="degraded below this on any volume server")
    add("--min-free-disk-percent", metavar="P", type=_percent, help="degraded below this on any --volume-server-url")
    add("--volume-server-url", metavar="URL", action="append", default=[], help="read its disk use; repeat for each")
    add("--degraded-ok", action="store_true", help="exit 0 with a warning when degraded (scheduled runs)")
    add("--wait", metavar="SECONDS", type=_seconds(allow_zero=True), default=0.0, help="retry until healthy")
    add("--probe-timeout", metavar="SECONDS", type=_seconds(allow_zero=False), default=3.0, help="per request")
    add("--json", action="store_true", help="print the report as JSON instead of a table")
    add(
        "--volume-record",
        metavar="FILE",
        type=Path,
        help="JSON record of the volume ids seen; a volume gone since the last run without a deliberate delete "
        "is unhealthy (created on the first run, rewritten on each)",
    )
    return parser


def _target(args: argparse.Namespace) -> Target:
    given = [flag for dest, flag in _TARGET_FLAGS.items() if getattr(args, dest)]
    if args.stack_outputs is not None:
        if given:
            raise UsageError(f"--stack-outputs already describes the cluster; drop {', '.join(given)}")
        return Target.from_stack_outputs(_read_json(args.stack_outputs))
    if not (args.filer_url and args.master_url and args.expect_volume_server):
        raise UsageError("give --stack-outputs, or --filer-url, --master-url and --expect-volume-server")
    return Target(
        filer_url=args.filer_url,
        master_urls=tuple(args.master_url),
        expected_masters=len(args.master_url) if args.expect_masters is None else args.expect_masters,
        expected_volume_servers=tuple(args.expect_volume_server),
        filer_addresses=tuple(args.filer_address),
        s3_endpoint=args.s3_endpoint,
        s3_access_key=args.s3_access_key or "",
        s3_secret_key=args.s3_secret_key or "",
        s3_region=args.s3_region or "us-east-1",
        min_free_volume_slots=args.min_free_volume_slots or 0,
        min_free_disk_percent=args.min_free_disk_percent or 0,
        volume_server_urls=tuple(args.volume_server_url),
    )


def _read_json(source: str) -> Any:
    name = "stdin" if source == "-" else source
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        return json.loads(text)
    except OSError as exc:
        raise UsageError(f"cannot read stack outputs from {name}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(f"stack outputs in {name} are not JSON: {exc}") from None


def _render(report: Report) -> str:
    failures = report.failures()
    if not failures:
        return f"{report.table()}\nhealthy"
    return f"{report.table()}\n{report.outcome.upper()}: {len(failures)} failing check(s)\n{report.summary()}"


def exit_status(report: Report, degraded_ok: bool = False) -> int:
    """The process exit status for a report; scheduled runs pass `degraded_ok` and only warn."""
    if report.outcome == HEALTHY:
        return EXIT_HEALTHY
    if report.outcome == DEGRADED:
        return EXIT_HEALTHY if degraded_ok else EXIT_DEGRADED
    return EXIT_UNHEALTHY


def main(argv: Sequence[str] | None = None, transport: httpx.BaseTransport | None = None) -> int:
    """Run the CLI; `transport` replaces the network (tests pass an httpx.MockTransport)."""
    try:
        args = _parser().parse_args(argv)
        target = _target(args)
    except (UsageError, ValueError) as exc:
        print(f"healthcheck: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.wait > 0:
        report = wait_until_healthy(target, args.wait, probe_timeout=args.probe_timeout, transport=transport)
    else:
        report = run_checks(target, args.probe_timeout, transport=transport)
    if args.volume_record is not None:
        record = FileRecord(args.volume_record)
        report = with_volume_record(report, target.master_urls, record, args.probe_timeout, transport=transport)
    print(report.to_json() if args.json else _render(report))
    if report.outcome == DEGRADED and args.degraded_ok:
        print(f"healthcheck: warning: degraded\n{report.summary()}", file=sys.stderr)
    return exit_status(report, args.degraded_ok)


if __name__ == "__main__":
    sys.exit(main())
