"""`python -m components.usage --filers F1:8888,F2:8888 --bind H --port 8890 --state-dir D --node N --rules R`."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from components.usage.server import make_server
from components.usage.service import Settings, start


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m components.usage", description=__doc__)
    parser.add_argument("--filers", required=True, help="comma-separated host:port of every filer")
    parser.add_argument("--bind", default="127.0.0.1")
    # 8890: beside HAProxy, whose admin frontend has 8889 (components/model/haproxy.py USAGE_PORT).
    parser.add_argument("--port", type=int, default=8890)
    parser.add_argument("--state-dir", required=True, type=Path, help="where the checkpoint lives")
    parser.add_argument("--node", required=True, help="this node's name (its catch-up marker)")
    parser.add_argument("--rules", required=True, type=Path, help="the stack's rendered filer.conf")
    parser.add_argument("--weed", default="weed")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    settings = Settings(
        filers=tuple(f for f in args.filers.split(",") if f),
        state_dir=args.state_dir,
        node=args.node,
        base_rules=args.rules.read_text(),
        weed=args.weed,
    )
    stop = threading.Event()
    state, threads = start(settings, stop)
    server = make_server(settings, state, args.bind, args.port)

    def shut_down(*_: object) -> None:
        # Stop the threads first: the housekeeping thread writes a last checkpoint on its way out.
        stop.set()
        threads[-1].join(timeout=10)
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shut_down)
    signal.signal(signal.SIGINT, shut_down)
    server.serve_forever()


if __name__ == "__main__":
    main()
