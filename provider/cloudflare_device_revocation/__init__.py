"""Revoke Cloudflare Zero Trust (WARP) device registrations from a Pulumi program.

::

    from cloudflare_device_revocation import DeviceRevocation

    DeviceRevocation(
        "lost-laptops",
        account_id="699d98642c564d2e855e9661899b7252",
        registration_ids=["f174e90a-fafe-4643-bbbc-4a0ed4fc8415"],
    )
"""

from __future__ import annotations

from ._version import __version__
from .batches import Refusal, RevokeResult
from .client import CloudflareClient, Confirmation
from .errors import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CloudflareError,
    ConfigurationError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RevocationError,
    UnexpectedResponseError,
    UnprocessableEntityError,
)
from .lookup import find_registrations
from .provider import DeploymentError, DeviceRevocationProvider
from .resource import DeviceRevocation
from .retry import RetryPolicy
from .settings import Settings, resolve_settings

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "CloudflareClient",
    "CloudflareError",
    "ConfigurationError",
    "Confirmation",
    "ConflictError",
    "DeploymentError",
    "DeviceRevocation",
    "DeviceRevocationProvider",
    "InternalServerError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "Refusal",
    "RetryPolicy",
    "RevocationError",
    "RevokeResult",
    "Settings",
    "UnexpectedResponseError",
    "UnprocessableEntityError",
    "__version__",
    "find_registrations",
    "resolve_settings",
]
