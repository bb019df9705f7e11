"""scripts/deploy itself, run by bash against stub `pulumi`, `docker` and `python3` executables on PATH.

Each run gets a temp HOME and a temp copy of the project (the script, the tracked Pulumi.dev.yaml and
requirements.txt), so nothing touches the real .venv, state or config. The stubs log every call with the
environment the script gave them, and behave like the real tools where the script depends on it: `pulumi
stack init` of a passphrase stack writes an encryptionsalt into ./Pulumi.<stack>.yaml, as Pulumi does.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TRACKED = (ROOT / "Pulumi.dev.yaml").read_text()
CONTEXT_HOST = "unix:///Users/dev/.colima/default/docker.sock"
BASH = shutil.which("bash") or "/bin/bash"
# The only system tools on the test PATH, so a real docker or pulumi on the machine cannot leak in.
SYSTEM_TOOLS = ("basename", "cat", "cp", "dirname", "grep", "mkdir", "mv", "touch")

# Every stub appends one JSON line per call: its name, argv, and the variables the script must set.
LOG_CALL = """printf '%s\\n' "$(
  "$REAL_PYTHON" -c 'import json, os, sys; print(json.dumps({"tool": sys.argv[1], "argv": sys.argv[2:],
    "env": {k: os.environ.get(k) for k in ("DOCKER_HOST", "PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE_FILE")}}))' \\
    "$(basename "$0")" "$@")" >>"$STUB_LOG"
"""

PULUMI = f"""#!/bin/sh
{LOG_CALL}
case "$1 $2" in
  "stack select") [ -e "$STUB_STATE/$3" ] ;;
  "stack init")
    echo "encryptionsalt: v1:salt-of-$3" >>"Pulumi.$3.yaml"
    [ -z "${{STUB_INIT_EXIT:-}}" ] || {{ echo "error: stub init failed" >&2; exit "$STUB_INIT_EXIT"; }}
    mkdir -p "$STUB_STATE" && touch "$STUB_STATE/$3" ;;
  "stack output") echo '{{"health_target": "stub"}}' ;;
  "up "*) exit "${{STUB_UP_EXIT:-0}}" ;;
esac
"""

DOCKER = f"""#!/bin/sh
{LOG_CALL}
case "$1 $2" in
  "context inspect") [ -n "${{STUB_CONTEXT_HOST:-}}" ] && echo "$STUB_CONTEXT_HOST" ;;
  "info ") exit "${{STUB_DOCKER_INFO_EXIT:-0}}" ;;
esac
"""

# python3 on PATH and, once `-m venv` made it, .venv/bin/python: the version is STUB_PYTHON_VERSION.
PYTHON = f"""#!/bin/sh
{LOG_CALL}
case "$1 $2" in
  "-c "*version_info*) echo "${{STUB_PYTHON_VERSION:-3.11}}" ;;
  "-c "*secrets*) echo generated-passphrase ;;
  "-m venv") mkdir -p "$3/bin" && cp "$0" "$3/bin/python" && cp "$STUB_BIN/pip" "$3/bin/pip" ;;
  "-m components.healthcheck") cat >/dev/null; exit "${{STUB_HEALTH_EXIT:-0}}" ;;
esac
"""

PIP = f"""#!/bin/sh
{LOG_CALL}
"""


@dataclass
class Machine:
    """A developer's machine: HOME, a clone of the project, and the stub tools."""

    home: Path
    project: Path
    bin: Path
    log: Path
    env: dict[str, str]

    def deploy(self, *args: str, **stub_env: str) -> subprocess.CompletedProcess[str]:
        self.log.write_text("")
        return subprocess.run(
            [BASH, str(self.project / "scripts" / "deploy"), *args],
            cwd=self.home,
            env={**self.env, **stub_env},
            capture_output=True,
            text=True,
            timeout=60,
        )

    def calls(self, tool: str | None = None) -> list[dict]:
        calls = [json.loads(line) for line in self.log.read_text().splitlines()]
        return [c for c in calls if tool is None or c["tool"] == tool]

    def pulumi(self, *prefix: str) -> list[dict]:
        return [c for c in self.calls("pulumi") if c["argv"][: len(prefix)] == list(prefix)]


