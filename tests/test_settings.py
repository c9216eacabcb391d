"""Settings: where credentials and the base URL come from, and what is refused."""

from __future__ import annotations

import pytest

from cloudflare_device_revocation import ConfigurationError, RetryPolicy, resolve_settings
from cloudflare_device_revocation.ratelimit import RateLimiter
from cloudflare_device_revocation.settings import (
    CONFIG_KEYS,
    DEFAULT_BASE_URL,
    ApiKey,
    ApiToken,
    Settings,
    validate_base_url,
)

TOKEN = "tok-0123456789"


@pytest.mark.parametrize(
    ("config", "environ", "expected"),
    [
        ({"cloudflare:apiToken": TOKEN}, {}, ApiToken(TOKEN)),
        ({}, {"CLOUDFLARE_API_TOKEN": TOKEN}, ApiToken(TOKEN)),
        (
            {"cloudflare:apiKey": "k", "cloudflare:email": "a@example.com"},
            {},
            ApiKey(email="a@example.com", key="k"),
        ),
        (
            {},
            {"CLOUDFLARE_API_KEY": "k", "CLOUDFLARE_EMAIL": "a@example.com"},
            ApiKey(email="a@example.com", key="k"),
        ),
        # Stack config wins over the environment.
        (
            {"cloudflare:apiToken": "from-config"},
            {"CLOUDFLARE_API_TOKEN": "env"},
            ApiToken("from-config"),
        ),
        # Within one source, a token wins over a key.
        (
            {},
            {
                "CLOUDFLARE_API_TOKEN": TOKEN,
                "CLOUDFLARE_API_KEY": "k",
                "CLOUDFLARE_EMAIL": "a@example.com",
            },
            ApiToken(TOKEN),
        ),
        # Blank values count as unset.
        ({"cloudflare:apiToken": "  "}, {"CLOUDFLARE_API_TOKEN": TOKEN}, ApiToken(TOKEN)),
    ],
)
def test_credentials_resolution(
    config: dict[str, str], environ: dict[str, str], expected: object
) -> None:
    """Each source and precedence rule picks the expected credential."""
    assert resolve_settings(config, environ).credentials == expected


def test_missing_credentials_name_every_way_to_provide_them() -> None:
    """No credentials: one error naming config keys, environment variables and permission."""
    with pytest.raises(ConfigurationError) as caught:
        resolve_settings({}, {})
    message = str(caught.value)
    for name in (
        "cloudflare:apiToken",
        "CLOUDFLARE_API_TOKEN",
        "cloudflare:apiKey",
        "cloudflare:email",
        "CLOUDFLARE_API_KEY",
        "CLOUDFLARE_EMAIL",
        "Zero Trust Write",
    ):
        assert name in message


@pytest.mark.parametrize(
    ("environ", "missing"),
    [
        ({"CLOUDFLARE_API_KEY": "k"}, "CLOUDFLARE_EMAIL"),
        ({"CLOUDFLARE_EMAIL": "a@example.com"}, "CLOUDFLARE_API_KEY"),
    ],
)
def test_half_an_api_key_is_an_error(environ: dict[str, str], missing: str) -> None:
    """A key without its email (or the reverse) says which one is missing."""
    with pytest.raises(ConfigurationError, match=f"but not {missing}"):
        resolve_settings({}, environ)


def test_base_url_default_config_and_environment() -> None:
    """Default base URL, then environment, then stack config (which wins)."""
    creds = {"CLOUDFLARE_API_TOKEN": TOKEN}
    assert resolve_settings({}, creds).base_url == DEFAULT_BASE_URL
    env = {**creds, "CLOUDFLARE_BASE_URL": "https://proxy.example.com/client/v4/"}
    assert resolve_settings({}, env).base_url == "https://proxy.example.com/client/v4"
    config = {"cloudflare:baseUrl": "http://127.0.0.1:8080/client/v4"}
    assert resolve_settings(config, env).base_url == "http://127.0.0.1:8080/client/v4"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:1/client/v4",
        "http://localhost:9/x",
        "http://[::1]:9/x",
        "http://127.5.6.7/x",
        "https://api.cloudflare.com/client/v4",
    ],
)
def test_accepted_base_urls(url: str) -> None:
    """https anywhere; plain http only to loopback."""
    assert validate_base_url(url) == url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://api.cloudflare.com/client/v4", "unencrypted"),
        ("http://10.0.0.5/client/v4", "unencrypted"),
        ("http://127.0.0.1.example.com/x", "unencrypted"),
        ("ftp://api.cloudflare.com", "not an absolute http"),
        ("api.cloudflare.com/client/v4", "not an absolute http"),
        ("https://user:pw@api.cloudflare.com/client/v4", "must not embed credentials"),
    ],
)
def test_refused_base_urls(url: str, reason: str) -> None:
    """Non-loopback plain http, other schemes and embedded credentials are refused."""
    with pytest.raises(ConfigurationError, match=reason):
        validate_base_url(url)


