"""The provider stays correct whatever Cloudflare does where no Cloudflare source says.

Each scenario runs under the emulator's default and under every alternative of its
``Assumptions`` that bears on it (see the emulator's docstring: documented vs assumed).
Nothing here tunes the provider to one guess: each test asserts only what must hold
under all of them, on the emulator's state and request log.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cloudflare_device_revocation import DeploymentError, DeviceRevocationProvider
from cloudflare_device_revocation.emulator import Emulator
from cloudflare_device_revocation.lookup import lookup_registrations
from support import ACCOUNT, ClientFactory, provider_for

UNKNOWN = ["00000000-0000-0000-0000-00000000000a", "00000000-0000-0000-0000-00000000000b"]

# Each alternative the emulator offers, by name; "default" is the emulator's own default.
ALTERNATIVES: dict[str, dict[str, Any]] = {
    "default": {},
    "unknown IDs refused": {"unknown_ids": "refuse"},
    "status=all lists deleted": {"status_all_includes_deleted": True},
    "total_count null": {"total_count": "null"},
    "user null": {"missing_user": "null"},
    "per_page max 100, refused above": {"max_per_page": 100, "per_page_over_max": "refuse"},
    "per_page max 100, clamped above": {"max_per_page": 100, "per_page_over_max": "clamp"},
    "100 IDs per registrations revoke": {"registrations_max_ids": 100},
    "revocations listed 2 answers late": {"revocation_listed_after": 2},
}


@pytest.fixture(params=list(ALTERNATIVES), ids=list(ALTERNATIVES))
def emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    """An emulator behaving as one alternative: overrides conftest's default emulator."""
    with Emulator() as emu:
        emu.assume(**ALTERNATIVES[request.param])
        emu.state.account(ACCOUNT)
        yield emu


def checked(provider: DeviceRevocationProvider, **news: Any) -> dict[str, Any]:
    result = provider.check({}, {"account_id": ACCOUNT, **news})
    assert result.failures == []
    return result.inputs


def test_300_real_and_2_unknown_ids(emulator: Emulator) -> None:
    """All 300 are revoked, both unknown IDs are named, neither is recorded as revoked."""
    ids = emulator.state.seed(ACCOUNT, 300)
    declared = [*ids[:150], UNKNOWN[0], *ids[150:], UNKNOWN[1]]
    provider = provider_for(emulator)
    with pytest.raises(DeploymentError) as caught:
        provider.create(checked(provider, registration_ids=declared))
    assert emulator.state.revoked_ids(ACCOUNT) == set(ids)
    message = str(caught.value)
    assert "2 of 302 declared registration IDs are not in account" in message
    assert all(unknown in message for unknown in UNKNOWN)

    emulator.requests.clear()
    allowed = provider.create(checked(provider, registration_ids=declared, allow_missing_ids=True))
    outs = allowed.outs or {}
    assert outs["revoked_ids"] == ids
    assert outs["missing_ids"] == UNKNOWN
    # Isolating the unknown IDs costs tens of requests, not hundreds; confirming, one listing
    # per 500 IDs (more where Cloudflare's page size is smaller).
    assert len(emulator.requests.matching("POST", r"/revoke$")) <= 2 + 2 * 2 * 8


def test_deleted_and_unrevoked_registrations_on_refresh(emulator: Emulator) -> None:
    """Refresh: deleted ones leave revoked_ids and are listed missing; unrevoked ones drift."""
    ids = emulator.state.seed(ACCOUNT, 4)
    provider = provider_for(emulator)
    outs = provider.create(checked(provider, registration_ids=ids)).outs or {}
    emulator.state.delete_registration(ACCOUNT, ids[0])
    emulator.state.set_revoked(ACCOUNT, [ids[1]], False)
    read = provider.read("id", dict(outs))
    assert read.outs is not None and read.inputs is not None
    assert read.outs["revoked_ids"] == ids[2:]
    assert read.outs["missing_ids"] == [ids[0]]
    assert read.inputs["registration_ids"] == [ids[0], ids[2], ids[3]]


def test_a_deleted_registration_is_never_claimed_revoked(emulator: Emulator) -> None:
    """Declaring a deleted registration: not revoked, not recorded, named as missing."""
    ids = emulator.state.seed(ACCOUNT, 2)
    emulator.state.delete_registration(ACCOUNT, ids[1])
    provider = provider_for(emulator)
    outs = provider.create(checked(provider, registration_ids=ids, allow_missing_ids=True)).outs
    assert outs is not None
    assert (outs["revoked_ids"], outs["missing_ids"]) == ([ids[0]], [ids[1]])


def test_large_revocations_are_confirmed_across_pages(emulator: Emulator) -> None:
    """1,100 IDs: every one revoked and confirmed, whatever the page size Cloudflare allows."""
    ids = emulator.state.seed(ACCOUNT, 1100)
    provider = provider_for(emulator)
    outs = provider.create(checked(provider, registration_ids=ids)).outs or {}
    assert emulator.state.revoked_ids(ACCOUNT) == set(ids)
    assert outs["revoked_ids"] == ids and outs["missing_ids"] == []


def test_registrations_without_a_user(emulator: Emulator, make_client: ClientFactory) -> None:
    """Service-token enrollments (no user) are revoked and confirmed; lookups skip them."""
    userless = emulator.state.seed(ACCOUNT, 2, userless=True)
    person = emulator.state.add_registration(ACCOUNT, user_email="ann@example.com")
    provider = provider_for(emulator)
    outs = provider.create(checked(provider, registration_ids=userless)).outs or {}
    assert outs["revoked_ids"] == userless
    found = lookup_registrations(make_client(), ACCOUNT, user_emails=["ann@example.com"])
    assert found.registration_ids == [person.id]
    nobody = lookup_registrations(make_client(), ACCOUNT, user_emails=["bob@example.com"])
    assert nobody.registration_ids == [] and nobody.warnings
