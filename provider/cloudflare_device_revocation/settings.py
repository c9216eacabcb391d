"""Where credentials and the base URL come from: stack config first, then the environment.

The names are those of Cloudflare's own SDKs and of pulumi-cloudflare, so a user who has
either set up already has nothing new to learn:

==========================  =======================  ===========================================
stack config                environment              meaning
==========================  =======================  ===========================================
``cloudflare:apiToken``     ``CLOUDFLARE_API_TOKEN``  API token (recommended), sent as Bearer
``cloudflare:apiKey``       ``CLOUDFLARE_API_KEY``    Global API Key, with the account's email
``cloudflare:email``        ``CLOUDFLARE_EMAIL``      the email that goes with the API key
``cloudflare:baseUrl``      ``CLOUDFLARE_BASE_URL``   API root, default ``DEFAULT_BASE_URL``
``cloudflare:retries``      ``CLOUDFLARE_RETRIES``    retries after a failed attempt, default 4
``cloudflare:minBackoff``   ``CLOUDFLARE_MIN_BACKOFF``  first backoff in seconds, default 1
``cloudflare:maxBackoff``   ``CLOUDFLARE_MAX_BACKOFF``  longest backoff in seconds, default 30
==========================  =======================  ===========================================

The last three are those of pulumi-cloudflare 4.x and Cloudflare's Terraform provider 4.x.

Stack config wins over the environment, and within one source a token wins over a key.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .errors import ConfigurationError
from .retry import RetryPolicy

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
# Every stack config key read here, for callers that collect them from a Pulumi Config.
CONFIG_KEYS = (
    CONFIG_TOKEN,
    CONFIG_KEY,
    CONFIG_EMAIL,
    CONFIG_BASE_URL,
    CONFIG_RETRIES,
    CONFIG_MIN_BACKOFF,
    CONFIG_MAX_BACKOFF,
)
ENV_TOKEN = "CLOUDFLARE_API_TOKEN"
ENV_KEY = "CLOUDFLARE_API_KEY"
ENV_EMAIL = "CLOUDFLARE_EMAIL"
ENV_BASE_URL = "CLOUDFLARE_BASE_URL"
ENV_RETRIES = "CLOUDFLARE_RETRIES"
ENV_MIN_BACKOFF = "CLOUDFLARE_MIN_BACKOFF"
ENV_MAX_BACKOFF = "CLOUDFLARE_MAX_BACKOFF"
MAX_RETRIES = 10

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
    retries: int = 4
    min_backoff: float = 1.0
    max_backoff: float = 30.0

    def retry_policy(self) -> RetryPolicy:
        """The retry policy these settings describe."""
        return RetryPolicy(
            max_attempts=self.retries + 1,
            backoff_factor=self.min_backoff,
            backoff_max=self.max_backoff,
            jitter=self.min_backoff,
        )


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

    retries = number(CONFIG_RETRIES, ENV_RETRIES, 4, MAX_RETRIES)
    if retries != int(retries):
        raise ConfigurationError(f"The retry count must be a whole number, got {retries:g}")
    min_backoff = number(CONFIG_MIN_BACKOFF, ENV_MIN_BACKOFF, 1.0, 60.0)
    max_backoff = number(CONFIG_MAX_BACKOFF, ENV_MAX_BACKOFF, 30.0, 300.0)
    return Settings(
        credentials=credentials,
        base_url=validate_base_url(base_url),
        retries=int(retries),
        min_backoff=min_backoff,
        max_backoff=max(max_backoff, min_backoff),
    )
