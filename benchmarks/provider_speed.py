"""A 10,000-ID create, a no-change check + diff and a refresh, through the real provider server.

1. Create: the real ``python -m pulumi.dynamic`` server (tests/provider_server.py) gets
   ``Configure``, ``Check`` and ``Create`` as the engine sends them, against the emulator
   with ``--latency`` seconds per request (50 ms by default). The create revokes every ID
   and then confirms them by listing: both kinds of request are counted from the
   emulator's log, and the wall time of ``Create`` (as the engine waits for it) is set
   against the sequential floor, ceil(N/200) revoke requests x latency.
2. No change: ``Check`` (the program's raw inputs against the stored ones) then ``Diff``
   (the stored outputs against the checked inputs), as every ``pulumi preview`` and
   ``pulumi up`` of an unchanged stack sends them for this resource. No request may reach
   the emulator.
3. Refresh: ``Read`` of the created resource, every ID revoked, with the same latency.
   The list requests are counted, with the most in flight at once.
4. Where the time goes: the same calls in this process, split into what pulumi's rpc layer
   does (deserializing the request's properties, serializing the answer's) and what the
   provider does. ``--profile`` adds cProfile's largest entries for each call.

A run fails (exit 1) when an ID is left unrevoked, a no-change diff finds a change or sends
a request, a create sends more revoke requests than the floor, or a refresh keeps fewer
IDs than were revoked; never on a timing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import math
import pstats
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from benchmarks.harness import (
    ACCOUNT,
    TOKEN,
    BenchmarkError,
    emulator_nodelay,
    header,
    main_guard,
    seconds,
    table,
)
from cloudflare_device_revocation import DeviceRevocationProvider
from cloudflare_device_revocation.emulator import Emulator
from provider_server import ProviderProcess, struct, wrapped_secret

T = TypeVar("T")
BATCH = 200
URN = "urn:pulumi:dev::bench::pulumi-python:dynamic/cloudflare:DeviceRevocation::big"
REVOKES = r"/revoke$"
LISTS = r"/devices/registrations$"


def timed(call: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def spread(values: Sequence[float]) -> list[str]:
    return [seconds(statistics.median(values)), seconds(min(values)), seconds(max(values))]


class Counts:
    """The requests one create sent, from the emulator's log."""

    def __init__(self, emulator: Emulator) -> None:
        self.revokes = len(emulator.requests.matching("POST", REVOKES))
        self.lists = len(emulator.requests.matching("GET", LISTS))
        self.total = len(emulator.requests.all())
        self.most_in_flight = emulator.max_concurrent_requests()


def over_grpc(
    emulator: Emulator, ids: list[str], latency: float, repeat: int, noop_repeat: int
) -> tuple[list[list[object]], list[list[object]], list[list[object]], Counts]:
    """Create (``repeat`` times, each on fresh registrations), no-change Check + Diff, and
    refresh (``repeat`` times, with the emulator's latency)."""
    from pulumi.dynamic.dynamic import serialize_provider
    from pulumi.runtime.proto import provider_pb2

    serialized = serialize_provider(DeviceRevocationProvider())
    raw = struct({"__provider": serialized, "account_id": ACCOUNT, "registration_ids": ids})
    server = ProviderProcess()
    try:
        config = {
            "cloudflare:apiToken": wrapped_secret(TOKEN),
            "cloudflare:baseUrl": emulator.base_url,
        }
        server.stub.Configure(provider_pb2.ConfigureRequest(args=struct(config)))
        checked = server.stub.Check(provider_pb2.CheckRequest(urn=URN, olds=struct({}), news=raw))
        if checked.failures:
            raise BenchmarkError(f"Check failed: {checked.failures}")
        creates: list[float] = []
        counts: Counts | None = None
        created: Any = None
        for _ in range(repeat):
            emulator.state.set_revoked(ACCOUNT, ids, False)
            emulator.requests.clear()
            request = provider_pb2.CreateRequest(urn=URN, properties=checked.inputs)
            wall, created = timed(lambda: server.stub.Create(request))  # noqa: B023
            counts = Counts(emulator)
            unrevoked = set(ids) - emulator.state.revoked_ids(ACCOUNT)
            if unrevoked:
                raise BenchmarkError(f"create left {len(unrevoked)} IDs unrevoked")
            recorded = created.properties.fields["revoked_ids"].list_value.values
            if len(recorded) != len(ids):
                raise BenchmarkError(f"create recorded {len(recorded)} revoked IDs, not {len(ids)}")
            if counts.revokes > math.ceil(len(ids) / BATCH):
                raise BenchmarkError(f"create sent {counts.revokes} revoke requests")
            creates.append(wall)
        assert counts is not None
        emulator.requests.clear()
        phases: dict[str, list[float]] = {"Check": [], "Diff": [], "Check + Diff": []}
        for _ in range(noop_repeat):
            check_s, again = timed(
                lambda: server.stub.Check(
                    provider_pb2.CheckRequest(urn=URN, olds=checked.inputs, news=raw)
                )
            )
            diff_request = provider_pb2.DiffRequest(
                id=created.id, urn=URN, olds=created.properties, news=again.inputs
            )
            diff_s, diff = timed(lambda: server.stub.Diff(diff_request))  # noqa: B023
            if diff.changes != provider_pb2.DiffResponse.DIFF_NONE:
                raise BenchmarkError("a no-change Diff found a change")
            phases["Check"].append(check_s)
            phases["Diff"].append(diff_s)
            phases["Check + Diff"].append(check_s + diff_s)
        if emulator.requests.all():
            raise BenchmarkError("a no-change Check + Diff sent requests")
        reads, read_counts = refreshes(server, emulator, created, checked.inputs, repeat)
    finally:
        server.stop()
    floor = math.ceil(len(ids) / BATCH) * latency
    create_row: list[object] = [
        f"{len(ids):,}",
        counts.revokes,
        counts.lists,
        f"{counts.lists / counts.revokes:.2f}",
        counts.most_in_flight,
        *spread(creates),
        seconds(floor),
        f"{statistics.median(creates) / floor:.2f}x",
    ]
    noop_rows: list[list[object]] = [[name, *spread(values)] for name, values in phases.items()]
    read_row: list[object] = [
        f"{len(ids):,}",
        read_counts.lists,
        read_counts.most_in_flight,
        *spread(reads),
        seconds(read_counts.lists * latency),
    ]
    return [create_row], noop_rows, [read_row], counts


