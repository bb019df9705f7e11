"""Wall time of evaluating the real `__main__.py` under Pulumi's mocks: what a PR preview waits for in our code.

Each sample is a fresh interpreter, so no module cache hides the import of pulumi, the providers and
our components. The clock starts after the test tooling (pytest, which the prod helper needs) is
imported and before anything the program imports, so a sample is import + evaluation.
dev runs with Pulumi.dev.yaml's values; prod with tests/support/prod_program.py's `execute`
(Pulumi.prod.yaml, the region and the data-source results the prod unit tests use).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchmarks.core import Context, Estimate

NAME = "mock-evaluation"
ESTIMATE = Estimate(fixed=0.0, per_run=4.0)
SHARED = False

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_TIMEOUT = 120

_PROGRAM = """
import json, sys, time
import pytest  # test tooling, not part of what a preview runs
start = time.perf_counter()
if sys.argv[1] == "dev":
    import yaml
    from tests.support.pulumi_harness import ROOT, run_program
    raw = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())["config"]
    config = {key.split(":", 1)[1]: value for key, value in raw.items()}
    run = run_program("dev", config)
else:
    from tests.support.prod_program import execute
    run = execute().run
end = time.perf_counter()
print(json.dumps({"seconds": end - start, "resources": len(run.registrations)}))
"""


def sample(stack: str) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-c", _PROGRAM, stack],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=SAMPLE_TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{stack} evaluation failed: {result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def run(ctx: Context, runs: int) -> None:
    for stack in ("dev", "prod"):
        figure = ctx.figure(f"{stack}: import + evaluation", "s")
        for _ in ctx.runs(runs):
            measured = sample(stack)
            figure.values.append(measured["seconds"])
            ctx.log(f"{stack}: {measured['seconds']:.2f}s, {int(measured['resources'])} resources")
