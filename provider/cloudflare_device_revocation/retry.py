"""The retry policy: urllib3's ``Retry``, taught Cloudflare's headers and a time budget.

What is retried: connection errors, read errors and the statuses 408, 409, 429 and 5xx.
How long to wait: ``retry-after-ms``, else ``Retry-After`` (seconds or HTTP date), each
capped at ``retry_after_max``; else exponential backoff with jitter. Bounds: at most
``max_attempts`` attempts and ``total_timeout`` seconds per request, waits included; a
wait that would cross the time budget is not started, and the last answer is returned.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

__all__ = ["RETRY_STATUSES", "CloudflareRetry", "RetryPolicy", "RetryingAdapter"]

RETRY_STATUSES = frozenset({408, 409, 429, *range(500, 600)})

Sleeper = Callable[[float], None]


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Tests pass ``sleep`` to observe waits instead of sleeping them."""

    max_attempts: int = 5
    backoff_factor: float = 0.5
    backoff_max: float = 30.0
    jitter: float = 0.5
    retry_after_max: float = 60.0
    total_timeout: float = 120.0
    sleep: Sleeper = time.sleep

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"Expected max_attempts >= 1 but received {self.max_attempts!r}")
        if self.total_timeout <= 0:
            raise ValueError(f"Expected total_timeout > 0 but received {self.total_timeout!r}")

    def new_retry(self) -> CloudflareRetry:
        """A fresh ``Retry`` whose time budget starts now."""
        return CloudflareRetry(
            total=self.max_attempts - 1,
            # Revoking is idempotent (revoking a revoked registration changes nothing), so
            # POST is safe to retry even when the server may have processed the request.
            allowed_methods=frozenset({"GET", "POST"}),
            status_forcelist=RETRY_STATUSES,
            backoff_factor=self.backoff_factor,
            backoff_max=self.backoff_max,
            backoff_jitter=self.jitter,
            retry_after_max=self.retry_after_max,
            raise_on_status=False,
            redirect=0,
            raise_on_redirect=False,
            deadline=time.monotonic() + self.total_timeout,
            sleeper=self.sleep,
        )


class CloudflareRetry(Retry):
    """``Retry`` with ``retry-after-ms``, a float ``retry_after_max`` and a deadline."""

    def __init__(
        self,
        *args: Any,
        deadline: float | None = None,
        sleeper: Sleeper = time.sleep,
        retry_after_max: float = 60.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        # Set here rather than passed up: urllib3 types it as int and only recent releases
        # take it, while retry-after-ms needs sub-second precision.
        self.retry_after_max = retry_after_max  # type: ignore[assignment]
        self.deadline = deadline
        self.sleeper = sleeper

    def new(self, **kw: Any) -> Self:
        kw.setdefault("deadline", self.deadline)
        kw.setdefault("sleeper", self.sleeper)
        kw.setdefault("retry_after_max", self.retry_after_max)
        return super().new(**kw)

    def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
        millis = response.headers.get("retry-after-ms")
        if millis is not None:
            try:
                return min(max(float(millis) / 1000.0, 0.0), float(self.retry_after_max))
            except ValueError:
                pass
        header = response.headers.get("Retry-After")
        if header is None:
            return None
        try:
            return self.parse_retry_after(header)
        except Exception:  # an unparseable header falls back to backoff, as the SDKs do
            return None

    def get_backoff_time(self) -> float:
        retries = len(self.history)
        if retries == 0:
            return 0.0
        delay = float(self.backoff_factor) * 2.0 ** (retries - 1)
        return min(float(self.backoff_max), delay + random.random() * float(self.backoff_jitter))

    def next_delay(self, response: BaseHTTPResponse | None) -> float:
        """How long to wait before the next attempt."""
        if response is not None and self.respect_retry_after_header:
            retry_after = self.get_retry_after(response)
            if retry_after is not None:
                return retry_after
        return self.get_backoff_time()

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        delay = self.next_delay(response)
        if delay > 0:
            self.sleeper(delay)

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> Self:
        new = super().increment(method, url, response, error, _pool, _stacktrace)
        if new.deadline is not None and time.monotonic() + new.next_delay(response) > new.deadline:
            reason = error or ResponseError("the retry time budget is spent")
            raise MaxRetryError(_pool, url or "", reason) from reason
        return new


class RetryingAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` that gives every request a fresh ``Retry`` and time budget.

    requests reads ``max_retries`` once per request, so a property that builds a new
    ``Retry`` is all it takes to start each request's deadline when the request starts.
    """

    def __init__(self, policy: RetryPolicy, **kwargs: Any) -> None:
        self.policy = policy
        super().__init__(**kwargs)

    @property
    def max_retries(self) -> Retry:
        return self.policy.new_retry()

    @max_retries.setter
    def max_retries(self, _value: Retry) -> None:
        """Ignore ``HTTPAdapter.__init__``'s assignment: the policy decides."""
