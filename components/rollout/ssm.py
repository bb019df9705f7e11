"""The rollout's transport on AWS: SSM Run Command on the nodes themselves.

The deployment's runner usually cannot reach the private subnets, so every probe runs where the
network is: a node's own health through `curl` on that node, HAProxy's admin socket on each HAProxy
node. Each call is one `AWS-RunShellScript` command, waited for until it finished.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Mapping
from typing import Any

from components.model.rollout import NODE_APPLY_SCRIPT, NODE_FINGERPRINT_FILE
from components.rollout.gates import Fetch, Send

COMMAND_TIMEOUT = 600.0
POLL_SECONDS = 1.0
_DONE = {"Success", "Failed", "Cancelled", "TimedOut", "Cancelling"}


class SsmShell:
    """Runs shell commands on an instance over SSM Run Command and returns their standard output."""

    def __init__(self, client: Any) -> None:
        self.client = client

    @classmethod
    def for_region(cls, region: str) -> SsmShell:
        import boto3  # only where the rollout really runs

        return cls(boto3.client("ssm", region_name=region))

    def run(self, instance_id: str, script: str, timeout: float = COMMAND_TIMEOUT) -> str:
        sent = self.client.send_command(
            InstanceIds=[instance_id],
            DocumentName="AWS-RunShellScript",
            Parameters={"commands": [script], "executionTimeout": [str(int(timeout))]},
        )
        command_id = sent["Command"]["CommandId"]
        deadline = time.monotonic() + timeout + 60
        while time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            invocation = self._invocation(command_id, instance_id)
            if invocation and invocation["Status"] in _DONE:
                if invocation["Status"] != "Success":
                    detail = invocation.get("StandardErrorContent", "").strip()[-500:]
                    raise RuntimeError(f"`{script}` on {instance_id}: {invocation['Status']} {detail}")
                return str(invocation.get("StandardOutputContent", ""))
        raise TimeoutError(f"`{script}` on {instance_id} did not finish within {timeout:g} s")

    def _invocation(self, command_id: str, instance_id: str) -> dict[str, Any] | None:
        try:
            return self.client.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
        except self.client.exceptions.InvocationDoesNotExist:
            return None  # right after send_command the invocation is not registered yet


class SsmOperator:
    """Stops, applies and starts a node's units with the bootstrap's `aegis-apply`."""

    def __init__(self, shell: SsmShell, instances: Mapping[str, str]) -> None:
        self.shell = shell
        self.instances = dict(instances)

    def running(self, node: str) -> str | None:
        out = self.shell.run(self.instances[node], f"cat {NODE_FINGERPRINT_FILE} 2>/dev/null || true").strip()
        return out or None

    def stop(self, node: str) -> None:
        self.shell.run(self.instances[node], f"systemctl stop {shlex.quote(unit_of(node))}")

    def apply(self, node: str) -> None:
        self.shell.run(self.instances[node], f"{NODE_APPLY_SCRIPT} files")

    def start(self, node: str) -> None:
        self.shell.run(self.instances[node], f"{NODE_APPLY_SCRIPT} start")


def unit_of(node: str) -> str:
    return f"seaweedfs-{node}.service"


def ssm_fetch(shell: SsmShell, instance_id: str) -> Fetch:
    """GET `url` with curl on `instance_id`: the body, then the status on its own last line."""

    def fetch(url: str) -> tuple[int, str]:
        script = f"curl -s -m 3 -w '\\n%{{http_code}}' {shlex.quote(url)} || true"
        try:
            out = shell.run(instance_id, script, timeout=60)
        except (RuntimeError, TimeoutError):
            return 0, ""
        body, _, status = out.rstrip("\n").rpartition("\n")
        return (int(status), body) if status.isdigit() else (0, "")

    return fetch


SOCKET_CLIENT = (
    "import socket,sys;s=socket.socket(socket.AF_UNIX);s.connect(sys.argv[1]);"
    "s.sendall(sys.stdin.buffer.read());[sys.stdout.write(c.decode()) for c in iter(lambda:s.recv(65536),b'')]"
)


def ssm_haproxy_sender(shell: SsmShell, instance_id: str, admin_socket: str) -> Send:
    def send(command: str) -> str:
        client = f"python3 -c {shlex.quote(SOCKET_CLIENT)} {shlex.quote(admin_socket)}"
        script = f"printf '%s\\n' {shlex.quote(command)} | {client}"
        return shell.run(instance_id, script, timeout=60)

    return send
