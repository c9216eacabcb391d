"""The retry policy: urllib3's ``Retry``, taught Cloudflare's headers, a time budget and a limiter.

What is retried: connection errors, read errors and the statuses 408, 409, 429 and 5xx.

How long to wait: ``retry-after-ms``, else ``Retry-After`` (seconds or HTTP date), each
capped at ``retry_after_max`` (default 300 s, how long Cloudflare blocks a token that went
over its rate limit; a larger value waits the cap, and the next 429 waits again) plus
jitter; else exponential backoff with jitter.

Bounds: at most ``max_attempts`` attempts. The time budget, ``total_timeout`` seconds per
request, covers the attempts and the backoff waits: a backoff wait that would cross it is
not started, and the last answer is returned. Waits the server asked for (Retry-After, and
a ``RateLimiter``'s pacing until the announced reset) are exempt: the budget is extended
by each of them, since refusing one would fail a request the server has said it will take
soon. Each is bounded instead (``retry_after_max`` plus jitter, the limiter's ``max_wait``),
so a request ends within about ``total_timeout + max_attempts * (1.1 * retry_after_max +
1 + max_wait)`` seconds.

Waits are announced to ``RetryPolicy.on_wait`` (a ``Wait``); this module prints nothing.
Tests pass ``sleep``, ``clock``, ``wall_clock`` and ``rng`` so that nothing sleeps for real.

Only urllib3 2.0's ``Retry`` API is used: the capping, jitter and Retry-After parsing are
done here, not by urllib3's ``retry_after_max`` or ``backoff_jitter``.
"""

from __future__ import annotations

import email.utils
import math
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import urlsplit

from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, ReadTimeoutError, ResponseError
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from .ratelimit import RateLimiter, Wait, WaitHook

__all__ = [
    "DEFAULT_BACKOFF",
    "DEFAULT_BACKOFF_MAX",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_RETRY_AFTER_MAX",
    "DEFAULT_TOTAL_TIMEOUT",
    "RETRY_STATUSES",
    "CloudflareRetry",
    "RetryPolicy",
    "RetryingAdapter",
    "Wait",
    "WaitHook",
    "parse_retry_after",
]

RETRY_STATUSES = frozenset({408, 409, 429, *range(500, 600)})

# The production defaults: Settings takes its defaults from these too.
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_BACKOFF = 1.0
DEFAULT_BACKOFF_MAX = 30.0
DEFAULT_RETRY_AFTER_MAX = 300.0
DEFAULT_TOTAL_TIMEOUT = 120.0
# A 429 that says when to come back (Retry-After) is Cloudflare pacing us, not a failure:
# it does not use up one of max_attempts; up to this many of them per request are waited
# out on top (each at most retry_after_max), so a busy quota does not fail a deployment.
DEFAULT_RATE_LIMITED_RETRIES = 10

# Jitter on a wait the server announced: up to 10% of it, so that a burst of requests
# throttled together does not come back together; and for Retry-After at least up to 1 s,
# because its whole seconds give every request throttled within one second the same value
# (retry-after-ms is precise to the millisecond, so 10% is all it gets).
ANNOUNCED_JITTER = 0.1
RETRY_AFTER_JITTER_MIN = 1.0

Sleeper = Callable[[float], None]
Clock = Callable[[], float]


