"""Command line of the health check.

Exit status: 0 healthy, 1 unhealthy (or the checks could not run), 2 bad usage or unreadable input, 3 degraded
(the cluster serves everything but a volume lacks a copy, or a volume server runs short of slots or disk). With
--degraded-ok, as scheduled runs use it, degraded exits 0 with a warning on stderr.

Bad input never reaches the network: every URL and key is checked first (cli_input.py), and any error is one
line on stderr. Passwords in URLs are masked in everything printed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

import httpx

from components.healthcheck.checks import DEGRADED, HEALTHY, Report, Target, run_checks
from components.healthcheck.cli_input import mask, one_line, passwords_in, target_problem, url_problem
from components.healthcheck.target import SECRET_OUTPUTS, SECRET_PLACEHOLDER
from components.healthcheck.volume_record import FileRecord, with_volume_record

EXIT_HEALTHY = 0
EXIT_UNHEALTHY = 1
EXIT_USAGE = 2
EXIT_DEGRADED = 3
EXIT_INTERRUPTED = 130  # what a shell reports for a command ended by SIGINT

# Secrets can come from the environment, which stays out of `ps` and shell history; a flag wins over it.
ENV_KEYS = {"s3_access_key": "AEGIS_S3_ACCESS_KEY", "s3_secret_key": "AEGIS_S3_SECRET_KEY"}
MAX_WAIT_SECONDS = 86_400.0  # a day; beyond it a deploy gate is stuck, not waiting
MAX_PROBE_TIMEOUT = 600.0  # beyond it the socket layer overflows (1e308) long before any answer would come
MIN_PROBE_TIMEOUT = 0.001  # a zero-ish timeout makes connect non-blocking, which is not a probe
MAX_COUNT = 100_000
RETRY_SECONDS = 2.0
# One run of the checks can take several probe timeouts, so progress comes from its own thread.
PROGRESS_SECONDS = 10.0
MAX_ERROR_CHARS = 1000

EPILOG = f"""\
exit status:
  0  healthy (also degraded, with --degraded-ok)
  1  unhealthy, or the checks could not run
  2  bad usage or unreadable input (one line on stderr; nothing is probed)
  3  degraded: everything is served, but a volume lacks a copy or a volume server
     runs short of slots or disk
  130  interrupted (Ctrl-C) before a verdict

environment:
  {ENV_KEYS["s3_access_key"]}  the S3 access key when --s3-access-key is not given; with
                       --stack-outputs, when the outputs lack s3_admin_access_key
                       or hide it as "{SECRET_PLACEHOLDER}"
  {ENV_KEYS["s3_secret_key"]}  the same for the S3 secret key and s3_admin_secret_key

