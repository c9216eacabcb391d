"""The fault matrix: every fault the emulator can inject, through the client and the provider.

For each case: the outcome (revoked, refused, or which error), how many revoke requests
reached the server, which waits the retry policy asked for, and a bound on wall time.
Waits are recorded instead of slept, through the client and through the provider (whose
client factory is given a fake sleep, as production code never is).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

import pytest

from cloudflare_device_revocation import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CloudflareError,
    DeploymentError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RevocationError,
)
from cloudflare_device_revocation.emulator import DEFAULT_TOKEN, Emulator
from support import ACCOUNT, ClientFactory, SleepRecorder, provider_for

ATTEMPTS = 3  # the client's max_attempts, and the provider's cloudflare:retries + 1
ENVELOPE_FAILURE = {
    "success": False,
    "errors": [{"code": 1234, "message": "accepted but refused"}],
    "messages": [],
    "result": None,
}


def http_date_in(seconds: float) -> str:
    return formatdate(time.time() + seconds, usegmt=True)


@dataclass(frozen=True)
class Case:
    """One row of the matrix."""

    name: str
    faults: Callable[[], list[dict[str, Any]]]
    outcome: type[CloudflareError] | None  # None: the IDs end up revoked
    requests: int  # revoke requests that reach the server
    waits: tuple[tuple[float, float], ...] = ()  # (low, high) per wait, client path
    bound: float = 2.0  # seconds of wall time, provider path included
    provider: bool = True  # timeouts are a transport matter: client path only
    message: str = ""
    timeout: tuple[float, float] = (5.0, 5.0)
    refused: bool = False  # the client returns the IDs as refused rather than raising


def once(**fault: Any) -> Callable[[], list[dict[str, Any]]]:
    return lambda: [fault]


def always(**fault: Any) -> Callable[[], list[dict[str, Any]]]:
    return lambda: [{**fault, "times": -1}]


BACKOFF_1 = (1.0, 2.0)  # the production policy: 1 s doubled per retry, + up to 1 s jitter
BACKOFF_2 = (2.0, 3.0)

CASES = [
    # Retry-After waits get jitter: up to 10% of the wait, and for Retry-After at least 1 s.
    Case(
        "429 Retry-After: 1",
        once(status=429, headers={"Retry-After": "1"}),
        None,
        2,
        ((1.0, 2.0),),
        bound=3.0,
    ),
    # A date 20 s ahead (whole seconds: 19 to 20 s away) is far outside the backoff's range,
    # so ignoring HTTP dates fails here.
    Case(
        "429 Retry-After: HTTP date",
        lambda: [{"status": 429, "headers": {"Retry-After": http_date_in(20)}}],
        None,
        2,
        ((18.5, 22.0),),
    ),
    Case(
        "429 retry-after-ms: 250",
        once(status=429, headers={"retry-after-ms": "250"}),
        None,
        2,
        ((0.25, 0.275),),
    ),
    Case("429 without Retry-After", once(status=429), None, 2, (BACKOFF_1,)),
    # Retry-After: 0 is honoured as "retry now": no wait at all.
    Case(
        "429 persistent, Retry-After: 0",
        always(status=429, headers={"Retry-After": "0"}),
        RateLimitError,
        ATTEMPTS,
        (),
        message="HTTP 429 after 3 attempts",
    ),
    Case("500 once", once(status=500), None, 2, (BACKOFF_1,)),
    Case("502 once", once(status=502), None, 2, (BACKOFF_1,)),
    Case("503 once", once(status=503), None, 2, (BACKOFF_1,)),
    Case("504 once", once(status=504), None, 2, (BACKOFF_1,)),
    Case("503 twice", lambda: [{"status": 503, "times": 2}], None, 3, (BACKOFF_1, BACKOFF_2)),
    Case(
        "502 HTML once",
        once(status=502, body="<html>502 Bad Gateway</html>"),
        None,
        2,
        (BACKOFF_1,),
    ),
    Case(
        "503 persistent",
        always(status=503, message="overloaded"),
        InternalServerError,
        ATTEMPTS,
        (BACKOFF_1, BACKOFF_2),
        message="[1000] overloaded",
    ),
    Case(
        "502 HTML persistent",
        always(status=502, body="<html>Bad Gateway</html>"),
        InternalServerError,
        ATTEMPTS,
        (BACKOFF_1, BACKOFF_2),
        message="not Cloudflare's JSON envelope",
    ),
    Case(
        "200 success=false",
        once(status=200, body=ENVELOPE_FAILURE),
        APIStatusError,
        1,
        message="success=false: [1234] accepted but refused",
    ),
    # A refused request of 3 IDs is split, [a] and [b, c], then [b] and [c]: 5 requests.
    Case("400 once", once(status=400, code=1001, message="bad"), None, 2 + 1),
    Case(
        "400 persistent",
        always(status=400, code=1001, message="bad"),
        BadRequestError,
        5,
        message="[1001] bad",
        refused=True,
    ),
    Case(
        "401",
        once(status=401, code=10000, message="Authentication error"),
        AuthenticationError,
        1,
        message="Zero Trust Write",
    ),
    Case(
        "403 code 10000",
        once(status=403, code=10000, message="Authentication error"),
        PermissionDeniedError,
        1,
        message="[10000] Authentication error",
    ),
    Case(
        "404 code 7003 persistent",
        always(status=404, code=7003, message="Could not route"),
        NotFoundError,
        5,
        message="check the account ID",
        refused=True,
    ),
    Case(
        "200 HTML body",
        once(status=200, body="<html>maintenance</html>"),
        APIResponseValidationError,
        1,
        message="'<html>maintenance</html>'",
    ),
    Case(
        "200 empty body",
        once(status=200, body=""),
        APIResponseValidationError,
        1,
        message="'<empty body>'",
    ),
    Case(
        "200 truncated JSON",
        once(status=200, body='{"success": true, "errors": [], "res'),
        APIResponseValidationError,
        1,
        message="not Cloudflare's JSON envelope",
    ),
    Case(
        "reset before the answer, once", once(disconnect="before_response"), None, 2, (BACKOFF_1,)
    ),
    Case(
        "reset before the answer, persistent",
        always(disconnect="before_response"),
        APIConnectionError,
        ATTEMPTS,
        (BACKOFF_1, BACKOFF_2),
        message="no answer",
    ),
    Case(
        "reset mid-answer",
        once(
            status=200,
            body={"success": True, "errors": [], "messages": [], "result": None},
            disconnect="mid_body",
        ),
        APIConnectionError,
        1,
        message="may have been applied",
    ),
    Case(
        "never answers (read timeout)",
        always(status=None, delay=1.0),
        APITimeoutError,
        ATTEMPTS,
        (BACKOFF_1, BACKOFF_2),
        provider=False,
        timeout=(1.0, 0.3),
        message="no answer in time",
    ),
    Case(
        "slow, just under the timeout",
        once(status=None, delay=0.2),
        None,
        1,
        provider=False,
        timeout=(1.0, 0.5),
    ),
]


def arm(emulator: Emulator, case: Case) -> list[str]:
    ids = emulator.state.seed(ACCOUNT, 3)
    for fault in case.faults():
        emulator.inject(**{"method": "POST", **fault})
    return ids


def settle(emulator: Emulator) -> None:
    """Let the server finish handlers that the client stopped waiting for."""
    deadline = time.monotonic() + 3
    while emulator._server.in_flight and time.monotonic() < deadline:
        time.sleep(0.02)


def revoke_arrivals(emulator: Emulator) -> int:
    return len(emulator.requests.matching("POST", r"/revoke$"))


def check_waits(sleeps: SleepRecorder, case: Case) -> None:
    assert len(sleeps.delays) == len(case.waits)
    for delay, (low, high) in zip(sleeps.delays, case.waits, strict=True):
        assert low <= delay <= high


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_through_the_client(
    emulator: Emulator, make_client: ClientFactory, sleeps: SleepRecorder, case: Case
) -> None:
    """The client's outcome, request count and requested waits for this fault."""
    ids = arm(emulator, case)
    client = make_client(max_attempts=ATTEMPTS, timeout=case.timeout)
    started = time.monotonic()
    if case.outcome is None:
        client.revoke(ACCOUNT, ids)
        assert emulator.state.revoked_ids(ACCOUNT) == set(ids)
    elif case.refused:
        result = client.revoke(ACCOUNT, ids)
        assert sorted(result.refused) == sorted(ids) and result.accepted == ()
        assert all(type(r.error) is case.outcome for r in result.refusals)
        assert all(case.message in str(r.error) for r in result.refusals)
    else:
        with pytest.raises(RevocationError) as caught:
            client.revoke(ACCOUNT, ids)
        assert type(caught.value.cause) is case.outcome
        assert case.message in str(caught.value)
        assert caught.value.not_revoked == tuple(ids)
    elapsed = time.monotonic() - started
    settle(emulator)
    assert emulator.arrivals() == case.requests
    check_waits(sleeps, case)
    assert elapsed < case.bound