def test_retry_settings_from_config_and_environment() -> None:
    """cloudflare:retries / minBackoff / maxBackoff shape the retry policy."""
    settings = resolve_settings(
        {"cloudflare:retries": "2", "cloudflare:minBackoff": "0.25"},
        {"CLOUDFLARE_API_TOKEN": TOKEN, "CLOUDFLARE_MAX_BACKOFF": "5"},
    )
    policy = settings.retry_policy()
    assert (policy.max_attempts, policy.backoff_factor, policy.backoff_max) == (3, 0.25, 5.0)


@pytest.mark.parametrize(
    ("environ", "match"),
    [
        ({"CLOUDFLARE_RETRIES": "lots"}, "CLOUDFLARE_RETRIES must be a number"),
        ({"CLOUDFLARE_RETRIES": "11"}, "from 0 to 10"),
        ({"CLOUDFLARE_RETRIES": "1.5"}, "whole number"),
        ({"CLOUDFLARE_MIN_BACKOFF": "-1"}, "CLOUDFLARE_MIN_BACKOFF"),
    ],
)
def test_bad_retry_settings(environ: dict[str, str], match: str) -> None:
    """Malformed retry settings are refused with the setting's name."""
    with pytest.raises(ConfigurationError, match=match):
        resolve_settings({}, {"CLOUDFLARE_API_TOKEN": TOKEN, **environ})


def test_reprs_never_show_secrets() -> None:
    """repr() of credentials and settings redacts the secret parts."""
    settings = Settings(ApiToken("very-secret"))
    key = ApiKey(email="a@example.com", key="also-secret")
    assert "very-secret" not in repr(settings)
    assert "also-secret" not in repr(key) and "a@example.com" in repr(key)


def test_defaults_are_the_retry_policys() -> None:
    """Unset retry settings give exactly RetryPolicy's defaults: one definition of each."""
    settings = resolve_settings({}, {"CLOUDFLARE_API_TOKEN": TOKEN})
    assert settings == Settings(ApiToken(TOKEN))
    policy, default = settings.retry_policy(), RetryPolicy()
    fields = ("max_attempts", "backoff_factor", "backoff_max", "jitter", "retry_after_max")
    assert [getattr(policy, f) for f in fields] == [getattr(default, f) for f in fields]
    assert settings.rate_limit_reserve == RateLimiter().reserve == 0.1


def test_rate_limit_settings_from_config_and_environment() -> None:
    """retryAfterMax reaches the retry policy; rateLimitReserve the shared limiter; config wins."""
    settings = resolve_settings(
        {"cloudflare:retryAfterMax": "600"},
        {
            "CLOUDFLARE_API_TOKEN": TOKEN,
            "CLOUDFLARE_RETRY_AFTER_MAX": "30",
            "CLOUDFLARE_RATE_LIMIT_RESERVE": "0.25",
        },
    )
    assert settings.retry_policy().retry_after_max == 600.0
    assert settings.rate_limit_reserve == 0.25
    assert settings.shared_limiter().reserve == 0.25
    assert {"cloudflare:retryAfterMax", "cloudflare:rateLimitReserve"} <= set(CONFIG_KEYS)


@pytest.mark.parametrize(
    ("environ", "match"),
    [
        ({"CLOUDFLARE_RETRY_AFTER_MAX": "3601"}, "CLOUDFLARE_RETRY_AFTER_MAX must be .* 0 to 3600"),
        ({"CLOUDFLARE_RETRY_AFTER_MAX": "-1"}, "CLOUDFLARE_RETRY_AFTER_MAX"),
        ({"CLOUDFLARE_RATE_LIMIT_RESERVE": "0.95"}, "CLOUDFLARE_RATE_LIMIT_RESERVE must .* 0.9"),
        ({"CLOUDFLARE_RATE_LIMIT_RESERVE": "10%"}, "CLOUDFLARE_RATE_LIMIT_RESERVE"),
    ],
)
def test_bad_rate_limit_settings(environ: dict[str, str], match: str) -> None:
    """Out-of-range or malformed retryAfterMax / rateLimitReserve are refused by name."""
    with pytest.raises(ConfigurationError, match=match):
        resolve_settings({}, {"CLOUDFLARE_API_TOKEN": TOKEN, **environ})


def test_the_limiter_key_names_credentials_and_base_url_without_the_secret() -> None:
    """One key per credential and base URL, holding neither secret nor email."""
    token, other = Settings(ApiToken(TOKEN)), Settings(ApiToken("tok-other"))
    key = Settings(ApiKey(email="a@example.com", key="k-secret"))
    elsewhere = Settings(ApiToken(TOKEN), "http://127.0.0.1:9/client/v4")
    assert token.limiter_key() == Settings(ApiToken(TOKEN)).limiter_key()
    keys = {s.limiter_key() for s in (token, other, key, elsewhere)}
    assert len(keys) == 4
    assert not any(part in k for k in keys for part in (TOKEN, "k-secret", "a@example.com"))
    assert token.shared_limiter() is Settings(ApiToken(TOKEN)).shared_limiter()
    assert token.shared_limiter() is not other.shared_limiter()
