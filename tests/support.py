"""Constants and helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import requests
from pulumi.dynamic import ConfigureRequest
from pulumi.dynamic.config import Config

from cloudflare_device_revocation import CloudflareClient, DeviceRevocationProvider, Settings
from cloudflare_device_revocation.emulator import DEFAULT_TOKEN, Emulator
from cloudflare_device_revocation.ratelimit import WaitHook

ACCOUNT = "699d98642c564d2e855e9661899b7252"
OTHER_ACCOUNT = "0123456789abcdef0123456789abcdef"

ClientFactory = Callable[..., CloudflareClient]


class SleepRecorder:
    """Records the waits a retry policy asks for, without sleeping."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


class GatedSession(requests.Session):
    """A session whose first ``parties`` requests wait at a barrier: they pass only if that
    many are in flight at once (else the barrier breaks after 10 s and the request fails).
    ``most`` is the most requests it had in flight at once."""

    def __init__(self, parties: int) -> None:
        super().__init__()
        self.barrier = threading.Barrier(parties, timeout=10)
        self.lock = threading.Lock()
        self.sent = 0
        self.in_flight = 0
        self.most = 0

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        with self.lock:
            self.sent += 1
            gated = self.sent <= self.barrier.parties
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        try:
            if gated:
                self.barrier.wait()
            return super().send(request, **kwargs)
        finally:
            with self.lock:
                self.in_flight -= 1


def provider_for(
    emulator: Emulator,
    sleeps: SleepRecorder | None = None,
    session: requests.Session | None = None,
    /,
    **config: str,
) -> DeviceRevocationProvider:
    """A configured provider aimed at ``emulator`` whose retry waits are recorded, not slept
    (its clients send through ``session`` when one is given)."""
    recorder = sleeps if sleeps is not None else SleepRecorder()

    def client_factory(settings: Settings, on_wait: WaitHook) -> CloudflareClient:
        policy = replace(settings.retry_policy(on_wait=on_wait), sleep=recorder)
        return CloudflareClient(settings, retry=policy, session=session)

    provider = DeviceRevocationProvider(client_factory=client_factory)
    stack_config = {
        "cloudflare:apiToken": DEFAULT_TOKEN,
        "cloudflare:baseUrl": emulator.base_url,
        **config,
    }
    provider.configure(ConfigureRequest(Config(stack_config, "test")))
    return provider


class FakeClock:
    """A monotonic clock that moves only when something sleeps on it (thread-safe)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += max(seconds, 0.0)
