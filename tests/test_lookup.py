"""Offboarding by person: find_registrations against the emulator, in and out of Pulumi."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest

from cloudflare_device_revocation import CloudflareClient, ConfigurationError, find_registrations
from cloudflare_device_revocation.emulator import DEFAULT_TOKEN, Emulator
from cloudflare_device_revocation.lookup import lookup_registrations
from support import ACCOUNT

LIST = r"/devices/registrations$"


@pytest.fixture
def people(emulator: Emulator) -> dict[str, list[str]]:
    """A multi-user account: alice on a laptop and a phone, bob sharing the laptop, carol."""
    state = emulator.state
    state.account(ACCOUNT, multi_user=True)
    alice_laptop = state.add_registration(
        ACCOUNT, device_id="laptop-1", device_name="MacBook", user_email="alice@example.com"
    )
    alice_phone = state.add_registration(
        ACCOUNT,
        device_id="phone-1",
        device_name="Pixel",
        user_email="Alice@Example.com",
        revoked=True,
    )
    bob_laptop = state.add_registration(
        ACCOUNT, device_id="laptop-1", device_name="MacBook", user_email="bob@example.com"
    )
    carol = state.add_registration(ACCOUNT, user_email="carol@example.com")
    gone = state.add_registration(ACCOUNT, device_id="old-1", user_email="alice@example.com")
    state.delete_registration(ACCOUNT, gone.id)
    return {
        "alice": sorted([alice_laptop.id, alice_phone.id]),
        "alice_active": [alice_laptop.id],
        "laptop": sorted([alice_laptop.id, bob_laptop.id]),
        "carol": [carol.id],
    }


def test_by_email_includes_revoked_and_ignores_case_and_deleted(
    client: CloudflareClient, people: dict[str, list[str]]
) -> None:
    """An email finds every live registration of that person, revoked ones included."""
    found = lookup_registrations(client, ACCOUNT, user_emails=["ALICE@example.com"])
    assert found.registration_ids == people["alice"]
    assert found.warnings == []
    assert any("alice@example.com on MacBook, device laptop-1, active" in m for m in found.matches)


def test_active_only(client: CloudflareClient, people: dict[str, list[str]]) -> None:
    """include_revoked=False returns only registrations still active."""
    found = lookup_registrations(
        client, ACCOUNT, user_emails=["alice@example.com"], include_revoked=False
    )
    assert found.registration_ids == people["alice_active"]


def test_by_device_in_multi_user_mode(
    client: CloudflareClient, people: dict[str, list[str]]
) -> None:
    """A device ID finds every registration on it: one per user under multi-user mode."""
    found = lookup_registrations(client, ACCOUNT, device_ids=["laptop-1"])
    assert found.registration_ids == people["laptop"]


def test_emails_and_devices_combine_without_duplicates(
    client: CloudflareClient, people: dict[str, list[str]]
) -> None:
    """Selectors add up; a registration matched twice is listed once."""
    found = lookup_registrations(
        client,
        ACCOUNT,
        user_emails=["alice@example.com", "carol@example.com"],
        device_ids=["laptop-1"],
    )
    assert found.registration_ids == sorted({*people["alice"], *people["laptop"], *people["carol"]})


def test_nothing_matches_warns_by_name_after_a_full_listing(
    emulator: Emulator, client: CloudflareClient, people: dict[str, list[str]]
) -> None:
    """An unknown email and device each get a warning; the email check lists the account."""
    found = lookup_registrations(
        client, ACCOUNT, user_emails=["nobody@example.com"], device_ids=["nope"]
    )
    assert found.registration_ids == []
    assert found.warnings == [
        f"no registration in account {ACCOUNT} belongs to nobody@example.com: "
        "nothing will be revoked for them",
        f"no registration in account {ACCOUNT} is on device nope: nothing will be revoked for it",
    ]
    queries = [r.query for r in emulator.requests.matching("GET", LIST)]
    assert queries[0]["search"] == ["nobody@example.com"]
    assert "search" not in queries[1]


def test_full_listing_finds_what_search_missed(
    emulator: Emulator, client: CloudflareClient, people: dict[str, list[str]]
) -> None:
    """If the API's search misses the person, the full listing still finds them."""
    empty = {
        "success": True,
        "errors": [],
        "messages": [],
        "result": [],
        "result_info": {"count": 0, "cursor": "", "per_page": 100, "total_count": 0},
    }
    emulator.inject(method="GET", path=LIST, status=200, body=empty)
    found = lookup_registrations(client, ACCOUNT, user_emails=["carol@example.com"])
    assert found.registration_ids == people["carol"]


def test_an_email_shared_by_several_users_warns_and_includes_all(
    emulator: Emulator, client: CloudflareClient
) -> None:
    """Two users with one email (two identity providers): both included, both named."""
    emulator.state.add_registration(ACCOUNT, user_email="dana@example.com", user_name="Dana A")
    other = emulator.state.add_registration(ACCOUNT, user_email="dana@example.com")
    assert other.user is not None
    other.user.id, other.user.name = "second-user-id", "Dana B"
    found = lookup_registrations(client, ACCOUNT, user_emails=["dana@example.com"])
    assert len(found.registration_ids) == 2
    [warning] = found.warnings
    assert "dana@example.com matches 2 users" in warning
    assert "Dana A" in warning and "Dana B (second-user-id)" in warning


