"""The exception tree: every failure a user can meet, and what it carries.

The names and the shape follow Cloudflare's own Python SDK (cloudflare-python), so that
``except APIError`` means the same thing in both libraries::

    CloudflareError                     base of everything raised here
    ├── ConfigurationError              settings missing or unsafe; no request was sent
    ├── APIError                        a request to Cloudflare failed
    │   ├── APIConnectionError          no HTTP answer: refused, reset, DNS, TLS
    │   │   └── APITimeoutError         the server did not answer in time
    │   ├── APIResponseValidationError  a 2xx answer that is not Cloudflare's JSON envelope
    │   └── APIStatusError              a status or ``success: false``; ``status_code``
    │       ├── BadRequestError         400
    │       ├── AuthenticationError     401
    │       ├── PermissionDeniedError   403
    │       ├── NotFoundError           404
    │       ├── ConflictError           409
    │       ├── UnprocessableEntityError 422
    │       ├── RateLimitError          429
    │       └── InternalServerError     5xx
    └── RevocationError                 a batched revocation stopped part-way; names what landed

Every message says what was attempted (method, path, account, how many IDs), the HTTP
status, Cloudflare's own error codes, messages and documentation links, and a hint where
one helps. Messages never contain a credential: the client redacts any that an upstream
body echoes back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "CloudflareError",
    "CloudflareMessage",
    "ConfigurationError",
    "ConflictError",
    "InternalServerError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RevocationError",
    "UnexpectedResponseError",
    "UnprocessableEntityError",
    "describe_ids",
    "error_class_for_status",
]

# How many IDs an error message lists before it summarises the rest as a count.
MAX_IDS_IN_MESSAGE = 20


@dataclass(frozen=True)
class CloudflareMessage:
    """One entry of the envelope's ``errors`` or ``messages`` array."""

    code: int | None
    message: str
    documentation_url: str | None = None
    pointer: str | None = None

    @classmethod
    def from_json(cls, raw: object) -> CloudflareMessage:
        """Read an entry leniently: Cloudflare's shape varies between products."""
        if not isinstance(raw, Mapping):
            return cls(code=None, message=str(raw))
        code = raw.get("code")
        source = raw.get("source")
        pointer = source.get("pointer") if isinstance(source, Mapping) else None
        doc = raw.get("documentation_url")
        return cls(
            code=code if isinstance(code, int) and not isinstance(code, bool) else None,
            message=str(raw.get("message", "")),
            documentation_url=doc if isinstance(doc, str) and doc else None,
            pointer=pointer if isinstance(pointer, str) and pointer else None,
        )

    def __str__(self) -> str:
        text = f"[{self.code}] {self.message}" if self.code is not None else self.message
        if self.pointer:
            text += f" (at {self.pointer})"
        if self.documentation_url:
            text += f" (see {self.documentation_url})"
        return text


class CloudflareError(Exception):
    """Base class of every error this package raises."""


class ConfigurationError(CloudflareError):
    """Credentials or the base URL are missing or unsafe; nothing was sent."""


class APIError(CloudflareError):
    """A request to Cloudflare failed: no answer, an unexpected answer, or an error status.

    ``errors`` are Cloudflare's own error entries (possibly empty); ``attempts`` is how many
    times the request was sent, retries included.
    """

    def __init__(
        self,
        message: str,
        *,
        errors: Sequence[CloudflareMessage] = (),
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.errors = tuple(errors)
        self.attempts = attempts

    @property
    def codes(self) -> tuple[int, ...]:
        """Cloudflare's error codes, in the order the API gave them."""
        return tuple(e.code for e in self.errors if e.code is not None)


class APIConnectionError(APIError):
    """The request got no HTTP answer after every permitted attempt."""


class APITimeoutError(APIConnectionError):
    """The server did not answer within the timeout after every permitted attempt."""


class _StatusCarryingError(APIError):
    """An ``APIError`` for an HTTP answer: it carries the answer's ``status_code``."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        errors: Sequence[CloudflareMessage] = (),
        attempts: int = 1,
    ) -> None:
        super().__init__(message, errors=errors, attempts=attempts)
        self.status_code = status_code


class APIResponseValidationError(_StatusCarryingError):
    """A 2xx answer whose body is not Cloudflare's JSON envelope, or not the expected shape."""


# The name this package used before 0.2.0.
UnexpectedResponseError = APIResponseValidationError


class APIStatusError(_StatusCarryingError):
    """Cloudflare reported failure: an error status, or ``success: false`` (``status_code`` 200)."""


class BadRequestError(APIStatusError):
    """HTTP 400."""


class AuthenticationError(APIStatusError):
    """HTTP 401."""


class PermissionDeniedError(APIStatusError):
    """HTTP 403."""


class NotFoundError(APIStatusError):
    """HTTP 404."""


class ConflictError(APIStatusError):
    """HTTP 409."""


class UnprocessableEntityError(APIStatusError):
    """HTTP 422."""


class RateLimitError(APIStatusError):
    """HTTP 429, still limited after every permitted retry."""


class InternalServerError(APIStatusError):
    """HTTP 5xx, still failing after every permitted retry."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def error_class_for_status(status: int) -> type[APIStatusError]:
    """The most specific ``APIStatusError`` subclass for an HTTP status."""
    if status >= 500:
        return InternalServerError
    return _BY_STATUS.get(status, APIStatusError)


def describe_ids(ids: Sequence[str], limit: int = MAX_IDS_IN_MESSAGE) -> str:
    """List IDs for a message, summarising past ``limit`` as a count."""
    if not ids:
        return "none"
    shown = ", ".join(ids[:limit])
    rest = len(ids) - limit
    return f"{shown} and {rest} more" if rest > 0 else shown


class RevocationError(CloudflareError):
    """A batched revocation stopped part-way.

    ``revoked`` lists the IDs that Cloudflare accepted before the failure and
    ``not_revoked`` those it did not; the failing ``APIError`` is ``cause``. The message
    names both. Revoking is idempotent, so sending the same revocation again is safe and
    converges.
    """

    def __init__(
        self,
        *,
        account_id: str,
        batch: int,
        batches: int,
        revoked: Sequence[str],
        not_revoked: Sequence[str],
        cause: CloudflareError,
    ) -> None:
        self.account_id = account_id
        self.batch = batch
        self.batches = batches
        self.revoked = tuple(revoked)
        self.not_revoked = tuple(not_revoked)
        self.cause = cause
        super().__init__(self._describe())

    def _describe(self) -> str:
        if self.batches == 1 and not self.revoked:
            return str(self.cause)
        total = len(self.revoked) + len(self.not_revoked)
        return (
            f"Revocation in account {self.account_id} stopped at batch {self.batch} of "
            f"{self.batches}: {self.cause}\n"
            f"Revoked before the failure ({len(self.revoked)} of {total}): "
            f"{describe_ids(self.revoked)}.\n"
            f"Not revoked ({len(self.not_revoked)} of {total}): "
            f"{describe_ids(self.not_revoked)}."
        )
