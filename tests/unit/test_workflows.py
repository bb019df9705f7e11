"""The GitHub Actions workflows: actionlint (which also knows each action's real inputs) and the structure
the deployment relies on: previews of both stacks under the policy pack, an approved prod deploy, a drift
check that fails on any change, and no AWS identifier written into a workflow."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.pulumi_harness import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
NAMES = ("pull-request", "deploy-prod", "drift")


def tool(name: str) -> str:
    """A binary from requirements-dev.txt: on PATH, or beside this interpreter when the venv is not active."""
    path = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    assert path, f"{name} not found: pip install -r requirements-dev.txt"
    return path


def actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    # shellcheck given explicitly, so run: scripts are checked here as on a runner that has it installed.
    return subprocess.run(
        [tool("actionlint"), "-shellcheck", tool("shellcheck"), "-pyflakes=", "-oneline", *map(str, files)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def load(name: str) -> dict[str, Any]:
    workflow = yaml.safe_load((WORKFLOWS / f"{name}.yml").read_text())
    # YAML 1.1 reads the key `on` as True.
    workflow["on"] = workflow.pop(True)
    return workflow


def steps(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in job["steps"] if s.get("uses", "").split("@")[0] == action]


def pulumi_step(job: dict[str, Any]) -> dict[str, Any]:
    (step,) = steps(job, "pulumi/actions")
    return step["with"]


def all_jobs() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for name in NAMES:
        for job_id, job in load(name)["jobs"].items():
            yield name, job_id, job


def test_the_workflows_are_exactly_these() -> None:
    assert sorted(p.stem for p in WORKFLOWS.iterdir()) == sorted(NAMES)
    assert {p.suffix for p in WORKFLOWS.iterdir()} == {".yml"}


def test_actionlint_passes() -> None:
    result = actionlint(*sorted(WORKFLOWS.glob("*.yml")))
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_rejects_an_input_the_pulumi_action_does_not_have(tmp_path: Path) -> None:
    """So the input names the workflows use are checked against the action's own definition."""
    text = (WORKFLOWS / "pull-request.yml").read_text().replace("policyPacks:", "policy-packs:")
    broken = tmp_path / "broken.yml"
    broken.write_text(text)
    result = actionlint(broken)
    assert result.returncode == 1
    assert 'input "policy-packs" is not defined in action "pulumi/actions@v7"' in result.stdout


def test_the_pull_request_tests_run_the_readme_command_with_its_debian_packages() -> None:
    for name in ("pull-request", "deploy-prod"):
        job = load(name)["jobs"]["test"]
        runs = [s.get("run", "") for s in job["steps"]]
        assert "scripts/test" in runs
        assert any("apt-get install -y postgresql haproxy" in run for run in runs)
        (python,) = steps(job, "actions/setup-python")
        assert python["with"]["python-version"] == "3.11"
        assert python["with"]["cache"] == "pip"


def test_pull_requests_preview_both_stacks_with_the_policy_pack_and_comment() -> None:
    workflow = load("pull-request")
    assert "pull_request" in workflow["on"]
    assert workflow["concurrency"]["group"] == "pull-request-${{ github.event.pull_request.number }}"
    preview = workflow["jobs"]["preview"]
    assert preview["needs"] == "test"
    assert preview["permissions"] == {"contents": "read", "id-token": "write", "pull-requests": "write"}
    matrix = preview["strategy"]["matrix"]["include"]
    assert [m["stack"] for m in matrix] == ["dev", "prod"]
    assert {m["stack"]: m["secrets-provider"] for m in matrix} == {
        "dev": "passphrase",
        "prod": "${{ vars.PULUMI_SECRETS_PROVIDER_PROD }}",
    }
    inputs = pulumi_step(preview)
    assert inputs["command"] == "preview"
    assert inputs["stack-name"] == "${{ matrix.stack }}"
    assert inputs["policyPacks"] == "policy"
    assert inputs["comment-on-pr"] is True
    assert inputs["github-token"] == "${{ secrets.GITHUB_TOKEN }}"
    assert inputs["work-dir"] == "."
    (step,) = steps(preview, "pulumi/actions")
    assert "secrets.PULUMI_CONFIG_PASSPHRASE_DEV" in step["env"]["PULUMI_CONFIG_PASSPHRASE"]
    (aws,) = steps(preview, "aws-actions/configure-aws-credentials")
    assert aws["with"]["role-to-assume"] == "${{ vars.AWS_PREVIEW_ROLE_ARN }}"