def _executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    home, project, bin_dir, system = tmp_path / "home", tmp_path / "clone", tmp_path / "bin", tmp_path / "system"
    for directory in (home, project / "scripts", bin_dir, system):
        directory.mkdir(parents=True)
    for tool in SYSTEM_TOOLS:
        (system / tool).symlink_to(shutil.which(tool) or f"/usr/bin/{tool}")
    shutil.copy2(ROOT / "scripts" / "deploy", project / "scripts" / "deploy")
    (project / "Pulumi.dev.yaml").write_text(TRACKED)
    (project / "requirements.txt").write_text("pulumi\n")
    for name, text in {"pulumi": PULUMI, "docker": DOCKER, "python3": PYTHON, "pip": PIP}.items():
        _executable(bin_dir / name, text)
    log = tmp_path / "calls.jsonl"
    env = {
        "HOME": str(home),
        "PATH": f"{bin_dir}{os.pathsep}{system}",
        # The stubs' logger: an interpreter binary, not a wrapper script that would look for tools on PATH.
        "REAL_PYTHON": os.path.realpath(sys.executable),
        "STUB_LOG": str(log),
        "STUB_BIN": str(bin_dir),
        "STUB_STATE": str(tmp_path / "state"),
        "STUB_CONTEXT_HOST": CONTEXT_HOST,
    }
    return Machine(home, project, bin_dir, log, env)


def test_first_run_creates_everything_per_user_and_leaves_the_tracked_file_alone(machine: Machine) -> None:
    run = machine.deploy("dev")
    assert run.returncode == 0, run.stderr

    assert (machine.project / "Pulumi.dev.yaml").read_text() == TRACKED
    stack_file = machine.home / ".config/aegis-storage/Pulumi.dev.yaml"
    assert stack_file.read_text() == f"encryptionsalt: v1:salt-of-dev\n{TRACKED}"
    passphrase = machine.home / ".config/aegis-storage/dev-passphrase"
    assert passphrase.read_text() == "generated-passphrase\n"
    assert stat.S_IMODE(passphrase.stat().st_mode) == 0o600

    assert [c["argv"][0] for c in machine.calls("python3")] == ["-c", "-m"]  # the version check, then venv
    [init] = machine.pulumi("stack", "init")
    assert init["argv"] == ["stack", "init", "dev", "--secrets-provider", "passphrase", "--non-interactive"]
    [up] = machine.pulumi("up")
    assert up["argv"] == ["up", "--yes", "--stack", "dev", "--non-interactive", "--config-file", str(stack_file)]
    assert up["env"] == {
        "DOCKER_HOST": CONTEXT_HOST,
        "PULUMI_BACKEND_URL": f"file://{machine.home}/.pulumi-state",
        "PULUMI_CONFIG_PASSPHRASE_FILE": str(passphrase),
    }
    [check] = [c for c in machine.calls("python") if c["argv"][:2] == ["-m", "components.healthcheck"]]
    record = machine.home / ".config/aegis-storage/volume-record.json"
    assert check["argv"][2:] == ["--stack-outputs", "-", "--wait", "120", "--volume-record", str(record)]
    assert not machine.pulumi("whoami")


def test_second_run_reuses_venv_stack_salt_and_passphrase(machine: Machine) -> None:
    assert machine.deploy("dev").returncode == 0
    stack_file = machine.home / ".config/aegis-storage/Pulumi.dev.yaml"
    first = stack_file.read_text()

    run = machine.deploy()  # dev is the default
    assert run.returncode == 0, run.stderr
    assert stack_file.read_text() == first
    assert (machine.project / "Pulumi.dev.yaml").read_text() == TRACKED
    assert not machine.pulumi("stack", "init") and machine.pulumi("stack", "select", "dev")
    assert not [c for c in machine.calls() if c["argv"][:2] == ["-m", "venv"]]
    assert (machine.home / ".config/aegis-storage/dev-passphrase").read_text() == "generated-passphrase\n"
    assert len(machine.pulumi("up")) == 1 and not machine.pulumi("whoami")


def test_a_changed_tracked_config_reaches_the_next_run(machine: Machine) -> None:
    assert machine.deploy("dev").returncode == 0
    (machine.project / "Pulumi.dev.yaml").write_text(TRACKED + "  aegis-storage:masterCount: 1\n")
    assert machine.deploy("dev").returncode == 0
    stack_file = (machine.home / ".config/aegis-storage/Pulumi.dev.yaml").read_text()
    assert stack_file == f"encryptionsalt: v1:salt-of-dev\n{TRACKED}  aegis-storage:masterCount: 1\n"


def test_a_salt_left_in_the_tracked_file_moves_to_the_users_stack_file(machine: Machine) -> None:
    # What earlier versions of the script let `pulumi stack init` do.
    (machine.project / "Pulumi.dev.yaml").write_text(f"encryptionsalt: v1:old-salt\n{TRACKED}")
    (Path(machine.env["STUB_STATE"])).mkdir()
    (Path(machine.env["STUB_STATE"]) / "dev").touch()

    assert machine.deploy("dev").returncode == 0
    assert (machine.project / "Pulumi.dev.yaml").read_text() == TRACKED
    stack_file = machine.home / ".config/aegis-storage/Pulumi.dev.yaml"
    assert stack_file.read_text() == f"encryptionsalt: v1:old-salt\n{TRACKED}"


