"""Under the real CLI, only what Cloudflare confirms is recorded: unknown IDs fail `pulumi up`
after the rest are revoked, or, with allow_missing_ids, are listed apart (issues 10 and 12)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudflare_device_revocation.emulator import DEFAULT_TOKEN, Emulator
from pulumi_cli import Project
from support import ACCOUNT

pytestmark = pytest.mark.cli

UNKNOWN_IDS = ["00000000-0000-0000-0000-00000000000a", "00000000-0000-0000-0000-00000000000b"]

PROGRAM = """
import pulumi
from cloudflare_device_revocation import DeviceRevocation

revocation = DeviceRevocation(
    "lost-laptops",
    account_id="{account}",
    registration_ids={ids!r},
    allow_missing_ids={allow},
)
pulumi.export("revoked_ids", revocation.revoked_ids)
pulumi.export("missing_ids", revocation.missing_ids)
"""


@pytest.fixture(params=["ignore", "refuse"])
def api(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    """An emulator that skips, or refuses, unknown IDs in a revoke (both are assumptions)."""
    with Emulator() as emulator:
        emulator.assume(unknown_ids=request.param)
        emulator.state.account(ACCOUNT)
        yield emulator


def write_program(project: Project, ids: list[str], *, allow: bool) -> None:
    program = PROGRAM.format(account=ACCOUNT, ids=ids, allow=allow)
    (project.root / "__main__.py").write_text(program)


def test_unknown_ids_fail_up_after_revoking_the_rest(
    tmp_path: Path, cli_bin: str, api: Emulator
) -> None:
    """300 real and 2 unknown IDs: `pulumi up` fails naming both, with all 300 revoked and
    no resource in the state; with allow_missing_ids the next `up` records exactly the 300
    as revoked and the 2 as missing."""
    ids = api.state.seed(ACCOUNT, 300)
    declared = [*ids[:150], UNKNOWN_IDS[0], *ids[150:], UNKNOWN_IDS[1]]
    project = Project.create(tmp_path, cli_bin, program="", name="confirm")
    project.env.update(CLOUDFLARE_API_TOKEN=DEFAULT_TOKEN, CLOUDFLARE_BASE_URL=api.base_url)

    write_program(project, declared, allow=False)
    failed = project.run("up", "--yes", check=False)
    assert failed.returncode != 0
    assert "DeviceRevocation lost-laptops: 2 of 302 declared registration IDs" in failed.output
    assert all(unknown in failed.output for unknown in UNKNOWN_IDS), failed.output
    assert "Traceback" not in failed.output
    assert api.state.revoked_ids(ACCOUNT) == set(ids)
    deployment = json.loads(project.run("stack", "export").stdout)["deployment"]
    types = [resource["type"] for resource in deployment.get("resources") or []]
    assert not any("DeviceRevocation" in t for t in types), types
    assert not deployment.get("pending_operations"), deployment["pending_operations"]

    write_program(project, declared, allow=True)
    project.run("up", "--yes")
    outputs = project.outputs()
    assert outputs["revoked_ids"] == ids
    assert outputs["missing_ids"] == UNKNOWN_IDS
    assert api.state.revoked_ids(ACCOUNT) == set(ids)
