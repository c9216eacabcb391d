"""CloudflareClient: one session, one ``_request()``, and the revoke and list calls.

The operations and their shapes follow Cloudflare's OpenAPI schema for Zero Trust
devices (``cloudflare/api-schemas``):

- ``POST /accounts/{account_id}/devices/registrations/revoke?id=..&id=..``, no body;
- ``POST /accounts/{account_id}/devices/revoke``, a bare JSON array of registration IDs
  (deprecated: end of life 2025-11-11, unsupported with multi-user mode);
- ``GET /accounts/{account_id}/devices/registrations`` with filters and cursor pagination.

The schema lists only API tokens for the registration operations. A Global API Key is
sent anyway (Cloudflare may accept it); when Cloudflare refuses it, the error says that
an API token is what these operations take.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ReadTimeoutError

from ._version import __version__
from .batches import Progress, RevokeResult, revoke_in_batches
from .errors import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    BadRequestError,
    CloudflareMessage,
    error_class_for_status,
)
from .ratelimit import RateLimiter, Wait
from .retry import RetryingAdapter, RetryPolicy
from .settings import ApiKey, Settings

__all__ = [
    "DEFAULT_ENDPOINT",
    "DEFAULT_TIMEOUT",
    "ENDPOINTS",
    "IDS_PER_LIST",
    "MAX_IDS_PER_REQUEST",
    "MAX_REGISTRATION_ID_LENGTH",
    "POOL_SIZE",
    "CloudflareClient",
    "Confirmation",
    "Endpoint",
]

log = logging.getLogger(__name__)

Endpoint = Literal["devices", "registrations"]
ENDPOINTS: tuple[Endpoint, ...] = get_args(Endpoint)
# The supported revoke operation; "devices" passed its end of life on 2025-11-11.
DEFAULT_ENDPOINT: Endpoint = "registrations"

# Cloudflare accepts at most this many registration IDs in one revoke request.
MAX_IDS_PER_REQUEST = 200
# The schema's maxLength for a registration ID (a UUID is 36 characters).
MAX_REGISTRATION_ID_LENGTH = 36
# IDs per list request when confirming: 500 IDs make a URL of about 20 KB, under the
# 32 KB Cloudflare accepts, and 2.5 revoke batches per list request. Cloudflare documents
# no maximum page size; when it refuses one, the client halves it (see list_registrations).
IDS_PER_LIST = 500
PER_PAGE = 500
MIN_PER_PAGE = 10
MAX_LIST_PAGES = 1_000
# Cloudflare does not say whether its listing shows a revoke as soon as the revoke has
# answered. IDs accepted but not listed as revoked yet are listed again after these waits.
CONFIRM_RECHECKS = (1.0, 2.0, 4.0)
# The most revoke batches that may be in flight at once; the connection pool is this size.
POOL_SIZE = 16
# (connect, read) seconds for every request.
DEFAULT_TIMEOUT = (10.0, 30.0)

TOKEN_PERMISSION_HINT = (
    'check the credentials: the API token must be valid and have the "Zero Trust Write" '
    'permission on this account ("Zero Trust Read" is enough for listing)'
)
TOKEN_ONLY_HINT = (
    "Cloudflare's schema lists only API tokens for the /devices/registrations operations, "
    'and a Global API Key was sent: use an API token with the "Zero Trust Write" permission'
)
ROUTE_HINT = "check the account ID: Cloudflare found no such account or route for these credentials"
DEPRECATED_HINT = (
    "POST /devices/revoke is deprecated (end of life 2025-11-11) and unsupported on accounts "
    "with multi-user mode; its successor is POST /devices/registrations/revoke"
)


@dataclass(frozen=True)
class Confirmation:
    """What Cloudflare lists for a set of registration IDs, each in the order asked.

    ``revoked``: listed with ``revoked_at`` set; ``active``: listed and not revoked;
    ``missing``: not listed, or listed as deleted: Cloudflare has no live registration
    by that ID in the account.
    """

    revoked: tuple[str, ...] = ()
    active: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()


def _is_deleted(registration: Mapping[str, Any]) -> bool:
    return registration.get("deleted_at") is not None


def _is_revoked(registration: Mapping[str, Any]) -> bool:
    return registration.get("revoked_at") is not None


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
        self._per_page = PER_PAGE
        self._session = session or requests.Session()
        adapter = RetryingAdapter(self._retry, limiter, pool_maxsize=POOL_SIZE)
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
        endpoint: Endpoint = DEFAULT_ENDPOINT,
        progress: Progress | None = None,
        max_in_flight: int = 1,
    ) -> RevokeResult:
        """Revoke every ID, in batches of ``MAX_IDS_PER_REQUEST``; see ``batches``.

        Up to ``max_in_flight`` batches are sent at once (each request retries on its own,
        honouring Retry-After). A batch refused for what may be a bad ID is split until
        the bad IDs are isolated; they come back as ``refusals``. After any other failure
        no new batch starts; the ones in flight finish, then ``RevocationError`` names
        what was and was not revoked.
        """
        if not 1 <= max_in_flight <= POOL_SIZE:
            raise ValueError(
                f"Expected 1 <= max_in_flight <= {POOL_SIZE} but received {max_in_flight!r}"
            )
        if endpoint not in ENDPOINTS:
            raise ValueError(
                f"Expected endpoint to be one of {ENDPOINTS} but received {endpoint!r}"
            )
        return revoke_in_batches(
            lambda ids: self.revoke_batch(account_id, ids, endpoint=endpoint),
            registration_ids,
            account_id=account_id,
            batch_size=MAX_IDS_PER_REQUEST,
            max_in_flight=max_in_flight,
            progress=progress,
        )

    def revoke_batch(
        self,
        account_id: str,
        registration_ids: Sequence[str],
        *,
        endpoint: Endpoint = DEFAULT_ENDPOINT,
    ) -> None:
        """Revoke up to ``MAX_IDS_PER_REQUEST`` IDs in one request."""
        ids = list(registration_ids)
        if not 1 <= len(ids) <= MAX_IDS_PER_REQUEST:
            raise ValueError(
                f"Expected 1 to {MAX_IDS_PER_REQUEST} registration IDs but received {len(ids)}"
            )
        what = (
            f"revoke {len(ids)} registration{'' if len(ids) == 1 else 's'} in account {account_id}"
        )
        if endpoint == "registrations":
            self._request(
                "POST",
                f"/accounts/{account_id}/devices/registrations/revoke",
                params=[("id", i) for i in ids],
                what=what,
                token_only=True,
            )
        elif endpoint == "devices":
            self._request(
                "POST",
                f"/accounts/{account_id}/devices/revoke",
                json_body=ids,
                what=what,
                deprecated=True,
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
        max_pages: int = MAX_LIST_PAGES,
    ) -> list[dict[str, Any]]:
        """Every registration matching the filters, following the cursor to the end.

        Cloudflare documents no maximum ``per_page``. If it refuses the client's page size
        with a 400, the client halves it (down to ``MIN_PER_PAGE``) and keeps the size
        that worked for its later calls; a smaller page than asked for is fine, since the
        cursor is followed either way.
        """
        while True:
            try:
                return self._list_pages(
                    account_id,
                    ids=list(ids),
                    user_ids=list(user_ids),
                    device_id=device_id,
                    search=search,
                    status=status,
                    max_pages=max_pages,
                )
            except BadRequestError:
                if self._per_page <= MIN_PER_PAGE:
                    raise
                self._per_page = max(MIN_PER_PAGE, self._per_page // 2)
                log.debug("list refused; retrying with per_page=%d", self._per_page)

    def _list_pages(
        self,
        account_id: str,
        *,
        ids: list[str],
        user_ids: list[str],
        device_id: str | None,
        search: str | None,
        status: str,
        max_pages: int,
    ) -> list[dict[str, Any]]:
        base: list[tuple[str, str]] = [("id", i) for i in ids]
        base += [("user.id", u) for u in user_ids]
        if device_id is not None:
            base.append(("device.id", device_id))
        if search is not None:
            base.append(("search", search))
        base += [("status", status), ("per_page", str(self._per_page))]
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
                raise APIResponseValidationError(
                    f"Cloudflare API: {what}: expected a list of registrations, got "
                    f"{type(page).__name__}",
                    status_code=200,
                )
            found.extend(r for r in page if isinstance(r, dict))
            info = envelope.get("result_info") or {}
            cursor = (info.get("cursor") or "") if isinstance(info, Mapping) else ""
            if not page or not cursor:
                return found
            if cursor in seen_cursors:
                raise APIResponseValidationError(
                    f"Cloudflare API: {what}: the pagination cursor repeated; stopped after "
                    f"{len(found)} registrations",
                    status_code=200,
                )
            seen_cursors.add(cursor)
        raise APIResponseValidationError(
            f"Cloudflare API: {what}: pagination did not end within {max_pages} pages",
            status_code=200,
        )

    def registrations_by_id(self, account_id: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The registrations Cloudflare lists among ``ids`` (``status=all``), keyed by ID."""
        found: dict[str, dict[str, Any]] = {}
        wanted = set(ids)
        for start in range(0, len(ids), IDS_PER_LIST):
            chunk = ids[start : start + IDS_PER_LIST]
            for reg in self.list_registrations(account_id, ids=chunk, status="all"):
                reg_id = reg.get("id")
                # A deleted and a live registration may share an ID: the live one wins.
                if (
                    isinstance(reg_id, str)
                    and reg_id in wanted
                    and (reg_id not in found or _is_deleted(found[reg_id]))
                ):
                    found[reg_id] = reg
        return found

    def confirm(
        self, account_id: str, ids: Sequence[str], *, accepted: Collection[str] = ()
    ) -> Confirmation:
        """Ask Cloudflare which of ``ids`` are revoked, still active, or missing.

        IDs in ``accepted`` (a revoke for them was accepted) that are listed as active are
        listed again after each of ``CONFIRM_RECHECKS``, in case the listing lags behind
        the revoke; whatever is still active after that is reported active.
        """
        state = self._states(account_id, ids)
        for delay in CONFIRM_RECHECKS:
            lagging = [i for i in ids if state[i] == "active" and i in accepted]
            if not lagging:
                break
            self._pause(
                delay,
                f"{len(lagging)} accepted revocation(s) not listed as revoked yet",
                f"/accounts/{account_id}/devices/registrations",
            )
            state.update(self._states(account_id, lagging))
        return Confirmation(
            *(
                tuple(i for i in ids if state[i] == kind)
                for kind in ("revoked", "active", "missing")
            )
        )

    def _states(self, account_id: str, ids: Sequence[str]) -> dict[str, str]:
        """Each ID's state as listed: "revoked", "active" or "missing"."""
        found = self.registrations_by_id(account_id, ids)
        states: dict[str, str] = {}
        for reg_id in ids:
            reg = found.get(reg_id)
            if reg is None or _is_deleted(reg):
                states[reg_id] = "missing"
            else:
                states[reg_id] = "revoked" if _is_revoked(reg) else "active"
        return states

    def _pause(self, seconds: float, reason: str, path: str) -> None:
        """Wait between requests, announced like the retry policy's waits."""
        if self._retry.on_wait is not None:
            self._retry.on_wait(Wait(seconds, reason, "GET", path))
        self._retry.sleep(seconds)

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
        key_on_token_route = token_only and isinstance(credentials, ApiKey)
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
            key_on_token_route=key_on_token_route,
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
        key_on_token_route: bool,
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
                raise APIResponseValidationError(message, status_code=status, attempts=attempts)
            raise error_class_for_status(status)(
                self._with_hint(message, status, (), deprecated, key_on_token_route),
                status_code=status,
                attempts=attempts,
            )
        if ok_status and envelope.get("success") is True:
            return envelope if full else envelope.get("result")
        errors = [CloudflareMessage.from_json(e) for e in envelope.get("errors") or []]
        detail = "; ".join(str(e) for e in errors) or "no error details given"
        if ok_status:
            prefix += " with success=false"
        message = self._redact(
            self._with_hint(f"{prefix}: {detail}", status, errors, deprecated, key_on_token_route)
        )
        raise error_class_for_status(status)(
            message, status_code=status, errors=errors, attempts=attempts
        )

    @staticmethod
    def _with_hint(
        message: str,
        status: int,
        errors: Sequence[CloudflareMessage],
        deprecated: bool,
        key_on_token_route: bool,
    ) -> str:
        codes = {e.code for e in errors}
        hints = []
        auth_failed = status in (401, 403) or bool(codes & {9103, 9106, 9109, 10000, 10001})
        if auth_failed and key_on_token_route:
            hints.append(TOKEN_ONLY_HINT)
        elif auth_failed:
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
