"""Where credentials and the base URL come from: stack config first, then the environment.

The names are those of Cloudflare's own SDKs and of pulumi-cloudflare, so a user who has
either set up already has nothing new to learn:

===========================  =============================  ========================================
stack config                 environment                    meaning
===========================  =============================  ========================================
cloudflare:apiToken          CLOUDFLARE_API_TOKEN           API token (recommended), sent as Bearer
cloudflare:apiKey            CLOUDFLARE_API_KEY             Global API Key, with the account's email
cloudflare:email             CLOUDFLARE_EMAIL               the email that goes with the API key
cloudflare:baseUrl           CLOUDFLARE_BASE_URL            API root, default DEFAULT_BASE_URL
cloudflare:retries           CLOUDFLARE_RETRIES             retries after a failed attempt, 4
cloudflare:minBackoff        CLOUDFLARE_MIN_BACKOFF         first backoff in seconds, 1
cloudflare:maxBackoff        CLOUDFLARE_MAX_BACKOFF         longest backoff in seconds, 30
cloudflare:retryAfterMax     CLOUDFLARE_RETRY_AFTER_MAX     longest Retry-After wait (s), 300
cloudflare:rateLimitReserve  CLOUDFLARE_RATE_LIMIT_RESERVE  rate limit share left to others, 0.1
===========================  =============================  ========================================

The last column gives each default. Accepted ranges: retries 0 to 10,
minBackoff 0 to 60, maxBackoff 0 to 300, retryAfterMax 0 to 3600, rateLimitReserve 0 to 0.9.
Retries, minBackoff and maxBackoff are those of pulumi-cloudflare 4.x and Cloudflare's
Terraform provider 4.x; the last two are this package's own. The defaults are those of
``RetryPolicy`` and ``RateLimiter``, defined once in retry.py and ratelimit.py.

Stack config wins over the environment, and within one source a token wins over a key.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .errors import ConfigurationError
from .ratelimit import DEFAULT_RESERVE, RateLimiter, shared_limiter
from .retry import (
    DEFAULT_BACKOFF,
    DEFAULT_BACKOFF_MAX,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_RETRY_AFTER_MAX,
    RetryPolicy,
    WaitHook,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "ApiKey",
    "ApiToken",
    "Credentials",
    "Settings",
    "resolve_settings",
    "validate_base_url",
]

DEFAULT_BASE_URL = "https://api.cloudflare.com/client/v4"

CONFIG_TOKEN = "cloudflare:apiToken"
CONFIG_KEY = "cloudflare:apiKey"
CONFIG_EMAIL = "cloudflare:email"
CONFIG_BASE_URL = "cloudflare:baseUrl"
CONFIG_RETRIES = "cloudflare:retries"
CONFIG_MIN_BACKOFF = "cloudflare:minBackoff"
CONFIG_MAX_BACKOFF = "cloudflare:maxBackoff"
CONFIG_RETRY_AFTER_MAX = "cloudflare:retryAfterMax"
CONFIG_RATE_LIMIT_RESERVE = "cloudflare:rateLimitReserve"
# Every stack config key read here, for callers that collect them from a Pulumi Config.
CONFIG_KEYS = (
    CONFIG_TOKEN,
    CONFIG_KEY,
    CONFIG_EMAIL,
    CONFIG_BASE_URL,
    CONFIG_RETRIES,
    CONFIG_MIN_BACKOFF,
    CONFIG_MAX_BACKOFF,
    CONFIG_RETRY_AFTER_MAX,
    CONFIG_RATE_LIMIT_RESERVE,
)
ENV_TOKEN = "CLOUDFLARE_API_TOKEN"
ENV_KEY = "CLOUDFLARE_API_KEY"
ENV_EMAIL = "CLOUDFLARE_EMAIL"
ENV_BASE_URL = "CLOUDFLARE_BASE_URL"
ENV_RETRIES = "CLOUDFLARE_RETRIES"
ENV_MIN_BACKOFF = "CLOUDFLARE_MIN_BACKOFF"
ENV_MAX_BACKOFF = "CLOUDFLARE_MAX_BACKOFF"
ENV_RETRY_AFTER_MAX = "CLOUDFLARE_RETRY_AFTER_MAX"
ENV_RATE_LIMIT_RESERVE = "CLOUDFLARE_RATE_LIMIT_RESERVE"
MAX_RETRIES = 10
MAX_RETRY_AFTER_MAX = 3600.0
MAX_RATE_LIMIT_RESERVE = 0.9
# Salts limiter keys: a key is a digest of the credential, and only means something inside
# this process (the registry of shared limiters is per process), so it cannot be used to
# check a guessed credential anywhere else.
_LIMITER_KEY_SALT = os.urandom(16)

HOW_TO_AUTHENTICATE = (
    "Provide Cloudflare credentials in one of these ways:\n"
    f"  - an API token (recommended): `pulumi config set --secret {CONFIG_TOKEN} <token>` "
    f"or the environment variable {ENV_TOKEN};\n"
    f"  - a Global API Key and its email: `pulumi config set --secret {CONFIG_KEY} <key>` "
    f"with `pulumi config set {CONFIG_EMAIL} <email>`, "
    f"or the environment variables {ENV_KEY} and {ENV_EMAIL}.\n"
    'The token needs the "Zero Trust Write" permission on the account.'
)


@dataclass(frozen=True)
class ApiToken:
    """An API token, sent as ``Authorization: Bearer``."""

    token: str = field(repr=False)

    def headers(self) -> dict[str, str]:
        """The request headers that carry this credential."""
        return {"Authorization": f"Bearer {self.token}"}

    def secrets(self) -> tuple[str, ...]:
        """The values that must never appear in output."""
        return (self.token,)

    def __repr__(self) -> str:
        return "ApiToken(token=<redacted>)"


@dataclass(frozen=True)
class ApiKey:
    """A Global API Key and its account email, sent as ``X-Auth-Key`` and ``X-Auth-Email``."""

    email: str
    key: str = field(repr=False)

    def headers(self) -> dict[str, str]:
        """The request headers that carry this credential."""
        return {"X-Auth-Email": self.email, "X-Auth-Key": self.key}

    def secrets(self) -> tuple[str, ...]:
        """The values that must never appear in output."""
        return (self.key,)

    def __repr__(self) -> str:
        return f"ApiKey(email={self.email!r}, key=<redacted>)"


Credentials = ApiToken | ApiKey


@dataclass(frozen=True)
class Settings:
    """Everything a client needs to reach the API, resolved and validated."""

    credentials: Credentials
    base_url: str = DEFAULT_BASE_URL
    retries: int = DEFAULT_MAX_ATTEMPTS - 1
    min_backoff: float = DEFAULT_BACKOFF
    max_backoff: float = DEFAULT_BACKOFF_MAX
    retry_after_max: float = DEFAULT_RETRY_AFTER_MAX
    rate_limit_reserve: float = DEFAULT_RESERVE

    def retry_policy(self, *, on_wait: WaitHook | None = None) -> RetryPolicy:
        """The retry policy these settings describe; ``on_wait`` hears of every wait."""
        return RetryPolicy(
            max_attempts=self.retries + 1,
            backoff_factor=self.min_backoff,
            backoff_max=self.max_backoff,
            jitter=self.min_backoff,
            retry_after_max=self.retry_after_max,
            on_wait=on_wait,
        )

    def limiter_key(self) -> str:
        """What Cloudflare counts requests against, as a salted digest (never the secret).

        Cloudflare's rate limit is per user or token: the same credentials against the same
        base URL share one limit, whichever resource or client sends the requests.
        """
        digest = hashlib.sha256(_LIMITER_KEY_SALT)
        for part in (type(self.credentials).__name__, *self.credentials.secrets(), self.base_url):
            digest.update(part.encode())
            digest.update(b"\0")
        return digest.hexdigest()

    def shared_limiter(self) -> RateLimiter:
        """This process's one rate limiter for these credentials and base URL."""
        return shared_limiter(self.limiter_key(), reserve=self.rate_limit_reserve)


