"""A stand-in for AWS Systems Manager Run Command (and STS AssumeRole), on real boto3 clients.

Every request goes through a real `boto3.client("ssm", region_name=...)`: botocore validates it against the
SSM service model, and every answer is checked against the model too (`botocore.stub.Stubber`). Answers are
computed per request (`ScriptedStubber`) from what the test says each instance does. Throttling is answered
one level lower, as an HTTP 400 from the `before-send` hook, because Stubber answers before botocore's retry
handler runs: so the client's own retry mode is what gets through it.

Reproduced, with where AWS documents it:
- SendCommand -> `InvalidInstanceId` while the instance's SSM agent has not registered ("not in a valid
  state"; also stopped or terminated instances): `unregistered[instance] = N` for the first N calls, `gone`
  for every call. https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_SendCommand.html
- GetCommandInvocation -> `InvocationDoesNotExist` right after SendCommand (`not_yet` polls per command), then
  `InProgress` (`in_progress` polls), then the script's status and output; `InvalidInstanceId` once the
  instance is `gone`; Status `Failed` with StatusDetails `Undeliverable` for an instance in `undeliverable`.
  https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetCommandInvocation.html
- StandardOutputContent cut to its first 24,000 characters (same page, StandardOutputContent: "The first
  24,000 characters written by the plugin to stdout").
- `ThrottlingException` (HTTP 400) for the next `throttle` requests of any operation.
  https://docs.aws.amazon.com/systems-manager/latest/APIReference/CommonErrors.html
- STS AssumeRole: credentials per role ARN, each expected from the session that assumes it.
  https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html

Not reproduced: output to S3 (OutputS3BucketName), the `Delayed` status, `Cancelled`/`Cancelling` by a third
party, InternalServerError, InvalidDocument, UnsupportedPlatformType, DuplicateInstanceId, AccessDenied and
expired-token errors, the real timing between SendCommand and the invocation existing, credentials expiring
mid-rollout, and EC2 DescribeInstances.
"""

from __future__ import annotations

import base64
import datetime
import gzip
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import boto3.session
from botocore import xform_name
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber

from components.rollout.ssm import fetch_script

OUTPUT_LIMIT = 24_000
ACCOUNT = "123456789012"
STANDIN_ENV = "AEGIS_SSM_STANDIN"  # a JSON scenario for a provider server in another interpreter


def fetch_answer(status: int, body: str) -> str:
    """What `fetch_script` prints on a node for an HTTP answer."""
    return base64.b64encode(gzip.compress(f"{body}\n{status}".encode())).decode()


