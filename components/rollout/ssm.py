"""The rollout's transport on AWS: SSM Run Command on the nodes themselves.

The deployment's runner usually cannot reach the private subnets, so every probe runs where the
network is: a node's own health through `curl` on that node, HAProxy's admin socket on each HAProxy
node. Each call is one `AWS-RunShellScript` command, waited for until it finished.

What AWS answers, and what each answer does here (docs/rolling-changes.md has the list):
- `SendCommand` -> InvalidInstanceId before the instance's SSM agent registered (minutes after EC2 says
  running): waited for, up to the shell's `registration_timeout` (no botocore waiter covers it); after a
  command already ran there, the instance was stopped, terminated or replaced: `InstanceGone`.
- `GetCommandInvocation` -> InvocationDoesNotExist right after `SendCommand`, then Pending/InProgress:
  botocore's `command_executed` waiter polls through them; an invocation that cannot be delivered
  (Failed/Undeliverable, or InvalidInstanceId) is `InstanceGone`.
- ThrottlingException and transient errors: botocore's standard retry mode (`CLIENT_CONFIG`).
- `StandardOutputContent` holds the first 24,000 characters only: an output that long is `OutputCut`,
  and probes send their answers gzip+base64 so the masters' topology fits.
Each error is one line naming the node (or the instance), what was waited for and the last answer.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import math
import shlex
import time
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError, WaiterError

from components.model.rollout import NODE_APPLIED_DOCUMENT, NODE_APPLY_SCRIPT, NODE_FINGERPRINT_FILE, NODE_ROLLOUT_MARK
from components.rollout.aws_identity import CLIENT_CONFIG, AwsIdentity, session_for
from components.rollout.driver import Observed
from components.rollout.gates import Fetch, Send

COMMAND_TIMEOUT = 600.0
POLL_SECONDS = 2.0  # between GetCommandInvocation polls
REGISTRATION_POLL_SECONDS = 10.0
OUTPUT_LIMIT = 24_000  # GetCommandInvocation's StandardOutputContent: "The first 24,000 characters"
# Longer than the weed units' RestartSec (5 s): a crash-looping unit restarts within it.
CRASH_LOOP_WINDOW = 7


class InstanceGone(RuntimeError):
    """The instance is no longer a managed instance (stopped, terminated or replaced)."""


class OutputCut(RuntimeError):
    """A command printed more than SSM returns."""


class NotRegistered(RuntimeError):
    """The instance's SSM agent did not register within the budget."""