Passwords in URLs (http://user:password@host) are printed as ***.
"""

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


class _Output:
    """Everything the CLI prints goes through here: passwords masked, and text any console can take."""

    def __init__(self, passwords: set[str]) -> None:
        self.passwords = passwords

    def out(self, text: str) -> None:
        _write(sys.stdout, mask(text, self.passwords))

    def err(self, text: str) -> None:
        _write(sys.stderr, mask(text, self.passwords))

    def error(self, message: str) -> None:
        text = one_line(mask(message, self.passwords))
        # A wrong value is quoted in the message; a whole mistyped document would drown the reason.
        if len(text) > MAX_ERROR_CHARS:
            text = f"{text[:MAX_ERROR_CHARS]}... ({len(text) - MAX_ERROR_CHARS} more characters)"
        self.err(f"healthcheck: error: {text}")


def _write(stream: TextIO, text: str) -> None:
    # A lone surrogate (from argv or JSON) cannot be encoded strictly; print it escaped instead of failing.
    encoding = getattr(stream, "encoding", None) or "utf-8"
    stream.write(text.encode(encoding, "backslashreplace").decode(encoding) + "\n")
    stream.flush()


def _number(text: str, kind: Callable[[str], Any], what: str) -> Any:
    try:
        return kind(text)
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None


def _seconds(low: float, high: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = _number(text, float, "a number of seconds")
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"not a finite number of seconds: {text}")
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {low:g}-{high:g} seconds: {text}")
        return value

    return parse


def _whole(low: int, high: int, what: str = "a whole number") -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = _number(text, int, what)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {low}-{high}: {text}")
        return value

    return parse


def _parser() -> _Parser:
    parser = _Parser(
        prog="python -m components.healthcheck",
        description=(
            "Probe a deployed SeaweedFS cluster: filers, Raft masters, volume servers, S3, a write round trip, "
            "AEGIS's own call sequence."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--stack-outputs", metavar="FILE", help="JSON of `pulumi stack output --json --show-secrets`; - for stdin")
    add("--filer-url", metavar="URL", help="the filer (or load balancer) AEGIS uses")
    add("--master-url", metavar="URL", action="append", default=[], help="a master; repeat for each")
    add(
        "--expect-masters",
        metavar="N",
        type=_whole(1, MAX_COUNT),
        help="Raft cluster size (default: the number of --master-url)",
    )
    add("--expect-volume-server", metavar="HOST:PORT", action="append", default=[], help="as the master lists it")
    add("--filer-address", metavar="URL", action="append", default=[], help="one filer directly; repeat for each")
    add("--s3-endpoint", metavar="URL", help="S3 gateway; enables the signed ListBuckets check")
    add("--s3-access-key", metavar="KEY", help=f"or {ENV_KEYS['s3_access_key']}")
    add("--s3-secret-key", metavar="KEY", help=f"or {ENV_KEYS['s3_secret_key']}")
    add("--s3-region", metavar="REGION", help="default us-east-1")
    add("--min-free-volume-slots", metavar="N", type=_whole(0, MAX_COUNT), help="degraded below this per server")
    add(
        "--min-free-disk-percent",
        metavar="P",
        type=_whole(0, 99, "a whole percentage"),
        help="degraded below this on any --volume-server-url",
    )
    add("--volume-server-url", metavar="URL", action="append", default=[], help="read its disk use; repeat for each")
    add(
        "--haproxy-stats",
        metavar="URL",
        action="append",
        default=[],
        help="an HAProxy stats CSV URL (…/stats;csv); its usage service DOWN on its check is usage lagging; repeat",
    )
    add("--degraded-ok", action="store_true", help="exit 0 with a warning when degraded (scheduled runs)")
    wait = _seconds(0.0, MAX_WAIT_SECONDS)
    add("--wait", metavar="SECONDS", type=wait, default=0.0, help="retry until healthy; progress on stderr")
    timeout = _seconds(MIN_PROBE_TIMEOUT, MAX_PROBE_TIMEOUT)
    add("--probe-timeout", metavar="SECONDS", type=timeout, default=3.0, help="per request")
    add("--json", action="store_true", help="print the report as JSON instead of a table")
    add(
        "--volume-record",
        metavar="FILE",
        type=Path,
        help="JSON record of the volume ids seen; a volume gone since the last run without a deliberate delete "
        "is unhealthy (created on the first run, rewritten on each)",
    )
    return parser


def _target(args: argparse.Namespace, output: _Output, environ: Mapping[str, str]) -> Target:
    given = [flag for dest, flag in _TARGET_FLAGS.items() if getattr(args, dest)]
    if args.stack_outputs is not None:
        if given:
            raise UsageError(f"--stack-outputs already describes the cluster; drop {', '.join(given)}")
        outputs = _read_json(args.stack_outputs)
        output.passwords |= passwords_in([outputs])
        target = Target.from_stack_outputs(_with_env_keys(outputs, environ))
    elif not (args.filer_url and args.master_url and args.expect_volume_server):
        raise UsageError("give --stack-outputs, or --filer-url, --master-url and --expect-volume-server")
    else:
        target = Target(
            filer_url=args.filer_url,
            master_urls=tuple(args.master_url),
            expected_masters=len(args.master_url) if args.expect_masters is None else args.expect_masters,
            expected_volume_servers=tuple(args.expect_volume_server),
            filer_addresses=tuple(args.filer_address),
            s3_endpoint=args.s3_endpoint,
            s3_access_key=args.s3_access_key or environ.get(ENV_KEYS["s3_access_key"], ""),
            s3_secret_key=args.s3_secret_key or environ.get(ENV_KEYS["s3_secret_key"], ""),
            s3_region=args.s3_region or "us-east-1",
            min_free_volume_slots=args.min_free_volume_slots or 0,
            min_free_disk_percent=args.min_free_disk_percent or 0,
            volume_server_urls=tuple(args.volume_server_url),
        )
    if problem := target_problem(target) or next(filter(None, map(url_problem, args.haproxy_stats)), None):
        raise UsageError(problem)
    return target


def _with_env_keys(outputs: Any, environ: Mapping[str, str]) -> Any:
    """The outputs with the S3 keys from the environment where they are missing or hidden as "[secret]",
    so `pulumi stack output --json` without --show-secrets works with the keys exported."""
    if not isinstance(outputs, dict):
        return outputs  # from_stack_outputs says what is wrong with it
    filled = dict(outputs)
    for field, output in SECRET_OUTPUTS.items():
        value = environ.get(ENV_KEYS[field])
        if value and filled.get(output) in (None, SECRET_PLACEHOLDER):
            filled[output] = value
    return filled


def _read_json(source: str) -> Any:
    name = "stdin" if source == "-" else source
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        return json.loads(text)
    except OSError as exc:
        raise UsageError(f"cannot read stack outputs from {name}: {exc.strerror or exc}") from None
    except ValueError as exc:  # also a file that is not UTF-8, and a path holding a NUL
        raise UsageError(f"stack outputs in {name} are not JSON: {exc}") from None
    except RecursionError:
        raise UsageError(f"stack outputs in {name} nest too deeply to be stack outputs") from None


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


def progress_line(report: Report | None, seconds_left: float) -> str:
    """One line on how a --wait is going: what the last run found failing, and the time left."""
    left = f"{max(0, math.ceil(seconds_left))} s left"
    if report is None:
        return f"healthcheck: waiting for healthy: first run of the checks in progress, {left}"
    failures = report.failures()
    named = ", ".join(f"{r.component} {r.where} {r.check}" for r in failures[:3])
    more = f" and {len(failures) - 3} more" if len(failures) > 3 else ""
    failing = f"{len(failures)} of {len(report.results)} checks failing ({named}{more})"
    return f"healthcheck: waiting for healthy: {failing}, {left}"


class _Progress:
    """Prints `progress_line` every PROGRESS_SECONDS while a --wait runs, from a thread of its own."""

    def __init__(self, deadline: float, say: Callable[[str], None]) -> None:
        self.latest: Report | None = None
        self._deadline = deadline
        self._say = say
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._tick, name="healthcheck-progress", daemon=True)

    def __enter__(self) -> _Progress:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _tick(self) -> None:
        while not self._done.wait(PROGRESS_SECONDS):
            self._say(progress_line(self.latest, self._deadline - time.monotonic()))


def _wait_until_healthy(
    target: Target, args: argparse.Namespace, transport: httpx.BaseTransport | None, output: _Output
) -> Report:
    """Repeat the checks until the cluster is healthy or --wait seconds have passed; the last report."""
    deadline = time.monotonic() + args.wait
    with _Progress(deadline, output.err) as progress:
        while True:
            report = run_checks(target, args.probe_timeout, transport=transport, load_balancer_stats=args.haproxy_stats)
            progress.latest = report
            left = deadline - time.monotonic()
            if report.healthy or left <= 0:
                return report
            time.sleep(min(RETRY_SECONDS, left))


def _checked(
    target: Target, args: argparse.Namespace, transport: httpx.BaseTransport | None, output: _Output
) -> Report:
    if args.wait > 0:
        report = _wait_until_healthy(target, args, transport, output)
    else:
        report = run_checks(target, args.probe_timeout, transport=transport, load_balancer_stats=args.haproxy_stats)
    if args.volume_record is not None:
        record = FileRecord(args.volume_record)
        report = with_volume_record(report, target.master_urls, record, args.probe_timeout, transport=transport)
    return report


def main(argv: Sequence[str] | None = None, transport: httpx.BaseTransport | None = None) -> int:
    """Run the CLI; `transport` replaces the network (tests pass an httpx.MockTransport)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    output = _Output(passwords_in(argv))
    try:
        args = _parser().parse_args(argv)
        target = _target(args, output, os.environ)
    except SystemExit as exc:  # --help: argparse printed it and asks to exit 0
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    except (UsageError, ValueError) as exc:
        output.error(str(exc))
        return EXIT_USAGE
    except Exception as exc:  # a gap in the checks above: still the input's fault, and still one line
        output.error(f"cannot use this input ({type(exc).__name__}: {exc})")
        return EXIT_USAGE
    try:
        report = _checked(target, args, transport, output)
    except KeyboardInterrupt:  # Ctrl-C during --wait: no verdict, one line, the shell's status for SIGINT
        output.error("interrupted before the cluster was found healthy")
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug in a probe: no verdict, so not healthy, and never a usage error
        output.error(f"the checks could not run ({type(exc).__name__}: {exc})")
        return EXIT_UNHEALTHY
    output.out(report.to_json() if args.json else _render(report))
    if report.outcome == DEGRADED and args.degraded_ok:
        output.err(f"healthcheck: warning: degraded\n{report.summary()}")
    return exit_status(report, args.degraded_ok)


if __name__ == "__main__":
    sys.exit(main())