@dataclass
class SsmStandIn:
    """Scripted instances: `outputs[script] = (status, stdout)`, `pages[url] = (http status, body)` for probes."""

    outputs: dict[str, tuple[str, str]] = field(default_factory=dict)
    pages: dict[str, tuple[int, str]] = field(default_factory=dict)
    unregistered: dict[str, int] = field(default_factory=dict)  # instance -> InvalidInstanceId sends left
    gone: set[str] = field(default_factory=set)
    undeliverable: set[str] = field(default_factory=set)
    not_yet: int = 1  # InvocationDoesNotExist polls per command
    in_progress: int = 1  # InProgress polls per command after that
    throttle: int = 0  # ThrottlingException for the next N requests
    roles: dict[str, str] = field(default_factory=dict)  # role ARN -> the access key it hands out
    sent: list[tuple[str, str]] = field(default_factory=list)  # (instance, script)
    calls: list[str] = field(default_factory=list)  # every operation answered, throttles included
    assumed: list[tuple[str, str]] = field(default_factory=list)  # (role ARN, access key of the caller)
    polls: dict[str, int] = field(default_factory=dict)
    on_send: Callable[[str, str], None] | None = None

    def answer(self, operation: str, params: dict[str, Any], caller_key: str) -> tuple[int, dict[str, Any]]:
        """(HTTP status, body) for one request; an error body has `Error`."""
        self.calls.append(operation)
        if operation == "SendCommand":
            return self._send(params)
        if operation == "GetCommandInvocation":
            return self._invocation(params)
        if operation == "AssumeRole":
            return self._assume(params, caller_key)
        raise AssertionError(f"the stand-in does not answer {operation}")

    def _send(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        (instance,) = params["InstanceIds"]
        if instance in self.gone or self.unregistered.get(instance, 0) > 0:
            self.unregistered[instance] = self.unregistered.get(instance, 0) - 1
            message = f"Instances [[{instance}]] not in a valid state for account {ACCOUNT}"
            return 400, error("InvalidInstanceId", message)
        (script,) = params["Parameters"]["commands"]
        self.sent.append((instance, script))
        if self.on_send:
            self.on_send(instance, script)
        command_id = f"{len(self.sent):08d}-1111-2222-3333-444444444444"
        return 200, {"Command": {"CommandId": command_id, "InstanceIds": [instance], "Status": "Pending"}}

    def _invocation(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        command_id, instance = params["CommandId"], params["InstanceId"]
        if instance in self.gone:
            return 400, error("InvalidInstanceId", f"Instance {instance} is not a managed instance")
        polls = self.polls[command_id] = self.polls.get(command_id, 0) + 1
        if polls <= self.not_yet:
            return 400, error("InvocationDoesNotExist", "")
        base = {"CommandId": command_id, "InstanceId": instance, "DocumentName": "AWS-RunShellScript"}
        if instance in self.undeliverable:
            return 200, {**base, "Status": "Failed", "StatusDetails": "Undeliverable"}
        if polls <= self.not_yet + self.in_progress:
            return 200, {**base, "Status": "InProgress", "StatusDetails": "InProgress"}
        status, out = self.result(self.sent[int(command_id[:8]) - 1][1])
        details = {"Success": "Success", "Failed": "Failed"}.get(status, status)
        # SSM keeps the first 24,000 characters of standard output.
        return 200, {
            **base,
            "Status": status,
            "StatusDetails": details,
            "StandardOutputContent": out[:OUTPUT_LIMIT],
            "StandardErrorContent": "boom" if status != "Success" else "",
        }

    def result(self, script: str) -> tuple[str, str]:
        for url, (status, body) in self.pages.items():
            if script == fetch_script(url):
                return "Success", fetch_answer(status, body)
        if script.startswith("curl "):  # nothing answers at that URL
            return "Success", fetch_answer(0, "")
        return self.outputs.get(script, ("Success", ""))

    def _assume(self, params: dict[str, Any], caller_key: str) -> tuple[int, dict[str, Any]]:
        arn = params["RoleArn"]
        self.assumed.append((arn, caller_key))
        expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
        credentials = {
            "AccessKeyId": self.roles[arn],
            "SecretAccessKey": "secret-" + self.roles[arn],
            "SessionToken": "token-" + self.roles[arn],
            "Expiration": expires,
        }
        user = {"AssumedRoleId": f"AROA000000000000:{params['RoleSessionName']}", "Arn": f"{arn}/session"}
        return 200, {"Credentials": credentials, "AssumedRoleUser": user}


def error(code: str, message: str) -> dict[str, Any]:
    return {"Error": {"Code": code, "Message": message}}


class ScriptedStubber(Stubber):
    """A Stubber whose next answer is computed from the request, so its queue never runs dry."""

    def __init__(self, client: Any, standin: SsmStandIn) -> None:
        super().__init__(client)
        self.standin = standin

    def _caller_key(self) -> str:
        credentials = self.client._request_signer._credentials  # who signs: the session's identity
        return credentials.get_frozen_credentials().access_key if credentials else ""

    def _assert_expected_params(self, model: Any, params: dict[str, Any], context: Any, **kwargs: Any) -> None:
        if self.standin.throttle > 0:
            return  # answered over HTTP (before-send), where botocore's retries see it
        status, body = self.standin.answer(model.name, params, self._caller_key())
        method = xform_name(model.name)
        if "Error" in body:
            self.add_client_error(method, body["Error"]["Code"], body["Error"]["Message"], status)
        else:
            self.add_response(method, body)
        super()._assert_expected_params(model, params, context, **kwargs)

    def _get_response_handler(self, model: Any, params: dict[str, Any], context: Any, **kwargs: Any) -> Any:
        if not self._queue:
            return None  # the throttled path: the request goes on to the HTTP layer
        return super()._get_response_handler(model, params, context, **kwargs)


class _Body:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


def _http_layer(standin: SsmStandIn, client: Any) -> Callable[..., AWSResponse | None]:
    """Throttles the next `throttle` requests with HTTP 400 ThrottlingException, then answers over HTTP."""

    def before_send(request: Any, **_: Any) -> AWSResponse:
        operation = request.headers["X-Amz-Target"].decode().split(".")[-1]
        if standin.throttle > 0:
            standin.throttle -= 1
            standin.calls.append(f"{operation} throttled")
            status, body = 400, {"__type": "ThrottlingException", "message": "Rate exceeded"}
        else:
            params = json.loads(request.body or b"{}")
            status, body = standin.answer(operation, params, "")
            if "Error" in body:
                body = {"__type": body["Error"]["Code"], "message": body["Error"]["Message"]}
        headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": "standin"}
        return AWSResponse(request.url, status, headers, _Body(json.dumps(body, default=str).encode()))

    return before_send


def attach(client: Any, standin: SsmStandIn) -> Any:
    """`client` (a real boto3 SSM or STS client) answered by `standin`."""
    ScriptedStubber(client, standin).activate()
    if client.meta.service_model.service_name == "ssm":
        client.meta.events.register_first("before-send.ssm.*", _http_layer(standin, client))
    return client


def ssm_client(standin: SsmStandIn, region: str = "us-east-1") -> Any:
    return attach(boto3.client("ssm", region_name=region, aws_access_key_id="a", aws_secret_access_key="s"), standin)


@dataclass
class Session:
    """A boto3 session the code under test built: its profile and region as it made its clients."""

    profile: str | None
    region: str | None
    service: str
    access_key: str


@contextmanager
def installed(standin: SsmStandIn) -> Iterator[list[Session]]:
    """Every SSM and STS client any boto3 session makes is answered by `standin`; yields the sessions seen."""
    original = boto3.session.Session.client
    seen: list[Session] = []

    def client(self: boto3.session.Session, service_name: str, *args: Any, **kwargs: Any) -> Any:
        made = original(self, service_name, *args, **kwargs)
        credentials = self.get_credentials()
        key = credentials.get_frozen_credentials().access_key if credentials else ""
        seen.append(Session(self.profile_name, made.meta.region_name, service_name, key))
        return attach(made, standin) if service_name in ("ssm", "sts") else made

    boto3.session.Session.client = client  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        boto3.session.Session.client = original  # type: ignore[method-assign]


def scenario(standin: SsmStandIn, poll: float = 0.05) -> str:
    """`standin`'s setup as JSON, for a provider server started with `STANDIN_ENV` set to it; `poll` paces
    the transport's waits there."""
    keys = ("outputs", "pages", "unregistered", "not_yet", "in_progress", "throttle")
    return json.dumps({**{key: getattr(standin, key) for key in keys}, "poll": poll})


def _serve() -> None:
    """`pulumi.dynamic`'s provider server with the stand-in from `STANDIN_ENV` installed; what the stand-in
    saw is written to the file named by `STANDIN_ENV_LOG` after each request that sent a command."""
    raw = json.loads(os.environ[STANDIN_ENV])
    from components.rollout import ssm

    # The waits' pacing only, so a test does not sit out AWS's (the budgets and their messages stay).
    ssm.POLL_SECONDS = ssm.REGISTRATION_POLL_SECONDS = float(raw.pop("poll", ssm.POLL_SECONDS))
    raw["outputs"] = {k: tuple(v) for k, v in raw["outputs"].items()}
    raw["pages"] = {k: tuple(v) for k, v in raw["pages"].items()}
    standin = SsmStandIn(**raw)
    log = os.environ.get(f"{STANDIN_ENV}_LOG")

    def record(_instance: str, _script: str) -> None:
        if log:
            with open(log, "w") as f:
                json.dump({"sent": standin.sent, "calls": standin.calls}, f)

    standin.on_send = record
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "standin")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "standin")
    with installed(standin):
        sys.argv = ["pulumi.dynamic"]
        import runpy

        runpy.run_module("pulumi.dynamic", run_name="__main__")


if __name__ == "__main__":
    _serve()