def refreshes(
    server: ProviderProcess, emulator: Emulator, created: Any, inputs: Any, repeat: int
) -> tuple[list[float], Counts]:
    """``Read`` of the created resource ``repeat`` times: wall times, and the last's requests."""
    from pulumi.runtime.proto import provider_pb2

    request = provider_pb2.ReadRequest(
        id=created.id, urn=URN, properties=created.properties, inputs=inputs
    )
    revoked = len(created.properties.fields["revoked_ids"].list_value.values)
    walls: list[float] = []
    emulator.reset_max_concurrent_requests()
    for _ in range(repeat):
        emulator.requests.clear()
        wall, read = timed(lambda: server.stub.Read(request))
        kept = len(read.properties.fields["revoked_ids"].list_value.values)
        if kept != revoked:
            raise BenchmarkError(f"refresh kept {kept} revoked IDs, not {revoked}")
        walls.append(wall)
    return walls, Counts(emulator)


def serialize(outs: dict[str, Any]) -> Any:
    from pulumi.runtime import rpc

    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(rpc.serialize_properties(outs, {}))
    finally:
        loop.close()


class Profiles:
    """cProfile of chosen steps, printed afterwards if asked for."""

    def __init__(self, enabled: bool, top: int, sort: str) -> None:
        self.enabled = enabled
        self.top = top
        self.sort = sort
        self.reports: list[tuple[str, str]] = []

    def run(self, name: str, call: Callable[[], T]) -> T:
        if not self.enabled:
            return call()
        # The requests run on the pool's threads: each thread started meanwhile gets a
        # profile of its own, merged with the calling thread's.
        profiles = [cProfile.Profile()]

        def profile_thread(*_: object) -> None:
            # Only the client's pool, not the emulator's threads in this process.
            if not threading.current_thread().name.startswith("ThreadPoolExecutor"):
                sys.setprofile(None)
                return
            thread_profile = cProfile.Profile()
            profiles.append(thread_profile)
            thread_profile.enable()

        threading.setprofile(profile_thread)
        try:
            result = profiles[0].runcall(call)
        finally:
            threading.setprofile(None)
        out = io.StringIO()
        stats = pstats.Stats(profiles[0], stream=out)
        for thread_profile in profiles[1:]:
            stats.add(thread_profile)
        stats.sort_stats(self.sort).print_stats(self.top)
        self.reports.append((name, out.getvalue()))
        return result


