"""What crosses from the Pulumi engine into a provider, built with the SDK's own serializer.

The engine hands a provider its properties as a protobuf `Struct`: every number is a double, `None`
is dropped. `engine_delivers` gives a property map the shape a provider's `create`/`update` sees.
`DynamicProviderServer` runs `pulumi.dynamic`'s provider server in its own interpreter from the project
directory, as the engine starts it (`python -u -m pulumi.dynamic`, the port on stdout), and talks gRPC to it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import struct_pb2
from pulumi.runtime import proto, rpc
from pulumi.runtime.proto import provider_pb2_grpc

from tests.support.processes import stop_process

ROOT = Path(__file__).resolve().parents[2]
PROVIDER_KEY = "__provider"  # where pulumi.dynamic keeps the dill-pickled provider, base64


def to_struct(props: Mapping[str, Any]) -> struct_pb2.Struct:
    """`props` serialized by the SDK, then sent through bytes as the engine forwards them."""
    # A loop of its own, as the provider server does: asyncio.run would unset the loop Pulumi's mocks use.
    loop = asyncio.new_event_loop()
    try:
        struct = loop.run_until_complete(rpc.serialize_properties(dict(props), {}))
    finally:
        loop.close()
    return struct_pb2.Struct.FromString(struct.SerializeToString())


def engine_delivers(props: Mapping[str, Any]) -> dict[str, Any]:
    return rpc.deserialize_properties(to_struct(props))


class DynamicProviderServer:
    """`python -u -m pulumi.dynamic` in a fresh interpreter (cwd = project root), stopped by PID on exit.
    `module` runs instead when given (e.g. one that installs a stand-in first), with `env` added."""

    def __init__(self, timeout: float = 60.0, module: str = "pulumi.dynamic", env: Mapping[str, str] = {}) -> None:
        self.timeout = timeout
        self.module = module
        self.env = dict(env)

    def __enter__(self) -> DynamicProviderServer:
        self.stderr = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, "-u", "-m", self.module],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            env={**os.environ, "PULUMI_PROJECT": "aegis-storage", **self.env},
            start_new_session=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.strip().isdigit():
            self.stderr.seek(0)
            error = self.stderr.read().decode(errors="replace")
            self.__exit__()
            raise RuntimeError(f"the provider server did not start: {error}")
        port = int(line)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)
        # The engine configures a provider before any other call.
        self.stub.Configure(proto.ConfigureRequest(args=struct_pb2.Struct(), acceptSecrets=True), timeout=30)
        return self

    def __exit__(self, *_: object) -> None:
        if hasattr(self, "channel"):
            self.channel.close()
        stop_process(self.process, signal.SIGTERM, timeout=10)
        self.stderr.close()

    def check(self, urn: str, olds: struct_pb2.Struct, news: struct_pb2.Struct) -> struct_pb2.Struct:
        return self.stub.Check(proto.CheckRequest(urn=urn, olds=olds, news=news), timeout=self.timeout).inputs

    def diff(self, urn: str, id_: str, olds: struct_pb2.Struct, news: struct_pb2.Struct) -> Any:
        # The engine also sends the last inputs; these tests never change them between calls.
        request = proto.DiffRequest(urn=urn, id=id_, olds=olds, news=news, old_inputs=news)
        return self.stub.Diff(request, timeout=self.timeout)

    def create(self, urn: str, properties: struct_pb2.Struct) -> Any:
        return self.stub.Create(proto.CreateRequest(urn=urn, properties=properties), timeout=self.timeout)

    def update(self, urn: str, id_: str, olds: struct_pb2.Struct, news: struct_pb2.Struct) -> Any:
        request = proto.UpdateRequest(urn=urn, id=id_, olds=olds, news=news, old_inputs=news)
        return self.stub.Update(request, timeout=self.timeout)
