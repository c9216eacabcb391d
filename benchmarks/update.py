"""A 10,000-ID DeviceRevocation gets 10 more IDs: requests sent and time of check, diff, update.

Measured twice against the emulator (100 ms per request by default): in process, calling
``DeviceRevocationProvider`` configured as ``tests/test_provider.py`` configures it, and
through the real ``python -m pulumi.dynamic`` server over gRPC, as the engine calls it
(protobuf conversion and unpickling of the provider included). Also shown: the create of
the 10,000 IDs that precedes it, with the progress lines the provider prints, and what a
``pulumi preview`` with no change costs on such a resource (check + diff). The update must
send exactly one revoke request holding exactly the 10 new IDs, and one list request to
confirm them; anything else is an error.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
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
REVOKES = r"/revoke$"
LISTS = r"/devices/registrations$"


class TimedLines(io.TextIOBase):
    """A stdout stand-in that keeps each printed line with its time since ``start``."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.lines: list[tuple[float, str]] = []
        self._partial = ""

    def write(self, text: str) -> int:
        self._partial += text
        *complete, self._partial = self._partial.split("\n")
        now = time.perf_counter() - self.start
        self.lines.extend((now, line) for line in complete)
        return len(text)


def timed(call: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def check_create(emulator: Emulator, base: Sequence[str], where: str) -> None:
    """The create sent the floor of revoke requests, and listed every ID once to confirm."""
    revokes = len(emulator.requests.matching("POST", REVOKES))
    listed = [i for r in emulator.requests.matching("GET", LISTS) for i in r.query["id"]]
    if revokes != -(-len(base) // 200) or sorted(listed) != sorted(base):
        raise BenchmarkError(f"{where} sent {revokes} revokes and listed {len(listed)} IDs")
    if set(base) - emulator.state.revoked_ids(ACCOUNT):
        raise BenchmarkError(f"{where} left IDs unrevoked")


def check_one_request(emulator: Emulator, added: Sequence[str], where: str) -> None:
    """The update sent one revoke of exactly the new IDs, and one list request for them."""
    revokes = emulator.requests.matching("POST", REVOKES)
    lists = emulator.requests.matching("GET", LISTS)
    if len(emulator.requests.all()) != 2 or len(revokes) != 1 or len(lists) != 1:
        raise BenchmarkError(
            f"{where}: expected 1 revoke and 1 list request, the emulator got "
            f"{len(emulator.requests.all())} requests"
        )
    # The registrations endpoint (the default) takes the IDs in the query, /devices a body.
    sent = revokes[0].query.get("id") or revokes[0].body or []
    if sorted(sent) != sorted(added):
        raise BenchmarkError(f"{where}: the revoke held {sent}, not the new IDs")
    if set(added) - emulator.state.revoked_ids(ACCOUNT):
        raise BenchmarkError(f"{where}: the new IDs are not all revoked")


def summary(name: str, values: Sequence[float]) -> list[object]:
    return [name, seconds(statistics.median(values)), seconds(min(values)), seconds(max(values))]


def in_process(
    emulator: Emulator, base: list[str], added: list[str], repeat: int
) -> tuple[list[list[object]], list[tuple[float, str]], float]:
    from pulumi.dynamic import ConfigureRequest
    from pulumi.dynamic.config import Config

    provider = DeviceRevocationProvider()
    config = {"cloudflare:apiToken": TOKEN, "cloudflare:baseUrl": emulator.base_url}
    provider.configure(ConfigureRequest(Config(config, "bench")))
    first = provider.check({}, {"account_id": ACCOUNT, "registration_ids": base})
    if first.failures:
        raise BenchmarkError(f"check failed: {first.failures}")
    emulator.requests.clear()
    out = TimedLines()
    with contextlib.redirect_stdout(out):
        create_seconds, created = timed(lambda: provider.create(first.inputs))
    check_create(emulator, base, "in-process create")
    olds_inputs, olds = first.inputs, created.outs
    if olds is None:
        raise BenchmarkError("create returned no outputs")
    raw_news = {"account_id": ACCOUNT, "registration_ids": base + added}
    phases: dict[str, list[float]] = {"check": [], "diff": [], "update": [], "total": []}
    noop: list[float] = []
    for _ in range(repeat):
        emulator.state.set_revoked(ACCOUNT, added, False)
        emulator.requests.clear()
        check_s, checked = timed(lambda: provider.check(olds_inputs, raw_news))
        news = checked.inputs
        diff_s, diff = timed(partial(provider.diff, created.id, olds, news))
        if not diff.changes or diff.replaces:
            raise BenchmarkError(f"diff said changes={diff.changes}, replaces={diff.replaces}")
        with contextlib.redirect_stdout(io.StringIO()):
            update_s, _ = timed(partial(provider.update, created.id, olds, news))
        check_one_request(emulator, added, "in-process update")
        for name, value in (("check", check_s), ("diff", diff_s), ("update", update_s)):
            phases[name].append(value)
        phases["total"].append(check_s + diff_s + update_s)
        same_s, _ = timed(
            lambda: provider.diff(created.id, olds, provider.check(olds_inputs, olds_inputs).inputs)
        )
        noop.append(same_s)
    rows = [summary(f"in process: {name}", values) for name, values in phases.items()]
    rows.append(summary("in process: check + diff, no change (every preview)", noop))
    return rows, out.lines, create_seconds


def over_grpc(
    emulator: Emulator, base: list[str], added: list[str], repeat: int
) -> tuple[list[list[object]], float]:
    from pulumi.dynamic.dynamic import serialize_provider
    from pulumi.runtime.proto import provider_pb2

    urn = "urn:pulumi:dev::bench::pulumi-python:dynamic/cloudflare:DeviceRevocation::big"
    serialized = serialize_provider(DeviceRevocationProvider())
    server = ProviderProcess()
    try:
        config = {
            "cloudflare:apiToken": wrapped_secret(TOKEN),
            "cloudflare:baseUrl": emulator.base_url,
        }
        server.stub.Configure(provider_pb2.ConfigureRequest(args=struct(config)))

        def props(ids: list[str]) -> Any:
            return struct(
                {"__provider": serialized, "account_id": ACCOUNT, "registration_ids": ids}
            )

        def check(olds: Any, news: Any) -> Any:
            return server.stub.Check(provider_pb2.CheckRequest(urn=urn, olds=olds, news=news))

        first = check(struct({}), props(base))
        emulator.requests.clear()
        create_seconds, created = timed(
            lambda: server.stub.Create(provider_pb2.CreateRequest(urn=urn, properties=first.inputs))
        )
        check_create(emulator, base, "gRPC create")
        raw_news = props(base + added)
        phases: dict[str, list[float]] = {"Check": [], "Diff": [], "Update": [], "total": []}
        noop: list[float] = []
        for _ in range(repeat):
            emulator.state.set_revoked(ACCOUNT, added, False)
            emulator.requests.clear()
            check_s, checked = timed(lambda: check(first.inputs, raw_news))
            diff_request = provider_pb2.DiffRequest(
                id=created.id, urn=urn, olds=created.properties, news=checked.inputs
            )
            diff_s, diff = timed(partial(server.stub.Diff, diff_request))
            if diff.changes != provider_pb2.DiffResponse.DIFF_SOME:
                raise BenchmarkError("gRPC diff found no change")
            update_request = provider_pb2.UpdateRequest(
                id=created.id, urn=urn, olds=created.properties, news=checked.inputs
            )
            update_s, _ = timed(partial(server.stub.Update, update_request))
            check_one_request(emulator, added, "gRPC update")
            for name, value in (("Check", check_s), ("Diff", diff_s), ("Update", update_s)):
                phases[name].append(value)
            phases["total"].append(check_s + diff_s + update_s)

            def no_change() -> None:
                same = check(first.inputs, first.inputs)
                server.stub.Diff(
                    provider_pb2.DiffRequest(
                        id=created.id, urn=urn, olds=created.properties, news=same.inputs
                    )
                )

            noop.append(timed(no_change)[0])
    finally:
        server.stop()
    rows = [summary(f"gRPC: {name}", values) for name, values in phases.items()]
    rows.append(summary("gRPC: Check + Diff, no change (every preview)", noop))
    return rows, create_seconds


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per request")
    parser.add_argument("--size", type=int, default=10_000, help="IDs already declared")
    parser.add_argument("--added", type=int, default=10, help="IDs added")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    return main_guard(lambda: run(args))


def run(args: argparse.Namespace) -> None:
    latency: float = args.latency
    emulator_nodelay(True)
    header(
        f"update: a {args.size:,}-ID resource gets {args.added} more IDs",
        [
            f"latency: {latency * 1000:.0f} ms per request; emulator with TCP_NODELAY "
            "(see benchmarks/README.md)",
            f"{args.repeat} repetitions; seconds, median / min / max",
        ],
    )
    with Emulator(tokens={TOKEN: "write"}) as emulator:
        emulator.set_latency(latency)
        ids = emulator.state.seed(ACCOUNT, args.size + args.added)
        base, added = ids[: args.size], ids[args.size :]
        rows, lines, create_in_process = in_process(emulator, base, added, args.repeat)
        emulator.state.set_revoked(ACCOUNT, ids, False)
        grpc_rows, create_grpc = over_grpc(emulator, base, added, args.repeat)
    print(
        "requests sent by each update: 2 (checked: one revoke holding exactly the new IDs, "
        "one list request confirming them)"
    )
    print()
    print(table(["phase", "median s", "min s", "max s"], rows + grpc_rows))
    print()
    floor = -(-args.size // 200) * latency
    print(
        f"the create of {args.size:,} IDs before it: {seconds(create_in_process)} s in process, "
        f"{seconds(create_grpc)} s over gRPC (sequential floor {seconds(floor)} s); "
        "what the provider printed (in process):"
    )
    print(table(["at s", "line"], [[f"{at:.2f}", line] for at, line in lines]))


if __name__ == "__main__":
    sys.exit(main())