@pytest.mark.parametrize("case", [c for c in CASES if c.provider], ids=lambda c: c.name)
def test_through_the_provider(emulator: Emulator, sleeps: SleepRecorder, case: Case) -> None:
    """The provider fails the deployment (or revokes) as the client does, with the same waits."""
    ids = arm(emulator, case)
    provider = provider_for(emulator, sleeps, **{"cloudflare:retries": str(ATTEMPTS - 1)})
    inputs = provider.check({}, {"account_id": ACCOUNT, "registration_ids": ids}).inputs
    if case.outcome is None:
        outs = provider.create(inputs).outs or {}
        assert outs["revoked_ids"] == ids
        assert emulator.state.revoked_ids(ACCOUNT) == set(ids)
    else:
        with pytest.raises(DeploymentError) as caught:
            provider.create(inputs)
        assert case.message in str(caught.value)
        assert DEFAULT_TOKEN not in str(caught.value)
        assert emulator.state.revoked_ids(ACCOUNT) == set()
    settle(emulator)
    assert revoke_arrivals(emulator) == case.requests
    check_waits(sleeps, case)


def test_connection_refused(sleeps: SleepRecorder) -> None:
    """Nothing listening: APIConnectionError after 3 attempts (2 waits), well under a second."""
    from cloudflare_device_revocation import CloudflareClient, RetryPolicy, Settings
    from cloudflare_device_revocation.settings import ApiToken

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = CloudflareClient(
        Settings(ApiToken(DEFAULT_TOKEN), f"http://127.0.0.1:{port}/client/v4"),
        retry=RetryPolicy(max_attempts=ATTEMPTS, sleep=sleeps),
    )
    started = time.monotonic()
    with pytest.raises(RevocationError) as caught:
        client.revoke(ACCOUNT, ["a"])
    assert type(caught.value.cause) is APIConnectionError
    assert len(sleeps.delays) == ATTEMPTS - 1
    assert time.monotonic() - started < 1.0
