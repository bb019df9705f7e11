"""The GitHub Actions workflows: actionlint (which also knows each action's real inputs) and the structure
the deployment relies on: previews of both stacks under the policy pack, an approved prod deploy of the plan
the approvers saw, a drift check that fails on any change, actions pinned by commit, the Pulumi CLI pinned,
docs/ci-setup.md naming everything the workflows read, and no AWS identifier written into a workflow."""

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
CI_SETUP = ROOT / "docs" / "ci-setup.md"
# `uses: owner/repo@<commit> # vX.Y.Z`: the commit is what runs, the comment says which release it is.
PINNED = re.compile(r"uses: ([\w-]+/[\w-]+)@([0-9a-f]{40}) # (v(\d+)\.\d+\.\d+)$", re.MULTILINE)


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


def tag_view(tmp_path: Path, *files: Path) -> list[Path]:
    """Copies of the workflows with each commit pin replaced by its release's major tag. actionlint knows the
    inputs of popular actions by tag only, so this is how the inputs of SHA-pinned steps get checked."""
    copies = []
    for file in files:
        copy = tmp_path / file.name
        copy.write_text(PINNED.sub(lambda m: f"uses: {m[1]}@v{m[4]}", file.read_text()))
        copies.append(copy)
    return copies


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


def test_actionlint_passes(tmp_path: Path) -> None:
    workflows = sorted(WORKFLOWS.glob("*.yml"))
    for files in (workflows, tag_view(tmp_path, *workflows)):
        result = actionlint(*files)
        assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_rejects_an_input_the_pulumi_action_does_not_have(tmp_path: Path) -> None:
    """So the input names the workflows use are checked against the action's own definition."""
    (pull_request,) = tag_view(tmp_path, WORKFLOWS / "pull-request.yml")
    broken = tmp_path / "broken.yml"
    broken.write_text(pull_request.read_text().replace("policyPacks:", "policy-packs:"))
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
    assert deploy["needs"] == "plan"
    assert deploy["environment"] == "production"
    assert deploy["concurrency"] == {"group": "prod-deploy", "cancel-in-progress": False}
    inputs = pulumi_step(deploy)
    assert (inputs["command"], inputs["stack-name"]) == ("up", "prod")
    assert inputs["secrets-provider"] == "${{ vars.PULUMI_SECRETS_PROVIDER_PROD }}"
    (aws,) = steps(deploy, "aws-actions/configure-aws-credentials")
    assert aws["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
    # Only the approved job may assume the deploy role.
    assert [job_id for _, job_id, job in all_jobs() if "AWS_DEPLOY_ROLE_ARN" in str(job)] == ["deploy"]


def test_the_approved_deploy_applies_exactly_the_plan_the_job_before_approval_saved() -> None:
    jobs = load("deploy-prod")["jobs"]
    plan, deploy = jobs["plan"], jobs["deploy"]
    assert plan["needs"] == "test" and "environment" not in plan
    preview = pulumi_step(plan)
    assert (preview["command"], preview["stack-name"], preview["plan"]) == ("preview", "prod", "plan.json")
    assert preview["policyPacks"] == "policy" and preview["comment-on-summary"] is True
    assert preview["secrets-provider"] == pulumi_step(deploy)["secrets-provider"]
    (aws,) = steps(plan, "aws-actions/configure-aws-credentials")
    assert aws["with"]["role-to-assume"] == "${{ vars.AWS_PREVIEW_ROLE_ARN }}"
    (upload,) = steps(plan, "actions/upload-artifact")
    assert upload["with"]["path"] == "plan.json" and upload["with"]["if-no-files-found"] == "error"
    # Uploaded after the preview that wrote it.
    assert plan["steps"].index(upload) > plan["steps"].index(steps(plan, "pulumi/actions")[0])

    (download,) = steps(deploy, "actions/download-artifact")
    assert download["with"] == {"name": upload["with"]["name"], "path": "."}
    (up,) = steps(deploy, "pulumi/actions")
    assert deploy["steps"].index(download) < deploy["steps"].index(up)
    assert up["with"]["plan"] == "plan.json"


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


def test_actions_are_pinned_by_commit_with_the_release_in_a_comment() -> None:
    commits: dict[str, set[str]] = {}
    for name in NAMES:
        for line in (WORKFLOWS / f"{name}.yml").read_text().splitlines():
            if line.strip().startswith(("uses:", "- uses:")):
                match = PINNED.search(line.strip())
                assert match, (name, line.strip())
                commits.setdefault(match[1], set()).add(f"{match[2]} {match[3]}")
    # One release of each action across the workflows.
    assert {action: len(pins) for action, pins in commits.items()} == dict.fromkeys(commits, 1)


def test_every_pulumi_step_installs_the_pinned_cli() -> None:
    version = (ROOT / ".pulumi-version").read_text()
    assert re.fullmatch(r"3\.\d+\.\d+\n", version), version
    for name, job_id, job in all_jobs():
        if steps(job, "pulumi/actions"):
            inputs = pulumi_step(job)
            assert inputs["pulumi-version-file"] == ".pulumi-version", (name, job_id)
            assert "pulumi-version" not in inputs, (name, job_id)


def test_ci_setup_names_every_variable_secret_and_environment_the_workflows_read() -> None:
    text = "\n".join((WORKFLOWS / f"{name}.yml").read_text() for name in NAMES)
    wanted = {f"vars.{n}" for n in re.findall(r"\bvars\.(\w+)", text)}
    wanted |= {f"secrets.{n}" for n in re.findall(r"\bsecrets\.(\w+)", text)}
    environments = {job["environment"] for _, _, job in all_jobs() if "environment" in job}
    assert wanted and environments == {"production"}
    doc = CI_SETUP.read_text()
    named = {f"{kind}.{n}" for kind, n in re.findall(r"`(vars|secrets)\.(\w+)`", doc)}
    assert wanted - named == set(), "docs/ci-setup.md does not name these"
    for environment in environments:
        assert f"`{environment}`" in doc
    # The roles the workflows assume, by the variables that hold them, each with what it must be allowed.
    for role in re.findall(r"vars\.(AWS_\w+_ROLE_ARN)", text):
        assert f"`vars.{role}`" in doc


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
