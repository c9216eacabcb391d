"""The retry policy: which wait follows which answer, the time budget, jitter and the wait hook."""

from __future__ import annotations

import random
from dataclasses import replace
from email.utils import formatdate
from typing import Any, cast

import pytest
from urllib3.exceptions import MaxRetryError, ProtocolError, ReadTimeoutError
from urllib3.response import HTTPResponse

from cloudflare_device_revocation import CloudflareClient, RetryPolicy, Settings
from cloudflare_device_revocation.emulator import DEFAULT_TOKEN, Emulator
from cloudflare_device_revocation.retry import (
    DEFAULT_RETRY_AFTER_MAX,
    CloudflareRetry,
    Wait,
    parse_retry_after,
)
from cloudflare_device_revocation.settings import ApiToken
from support import ACCOUNT, ClientFactory, FakeClock, SleepRecorder

WALL = 1_700_000_000.0  # a whole second of wall-clock time, for HTTP dates
PATH = f"/client/v4/accounts/{ACCOUNT}/devices/revoke"


def answer(status: int, **headers: str) -> HTTPResponse:
    return HTTPResponse(body=b"", headers=headers, status=status, preload_content=False)


def http_date(offset: float) -> str:
    return formatdate(WALL + offset, usegmt=True)


class Harness:
    """A policy on a fake clock whose waits are recorded, and the retries it makes."""

    def __init__(self, rng: float = 0.0, **policy: Any) -> None:
        self.clock = FakeClock()
        self.waits: list[Wait] = []
        self.policy = replace(
            RetryPolicy(),
            sleep=self.clock.sleep,
            clock=self.clock,
            wall_clock=lambda: WALL,
            rng=lambda: rng,
            on_wait=self.waits.append,
            **policy,
        )
        self.retry = self.policy.new_retry(method="POST", path=PATH)

    def fail(
        self, response: HTTPResponse | None = None, error: Exception | None = None
    ) -> CloudflareRetry:
        """Count one failed attempt and wait as urllib3 would; returns the next Retry."""
        self.retry = self.retry.increment("POST", PATH + "?id=1", response, error)
        self.retry.sleep(response)
        return self.retry


@pytest.mark.parametrize(
    ("headers", "status", "rng", "cap", "expected"),
    [
        ({"Retry-After": "75"}, 429, 0.0, None, 75.0),
        # Jitter: up to 10% of the wait...
        ({"Retry-After": "75"}, 429, 1.0, None, 82.5),
        # ...and at least up to 1 s: Retry-After's whole seconds tell no two requests apart.
        ({"Retry-After": "5"}, 429, 1.0, None, 6.0),
        ({"Retry-After": " 75 "}, 429, 0.0, None, 75.0),
        # "Now" means now: no jitter on zero.
        ({"Retry-After": "0"}, 429, 1.0, None, 0.0),
        ({"Retry-After": "30"}, 503, 0.0, None, 30.0),
        ({"Retry-After": http_date(20)}, 429, 0.0, None, 20.0),
        ({"Retry-After": http_date(20)}, 429, 1.0, None, 22.0),
        ({"Retry-After": http_date(-30)}, 429, 1.0, None, 0.0),
        # retry-after-ms wins over Retry-After, and its jitter is 10% only.
        ({"retry-after-ms": "250"}, 429, 1.0, None, 0.275),
        ({"retry-after-ms": "1500", "Retry-After": "9"}, 429, 0.0, None, 1.5),
        ({"retry-after-ms": "soon", "Retry-After": "9"}, 429, 0.0, None, 9.0),
        ({"retry-after-ms": "-5", "Retry-After": "9"}, 429, 0.0, None, 9.0),
        ({"retry-after-ms": "nan"}, 429, 0.0, None, 1.0),
        # The cap: Cloudflare's 300 s block by default, then the jitter on top.
        ({"Retry-After": "3600"}, 429, 0.0, None, 300.0),
        ({"Retry-After": "3600"}, 429, 1.0, None, 330.0),
        ({"Retry-After": http_date(86_400)}, 429, 0.0, None, 300.0),
        ({"retry-after-ms": "600000"}, 429, 0.0, None, 300.0),
        ({"Retry-After": "75"}, 429, 0.0, 60.0, 60.0),
        ({"Retry-After": "75"}, 429, 0.0, 600.0, 75.0),
        # Malformed: exponential backoff (1 s, plus up to 1 s of jitter).
        ({"Retry-After": "soon"}, 429, 0.0, None, 1.0),
        ({"Retry-After": "soon"}, 429, 1.0, None, 2.0),
        ({"Retry-After": "1.5"}, 429, 0.0, None, 1.0),
        ({"Retry-After": "-3"}, 429, 0.0, None, 1.0),
        ({"Retry-After": ""}, 429, 0.0, None, 1.0),
        ({}, 429, 0.0, None, 1.0),
        ({}, 503, 1.0, None, 2.0),
    ],
)
def test_wait_after_an_answer(
    headers: dict[str, str], status: int, rng: float, cap: float | None, expected: float
) -> None:
    """Each answer's headers give this wait before the next attempt."""
    harness = Harness(rng, **({} if cap is None else {"retry_after_max": cap}))
    harness.fail(answer(status, **headers))
    assert harness.clock.sleeps == ([pytest.approx(expected)] if expected else [])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        ("0", 0.0),
        (http_date(20), 20.0),
        (http_date(-20), 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
        ("soon", None),
        ("1.5", None),
        ("-1", None),
        ("", None),
    ],
)
def test_parse_retry_after(value: str, expected: float | None) -> None:
    """Retry-After is whole seconds or an HTTP date (a past date means now); else None."""
    assert parse_retry_after(value, WALL) == expected


