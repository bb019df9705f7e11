"""scripts/deploy and scripts/pulumi, run by bash against stub `pulumi`, `docker` and `python3` executables on PATH.

Each run gets a temp HOME and a temp copy of the project (the scripts, the tracked Pulumi.dev.yaml, a
Pulumi.prod.yaml with a KMS secrets provider and the requirements files), so nothing touches the real .venv,
state or config. The stubs log every call with the environment the script gave them, and behave like the
real tools where the script depends on it: `pulumi stack init` of a passphrase stack writes an
encryptionsalt into ./Pulumi.<stack>.yaml, `stack select` fails for a stack never created, `preview
--save-plan` writes the plan, `config set` writes the key into the --config-file, and a failed health gate
prints the health check's own message (components.healthcheck.checks.not_healthy_message).
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
SYSTEM_TOOLS = ("awk", "basename", "cat", "cp", "dirname", "grep", "mkdir", "mktemp", "mv", "rm", "tee", "touch")
PROD_FILE = "secretsprovider: awskms://alias/aegis-storage\nconfig:\n  aegis-storage:platform: aws\n"
GATE_REPORT = "SeaweedFS is unhealthy after 300 s:\nfiler  down"

ENV_KEYS = ("DOCKER_HOST", "PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE_FILE", "AEGIS_STORAGE_CONFIG_COMMAND")
# Every stub appends one JSON line per call: its name, argv, and the variables the script must set.
LOG_CALL = f"""printf '%s\\n' "$(
  "$REAL_PYTHON" -c 'import json, os, sys; print(json.dumps({{"tool": sys.argv[1], "argv": sys.argv[2:],
    "env": {{k: os.environ.get(k) for k in "{" ".join(ENV_KEYS)}".split()}}}}))' \\
    "$(basename "$0")" "$@")" >>"$STUB_LOG"
