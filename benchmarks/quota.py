"""Many DeviceRevocations under a rate-limit quota, and 429s, through the real Pulumi CLI.

Every run is a fresh stack and a fresh emulator (``--latency`` per request, 50 ms by
default) holding the declared registrations, and one ``pulumi up --yes --skip-preview``:

1. ``many``: 30 resources of 1 to 300 IDs each (sizes drawn with a fixed seed), with
   ``--parallel 8`` and ``--parallel 1``, under a quota of ``--quota`` requests per
   ``--window`` seconds (then a block of ``--window`` seconds, as Cloudflare blocks for
   as long as its window), with no injected 429 and with ``--share`` of the requests
   answered 429 ``Retry-After: 1`` by an injected fault (which, as Cloudflare's own
   throttling would not, bypasses the quota).
2. ``big``: 4 resources of 3,000 IDs under 40 requests per 15 s: the provider's limiter
   must keep to the quota with no 429 at all.
3. ``block``: another client spends the quota first, so Cloudflare (the emulator) blocks
   every call for ``--block`` seconds; then ``pulumi up`` of one 1,000-ID resource must
   wait the block out, say so, and complete.
4. ``repeat``: 30 resources with ``--share`` of the requests answered 429, no quota,
   ``--repeat`` times (at least 10): does one ``pulumi up`` converge every time?

Reported: failures (resources not created, IDs left unrevoked, the CLI's exit code), the
429s received (the quota's, counted by the emulator, and the injected ones, from its
request log), the requests by kind, the wall time of ``pulumi up``, and the time the quota
allows for the requests it counted: none while they fit in one window, else a window for
each further quota's worth (``floor((counted - 1) / quota) x window``); and the same with
the 10% of the quota the provider leaves to other tools by default
(``cloudflare:rateLimitReserve``). A failed deployment is a figure here, not an error: the
script exits non-zero only when a run could not be made at all.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import requests

from benchmarks.harness import (
    ACCOUNT,
    TOKEN,
    BenchmarkError,
    emulator_nodelay,
    header,
    main_guard,
    program_with_sizes,
    pulumi_version,
    seconds,
    table,
)
from cloudflare_device_revocation.emulator import Emulator, Fault
from cloudflare_device_revocation.ratelimit import DEFAULT_RESERVE
from pulumi_cli import CliRunError, Project, locate_cli

SCENARIOS = ("many", "big", "block", "repeat")
# The error of a 429 Cloudflare sends when throttling (as users report it; the emulator's
# assumption too).
THROTTLED_CODE = 971
THROTTLED_MESSAGE = "Please wait and consider throttling your request speed"
# Enough injected faults to cover every request of a run, retries included.
FAULT_PLAN = 2_000


@dataclass(frozen=True)
class Quota:
    """The emulator's rate limit for a run: ``quota`` requests per ``window`` seconds."""

    quota: int
    window: float
    block: float

    def allows(self, counted: int, reserve: float = 0.0) -> float:
        """Least seconds in which ``counted`` requests fit, ``reserve`` of each window unused."""
        usable = self.quota - math.floor(reserve * self.quota)
        return max(0, math.ceil(counted / usable) - 1) * self.window

    def __str__(self) -> str:
        return f"{self.quota}/{self.window:g} s"


@dataclass
class Outcome:
    """One ``pulumi up``: what it did, what it met, how long it took."""

    label: str
    exit_code: int
    resources: int
    created: int
    unrevoked: int
    revokes: int
    lists: int
    quota_429s: int
    injected_429s: int
    wall: float
    quota: Quota | None
    waits: list[str] = field(default_factory=list)
    block_left: float | None = None
    error: str = ""

    @property
    def failures(self) -> int:
        return self.resources - self.created

    @property
    def counted(self) -> int:
        """Requests served (not answered 429): what the quota had to make room for."""
        return self.revokes + self.lists - self.quota_429s - self.injected_429s

    def row(self) -> list[object]:
        allows = reserve = "-"
        if self.quota is not None:
            allows = seconds(self.quota.allows(self.counted))
            reserve = seconds(self.quota.allows(self.counted, DEFAULT_RESERVE))
        return [
            self.label,
            f"{self.failures}/{self.resources}"
            + ("" if not self.unrevoked else f" ({self.unrevoked} IDs)"),
            self.exit_code,
            self.revokes,
            self.lists,
            self.quota_429s,
            self.injected_429s,
            seconds(self.wall),
            allows,
            reserve,
        ]


