"""The in-VPC health function's zip: reproducible, complete, and free of deploy-time code."""

from __future__ import annotations

import ast
import io
import os
import shutil
import zipfile
from importlib import metadata

import pytest
from packaging.requirements import Requirement

from components.aws import health_artifact
from tests.support.pulumi_harness import ROOT


@pytest.fixture(scope="module")
def artifact() -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(health_artifact.build_artifact()))


def test_the_same_sources_give_the_same_bytes_whatever_their_times(tmp_path) -> None:
    shutil.copytree(ROOT / "components", tmp_path / "components", ignore=shutil.ignore_patterns("__pycache__"))
    for path in (tmp_path / "components").rglob("*"):
        os.utime(path, (1_900_000_000, 1_900_000_000))
    assert health_artifact.build_artifact(tmp_path) == health_artifact.build_artifact(ROOT)


def test_a_changed_module_changes_the_bytes(tmp_path) -> None:
    shutil.copytree(ROOT / "components", tmp_path / "components", ignore=shutil.ignore_patterns("__pycache__"))
    checks = tmp_path / "components" / "healthcheck" / "checks.py"
    checks.write_text(checks.read_text() + "\n# changed\n")
    assert health_artifact.build_artifact(tmp_path) != health_artifact.build_artifact(ROOT)


def test_entries_are_sorted_with_a_fixed_time_and_mode(artifact: zipfile.ZipFile) -> None:
    names = artifact.namelist()
    assert names == sorted(names)
    assert {info.date_time for info in artifact.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert {info.external_attr >> 16 for info in artifact.infolist()} == {0o644}
    assert not [n for n in names if n.endswith(".pyc") or "__pycache__" in n or ".dist-info/" in n]


def test_it_holds_the_whole_health_check_package_and_no_module_that_needs_pulumi(artifact: zipfile.ZipFile) -> None:
    project = [n for n in artifact.namelist() if n.startswith("components/")]
    for name in ("healthcheck", "usage"):  # the check, and the usage service's rules it reads (filer_rules.py)
        package = sorted(f"components/{name}/{p.name}" for p in (ROOT / "components" / name).glob("*.py"))
        assert [n for n in project if n.startswith(f"components/{name}/")] == package
    for name in project:
        tree = ast.parse(artifact.read(name))
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not {m for m in imported if m.split(".")[0] in {"pulumi", "pulumi_aws", "yaml"}}, name
    assert health_artifact.HANDLER.rsplit(".", 1)[0].replace(".", "/") + ".py" in project


def test_vendored_is_httpx_and_everything_it_requires_here(artifact: zipfile.ZipFile) -> None:
    closure = health_artifact.requirement_closure()
    assert {"anyio", "certifi", "h11", "httpcore", "httpx", "idna"} <= {name.lower() for name in closure}
    for name in closure:
        for requirement in metadata.requires(name) or []:
            if ";" not in requirement:  # unconditional: must be vendored too
                assert Requirement(requirement).name.lower().replace("-", "_") in {
                    n.lower().replace("-", "_") for n in closure
                }, (name, requirement)
    tops = {name.split("/")[0] for name in artifact.namelist()}
    assert {"components", "httpx", "httpcore", "h11", "anyio", "idna", "certifi"} <= tops


def test_a_compiled_module_is_refused() -> None:
    with pytest.raises(ValueError, match="compiled module"):
        # PyYAML ships its C loader: not something a pure-Python artifact can carry to another platform.
        health_artifact.vendored_files(["PyYAML"])