"""

# `config … set KEY VALUE` writes `  aegis-storage:KEY: VALUE` into its --config-file=FILE, as Pulumi would.
PULUMI = f"""#!/bin/sh
{LOG_CALL}
case "$1 $2" in
  "whoami --verbose")
    [ -z "${{STUB_WHOAMI_EXIT:-}}" ] || exit "$STUB_WHOAMI_EXIT"
    printf 'User: ops\\nOrganizations: \\nBackend URL: s3://stub-state-bucket\\n' ;;
  "stack select") [ -e "$STUB_STATE/$3" ] || {{ echo "error: no stack named '$3' found" >&2; exit 255; }} ;;
  "stack init")
    echo "encryptionsalt: v1:salt-of-$3" >>"Pulumi.$3.yaml"
    [ -z "${{STUB_INIT_EXIT:-}}" ] || {{ echo "error: stub init failed" >&2; exit "$STUB_INIT_EXIT"; }}
    mkdir -p "$STUB_STATE" && touch "$STUB_STATE/$3" ;;
  "stack output") echo '{{"health_target": "stub"}}' ;;
  "preview "*)
    while [ $# -gt 0 ]; do [ "$1" = --save-plan ] && echo '{{"plan": true}}' >"$2"; shift; done ;;
  "up "*)
    [ -z "${{STUB_GATE_FAIL:-}}" ] || {{ echo "error: {GATE_REPORT}" >&2; exit 255; }}
    exit "${{STUB_UP_EXIT:-0}}" ;;
  "destroy "*) exit "${{STUB_DESTROY_EXIT:-0}}" ;;
  "config "*)
    file=""; words=""
    for arg in "$@"; do
      case "$arg" in --config-file=*) file="${{arg#--config-file=}}" ;; --*) ;; *) words="$words $arg" ;; esac
    done
    set -- $words
    if [ "$2" = set ]; then
      grep -v '^config: {{}}' "$file" >"$file.stub" || true
      grep -q '^config:' "$file.stub" || echo "config:" >>"$file.stub"
      echo "  aegis-storage:$3: $4" >>"$file.stub"
      mv "$file.stub" "$file"
    fi ;;
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

    def deploy(self, *args: str, answer: str = "", **stub_env: str) -> subprocess.CompletedProcess[str]:
        return self.script("deploy", *args, answer=answer, **stub_env)

    def script(self, name: str, *args: str, answer: str = "", **stub_env: str) -> subprocess.CompletedProcess[str]:
        """Runs scripts/<name>; `answer` is what the operator types at the terminal."""
        self.log.write_text("")
        return subprocess.run(
            [BASH, str(self.project / "scripts" / name), *args],
            cwd=self.home,
            env={**self.env, **stub_env},
            input=answer,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def create_stack(self, name: str) -> None:
        """A stack someone already created on the backend (`stack select` finds it)."""
        state = Path(self.env["STUB_STATE"])
        state.mkdir(exist_ok=True)
        (state / name).touch()

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
    for script in ("deploy", "pulumi"):
        shutil.copy2(ROOT / "scripts" / script, project / "scripts" / script)
    (project / "Pulumi.dev.yaml").write_text(TRACKED)
    (project / "Pulumi.prod.yaml").write_text(PROD_FILE)
    (project / "requirements.txt").write_text("pulumi\n")
    (project / "policy").mkdir()
    (project / "policy" / "requirements.txt").write_text("pulumi-policy\n")
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

    # The version check, then the program's and the policy pack's virtualenvs, as the workflows make them.
    assert [c["argv"][:3] for c in machine.calls("python3")] == [
        ["-c", 'import sys; print("%d.%d" % sys.version_info[:2])'],
        ["-m", "venv", ".venv"],
        ["-m", "venv", "policy/.venv"],
    ]
    pips = [c["argv"][-2:] for c in machine.calls("pip")]
    assert pips == [["-r", "requirements.txt"], ["-r", "policy/requirements.txt"]]
    [init] = machine.pulumi("stack", "init")
    assert init["argv"] == ["stack", "init", "dev", "--secrets-provider", "passphrase", "--non-interactive"]
    [up] = machine.pulumi("up")
    assert up["argv"] == [
        *("up", "--yes", "--stack", "dev", "--non-interactive", "--config-file", str(stack_file)),
        *("--policy-pack", "policy"),
    ]
    assert up["env"] == {
        "DOCKER_HOST": CONTEXT_HOST,
        "PULUMI_BACKEND_URL": f"file://{machine.home}/.pulumi-state",
        "PULUMI_CONFIG_PASSPHRASE_FILE": str(passphrase),
        "AEGIS_STORAGE_CONFIG_COMMAND": "scripts/pulumi dev config",
    }
    backend = f"deploy: stack dev on backend file://{machine.home}/.pulumi-state (PULUMI_BACKEND_URL)"
    assert run.stdout.splitlines()[0] == backend
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
    (machine.project / "Pulumi.prod.yaml").write_text("config:\n  aegis-storage:platform: aws\n")
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


def test_an_unhealthy_cluster_fails_the_deploy_saying_up_succeeded(machine: Machine) -> None:
    run = machine.deploy("dev", STUB_HEALTH_EXIT="3")
    assert run.returncode == 3
    assert run.stderr.splitlines()[-1] == (
        "deploy: pulumi up succeeded; the post-deploy health check did not (exit 3): report above"
    )


def test_a_failed_dev_gate_inside_up_is_named_as_the_gate(machine: Machine) -> None:
    run = machine.deploy("dev", STUB_GATE_FAIL="1")
    assert run.returncode == 255
    last = run.stderr.splitlines()[-1]
    assert last.startswith("deploy: pulumi up applied the changes; its health gate (the HealthGate resource")
    assert not [c for c in machine.calls("python") if "components.healthcheck" in c["argv"]]


# Stacks: only those the project defines, and only dev is ever created.


def test_a_stack_the_project_does_not_define_fails_with_one_line(machine: Machine) -> None:
    err = one_line_failure(machine.deploy("staging"))
    assert err == "deploy: no stack staging in this project; it defines: dev prod (one Pulumi.<stack>.yaml each)\n"
    assert not machine.calls()
    err = one_line_failure(machine.deploy("../etc/passwd"))
    assert err.startswith("deploy: no stack ../etc/passwd in this project")


def test_prod_is_never_created_and_a_missing_one_says_how_to_init_it(machine: Machine) -> None:
    err = one_line_failure(machine.deploy("prod", "--yes"))
    assert "stack prod does not exist on s3://stub-state-bucket; this script never creates it" in err
    assert "pulumi stack init prod --secrets-provider awskms://alias/<key>" in err
    [select] = machine.pulumi("stack", "select")
    assert select["argv"] == ["stack", "select", "prod", "--non-interactive"]
    assert not machine.pulumi("stack", "init") and not machine.pulumi("up") and not machine.pulumi("preview")
    assert not [c for c in machine.calls("pulumi") if "--create" in c["argv"]]
    assert not machine.calls("docker")


def test_prod_prints_the_backend_whoami_names_before_touching_anything(machine: Machine) -> None:
    machine.create_stack("prod")
    run = machine.deploy("prod", "--yes")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0] == "deploy: stack prod on backend s3://stub-state-bucket (pulumi whoami)"
    first, *_ = machine.calls("pulumi")
    assert first["argv"] == ["whoami", "--verbose"]
    [up] = machine.pulumi("up")
    assert up["env"]["PULUMI_BACKEND_URL"] is None and up["env"]["AEGIS_STORAGE_CONFIG_COMMAND"] is None