def _text(value: object) -> str | None:
    """A setting's value as stripped text, or None when unset or blank."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _credentials_from(
    get: Callable[[str], str | None], token_key: str, api_key_key: str, email_key: str, where: str
) -> Credentials | None:
    token = get(token_key)
    if token:
        return ApiToken(token)
    key, email = get(api_key_key), get(email_key)
    if key and email:
        return ApiKey(email=email, key=key)
    if key or email:
        missing, present = (email_key, api_key_key) if key else (api_key_key, email_key)
        raise ConfigurationError(
            f"{where} sets {present} but not {missing}: a Global API Key is only "
            f"accepted together with its account email.\n{HOW_TO_AUTHENTICATE}"
        )
    return None


def validate_base_url(url: str) -> str:
    """Return ``url`` without a trailing slash, or refuse it.

    Plain ``http://`` is accepted only for a loopback host (an emulator on this
    machine): anywhere else it would send the credential in clear text.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigurationError(
            f"The Cloudflare base URL {url!r} is not an absolute http(s) URL; "
            f"expected something like {DEFAULT_BASE_URL!r}."
        )
    if parts.username or parts.password:
        raise ConfigurationError(
            "The Cloudflare base URL must not embed credentials; "
            f"use {ENV_TOKEN} or {CONFIG_TOKEN} instead."
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ConfigurationError(
            f"The Cloudflare base URL {url!r} uses plain http to a host that is not "
            "loopback; credentials would travel unencrypted. Use https, or http only "
            "for an emulator on 127.0.0.1 / localhost."
        )
    return url.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_settings(
    config: Mapping[str, object] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Resolve credentials and base URL from stack config, then the environment.

    ``config`` is the stack configuration as a dynamic provider receives it (keys like
    ``cloudflare:apiToken``); ``environ`` defaults to nothing, so callers pass
    ``os.environ`` explicitly.
    """
    config = config or {}
    environ = environ or {}

    def from_config(key: str) -> str | None:
        return _text(config.get(key))

    def from_env(key: str) -> str | None:
        return _text(environ.get(key))

    credentials = _credentials_from(
        from_config, CONFIG_TOKEN, CONFIG_KEY, CONFIG_EMAIL, "The stack config"
    ) or _credentials_from(from_env, ENV_TOKEN, ENV_KEY, ENV_EMAIL, "The environment")
    if credentials is None:
        raise ConfigurationError(f"No Cloudflare credentials were found.\n{HOW_TO_AUTHENTICATE}")
    base_url = from_config(CONFIG_BASE_URL) or from_env(ENV_BASE_URL) or DEFAULT_BASE_URL

    def number(config_key: str, env_key: str, default: float, upper: float) -> float:
        raw = from_config(config_key)
        name = config_key
        if raw is None:
            raw, name = from_env(env_key), env_key
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if not 0 <= value <= upper:
            raise ConfigurationError(f"{name} must be a number from 0 to {upper:g}, got {raw!r}")
        return value

    retries = number(CONFIG_RETRIES, ENV_RETRIES, DEFAULT_MAX_ATTEMPTS - 1, MAX_RETRIES)
    if retries != int(retries):
        raise ConfigurationError(f"The retry count must be a whole number, got {retries:g}")
    min_backoff = number(CONFIG_MIN_BACKOFF, ENV_MIN_BACKOFF, DEFAULT_BACKOFF, 60.0)
    max_backoff = number(CONFIG_MAX_BACKOFF, ENV_MAX_BACKOFF, DEFAULT_BACKOFF_MAX, 300.0)
    retry_after_max = number(
        CONFIG_RETRY_AFTER_MAX, ENV_RETRY_AFTER_MAX, DEFAULT_RETRY_AFTER_MAX, MAX_RETRY_AFTER_MAX
    )
    reserve = number(
        CONFIG_RATE_LIMIT_RESERVE, ENV_RATE_LIMIT_RESERVE, DEFAULT_RESERVE, MAX_RATE_LIMIT_RESERVE
    )
    return Settings(
        credentials=credentials,
        base_url=validate_base_url(base_url),
        retries=int(retries),
        min_backoff=min_backoff,
        max_backoff=max(max_backoff, min_backoff),
        retry_after_max=retry_after_max,
        rate_limit_reserve=reserve,
    )
