"""The provider within Cloudflare's rate limit: waits it out, says so, and paces shared quota.

The emulator's rate-limit model and the provider's limiter run on one fake clock, so that
minutes of waiting take no real time.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import pytest
from pulumi.dynamic import ConfigureRequest
from pulumi.dynamic.config import Config

from cloudflare_device_revocation import CloudflareClient, DeviceRevocationProvider, Settings
from cloudflare_device_revocation.emulator import DEFAULT_TOKEN, Emulator
from cloudflare_device_revocation.ratelimit import RateLimiter, WaitHook
from support import ACCOUNT, FakeClock, SleepRecorder, provider_for


def test_a_retry_after_of_75_s_is_waited_out_and_said(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 429 with Retry-After: 75 is waited out (75 s plus jitter), the user is told, and
    the revoke completes."""
    ids = emulator.state.seed(ACCOUNT, 2)
    emulator.inject(method="POST", path=r"/revoke$", status=429, headers={"Retry-After": "75"})
    sleeps = SleepRecorder()
    provider = provider_for(emulator, sleeps)
    inputs = provider.check(
        {}, {"account_id": ACCOUNT, "registration_ids": ids, "resource_name": "lost"}
    ).inputs
    outs = provider.create(inputs).outs or {}
    assert outs["revoked_ids"] == ids
    [wait] = sleeps.delays
    assert 75.0 <= wait <= 82.5
    said = capsys.readouterr().out
    assert (
        "DeviceRevocation lost: rate limited (HTTP 429, Retry-After: 75): "
        f"waiting {wait:.0f} s before attempt 2 of POST "
    ) in said


def test_four_resources_at_once_stay_within_a_quota_of_40_per_15_s(emulator: Emulator) -> None:
    """Four creates of 3,000 IDs in parallel, sharing one limiter as in one provider process,
    against 40 requests per 15 s: every ID revoked and not one 429."""
    clock = FakeClock()
    emulator.set_rate_limit(40, window=15.0, block=300.0, clock=clock)
    limiter = RateLimiter(reserve=0.1, clock=clock, sleep=clock.sleep)
    waits: list[str] = []

    def client_factory(settings: Settings, on_wait: WaitHook) -> CloudflareClient:
        def hook(wait: Any) -> None:
            waits.append(wait.reason)
            on_wait(wait)

        policy = replace(
            settings.retry_policy(on_wait=hook), sleep=clock.sleep, clock=clock, wall_clock=clock
        )
        return CloudflareClient(settings, retry=policy, limiter=limiter)

    provider = DeviceRevocationProvider(client_factory=client_factory)
    config = {"cloudflare:apiToken": DEFAULT_TOKEN, "cloudflare:baseUrl": emulator.base_url}
    provider.configure(ConfigureRequest(Config(config, "test")))
    accounts = [f"{n:x}" * 32 for n in range(10, 14)]
    seeded = {account: emulator.state.seed(account, 3000) for account in accounts}
    errors: list[BaseException] = []

    def create(account: str) -> None:
        try:
            inputs = provider.check(
                {}, {"account_id": account, "registration_ids": seeded[account]}
            ).inputs
            provider.create(inputs)
        except BaseException as exc:  # reported below, on the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(a,)) for a in accounts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    for account in accounts:
        assert emulator.state.revoked_ids(account) == set(seeded[account])
    assert emulator.rate_limited() == 0
    assert [r for r in emulator.requests.all() if r.status == 429] == []
    assert any(reason.startswith("pacing:") for reason in waits), "the limiter had to pace"
