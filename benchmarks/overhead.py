"""What the package adds before any request: provider start, import time, `pulumi preview`.

1. The dynamic provider process (``python -m pulumi.dynamic``, as the engine starts it):
   time to its port line, then to the answer of Configure, of the first Check (which
   unpickles the provider, importing this package) and of a second Check.
2. Import time: a timed ``python -c "import ..."`` subprocess for the package and for
   what it stands on, median and min of several runs, plus ``-X importtime``'s largest
   cumulative entries for the package.
3. ``pulumi preview`` with the real CLI for an empty program (``import pulumi`` only) and
   for 1 and 50 DeviceRevocations: on a new stack (all creates) and after ``pulumi up``
   (no change), median and min of several runs each.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.harness import (
    ACCOUNT,
    TOKEN,
    BenchmarkError,
    emulator_nodelay,
    header,
    main_guard,
    median_min,
    program_with,
    pulumi_version,
    seconds,
    table,
)
from cloudflare_device_revocation.emulator import Emulator
from provider_server import ProviderProcess, struct, wrapped_secret
from pulumi_cli import Project, locate_cli

URN = "urn:pulumi:dev::bench::pulumi-python:dynamic/cloudflare:DeviceRevocation::one"
IMPORTS = [
    ("(nothing: interpreter start)", "pass"),
    ("pulumi", "import pulumi"),
    ("pulumi.dynamic", "import pulumi.dynamic"),
    ("requests", "import requests"),
    ("cloudflare_device_revocation", "import cloudflare_device_revocation"),
]


def provider_start(repeat: int) -> list[list[object]]:
    from pulumi.dynamic.dynamic import serialize_provider
    from pulumi.runtime.proto import provider_pb2

    from cloudflare_device_revocation import DeviceRevocationProvider

    serialized = serialize_provider(DeviceRevocationProvider())
    news = struct(
        {
            "__provider": serialized,
            "account_id": ACCOUNT,
            "registration_ids": ["f174e90a-fafe-4643-bbbc-4a0ed4fc8415"],
        }
    )
    marks: dict[str, list[float]] = {
        "port line printed": [],
        "Configure answered": [],
        "first Check answered": [],
        "second Check answered": [],
    }
    for _ in range(repeat):
        start = time.perf_counter()
        server = ProviderProcess()
        try:
            marks["port line printed"].append(server.port_seconds)
            config = {
                "cloudflare:apiToken": wrapped_secret(TOKEN),
                "cloudflare:baseUrl": "http://127.0.0.1:1/client/v4",
            }
            server.stub.Configure(provider_pb2.ConfigureRequest(args=struct(config)))
            marks["Configure answered"].append(time.perf_counter() - start)
            for label in ("first Check answered", "second Check answered"):
                checked = server.stub.Check(
                    provider_pb2.CheckRequest(urn=URN, olds=struct({}), news=news)
                )
                if list(checked.failures):
                    raise BenchmarkError(f"Check failed: {list(checked.failures)}")
                marks[label].append(time.perf_counter() - start)
        finally:
            server.stop()
    return [[label, seconds(statistics.median(v)), seconds(min(v))] for label, v in marks.items()]


def import_times(repeat: int) -> list[list[object]]:
    rows: list[list[object]] = []
    baseline = None
    for label, code in IMPORTS:
        runs = []
        for _ in range(repeat):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            runs.append(time.perf_counter() - start)
        median, least = median_min(runs)
        if baseline is None:
            baseline = median
        rows.append([label, seconds(median), seconds(least), seconds(median - baseline)])
    return rows


def importtime_top(module: str, top: int) -> list[list[object]]:
    """``-X importtime``: the largest cumulative entries, and the package's own total."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
    )
    entries = []
    own = 0
    for line in done.stderr.splitlines():
        found = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if found is None:
            continue
        self_us, cumulative_us = int(found[1]), int(found[2])
        name = found[4]
        entries.append((cumulative_us, len(found[3]), name))
        if name.startswith(module):
            own += self_us
    shallow = sorted((e for e in entries if e[1] <= 3), reverse=True)[:top]
    rows: list[list[object]] = [[name, f"{us / 1e6:.3f}"] for us, _depth, name in shallow]
    rows.append([f"{module}.* own code (self time, all modules)", f"{own / 1e6:.3f}"])
    return rows


def previews(repeat: int, counts: Sequence[int]) -> list[list[object]]:
    cli_bin = locate_cli()
    rows: list[list[object]] = []
    with Emulator(tokens={TOKEN: "write"}) as emulator:
        seeded = emulator.state.seed(ACCOUNT, max(*counts, 1) * 3)
        for count in [0, *counts]:
            program = "import pulumi\n" if count == 0 else program_with(count, 3, seeded)
            with tempfile.TemporaryDirectory(prefix="bench-preview-") as tmp:
                project = Project.create(Path(tmp), cli_bin, program=program, name="bench")
                project.env.update(
                    CLOUDFLARE_API_TOKEN=TOKEN, CLOUDFLARE_BASE_URL=emulator.base_url
                )
                label = "empty program" if count == 0 else f"{count} DeviceRevocation(s)"
                for phase in ("new stack (creates)", "after up (no change)"):
                    if phase.startswith("after"):
                        project.run("up", "--yes", "--skip-preview", timeout=600)
                    print(f"  preview: {label}, {phase}", file=sys.stderr, flush=True)
                    runs = []
                    for _ in range(repeat):
                        start = time.perf_counter()
                        project.run("preview")
                        runs.append(time.perf_counter() - start)
                    median, least = median_min(runs)
                    rows.append([label, phase, seconds(median), seconds(least)])
    base = {row[1]: float(str(row[2])) for row in rows if row[0] == "empty program"}
    for row in rows:
        row.append(seconds(float(str(row[2])) - base[str(row[1])]))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=7, help="runs of each short measurement")
    parser.add_argument("--preview-repeat", type=int, default=5, help="runs of each preview")
    parser.add_argument("--counts", default="1,50", help="resources per previewed program")
    parser.add_argument("--no-preview", action="store_true")
    args = parser.parse_args(argv)
    return main_guard(lambda: run(args))


def run(args: argparse.Namespace) -> None:
    emulator_nodelay(True)
    extra = [f"{args.repeat} runs per figure, {args.preview_repeat} per preview; seconds"]
    if not args.no_preview:
        extra.insert(0, f"Pulumi CLI {pulumi_version(locate_cli())}, file backend")
    header("overhead: provider start, import time, pulumi preview", extra)
    print("The provider process, from spawn (cumulative):")
    print(table(["reached", "median s", "min s"], provider_start(args.repeat)))
    print()
    print("Import time, `python -c CODE` wall time:")
    print(
        table(
            ["import", "median s", "min s", "over interpreter start s"],
            import_times(args.repeat),
        )
    )
    print()
    print("`python -X importtime -c 'import cloudflare_device_revocation'`, largest entries:")
    print(table(["module", "cumulative s"], importtime_top("cloudflare_device_revocation", 8)))
    if args.no_preview:
        return
    print()
    print("`pulumi preview` wall time:")
    counts = [int(c) for c in args.counts.split(",")]
    print(
        table(
            ["program", "stack", "median s", "min s", "over empty program s"],
            previews(args.preview_repeat, counts),
        )
    )


if __name__ == "__main__":
    sys.exit(main())
