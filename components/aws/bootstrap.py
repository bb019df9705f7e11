"""The stable bootstrap every instance boots from, and the node document it applies.

An instance's user data installs `aegis-apply`, which reads the node's document from its own SSM parameter
(`/<project>/<stack>/nodes/<node>`), writes its files and, at first boot, runs its setup commands and starts
its units. A changed flag, env value or SeaweedFS release therefore changes the parameter, not the user data:
the instance stays, and the rollout resource applies the new document node by node over SSM Run Command
(`aegis-apply files`, then the unit restart).

The document is the `node_document` the cloud-init renderer builds (placeholders only; secrets are read
from their SecureString parameters at every unit start), gzip+base64-encoded so every node's document fits
a standard 4 KB parameter. Its digest is the node's fingerprint: `aegis-apply` records the one it wrote in
/etc/aegis/fingerprint, which is how a rollout knows what a node runs and resumes
(docs/decisions/2026-11-27-node-documents.md).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from typing import Any

from components.aws.cloud_init import cloud_config
from components.model.config import PROJECT
from components.model.rollout import NODE_APPLIED_DOCUMENT, NODE_APPLY_SCRIPT, NODE_FINGERPRINT_FILE

# Runs as root with the AMI's python3 (3.9 on Amazon Linux 2023). Modes: boot (files, setup, start),
# files (only write the files: a rollout stops and starts the units itself), start (start the units).
APPLY_SCRIPT = r'''#!/usr/bin/python3
"""Applies this node's document from SSM Parameter Store."""
import base64
import gzip
import json
import os
import subprocess
import sys
import time

PARAMETER = __PARAMETER__
REGION = __REGION__
FINGERPRINT = __FINGERPRINT_FILE__
APPLIED = __APPLIED__


def fetch():
    for _ in range(60):
        run = subprocess.run(
            ["aws", "ssm", "get-parameter", "--region", REGION, "--name", PARAMETER,
             "--query", "Parameter.Value", "--output", "text"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
        )
        if run.returncode == 0:
            return run.stdout.strip()
        sys.stderr.write(run.stderr)
        # A fresh instance profile takes a while to become usable.
        time.sleep(5)
    sys.exit("cannot read " + PARAMETER)


def write(path, content, permissions):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    partial = path + ".partial"
    with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, int(permissions, 8)), "w") as f:
        f.write(content)
    os.chmod(partial, int(permissions, 8))
    os.replace(partial, path)


def write_files():
    encoded = fetch()
    document = json.loads(gzip.decompress(base64.b64decode(encoded)))
    for entry in document["write_files"]:
        write(entry["path"], entry["content"], entry["permissions"])
    subprocess.run(["systemctl", "daemon-reload"], check=True)
    write(APPLIED, json.dumps(document), "0600")
    write(FINGERPRINT, document["fingerprint"] + "\n", "0644")
    return document


def main(mode):
    if mode in ("boot", "files"):
        document = write_files()
    else:
        with open(APPLIED) as f:
            document = json.load(f)
    if mode == "boot":
        for command in document["runcmd"]:
            subprocess.run(command, check=True)
    if mode == "start":
        subprocess.run(["systemctl", "start", "--no-block", *document["units"]], check=True)


main(sys.argv[1] if len(sys.argv) > 1 else "boot")
'''


def node_parameter_name(stack: str, node: str) -> str:
    return f"/{PROJECT}/{stack}/nodes/{node}"


def document_fingerprint(document: dict[str, Any]) -> str:
    """The digest of what a node runs: every file, setup command and unit of its document."""
    body = {key: document[key] for key in ("write_files", "runcmd", "units")}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:20]


def encode_document(document: dict[str, Any]) -> str:
    """The parameter value: the document with its fingerprint, gzip+base64 (mtime 0: same input, same bytes)."""
    body = {**document, "fingerprint": document_fingerprint(document)}
    return base64.b64encode(gzip.compress(json.dumps(body, sort_keys=True).encode(), mtime=0)).decode()


def decode_document(value: str) -> dict[str, Any]:
    return json.loads(gzip.decompress(base64.b64decode(value)))


def render_bootstrap(stack: str, node: str, region: str) -> str:
    """User data that depends only on the node's name: it changes only when this bootstrap does."""
    script = (
        APPLY_SCRIPT.replace("__PARAMETER__", json.dumps(node_parameter_name(stack, node)))
        .replace("__REGION__", json.dumps(region))
        .replace("__FINGERPRINT_FILE__", json.dumps(NODE_FINGERPRINT_FILE))
        .replace("__APPLIED__", json.dumps(NODE_APPLIED_DOCUMENT))
    )
    document = {
        "write_files": [{"path": NODE_APPLY_SCRIPT, "owner": "root:root", "permissions": "0700", "content": script}],
        "runcmd": [[NODE_APPLY_SCRIPT, "boot"]],
    }
    return cloud_config(document)
