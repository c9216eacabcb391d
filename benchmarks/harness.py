"""What the benchmark scripts share: the machine's description, tables, the Pulumi CLI project.

Nothing here asserts on a timing: a script fails only when something did not work (an ID
left unrevoked, a CLI run that exited non-zero, a request count that is not what it must be).
"""

from __future__ import annotations

import os
import platform
import shlex
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
ACCOUNT = "699d98642c564d2e855e9661899b7252"
TOKEN = "benchmark-token"
PASSPHRASE = "benchmark-passphrase"


class BenchmarkError(Exception):
    """Something did not work; the script reports it and exits non-zero."""


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def command_line() -> str:
    """The command that is running, as it could be typed again from the repository root."""
    exe = Path(sys.executable)
    try:
        shown = str(exe.relative_to(Path.cwd()))
    except ValueError:
        shown = str(exe)
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    script = ["-m", spec.name] if spec is not None else [sys.argv[0]]
    return shlex.join([shown, *script, *sys.argv[1:]])


def revision() -> str:
    """The commit measured, and whether provider/ differs from it."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "provider")
    return commit + (" with uncommitted changes in provider/" if dirty else "")


def header(title: str, extra: Sequence[str] = ()) -> None:
    """Print what ran, where, and on what, before the figures."""
    print(f"# {title}")
    print(f"command: {command_line()}")
    print(f"revision: {revision()}")
    print(
        f"machine: {os.cpu_count()} CPU(s), {cpu_model()}; "
        f"Python {platform.python_version()} ({platform.python_implementation()}); "
        f"{platform.system()} {platform.release()}"
    )
    for line in extra:
        print(line)
    print()


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table, padded so that it also reads well in a terminal."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|"
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def seconds(value: float) -> str:
    """A duration with a precision that suits its size."""
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def median_min(values: Sequence[float]) -> tuple[float, float]:
    return statistics.median(values), min(values)


def emulator_nodelay(enabled: bool) -> None:
    """Whether the emulator's answers go out with TCP_NODELAY (new connections only).

    The emulator's handler writes the headers and the body of an answer separately; it
    sets TCP_NODELAY since the benchmarks found that, with Nagle's algorithm on, the body
    waited for the client's delayed ACK: about 40 ms per request on Linux. Turning it off
    again here measures that difference.
    """
    from cloudflare_device_revocation.emulator import server

    server._RequestHandler.disable_nagle_algorithm = enabled


def emulator_round_trip(requests: int = 50) -> dict[str, float]:
    """Milliseconds per revoke request at zero latency, with Nagle's algorithm and without."""
    from cloudflare_device_revocation import CloudflareClient, Settings
    from cloudflare_device_revocation.emulator import Emulator
    from cloudflare_device_revocation.settings import ApiToken

    found: dict[str, float] = {}
    for label, nodelay in (("Nagle on", False), ("TCP_NODELAY", True)):
        emulator_nodelay(nodelay)
        with (
            Emulator(tokens={TOKEN: "write"}) as emulator,
            CloudflareClient(Settings(ApiToken(TOKEN), emulator.base_url)) as client,
        ):
            ids = emulator.state.seed(ACCOUNT, requests)
            client.revoke_batch(ACCOUNT, ids[:1])
            start = time.perf_counter()
            for registration_id in ids:
                client.revoke_batch(ACCOUNT, [registration_id])
            found[label] = (time.perf_counter() - start) / requests * 1000
    return found


def pulumi_cli_bin() -> str:
    """The bin directory of a Pulumi CLI: ``PULUMI_CLI_BIN``, else ``scripts/pulumi-cli``."""
    from_env = os.environ.get("PULUMI_CLI_BIN")
    if from_env and (Path(from_env) / "pulumi").exists():
        return from_env
    found = subprocess.run(
        [str(REPO / "scripts" / "pulumi-cli")], capture_output=True, text=True, check=False
    )
    if found.returncode != 0 or not found.stdout.strip():
        raise BenchmarkError(
            f"no Pulumi CLI: scripts/pulumi-cli exited {found.returncode}: {found.stderr.strip()}"
        )
    return found.stdout.strip()


