"""CloudflareClient: one session, one ``_request()``, and the revoke and list calls.

The operations and their shapes follow Cloudflare's OpenAPI schema for Zero Trust
devices (``cloudflare/api-schemas``):

- ``POST /accounts/{account_id}/devices/revoke``, a bare JSON array of registration IDs
  (deprecated: end of life 2025-11-11, unsupported with multi-user mode);
- ``POST /accounts/{account_id}/devices/registrations/revoke?id=..&id=..``, no body;
- ``GET /accounts/{account_id}/devices/registrations`` with filters and cursor pagination;
- ``GET /accounts/{account_id}/devices/registrations/{registration_id}``.

The schema lists only API-token auth for the registration operations, so they refuse a
Global API Key here before sending anything.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Literal, get_args

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ReadTimeoutError

from . import __version__
from .errors import (
    APIConnectionError,
    APITimeoutError,
    CloudflareError,
    CloudflareMessage,
    ConfigurationError,
    RevocationError,
    UnexpectedResponseError,
    error_class_for_status,
)
from .ratelimit import RateLimiter
from .retry import RetryingAdapter, RetryPolicy
from .settings import ENV_TOKEN, ApiKey, Settings

__all__ = [
    "DEFAULT_TIMEOUT",
    "ENDPOINTS",
    "MAX_IDS_PER_REQUEST",
    "MAX_IN_FLIGHT",
    "MAX_REGISTRATION_ID_LENGTH",
    "CloudflareClient",
    "Endpoint",
    "Progress",
]

log = logging.getLogger(__name__)

Endpoint = Literal["devices", "registrations"]
ENDPOINTS: tuple[Endpoint, ...] = get_args(Endpoint)

# Cloudflare accepts at most this many registration IDs in one revoke request.
MAX_IDS_PER_REQUEST = 200
# The schema's maxLength for a registration ID (a UUID is 36 characters).
MAX_REGISTRATION_ID_LENGTH = 36
# IDs per list request when looking up known registrations: keeps URLs short.
IDS_PER_LOOKUP = 50
LIST_PAGE_SIZE = 100
MAX_LIST_PAGES = 1_000
# Batches a revoke may keep in flight at once; the connection pool is sized to match.
MAX_IN_FLIGHT = 16
# (connect, read) seconds for every request.
DEFAULT_TIMEOUT = (10.0, 30.0)

# Called after each accepted batch with (ids revoked so far, total ids, batch, batches).
Progress = Callable[[int, int, int, int], None]

TOKEN_PERMISSION_HINT = (
    'check the credentials: the API token must be valid and have the "Zero Trust Write" '
    'permission on this account ("Zero Trust Read" is enough for refresh and lookups)'
)
ROUTE_HINT = "check account_id: Cloudflare found no such account or route for these credentials"
DEPRECATED_HINT = (
    "the /devices/revoke endpoint is deprecated (end of life 2025-11-11) and unsupported "
    'on accounts with multi-user mode; set endpoint="registrations" on the '
    "DeviceRevocation to use its successor, /devices/registrations/revoke"
)


class CloudflareClient:
    """A small client for the Zero Trust device registration API.

    Retries, timeouts and auth live here; callers get parsed ``result`` values or a
    ``CloudflareError``. ``session`` may be supplied (a test or a proxy setup); the
    retrying adapter is mounted on it either way.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        session: requests.Session | None = None,
        retry: RetryPolicy | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._settings = settings
        self._retry = retry or settings.retry_policy()
        self._timeout = timeout
        self._session = session or requests.Session()
        adapter = RetryingAdapter(self._retry, limiter, pool_maxsize=MAX_IN_FLIGHT)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._session.headers["User-Agent"] = f"cloudflare-device-revocation/{__version__}"

    def __repr__(self) -> str:
        return f"CloudflareClient(base_url={self._settings.base_url!r})"

    def close(self) -> None:
        """Close the underlying session."""
        self._session.close()

    def __enter__(self) -> CloudflareClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- revoke ---------------------------------------------------------------------

    def revoke(
        self,
        account_id: str,
        registration_ids: Sequence[str],
        *,
        endpoint: Endpoint = "devices",
        progress: Progress | None = None,
        max_in_flight: int = 1,
    ) -> None:
        """Revoke every ID, in batches of ``MAX_IDS_PER_REQUEST``.

        Up to ``max_in_flight`` batches are sent at once (each request retries on its own,
        honouring Retry-After). After a failure no new batch starts; the ones in flight
        finish, then ``RevocationError`` names what was and was not revoked.
        """
        if not 1 <= max_in_flight <= MAX_IN_FLIGHT:
            raise ValueError(
                f"Expected 1 <= max_in_flight <= {MAX_IN_FLIGHT} but received {max_in_flight!r}"
            )
        ids = list(registration_ids)
        batches = [
            ids[i : i + MAX_IDS_PER_REQUEST] for i in range(0, len(ids), MAX_IDS_PER_REQUEST)
        ]
        accepted: set[int] = set()
        failures: dict[int, CloudflareError] = {}
        done = 0
        with ThreadPoolExecutor(max_workers=max(1, min(max_in_flight, len(batches)))) as pool:
            pending: dict[Future[None], int] = {}
            queued = iter(range(len(batches)))
            while True:
                while not failures and len(pending) < max_in_flight:
                    index = next(queued, None)
                    if index is None:
                        break
                    future = pool.submit(
                        self.revoke_batch, account_id, batches[index], endpoint=endpoint
                    )
                    pending[future] = index
                if not pending:
                    break
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    index = pending.pop(future)
                    error = future.exception()
                    if isinstance(error, CloudflareError):
                        failures[index] = error
                    elif error is not None:
                        raise error
                    else:
                        accepted.add(index)
                        done += len(batches[index])
                        if progress is not None:
                            progress(done, len(ids), len(accepted), len(batches))
        if failures:
            first = min(failures)
            raise RevocationError(
                account_id=account_id,
                batch=first + 1,
                batches=len(batches),
                revoked=[i for n in sorted(accepted) for i in batches[n]],
                not_revoked=[
                    i for n, batch in enumerate(batches) if n not in accepted for i in batch
                ],
                cause=failures[first],
            ) from failures[first]

    def revoke_batch(
        self, account_id: str, registration_ids: Sequence[str], *, endpoint: Endpoint = "devices"
    ) -> None:
        """Revoke up to ``MAX_IDS_PER_REQUEST`` IDs in one request."""
        ids = list(registration_ids)
        if not 1 <= len(ids) <= MAX_IDS_PER_REQUEST:
            raise ValueError(
                f"Expected 1 to {MAX_IDS_PER_REQUEST} registration IDs but received {len(ids)}"
            )
        what = f"revoke {len(ids)} registration(s) in account {account_id}"
        if endpoint == "devices":
            self._request(
                "POST",
                f"/accounts/{account_id}/devices/revoke",
                json_body=ids,
                what=what,
                deprecated=True,
            )
        elif endpoint == "registrations":
            self._request(
                "POST",
                f"/accounts/{account_id}/devices/registrations/revoke",
                params=[("id", i) for i in ids],
                what=what,
                token_only=True,
            )
        else:
            raise ValueError(
                f"Expected endpoint to be one of {ENDPOINTS} but received {endpoint!r}"
            )

    # -- read -----------------------------------------------------------------------

    def list_registrations(
        self,
        account_id: str,
        *,
        ids: Iterable[str] = (),
        user_ids: Iterable[str] = (),
        device_id: str | None = None,
        search: str | None = None,
        status: Literal["active", "all", "revoked"] = "all",
        per_page: int = LIST_PAGE_SIZE,
        max_pages: int = MAX_LIST_PAGES,
    ) -> list[dict[str, Any]]:
        """Every registration matching the filters, following the cursor to the end."""
        base: list[tuple[str, str]] = [("id", i) for i in ids]
        base += [("user.id", u) for u in user_ids]
        if device_id is not None:
            base.append(("device.id", device_id))
        if search is not None:
            base.append(("search", search))
        base += [("status", status), ("per_page", str(per_page))]
        path = f"/accounts/{account_id}/devices/registrations"
        what = f"list registrations in account {account_id}"
        found: list[dict[str, Any]] = []
        seen_cursors: set[str] = set()
        cursor = ""
        for _page in range(max_pages):
            params = base + ([("cursor", cursor)] if cursor else [])
            envelope = self._request(
                "GET", path, params=params, what=what, token_only=True, full=True
            )
            page = envelope.get("result") or []
            if not isinstance(page, list):
                raise UnexpectedResponseError(
                    f"Cloudflare API: {what}: expected a list of registrations, got "
                    f"{type(page).__name__}",
                    status=200,
                )
            found.extend(r for r in page if isinstance(r, dict))
            info = envelope.get("result_info") or {}
            cursor = (info.get("cursor") or "") if isinstance(info, Mapping) else ""
            if not page or not cursor:
                return found
            if cursor in seen_cursors:
                raise UnexpectedResponseError(
                    f"Cloudflare API: {what}: the pagination cursor repeated; stopped after "
                    f"{len(found)} registrations",
                    status=200,
                )
            seen_cursors.add(cursor)
        raise UnexpectedResponseError(
            f"Cloudflare API: {what}: pagination did not end within {max_pages} pages",
            status=200,
        )

    def find_registrations(self, account_id: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The registrations among ``ids`` that exist, revoked or not, keyed by ID."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), IDS_PER_LOOKUP):
            chunk = ids[start : start + IDS_PER_LOOKUP]
            for reg in self.list_registrations(account_id, ids=chunk, status="all"):
                reg_id = reg.get("id")
                if isinstance(reg_id, str):
                    found[reg_id] = reg
        return found

    def get_registration(self, account_id: str, registration_id: str) -> dict[str, Any]:
        """One registration by ID."""
        result = self._request(
            "GET",
            f"/accounts/{account_id}/devices/registrations/{registration_id}",
            what=f"get registration {registration_id} in account {account_id}",
            token_only=True,
        )
        if not isinstance(result, dict):
            raise UnexpectedResponseError(
                f"Cloudflare API: get registration {registration_id}: expected an object",
                status=200,
            )
        return result

    # -- transport ------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: Sequence[tuple[str, str]] | None = None,
        json_body: Any = None,
        token_only: bool = False,
        deprecated: bool = False,
        full: bool = False,
    ) -> Any:
        """Send one request (with retries) and return the envelope's ``result``.

        ``full`` returns the whole envelope instead. Every failure becomes a
        ``CloudflareError`` whose message names ``what`` was attempted.
        """
        credentials = self._settings.credentials
        if token_only and isinstance(credentials, ApiKey):
            raise ConfigurationError(
                f"Cannot {what}: Cloudflare's schema accepts only API tokens for "
                f"{method} {path.split('/devices', 1)[0]}/devices/registrations..., and only "
                f"a Global API Key is configured. Create an API token with the "
                f'"Zero Trust Write" permission and set it as {ENV_TOKEN} or '
                "cloudflare:apiToken."
            )
        url = self._settings.base_url + path
        log.debug("%s %s (%s)", method, path, what)
        try:
            response = self._session.request(
                method,
                url,
                params=params,
                data=None if json_body is None else json.dumps(json_body),
                headers={
                    **credentials.headers(),
                    **({"Content-Type": "application/json"} if json_body is not None else {}),
                },
                timeout=self._timeout,
                allow_redirects=False,
            )
            body = response.content
        except requests.RequestException as exc:
            raise self._connection_error(exc, method, path, what) from None
        attempts = _attempts(response)
        log.debug(
            "%s %s -> HTTP %d after %d attempt(s)", method, path, response.status_code, attempts
        )
        return self._parse(
            response.status_code,
            body,
            method=method,
            path=path,
            what=what,
            attempts=attempts,
            deprecated=deprecated,
            full=full,
        )

    def _parse(
        self,
        status: int,
        body: bytes,
        *,
        method: str,
        path: str,
        what: str,
        attempts: int,
        deprecated: bool,
        full: bool,
    ) -> Any:
        prefix = f"Cloudflare API: cannot {what}: {method} {path} returned HTTP {status}"
        if attempts > 1:
            prefix += f" after {attempts} attempts"
        ok_status = 200 <= status < 300
        try:
            envelope = json.loads(body)
        except ValueError:
            envelope = None
        if not isinstance(envelope, dict) or "success" not in envelope:
            snippet = body[:200].decode("utf-8", "replace").strip() or "<empty body>"
            message = self._redact(
                f"{prefix} with a body that is not Cloudflare's JSON envelope: {snippet!r}"
            )
            if ok_status:
                raise UnexpectedResponseError(message, status=status, attempts=attempts)
            raise error_class_for_status(status)(
                self._with_hint(message, status, (), deprecated),
                status=status,
                attempts=attempts,
            )
        if ok_status and envelope.get("success") is True:
            return envelope if full else envelope.get("result")
        errors = [CloudflareMessage.from_json(e) for e in envelope.get("errors") or []]
        detail = "; ".join(str(e) for e in errors) or "no error details given"
        if ok_status:
            prefix += " with success=false"
        message = self._redact(self._with_hint(f"{prefix}: {detail}", status, errors, deprecated))
        raise error_class_for_status(status)(
            message, status=status, errors=errors, attempts=attempts
        )

    @staticmethod
    def _with_hint(
        message: str, status: int, errors: Sequence[CloudflareMessage], deprecated: bool
    ) -> str:
        codes = {e.code for e in errors}
        hints = []
        if status in (401, 403) or codes & {9103, 9106, 9109, 10000, 10001}:
            hints.append(TOKEN_PERMISSION_HINT)
        if status == 404 or codes & {7000, 7003}:
            hints.append(ROUTE_HINT)
        if deprecated and status not in (401, 403, 429) and status < 500:
            hints.append(DEPRECATED_HINT)
        return message + "".join(f"\nHint: {h}." for h in hints)

    def _connection_error(
        self, exc: requests.RequestException, method: str, path: str, what: str
    ) -> APIConnectionError:
        timed_out = isinstance(exc, requests.Timeout) or _caused_by(
            exc, (ReadTimeoutError, ConnectTimeoutError)
        )
        cls = APITimeoutError if timed_out else APIConnectionError
        kind = "no answer in time" if timed_out else "no answer"
        if isinstance(exc, requests.exceptions.ChunkedEncodingError):
            kind = (
                "the connection broke while reading the answer (the request may have been applied)"
            )
        policy = self._retry
        return cls(
            self._redact(
                f"Cloudflare API: cannot {what}: {method} {path}: {kind} after up to "
                f"{policy.max_attempts} attempts within {policy.total_timeout:g}s "
                f"({type(exc).__name__}: {exc})"
            )
        )

    def _redact(self, text: str) -> str:
        for secret in self._settings.credentials.secrets():
            if secret:
                text = text.replace(secret, "<redacted>")
        return text


def _attempts(response: requests.Response) -> int:
    retries = getattr(response.raw, "retries", None)
    history = getattr(retries, "history", ())
    return len(history) + 1


def _caused_by(exc: BaseException, types: tuple[type[BaseException], ...]) -> bool:
    """Whether ``types`` appears in the exception's arguments or chain (urllib3 nests them)."""
    pending: list[object] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen or current is None:
            continue
        seen.add(id(current))
        # urllib3 makes NewConnectionError (refused, unreachable) a ConnectTimeoutError.
        if isinstance(current, types) and not isinstance(current, NewConnectionError):
            return True
        if isinstance(current, BaseException):
            pending.extend(current.args)
            pending.extend(
                [current.__cause__, current.__context__, getattr(current, "reason", None)]
            )
    return False