HEADERS = [
    "run",
    "failed resources",
    "exit",
    "revoke requests",
    "list requests",
    "429s: quota",
    "429s: injected",
    "pulumi up s",
    "quota allows s",
    "with 10% reserve s",
]


def resource_sizes(count: int, low: int, high: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    return [rng.randint(low, high) for _ in range(count)]


def inject_share(emulator: Emulator, share: float, seed: int) -> None:
    """Answer about ``share`` of the requests 429 ``Retry-After: 1``, chosen at random.

    The emulator's faults are consumed in order, each passing ``skip`` requests first, so
    the fault for the j-th hit (at request h_j, counted from 1) skips h_j - j requests.
    """
    rng = random.Random(seed)
    hits = [n for n in range(1, FAULT_PLAN + 1) if rng.random() < share]
    for j, hit in enumerate(hits, start=1):
        emulator.inject(
            Fault(
                status=429,
                code=THROTTLED_CODE,
                message=THROTTLED_MESSAGE,
                headers={"Retry-After": "1"},
                skip=hit - j,
                times=1,
            )
        )


def deploy(
    cli_bin: str,
    label: str,
    sizes: Sequence[int],
    *,
    parallel: int,
    latency: float,
    quota: Quota | None,
    share: float = 0.0,
    seed: int = 0,
    exhaust_first: bool = False,
    retries: int | None = None,
) -> Outcome:
    """A fresh emulator and stack, one ``pulumi up``, and what the emulator saw."""
    with (
        Emulator(tokens={TOKEN: "write"}) as emulator,
        tempfile.TemporaryDirectory(prefix="bench-quota-") as tmp,
    ):
        emulator.set_latency(latency)
        seeded = emulator.state.seed(ACCOUNT, sum(sizes))
        project = Project.create(
            Path(tmp), cli_bin, program=program_with_sizes(sizes, seeded), name="bench"
        )
        project.env.update(CLOUDFLARE_API_TOKEN=TOKEN, CLOUDFLARE_BASE_URL=emulator.base_url)
        if retries is not None:
            project.env["CLOUDFLARE_RETRIES"] = str(retries)
        if quota is not None:
            emulator.set_rate_limit(quota.quota, window=quota.window, block=quota.block)
        blocked_at = exhaust(emulator, quota) if exhaust_first else None
        if share:
            inject_share(emulator, share, seed)
        before_429s = emulator.rate_limited()
        emulator.requests.clear()
        start = time.perf_counter()
        block_left = (
            None if blocked_at is None or quota is None else quota.block - (start - blocked_at)
        )
        run = project.run(
            "up", "--yes", "--skip-preview", "--parallel", str(parallel), check=False, timeout=900
        )
        wall = time.perf_counter() - start
        log = emulator.requests.all()
        created = count_created(project)
        unrevoked = len(set(seeded) - emulator.state.revoked_ids(ACCOUNT))
        statuses = [r.status for r in log]
        quota_429s = emulator.rate_limited() - before_429s
        return Outcome(
            label=label,
            exit_code=run.returncode,
            resources=len(sizes),
            created=created,
            unrevoked=unrevoked,
            revokes=sum(1 for r in log if r.method == "POST"),
            lists=sum(1 for r in log if r.method == "GET"),
            quota_429s=quota_429s,
            injected_429s=statuses.count(429) - quota_429s,
            wall=wall,
            quota=quota,
            waits=[line for line in diagnostics(run.stdout) if " waiting " in line],
            block_left=block_left,
            error=first_error(run.stdout),
        )


def diagnostics(output: str) -> list[str]:
    """The messages of the summary ``pulumi up`` prints at the end (each message once; the
    progress lines before it show them too, possibly more than once)."""
    lines = output.splitlines()
    if "Diagnostics:" not in lines:
        return []
    found = []
    for line in lines[lines.index("Diagnostics:") + 1 :]:
        if line and not line.startswith(" "):
            break
        if line.startswith("    "):
            found.append(line.strip())
    return found


def first_error(output: str) -> str:
    """The first error the provider reported, without the engine's prefix."""
    for line in diagnostics(output):
        if line.startswith("error: ") and "DeploymentError: " in line:
            return line.split("DeploymentError: ", 1)[1]
    return ""


def exhaust(emulator: Emulator, quota: Quota | None) -> float:
    """Another client spends the whole quota and one more request: the block begins.

    Returns when it began (``time.perf_counter()``).
    """
    if quota is None:
        raise BenchmarkError("exhausting the quota needs a quota")
    url = f"{emulator.base_url}/accounts/{ACCOUNT}/devices/registrations"
    with requests.Session() as other:
        other.headers["Authorization"] = f"Bearer {TOKEN}"
        statuses = [other.get(url, timeout=10).status_code for _ in range(quota.quota + 1)]
    if statuses[-1] != 429:
        raise BenchmarkError(f"spending the quota did not start a block: {statuses[-3:]}")
    return time.perf_counter()


def count_created(project: Project) -> int:
    """DeviceRevocations recorded in the stack (none if it has no checkpoint yet)."""
    try:
        state = json.loads(project.stack_file().read_text())
    except (CliRunError, OSError, ValueError):  # no stack file: nothing was created
        return 0
    resources = (state.get("checkpoint", {}).get("latest") or {}).get("resources") or []
    return sum(1 for r in resources if "DeviceRevocation" in r.get("type", ""))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help=f"comma-separated, of {SCENARIOS}"
    )
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request")
    parser.add_argument("--resources", type=int, default=30, help="resources in 'many'")
    parser.add_argument("--quota", type=int, default=40, help="requests per window in 'many'")
    parser.add_argument("--window", type=float, default=20.0, help="seconds, in 'many'")
    parser.add_argument("--share", type=float, default=0.3, help="share of requests made 429")
    parser.add_argument("--block", type=float, default=20.0, help="block seconds in 'block'")
    parser.add_argument("--repeat", type=int, default=10, help="runs of 'repeat' (>= 10)")
    parser.add_argument(
        "--retries",
        type=int,
        default=None,
        help="cloudflare:retries in 'repeat' (default: the provider's, 4)",
    )
    parser.add_argument("--seed", type=int, default=11, help="for sizes and 429 positions")
    args = parser.parse_args(argv)
    return main_guard(lambda: run(args))


