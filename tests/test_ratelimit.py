"""The rate limiter: reading Cloudflare's Ratelimit headers, pacing, blocking, sharing."""

from __future__ import annotations

import logging
import math
import threading
from collections import Counter
from typing import Any

import pytest

from cloudflare_device_revocation import CloudflareClient, RetryPolicy, RevocationError, Settings
from cloudflare_device_revocation.emulator import DEFAULT_TOKEN, Emulator
from cloudflare_device_revocation.ratelimit import (
    QuotaPolicy,
    QuotaState,
    RateLimiter,
    Wait,
    parse_ratelimit,
    parse_ratelimit_policy,
    shared_limiter,
)
from cloudflare_device_revocation.settings import ApiToken
from support import ACCOUNT, FakeClock

QUOTA, WINDOW, RESERVE = 40, 15.0, 0.1
USABLE = QUOTA - int(RESERVE * QUOTA)  # requests a window may carry: 36
SUCCESS = {"success": True, "errors": [], "messages": [], "result": None}


def ratelimit(remaining: int, reset: int, quota: int = QUOTA, window: int = 15) -> dict[str, str]:
    return {
        "Ratelimit": f'"default";r={remaining};t={reset}',
        "Ratelimit-Policy": f'"default";q={quota};w={window}',
    }


class FakeCloudflare:
    """Counts requests per fixed window on a fake clock and answers with Cloudflare's headers.

    ``t`` is rounded down, the worst case the limiter's margin allows for.
    """

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.per_window: Counter[int] = Counter()
        self.throttled = 0
        self._lock = threading.Lock()

    def handle(self) -> dict[str, str]:
        with self._lock:
            window = math.floor(self.clock() / WINDOW)
            reset = math.floor((window + 1) * WINDOW - self.clock())
            if self.per_window[window] >= QUOTA:
                self.throttled += 1
                return {**ratelimit(0, reset), "Retry-After": str(reset)}
            self.per_window[window] += 1
            return ratelimit(QUOTA - self.per_window[window], reset)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('"default";r=50;t=30', [QuotaState("default", 50, 30.0)]),
        ("default;r=50;t=30", [QuotaState("default", 50, 30.0)]),
        ('"default" ; r = 50 ;t= 30 ', [QuotaState("default", 50, 30.0)]),
        ('"default";t=30;r=50;x=?1', [QuotaState("default", 50, 30.0)]),
        ('"default";r=0;t=0', [QuotaState("default", 0, 0.0)]),
        (
            '"burst";r=5;t=10, "default";r=900;t=200',
            [QuotaState("burst", 5, 10.0), QuotaState("default", 900, 200.0)],
        ),
        ("", ValueError),
        ("r=50;t=30", ValueError),
        ('"default";r=50', ValueError),
        ('"default";t=30', ValueError),
        ('"default";r=-1;t=30', ValueError),
        ('"default";r=1.5;t=30', ValueError),
        ('"default";r=abc;t=30', ValueError),
        ('"default";r=5;t=5 trailing', ValueError),
        ('"default;r=5;t=5', ValueError),
        ('"default";r=5;t=5,', ValueError),
    ],
)
def test_parse_ratelimit(value: str, expected: list[QuotaState] | type[ValueError]) -> None:
    """Ratelimit items per the IETF drafts: quoted or bare name, r= and t=, any spacing."""
    if isinstance(expected, list):
        assert parse_ratelimit(value) == expected
    else:
        with pytest.raises(ValueError):
            parse_ratelimit(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('"default";q=1200;w=300', [QuotaPolicy("default", 1200, 300.0)]),
        ('"default";q=1200', [QuotaPolicy("default", 1200, None)]),
        ('"default";w=300', ValueError),
        ('"default";q=many;w=300', ValueError),
    ],
)
def test_parse_ratelimit_policy(value: str, expected: list[QuotaPolicy] | type[ValueError]) -> None:
    """Ratelimit-Policy items: q= is required, w= optional."""
    if isinstance(expected, list):
        assert parse_ratelimit_policy(value) == expected
    else:
        with pytest.raises(ValueError):
            parse_ratelimit_policy(value)


def limiter_on(clock: FakeClock, reserve: float = RESERVE) -> RateLimiter:
    return RateLimiter(reserve=reserve, clock=clock, sleep=clock.sleep)


def test_no_pacing_without_headers() -> None:
    """With no Ratelimit header seen, nothing is paced, however many requests go."""
    clock = FakeClock()
    limiter = limiter_on(clock)
    for _ in range(2_000):
        limiter.acquire()
        limiter.observe({"Content-Type": "application/json"})
    assert clock.sleeps == []
    assert limiter.in_flight == 0


