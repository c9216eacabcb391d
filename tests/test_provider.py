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

from cloudflare_device_revocation import DeploymentError, DeviceRevocationProvider
from cloudflare_device_revocation.emulator import DEFAULT_API_KEY, DEFAULT_EMAIL, Emulator
from support import ACCOUNT, OTHER_ACCOUNT, SleepRecorder, provider_for

REVOKES = r"/revoke$"
LISTS = r"/registrations$"
UNKNOWN_ID = "00000000-0000-0000-0000-000000000001"
OTHER_UNKNOWN_ID = "00000000-0000-0000-0000-000000000002"


@pytest.fixture(autouse=True)
def _no_ambient_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "CLOUDFLARE_API_TOKEN",
        "CLOUDFLARE_API_KEY",
        "CLOUDFLARE_EMAIL",
        "CLOUDFLARE_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def provider(emulator: Emulator) -> Iterator[DeviceRevocationProvider]:
    yield provider_for(emulator)


def unchained(error: BaseException) -> bool:
    """Whether a traceback of ``error`` shows no other exception (no message said twice)."""
    return error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


def checked(
    provider: DeviceRevocationProvider, olds: dict[str, Any] | None = None, **news: Any
) -> dict[str, Any]:
    result = provider.check(olds or {}, news)
    assert result.failures == []
    return result.inputs