class SsmShell:
    """Runs shell commands on an instance over SSM Run Command and returns their standard output."""

    def __init__(self, client: Any, names: Mapping[str, str] | None = None, registration_timeout: float = 0.0) -> None:
        self.client = client
        self.names = dict(names or {})  # instance id -> node, for the messages
        self.registration_timeout = registration_timeout
        self.registered: set[str] = set()  # instances a command was sent to

    @classmethod
    def for_identity(
        cls, identity: AwsIdentity, names: Mapping[str, str] | None = None, registration_timeout: float = 0.0
    ) -> SsmShell:
        client = session_for(identity).client("ssm", region_name=identity.region, config=CLIENT_CONFIG)
        return cls(client, names, registration_timeout)

    def who(self, instance_id: str) -> str:
        node = self.names.get(instance_id)
        return f"{node} ({instance_id})" if node else instance_id

    def run(self, instance_id: str, script: str, timeout: float = COMMAND_TIMEOUT) -> str:
        command_id = self._send(instance_id, script, timeout)
        invocation = self._wait(command_id, instance_id, script, timeout)
        out = str(invocation.get("StandardOutputContent", ""))
        if len(out) >= OUTPUT_LIMIT:
            raise OutputCut(
                f"{self.who(instance_id)}: `{_short(script)}` printed more than the {OUTPUT_LIMIT:,} characters "
                f"SSM returns; its answer is cut (ends {out[-40:]!r})"
            )
        return out

    def _send(self, instance_id: str, script: str, timeout: float) -> str:
        deadline = time.monotonic() + self.registration_timeout
        while True:
            try:
                sent = self.client.send_command(
                    InstanceIds=[instance_id],
                    DocumentName="AWS-RunShellScript",
                    Parameters={"commands": [script], "executionTimeout": [str(int(timeout))]},
                )
            except ClientError as err:
                self._unsent(err, instance_id, deadline)
                time.sleep(REGISTRATION_POLL_SECONDS)
                continue
            self.registered.add(instance_id)
            return str(sent["Command"]["CommandId"])

    def _unsent(self, err: ClientError, instance_id: str, deadline: float) -> None:
        """Returns when `err` is an agent not registered yet and the budget allows another try."""
        code, message = _error(err)
        if code != "InvalidInstanceId":
            raise err
        if instance_id in self.registered:
            raise InstanceGone(
                f"{self.who(instance_id)} is no longer a managed instance (stopped, terminated or replaced): {message}"
            ) from err
        if time.monotonic() >= deadline:
            raise NotRegistered(
                f"{self.who(instance_id)}: SSM agent not registered after {self.registration_timeout:g} s; "
                f"last answer: {code}: {message}"
            ) from err

    def _wait(self, command_id: str, instance_id: str, script: str, timeout: float) -> dict[str, Any]:
        """The finished invocation, through botocore's `command_executed` waiter."""
        delay = POLL_SECONDS
        attempts = max(2, math.ceil((timeout + 60) / max(delay, 0.1)))
        try:
            self.client.get_waiter("command_executed").wait(
                CommandId=command_id, InstanceId=instance_id, WaiterConfig={"Delay": delay, "MaxAttempts": attempts}
            )
        except WaiterError as err:
            raise self._failure(err, instance_id, script, timeout) from err
        return dict(self.client.get_command_invocation(CommandId=command_id, InstanceId=instance_id))

    def _failure(self, err: WaiterError, instance_id: str, script: str, timeout: float) -> Exception:
        last = err.last_response or {}
        who, what = self.who(instance_id), f"`{_short(script)}`"
        code, message = (last.get("Error") or {}).get("Code", ""), (last.get("Error") or {}).get("Message", "")
        status, details = last.get("Status", ""), last.get("StatusDetails", "")
        if code == "InvalidInstanceId" or details in ("Undeliverable", "Terminated"):
            answer = f"{code}: {message}" if code else f"{status} ({details})"
            return InstanceGone(f"{who} went away while {what} ran (stopped, terminated or replaced): {answer}")
        if code:
            return RuntimeError(f"{who}: {what}: {code}: {message}")
        if "Max attempts exceeded" in str(err):
            return TimeoutError(f"{who}: {what} did not finish within {timeout:g} s; last answer: {status} ({details})")
        detail = str(last.get("StandardErrorContent", "")).strip()[-500:]
        return RuntimeError(f"{who}: {what}: {status} ({details}) {detail}".rstrip())


def _error(err: ClientError) -> tuple[str, str]:
    error = err.response.get("Error", {})
    return str(error.get("Code", "")), str(error.get("Message", ""))


def _short(script: str) -> str:
    return script if len(script) <= 120 else script[:117] + "..."


class SsmOperator:
    """Stops, applies and starts a node's units with the bootstrap's `aegis-apply`, and observes them.

    `raft_states` maps each master whose Raft state a rollout may move aside to its directory (-mdir's
    `m<port>`); the master first in -peers is left out of it on purpose (see the driver's docstring).
    """

    def __init__(self, shell: SsmShell, instances: Mapping[str, str], raft_states: Mapping[str, str] | None = None):
        self.shell = shell
        self.instances = dict(instances)
        self.raft_states = dict(raft_states or {})

    def _run(self, node: str, script: str) -> str:
        return self.shell.run(self.instances[node], script)

    def running(self, node: str) -> str | None:
        out = self._run(node, f"cat {NODE_FINGERPRINT_FILE} 2>/dev/null || true").strip()
        return out or None

    def observe(self, node: str) -> Observed:
        return observed(self._run(node, observe_script(unit_of(node))))

    def stop(self, node: str) -> None:
        # The mark first: a stop that dies halfway still leaves the node known as stopped by a rollout.
        mark = shlex.quote(NODE_ROLLOUT_MARK)
        self._run(node, f"mkdir -p $(dirname {mark}) && touch {mark} && systemctl stop {shlex.quote(unit_of(node))}")

    def stop_all(self, node: str) -> None:
        """Stop every unit of the document the node runs (an HAProxy node: HAProxy and the usage service)."""
        self._run(node, stop_units_script())

    def settled(self, node: str) -> None:
        self._run(node, f"rm -f {shlex.quote(NODE_ROLLOUT_MARK)}")

    def forget_raft_state(self, node: str) -> None:
        if node not in self.raft_states:
            raise RuntimeError(f"{node}: no Raft state to move aside (not a master, or first in -peers)")
        state = shlex.quote(self.raft_states[node])
        aside = shlex.quote(f"{self.raft_states[node]}.before-rollout")
        self._run(node, f"if [ -e {state} ]; then rm -rf {aside} && mv {state} {aside}; fi")

    def apply(self, node: str) -> None:
        self._run(node, f"{NODE_APPLY_SCRIPT} files")

    def start(self, node: str) -> None:
        self._run(node, f"{NODE_APPLY_SCRIPT} start")