def pulumi_version(cli_bin: str) -> str:
    done = subprocess.run(
        [str(Path(cli_bin) / "pulumi"), "version"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or "unknown"


@dataclass
class CliProject:
    """A Pulumi project in ``root`` with its own file backend and PULUMI_HOME under ``tmp``.

    The project's ``.venv`` is this interpreter's environment, and ``python3`` on PATH is
    this interpreter, as after ``source .venv/bin/activate``.
    """

    root: Path
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(
        cls, tmp: Path, cli_bin: str, program: str, *, name: str = "bench", stack: str = "dev"
    ) -> CliProject:
        root = tmp / "project"
        root.mkdir(parents=True)
        (root / "Pulumi.yaml").write_text(
            f"name: {name}\nruntime:\n  name: python\n  options:\n"
            "    toolchain: pip\n    virtualenv: .venv\n"
        )
        (root / "__main__.py").write_text(program)
        (root / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
        for sub in ("state", "home"):
            (tmp / sub).mkdir()
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("CLOUDFLARE_", "PULUMI_")) and k != "VIRTUAL_ENV"
        }
        env.update(
            PATH=os.pathsep.join([cli_bin, str(Path(sys.prefix) / "bin"), env.get("PATH", "")]),
            PULUMI_HOME=str(tmp / "home"),
            PULUMI_BACKEND_URL=f"file://{tmp / 'state'}",
            PULUMI_CONFIG_PASSPHRASE=PASSPHRASE,
            PULUMI_SKIP_UPDATE_CHECK="1",
            PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
        )
        project = cls(root=root, env=env)
        project.run("stack", "init", stack)
        return project

    @property
    def backend(self) -> Path:
        return self.root.parent / "state"

    def stack_file(self) -> Path:
        """The backend's checkpoint file for the (only) stack."""
        files = [
            p
            for p in (self.backend / ".pulumi" / "stacks").rglob("*.json")
            if not p.name.endswith(".bak")
        ]
        if len(files) != 1:
            raise BenchmarkError(f"expected one stack file, found {[str(p) for p in files]}")
        return files[0]

    def run(self, *args: str, timeout: float = 600) -> str:
        """``pulumi ARGS --non-interactive``; its output, or BenchmarkError on a failure."""
        argv = ["pulumi", *args, "--non-interactive"]
        done = subprocess.run(
            argv,
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise BenchmarkError(
                f"{shlex.join(argv)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
            )
        return done.stdout + done.stderr


def program_with(count: int, ids_per_resource: int, seeded: Sequence[str]) -> str:
    """A ``__main__.py`` declaring ``count`` DeviceRevocations over ``seeded`` IDs."""
    return (
        '"""Benchmark program: DeviceRevocation resources over seeded IDs."""\n'
        "from cloudflare_device_revocation import DeviceRevocation\n\n"
        f"IDS = {list(seeded)!r}\n"
        f"PER = {ids_per_resource}\n"
        f"for n in range({count}):\n"
        f"    DeviceRevocation(f'r{{n}}', account_id={ACCOUNT!r},"
        " registration_ids=IDS[n * PER : (n + 1) * PER])\n"
    )


def main_guard(run: Callable[[], None]) -> int:
    """Run ``run()``; print a BenchmarkError and return 1, as the scripts' exit code."""
    try:
        run()
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


# The engine raises gRPC's message limit for providers; a 10,000-ID resource needs it too.
GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", 400 * 1024 * 1024),
    ("grpc.max_send_message_length", 400 * 1024 * 1024),
]


class ProviderProcess:
    """``python -m pulumi.dynamic`` in a subprocess, driven over gRPC as the engine drives it.

    ``port_seconds`` is the time from spawning the process to reading its port line.
    """

    def __init__(self) -> None:
        import grpc
        from pulumi.runtime.proto import provider_pb2_grpc

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
            raise BenchmarkError(f"the provider process printed {line!r}, not its port")
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.channel = grpc.insecure_channel(f"127.0.0.1:{line}", options=GRPC_OPTIONS)
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def stop(self) -> None:
        self.channel.close()
        self.process.terminate()
        self.process.wait(timeout=10)
        self._reader.join(timeout=5)


def struct(values: Mapping[str, object]) -> Any:
    """A protobuf ``Struct`` holding ``values``."""
    from google.protobuf import struct_pb2

    message = struct_pb2.Struct()
    message.update(values)
    return message


def wrapped_secret(value: str) -> dict[str, str]:
    """A secret config value as the engine sends it to a provider."""
    return {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": value}