@pytest.mark.parametrize(
    ("retries", "rng", "factor", "expected"),
    [
        (1, 0.0, 1.0, 1.0),
        (1, 1.0, 1.0, 2.0),
        (2, 0.0, 1.0, 2.0),
        (2, 1.0, 1.0, 3.0),
        (4, 1.0, 1.0, 9.0),
        (4, 1.0, 10.0, 30.0),  # capped at backoff_max
    ],
)
def test_backoff_doubles_with_bounded_jitter(
    retries: int, rng: float, factor: float, expected: float
) -> None:
    """Backoff is factor * 2^(n-1) plus up to `jitter` seconds, capped at backoff_max."""
    harness = Harness(rng, max_attempts=10, backoff_factor=factor)
    for _ in range(retries):
        harness.fail(answer(503))
    assert harness.clock.sleeps[-1] == pytest.approx(expected)


def test_defaults_are_cloudflares_block_and_the_production_backoff() -> None:
    """RetryPolicy's defaults: 5 attempts, 1 s backoff and jitter, Retry-After up to 300 s."""
    policy = RetryPolicy()
    assert (policy.max_attempts, policy.backoff_factor, policy.jitter) == (5, 1.0, 1.0)
    assert policy.retry_after_max == DEFAULT_RETRY_AFTER_MAX == 300.0


def test_concurrent_429s_do_not_retry_in_lockstep() -> None:
    """Thirty requests throttled together with Retry-After: 1 spread their retries over 1 s."""
    rng = random.Random(7)
    waits = []
    for _ in range(30):
        harness = Harness()
        harness.policy = replace(harness.policy, rng=rng.random)
        harness.retry = harness.policy.new_retry()
        harness.fail(answer(429, **{"Retry-After": "1"}))
        waits.extend(harness.clock.sleeps)
    assert all(1.0 <= w <= 2.0 for w in waits)
    assert len(set(waits)) == 30
    assert max(waits) - min(waits) > 0.5


def test_a_backoff_wait_that_would_cross_the_budget_is_not_started() -> None:
    """Backoff of 2 s with 1.5 s of budget left: no wait, the retry gives up."""
    harness = Harness(1.0, total_timeout=1.5)
    with pytest.raises(MaxRetryError):
        harness.fail(answer(503))
    assert harness.clock.sleeps == []


def test_the_budget_counts_time_spent_in_attempts() -> None:
    """After 119 s of a 120 s budget spent in attempts, a 1 s backoff is refused."""
    harness = Harness(0.0)
    harness.clock.now += 119.5
    with pytest.raises(MaxRetryError):
        harness.fail(answer(503))


@pytest.mark.parametrize("spent", [0.0, 119.5])
def test_a_retry_after_wait_of_the_cap_is_never_refused_by_the_budget(spent: float) -> None:
    """A 300 s Retry-After (330 s with jitter) is waited however much of the budget is spent."""
    harness = Harness(1.0)
    harness.clock.now += spent
    harness.fail(answer(429, **{"Retry-After": "300"}))
    assert harness.clock.sleeps == [pytest.approx(330.0)]


def test_a_retry_after_wait_does_not_use_up_the_budget() -> None:
    """After a 330 s announced wait, the 120 s budget still has room for backoff."""
    harness = Harness(1.0)
    harness.fail(answer(429, **{"Retry-After": "300"}))
    harness.fail(answer(503))
    assert harness.clock.sleeps == [pytest.approx(330.0), pytest.approx(3.0)]


def test_attempts_bound_repeated_retry_after_waits() -> None:
    """A Retry-After over the cap waits the cap each time; 429s that say when to come back
    use rate_limited_retries before max_attempts: 2 + 2 waits, then the fifth 429 is final."""
    harness = Harness(0.0, max_attempts=3, rate_limited_retries=2)
    for _ in range(4):
        harness.fail(answer(429, **{"Retry-After": "3600"}))
    with pytest.raises(MaxRetryError):
        harness.fail(answer(429, **{"Retry-After": "3600"}))
    assert harness.clock.sleeps == [300.0] * 4