def unit_of(node: str) -> str:
    return f"seaweedfs-{node}.service"


# The units of the document `aegis-apply` applied last, read with the AMI's python3 (the bootstrap writes that
# document; `aegis-apply start` starts the same list).
_DOCUMENT_UNITS = "import json,sys;print(' '.join(json.load(open(sys.argv[1]))['units']))"


def stop_units_script(document: str = NODE_APPLIED_DOCUMENT) -> str:
    """One command: the rollout's mark (as `stop` leaves it), then `systemctl stop` of every unit of `document`."""
    mark = shlex.quote(NODE_ROLLOUT_MARK)
    units = f"$(python3 -c {shlex.quote(_DOCUMENT_UNITS)} {shlex.quote(document)})"
    return f"mkdir -p $(dirname {mark}) && touch {mark} && systemctl stop {units}"


def observe_script(unit: str) -> str:
    """One command: the fingerprint, the mark, the unit's state, and again after CRASH_LOOP_WINDOW when it
    has restarted since it was started (a crash-looping unit is `active` between two crashes)."""
    show = f"systemctl show -p ActiveState -p SubState -p NRestarts {shlex.quote(unit)}"
    return (
        f"echo fingerprint=$(cat {NODE_FINGERPRINT_FILE} 2>/dev/null); "
        f"if [ -e {NODE_ROLLOUT_MARK} ]; then echo mark=yes; else echo mark=no; fi; "
        f"{show} | sed 's/^/first./'; "
        f"if {show} | grep -q '^NRestarts=[1-9]'; then sleep {CRASH_LOOP_WINDOW}; {show} | sed 's/^/second./'; fi"
    )


def observed(out: str) -> Observed:
    """What `observe_script` printed, read."""
    seen = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    first = (seen.get("first.ActiveState", ""), seen.get("first.SubState", ""))
    restarts = seen.get("first.NRestarts", "0")
    up, detail = first == ("active", "running"), f"unit {'/'.join(first)}"
    if up and "second.NRestarts" in seen:
        second = (seen.get("second.ActiveState", ""), seen.get("second.SubState", ""))
        if second != first or seen["second.NRestarts"] != restarts:
            up, detail = False, f"crash-looping: restarted {restarts} -> {seen['second.NRestarts']} times"
    return Observed(seen.get("fingerprint") or None, up, seen.get("mark") == "yes", "" if up else detail)


def fetch_script(url: str) -> str:
    """curl on the node: the body and the status on its own last line, gzip+base64 (a topology of a few
    hundred volumes is more than SSM's 24,000 characters as JSON, a tenth of that compressed)."""
    return f"curl -s -m 3 -w '\\n%{{http_code}}' {shlex.quote(url)} | gzip -c | base64 -w0"


def decode_fetch(out: str) -> tuple[int, str]:
    try:
        text = gzip.decompress(base64.b64decode(out.strip(), validate=True)).decode(errors="replace")
    except (binascii.Error, OSError, EOFError):
        return 0, ""
    body, _, status = text.rstrip("\n").rpartition("\n")
    return (int(status), body) if status.isdigit() else (0, "")


def ssm_fetch(shell: SsmShell, instance_id: str) -> Fetch:
    """GET `url` with curl on `instance_id`. A command that failed or did not finish is no answer; an
    instance gone, never registered, or an answer cut by SSM raises (the rollout reports it)."""

    def fetch(url: str) -> tuple[int, str]:
        try:
            out = shell.run(instance_id, fetch_script(url), timeout=60)
        except (InstanceGone, OutputCut, NotRegistered):
            raise
        except (RuntimeError, TimeoutError):
            return 0, ""
        return decode_fetch(out)

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