def parse_retry_after(value: str, now: float) -> float | None:
    """Seconds to wait for a ``Retry-After`` value (seconds or HTTP date), or None if malformed.

    ``now`` is wall-clock time (``time.time()``), to compare an HTTP date with.
    """
    value = value.strip()
    if re.fullmatch(r"\d+", value):
        return float(value)
    parsed = email.utils.parsedate_tz(value)
    if parsed is None:
        return None
    return max(float(email.utils.mktime_tz(parsed)) - now, 0.0)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try; the defaults are the production defaults."""

    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    backoff_factor: float = DEFAULT_BACKOFF
    backoff_max: float = DEFAULT_BACKOFF_MAX
    jitter: float = DEFAULT_BACKOFF
    retry_after_max: float = DEFAULT_RETRY_AFTER_MAX
    total_timeout: float = DEFAULT_TOTAL_TIMEOUT
    rate_limited_retries: int = DEFAULT_RATE_LIMITED_RETRIES
    on_wait: WaitHook | None = None
    sleep: Sleeper = time.sleep
    clock: Clock = time.monotonic
    wall_clock: Clock = time.time
    rng: Callable[[], float] = random.random

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"Expected max_attempts >= 1 but received {self.max_attempts!r}")
        if not self.total_timeout > 0:
            raise ValueError(f"Expected total_timeout > 0 but received {self.total_timeout!r}")
        if not self.retry_after_max >= 0:
            raise ValueError(f"Expected retry_after_max >= 0 but received {self.retry_after_max!r}")
        if self.rate_limited_retries < 0:
            raise ValueError(
                f"Expected rate_limited_retries >= 0 but received {self.rate_limited_retries!r}"
            )

    def new_retry(
        self, limiter: RateLimiter | None = None, *, method: str = "", path: str = ""
    ) -> CloudflareRetry:
        """A fresh ``Retry`` whose time budget starts now."""
        return CloudflareRetry(
            total=self.max_attempts - 1,
            # Revoking is idempotent (revoking a revoked registration changes nothing), so
            # POST is safe to retry even when the server may have processed the request.
            allowed_methods=frozenset({"GET", "POST"}),
            status_forcelist=RETRY_STATUSES,
            raise_on_status=False,
            redirect=0,
            raise_on_redirect=False,
            policy=self,
            request=RequestState(
                deadline=self.clock() + self.total_timeout,
                limiter=limiter,
                method=method,
                path=path,
            ),
        )


@dataclass
class RequestState:
    """What the attempts of one request share: the deadline and the limiter's count."""

    deadline: float
    limiter: RateLimiter | None = None
    method: str = ""
    path: str = ""
    attempt_open: bool = field(default=False, repr=False)
    rate_limited: int = 0  # 429s with Retry-After not counted against max_attempts

    def begin(self, policy: RetryPolicy, attempt: int) -> None:
        """Before an attempt: pass the limiter (its waits extend the budget)."""
        if self.limiter is None:
            return
        waited = self.limiter.acquire(
            on_wait=policy.on_wait, method=self.method, path=self.path, attempt=attempt
        )
        self.deadline += waited
        self.attempt_open = True

    def end(self, headers: Mapping[str, str] | None) -> None:
        """After an attempt: report its response headers (None: no response) once."""
        if self.limiter is None or not self.attempt_open:
            return
        self.attempt_open = False
        if headers is None:
            self.limiter.release()
        else:
            self.limiter.observe(headers)


@dataclass(frozen=True)
class _Plan:
    wait: Wait
    announced: bool  # the server asked for it: exempt from the budget


