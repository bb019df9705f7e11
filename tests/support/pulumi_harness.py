"""Evaluates the real `__main__.py` under Pulumi's mocks and records what it registers.

Each registration keeps its resolved inputs, its parent URN, its options and the property paths that
were sent as secrets, so tests can assert on the resource graph exactly as the engine would see it.
"""

from __future__ import annotations

import json
import runpy
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings

ROOT = Path(__file__).resolve().parents[2]
MAIN = ROOT / "__main__.py"
PROJECT = "aegis-storage"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
SIG_KEY = "4dabf18193072939515e22adb298388d"


@dataclass
class Registration:
    type: str
    name: str
    urn: str
    parent: str
    inputs: dict[str, Any]
    secret_paths: set[str]
    protect: bool
    retain_on_delete: bool
    custom: bool
    dependencies: list[str]
    delete_before_replace: bool = False

    def secret(self, prop: str) -> bool:
        """True when `prop` itself, or any value inside it, was sent to the engine as a secret."""
        return any(
            path == prop or path.startswith(prop + ".") or path.startswith(prop + "[") for path in self.secret_paths
        )


@dataclass
class ProgramRun:
    registrations: list[Registration]
    outputs: dict[str, Any]
    secret_outputs: set[str]
    invokes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_]

    def named(self, name: str) -> Registration:
        matches = [r for r in self.registrations if r.name == name]
        assert len(matches) == 1, f"{len(matches)} resources named {name}"
        return matches[0]


def _plain(value: Any) -> Any:
    """The value with secret wrappers removed (which paths were secret is kept separately)."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return _plain(value.get("value"))
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _secret_paths(value: Any, path: str = "") -> set[str]:
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return {path}
        found: set[str] = set()
        for key, item in value.items():
            found |= _secret_paths(item, f"{path}.{key}" if path else key)
        return found
    if isinstance(value, list):
        found = set()
        for i, item in enumerate(value):
            found |= _secret_paths(item, f"{path}[{i}]")
        return found
    return set()


class RecordingMocks(pulumi.runtime.Mocks):
    """Echoes inputs as outputs, plus the computed outputs the program reads from real providers."""

    def __init__(self, call_results: Mapping[str, dict[str, Any]]) -> None:
        self.call_results = call_results
        self.invokes: list[tuple[str, dict[str, Any]]] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        outputs = dict(args.inputs)
        if args.typ == "random:index/randomPassword:RandomPassword":
            outputs["result"] = f"generated-{args.name}"
        elif args.typ == "docker:index/remoteImage:RemoteImage":
            outputs["imageId"] = f"sha256:mock-{args.inputs['name']}"
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        self.invokes.append((args.token, dict(args.args)))
        return dict(self.call_results.get(args.token, {}))


class RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            raw = json_format.MessageToDict(request.object)
            self.registrations.append(
                Registration(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    parent=request.parent,
                    inputs=_plain(raw),
                    secret_paths=_secret_paths(raw),
                    protect=request.protect,
                    retain_on_delete=request.retainOnDelete,
                    custom=request.custom,
                    dependencies=list(request.dependencies),
                    delete_before_replace=request.deleteBeforeReplace,
                )
            )
        return response


def run_program(
    stack: str,
    config: Mapping[str, Any],
    *,
    secret_keys: tuple[str, ...] = (),
    extra_config: Mapping[str, str] | None = None,
    call_results: Mapping[str, dict[str, Any]] | None = None,
    preview: bool = False,
) -> ProgramRun:
    """Run `__main__.py` for `stack` with project config `config` (keys without the namespace)."""
    mocks = RecordingMocks(call_results or {})
    monitor = RecordingMonitor(mocks)
    # A fresh root stack per run, so outputs and registrations never leak between tests.
    settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=preview, monitor=monitor)
    values = {f"{PROJECT}:{k}": v if isinstance(v, str) else _json(v) for k, v in config.items()}
    values.update(extra_config or {})
    pulumi.runtime.set_all_config(values, [f"{PROJECT}:{k}" for k in secret_keys])

    resolved: dict[str, Any] = {}
    secret_outputs: set[str] = set()

    @pulumi.runtime.test
    def evaluate() -> Any:
        sys.path.insert(0, str(ROOT))
        runpy.run_path(str(MAIN), run_name="__main__")
        stack_outputs = settings.get_root_resource().outputs

        async def collect() -> None:
            for key, value in stack_outputs.items():
                out = pulumi.Output.from_input(value)
                resolved[key] = await out.future()
                if await out.is_secret():
                    secret_outputs.add(key)

        return pulumi.Output.from_input(collect())

    evaluate()
    return ProgramRun(monitor.registrations, resolved, secret_outputs, mocks.invokes)


def _json(value: Any) -> str:
    return json.dumps(value)