def test_pagination_across_pages(emulator: Emulator, client: CloudflareClient) -> None:
    """A person with 1,100 registrations: followed across three pages of 500."""
    ids = {
        emulator.state.add_registration(ACCOUNT, user_email="eve@example.com").id
        for _ in range(1100)
    }
    found = lookup_registrations(client, ACCOUNT, user_emails=["eve@example.com"])
    assert set(found.registration_ids) == ids
    assert len(emulator.requests.matching("GET", LIST)) == 3


def test_the_account_is_listed_at_most_once_however_many_emails_miss(
    emulator: Emulator, client: CloudflareClient
) -> None:
    """Five emails that `search` misses cost five searches and one listing of the account."""
    emulator.state.seed(ACCOUNT, 3)
    emails = [f"gone{n}@example.com" for n in range(5)]
    found = lookup_registrations(client, ACCOUNT, user_emails=emails)
    assert found.registration_ids == [] and len(found.warnings) == 5
    lists = emulator.requests.matching("GET", LIST)
    assert len([r for r in lists if "search" in r.query]) == 5
    assert len([r for r in lists if "search" not in r.query]) == 1


def test_needs_a_selector(client: CloudflareClient) -> None:
    """Calling it with neither emails nor devices is a mistake, said at once."""
    with pytest.raises(ValueError, match="at least one of"):
        lookup_registrations(client, ACCOUNT)


class Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        return {}, []


@pytest.fixture
def program_config(emulator: Emulator) -> Iterator[None]:
    """Pulumi mocks, with stack config pointing at the emulator as a program would see it."""
    pulumi.runtime.set_mocks(Mocks(), preview=True)
    pulumi.runtime.set_all_config(
        {"cloudflare:apiToken": DEFAULT_TOKEN, "cloudflare:baseUrl": emulator.base_url}
    )
    yield
    pulumi.runtime.set_all_config({})


@pulumi.runtime.test  # type: ignore[untyped-decorator]
def test_find_registrations_uses_stack_config_during_preview(
    program_config: None, people: dict[str, list[str]]
) -> pulumi.Output[Any]:
    """In a program (here a preview under mocks), the lookup resolves to concrete IDs."""

    def verify(ids: list[str]) -> None:
        assert ids == people["alice"]

    return find_registrations(ACCOUNT, user_emails=["alice@example.com"]).apply(verify)


def test_find_registrations_without_credentials_fails_clearly(
    monkeypatch: pytest.MonkeyPatch, emulator: Emulator
) -> None:
    """No credential in stack config or environment: find_registrations fails with the error
    naming every way to authenticate, before any request."""
    for name in ("CLOUDFLARE_API_TOKEN", "CLOUDFLARE_API_KEY", "CLOUDFLARE_EMAIL"):
        monkeypatch.delenv(name, raising=False)
    # Were a client made anyway, its requests would reach the emulator, not the internet.
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", emulator.base_url)
    pulumi.runtime.set_mocks(Mocks(), preview=True)
    pulumi.runtime.set_all_config({})

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def program() -> pulumi.Output[list[str]]:
        return find_registrations(ACCOUNT, user_emails=["alice@example.com"])

    with pytest.raises(ConfigurationError, match="CLOUDFLARE_API_TOKEN"):
        program()
    assert emulator.requests.all() == []


OFFBOARD = Path(__file__).resolve().parent.parent / "examples/offboard-by-email/__main__.py"


@pytest.mark.cli
def test_offboard_by_email_example_under_the_cli(tmp_path: Path, cli_bin: str) -> None:
    """The example's preview lists the person's registrations; up revokes them; a new device
    enrolled later is an added ID that the next up revokes."""
    from pulumi_cli import Project

    with Emulator() as emulator:
        state = emulator.state
        state.account(ACCOUNT, multi_user=True)
        laptop = state.add_registration(
            ACCOUNT, device_name="MacBook", user_email="alice@example.com"
        )
        bystander = state.add_registration(ACCOUNT, user_email="bob@example.com")
        project = Project.create(
            tmp_path, cli_bin, program=OFFBOARD.read_text(), name="offboard-by-email"
        )
        project.env.update(
            CLOUDFLARE_API_TOKEN=DEFAULT_TOKEN, CLOUDFLARE_BASE_URL=emulator.base_url
        )
        project.config("accountId", ACCOUNT)
        project.config("offboard[0]", "alice@example.com", path=True)

        preview = project.run("preview", "--diff")
        assert laptop.id in preview.stdout
        assert "alice@example.com on MacBook" in preview.output
        assert emulator.requests.matching("POST") == []

        project.run("up", "--yes")
        assert state.revoked_ids(ACCOUNT) == {laptop.id}

        phone = state.add_registration(ACCOUNT, device_name="Pixel", user_email="alice@example.com")
        preview = project.run("preview", "--diff")
        assert phone.id in preview.stdout
        project.run("up", "--yes")
        assert state.revoked_ids(ACCOUNT) == {laptop.id, phone.id}
        assert bystander.id not in state.revoked_ids(ACCOUNT)

        # Someone with no devices: warned about by name; an empty declaration is valid.
        project.config("offboard[0]", "nobody@example.com", path=True)
        emulator.requests.clear()
        empty = project.run("up", "--yes")
        assert "no registration in account" in empty.output
        assert "nobody@example.com" in empty.output
        assert emulator.requests.matching("POST") == []
        assert state.revoked_ids(ACCOUNT) == {laptop.id, phone.id}