def test_create_revokes_confirms_and_records_the_declared_set(
    emulator: Emulator, provider: DeviceRevocationProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    """Create revokes exactly the declared IDs on the default endpoint, then confirms them."""
    ids = emulator.state.seed(ACCOUNT, 4)
    inputs = checked(
        provider, account_id=ACCOUNT, registration_ids=[ids[2], ids[0], ids[0]], resource_name="r"
    )
    result = provider.create(inputs)
    assert emulator.state.revoked_ids(ACCOUNT) == {ids[0], ids[2]}
    [revoke] = emulator.requests.matching("POST", REVOKES)
    assert revoke.path == f"/accounts/{ACCOUNT}/devices/registrations/revoke"
    [listing] = emulator.requests.matching("GET", LISTS)
    assert listing.query["id"] == [ids[2], ids[0]] and listing.query["status"] == ["all"]
    assert result.id.startswith(f"{ACCOUNT}/")
    assert result.outs == {
        "account_id": ACCOUNT,
        "registration_ids": [ids[2], ids[0]],
        "endpoint": "registrations",
        "allow_missing_ids": False,
        "resource_name": "r",
        "revoked_ids": [ids[2], ids[0]],
        "missing_ids": [],
    }
    out = capsys.readouterr().out
    assert "DeviceRevocation r: revoked 2 registrations in account" in out
    assert "confirmed by Cloudflare" in out


def test_unknown_ids_fail_the_create_after_revoking_the_known_ones(
    emulator: Emulator, provider: DeviceRevocationProvider
) -> None:
    """Unknown IDs are named, never recorded; every known ID is revoked before the failure."""
    ids = emulator.state.seed(ACCOUNT, 3)
    inputs = checked(
        provider,
        account_id=ACCOUNT,
        registration_ids=[ids[0], UNKNOWN_ID, ids[1], ids[2], OTHER_UNKNOWN_ID],
        resource_name="lost",
    )
    with pytest.raises(DeploymentError) as caught:
        provider.create(inputs)
    message = str(caught.value)
    assert emulator.state.revoked_ids(ACCOUNT) == set(ids)
    assert message.startswith("DeviceRevocation lost: 2 of 5 declared registration IDs are not")
    assert f"{UNKNOWN_ID}, {OTHER_UNKNOWN_ID}" in message
    assert "typo" in message and "allow_missing_ids=True" in message
    assert "revoked 3 registrations" in message
    assert unchained(caught.value)


def test_one_unknown_id_reads_in_the_singular(
    emulator: Emulator, provider: DeviceRevocationProvider
) -> None:
    """One unknown ID: "1 of 2 ... is not ..., does not list it"."""
    ids = emulator.state.seed(ACCOUNT, 1)
    inputs = checked(provider, account_id=ACCOUNT, registration_ids=[ids[0], UNKNOWN_ID])
    with pytest.raises(DeploymentError, match=r"1 of 2 declared registration IDs is not in"):
        provider.create(inputs)


def test_allow_missing_ids_turns_the_failure_into_a_warning_and_an_output(
    emulator: Emulator, provider: DeviceRevocationProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    """With allow_missing_ids, unknown IDs are listed in missing_ids, not in revoked_ids."""
    ids = emulator.state.seed(ACCOUNT, 2)
    inputs = checked(
        provider,
        account_id=ACCOUNT,
        registration_ids=[ids[0], UNKNOWN_ID, ids[1]],
        allow_missing_ids=True,
    )
    outs = provider.create(inputs).outs or {}
    assert outs["revoked_ids"] == [ids[0], ids[1]]
    assert outs["missing_ids"] == [UNKNOWN_ID]
    assert "warning: 1 registration not found" in capsys.readouterr().out
    assert emulator.state.revoked_ids(ACCOUNT) == set(ids)


def test_a_deleted_registration_is_missing_not_revoked(
    emulator: Emulator, provider: DeviceRevocationProvider
) -> None:
    """A registration deleted in Cloudflare is never claimed as revoked."""
    ids = emulator.state.seed(ACCOUNT, 2)
    emulator.state.delete_registration(ACCOUNT, ids[1])
    inputs = checked(provider, account_id=ACCOUNT, registration_ids=ids, allow_missing_ids=True)
    outs = provider.create(inputs).outs or {}
    assert outs["revoked_ids"] == [ids[0]] and outs["missing_ids"] == [ids[1]]


def test_an_accepted_revoke_that_cloudflare_does_not_show_is_a_failure(
    emulator: Emulator, provider: DeviceRevocationProvider
) -> None:
    """A 200 for the revoke that changed nothing: the listing shows it, and create fails."""
    ids = emulator.state.seed(ACCOUNT, 2)
    ok = {"success": True, "errors": [], "messages": [], "result": {}}
    emulator.inject(method="POST", path=REVOKES, status=200, body=ok)
    inputs = checked(provider, account_id=ACCOUNT, registration_ids=ids)
    with pytest.raises(DeploymentError, match="still lists them as not revoked") as caught:
        provider.create(inputs)
    assert "run `pulumi up` again" in str(caught.value)


def test_a_listing_that_lags_is_asked_again_then_reported_not_revoked(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """If the listing still shows accepted revocations as active, it is asked again after
    1, 2 and 4 s (announced); past that the IDs are reported not revoked, never claimed."""
    emulator.assume(revocation_listed_after=10)
    ids = emulator.state.seed(ACCOUNT, 2)
    sleeps = SleepRecorder()
    provider = provider_for(emulator, sleeps)
    with pytest.raises(DeploymentError, match="still lists them as not revoked"):
        provider.create(checked(provider, account_id=ACCOUNT, registration_ids=ids))
    assert sleeps.delays == [1.0, 2.0, 4.0]
    assert len(emulator.requests.matching("GET", LISTS)) == 4
    assert "2 accepted revocation(s) not listed as revoked yet: waiting 4 s" in (
        capsys.readouterr().out
    )
    emulator.assume(revocation_listed_after=3)
    fresh = emulator.state.seed(ACCOUNT, 2)[-2:]
    outs = provider.create(checked(provider, account_id=ACCOUNT, registration_ids=fresh)).outs
    assert (outs or {})["revoked_ids"] == fresh


def test_an_empty_declaration_revokes_nothing_and_calls_no_api(
    emulator: Emulator, provider: DeviceRevocationProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    """Zero IDs: no request, "nothing to revoke", and empty outputs."""
    outs = provider.create(checked(provider, account_id=ACCOUNT, registration_ids=[])).outs or {}
    assert emulator.requests.all() == []
    assert "nothing to revoke" in capsys.readouterr().out
    assert outs["revoked_ids"] == [] and outs["registration_ids"] == []
    read = provider.read("id", outs)
    assert emulator.requests.all() == []
    assert read.outs == outs


def test_full_lifecycle(
    emulator: Emulator, provider: DeviceRevocationProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    """Add revokes only new IDs; removing calls no API; refresh finds drift; delete calls none."""
    ids = emulator.state.seed(ACCOUNT, 5)
    first = checked(provider, account_id=ACCOUNT, registration_ids=ids[:2])
    created = provider.create(first)
    outs = created.outs or {}

    # Adding IDs (one at the front): an update that revokes only the new ones.
    second = checked(
        provider, first, account_id=ACCOUNT, registration_ids=[ids[3], *ids[:2], ids[2]]
    )
    assert second["registration_ids"] == [ids[0], ids[1], ids[3], ids[2]], "new IDs go last"
    diff = provider.diff(created.id, outs, second)
    assert diff.changes is True and diff.replaces == []
    emulator.requests.clear()
    outs = provider.update(created.id, outs, second).outs or {}
    [request] = emulator.requests.matching("POST", REVOKES)
    assert request.query["id"] == [ids[3], ids[2]]
    assert emulator.state.revoked_ids(ACCOUNT) == set(ids[:4])
    assert outs["revoked_ids"] == [ids[0], ids[1], ids[3], ids[2]]

    # Removing IDs: an update that calls no API and says they stay revoked.
    third = checked(provider, second, account_id=ACCOUNT, registration_ids=ids[1:4])
    emulator.requests.clear()
    capsys.readouterr()
    outs = provider.update(created.id, outs, third).outs or {}
    assert emulator.requests.all() == []
    assert "1 registration removed from the declaration stay revoked" in capsys.readouterr().out
    assert outs["registration_ids"] == [ids[1], ids[3], ids[2]]
    assert outs["revoked_ids"] == [ids[0], ids[1], ids[3], ids[2]]
    assert emulator.state.revoked_ids(ACCOUNT) == set(ids[:4])

    # Identical inputs: no change.
    assert provider.diff(created.id, outs, third).changes is False

    # Refresh with no drift returns the same state.
    read = provider.read(created.id, {**outs})
    assert read.outs == outs

    # Out-of-band unrevoke of a declared and of a removed ID; a third registration deleted.
    emulator.state.set_revoked(ACCOUNT, [ids[2], ids[0]], False)
    emulator.state.delete_registration(ACCOUNT, ids[3])
    capsys.readouterr()
    read = provider.read(created.id, {**outs})
    assert read.inputs is not None and read.outs is not None
    assert read.inputs["registration_ids"] == [ids[1], ids[3]]
    assert read.outs["revoked_ids"] == [ids[1]]
    assert read.outs["missing_ids"] == [ids[3]]
    said = capsys.readouterr().out
    assert f"1 registration in account {ACCOUNT} is no longer revoked" in said
    assert f"{ids[2]}. The next `pulumi up` revokes it again." in said
    assert "that is no longer declared is no longer revoked" in said and ids[0] in said
    assert f"no longer lists 1 registration in account {ACCOUNT}" in said
    assert "the next `pulumi up` does nothing about it" in said

    # The next up sees ids[2] as added and revokes it again; ids[0] was removed: left alone.
    diff = provider.diff(created.id, read.outs, third)
    assert diff.changes is True
    emulator.requests.clear()
    outs = provider.update(created.id, read.outs, third).outs or {}
    [request] = emulator.requests.matching("POST", REVOKES)
    assert request.query["id"] == [ids[2]]
    assert ids[2] in emulator.state.revoked_ids(ACCOUNT)
    assert ids[0] not in emulator.state.revoked_ids(ACCOUNT)
    assert outs["revoked_ids"] == [ids[1], ids[2]]

    # Delete calls no API and says the registrations stay revoked.
    emulator.requests.clear()
    provider.delete(created.id, outs)
    assert emulator.requests.all() == []
    assert "stay revoked" in capsys.readouterr().out
    assert {ids[1], ids[2]} <= emulator.state.revoked_ids(ACCOUNT)
    # Nothing in the whole lifecycle ever called unrevoke.
    assert emulator.requests.matching(path="unrevoke") == []


def test_refresh_names_many_in_the_plural(
    emulator: Emulator, provider: DeviceRevocationProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two drifted IDs: "2 registrations ... are no longer revoked ... revokes them again"."""
    ids = emulator.state.seed(ACCOUNT, 3)
    outs = provider.create(checked(provider, account_id=ACCOUNT, registration_ids=ids)).outs
    emulator.state.set_revoked(ACCOUNT, ids[:2], False)
    capsys.readouterr()
    provider.read("id", dict(outs or {}))
    said = capsys.readouterr().out
    assert "2 registrations in account" in said and "are no longer revoked" in said
    assert "revokes them again" in said


def test_check_appends_new_ids_after_the_previous_order(
    provider: DeviceRevocationProvider,
) -> None:
    """IDs already declared keep their place; new ones go last, in declared order."""
    olds = {"account_id": ACCOUNT, "registration_ids": ["c", "a", "b"]}
    news = {"account_id": ACCOUNT, "registration_ids": ["z", "a", "b", "y", "c"]}
    assert provider.check(olds, news).inputs["registration_ids"] == ["c", "a", "b", "z", "y"]


def test_the_devices_endpoint_is_deprecated_at_preview(
    provider: DeviceRevocationProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    """check (which preview runs) prints a one-line note for endpoint "devices", not otherwise."""
    checked(provider, account_id=ACCOUNT, registration_ids=["a"], resource_name="old")
    assert capsys.readouterr().out == ""
    checked(provider, account_id=ACCOUNT, registration_ids=["a"], endpoint="devices")
    [line] = capsys.readouterr().out.splitlines()
    assert "end of life on 2025-11-11" in line and "remove `endpoint`" in line


def test_a_stack_from_the_old_default_endpoint_updates_without_replacing_or_calling_the_api(
    emulator: Emulator, provider: DeviceRevocationProvider
) -> None:
    """Old state says endpoint "devices"; the new default is an update that calls no API."""
    ids = emulator.state.seed(ACCOUNT, 2)
    emulator.state.set_revoked(ACCOUNT, ids, True)
    olds = {
        "account_id": ACCOUNT,
        "registration_ids": ids,
        "endpoint": "devices",
        "revoked_ids": ids,
    }
    news = checked(provider, olds, account_id=ACCOUNT, registration_ids=ids)
    assert news["endpoint"] == "registrations"
    diff = provider.diff("id", olds, news)
    assert diff.changes is True and diff.replaces == []
    outs = provider.update("id", olds, news).outs or {}
    assert emulator.requests.all() == []
    assert outs["endpoint"] == "registrations" and outs["revoked_ids"] == ids


def test_diff_account_change_replaces(provider: DeviceRevocationProvider) -> None:
    """A new account_id (or one unknown in preview) is a replacement."""
    olds = {"account_id": ACCOUNT, "registration_ids": ["a"], "endpoint": "registrations"}
    for account in (OTHER_ACCOUNT, UNKNOWN):
        diff = provider.diff("id", olds, {**olds, "account_id": account})
        assert diff.changes is True and diff.replaces == ["account_id"]


@pytest.mark.parametrize(
    ("news_ids", "news_endpoint", "allow_missing", "changes"),
    [
        (["a", "b"], "registrations", False, False),
        (["b", "a"], "registrations", False, False),
        (["a"], "registrations", False, True),
        (["a", "b", "c"], "registrations", False, True),
        ([], "registrations", False, True),
        (UNKNOWN, "registrations", False, True),
        (["a", UNKNOWN], "registrations", False, True),
        (["a", "b"], "devices", False, True),
        (["a", "b"], "registrations", True, True),
    ],
)
def test_diff_table(
    provider: DeviceRevocationProvider,
    news_ids: object,
    news_endpoint: str,
    allow_missing: bool,
    changes: bool,
) -> None:
    """Set equality decides ID changes; unknowns and setting switches are updates."""
    olds = {"account_id": ACCOUNT, "registration_ids": ["a", "b"], "endpoint": "registrations"}
    news = {
        "account_id": ACCOUNT,
        "registration_ids": news_ids,
        "endpoint": news_endpoint,
        "allow_missing_ids": allow_missing,
        "resource_name": "renamed names are not a change",
    }
    diff = provider.diff("id", olds, news)
    assert diff.changes is changes and diff.replaces == []


def test_api_failure_fails_create_with_one_clear_message(
    emulator: Emulator, provider: DeviceRevocationProvider
) -> None:
    """A 403 with code 10000 fails the deployment: code, message and hint, said once."""
    ids = emulator.state.seed(ACCOUNT, 2)
    emulator.inject(status=403, code=10000, message="Authentication error")
    inputs = checked(provider, account_id=ACCOUNT, registration_ids=ids, resource_name="r")
    with pytest.raises(DeploymentError) as caught:
        provider.create(inputs)
    message = str(caught.value)
    first_line = message.splitlines()[0]
    assert first_line.startswith("DeviceRevocation r: Cloudflare API: cannot revoke 2 ")
    assert "HTTP 403: [10000] Authentication error" in first_line
    assert "Zero Trust Write" in message
    assert message.count("[10000] Authentication error") == 1
    assert "stopped at batch" not in message, "one batch reads as one sentence"
    assert unchained(caught.value)
    assert emulator.state.revoked_ids(ACCOUNT) == set()


def test_a_global_api_key_revokes_on_devices_but_cannot_confirm(
    emulator: Emulator,
) -> None:
    """With a key the list call is sent; its refusal says the revoke landed and a token fixes it."""
    ids = emulator.state.seed(ACCOUNT, 1)
    provider = DeviceRevocationProvider()
    config = {
        "cloudflare:apiKey": DEFAULT_API_KEY,
        "cloudflare:email": DEFAULT_EMAIL,
        "cloudflare:baseUrl": emulator.base_url,
    }
    provider.configure(ConfigureRequest(Config(config, "test")))
    inputs = checked(provider, account_id=ACCOUNT, registration_ids=ids, endpoint="devices")
    with pytest.raises(DeploymentError) as caught:
        provider.create(inputs)
    message = str(caught.value)
    assert "Cloudflare accepted the revocation of 1 of 1 registration in account" in message
    assert "nothing is recorded as revoked" in message
    assert "lists only API tokens" in message
    assert emulator.state.revoked_ids(ACCOUNT) == set(ids)
    assert [r.auth for r in emulator.requests.all()] == ["key", "key"]


def test_missing_credentials_fail_only_when_the_api_is_needed(emulator: Emulator) -> None:
    """check and diff (preview) need no credentials; create fails naming how to set them."""
    provider = DeviceRevocationProvider()
    provider.configure(ConfigureRequest(Config({}, "test")))
    inputs = checked(provider, account_id=ACCOUNT, registration_ids=["a"])
    assert provider.diff("id", inputs, inputs).changes is False
    with pytest.raises(DeploymentError, match="CLOUDFLARE_API_TOKEN"):
        provider.create(inputs)


def test_unexpected_errors_keep_their_traceback(provider: DeviceRevocationProvider) -> None:
    """A bug (here: inputs missing a key) is reported with its Python traceback."""
    with pytest.raises(DeploymentError) as caught:
        provider.create({"registration_ids": ["a"]})
    message = str(caught.value)
    assert message.startswith("unexpected error in DeviceRevocationProvider.create")
    assert "Traceback (most recent call last)" in message and "KeyError: 'account_id'" in message


def test_environment_credentials_are_used(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without stack config, CLOUDFLARE_API_TOKEN and CLOUDFLARE_BASE_URL are used."""
    from cloudflare_device_revocation.emulator import DEFAULT_TOKEN

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
    """2,200 IDs print progress at each thousand accepted and at the end, claiming no more
    than accepted; only the last line, after the listing, says revoked."""
    ids = emulator.state.seed(ACCOUNT, 2200)
    provider.create(checked(provider, account_id=ACCOUNT, registration_ids=ids, resource_name="r"))
    lines = [line for line in capsys.readouterr().out.splitlines() if "2200" in line]
    accepted = "DeviceRevocation r: Cloudflare accepted the revocation of {} of 2200 "
    assert lines == [
        accepted.format(1000) + "registrations so far (confirmed at the end)",
        accepted.format(2000) + "registrations so far (confirmed at the end)",
        accepted.format(2200) + "registrations so far (confirmed at the end)",
        f"DeviceRevocation r: revoked 2200 registrations in account {ACCOUNT}, "
        "confirmed by Cloudflare",
    ]


def test_the_pickled_provider_holds_no_credential_and_no_client_factory(
    emulator: Emulator,
) -> None:
    """Even after configure, pickling captures the class reference and nothing else."""
    provider = provider_for(emulator)
    data = dill.dumps(provider, protocol=pickle.DEFAULT_PROTOCOL, recurse=True)
    assert b"emulator-token" not in data
    assert emulator.base_url.encode() not in data
    assert b"cloudflare_device_revocation.provider" in data
    assert b"client_factory" not in data and b"SleepRecorder" not in data
    assert len(data) < 200
    restored = dill.loads(data)
    assert isinstance(restored, DeviceRevocationProvider)
    assert dict(restored._config) == {}
    assert restored._client_factory is None
