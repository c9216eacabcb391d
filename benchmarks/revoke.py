"""Revoke N registrations against the emulator: requests, wall time, CPU and memory, by approach.

Approaches, side by side on the same emulator with the same injected latency:

- ``naive``: one request per ID (``CloudflareClient.revoke_batch(account, [id])`` in a
  loop). Measured up to ``--naive-max`` IDs, extrapolated linearly above (marked ``~``).
- ``sdk``: the official ``cloudflare`` Python SDK, as a user would script it: batches of
  200 by hand through ``client.zero_trust.devices.revoke.create``, one after another.
- ``ours k``: ``CloudflareClient.revoke(..., max_in_flight=k)``; the provider uses k=4.

Each run happens in a fresh subprocess (``benchmarks/revoke_worker.py``) so that its CPU time and
peak RSS are the client's alone; the emulator runs here, in this process. Every run is
checked: all N IDs revoked in the emulator, and the requests it received counted from its
log. ``python -m benchmarks.revoke --help`` lists the knobs; the defaults are what
``benchmarks/README.md`` reports.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.harness import (
    TOKEN,
    BenchmarkError,
    emulator_nodelay,
    emulator_round_trip,
    header,
    main_guard,
    seconds,
    table,
)
from benchmarks.revoke_worker import Measured
from cloudflare_device_revocation.emulator import Emulator, Fault
from pulumi_cli import REPO

HERE = Path(__file__).resolve().parent
WORKER = "benchmarks.revoke_worker"
BATCH = 200
# Cloudflare's global API limit: 1,200 requests per 5 minutes per user.
RATE_LIMIT_REQUESTS = 1_200
RATE_LIMIT_WINDOW = 300.0
# Runs shorter than this (expected) are repeated and their median reported.
SHORT_RUN = 1.0
SHORT_RUN_REPEATS = 3


@dataclass(frozen=True)
class Approach:
    kind: str
    in_flight: int = 1

    @property
    def label(self) -> str:
        return f"ours in_flight={self.in_flight}" if self.kind == "ours" else self.kind


@dataclass
class Result:
    approach: Approach
    n: int
    requests: int
    walls: list[float]
    cpu: float | None = None
    rss_before_mib: float | None = None
    rss_peak_mib: float | None = None
    extrapolated: bool = False

    @property
    def wall(self) -> float:
        ordered = sorted(self.walls)
        return ordered[len(ordered) // 2]


def floor_requests(n: int) -> int:
    return math.ceil(n / BATCH)


def rate_limited_floor(requests: int) -> float:
    """Least wall time for ``requests`` within 1,200 per 5 minutes, when nothing else calls."""
    return max(0, math.ceil(requests / RATE_LIMIT_REQUESTS) - 1) * RATE_LIMIT_WINDOW


def human_duration(value: float) -> str:
    if value <= 0:
        return "-"
    if value >= 3600:
        return f"{value / 3600:.1f} h"
    if value >= 60:
        return f"{value / 60:.0f} min"
    return f"{value:.0f} s"


def account_for(n: int) -> str:
    return f"{n:032x}"


def spawn(
    emulator: Emulator, approach: Approach, ids: Sequence[str], account: str, repeat: int
) -> Measured:
    """Unrevoke ``ids``, revoke them in a fresh worker process, return what it measured."""
    emulator.state.set_revoked(account, ids, False)
    emulator.requests.clear()
    job = {
        "method": approach.kind,
        "base_url": emulator.base_url,
        "token": TOKEN,
        "account": account,
        "ids": list(ids),
        "in_flight": approach.in_flight,
        "repeat": repeat,
    }
    done = subprocess.run(
        [sys.executable, "-m", WORKER],
        cwd=REPO,
        input=json.dumps(job),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BenchmarkError(
            f"{approach.label} on {len(ids)} IDs: worker exited {done.returncode}:\n{done.stderr}"
        )
    unrevoked = set(ids) - emulator.state.revoked_ids(account)
    if unrevoked:
        raise BenchmarkError(f"{approach.label} on {len(ids)} IDs left {len(unrevoked)} unrevoked")
    if done.stderr.strip():
        # Warnings (a full connection pool, a deprecation) belong beside the figures.
        first = done.stderr.strip().splitlines()[0]
        print(f"  note: {approach.label} on {len(ids):,} IDs wrote to stderr: {first}")
    out: Measured = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def run_worker(
    emulator: Emulator, approach: Approach, ids: Sequence[str], account: str, repeat: int
) -> Result:
    """One measured run; every request must have succeeded."""
    out = spawn(emulator, approach, ids, account, repeat)
    records = emulator.requests.all()
    failed = [r for r in records if r.status != 200]
    if failed:
        raise BenchmarkError(f"{approach.label}: {len(failed)} requests failed: {failed[:3]}")
    if len(records) % repeat:
        raise BenchmarkError(f"{approach.label}: {len(records)} requests over {repeat} runs")
    return Result(
        approach=approach,
        n=len(ids),
        requests=len(records) // repeat,
        walls=out["walls"],
        cpu=out["cpu"] / repeat,
        rss_before_mib=out["rss_before_kib"] / 1024,
        rss_peak_mib=out["rss_peak_kib"] / 1024,
    )


def expected_seconds(approach: Approach, n: int, latency: float) -> float:
    requests = n if approach.kind == "naive" else floor_requests(n)
    return math.ceil(requests / approach.in_flight) * latency


def rows_for(results: Sequence[Result], latency: float) -> list[list[object]]:
    rows: list[list[object]] = []
    for r in results:
        floor = floor_requests(r.n)
        sequential = floor * latency
        mark = "~" if r.extrapolated else ""
        rows.append(
            [
                r.approach.label,
                f"{r.n:,}",
                f"{mark}{r.requests:,}",
                f"{floor:,}",
                f"{r.requests / floor:.0f}x" if r.requests != floor else "1x (floor)",
                f"{mark}{seconds(r.wall)}",
                seconds(sequential),
                f"{mark}{r.wall / sequential:.2f}",
                f"{r.requests * latency / r.wall:.1f}",
                "" if r.cpu is None else f"{r.cpu:.2f}",
                "" if r.rss_before_mib is None else f"{r.rss_before_mib:.0f}",
                "" if r.rss_peak_mib is None else f"{r.rss_peak_mib:.0f}",
                human_duration(rate_limited_floor(r.requests)),
            ]
        )
    return rows


HEADERS = [
    "approach",
    "N",
    "requests",
    "floor ceil(N/200)",
    "requests vs floor",
    "wall s",
    "seq. floor s",
    "wall / seq. floor",
    "concurrency",
    "client CPU s",
    "RSS before MiB",
    "peak RSS MiB",
    "at 1,200 req/5 min",
]


def burst_of_429s(
    emulator: Emulator,
    *,
    in_flights: Sequence[int],
    ids: Sequence[str],
    account: str,
    latency: float,
    retry_after: int,
) -> list[list[object]]:
    """The first k revoke requests (k = max_in_flight) answered 429 with Retry-After."""
    rows: list[list[object]] = []
    for k in in_flights:
        emulator.clear_faults()
        emulator.inject(
            Fault(
                method="POST",
                path=r"/revoke$",
                status=429,
                code=10000,
                message="Rate limited",
                headers={"Retry-After": str(retry_after)},
                times=k,
            )
        )
        print(f"  429 burst: ours in_flight={k}, N={len(ids):,}", file=sys.stderr, flush=True)
        out = spawn(emulator, Approach("ours", k), ids, account, 1)
        records = emulator.requests.all()
        rows.append(
            [
                f"ours in_flight={k}",
                f"{len(ids):,}",
                f"{len(records):,}",
                sum(1 for r in records if r.status == 429),
                seconds(out["walls"][0]),
                seconds(math.ceil(floor_requests(len(ids)) / k) * latency),
            ]
        )
    emulator.clear_faults()
    return rows


def plot(results: Sequence[Result], latency: float, best: Approach, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5), dpi=110)
    sizes = sorted({r.n for r in results})
    ax.plot(
        sizes,
        [floor_requests(n) * latency for n in sizes],
        linestyle=":",
        color="grey",
        label=f"sequential floor: ceil(N/200) x {latency * 1000:.0f} ms",
    )
    styles = [
        (Approach("naive"), "tab:red", "naive: one request per ID"),
        (Approach("sdk"), "tab:orange", "official SDK, batches of 200 by hand"),
        (Approach("ours", 1), "tab:blue", "ours, max_in_flight=1 (provider today)"),
        (best, "tab:green", f"ours, max_in_flight={best.in_flight}"),
    ]
    for approach, color, label in styles:
        mine = sorted((r for r in results if r.approach == approach), key=lambda r: r.n)
        measured = [r for r in mine if not r.extrapolated]
        guessed = [r for r in mine if r.extrapolated]
        ax.plot(
            [r.n for r in measured],
            [r.wall for r in measured],
            marker="o",
            color=color,
            label=label,
        )
        if guessed:
            tail = measured[-1:] + guessed
            ax.plot(
                [r.n for r in tail],
                [r.wall for r in tail],
                marker="x",
                linestyle="--",
                color=color,
                label=f"{approach.label} (extrapolated)",
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("registration IDs revoked (N)")
    ax.set_ylabel("wall time, seconds")
    ax.set_title(f"Revoking N IDs against the emulator, {latency * 1000:.0f} ms per request")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def parse_ints(text: str) -> list[int]:
    return [int(part.replace("_", "")) for part in text.split(",") if part.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per request")
    parser.add_argument("--sizes", type=parse_ints, default=[1, 200, 1_000, 10_000, 100_000])
    parser.add_argument("--naive-max", type=int, default=1_000, help="largest N run naively")
    parser.add_argument("--in-flight", type=parse_ints, default=[1, 2, 4, 8])
    parser.add_argument("--plot", type=Path, default=HERE / "revoke_wall_time.png")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--no-429", action="store_true", help="skip the 429-burst runs")
    parser.add_argument(
        "--emulator-nagle",
        action="store_true",
        help="turn Nagle's algorithm back on in the emulator, as before the TCP_NODELAY fix "
        "(~40 ms per request; see harness.emulator_nodelay)",
    )
    args = parser.parse_args(argv)
    return main_guard(lambda: run(args))


def run(args: argparse.Namespace) -> None:
    latency: float = args.latency
    sizes: list[int] = args.sizes
    round_trip = emulator_round_trip()
    emulator_nodelay(not args.emulator_nagle)
    header(
        "revoke: N registration IDs against the emulator",
        [
            f"latency: {latency * 1000:.0f} ms per request (emulator.set_latency)",
            "emulator round trip at 0 ms latency: "
            + ", ".join(f"{k} {v:.1f} ms" for k, v in round_trip.items())
            + "; this run: "
            + ("Nagle on" if args.emulator_nagle else "TCP_NODELAY"),
            "wall s: client-side, from the first request to the last answer (median of "
            f"{SHORT_RUN_REPEATS} when a run is expected under {SHORT_RUN:g} s); excludes "
            "interpreter start and imports",
            "concurrency: requests x latency / wall, the requests effectively in flight",
            "client CPU s: CPU time of the worker process (all threads) during the run",
            "RSS: the worker's resident memory before the run, and its peak during it "
            "(VmHWM, reset before the run)",
            "at 1,200 req/5 min: least time Cloudflare's per-user limit allows for that "
            "many requests ('-': within one window)",
            "~: extrapolated from the largest naive run, not measured",
        ],
    )
    approaches = [Approach("naive"), Approach("sdk")] + [
        Approach("ours", k) for k in args.in_flight
    ]
    results: list[Result] = []
    with Emulator(tokens={TOKEN: "write"}) as emulator:
        emulator.set_latency(latency)
        for n in sizes:
            account = account_for(n)
            ids = emulator.state.seed(account, n)
            for approach in approaches:
                if approach.kind == "naive" and n > args.naive_max:
                    continue
                repeat = (
                    SHORT_RUN_REPEATS if expected_seconds(approach, n, latency) <= SHORT_RUN else 1
                )
                print(f"  {approach.label}, N={n:,}", file=sys.stderr, flush=True)
                results.append(run_worker(emulator, approach, ids, account, repeat))
        naive_runs = [r for r in results if r.approach.kind == "naive"]
        if naive_runs:
            basis = max(naive_runs, key=lambda r: r.n)
            per_id = basis.wall / basis.n
            for n in sizes:
                if n > args.naive_max:
                    results.append(Result(Approach("naive"), n, n, [per_id * n], extrapolated=True))
        burst: list[list[object]] = []
        burst_n = 10_000
        if not args.no_429 and burst_n in sizes:
            account = account_for(burst_n)
            burst_ids = [r.id for r in emulator.state.query(account, status="all")]
            burst = burst_of_429s(
                emulator,
                in_flights=args.in_flight,
                ids=burst_ids,
                account=account,
                latency=latency,
                retry_after=1,
            )

    order = {a: i for i, a in enumerate(approaches)}
    results.sort(key=lambda r: (r.n, order[r.approach]))
    print(table(HEADERS, rows_for(results, latency)))

    largest = max(sizes)
    ours_largest = {
        r.approach.in_flight: r for r in results if r.approach.kind == "ours" and r.n == largest
    }
    print()
    print(f"max_in_flight at N={largest:,}:")
    base = ours_largest.get(1)
    speed_rows = [
        [
            k,
            seconds(r.wall),
            f"{base.wall / r.wall:.2f}x" if base else "",
            f"{r.wall / (floor_requests(largest) * latency):.2f}",
            f"{r.requests / r.wall:.1f}",
            human_duration(RATE_LIMIT_REQUESTS / (r.requests / r.wall)),
        ]
        for k, r in sorted(ours_largest.items())
    ]
    print(
        table(
            [
                "max_in_flight",
                "wall s",
                "faster than 1",
                "wall / seq. floor",
                "requests/s",
                "time to spend 1,200 requests",
            ],
            speed_rows,
        )
    )
    if burst:
        print()
        print(
            f"With a burst of 429s (Retry-After: 1): the first max_in_flight revoke requests "
            f"of N={burst_n:,} are throttled:"
        )
        print(
            table(
                ["approach", "N", "requests", "429s", "wall s", "no-429 floor s"],
                burst,
            )
        )
    if not args.no_plot and ours_largest:
        best_k = min(ours_largest, key=lambda k: ours_largest[k].wall)
        plot(results, latency, Approach("ours", best_k), args.plot)
        print()
        print(f"plot: {args.plot}")


if __name__ == "__main__":
    sys.exit(main())
