"""Upgrades: a stack written by release 0.1.0 (tests/fixtures/stack-0.1.0) runs on this code."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dill
import pytest

from cloudflare_device_revocation.emulator import Emulator, RequestRecord
from cloudflare_device_revocation.provider import DeviceRevocationProvider
from pulumi_cli import Project, _environment
from support import ACCOUNT

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "stack-0.1.0"
# The fixture's own passphrase and stack (see its README.md), not the other tests'.
PASSPHRASE = "fixture-0.1.0-passphrase"
STACK = "dev"
STATE_FILE = FIXTURE / "backend" / ".pulumi" / "stacks" / "revocation-0-1-0" / f"{STACK}.json"
RESOURCE_TYPE = "pulumi-python:dynamic/cloudflare:DeviceRevocation"
REVOKE_PATHS = r"/(un)?revoke$"


def revocation(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """The one DeviceRevocation among a deployment's resources."""
    [resource] = [r for r in resources if r["type"] == RESOURCE_TYPE]
    return resource


def revoked_in(record: RequestRecord) -> list[str]:
    """The IDs one revoke request names: a JSON array body (devices) or ``?id=`` (registrations)."""
    return list(record.body) if isinstance(record.body, list) else list(record.query.get("id", []))


def test_fixture_provider_unpickles_to_the_current_provider_class() -> None:
    """The 0.1.0 state's pickled ``__provider`` still loads, as pulumi.dynamic loads it."""
    state = json.loads(STATE_FILE.read_text())
    resource = revocation(state["checkpoint"]["latest"]["resources"])
    for props in (resource["inputs"], resource["outputs"]):
        provider = dill.loads(base64.b64decode(props["__provider"]))
        assert isinstance(provider, DeviceRevocationProvider)


@pytest.fixture
def api() -> Iterator[Emulator]:
    """The emulator as 0.1.0's `up` left it: 5 seeded registrations, the first 3 revoked."""
    with Emulator() as emulator:
        ids = emulator.state.seed(ACCOUNT, 5)
        emulator.state.set_revoked(ACCOUNT, ids[:3], True)
        yield emulator


@pytest.fixture
def old_stack(tmp_path: Path, cli_bin: str, api: Emulator) -> Project:
    """A copy of the fixture's project, on a copy of its file backend, stack selected."""
    root = tmp_path / "project"
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns("backend", "__pycache__"))
    project = Project(root=root, cli_bin=cli_bin, env=_environment(tmp_path, cli_bin))
    shutil.copytree(FIXTURE / "backend" / ".pulumi", tmp_path / "state" / ".pulumi")
    project.env.update(PULUMI_CONFIG_PASSPHRASE=PASSPHRASE, CLOUDFLARE_BASE_URL=api.base_url)
    project.run("stack", "select", STACK)
    return project


def exported(project: Project) -> dict[str, Any]:
    """The stack's DeviceRevocation as `pulumi stack export` shows it."""
    state = json.loads(project.run("stack", "export").stdout)
    return revocation(state["deployment"]["resources"])


@pytest.mark.cli
def test_a_0_1_0_stack_refreshes_updates_and_destroys_on_the_current_code(
    api: Emulator, old_stack: Project
) -> None:
    """refresh changes nothing, adding an ID revokes only it in place, destroy calls no revoke."""
    ids = list(api.state.account(ACCOUNT).registrations)  # in seeding order
    before = exported(old_stack)
    assert before["inputs"]["registration_ids"] == ids[:3], "the fixture declares the seeds"

    old_stack.run("refresh", "--yes")
    after_refresh = exported(old_stack)
    assert after_refresh["id"] == before["id"]
    assert after_refresh["inputs"] == before["inputs"]
    assert after_refresh["outputs"] == before["outputs"]
    assert api.requests.matching("POST") == []
    assert api.state.revoked_ids(ACCOUNT) == set(ids[:3])

    old_stack.config("registrationIds[3]", ids[3], path=True)
    api.requests.clear()
    old_stack.run("up", "--yes")
    revokes = api.requests.matching("POST", REVOKE_PATHS)
    assert [reg_id for r in revokes for reg_id in revoked_in(r)] == [ids[3]]
    assert not [r for r in revokes if r.path.endswith("/unrevoke")]
    assert api.state.revoked_ids(ACCOUNT) == set(ids[:4])
    after_up = exported(old_stack)
    assert after_up["id"] == before["id"], "an added ID updates in place, never replaces"
    assert sorted(after_up["outputs"]["revoked_ids"]) == sorted(ids[:4])

    api.requests.clear()
    old_stack.run("destroy", "--yes")
    assert api.requests.matching("POST", REVOKE_PATHS) == []
    assert api.state.revoked_ids(ACCOUNT) == set(ids[:4])
    assert "emulator-token" not in old_stack.all_output()