def test_the_users_backend_and_docker_host_win(machine: Machine) -> None:
    run = machine.deploy("dev", PULUMI_BACKEND_URL="s3://team-state", DOCKER_HOST="tcp://127.0.0.1:2375")
    assert run.returncode == 0, run.stderr
    [up] = machine.pulumi("up")
    assert up["env"]["PULUMI_BACKEND_URL"] == "s3://team-state"
    assert up["env"]["DOCKER_HOST"] == "tcp://127.0.0.1:2375"
    assert not [c for c in machine.calls("docker") if c["argv"][:1] == ["context"]]
    assert not (machine.home / ".pulumi-state").exists()


def test_default_docker_context_without_a_host_leaves_docker_host_unset(machine: Machine) -> None:
    run = machine.deploy("dev", STUB_CONTEXT_HOST="")
    assert run.returncode == 0, run.stderr
    assert machine.pulumi("up")[0]["env"]["DOCKER_HOST"] is None


def one_line_failure(run: subprocess.CompletedProcess[str]) -> str:
    assert run.returncode == 1
    assert run.stderr.count("\n") == 1, run.stderr
    return run.stderr


def test_without_pulumi(machine: Machine) -> None:
    (machine.bin / "pulumi").unlink()
    err = one_line_failure(machine.deploy("dev"))
    assert err == "deploy: needs the Pulumi CLI: https://www.pulumi.com/docs/install/\n"


def test_python_older_than_3_11_names_the_fix(machine: Machine) -> None:
    err = one_line_failure(machine.deploy("dev", STUB_PYTHON_VERSION="3.9"))
    assert "needs Python 3.11 or newer; python3 is Python 3.9" in err
    assert "brew install python@3.12" in err and "PYTHON=/path/to/python3.12" in err
    assert not machine.pulumi("up")


def test_a_venv_with_an_old_python_names_the_fix(machine: Machine) -> None:
    assert machine.deploy("dev").returncode == 0
    venv_python = machine.project / ".venv/bin/python"
    venv_python.write_text(venv_python.read_text().replace("${STUB_PYTHON_VERSION:-3.11}", "3.10"))
    err = one_line_failure(machine.deploy("dev"))
    assert ".venv has Python 3.10: rm -rf .venv, then rerun with PYTHON=/path/to/python3.12" in err


def test_no_python_at_all(machine: Machine) -> None:
    err = one_line_failure(machine.deploy("dev", PYTHON="/nonexistent/python3"))
    assert "found no /nonexistent/python3" in err


def test_without_the_docker_cli(machine: Machine) -> None:
    (machine.bin / "docker").unlink()
    err = one_line_failure(machine.deploy("dev"))
    assert err == "deploy: the dev stack needs the docker CLI and a running Docker engine\n"


def test_docker_engine_down_names_the_engine_tried(machine: Machine) -> None:
    err = one_line_failure(machine.deploy("dev", STUB_DOCKER_INFO_EXIT="1"))
    assert err == f"deploy: the dev stack needs a running Docker engine: docker info failed for {CONTEXT_HOST}\n"
    assert not machine.pulumi("up")


def test_prod_without_a_secrets_provider(machine: Machine) -> None:
    err = one_line_failure(machine.deploy("prod"))
    assert "stack prod: pulumi stack init prod --secrets-provider awskms://" in err
    assert not machine.calls("docker")


def test_a_failed_stack_init_restores_the_tracked_file(machine: Machine) -> None:
    run = machine.deploy("dev", STUB_INIT_EXIT="255")
    assert run.returncode == 1
    assert run.stderr.splitlines()[-1] == f"deploy: pulumi stack init dev failed on file://{machine.home}/.pulumi-state"
    assert (machine.project / "Pulumi.dev.yaml").read_text() == TRACKED
    assert not (machine.project / "Pulumi.dev.yaml.before-init").exists()
    assert not machine.pulumi("up")


def test_a_failed_up_stops_before_the_health_check(machine: Machine) -> None:
    run = machine.deploy("dev", STUB_UP_EXIT="255")
    assert run.returncode == 255
    assert not [c for c in machine.calls("python") if "components.healthcheck" in c["argv"]]


def test_an_unhealthy_cluster_fails_the_deploy(machine: Machine) -> None:
    run = machine.deploy("dev", STUB_HEALTH_EXIT="1")
    assert run.returncode == 1
