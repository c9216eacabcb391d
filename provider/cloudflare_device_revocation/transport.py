"""Transport: one request to Cloudflare's API, with auth and retries, its answer parsed.

Every answer is checked against Cloudflare's envelope ``{success, errors, messages,
result}``; every failure becomes a ``CloudflareError`` that says what was attempted, the
status, Cloudflare's codes and messages, and a hint where one helps, with any credential
an answer echoes redacted.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

import requests
import requests.auth
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ReadTimeoutError

from ._version import __version__
from .errors import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    CloudflareMessage,
    error_class_for_status,
)
from .ratelimit import RateLimiter
from .retry import RetryingAdapter, RetryPolicy
from .settings import ApiKey, ApiToken, Settings

__all__ = ["DEFAULT_TIMEOUT", "POOL_SIZE", "UNRESERVED", "Transport", "encode_query"]

log = logging.getLogger(__name__)

# The most requests one client may have in flight at once; the connection pool is this size.
POOL_SIZE = 16
# (connect, read) seconds for every request.
DEFAULT_TIMEOUT = (10.0, 30.0)
# Characters a query needs no escaping for.
UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")

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


class Transport:
    """A session with the retrying adapter mounted, sending requests for one client."""

    def __init__(
        self,
        settings: Settings,
        retry: RetryPolicy,
        *,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._settings = settings
        self._retry = retry
        self._timeout = timeout
        self._session = session or requests.Session()
        adapter = RetryingAdapter(retry, limiter, pool_maxsize=POOL_SIZE)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._session.headers["User-Agent"] = f"cloudflare-device-revocation/{__version__}"

    def close(self) -> None:
        """Close the underlying session."""
        self._session.close()

    def request(
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
                params=encode_query(params),
                data=None if json_body is None else json.dumps(json_body),
                headers={"Content-Type": "application/json"} if json_body is not None else None,
                # As ``auth``, not a header: requests would otherwise read ~/.netrc for every
                # request and, if it names the API's host, replace the credential with it.
                auth=_CredentialAuth(credentials),
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


def encode_query(params: Sequence[tuple[str, str]] | None) -> str | None:
    """The encoded query, as ``urlencode`` makes it; a join when nothing needs escaping.

    A list request carries hundreds of IDs: escaping them one by one costs more CPU than
    the rest of the request.
    """
    if not params:
        return None
    if UNRESERVED.fullmatch("".join(key + value for key, value in params)):
        return "&".join(f"{key}={value}" for key, value in params)
    return urlencode(params)


class _CredentialAuth(requests.auth.AuthBase):
    """Puts the credential's headers on a request."""

    def __init__(self, credentials: ApiToken | ApiKey) -> None:
        self._credentials = credentials

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.update(self._credentials.headers())
        return request


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
