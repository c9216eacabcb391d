"""A local Cloudflare Zero Trust devices API on 127.0.0.1, for tests, demos and users' CI.

Emulated, over in-memory accounts: revoke and unrevoke (the deprecated ``/devices`` pair,
taking a JSON array body, and the ``/devices/registrations`` pair, taking ``?id=``
parameters and no body), list registrations (filters ``id``, ``user.id``, ``device.id``,
``search``, ``status``; ``sort_by``/``sort_order``; cursor pagination) and get one
registration, with Cloudflare's envelope and auth (API tokens with ``write`` or ``read``
access; Global API Keys, ``X-Auth-Email`` + ``X-Auth-Key``). Not emulated: the
end-of-life list and get of ``/devices`` (the provider never calls them), the filters
``seen_after``, ``seen_before``, ``policy.id`` and ``include``, every other endpoint.

Documented by Cloudflare (its OpenAPI schema and API docs), emulated as documented:

- the envelope ``{success, errors: [{code, message}], messages, result}``;
- the registrations operations take API tokens only, the ``/devices`` ones a Global API Key too;
- the ``/devices`` operations refuse accounts in multi-user mode (end of life 2025-11-11);
- registration IDs of at most 36 characters; at most 200 in a ``/devices`` revoke body;
- ``status`` (default ``active``), ``sort_by`` and ``sort_order`` take only their enums;
- a registration's ``user`` is optional; ``result_info.total_count`` may be null;
- 414 for a URI over 32 KB;
- the rate limit, when on: 1,200 requests per 5 minutes, then every call 429 for 5 minutes;
  ``Ratelimit`` and ``Ratelimit-Policy`` headers on every answer; ``Retry-After`` in whole
  seconds, rounded up, on a 429.

Assumed, one line each: the emulator's default (switch: the ``Assumptions`` field and its
values, default first; ``HELP`` says more about each; or none):

- unknown or deleted IDs in any revoke/unrevoke: skipped (unknown_ids: "ignore" | "refuse")
- deleted registrations with status=all: not listed (status_all_includes_deleted: False | True)
- result_info.total_count: the number of matches (total_count: "number" | "null")
- a user-less registration's ``user``: key absent (missing_user: "absent" | "null")
- the largest per_page: 1000 (max_per_page: 1000 | any positive integer)
- per_page above the largest: 400 (per_page_over_max: "refuse" | "clamp")
- per_page when none is given: 10, as the schema's example (default_per_page: 10 | any)
- IDs per registrations revoke/unrevoke: at most 200 (registrations_max_ids: 200 | N | None)
- "32 KB" of URI: 32,768 bytes of path and query (max_uri_length: 32768 | N | None)
- a revoke shows in list answers at once (revocation_listed_after: 0 | N list answers later)
- a 414's body: Cloudflare's envelope with code 1004, no rate-limit headers (no switch)
- other codes Cloudflare documents none for: 1001 bad input, 1002 not found (no switch)
- multi-user mode on a /devices operation: 400 with code 1003 (no switch)
- auth and route failures: codes 6003 9103 9106 9109 10000 7000 7001 7003, as seen (no switch)
- a 429's error: code 971 "Please wait and consider throttling ...", as users report (no switch)
- the rate limit: off (``Emulator.set_rate_limit(quota, window=, block=, clock=)``)
- the rate-limit window: fixed, opening at the first request; not sliding (no switch)
- the request over the quota: refused with 429, and it starts the block (no switch)
- requests refused during a block: count against no window; a new one opens after (no switch)
- ``Ratelimit`` during a block: r=0, t=seconds left in the block (no switch)
- rate-limit buckets: one for every credential, where Cloudflare counts per user (no switch)
- what counts: every /client/v4 request, any answer; injected faults bypass it (no switch)
- search: matches ID, device ID and name, user email and name, any case (no switch)
- sorting by a user field: a user-less registration sorts as if its fields were empty (no switch)

Control surface (for tests that run the emulator in another process), under
``/__emulator``, JSON in and out (control.py): ``GET /health``, ``POST /reset``, ``POST
/seed`` ``{account_id, count, multi_user, userless}``, ``GET /state``, ``POST /faults``
(one ``Fault`` or a list), ``DELETE /faults``, ``GET /requests``, ``DELETE /requests``,
``POST /latency`` ``{seconds}``, ``GET``/``POST /assumptions`` (fields to change; answers
all of them), ``GET``/``POST``/``DELETE /rate-limit`` (POST ``{quota, window, block}``,
each optional, turns it on; DELETE or POST ``null`` turns it off; all answer
``{rate_limit, rate_limited}``). Production code never calls it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from .assumptions import Assumptions
from .faults import Fault, RequestLog, RequestRecord
from .ratelimit import RateLimit
from .server import API_PREFIX, EmulatorServer
from .state import EmulatorState, Registration, User

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_EMAIL",
    "DEFAULT_TOKEN",
    "Assumptions",
    "Emulator",
    "EmulatorState",
    "Fault",
    "RateLimit",
    "Registration",
    "RequestLog",
    "RequestRecord",
    "User",
]

DEFAULT_TOKEN = "emulator-token"
DEFAULT_EMAIL = "admin@example.com"
DEFAULT_API_KEY = "emulator-global-api-key"


class Emulator:
    """The emulator server, run in a background thread.

    ::

        with Emulator(assumptions=Assumptions(unknown_ids="refuse")) as emulator:
            ids = emulator.state.seed("699d98642c564d2e855e9661899b7252", 3)
            ...  # point CLOUDFLARE_BASE_URL at emulator.base_url

    ``assumptions`` and ``rate_limit`` are what ``reset()`` returns to (defaults: the
    assumptions' defaults, no rate limit).
    """

    def __init__(
        self,
        *,
        port: int = 0,
        tokens: Mapping[str, str] | None = None,
        api_keys: Mapping[tuple[str, str], str] | None = None,
        assumptions: Assumptions | None = None,
        rate_limit: RateLimit | None = None,
    ) -> None:
        self._server = EmulatorServer(
            ("127.0.0.1", port),
            tokens=tokens if tokens is not None else {DEFAULT_TOKEN: "write"},
            api_keys=api_keys
            if api_keys is not None
            else {(DEFAULT_EMAIL, DEFAULT_API_KEY): "write"},
            assumptions=assumptions,
            rate_limit=rate_limit,
        )
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """The value for ``CLOUDFLARE_BASE_URL``."""
        return f"http://127.0.0.1:{self.port}{API_PREFIX}"

    @property
    def state(self) -> EmulatorState:
        return self._server.state

    @property
    def requests(self) -> RequestLog:
        return self._server.requests

    @property
    def tokens(self) -> dict[str, str]:
        """Accepted tokens and their access (``write`` or ``read``); mutable."""
        return self._server.tokens

    def inject(self, fault: Fault | None = None, /, **fields: object) -> Fault:
        """Add a fault (an instance, or its fields as keywords) and return it."""
        fault = fault or Fault(**fields)  # type: ignore[arg-type]
        self._server.faults.add(fault)
        return fault

    def clear_faults(self) -> None:
        self._server.faults.clear()

    def set_latency(self, seconds: float) -> None:
        """Delay every API answer by ``seconds`` (benchmarks)."""
        self._server.latency = seconds

    def arrivals(self) -> int:
        """API requests received so far, counted on arrival (even those never answered)."""
        return self._server.arrivals

    def max_concurrent_requests(self) -> int:
        """The most API requests handled at the same time since the start or the last
        ``reset_max_concurrent_requests``."""
        return self._server.max_in_flight

    def reset_max_concurrent_requests(self) -> None:
        """Count ``max_concurrent_requests`` again from the requests in flight now."""
        with self._server._in_flight_lock:
            self._server.max_in_flight = self._server.in_flight

    @property
    def assumptions(self) -> Assumptions:
        """The switches in force (see ``Assumptions``)."""
        return self._server.assumptions

    def assume(self, **fields: Any) -> Assumptions:
        """Change some switches from now on, e.g. ``assume(unknown_ids="refuse")``."""
        self._server.assumptions = self._server.assumptions.replace(fields)
        return self._server.assumptions

    @property
    def rate_limit(self) -> RateLimit | None:
        """The rate limit in force, or None."""
        limiter = self._server.limiter
        return limiter.limit if limiter else None

    def set_rate_limit(
        self,
        quota: int | None = 1200,
        *,
        window: float = 300.0,
        block: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Limit API requests to ``quota`` per ``window`` seconds, then answer 429 for
        ``block`` seconds; a fresh window starts now. ``set_rate_limit(None)``: no limit."""
        self._server.set_rate_limit(
            RateLimit(quota, window, block, clock) if quota is not None else None
        )

    def rate_limited(self) -> int:
        """429s the rate limit has answered (injected faults not included)."""
        return self._server.rate_limited

    def reset(self) -> None:
        """Forget accounts, faults, latency, the request log and the counts; restore the
        assumptions and rate limit given to the constructor."""
        self._server.reset()

    def start(self) -> Emulator:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="cloudflare-emulator",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            stopping = threading.Thread(target=self._server.shutdown, daemon=True)
            stopping.start()
            # shutdown() waits for the serve loop to notice, at its next poll; a connection
            # wakes it now (it carries no request, so nothing is logged). Tests stop an
            # emulator after every test: this takes 50 ms off each.
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            stopping.join(timeout=5)
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