@pytest.mark.parametrize(
    ("response", "counts"),
    [
        (answer(429, **{"Retry-After": "3"}), False),
        (answer(429, **{"retry-after-ms": "250"}), False),
        (answer(429, **{"Retry-After": "0"}), True),  # "now", again and again: an attempt
        (answer(429), True),
        (answer(503, **{"Retry-After": "3"}), True),
    ],
)
def test_only_a_429_that_says_when_spares_an_attempt(response: HTTPResponse, counts: bool) -> None:
    """Of the retried answers, only a 429 announcing a wait leaves max_attempts untouched."""
    harness = Harness(0.0, max_attempts=2, rate_limited_retries=10)
    harness.fail(response)
    if counts:
        with pytest.raises(MaxRetryError):
            harness.fail(response)
    else:
        harness.fail(response)  # a second retry is still allowed


@pytest.mark.parametrize(
    ("response", "error", "reason"),
    [
        (answer(429, **{"Retry-After": "75"}), None, "rate limited (HTTP 429, Retry-After: 75)"),
        (
            answer(429, **{"retry-after-ms": "250"}),
            None,
            "rate limited (HTTP 429, retry-after-ms: 250)",
        ),
        (answer(503, **{"Retry-After": "3"}), None, "HTTP 503, Retry-After: 3"),
        (answer(503), None, "HTTP 503"),
        (answer(429), None, "HTTP 429"),
        (None, ProtocolError("Connection aborted."), "connection error"),
        (None, ReadTimeoutError(cast(Any, None), PATH, "timed out"), "no answer in time"),
    ],
)
def test_the_wait_hook_hears_every_wait(
    response: HTTPResponse | None, error: Exception | None, reason: str
) -> None:
    """The hook gets seconds, reason, method, path (no query) and the coming attempt, first."""
    harness = Harness(0.0)
    sleeps_seen_by_hook: list[int] = []

    def hook(wait: Wait) -> None:
        harness.waits.append(wait)
        sleeps_seen_by_hook.append(len(harness.clock.sleeps))

    harness.policy = replace(harness.policy, on_wait=hook)
    harness.retry = harness.policy.new_retry(method="POST", path=PATH)
    harness.fail(response, error)
    harness.fail(answer(503))
    assert harness.waits[0] == Wait(harness.clock.sleeps[0], reason, "POST", PATH, 2)
    assert harness.waits[1].attempt == 3
    assert sleeps_seen_by_hook == [0, 1]  # each wait is announced before it is slept


# -- over real HTTP, through the client -------------------------------------------------


def test_retry_after_over_http(
    emulator: Emulator, make_client: ClientFactory, sleeps: SleepRecorder
) -> None:
    """A 429 with Retry-After: 75 is waited 75 s plus at most 7.5 s, then the revoke completes."""
    ids = emulator.state.seed(ACCOUNT, 2)
    emulator.inject(status=429, headers={"Retry-After": "75"}, path="/revoke$")
    make_client().revoke(ACCOUNT, ids)
    assert len(sleeps.delays) == 1
    assert 75.0 <= sleeps.delays[0] <= 82.5
    assert emulator.state.revoked_ids(ACCOUNT) == set(ids)
    assert emulator.arrivals() == 2


def test_a_five_minute_block_is_waited_out_over_http(
    emulator: Emulator, make_client: ClientFactory, sleeps: SleepRecorder
) -> None:
    """Cloudflare's 300 s block, twice, fits the default budget: the revoke completes."""
    ids = emulator.state.seed(ACCOUNT, 1)
    emulator.inject(status=429, headers={"Retry-After": "300"}, path="/revoke$", times=2)
    make_client().revoke(ACCOUNT, ids)
    assert [300.0 <= d <= 330.0 for d in sleeps.delays] == [True, True]
    assert emulator.state.revoked_ids(ACCOUNT) == set(ids)


def test_the_wait_hook_over_http(emulator: Emulator) -> None:
    """Through the client, the hook names the method, the path without query, the attempt."""
    ids = emulator.state.seed(ACCOUNT, 1)
    emulator.inject(status=429, headers={"Retry-After": "75"}, path="/revoke$")
    emulator.inject(disconnect="before_response", path="/revoke$")
    clock, waits = FakeClock(), list[Wait]()
    policy = RetryPolicy(sleep=clock.sleep, clock=clock, on_wait=waits.append, rng=lambda: 0.0)
    settings = Settings(ApiToken(DEFAULT_TOKEN), emulator.base_url)
    with CloudflareClient(settings, retry=policy) as client:
        client.revoke(ACCOUNT, ids, endpoint="registrations")
    path = f"/client/v4/accounts/{ACCOUNT}/devices/registrations/revoke"
    assert waits == [
        Wait(75.0, "rate limited (HTTP 429, Retry-After: 75)", "POST", path, 2),
        Wait(2.0, "connection error", "POST", path, 3),
    ]
    assert emulator.state.revoked_ids(ACCOUNT) == set(ids)
