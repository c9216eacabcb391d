"""Constants and helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from cloudflare_device_revocation import CloudflareClient

ACCOUNT = "699d98642c564d2e855e9661899b7252"
OTHER_ACCOUNT = "0123456789abcdef0123456789abcdef"

ClientFactory = Callable[..., CloudflareClient]


class SleepRecorder:
    """Records the waits a retry policy asks for, without sleeping."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


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