def in_process(emulator: Emulator, ids: list[str], profiles: Profiles) -> list[list[object]]:
    """The server's steps for Create and a no-change Check + Diff, each timed on its own."""
    from pulumi.dynamic import ConfigureRequest
    from pulumi.dynamic.config import Config
    from pulumi.dynamic.dynamic import serialize_provider
    from pulumi.runtime import rpc

    provider = DeviceRevocationProvider()
    config = {"cloudflare:apiToken": TOKEN, "cloudflare:baseUrl": emulator.base_url}
    provider.configure(ConfigureRequest(Config(config, "bench")))
    serialized = serialize_provider(provider)
    raw = struct({"__provider": serialized, "account_id": ACCOUNT, "registration_ids": ids})
    rows: list[list[object]] = []

    def step(call: str, what: str, run: Callable[[], T]) -> T:
        wall, result = timed(lambda: profiles.run(f"{call}: {what}", run))
        rows.append([call, what, seconds(wall)])
        return result

    emulator.state.set_revoked(ACCOUNT, ids, False)
    news = step("Check", "deserialize olds + news", lambda: rpc.deserialize_properties(raw, True))
    result = step("Check", "provider.check", lambda: provider.check({}, news))
    result.inputs["__provider"] = serialized
    inputs_proto = step("Check", "serialize inputs", lambda: serialize(result.inputs))
    props = step(
        "Create", "deserialize properties", lambda: rpc.deserialize_properties(inputs_proto)
    )
    with contextlib.redirect_stdout(io.StringIO()):
        created = step("Create", "provider.create", lambda: provider.create(props))
    outs = dict(created.outs or {})
    outs["__provider"] = serialized
    outs_proto = step("Create", "serialize outputs", lambda: serialize(outs))

    olds = step(
        "Check (no change)",
        "deserialize olds + news",
        lambda: (
            rpc.deserialize_properties(inputs_proto, True),
            rpc.deserialize_properties(raw, True),
        ),
    )
    again = step("Check (no change)", "provider.check", lambda: provider.check(*olds))
    again.inputs["__provider"] = serialized
    again_proto = step("Check (no change)", "serialize inputs", lambda: serialize(again.inputs))
    pair = step(
        "Diff (no change)",
        "deserialize olds + news",
        lambda: (
            rpc.deserialize_properties(outs_proto, True),
            rpc.deserialize_properties(again_proto, True),
        ),
    )
    diff = step("Diff (no change)", "provider.diff", lambda: provider.diff(created.id, *pair))
    if diff.changes:
        raise BenchmarkError("the in-process no-change diff found a change")
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", type=int, default=10_000, help="IDs declared (default 10,000)")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request")
    parser.add_argument("--repeat", type=int, default=5, help="creates over gRPC")
    parser.add_argument("--noop-repeat", type=int, default=10, help="no-change Check + Diff")
    parser.add_argument(
        "--profile", action="store_true", help="print cProfile's largest entries per step"
    )
    parser.add_argument("--top", type=int, default=25, help="entries per profile")
    parser.add_argument(
        "--sort", choices=("tottime", "cumulative"), default="tottime", help="profile order"
    )
    args = parser.parse_args(argv)
    return main_guard(lambda: run(args))


def run(args: argparse.Namespace) -> None:
    import cloudflare_device_revocation

    latency: float = args.latency
    emulator_nodelay(True)
    header(
        f"provider_speed: create of {args.size:,} IDs, a no-change check + diff, and a "
        "refresh, over gRPC",
        [
            f"package measured: {Path(cloudflare_device_revocation.__file__).parent}",
            f"latency: {latency * 1000:.0f} ms per request; emulator with TCP_NODELAY",
            f"create: {args.repeat} runs, each on unrevoked registrations; no change: "
            f"{args.noop_repeat} runs; seconds, median / min / max",
        ],
    )
    with Emulator(tokens={TOKEN: "write"}) as emulator:
        emulator.set_latency(latency)
        ids = emulator.state.seed(ACCOUNT, args.size)
        create_rows, noop_rows, read_rows, counts = over_grpc(
            emulator, ids, latency, args.repeat, args.noop_repeat
        )
        emulator.set_latency(0.0)
        profiles = Profiles(args.profile, args.top, args.sort)
        steps = in_process(emulator, ids, profiles)
    print(
        table(
            [
                "IDs",
                "revoke requests",
                "list requests",
                "lists / revokes",
                "most in flight (all runs)",
                "Create median s",
                "min s",
                "max s",
                "seq. floor s",
                "median / floor",
            ],
            create_rows,
        )
    )
    print()
    print(f"no-change Check + Diff over gRPC ({counts.total} requests in the last create):")
    print(table(["call", "median s", "min s", "max s"], noop_rows))
    print()
    print("refresh (Read) over gRPC, every ID revoked:")
    print(
        table(
            [
                "IDs",
                "list requests",
                "most in flight (all runs)",
                "Read median s",
                "min s",
                "max s",
                "lists x latency s",
            ],
            read_rows,
        )
    )
    print()
    print("the same steps in this process, once (emulator without latency):")
    print(table(["call", "step", "s"], steps))
    for name, report in profiles.reports:
        print()
        print(f"## cProfile: {name}")
        print(report)


if __name__ == "__main__":
    sys.exit(main())