@pytest.mark.parametrize(
    "headers",
    [
        {"Ratelimit": "garbage", "Ratelimit-Policy": '"default";q=40;w=15'},
        {"Ratelimit": '"default";r=one;t=10'},
        {"Ratelimit-Policy": '"default";q=40;w=15'},
    ],
)
def test_malformed_or_partial_headers_are_ignored(
    headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """A malformed Ratelimit (or a policy alone) paces nothing, and says so at debug level."""
    clock = FakeClock()
    limiter = limiter_on(clock)
    caplog.set_level(logging.DEBUG, logger="cloudflare_device_revocation.ratelimit")
    for _ in range(100):
        limiter.acquire()
        limiter.observe(headers)
    assert clock.sleeps == []
    if "Ratelimit" in headers:
        assert "ignoring a malformed Ratelimit header" in caplog.text


def test_sequential_requests_keep_the_reserve_and_wait_for_the_reset() -> None:
    """200 requests at quota 40 per 15 s: 36 per window, then a wait until the reset."""
    clock = FakeClock(0.0)
    limiter = limiter_on(clock)
    server = FakeCloudflare(clock)
    waits: list[Wait] = []
    for _ in range(200):
        limiter.acquire(on_wait=waits.append, method="GET", path="/x")
        limiter.observe(server.handle())
    assert server.throttled == 0
    assert list(server.per_window.values()) == [USABLE] * 5 + [20]
    # The first reset is announced as 15 s; the limiter waits one more for rounding.
    assert clock.sleeps[0] == 16.0
    assert waits[0] == Wait(
        16.0, "pacing: 4 of 40 requests left in this window, resets in 16 s", "GET", "/x", 1
    )
    assert len(waits) == len(clock.sleeps) == 5


def test_concurrent_requests_never_exceed_the_quota() -> None:
    """Eight threads sharing one limiter: requests in flight count, no window goes over 36."""
    clock = FakeClock(0.0)
    limiter = limiter_on(clock)
    server = FakeCloudflare(clock)
    in_flight_together = threading.Barrier(8)

    def worker() -> None:
        for _ in range(40):
            limiter.acquire()
            # All eight are in flight before any reaches the server: the worst case.
            in_flight_together.wait()
            headers = server.handle()
            in_flight_together.wait()
            limiter.observe(headers)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert server.throttled == 0
    assert sum(server.per_window.values()) == 320
    assert max(server.per_window.values()) <= USABLE
    assert limiter.in_flight == 0


def test_block_until_holds_back_every_thread() -> None:
    """After block_until(t), no thread's request starts before t."""
    clock = FakeClock(0.0)
    limiter = limiter_on(clock)
    limiter.block_until(75.0)
    started: list[float] = []
    waits: list[Wait] = []

    def worker() -> None:
        limiter.acquire(on_wait=waits.append)
        started.append(clock())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(started) == 4 and min(started) >= 75.0
    assert waits and waits[0].reason.startswith("rate limited: Cloudflare blocks this token")


def test_a_wait_is_bounded_by_max_wait() -> None:
    """A reset announced a day ahead is waited at most max_wait in all, then the request goes."""
    clock = FakeClock(0.0)
    limiter = RateLimiter(max_wait=300.0, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.observe(ratelimit(0, 86_400, window=86_400))
    assert limiter.acquire() == 300.0
    assert clock.sleeps == [300.0]


def test_short_waits_are_not_announced() -> None:
    """A wait of a second or less is slept without calling the hook."""
    clock = FakeClock(0.0)
    limiter = limiter_on(clock)
    limiter.block_until(0.5)
    waits: list[Wait] = []
    limiter.acquire(on_wait=waits.append)
    assert (clock.sleeps, waits) == ([0.5], [])


def test_requests_in_flight_count_against_the_remaining_quota() -> None:
    """With 10 left and a reserve of 4, six requests may be in flight at once; the 7th waits."""
    clock = FakeClock(0.0)
    limiter = limiter_on(clock)
    limiter.acquire()
    limiter.observe(ratelimit(10, 15))
    for _ in range(6):
        assert limiter.acquire() == 0.0
    assert limiter.in_flight == 6
    assert limiter.acquire() == 16.0


def test_answers_out_of_order_keep_the_lowest_count() -> None:
    """Within one window a later answer with more remaining (sent earlier) does not raise it."""
    clock = FakeClock(0.0)
    limiter = limiter_on(clock)
    for _ in range(2):
        limiter.acquire()
    limiter.observe(ratelimit(4, 15))
    limiter.observe(ratelimit(5, 15))
    limiter.acquire()
    assert clock.sleeps == [16.0]


def test_the_registry_returns_one_limiter_per_key() -> None:
    """shared_limiter: one limiter per key, even when threads ask at once; latest reserve."""
    found: list[RateLimiter] = []
    start = threading.Barrier(8)

    def ask() -> None:
        start.wait()
        found.append(shared_limiter("test-registry-a"))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(limiter) for limiter in found}) == 1
    assert shared_limiter("test-registry-b") is not found[0]
    assert shared_limiter("test-registry-a", reserve=0.3) is found[0]
    assert found[0].reserve == 0.3
    with pytest.raises(ValueError, match="non-empty"):
        shared_limiter("")


