"""The bootstrap's `aegis-apply` run by python against a stub `aws` and `systemctl`, in a temp root."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from components.aws.bootstrap import (
    decode_document,
    document_fingerprint,
    encode_document,
    render_bootstrap,
)
from components.model.rollout import NODE_APPLIED_DOCUMENT, NODE_APPLY_SCRIPT, NODE_FINGERPRINT_FILE


def document(root: Path, flag: str) -> dict:
    return {
        "write_files": [
            {"path": str(root / "etc/unit.service"), "owner": "root:root", "permissions": "0644", "content": flag},
            {"path": str(root / "etc/run"), "owner": "root:root", "permissions": "0700", "content": "#!/bin/sh\n"},
        ],
        "runcmd": [["dnf", "install", "-y", "docker"]],
        "units": ["seaweedfs-master-0.service"],
    }


def apply_script(root: Path) -> Path:
    user_data = yaml.safe_load(render_bootstrap("prod", "master-0", "us-east-1").removeprefix("#cloud-config\n"))
    (entry,) = user_data["write_files"]
    assert entry["path"] == NODE_APPLY_SCRIPT and user_data["runcmd"] == [[NODE_APPLY_SCRIPT, "boot"]]
    text = entry["content"]
    for path in (NODE_FINGERPRINT_FILE, NODE_APPLIED_DOCUMENT):
        text = text.replace(json.dumps(path), json.dumps(str(root / path.lstrip("/"))))
    script = root / "aegis-apply"
    script.write_text(text)
    return script


@pytest.fixture
def node(tmp_path: Path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls"

    def run(mode: str, value: str) -> None:
        for name, body in {
            "aws": f'echo "aws $*" >>{log}\ncat <<"EOF"\n{value}\nEOF',
            "systemctl": f'echo "systemctl $*" >>{log}',
            "dnf": f'echo "dnf $*" >>{log}',
        }.items():
            (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
            (bin_dir / name).chmod(0o755)
        env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
        subprocess.run([sys.executable, str(apply_script(tmp_path)), mode], env=env, check=True, timeout=30)

    return tmp_path, run, log


def test_boot_writes_the_document_records_its_fingerprint_and_runs_its_setup(node):
    root, run, log = node
    doc = document(root, "v1")
    run("boot", encode_document(doc))
    assert (root / "etc/unit.service").read_text() == "v1"
    assert stat.S_IMODE((root / "etc/run").stat().st_mode) == 0o700
    assert (root / NODE_FINGERPRINT_FILE.lstrip("/")).read_text().strip() == document_fingerprint(doc)
    calls = log.read_text().splitlines()
    assert calls[0].startswith("aws ssm get-parameter --region us-east-1 --name /aegis-storage/prod/nodes/master-0")
    assert calls[1:] == ["systemctl daemon-reload", "dnf install -y docker"]


def test_files_mode_only_writes_and_start_mode_starts_the_applied_units(node):
    root, run, log = node
    run("boot", encode_document(document(root, "v1")))
    log.write_text("")
    changed = document(root, "v2")
    run("files", encode_document(changed))
    assert (root / "etc/unit.service").read_text() == "v2"
    assert (root / NODE_FINGERPRINT_FILE.lstrip("/")).read_text().strip() == document_fingerprint(changed)
    run("start", "unused")
    calls = log.read_text().splitlines()
    assert calls[1:] == ["systemctl daemon-reload", "systemctl start --no-block seaweedfs-master-0.service"]


def test_the_encoded_document_is_deterministic_and_carries_its_fingerprint(tmp_path: Path):
    doc = document(tmp_path, "v1")
    assert encode_document(doc) == encode_document(doc)
    assert decode_document(encode_document(doc))["fingerprint"] == document_fingerprint(doc)
    assert document_fingerprint(doc) != document_fingerprint(document(tmp_path, "v2"))