def test_prod_uses_the_backend_url_given_without_asking_whoami(machine: Machine) -> None:
    machine.create_stack("prod")
    run = machine.deploy("prod", "--yes", PULUMI_BACKEND_URL="s3://team-state")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0] == "deploy: stack prod on backend s3://team-state (PULUMI_BACKEND_URL)"
    assert not machine.pulumi("whoami")


def test_prod_without_a_backend_fails_with_one_line(machine: Machine) -> None:
    err = one_line_failure(machine.deploy("prod", STUB_WHOAMI_EXIT="255"))
    assert "no Pulumi backend: pulumi login" in err and "PULUMI_BACKEND_URL" in err
    assert machine.pulumi("whoami") and not machine.pulumi("stack")


# prod: the saved plan is what is applied, after a yes.


def plan_of(machine: Machine) -> str:
    [preview] = machine.pulumi("preview")
    argv = preview["argv"]
    assert argv[:4] == ["preview", "--stack", "prod", "--non-interactive"]
    assert argv[4:6] == ["--policy-pack", "policy"] and argv[6] == "--save-plan"
    return argv[7]


def test_prod_applies_the_previewed_plan_after_a_yes_at_the_terminal(machine: Machine) -> None:
    machine.create_stack("prod")
    run = machine.deploy("prod", answer="y\n")
    assert run.returncode == 0, run.stderr
    assert "Apply this plan to stack prod? [y/N] " in run.stdout
    plan = plan_of(machine)
    [up] = machine.pulumi("up")
    assert up["argv"] == [
        *("up", "--yes", "--stack", "prod", "--non-interactive", "--policy-pack", "policy", "--plan", plan)
    ]
    assert not Path(plan).exists()  # a plan is for one run only
    assert run.stdout.splitlines()[-1].startswith("deploy: pulumi up succeeded, the in-VPC health gate within it")


@pytest.mark.parametrize("answer", ["n\n", "\n", ""])
def test_prod_without_a_yes_changes_nothing(machine: Machine, answer: str) -> None:
    machine.create_stack("prod")
    run = machine.deploy("prod", answer=answer)
    assert one_line_failure(run).endswith("the plan was not approved (answer y, or pass --yes)\n")
    assert machine.pulumi("preview") and not machine.pulumi("up")


def test_prod_with_yes_asks_nothing(machine: Machine) -> None:
    machine.create_stack("prod")
    run = machine.deploy("--yes", "prod", answer="n\n")
    assert run.returncode == 0, run.stderr
    assert "[y/N]" not in run.stdout
    [up] = machine.pulumi("up")
    assert up["argv"][-2:] == ["--plan", plan_of(machine)]


def test_a_failed_prod_gate_says_it_is_part_of_pulumi_up(machine: Machine) -> None:
    machine.create_stack("prod")
    run = machine.deploy("prod", "--yes", STUB_GATE_FAIL="1")
    assert run.returncode == 255
    last = run.stderr.splitlines()[-1]
    assert last.startswith("deploy: pulumi up applied the changes; its in-VPC health gate (on AWS the gate is part")
    assert last.endswith("the next pulumi up runs the gate again")


def test_a_prod_up_failing_otherwise_is_not_blamed_on_the_gate(machine: Machine) -> None:
    machine.create_stack("prod")
    run = machine.deploy("prod", "--yes", STUB_UP_EXIT="255")
    assert run.returncode == 255
    assert "health gate" not in run.stderr


def test_an_unknown_option_fails_with_one_line(machine: Machine) -> None:
    err = one_line_failure(machine.deploy("dev", "--force"))
    assert err.startswith("deploy: unknown option --force; usage: scripts/deploy [dev|prod] [--yes]")


# Any pulumi command on a stack: scripts/pulumi <stack> … and scripts/deploy <stack> -- ….


def test_scripts_pulumi_destroys_dev_with_the_deploys_backend_passphrase_and_config(machine: Machine) -> None:
    assert machine.deploy("dev").returncode == 0
    [deployed] = machine.pulumi("up")
    run = machine.script("pulumi", "dev", "destroy", "--yes")
    assert run.returncode == 0, run.stderr
    stack_file = machine.home / ".config/aegis-storage/Pulumi.dev.yaml"
    [destroy] = machine.pulumi("destroy")
    assert destroy["argv"] == ["destroy", "--stack=dev", f"--config-file={stack_file}", "--yes"]
    assert destroy["env"] == deployed["env"]
    assert run.stdout == ""  # the backend line goes to stderr, so output can be piped on
    assert run.stderr.startswith("deploy: stack dev on backend file://")
    assert not machine.pulumi("up") and not machine.pulumi("stack", "init")