# -- over real HTTP, through the client -------------------------------------------------


def client_with(
    emulator: Emulator, clock: FakeClock, limiter: RateLimiter
) -> tuple[CloudflareClient, list[Wait]]:
    """A client on the fake clock sharing ``limiter``, and the list its waits are told to."""
    waits: list[Wait] = []
    policy = RetryPolicy(sleep=clock.sleep, clock=clock, rng=lambda: 0.0, on_wait=waits.append)
    settings = Settings(ApiToken(DEFAULT_TOKEN), emulator.base_url)
    return CloudflareClient(settings, retry=policy, limiter=limiter), waits


def test_pacing_over_http(emulator: Emulator) -> None:
    """An answer saying 3 of 40 are left makes the next request wait for the reset, announced."""
    first, second = emulator.state.seed(ACCOUNT, 1), emulator.state.seed(ACCOUNT, 1)
    emulator.inject(status=200, body=SUCCESS, headers=ratelimit(3, 30, window=300))
    clock = FakeClock()
    limiter = limiter_on(clock)
    client, waits = client_with(emulator, clock, limiter)
    with client:
        client.revoke(ACCOUNT, first)
        assert clock.sleeps == []
        client.revoke(ACCOUNT, second)
    path = f"/client/v4/accounts/{ACCOUNT}/devices/registrations/revoke"
    reason = "pacing: 3 of 40 requests left in this window, resets in 31 s"
    assert waits == [Wait(31.0, reason, "POST", path, 1)]
    assert clock.sleeps == [31.0]
    assert emulator.state.revoked_ids(ACCOUNT) == set(second)
    assert limiter.in_flight == 0


def test_retried_answers_are_observed_over_http(emulator: Emulator) -> None:
    """A 503 that urllib3 retries still reports its Ratelimit: the retry waits for the reset."""
    ids = emulator.state.seed(ACCOUNT, 1)
    emulator.inject(status=503, headers=ratelimit(2, 60))
    clock = FakeClock()
    limiter = limiter_on(clock)
    client, waits = client_with(emulator, clock, limiter)
    with client:
        client.revoke(ACCOUNT, ids)
    assert clock.sleeps == [1.0, 60.0]  # the backoff, then the rest of the 61 s to the reset
    assert [w.attempt for w in waits] == [2, 2]
    assert emulator.state.revoked_ids(ACCOUNT) == set(ids)
    assert limiter.in_flight == 0


def test_a_429_blocks_other_requests_sharing_the_limiter(emulator: Emulator) -> None:
    """While one request waits out Retry-After: 75, another sharing the limiter waits 75 s too."""
    ids = emulator.state.seed(ACCOUNT, 1)
    emulator.inject(status=429, headers={"Retry-After": "75"})
    clock = FakeClock()
    limiter = limiter_on(clock)
    others: list[float] = []
    policy = RetryPolicy(
        sleep=clock.sleep,
        clock=clock,
        rng=lambda: 0.0,
        on_wait=lambda _wait: others.append(limiter.acquire()),
    )
    settings = Settings(ApiToken(DEFAULT_TOKEN), emulator.base_url)
    with CloudflareClient(settings, retry=policy, limiter=limiter) as client:
        client.revoke(ACCOUNT, ids)
    limiter.release()
    assert others == [75.0]
    assert emulator.state.revoked_ids(ACCOUNT) == set(ids)
    assert limiter.in_flight == 0


def test_connection_errors_do_not_leak_in_flight_requests(emulator: Emulator) -> None:
    """Attempts that got no answer stop counting as in flight, retried or not."""
    ids = emulator.state.seed(ACCOUNT, 1)
    emulator.inject(disconnect="before_response", times=-1)
    clock = FakeClock()
    limiter = limiter_on(clock)
    client, _waits = client_with(emulator, clock, limiter)
    with client, pytest.raises(RevocationError):
        client.revoke(ACCOUNT, ids)
    assert emulator.arrivals() == 5
    assert limiter.in_flight == 0


class CountingLimiter(RateLimiter):
    """A limiter that counts the attempts it lets through."""

    acquired = 0

    def acquire(self, **kwargs: Any) -> float:
        self.acquired += 1
        return super().acquire(**kwargs)


def test_parallel_batches_each_pass_the_limiter(emulator: Emulator) -> None:
    """Batches sent in parallel through one client each pass the shared limiter once."""
    ids = emulator.state.seed(ACCOUNT, 1_000)
    emulator.inject(status=503, times=2)
    clock = FakeClock()
    limiter = CountingLimiter(clock=clock, sleep=clock.sleep)
    client, _waits = client_with(emulator, clock, limiter)
    with client:
        client.revoke(ACCOUNT, ids, max_in_flight=4)
    assert emulator.state.revoked_ids(ACCOUNT) == set(ids)
    assert limiter.acquired == emulator.arrivals() == 7  # five batches, two of them retried
    assert limiter.in_flight == 0
