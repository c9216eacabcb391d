"""What a DeviceRevocation stores in state: the pickled provider, and the stack file's size.

1. ``serialize_provider(DeviceRevocationProvider())``: its base64 length, what it holds,
   and whether it is byte-identical when made in two separate processes (if it were not,
   every ``pulumi up`` would see a change in ``__provider``).
2. The backend's stack file after ``pulumi up`` with the real CLI against the emulator,
   for 0 (baseline), 1, 10 and 100 resources of a few IDs each, and for one resource of
   10,000 IDs: total bytes, bytes per resource over the baseline, bytes per ID, how much
   of a resource is its inputs and outputs (the rest is the engine's metadata: URNs,
   timestamps, source positions), and how much is ``__provider``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    ACCOUNT,
    TOKEN,
    BenchmarkError,
    emulator_nodelay,
    header,
    main_guard,
    program_with,
    pulumi_version,
    seconds,
    table,
)
from cloudflare_device_revocation.emulator import Emulator
from pulumi_cli import Project, locate_cli

SERIALIZE = (
    "from pulumi.dynamic.dynamic import serialize_provider\n"
    "from cloudflare_device_revocation import DeviceRevocationProvider\n"
    "print(serialize_provider(DeviceRevocationProvider()))\n"
)


def serialized_in_subprocess() -> str:
    done = subprocess.run(
        [sys.executable, "-c", SERIALIZE], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise BenchmarkError(f"serializing the provider failed:\n{done.stderr}")
    return done.stdout.strip()


def provider_figures() -> tuple[list[list[object]], int]:
    first, second = serialized_in_subprocess(), serialized_in_subprocess()
    raw = base64.b64decode(first)
    rows: list[list[object]] = [
        ["base64 length (what state stores)", f"{len(first):,} characters"],
        ["pickle bytes", f"{len(raw):,}"],
        ["sha256, process 1", hashlib.sha256(first.encode()).hexdigest()[:16]],
        ["sha256, process 2", hashlib.sha256(second.encode()).hexdigest()[:16]],
        ["identical across processes", "yes" if first == second else "NO"],
        [
            "pickled by reference to the class",
            "yes" if b"cloudflare_device_revocation.provider" in raw else "no",
        ],
    ]
    return rows, len(first)


def provider_strings(node: Any) -> int:
    """How many ``__provider`` strings a JSON tree holds (not propertyDependencies keys)."""
    if isinstance(node, dict):
        here = isinstance(node.get("__provider"), str)
        return int(here) + sum(provider_strings(v) for v in node.values())
    if isinstance(node, list):
        return sum(provider_strings(v) for v in node)
    return 0


def one_stack(
    cli_bin: str, emulator: Emulator, count: int, per: int, seeded: Sequence[str]
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-state-") as tmp:
        project = Project.create(
            Path(tmp), cli_bin, program=program_with(count, per, seeded), name="bench"
        )
        project.env.update(CLOUDFLARE_API_TOKEN=TOKEN, CLOUDFLARE_BASE_URL=emulator.base_url)
        emulator.state.set_revoked(ACCOUNT, seeded, False)
        start = time.perf_counter()
        project.run("up", "--yes", "--skip-preview", timeout=600)
        up_seconds = time.perf_counter() - start
        unrevoked = set(seeded[: count * per]) - emulator.state.revoked_ids(ACCOUNT)
        if unrevoked:
            raise BenchmarkError(f"{count} resources: {len(unrevoked)} IDs left unrevoked")
        path = project.stack_file()
        text = path.read_text()
        state = json.loads(text)
        resources = state["checkpoint"]["latest"]["resources"]
        ours = [r for r in resources if "DeviceRevocation" in r["type"]]
        if len(ours) != count:
            raise BenchmarkError(f"expected {count} DeviceRevocations in state, got {len(ours)}")
        properties = sum(
            len(json.dumps(r.get(k, {}), separators=(",", ":")))
            for r in ours
            for k in ("inputs", "outputs")
        )
        return {
            "bytes": path.stat().st_size,
            "properties": properties,
            "providers": provider_strings(state),
            "up_seconds": up_seconds,
        }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--counts", default="0,1,10,100", help="resources per stack")
    parser.add_argument("--ids", type=int, default=3, help="IDs per resource")
    parser.add_argument("--big", type=int, default=10_000, help="IDs of the one big resource")
    args = parser.parse_args(argv)
    return main_guard(lambda: run(args))


def run(args: argparse.Namespace) -> None:
    cli_bin = locate_cli()
    emulator_nodelay(True)
    counts = [int(c) for c in args.counts.split(",")]
    per: int = args.ids
    header(
        "state size: the pickled provider and the stack file",
        [
            f"Pulumi CLI {pulumi_version(cli_bin)}, file backend; `pulumi up --yes "
            "--skip-preview` against the emulator (no latency)",
        ],
    )
    provider_rows, provider_length = provider_figures()
    print("serialize_provider(DeviceRevocationProvider()):")
    print(table(["", "value"], provider_rows))
    print()
    with Emulator(tokens={TOKEN: "write"}) as emulator:
        seeded = emulator.state.seed(ACCOUNT, max(max(counts) * per, args.big))
        cases = [(count, per) for count in counts] + [(1, args.big)]
        found = {}
        for count, ids in cases:
            print(f"  pulumi up: {count} resources x {ids} IDs", file=sys.stderr, flush=True)
            found[(count, ids)] = one_stack(cli_bin, emulator, count, ids, seeded)
    baseline = found.get((0, per), {}).get("bytes")
    small = found.get((1, per), {}).get("bytes")
    rows = []
    for (count, ids), figures in found.items():
        size = figures["bytes"]
        over = "" if baseline is None or count == 0 else f"{(size - baseline) / count:,.0f}"
        per_id = ""
        if ids == args.big and small is not None:
            per_id = f"{(size - small) / (ids - per):,.1f}"
        share = figures["providers"] * provider_length
        rows.append(
            [
                count,
                f"{ids:,}",
                f"{size:,}",
                over,
                per_id,
                "" if count == 0 else f"{figures['properties'] / count:,.0f}",
                f"{figures['providers']} ({share / size:.0%})",
                seconds(figures["up_seconds"]),
            ]
        )
    print(
        table(
            [
                "resources",
                "IDs each",
                "stack file bytes",
                "bytes per resource over 0",
                "bytes per extra ID",
                "inputs + outputs bytes per resource",
                "__provider copies (share)",
                "pulumi up s",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
