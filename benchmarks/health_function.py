"""The prod health function's artifact: its size, the time to build it, and the handler's cold import.

The zip is built by `build_artifact` (what the stack deploys), unpacked, and the handler is imported in a
fresh `python -I -S` with only that directory added to sys.path, as on the Lambda runtime; the clock runs
inside that interpreter, from before the first import of the package to after the handler module.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from benchmarks.core import Context, Estimate
from components.aws.health_artifact import build_artifact

NAME = "health-function"
ESTIMATE = Estimate(fixed=0.0, per_run=1.0)
SHARED = False
SAMPLE_TIMEOUT = 60

_IMPORT = """
import sys, time
start = time.perf_counter()
sys.path.insert(0, sys.argv[1])
import components.healthcheck.lambda_handler
print((time.perf_counter() - start) * 1000)
"""


def cold_import_ms(directory: Path) -> float:
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _IMPORT, str(directory)],
        capture_output=True,
        text=True,
        timeout=SAMPLE_TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"the handler does not import from the artifact: {result.stderr[-2000:]}")
    return float(result.stdout.strip())


def run(ctx: Context, runs: int) -> None:
    size = ctx.figure("artifact size", "KB")
    build = ctx.figure("artifact build", "s")
    cold = ctx.figure("handler cold import, python -I -S", "ms")
    for _ in ctx.runs(runs):
        start = time.perf_counter()
        content = build_artifact()
        build.values.append(time.perf_counter() - start)
        size.values.append(len(content) / 1000)
        with tempfile.TemporaryDirectory() as work:
            archive = Path(work) / "artifact.zip"
            archive.write_bytes(content)
            with zipfile.ZipFile(archive) as unpacked:
                unpacked.extractall(Path(work) / "task")
            cold.values.append(cold_import_ms(Path(work) / "task"))
        ctx.log(f"{size.values[-1]:.0f} KB, built in {build.values[-1]:.2f}s, imported in {cold.values[-1]:.0f} ms")
