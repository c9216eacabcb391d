"""What the benchmark scripts share: the machine's description, tables, the program they deploy.

The Pulumi CLI project and the provider server over gRPC are the tests' own helpers
(tests/pulumi_cli.py, tests/provider_server.py). Nothing here asserts on a timing: a script
fails only when something did not work (an ID left unrevoked, a CLI run that exited
non-zero, a request count that is not what it must be).
"""

from __future__ import annotations

import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pulumi_cli import REPO, CliNotFoundError, CliRunError

ACCOUNT = "699d98642c564d2e855e9661899b7252"
TOKEN = "benchmark-token"


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


def pulumi_version(cli_bin: str) -> str:
    done = subprocess.run(
        [str(Path(cli_bin) / "pulumi"), "version"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or "unknown"


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


def program_with_sizes(sizes: Sequence[int], seeded: Sequence[str]) -> str:
    """A ``__main__.py`` declaring a DeviceRevocation per size, over consecutive ``seeded`` IDs."""
    return (
        '"""Benchmark program: DeviceRevocation resources of given sizes over seeded IDs."""\n'
        "from cloudflare_device_revocation import DeviceRevocation\n\n"
        f"IDS = {list(seeded[: sum(sizes)])!r}\n"
        f"SIZES = {list(sizes)!r}\n"
        "start = 0\n"
        "for n, size in enumerate(SIZES):\n"
        f"    DeviceRevocation(f'r{{n}}', account_id={ACCOUNT!r},"
        " registration_ids=IDS[start : start + size])\n"
        "    start += size\n"
    )


def main_guard(run: Callable[[], None]) -> int:
    """Run ``run()``; print what did not work and return 1, as the scripts' exit code."""
    try:
        run()
    except (BenchmarkError, CliNotFoundError, CliRunError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
