"""The real ``python -m pulumi.dynamic`` provider server in a subprocess, driven over gRPC.

The tests and the benchmarks both use it (benchmarks/__init__.py puts tests/ on sys.path),
so it does not import pytest.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

import grpc
from google.protobuf import struct_pb2
from google.protobuf.json_format import MessageToDict
from pulumi.runtime.proto import provider_pb2_grpc

# The engine raises gRPC's message limits for providers; a 10,000-ID resource needs that too.
GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", 400 * 1024 * 1024),
    ("grpc.max_send_message_length", 400 * 1024 * 1024),
]
# How the engine marks a secret value it sends to a provider (pulumi's rpc.py constants).
SECRET_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"


class ProviderProcess:
    """``python -m pulumi.dynamic`` in a subprocess, its stdout collected line by line.

    No ``CLOUDFLARE_*`` variable of this process reaches it. ``port_seconds`` is the time
    from spawning the process to reading the port it prints first.
    """

    def __init__(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDFLARE_")}
        start = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, "-u", "-m", "pulumi.dynamic", "127.0.0.1:1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        self.port_seconds = time.perf_counter() - start
        if not line.isdigit():
            self.process.kill()
            raise RuntimeError(f"the provider process printed {line!r}, not its port")
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.channel = grpc.insecure_channel(f"127.0.0.1:{line}", options=GRPC_OPTIONS)
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def stop(self) -> str:
        """Stop the process; what it wrote to stderr."""
        self.channel.close()
        self.process.terminate()
        self.process.wait(timeout=10)
        self._reader.join(timeout=5)
        assert self.process.stderr is not None
        return self.process.stderr.read()


def struct(values: Mapping[str, object]) -> struct_pb2.Struct:
    """A protobuf ``Struct`` holding ``values``."""
    message = struct_pb2.Struct()
    message.update(values)
    return message


def plain(message: struct_pb2.Struct) -> dict[str, Any]:
    """A protobuf ``Struct`` as a dict."""
    converted: dict[str, Any] = MessageToDict(message)
    return converted


def wrapped_secret(value: str) -> dict[str, str]:
    """A secret config value as the engine sends it to a provider."""
    return {SECRET_KEY: SECRET_SIG, "value": value}
