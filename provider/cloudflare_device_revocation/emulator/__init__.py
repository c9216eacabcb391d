"""A local Cloudflare Zero Trust devices API on 127.0.0.1, for tests, demos and users' CI.

Emulated, over in-memory accounts: revoke and unrevoke (the deprecated ``/devices`` pair,
taking a JSON array body, and the ``/devices/registrations`` pair, taking ``?id=``
parameters and no body), list registrations (filters ``id``, ``user.id``, ``device.id``,
``search``, ``status``; ``sort_by``/``sort_order``; cursor pagination), get a registration,
and the deprecated list/get of devices. Answers use Cloudflare's envelope. Requests that
do not fit the API's shapes are refused as Cloudflare would: a body where the schema takes
none, more than 200 IDs, an ID over 36 characters, an unknown enum value.

Auth: ``Authorization: Bearer`` tokens, each with ``write`` or ``read`` access, and Global
API Keys (``X-Auth-Email`` + ``X-Auth-Key``), which the registration operations refuse,
following the schema's security requirements.

Not emulated, or assumed: the real API's behaviour for unknown registration IDs in a revoke
(here: ignored, success); the status and code of some failures that Cloudflare does not
document (here: multi-user mode on a deprecated operation is 400 with code 1003; invalid
input is 400 with code 1001; a missing registration is 404 with code 1002); the 200-ID
limit on the registrations operations (here: the same as the deprecated one); rate
limiting (inject 429s with faults instead); every other Zero Trust endpoint.

Control surface (for tests that run the emulator in another process), under
``/__emulator``: ``GET /health``, ``POST /reset``, ``POST /seed`` ``{account_id, count,
multi_user}``, ``GET /state``, ``POST /faults`` (one ``Fault`` or a list, as JSON),
``DELETE /faults``, ``GET /requests``, ``DELETE /requests``, ``POST /latency``
``{seconds}``. Production code never calls it.
"""

from __future__ import annotations

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
        """The most API requests the emulator has handled at the same time."""
        return self._server.max_in_flight

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
            self._server.shutdown()
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
