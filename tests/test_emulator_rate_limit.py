"""The emulator's model of Cloudflare's rate limit, driven by a fake clock over real HTTP."""

from __future__ import annotations

import pytest
import requests

from cloudflare_device_revocation.emulator import DEFAULT_TOKEN, Emulator, RateLimit
from support import ACCOUNT
from test_emulator import codes

REGISTRATIONS = f"/accounts/{ACCOUNT}/devices/registrations"


class FakeClock:
    """Seconds that pass only when a test says so."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def get(
    emulator: Emulator, path: str = REGISTRATIONS, token: str = DEFAULT_TOKEN
) -> requests.Response:
    return requests.get(
        emulator.base_url + path, headers={"Authorization": f"Bearer {token}"}, timeout=5
    )


def seen(response: requests.Response) -> tuple[int, str | None, str | None]:
    """Status, ``Ratelimit`` and ``Retry-After`` of one answer."""
    return (
        response.status_code,
        response.headers.get("Ratelimit"),
        response.headers.get("Retry-After"),
    )


def test_quota_then_block_then_a_fresh_window(emulator: Emulator, clock: FakeClock) -> None:
    """Headers count down; the request over the quota starts a block of 429s; then a new window."""
    emulator.set_rate_limit(3, window=60, block=120, clock=clock)
    policy = '"default";q=3;w=60'

    answers = [seen(get(emulator))]
    clock.advance(10.5)
    answers += [seen(get(emulator)), seen(get(emulator))]
    clock.advance(10)
    over = get(emulator)
    clock.advance(119.5)
    last_blocked = get(emulator)
    clock.advance(0.5)
    after = get(emulator)

    assert answers == [
        (200, '"default";r=2;t=60', None),
        (200, '"default";r=1;t=50', None),
        (200, '"default";r=0;t=50', None),
    ]
    assert seen(over) == (429, '"default";r=0;t=120', "120")
    assert codes(over.json()) == [971]
    assert over.json()["errors"][0]["message"] == (
        "Please wait and consider throttling your request speed"
    )
    assert seen(last_blocked) == (429, '"default";r=0;t=1', "1")
    assert seen(after) == (200, '"default";r=2;t=60', None)  # blocked requests did not count
    assert all(r.headers["Ratelimit-Policy"] == policy for r in (over, last_blocked, after))
    assert emulator.rate_limited() == 2
    assert [r.status for r in emulator.requests.all()] == [200, 200, 200, 429, 429, 200]


def test_a_block_shorter_than_the_window_opens_a_new_window(
    emulator: Emulator, clock: FakeClock
) -> None:
    """After a block the count starts afresh, even before the old window would have ended."""
    emulator.set_rate_limit(2, window=60, block=10, clock=clock)
    assert [get(emulator).status_code for _ in range(3)] == [200, 200, 429]
    clock.advance(5)
    assert seen(get(emulator)) == (429, '"default";r=0;t=5', "5")
    clock.advance(5)
    assert seen(get(emulator)) == (200, '"default";r=1;t=60', None)
    assert seen(get(emulator)) == (200, '"default";r=0;t=60', None)


def test_the_window_resets_without_a_block(emulator: Emulator, clock: FakeClock) -> None:
    """Within the quota, the count starts again once the window has passed."""
    emulator.set_rate_limit(2, window=10, block=300, clock=clock)
    assert seen(get(emulator))[:2] == (200, '"default";r=1;t=10')
    clock.advance(9.99)
    assert seen(get(emulator))[:2] == (200, '"default";r=0;t=1')
    clock.advance(0.01)
    assert seen(get(emulator))[:2] == (200, '"default";r=1;t=10')
    assert emulator.rate_limited() == 0


def test_every_api_answer_counts_and_carries_the_headers(
    emulator: Emulator, clock: FakeClock
) -> None:
    """Refusals (bad token, no route) count against the quota and say so in their headers."""
    emulator.set_rate_limit(3, window=60, block=60, clock=clock)
    answers = [
        seen(get(emulator, token="wrong")),
        seen(get(emulator, "/nowhere")),
        seen(get(emulator)),
        seen(get(emulator)),
    ]
    assert answers == [
        (403, '"default";r=2;t=60', None),
        (404, '"default";r=1;t=60', None),
        (200, '"default";r=0;t=60', None),
        (429, '"default";r=0;t=60', "60"),
    ]


def test_retry_after_rounds_up(emulator: Emulator, clock: FakeClock) -> None:
    """Retry-After and t are whole seconds rounded up, never 0 while blocked."""
    emulator.set_rate_limit(1, window=1.5, block=2.5, clock=clock)
    assert get(emulator).headers["Ratelimit-Policy"] == '"default";q=1;w=2'
    assert seen(get(emulator)) == (429, '"default";r=0;t=3', "3")
    clock.advance(2.4)
    assert seen(get(emulator)) == (429, '"default";r=0;t=1', "1")


def test_injected_faults_bypass_the_limit(emulator: Emulator, clock: FakeClock) -> None:
    """A fault answers as injected, uncounted and without rate-limit headers, even in a block."""
    emulator.set_rate_limit(1, window=60, block=60, clock=clock)
    emulator.inject(status=503, times=1)
    faulted = get(emulator)
    assert (faulted.status_code, faulted.headers.get("Ratelimit")) == (503, None)
    assert seen(get(emulator))[:2] == (200, '"default";r=0;t=60')  # the fault did not count
    assert get(emulator).status_code == 429
    emulator.inject(status=500, times=1)
    assert get(emulator).status_code == 500
    assert get(emulator).status_code == 429
    assert emulator.rate_limited() == 2


def test_off_by_default_and_turned_off_with_none(emulator: Emulator, clock: FakeClock) -> None:
    """Without a limit there are no headers; ``set_rate_limit(None)`` ends one mid-block."""
    assert emulator.rate_limit is None
    assert "Ratelimit" not in get(emulator).headers
    emulator.set_rate_limit(1, window=60, block=60, clock=clock)
    assert emulator.rate_limit == RateLimit(1, 60, 60)
    get(emulator)
    assert get(emulator).status_code == 429
    emulator.set_rate_limit(None)
    response = get(emulator)
    assert response.status_code == 200 and "Ratelimit" not in response.headers
    assert emulator.rate_limited() == 1


def test_defaults_are_cloudflares_documented_limit(emulator: Emulator) -> None:
    """``set_rate_limit()`` means 1,200 requests per 300 seconds, then 300 seconds blocked."""
    emulator.set_rate_limit()
    response = get(emulator)
    assert response.headers["Ratelimit-Policy"] == '"default";q=1200;w=300'
    assert response.headers["Ratelimit"] == '"default";r=1199;t=300'


def test_rate_limit_over_the_control_surface(emulator: Emulator) -> None:
    """POST turns it on, DELETE (or POST null) off; GET reports it and the 429s sent."""
    control = f"http://127.0.0.1:{emulator.port}/__emulator"
    assert requests.get(f"{control}/rate-limit", timeout=5).json() == {
        "rate_limit": None,
        "rate_limited": 0,
    }
    on = requests.post(
        f"{control}/rate-limit", json={"quota": 1, "window": 60, "block": 30}, timeout=5
    ).json()
    assert on == {"rate_limit": {"quota": 1, "window": 60, "block": 30}, "rate_limited": 0}
    assert get(emulator).status_code == 200
    refused = get(emulator)
    assert (refused.status_code, refused.headers["Retry-After"]) == (429, "30")
    assert requests.get(f"{control}/health", timeout=5).status_code == 200  # never limited
    assert requests.get(f"{control}/rate-limit", timeout=5).json()["rate_limited"] == 1
    off = requests.delete(f"{control}/rate-limit", timeout=5).json()
    assert off == {"rate_limit": None, "rate_limited": 1}
    assert get(emulator).status_code == 200
    requests.post(f"{control}/rate-limit", json={}, timeout=5)  # {}: Cloudflare's limit
    assert get(emulator).headers["Ratelimit-Policy"] == '"default";q=1200;w=300'
    null = {"Content-Type": "application/json"}
    off = requests.post(f"{control}/rate-limit", data="null", headers=null, timeout=5).json()
    assert off["rate_limit"] is None
    bad = requests.post(f"{control}/rate-limit", json={"quota": 0}, timeout=5)
    assert bad.status_code == 400 and "quota" in bad.json()["error"]
    bad = requests.post(f"{control}/rate-limit", json={"burst": 5}, timeout=5)
    assert bad.status_code == 400 and "burst" in bad.json()["error"]
    requests.post(f"{control}/rate-limit", json={"quota": 5}, timeout=5)
    requests.post(f"{control}/reset", timeout=5)
    assert requests.get(f"{control}/rate-limit", timeout=5).json() == {
        "rate_limit": None,
        "rate_limited": 0,
    }


def test_reset_restores_the_rate_limit_the_emulator_was_made_with(clock: FakeClock) -> None:
    """``reset()`` keeps the constructor's limit, with a fresh window and a zero count."""
    with Emulator(rate_limit=RateLimit(1, 60, 60, clock)) as emulator:
        emulator.state.account(ACCOUNT)
        get(emulator)
        assert get(emulator).status_code == 429
        emulator.set_rate_limit(None)
        emulator.reset()
        emulator.state.account(ACCOUNT)
        assert emulator.rate_limited() == 0
        assert seen(get(emulator))[:2] == (200, '"default";r=0;t=60')


@pytest.mark.parametrize(
    "fields",
    [{"quota": 0}, {"quota": 1.5}, {"window": 0}, {"block": -1}, {"window": True}],
)
def test_bad_rate_limits_are_refused(fields: dict[str, float]) -> None:
    """A quota below 1 or a window or block that is not a positive number is refused."""
    with pytest.raises(ValueError):
        RateLimit(**fields)  # type: ignore[arg-type]
