"""DeviceRevocationProvider's lifecycle against the emulator, asserting on its state."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from typing import Any

import dill
import pytest
from pulumi.dynamic import ConfigureRequest
from pulumi.dynamic.config import Config
from pulumi.runtime.rpc import UNKNOWN

from cloudflare_device_revocation import (
    ConfigurationError,
    DeviceRevocationProvider,
    PermissionDeniedError,
    RevocationError,
)
from cloudflare_device_revocation.emulator import DEFAULT_TOKEN, Emulator
from support import ACCOUNT, OTHER_ACCOUNT

REVOKES = r"/revoke$"


@pytest.fixture(autouse=True)
def _no_ambient_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "CLOUDFLARE_API_TOKEN",
        "CLOUDFLARE_API_KEY",
        "CLOUDFLARE_EMAIL",
        "CLOUDFLARE_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)


def configured(emulator: Emulator, **extra: str) -> DeviceRevocationProvider:
    provider = DeviceRevocationProvider()
    config = {
        "cloudflare:apiToken": DEFAULT_TOKEN,
        "cloudflare:baseUrl": emulator.base_url,
        "cloudflare:minBackoff": "0",
        **extra,
    }
    provider.configure(ConfigureRequest(Config(config, "test")))
    return provider


@pytest.fixture
def provider(emulator: Emulator) -> Iterator[DeviceRevocationProvider]:
    yield configured(emulator)


def checked(provider: DeviceRevocationProvider, **news: Any) -> dict[str, Any]:
    result = provider.check({}, news)
    assert result.failures == []
    return result.inputs


def test_create_revokes_the_declared_set(
    emulator: Emulator, provider: DeviceRevocationProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    """Create revokes exactly the declared IDs and echoes normalized inputs as outputs."""
    ids = emulator.state.seed(ACCOUNT, 4)
    inputs = checked(provider, account_id=ACCOUNT, registration_ids=[ids[2], ids[0], ids[0]])
    result = provider.create(inputs)
    assert emulator.state.revoked_ids(ACCOUNT) == {ids[0], ids[2]}
    assert result.id.startswith(f"{ACCOUNT}/")
    assert result.outs == {
        "account_id": ACCOUNT,
        "registration_ids": [ids[2], ids[0]],
        "endpoint": "devices",
        "revoked_ids": sorted([ids[0], ids[2]]),
    }
    assert "revoked 2 registrations in account" in capsys.readouterr().out


def test_full_lifecycle(
    emulator: Emulator, provider: DeviceRevocationProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    """Add revokes only new IDs; removing calls no API; refresh finds drift; delete calls none."""
    ids = emulator.state.seed(ACCOUNT, 5)
    first = checked(
        provider, account_id=ACCOUNT, registration_ids=ids[:2], endpoint="registrations"
    )
    created = provider.create(first)
    outs = created.outs or {}

    # Adding IDs: an update that revokes only the new ones.
    second = checked(
        provider, account_id=ACCOUNT, registration_ids=ids[:4], endpoint="registrations"
    )
    diff = provider.diff(created.id, outs, second)
    assert diff.changes is True and diff.replaces == []
    emulator.requests.clear()
    outs = provider.update(created.id, outs, second).outs or {}
    [request] = emulator.requests.matching("POST", REVOKES)
    assert sorted(request.query["id"]) == sorted(ids[2:4])
    assert emulator.state.revoked_ids(ACCOUNT) == set(ids[:4])

    # Removing IDs: an update that calls no API and says they stay revoked.
    third = checked(
        provider, account_id=ACCOUNT, registration_ids=ids[1:4], endpoint="registrations"
    )
    emulator.requests.clear()
    capsys.readouterr()
    outs = provider.update(created.id, outs, third).outs or {}
    assert emulator.requests.all() == []
    assert "1 registration removed from the declaration stay revoked" in capsys.readouterr().out
    assert outs["registration_ids"] == ids[1:4]
    assert outs["revoked_ids"] == sorted(ids[:4])
    assert emulator.state.revoked_ids(ACCOUNT) == set(ids[:4])

    # Identical inputs: no change.
    assert provider.diff(created.id, outs, third).changes is False

    # Refresh with no drift returns the same state.
    read = provider.read(created.id, {**outs})
    assert read.outs == outs

    # Out-of-band unrevoke of a declared and of a removed ID; a third registration deleted.
    emulator.state.set_revoked(ACCOUNT, [ids[2], ids[0]], False)
    emulator.state.delete_registration(ACCOUNT, ids[3])
    read = provider.read(created.id, {**outs})
    assert read.inputs is not None and read.outs is not None
    assert read.inputs["registration_ids"] == [ids[1], ids[3]]
    assert read.outs["revoked_ids"] == sorted([ids[1], ids[3]])
    assert "2 registrations in account" in capsys.readouterr().out

    # The next up sees ids[2] as added and revokes it again; ids[0] was removed: left alone.
    diff = provider.diff(created.id, read.outs, third)
    assert diff.changes is True
    emulator.requests.clear()
    outs = provider.update(created.id, read.outs, third).outs or {}
    [request] = emulator.requests.matching("POST", REVOKES)
    assert request.query["id"] == [ids[2]]
    assert ids[2] in emulator.state.revoked_ids(ACCOUNT)
    assert ids[0] not in emulator.state.revoked_ids(ACCOUNT)

    # Delete calls no API and says the registrations stay revoked.
    emulator.requests.clear()
    provider.delete(created.id, outs)
    assert emulator.requests.all() == []
    assert "stay revoked" in capsys.readouterr().out
    assert {ids[1], ids[2]} <= emulator.state.revoked_ids(ACCOUNT)
    # Nothing in the whole lifecycle ever called unrevoke.
    assert emulator.requests.matching(path="unrevoke") == []


def test_diff_account_change_replaces(provider: DeviceRevocationProvider) -> None:
    """A new account_id (or one unknown in preview) is a replacement."""
    olds = {"account_id": ACCOUNT, "registration_ids": ["a"], "endpoint": "devices"}
    for account in (OTHER_ACCOUNT, UNKNOWN):
        diff = provider.diff("id", olds, {**olds, "account_id": account})
        assert diff.changes is True and diff.replaces == ["account_id"]


@pytest.mark.parametrize(
    ("news_ids", "news_endpoint", "changes"),
    [
        (["a", "b"], "devices", False),
        (["b", "a"], "devices", False),
        (["a"], "devices", True),
        (["a", "b", "c"], "devices", True),
        (UNKNOWN, "devices", True),
        (["a", UNKNOWN], "devices", True),
        (["a", "b"], "registrations", True),
    ],
)
def test_diff_table(
    provider: DeviceRevocationProvider, news_ids: object, news_endpoint: str, changes: bool
) -> None:
    """Set equality decides ID changes; unknowns and endpoint switches are updates."""
    olds = {"account_id": ACCOUNT, "registration_ids": ["a", "b"], "endpoint": "devices"}
    news = {"account_id": ACCOUNT, "registration_ids": news_ids, "endpoint": news_endpoint}
    diff = provider.diff("id", olds, news)
    assert diff.changes is changes and diff.replaces == []


def test_api_failure_fails_create_with_a_clear_message(
    emulator: Emulator, provider: DeviceRevocationProvider
) -> None:
    """A 403 with code 10000 is a deployment failure that carries code, message and hint."""
    ids = emulator.state.seed(ACCOUNT, 2)
    emulator.inject(status=403, code=10000, message="Authentication error")
    inputs = checked(provider, account_id=ACCOUNT, registration_ids=ids)
    with pytest.raises(RevocationError) as caught:
        provider.create(inputs)
    assert isinstance(caught.value.cause, PermissionDeniedError)
    message = str(caught.value)
    assert "[10000] Authentication error" in message and "Zero Trust Write" in message
    assert emulator.state.revoked_ids(ACCOUNT) == set()


def test_missing_credentials_fail_only_when_the_api_is_needed(emulator: Emulator) -> None:
    """check and diff (preview) need no credentials; create fails naming how to set them."""
    provider = DeviceRevocationProvider()
    provider.configure(ConfigureRequest(Config({}, "test")))
    inputs = checked(provider, account_id=ACCOUNT, registration_ids=["a"])
    assert provider.diff("id", inputs, inputs).changes is False
    with pytest.raises(ConfigurationError, match="CLOUDFLARE_API_TOKEN"):
        provider.create(inputs)


def test_environment_credentials_are_used(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without stack config, CLOUDFLARE_API_TOKEN and CLOUDFLARE_BASE_URL are used."""
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", DEFAULT_TOKEN)
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", emulator.base_url)
    ids = emulator.state.seed(ACCOUNT, 1)
    provider = DeviceRevocationProvider()
    provider.configure(ConfigureRequest(Config({}, "test")))
    provider.create(checked(provider, account_id=ACCOUNT, registration_ids=ids))
    assert emulator.state.revoked_ids(ACCOUNT) == set(ids)


def test_long_revocations_print_progress(
    emulator: Emulator, provider: DeviceRevocationProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    """2,200 IDs (11 batches) print progress every 5 batches and at the end."""
    ids = emulator.state.seed(ACCOUNT, 2200)
    provider.create(checked(provider, account_id=ACCOUNT, registration_ids=ids))
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("revoked ")]
    assert lines[:3] == [
        "revoked 1000 of 2200 registrations (batch 5 of 11)",
        "revoked 2000 of 2200 registrations (batch 10 of 11)",
        "revoked 2200 of 2200 registrations (batch 11 of 11)",
    ]


def test_the_pickled_provider_holds_no_credential(emulator: Emulator) -> None:
    """Even after configure, pickling captures the class reference and nothing else."""
    provider = configured(emulator)
    data = dill.dumps(provider, protocol=pickle.DEFAULT_PROTOCOL, recurse=True)
    assert DEFAULT_TOKEN.encode() not in data
    assert emulator.base_url.encode() not in data
    assert b"cloudflare_device_revocation.provider" in data
    assert len(data) < 200
    restored = dill.loads(data)
    assert isinstance(restored, DeviceRevocationProvider)
    assert dict(restored._config) == {}
