"""Stopping a child process the harness started."""

from __future__ import annotations

import os
import signal
import subprocess


def stop_process(process: subprocess.Popen, sig: int, timeout: float) -> None:
    """Send `sig` to `process` if it still runs and wait up to `timeout` s for it to exit; SIGKILL it if not."""
    if process.poll() is None:
        os.kill(process.pid, sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
