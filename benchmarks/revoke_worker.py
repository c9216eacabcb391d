"""One revoke run in a process of its own, so that its peak RSS and CPU time are its own.

Reads a JSON job on stdin (``method``, ``base_url``, ``token``, ``account``, ``ids``,
``in_flight``, ``repeat``), revokes the IDs ``repeat`` times, and prints one JSON line:
wall time of each repetition, CPU seconds of the process (all threads), its RSS just
before the first repetition and its peak RSS during the repetitions. The peak is Linux's
``VmHWM``, reset just before the run through ``/proc/self/clear_refs``, so it is not
inflated by imports or by parsing the job. ``benchmarks.revoke`` runs it as
``python -m benchmarks.revoke_worker``; the emulator lives in that parent process.
"""

from __future__ import annotations

import gc
import json
import resource
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any, TypedDict

BATCH = 200


class Measured(TypedDict):
    """What the worker prints, as one JSON line."""

    walls: list[float]
    cpu: float
    rss_before_kib: int
    rss_peak_kib: int


def ours(job: dict[str, Any]) -> Callable[[Sequence[str]], None]:
    from cloudflare_device_revocation import CloudflareClient, Settings
    from cloudflare_device_revocation.settings import ApiToken

    client = CloudflareClient(Settings(ApiToken(job["token"]), job["base_url"]))
    in_flight = int(job["in_flight"])

    def run(ids: Sequence[str]) -> None:
        client.revoke(job["account"], ids, endpoint="devices", max_in_flight=in_flight)

    return run


def naive(job: dict[str, Any]) -> Callable[[Sequence[str]], None]:
    from cloudflare_device_revocation import CloudflareClient, Settings
    from cloudflare_device_revocation.settings import ApiToken

    client = CloudflareClient(Settings(ApiToken(job["token"]), job["base_url"]))

    def run(ids: Sequence[str]) -> None:
        for registration_id in ids:
            client.revoke_batch(job["account"], [registration_id], endpoint="devices")

    return run


def sdk(job: dict[str, Any]) -> Callable[[Sequence[str]], None]:
    """What a user writes with the official SDK: batches of 200, by hand, one at a time."""
    from cloudflare import Cloudflare

    # The SDK warns on every call that /devices/revoke is deprecated.
    warnings.simplefilter("ignore", DeprecationWarning)
    client = Cloudflare(api_token=job["token"], base_url=job["base_url"])

    def run(ids: Sequence[str]) -> None:
        for start in range(0, len(ids), BATCH):
            client.zero_trust.devices.revoke.create(
                account_id=job["account"], body=list(ids[start : start + BATCH])
            )

    return run


METHODS = {"ours": ours, "naive": naive, "sdk": sdk}


def status_kib(field: str) -> int | None:
    """A ``kB`` field of /proc/self/status (Linux), or None."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark for this process (Linux 4.0+)."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def main() -> int:
    job: dict[str, Any] = json.load(sys.stdin)
    ids: list[str] = job["ids"]
    run = METHODS[job["method"]](job)
    gc.collect()
    exact = reset_peak_rss()
    rss_before = status_kib("VmRSS") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu_before = time.process_time()
    walls = []
    for _ in range(int(job["repeat"])):
        start = time.perf_counter()
        run(ids)
        walls.append(time.perf_counter() - start)
    cpu = time.process_time() - cpu_before
    peak = status_kib("VmHWM") if exact else None
    rss_peak = peak or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result: Measured = {
        "walls": walls,
        "cpu": cpu,
        "rss_before_kib": rss_before,
        "rss_peak_kib": rss_peak,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
