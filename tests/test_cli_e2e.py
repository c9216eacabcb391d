"""End to end: the real Pulumi CLI runs the quickstart and test programs against the emulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudflare_device_revocation.emulator import Emulator
from pulumi_cli import Project
from support import ACCOUNT

pytestmark = pytest.mark.cli

# A token distinctive enough that finding it anywhere means it leaked.
TOKEN = "cf-e2e-token-7f3a9c2e5b1d48e6a0c4"
REVOKES = r"/revoke$"


@pytest.fixture
def api() -> Iterator[Emulator]:
    with Emulator(tokens={TOKEN: "write"}) as emulator:
        emulator.state.account(ACCOUNT)
        yield emulator


@pytest.fixture
def quickstart(tmp_path: Path, cli_bin: str, api: Emulator) -> Project:
    """The repository's root project, with the token in the environment."""
    project = Project.create(tmp_path, cli_bin)
    project.env.update(CLOUDFLARE_API_TOKEN=TOKEN, CLOUDFLARE_BASE_URL=api.base_url)
    project.config("accountId", ACCOUNT)
    return project


def test_quickstart_lifecycle(api: Emulator, quickstart: Project) -> None:
    """preview, up, add, remove, refresh after drift, up again and destroy, as a user would."""
    ids = api.state.seed(ACCOUNT, 5)
    quickstart.set_ids(ids[:2])

    preview = quickstart.run("preview", "--diff")
    assert "pulumi-python:dynamic/cloudflare:DeviceRevocation: (create)" in preview.stdout
    for reg_id in ids[:2]:
        assert reg_id in preview.stdout
    assert api.requests.matching("POST") == []

    up = quickstart.run("up", "--yes")
    assert "revoked 2 registrations in account" in up.stdout
    assert api.state.revoked_ids(ACCOUNT) == set(ids[:2])
    assert quickstart.outputs()["revoked_ids"] == ids[:2]
    [revoke] = api.requests.matching("POST", REVOKES)
    assert revoke.path.endswith("/devices/registrations/revoke"), "the default endpoint"

    # Adding IDs revokes only the new ones.
    quickstart.set_ids(ids[:4])
    api.requests.clear()
    quickstart.run("up", "--yes")
    [request] = api.requests.matching("POST", REVOKES)
    assert request.query["id"] == ids[2:4]
    assert api.state.revoked_ids(ACCOUNT) == set(ids[:4])

    # Removing an ID calls no API and says the registration stays revoked.
    quickstart.set_ids(ids[1:4])
    api.requests.clear()
    removed = quickstart.run("up", "--yes")
    assert api.requests.matching("POST") == []
    assert "1 registration removed from the declaration stay revoked" in removed.stdout
    assert api.state.revoked_ids(ACCOUNT) == set(ids[:4])

    # An out-of-band unrevoke is found by refresh, and the next up revokes it again.
    api.state.set_revoked(ACCOUNT, [ids[2]], False)
    refresh = quickstart.run("refresh", "--yes")
    assert "no longer revoked in Cloudflare" in refresh.stdout
    assert ids[2] in refresh.stdout
    api.requests.clear()
    quickstart.run("up", "--yes")
    [request] = api.requests.matching("POST", REVOKES)
    assert request.query["id"] == [ids[2]]
    assert api.state.revoked_ids(ACCOUNT) == set(ids[:4])

    # destroy calls no API and tells the user the registrations stay revoked.
    api.requests.clear()
    destroy = quickstart.run("destroy", "--yes")
    assert api.requests.all() == []
    assert "stay revoked" in destroy.stdout
    assert api.state.revoked_ids(ACCOUNT) == set(ids[:4])
    assert api.requests.matching(path="unrevoke") == []

    assert TOKEN not in quickstart.all_output()
    assert TOKEN not in quickstart.state_files()


