"""The job script under sh, with a stub `weed` that always exits 0 (as filer.copy does when the upload
failed) and a stub `wget` that serves what a file says, so the retries are seen without a cluster."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from components.model.job_script import apply_until_served

URL = "http://filer:8888/etc/seaweedfs/filer.conf"


def run_script(tmp_path: Path, served: list[str], tries: int = 5) -> subprocess.CompletedProcess[str]:
    """`served[i]` is what the filer answers on the i-th read (the last answer repeats)."""
    (tmp_path / "rules").write_text("rules v1\n")
    for i, text in enumerate(served):
        (tmp_path / f"served-{i}").write_text(text)
    stubs = {
        "weed": 'echo "weed $*" >>"$DIR/calls"\n',
        "wget": (
            'n=$(cat "$DIR/reads" 2>/dev/null || echo 0); echo $((n + 1)) >"$DIR/reads"\n'
            f'[ "$n" -ge {len(served)} ] && n={len(served) - 1}\n'
            'cat "$DIR/served-$n"\n'
        ),
    }
    for name, body in stubs.items():
        path = tmp_path / name
        path.write_text(f"#!/bin/sh\n{body}")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    script = apply_until_served("filer-rules", ["filer.copy", "x", "y"], URL, str(tmp_path / "rules"), tries, 0)
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}", "DIR": str(tmp_path)}
    return subprocess.run(["/bin/sh", "-c", script], env=env, capture_output=True, text=True, timeout=30)


def test_exits_0_once_the_filer_serves_the_file(tmp_path: Path) -> None:
    run = run_script(tmp_path, ["", "rules v0\n", "rules v1\n"])
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "calls").read_text().count("weed filer.copy x y\n") == 3
    assert run.stderr.count("does not serve") == 2
    assert run.stdout == f"filer-rules: {URL} serves {tmp_path / 'rules'}\n"


def test_a_near_miss_is_not_enough(tmp_path: Path) -> None:
    run = run_script(tmp_path, ["rules v1"], tries=2)  # no trailing newline
    assert run.returncode == 1


def test_gives_up_after_the_last_try_and_says_so(tmp_path: Path) -> None:
    run = run_script(tmp_path, ["404 page\n"], tries=3)
    assert run.returncode == 1
    assert run.stderr.splitlines()[-2:] == [
        f"filer-rules: {URL} does not serve {tmp_path / 'rules'} yet, try 3/3",
        f"filer-rules: giving up after 3 tries: {URL} never served {tmp_path / 'rules'}",
    ]
    assert (tmp_path / "calls").read_text().count("weed") == 3