def run(args: argparse.Namespace) -> None:
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        raise BenchmarkError(f"unknown scenarios {sorted(unknown)}; expected some of {SCENARIOS}")
    cli_bin = locate_cli()
    emulator_nodelay(True)
    sizes = resource_sizes(args.resources, 1, 300, args.seed)
    header(
        "quota: many DeviceRevocations under a rate-limit quota, and 429s, through the CLI",
        [
            f"Pulumi CLI {pulumi_version(cli_bin)}, file backend; `pulumi up --yes "
            f"--skip-preview --parallel P`; emulator latency {args.latency * 1000:.0f} ms",
            f"'many' and 'repeat': {len(sizes)} resources, {sum(sizes):,} IDs "
            f"(sizes {min(sizes)} to {max(sizes)}, seed {args.seed})",
        ],
    )
    latency: float = args.latency
    if "many" in scenarios:
        many(cli_bin, sizes, args, latency)
    if "big" in scenarios:
        big(cli_bin, latency)
    if "block" in scenarios:
        block(cli_bin, args, latency)
    if "repeat" in scenarios:
        repeat(cli_bin, sizes, args, latency)


def progress(label: str) -> None:
    print(f"  pulumi up: {label}", file=sys.stderr, flush=True)


def many(cli_bin: str, sizes: list[int], args: argparse.Namespace, latency: float) -> None:
    quota = Quota(args.quota, args.window, args.window)
    outcomes = []
    for share in (0.0, args.share):
        for parallel in (8, 1):
            label = f"--parallel {parallel}, " + (
                f"{share:.0%} injected 429s" if share else "no injected 429"
            )
            progress(label)
            outcomes.append(
                deploy(
                    cli_bin,
                    label,
                    sizes,
                    parallel=parallel,
                    quota=quota,
                    share=share,
                    seed=args.seed,
                    latency=latency,
                )
            )
    print(
        f"## many: {len(sizes)} resources of 1 to 300 IDs, quota {quota} (block {quota.block:g} s)"
    )
    print(table(HEADERS, [o.row() for o in outcomes]))
    print()
    show_waits(outcomes)