def test_api_failure_fails_up_and_a_later_up_converges(api: Emulator, quickstart: Project) -> None:
    """A 403/10000 fails `up` with Cloudflare's code and message; fixed, `up` converges."""
    ids = api.state.seed(ACCOUNT, 3)
    quickstart.set_ids(ids)
    api.inject(status=403, code=10000, message="Authentication error")
    failed = quickstart.run("up", "--yes", check=False)
    assert failed.returncode != 0
    assert "[10000] Authentication error" in failed.output
    assert "Zero Trust Write" in failed.output
    assert api.state.revoked_ids(ACCOUNT) == set()

    quickstart.run("up", "--yes")
    assert api.state.revoked_ids(ACCOUNT) == set(ids)
    assert quickstart.outputs()["revoked_ids"] == ids
    assert TOKEN not in quickstart.all_output()


def test_persistent_5xx_fails_after_retries_and_update_state_stays_consistent(
    api: Emulator, quickstart: Project
) -> None:
    """5xx beyond the retries fails an update; the state keeps the old set; the next up adds."""
    ids = api.state.seed(ACCOUNT, 3)
    quickstart.config("cloudflare:retries", "2")
    quickstart.config("cloudflare:minBackoff", "0")
    quickstart.set_ids(ids[:1])
    quickstart.run("up", "--yes")

    quickstart.set_ids(ids)
    api.requests.clear()
    api.inject(status=502, message="Bad gateway", times=-1)
    failed = quickstart.run("up", "--yes", check=False)
    assert failed.returncode != 0
    assert "HTTP 502 after 3 attempts: [1000] Bad gateway" in failed.output
    assert len(api.requests.matching("POST", REVOKES)) == 3
    assert quickstart.outputs()["revoked_ids"] == ids[:1]

    api.clear_faults()
    api.requests.clear()
    quickstart.run("up", "--yes")
    [request] = api.requests.matching("POST", REVOKES)
    assert request.query["id"] == ids[1:]
    assert api.state.revoked_ids(ACCOUNT) == set(ids)


def test_invalid_input_fails_preview_with_the_precise_reason(
    api: Emulator, quickstart: Project
) -> None:
    """A malformed ID stops the preview with the CheckFailure's text, before any request."""
    quickstart.set_ids(["f174e90a-fafe-4643-bbbc-4a0ed4fc8415", "bob@example.com"])
    failed = quickstart.run("preview", check=False)
    assert failed.returncode != 0
    assert "registration_ids[1] 'bob@example.com' may contain only letters" in failed.output
    assert api.requests.all() == []


PROGRAM = """
import pulumi
from cloudflare_device_revocation import DeviceRevocation

config = pulumi.Config()
lost = DeviceRevocation(
    "lost-phone",
    account_id=config.require("accountId"),
    registration_ids=config.require_object("ids"),
    endpoint="registrations",
)
pulumi.export("revoked_ids", lost.revoked_ids)
"""


def test_secret_stack_config_token_never_appears_in_plaintext(
    tmp_path: Path, cli_bin: str, api: Emulator
) -> None:
    """cloudflare:apiToken as secret config works, and is never in output or state in clear."""
    ids = api.state.seed(ACCOUNT, 2)
    project = Project.create(tmp_path, cli_bin, program=PROGRAM, name="secret-config")
    project.config("cloudflare:apiToken", TOKEN, secret=True)
    project.config("cloudflare:baseUrl", api.base_url)
    project.config("accountId", ACCOUNT)
    for index, reg_id in enumerate(ids):
        project.config(f"ids[{index}]", reg_id, path=True)
    project.run("preview", "--diff")
    project.run("up", "--yes")
    [request] = api.requests.matching("POST", REVOKES)
    assert request.query["id"] == ids and request.auth == "token"
    assert api.state.revoked_ids(ACCOUNT) == set(ids)
    project.run("stack", "export")
    project.run("refresh", "--yes")
    project.run("destroy", "--yes")
    assert TOKEN not in project.all_output()
    assert TOKEN not in project.state_files()
