"""RateLimiter: paces requests on Cloudflare's ``Ratelimit`` headers, one limiter per token.

Cloudflare allows 1,200 requests per 5 minutes per user or token, across everything that
uses it; going over blocks every call for 5 minutes. Every response says where it stands,
in the format of the IETF RateLimit header drafts::

    Ratelimit: "default";r=<remaining>;t=<seconds to reset>
    Ratelimit-Policy: "default";q=<quota>;w=<window seconds>

``acquire()`` goes before every attempt and ``observe()`` after every response (``release()``
after an attempt that got none). The requests acquired and not yet observed are "in
flight": they may already have used quota that no response has reported yet (an attempt
that got no answer stops counting; if Cloudflare counted it, the next ``r`` says so). When
``remaining - in flight`` falls to the reserve (``reserve`` of the quota, kept for the
user's other tools), ``acquire()`` waits until the announced reset. ``block_until()`` holds
every caller back until a time (a 429 answered with Retry-After). Without headers there is
nothing to go on, and nothing is paced; malformed headers are ignored. One ``acquire()``
never waits longer than ``max_wait`` in all.

Assumptions (no Cloudflare source documents them):

- ``t`` counts down to the end of a fixed window, after which the whole quota ``q`` is
  available again; ``t`` is whole seconds and may be rounded down, so the limiter counts
  the reset ``RESET_MARGIN`` seconds later than announced.
- ``r`` already counts the request it answers.

Several comma-separated items in one header are several policies: the one with the fewest
requests remaining governs.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

__all__ = [
    "DEFAULT_MAX_WAIT",
    "DEFAULT_RESERVE",
    "RESET_MARGIN",
    "QuotaPolicy",
    "QuotaState",
    "RateLimiter",
    "Wait",
    "WaitHook",
    "parse_ratelimit",
    "parse_ratelimit_policy",
    "shared_limiter",
]

log = logging.getLogger(__name__)

DEFAULT_RESERVE = 0.1
# Cloudflare's window, and how long it blocks a token that went over.
DEFAULT_MAX_WAIT = 300.0
RESET_MARGIN = 1.0
# Waits up to this long are too short to tell anyone about.
SILENT_WAIT = 1.0

T = TypeVar("T")
Clock = Callable[[], float]
Sleeper = Callable[[float], None]


@dataclass(frozen=True)
class Wait:
    """One wait about to happen: how long, why, and for which request and attempt.

    ``attempt`` is the attempt that follows the wait (1 for the first try); ``path`` is
    the request's path without its query.
    """

    seconds: float
    reason: str
    method: str = ""
    path: str = ""
    attempt: int = 1


# Called before every wait; it must not raise.
WaitHook = Callable[[Wait], None]


@dataclass(frozen=True)
class QuotaState:
    """One item of a ``Ratelimit`` header: requests left and seconds until the reset."""

    name: str
    remaining: int
    reset: float


@dataclass(frozen=True)
class QuotaPolicy:
    """One item of a ``Ratelimit-Policy`` header: the quota and its window in seconds."""

    name: str
    quota: int
    window: float | None


_STRING = r'"(?:[^"\\]|\\.)*"'
_ITEM = re.compile(rf"\s*({_STRING}|[A-Za-z*][\w:/.*!#$%&'+^`|~-]*)\s*")
_PARAM = re.compile(rf";\s*([a-z*][a-z0-9_.*-]*)\s*(?:=\s*({_STRING}|[^;,\s]+))?\s*")


def _items(value: str) -> list[tuple[str, dict[str, str]]]:
    """A structured-field list: ``name;key=value;..., name;...``; ValueError if malformed."""
    items: list[tuple[str, dict[str, str]]] = []
    pos = 0
    while True:
        item = _ITEM.match(value, pos)
        if item is None:
            raise ValueError(f"expected a policy name at {value[pos:]!r}")
        name = item.group(1)
        pos = item.end()
        params: dict[str, str] = {}
        while (param := _PARAM.match(value, pos)) is not None:
            params[param.group(1)] = param.group(2) or ""
            pos = param.end()
        items.append((name.strip('"'), params))
        if pos == len(value):
            return items
        if value[pos] != ",":
            raise ValueError(f"unexpected {value[pos:]!r}")
        pos += 1


def _count(params: Mapping[str, str], key: str) -> int:
    raw = params.get(key)
    if raw is None or not raw.isdigit():
        raise ValueError(f"{key}= is missing or not a whole number: {raw!r}")
    return int(raw)


def _seconds(params: Mapping[str, str], key: str) -> float:
    raw = params.get(key)
    value = float(raw) if raw is not None and re.fullmatch(r"\d+(\.\d+)?", raw) else -1.0
    if value < 0:
        raise ValueError(f"{key}= is missing or not a number of seconds: {raw!r}")
    return value


def parse_ratelimit(value: str) -> list[QuotaState]:
    """The items of a ``Ratelimit`` header; ValueError if it is malformed."""
    return [
        QuotaState(name, _count(params, "r"), _seconds(params, "t"))
        for name, params in _items(value)
    ]


def parse_ratelimit_policy(value: str) -> list[QuotaPolicy]:
    """The items of a ``Ratelimit-Policy`` header; ValueError if it is malformed."""
    return [
        QuotaPolicy(name, _count(params, "q"), _seconds(params, "w") if "w" in params else None)
        for name, params in _items(value)
    ]


class RateLimiter:
    """Paces the requests of one token so that its quota is never spent; thread-safe.

    ``clock`` (monotonic seconds) and ``sleep`` are injectable so that tests never sleep.
    """

    def __init__(
        self,
        *,
        reserve: float = DEFAULT_RESERVE,
        max_wait: float = DEFAULT_MAX_WAIT,
        clock: Clock = time.monotonic,
        sleep: Sleeper = time.sleep,
    ) -> None:
        if not max_wait >= 0:
            raise ValueError(f"Expected max_wait >= 0 but received {max_wait!r}")
        self._lock = threading.Lock()
        self.reserve = reserve
        self.max_wait = max_wait
        self._clock = clock
        self._sleep = sleep
        self._remaining: int | None = None
        self._reset_at: float | None = None
        self._quota: int | None = None
        self._window: float | None = None
        self._in_flight = 0
        self._blocked_until = -math.inf

    @property
    def reserve(self) -> float:
        """The fraction of the quota left for other tools."""
        return self._reserve

    @reserve.setter
    def reserve(self, value: float) -> None:
        if not 0 <= value < 1:
            raise ValueError(f"Expected 0 <= reserve < 1 but received {value!r}")
        self._reserve = value

    @property
    def in_flight(self) -> int:
        """Requests acquired whose answer has not been observed or released yet."""
        with self._lock:
            return self._in_flight

    def now(self) -> float:
        """The limiter's clock, for ``block_until``."""
        return self._clock()

    def acquire(
        self, *, on_wait: WaitHook | None = None, method: str = "", path: str = "", attempt: int = 1
    ) -> float:
        """Wait until a request may go, count it in flight, and return the seconds waited.

        Waits longer than a second are announced to ``on_wait`` first.
        """
        waited = 0.0
        while True:
            with self._lock:
                seconds, reason = self._needed_wait(self._clock())
                seconds = min(seconds, self.max_wait - waited)
                if seconds <= 0:
                    self._in_flight += 1
                    return waited
            if seconds > SILENT_WAIT and on_wait is not None:
                on_wait(Wait(seconds, reason, method, path, attempt))
            log.debug("waiting %.1f s before %s %s: %s", seconds, method, path, reason)
            self._sleep(seconds)
            waited += seconds

    def observe(self, headers: Mapping[str, str], now: float | None = None) -> None:
        """Take in one response's headers; its request is no longer in flight.

        ``headers`` is looked up as ``Ratelimit`` and ``Ratelimit-Policy``: pass the
        case-insensitive mapping that urllib3 or requests give.
        """
        with self._lock:
            now = self._clock() if now is None else now
            self._in_flight = max(0, self._in_flight - 1)
            policy = _parsed(headers, "Ratelimit-Policy", parse_ratelimit_policy)
            state = _parsed(headers, "Ratelimit", parse_ratelimit)
            if state:
                self._take_state(min(state, key=lambda s: s.remaining), policy, now)
            elif policy:
                self._take_policy(policy[0])

    def release(self) -> None:
        """An attempt ended without a response: it is no longer in flight."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)

    def block_until(self, until: float) -> None:
        """Hold every ``acquire()`` back until ``until`` on this limiter's clock."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, until)

    # -- internals, called with the lock held ----------------------------------------

    def _take_policy(self, policy: QuotaPolicy) -> None:
        self._quota, self._window = policy.quota, policy.window

    def _take_state(self, state: QuotaState, policies: list[QuotaPolicy], now: float) -> None:
        matching = [p for p in policies if p.name == state.name] or policies[:1]
        if matching:
            self._take_policy(matching[0])
        reset_at = now + state.reset + RESET_MARGIN
        same_window = (
            self._remaining is not None
            and self._reset_at is not None
            and abs(reset_at - self._reset_at) <= RESET_MARGIN
        )
        # Answers may arrive out of order; within one window the count only goes down.
        if same_window and self._remaining is not None:
            self._remaining = min(self._remaining, state.remaining)
        else:
            self._remaining = state.remaining
        self._reset_at = reset_at

    def _roll(self, now: float) -> None:
        """Past the reset, the quota is whole again (in-flight requests still count)."""
        if self._reset_at is None or now < self._reset_at:
            return
        self._remaining = self._quota
        if self._window:
            passed = math.floor((now - self._reset_at) / self._window) + 1
            self._reset_at += passed * self._window
        else:
            self._reset_at = None

    def _needed_wait(self, now: float) -> tuple[float, str]:
        if now < self._blocked_until:
            left = self._blocked_until - now
            return left, f"rate limited: Cloudflare blocks this token for {left:.0f} s more"
        self._roll(now)
        if self._remaining is None or self._reset_at is None:
            return 0.0, ""
        left = self._remaining - self._in_flight
        if left > self._reserve * (self._quota or 0):
            return 0.0, ""
        resets_in = self._reset_at - now
        of = f" of {self._quota}" if self._quota is not None else ""
        return resets_in, (
            f"pacing: {max(left, 0)}{of} requests left in this window, resets in {resets_in:.0f} s"
        )


def _parsed(headers: Mapping[str, str], name: str, parse: Callable[[str], list[T]]) -> list[T]:
    raw = headers.get(name)
    if raw is None:
        return []
    try:
        return parse(raw)
    except ValueError as exc:
        log.debug("ignoring a malformed %s header %r: %s", name, raw, exc)
        return []


_registry: dict[str, RateLimiter] = {}
_registry_lock = threading.Lock()


def shared_limiter(key: str, *, reserve: float = DEFAULT_RESERVE) -> RateLimiter:
    """The process's one limiter for ``key``, created on first use; thread-safe.

    ``key`` names what Cloudflare counts against (a token): pass a digest, never the
    credential itself, since the registry keeps its keys for the life of the process.
    The ``reserve`` of the latest call applies.
    """
    if not key:
        raise ValueError(f"Expected a non-empty value for `key` but received {key!r}")
    with _registry_lock:
        limiter = _registry.get(key)
        if limiter is None:
            limiter = _registry[key] = RateLimiter(reserve=reserve)
        else:
            limiter.reserve = reserve
        return limiter