def big(cli_bin: str, latency: float) -> None:
    quota = Quota(40, 15.0, 15.0)
    progress("4 x 3,000 IDs")
    outcome = deploy(
        cli_bin,
        "4 x 3,000 IDs, --parallel 8",
        [3_000] * 4,
        parallel=8,
        quota=quota,
        latency=latency,
    )
    print(f"## big: 4 resources of 3,000 IDs, quota {quota}")
    print(table(HEADERS, [outcome.row()]))
    print()
    show_waits([outcome])


def block(cli_bin: str, args: argparse.Namespace, latency: float) -> None:
    quota = Quota(10, 60.0, args.block)
    progress(f"a {args.block:g} s block")
    outcome = deploy(
        cli_bin,
        f"1 x 1,000 IDs after the quota is spent ({args.block:g} s block)",
        [1_000],
        parallel=8,
        quota=quota,
        exhaust_first=True,
        latency=latency,
    )
    left = "" if outcome.block_left is None else f" ({seconds(outcome.block_left)} s left of it)"
    print(
        f"## block: another client spends the quota ({quota}); every call is refused for "
        f"{args.block:g} s; then `pulumi up`{left}"
    )
    print(table(HEADERS, [outcome.row()]))
    print()
    show_waits([outcome], limit=8)


def repeat(cli_bin: str, sizes: list[int], args: argparse.Namespace, latency: float) -> None:
    outcomes = []
    for n in range(args.repeat):
        progress(f"{args.share:.0%} 429s, run {n + 1} of {args.repeat}")
        outcomes.append(
            deploy(
                cli_bin,
                f"run {n + 1}",
                sizes,
                parallel=8,
                quota=None,
                share=args.share,
                seed=args.seed + n,
                latency=latency,
                retries=args.retries,
            )
        )
    failed = [o for o in outcomes if o.exit_code != 0 or o.failures or o.unrevoked]
    retries = "the default 4" if args.retries is None else str(args.retries)
    print(
        f"## repeat: {len(sizes)} resources, {args.share:.0%} of requests answered 429 "
        f"(Retry-After: 1), no quota, --parallel 8, retries {retries}: {len(failed)}/"
        f"{len(outcomes)} runs did not converge in one `pulumi up`"
    )
    print(table(HEADERS, [o.row() for o in outcomes]))
    walls = sorted(o.wall for o in outcomes)
    print(f"pulumi up s: median {seconds(walls[len(walls) // 2])}, max {seconds(walls[-1])}")
    for outcome in failed:
        print(f"{outcome.label} failed: {outcome.error or '(no provider error found)'}")
    print()


def show_waits(outcomes: Sequence[Outcome], limit: int = 2) -> None:
    """The waits the user was told about, per run: how many, and the first few lines."""
    rows = []
    for outcome in outcomes:
        lines = outcome.waits
        shown = lines[:limit] or ["(none)"]
        rows.append([outcome.label, len(lines), shown[0]])
        rows.extend(["", "", line] for line in shown[1:])
    print("waits announced to the user (`waiting N s` lines in the output of `pulumi up`):")
    print(table(["run", "lines", "first lines"], rows))
    print()


if __name__ == "__main__":
    sys.exit(main())
