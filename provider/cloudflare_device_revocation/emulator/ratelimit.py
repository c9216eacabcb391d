"""Cloudflare's API rate limit, modelled: a quota per fixed window, then a block of 429s.

Documented by Cloudflare: 1,200 requests per five minutes per user; past that, every call
is answered 429 for the next five minutes; REST answers carry ``Ratelimit`` (remaining
quota ``r``, seconds until the window resets ``t``) and ``Ratelimit-Policy`` (quota ``q``,
window ``w``); a 429 carries ``Retry-After``, seconds rounded up.

Assumed here: the window is fixed (not sliding) and opens at the first request counted
after the previous one closed; the request that goes over the quota is itself refused and
starts the block; requests refused during a block do not count against any window, and a
new window opens at the first request after the block; during a block ``Ratelimit`` says
``r=0`` and ``t`` = seconds left in the block; one bucket serves every credential.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RateLimit", "RateLimiter"]

Clock = Callable[[], float]


@dataclass(frozen=True)
class RateLimit:
    """The limit's settings; ``clock`` returns seconds (tests pass a fake one)."""

    quota: int = 1200
    window: float = 300.0
    block: float = 300.0
    clock: Clock = field(default=time.monotonic, compare=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.quota, bool) or not isinstance(self.quota, int) or self.quota < 1:
            raise ValueError(f"Expected a quota >= 1 but received {self.quota!r}")
        for name in ("window", "block"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"Expected {name} > 0 seconds but received {value!r}")

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> RateLimit:
        """Settings from the control surface's JSON (``quota``, ``window``, ``block``)."""
        unknown = set(raw) - {"quota", "window", "block"}
        if unknown:
            raise ValueError(
                f"Unknown rate-limit fields: {sorted(unknown)}; expected block, quota, window"
            )
        return cls(**raw)

    def to_dict(self) -> dict[str, Any]:
        return {"quota": self.quota, "window": self.window, "block": self.block}


def _seconds(value: float) -> int:
    """Whole seconds, rounded up, as the headers carry them (float noise is not a second)."""
    return max(math.ceil(value - 1e-9), 0)


class RateLimiter:
    """Admits or refuses each API request under one ``RateLimit``; safe from any thread."""

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._window_start: float | None = None
        self._used = 0
        self._blocked_until: float | None = None

    def admit(self) -> tuple[bool, dict[str, str]]:
        """Count one request: (whether to serve it, the headers its answer carries)."""
        limit = self.limit
        policy = f'"default";q={limit.quota};w={_seconds(limit.window)}'
        with self._lock:
            now = limit.clock()
            if self._blocked_until is not None and now < self._blocked_until:
                return self._refuse(self._blocked_until - now, policy)
            if self._blocked_until is not None:
                self._blocked_until = None
                self._window_start = None
            if self._window_start is None or now >= self._window_start + limit.window:
                self._window_start, self._used = now, 0
            self._used += 1
            if self._used > limit.quota:
                self._blocked_until = now + limit.block
                return self._refuse(limit.block, policy)
            reset = limit.window - (now - self._window_start)
            remaining = limit.quota - self._used
            return True, {
                "Ratelimit": f'"default";r={remaining};t={_seconds(reset)}',
                "Ratelimit-Policy": policy,
            }

    @staticmethod
    def _refuse(left: float, policy: str) -> tuple[bool, dict[str, str]]:
        return False, {
            "Ratelimit": f'"default";r=0;t={_seconds(left)}',
            "Ratelimit-Policy": policy,
            "Retry-After": str(_seconds(left)),
        }