class CloudflareRetry(Retry):
    """``Retry`` with Cloudflare's headers, a time budget, jitter, a wait hook and a limiter."""

    def __init__(
        self,
        *args: Any,
        policy: RetryPolicy | None = None,
        request: RequestState | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.policy = policy or RetryPolicy()
        self.request = request or RequestState(
            deadline=self.policy.clock() + self.policy.total_timeout
        )
        self.planned: _Plan | None = None

    def new(self, **kw: Any) -> Self:
        kw.setdefault("policy", self.policy)
        kw.setdefault("request", self.request)
        return super().new(**kw)

    def announced_wait(self, headers: Mapping[str, str]) -> tuple[float, float, str] | None:
        """(seconds capped at retry_after_max, jitter bound, header) the server asked for."""
        if not self.respect_retry_after_header:
            return None
        cap = self.policy.retry_after_max
        millis = headers.get("retry-after-ms")
        if millis is not None:
            try:
                seconds = float(millis) / 1000.0
            except ValueError:
                seconds = math.nan
            if math.isfinite(seconds) and seconds >= 0:
                seconds = min(seconds, cap)
                return seconds, ANNOUNCED_JITTER * seconds, f"retry-after-ms: {millis.strip()}"
        header = headers.get("Retry-After")
        if header is None:
            return None
        parsed = parse_retry_after(header, self.policy.wall_clock())
        if parsed is None:  # an unparseable header falls back to backoff, as the SDKs do
            return None
        seconds = min(parsed, cap)
        spread = max(ANNOUNCED_JITTER * seconds, RETRY_AFTER_JITTER_MIN)
        return seconds, spread, f"Retry-After: {header.strip()}"

    def get_backoff_time(self) -> float:
        retries = len(self.history)
        if retries == 0:
            return 0.0
        policy = self.policy
        delay = policy.backoff_factor * 2.0 ** (retries - 1)
        return min(policy.backoff_max, delay + policy.rng() * policy.jitter)

    def _plan(self, response: BaseHTTPResponse | None, error: Exception | None) -> _Plan:
        """The wait before the next attempt, jitter drawn once."""
        request = self.request
        attempt = len(self.history) + 1
        if response is not None:
            announced = self.announced_wait(response.headers)
            if announced is not None:
                seconds, spread, header = announced
                if seconds > 0:
                    seconds += self.policy.rng() * spread
                if response.status == 429:
                    reason = f"rate limited (HTTP 429, {header})"
                else:
                    reason = f"HTTP {response.status}, {header}"
                wait = Wait(seconds, reason, request.method, request.path, attempt)
                return _Plan(wait, announced=True)
            reason = f"HTTP {response.status}"
        elif isinstance(error, ReadTimeoutError):
            reason = "no answer in time"
        else:
            reason = "connection error"
        wait = Wait(self.get_backoff_time(), reason, request.method, request.path, attempt)
        return _Plan(wait, announced=False)

    def next_delay(self, response: BaseHTTPResponse | None) -> float:
        """How long the next wait will be (drawn when the retry was counted)."""
        if self.planned is None:
            self.planned = self._plan(response, None)
        return self.planned.wait.seconds

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        """Announce and sleep the planned wait, then pass the limiter for the next attempt."""
        policy = self.policy
        seconds = self.next_delay(response)
        if seconds > 0 and self.planned is not None:
            if policy.on_wait is not None:
                policy.on_wait(self.planned.wait)
            policy.sleep(seconds)
            if self.planned.announced:
                self.request.deadline += seconds
        self.request.begin(policy, attempt=len(self.history) + 1)

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> Self:
        request = self.request
        if error is not None:
            request.end(None)
        if response is not None and response.status == 429 and request.limiter is not None:
            # Cloudflare blocks the token, not the request: every request sharing the
            # limiter waits too, until the time announced (jitter is for the retrier).
            announced = self.announced_wait(response.headers)
            if announced is not None and announced[0] > 0:
                request.limiter.block_until(request.limiter.now() + announced[0])
        counted: Self = self
        announced = None if response is None else self.announced_wait(response.headers)
        if (
            response is not None
            and response.status == 429
            and announced is not None
            and announced[0] > 0
            and request.rate_limited < self.policy.rate_limited_retries
            and isinstance(self.total, int)
        ):
            request.rate_limited += 1
            counted = self.new(total=self.total + 1)  # give back the attempt it takes
        new = Retry.increment(counted, method, url, response, error, _pool, _stacktrace)
        plan = new._plan(response, error)
        if not plan.announced and self.policy.clock() + plan.wait.seconds > request.deadline:
            reason = error or ResponseError("the retry time budget is spent")
            raise MaxRetryError(_pool, url or "", reason) from reason
        if response is not None:
            request.end(response.headers)
        new.planned = plan
        return new


class RetryingAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` that gives every request a fresh ``Retry``, budget and limiter pass.

    requests reads ``max_retries`` once per request, inside ``send``: ``send`` builds the
    request's ``Retry`` (and passes the limiter for the first attempt), and the property
    hands that one over. Responses that urllib3 retries are seen by ``Retry.increment``,
    the last one by ``build_response``.
    """

    def __init__(
        self, policy: RetryPolicy, limiter: RateLimiter | None = None, **kwargs: Any
    ) -> None:
        self.policy = policy
        self.limiter = limiter
        self._local = threading.local()
        super().__init__(**kwargs)

    @property
    def max_retries(self) -> Retry:
        current: CloudflareRetry | None = getattr(self._local, "retry", None)
        return current if current is not None else self.policy.new_retry(self.limiter)

    @max_retries.setter
    def max_retries(self, _value: Retry) -> None:
        """Ignore ``HTTPAdapter.__init__``'s assignment: the policy decides."""

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:
        path = urlsplit(request.url or "").path
        retry = self.policy.new_retry(self.limiter, method=request.method or "", path=path)
        retry.request.begin(self.policy, attempt=1)
        self._local.retry = retry
        try:
            return super().send(request, *args, **kwargs)
        except BaseException:
            retry.request.end(None)
            raise
        finally:
            self._local.retry = None

    def build_response(self, req: PreparedRequest, resp: BaseHTTPResponse) -> Response:
        current: CloudflareRetry | None = getattr(self._local, "retry", None)
        if current is not None:
            current.request.end(resp.headers)
        return super().build_response(req, resp)
