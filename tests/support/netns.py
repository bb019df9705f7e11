"""Availability zones as Linux network namespaces, so a test can cut one zone off from the others.

Layout (all of it created here, with a unique `aegis-<hex>` prefix, and deleted by `ZoneNetwork.destroy`):

    core namespace:  bridge `br0` holding `<subnet>.1` (PostgreSQL, HAProxy, the test's own clients)
      ├─ veth ── zone namespace 0: `eth0` with `<subnet>.11`  (that zone's master, volume server, filer)
      ├─ veth ── zone namespace 1: `eth0` with `<subnet>.12`
      └─ veth ── zone namespace 2: `eth0` with `<subnet>.13`

No address is added outside these namespaces, and the root namespace is never routed to them, so the
subnet may be the same in parallel runs. Every namespace's `lo` is up: weed also binds 127.0.0.1 when its
`-ip` is another address, and PostgreSQL's tools talk to it over a Unix socket (which namespaces do not
isolate).

What a real zone partition does that `cut` reproduces:
- the zone's link goes down both ways at once: no packet crosses in either direction;
- packets are dropped silently, without a reset or an ICMP error, so established TCP connections and gRPC
  streams hang until their own timeouts or keepalives notice, and new connections time out instead of
  being refused (the zone side keeps its address and route, only the carrier is gone);
- processes inside the cut zone keep running and keep talking to each other (over the zone's own
  address), as servers in an isolated AZ do.

What it does not reproduce:
- no packet loss, latency or jitter emulation (no netem here): the link is either perfect or gone;
- no partial or asymmetric partition (A reaches B but B does not reach A, or one zone pair only);
- no DNS, NLB or AWS control-plane behaviour: HAProxy and PostgreSQL sit in the core namespace, reachable
  from every zone, so they never lose a zone's clients except the cut one, and are never cut themselves
  (on AWS the database and one of the load balancers live in some zone, too);
- no clock skew, and all namespaces share one kernel, so CPU starvation on a busy machine affects every
  "zone" together.
"""

from __future__ import annotations

import ctypes
import os
import secrets
import subprocess
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")

NETNS_DIR = "/run/netns"  # where `ip netns add` puts the handle of a named namespace
_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _ip(*args: str) -> None:
    result = subprocess.run(("ip", *args), capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {result.stderr.strip()}")


def namespaces_unavailable() -> str:
    """Why this machine cannot run namespace tests ("" when it can): needs root and a working `ip netns add`."""
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add)"
    name = f"aegis-{secrets.token_hex(4)}-probe"
    try:
        _ip("netns", "add", name)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as err:
        return f"ip netns add does not work here: {err}"
    _ip("netns", "delete", name)  # raises: a probe namespace must not be left behind silently
    return ""


def enter(namespace: str) -> None:
    """Move the calling thread (only it: network namespaces are per thread) into `namespace`. Sockets it
    opens from then on, and processes it starts, live there."""
    fd = os.open(f"{NETNS_DIR}/{namespace}", os.O_RDONLY)
    try:
        if _libc.setns(fd, _CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns into {namespace}: {os.strerror(errno)}")
    finally:
        os.close(fd)


class NamespaceThreads:
    """Worker threads that live in one namespace: the test's HTTP clients run there, since the root namespace
    has no route to the zones. Each thread enters the namespace once, before its first task."""

    def __init__(self, namespace: str, workers: int) -> None:
        self.namespace = namespace
        self._pool = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix=f"netns-{namespace}", initializer=enter, initargs=(namespace,)
        )

    def call(self, fn: Callable[..., T], *args: object, timeout: float = 600.0) -> T:
        """Run `fn(*args)` on one of the threads and wait for its result (or its exception)."""
        return self._pool.submit(fn, *args).result(timeout=timeout)

    def submit(self, fn: Callable[..., T], *args: object) -> Future[T]:
        """Start `fn(*args)` on one of the threads (long-running work: load workers, probes)."""
        return self._pool.submit(fn, *args)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


@dataclass
class ZoneNetwork:
    """The core namespace and one namespace per zone, on `subnet` (a /24 given as "a.b.c")."""

    zones: int
    subnet: str = "10.213.7"
    prefix: str = field(default_factory=lambda: f"aegis-{secrets.token_hex(3)}")
    created: list[str] = field(default_factory=list, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def core(self) -> str:
        return f"{self.prefix}-core"

    def zone(self, index: int) -> str:
        return f"{self.prefix}-z{index}"

    @property
    def core_address(self) -> str:
        return f"{self.subnet}.1"

    def zone_address(self, index: int) -> str:
        return f"{self.subnet}.{11 + index}"

    def _core_link(self, index: int) -> str:
        # The core end of a zone's veth. Both ends are created in the root namespace before they are moved,
        # so the name carries the prefix's random part to be unique there (15 characters at most).
        return f"a{self.prefix[-6:]}c{index}"

    def _zone_link(self, index: int) -> str:
        return f"a{self.prefix[-6:]}z{index}"

    def exec_prefix(self, namespace: str) -> tuple[str, ...]:
        """argv prefix that runs a command inside `namespace` (`ip netns exec` execs it: the PID stays)."""
        return ("ip", "netns", "exec", namespace)

    def create(self) -> None:
        """Build everything; on a failure part-way the caller's `destroy` removes what was made."""
        for namespace in (self.core, *(self.zone(i) for i in range(self.zones))):
            _ip("netns", "add", namespace)
            self.created.append(namespace)
            _ip("-n", namespace, "link", "set", "lo", "up")
        _ip("-n", self.core, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.core, "addr", "add", f"{self.core_address}/24", "dev", "br0")
        _ip("-n", self.core, "link", "set", "br0", "up")
        for i in range(self.zones):
            core_end, zone_end = self._core_link(i), self._zone_link(i)
            _ip("link", "add", core_end, "type", "veth", "peer", "name", zone_end)
            _ip("link", "set", core_end, "netns", self.core)
            _ip("link", "set", zone_end, "netns", self.zone(i))
            _ip("-n", self.core, "link", "set", core_end, "master", "br0")
            _ip("-n", self.core, "link", "set", core_end, "up")
            _ip("-n", self.zone(i), "link", "set", zone_end, "name", "eth0")
            _ip("-n", self.zone(i), "addr", "add", f"{self.zone_address(i)}/24", "dev", "eth0")
            _ip("-n", self.zone(i), "link", "set", "eth0", "up")

    def cut(self, index: int) -> None:
        """Take zone `index`'s link down at the bridge: its end loses carrier, nothing crosses either way."""
        _ip("-n", self.core, "link", "set", self._core_link(index), "down")

    def heal(self, index: int) -> None:
        _ip("-n", self.core, "link", "set", self._core_link(index), "up")

    def destroy(self) -> list[str]:
        """Delete every namespace (and with it the veths and the bridge) this network created; also veths left
        in the root namespace by a `create` that failed before moving them. Returns what could not be deleted."""
        left: list[str] = []
        with self._lock:
            for i in range(self.zones):
                for link in (self._core_link(i), self._zone_link(i)):
                    if os.path.exists(f"/sys/class/net/{link}"):
                        try:
                            _ip("link", "delete", link)
                        except (RuntimeError, subprocess.TimeoutExpired) as err:
                            left.append(f"{link}: {err}")
            for namespace in reversed(self.created):
                try:
                    _ip("netns", "delete", namespace)
                except (RuntimeError, subprocess.TimeoutExpired) as err:
                    left.append(f"{namespace}: {err}")
            self.created.clear()
        return left