def test_destroying_dev_forgets_its_volume_record_and_a_failed_destroy_keeps_it(machine: Machine) -> None:
    record = machine.home / ".config/aegis-storage/volume-record.json"
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text("{}")
    assert machine.script("pulumi", "dev", "destroy", "--yes", STUB_DESTROY_EXIT="255").returncode == 255
    assert record.exists()
    assert machine.script("pulumi", "dev", "destroy", "--yes").returncode == 0
    assert not record.exists()


def test_deploy_with_a_double_dash_is_the_same_as_scripts_pulumi(machine: Machine) -> None:
    assert machine.deploy("dev", "--", "destroy").returncode == 0
    via_deploy = machine.pulumi("destroy")
    assert machine.script("pulumi", "dev", "destroy").returncode == 0
    assert machine.pulumi("destroy") == via_deploy


def test_scripts_pulumi_previews_with_the_policy_pack_and_keeps_arguments_after_a_double_dash(
    machine: Machine,
) -> None:
    run = machine.script("pulumi", "dev", "preview", "--diff")
    assert run.returncode == 0, run.stderr
    [preview] = machine.pulumi("preview")
    stack_file = machine.home / ".config/aegis-storage/Pulumi.dev.yaml"
    assert preview["argv"] == [
        *("preview", "--stack=dev", f"--config-file={stack_file}", "--policy-pack", "policy", "--diff")
    ]
    assert machine.script("pulumi", "dev", "stack", "output", "--json").returncode == 0
    [output] = machine.pulumi("stack", "--stack=dev")
    assert output["argv"] == ["stack", "--stack=dev", "output", "--json"]
    assert machine.script("pulumi", "dev", "whoami").returncode == 0
    assert machine.pulumi("whoami")[0]["argv"] == ["whoami"]


def test_scripts_pulumi_on_prod_selects_without_creating(machine: Machine) -> None:
    machine.create_stack("prod")
    run = machine.script("pulumi", "prod", "refresh", PULUMI_BACKEND_URL="s3://team-state")
    assert run.returncode == 0, run.stderr
    [refresh] = machine.pulumi("refresh")
    assert refresh["argv"] == ["refresh", "--stack=prod"]
    assert not [c for c in machine.calls("pulumi") if "--create" in c["argv"]]
    assert not machine.calls("docker")


def test_scripts_pulumi_needs_a_stack_and_a_command(machine: Machine) -> None:
    run = machine.script("pulumi", "dev")
    assert run.returncode == 2 and run.stderr.startswith("usage: scripts/pulumi <dev|prod>")


def test_dev_config_set_lands_in_the_users_file_and_survives_the_next_deploy(machine: Machine) -> None:
    assert machine.deploy("dev").returncode == 0
    run = machine.script("pulumi", "dev", "config", "set", "masterCount", "1")
    assert run.returncode == 0, run.stderr
    local = machine.home / ".config/aegis-storage/Pulumi.dev.local.yaml"
    [config] = machine.pulumi("config")
    assert config["argv"] == ["config", "--stack=dev", f"--config-file={local}", "set", "masterCount", "1"]
    assert local.read_text() == "encryptionsalt: v1:salt-of-dev\nconfig:\n  aegis-storage:masterCount: 1\n"

    # The tracked file changes too (a key the user did not set, and one the user overrides): both reach the
    # next run, the user's value winning.
    (machine.project / "Pulumi.dev.yaml").write_text(
        TRACKED + "  aegis-storage:masterCount: 3\n  aegis-storage:filerCount: 1\n"
    )
    assert machine.deploy("dev").returncode == 0
    stack_file = (machine.home / ".config/aegis-storage/Pulumi.dev.yaml").read_text()
    assert stack_file == (
        f"encryptionsalt: v1:salt-of-dev\n{TRACKED}  aegis-storage:filerCount: 1\n  aegis-storage:masterCount: 1\n"
    )
    assert (machine.project / "Pulumi.dev.yaml").read_text().count("masterCount: 3") == 1


def test_config_hints_name_the_wrapper_for_dev(monkeypatch: pytest.MonkeyPatch) -> None:
    """scripts/deploy exports AEGIS_STORAGE_CONFIG_COMMAND for dev; the config checks' fixes then use it."""
    from components.model.config.reader import Reader

    def fix_for_a_bad_integer() -> str:
        reader = Reader({"masterCount": "three"}, set())
        reader.value("masterCount")
        (problem,) = reader.problems
        return problem.split("Fix: ")[1]

    monkeypatch.delenv("AEGIS_STORAGE_CONFIG_COMMAND", raising=False)
    assert fix_for_a_bad_integer() == "pulumi config set masterCount <integer>"
    monkeypatch.setenv("AEGIS_STORAGE_CONFIG_COMMAND", "scripts/pulumi dev config")
    assert fix_for_a_bad_integer() == "scripts/pulumi dev config set masterCount <integer>"