def test_the_policy_pack_the_previews_name_is_the_one_in_this_repository() -> None:
    assert (ROOT / "policy" / "PulumiPolicy.yaml").is_file()
    pack = yaml.safe_load((ROOT / "policy" / "PulumiPolicy.yaml").read_text())
    assert pack["runtime"]["name"] == "python"
    # Created by the workflows' virtualenv step; `.venv/` is already ignored by git.
    assert pack["runtime"]["options"]["virtualenv"] == ".venv"
    for name in ("pull-request", "deploy-prod"):
        for job_id, job in load(name)["jobs"].items():
            if steps(job, "pulumi/actions"):
                assert pulumi_step(job)["policyPacks"] == "policy", (name, job_id)
                venvs = " ".join(s.get("run", "") for s in job["steps"])
                assert "policy/.venv/bin/pip install -r policy/requirements.txt" in venvs


def test_prod_is_deployed_on_main_after_approval_one_update_at_a_time() -> None:
    workflow = load("deploy-prod")
    assert workflow["on"] == {"push": {"branches": ["main"]}}
    deploy = workflow["jobs"]["deploy"]
    assert deploy["needs"] == "test"
    assert deploy["environment"] == "production"
    assert deploy["concurrency"] == {"group": "prod-deploy", "cancel-in-progress": False}
    inputs = pulumi_step(deploy)
    assert (inputs["command"], inputs["stack-name"]) == ("up", "prod")
    assert inputs["secrets-provider"] == "${{ vars.PULUMI_SECRETS_PROVIDER_PROD }}"
    (aws,) = steps(deploy, "aws-actions/configure-aws-credentials")
    assert aws["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
    # Only the approved job may assume the deploy role.
    assert [job_id for _, job_id, job in all_jobs() if "AWS_DEPLOY_ROLE_ARN" in str(job)] == ["deploy"]


def test_drift_is_checked_daily_and_fails_on_any_change_without_writing_state() -> None:
    workflow = load("drift")
    assert set(workflow["on"]) == {"schedule", "workflow_dispatch"}
    (schedule,) = workflow["on"]["schedule"]
    minute, hour, *every = schedule["cron"].split()
    assert every == ["*", "*", "*"] and minute.isdigit() and hour.isdigit()
    (job,) = workflow["jobs"].values()
    inputs = pulumi_step(job)
    assert inputs["stack-name"] == "prod"
    assert inputs["expect-no-changes"] is True
    assert (inputs["command"], inputs["refresh"]) == ("preview", True)


def test_every_job_has_a_timeout_and_only_the_permissions_it_uses() -> None:
    for name in NAMES:
        assert load(name)["permissions"] == {"contents": "read"}, name
    for name, job_id, job in all_jobs():
        assert 0 < job["timeout-minutes"] <= 60, (name, job_id)
        permissions = job.get("permissions", {"contents": "read"})
        assumes_role = bool(steps(job, "aws-actions/configure-aws-credentials"))
        assert (permissions.get("id-token") == "write") is assumes_role, (name, job_id)
        comments = bool(steps(job, "pulumi/actions")) and pulumi_step(job).get("comment-on-pr") is True
        assert (permissions.get("pull-requests") == "write") is comments, (name, job_id)


def test_actions_are_pinned_to_a_major_version() -> None:
    for name, job_id, job in all_jobs():
        for step in job["steps"]:
            if "uses" in step:
                assert re.fullmatch(r"[\w-]+/[\w-]+@v\d+", step["uses"]), (name, job_id, step["uses"])


@pytest.mark.parametrize("name", NAMES)
def test_no_workflow_hard_codes_an_aws_identifier(name: str) -> None:
    text = (WORKFLOWS / f"{name}.yml").read_text()
    assert not re.search(r"arn:aws", text)
    assert not re.search(r"(?<!\d)\d{12}(?!\d)", text)  # an account id
    assert not re.search(r"s3://", text)
    assert not re.search(r"\b(us|eu|ap|sa|ca|me|af|il|mx)(-gov)?-[a-z]+-\d\b", text)  # a region
    for job in load(name)["jobs"].values():
        for step in steps(job, "aws-actions/configure-aws-credentials"):
            assert re.fullmatch(r"\$\{\{ vars\.AWS_\w+_ROLE_ARN \}\}", step["with"]["role-to-assume"])
            assert step["with"]["aws-region"] == "${{ vars.AWS_REGION }}"
        if steps(job, "pulumi/actions"):
            assert job["env"]["PULUMI_BACKEND_URL"] == "${{ vars.PULUMI_BACKEND_URL }}"
