"""Malformed programs under the real CLI: each preview fails with its exact reason, or
normalizes, before any request reaches the API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudflare_device_revocation.emulator import DEFAULT_TOKEN, Emulator
from pulumi_cli import Project
from support import ACCOUNT

pytestmark = pytest.mark.cli

UUID = "f174e90a-fafe-4643-bbbc-4a0ed4fc8415"
HEADER = "import pulumi\nfrom cloudflare_device_revocation import DeviceRevocation\n\n"

# (case, the DeviceRevocation's keyword arguments as source, the exact CheckFailure reason)
FAILURES = [
    (
        "IDs not a list",
        f'account_id="{ACCOUNT}", registration_ids=42',
        "registration_ids must be a list of strings, got number 42.",
    ),
    (
        "IDs a string",
        f'account_id="{ACCOUNT}", registration_ids="{UUID}"',
        f"registration_ids must be a list of strings, got string '{UUID}'.",
    ),
    (
        "IDs an object",
        f'account_id="{ACCOUNT}", registration_ids={{"id": "{UUID}"}}',
        "registration_ids must be a list of strings, got object {'id': '" + UUID + "'}.",
    ),
    (
        "an ID not a string",
        f'account_id="{ACCOUNT}", registration_ids=["{UUID}", 7]',
        "registration_ids[1] must be a string, got number 7.",
    ),
    (
        "allow_missing_ids not a boolean",
        f'account_id="{ACCOUNT}", registration_ids=["{UUID}"], allow_missing_ids="yes"',
        "allow_missing_ids must be true or false, got string 'yes'.",
    ),
    (
        "an empty ID",
        f'account_id="{ACCOUNT}", registration_ids=["  "]',
        "registration_ids[0] is empty.",
    ),
    (
        "an ID of 37 characters",
        f'account_id="{ACCOUNT}", registration_ids=["{UUID}0"]',
        f"registration_ids[0] '{UUID}0' is 37 characters long; Cloudflare registration IDs "
        "are at most 36.",
    ),
    (
        "missing account",
        f'account_id=None, registration_ids=["{UUID}"]',
        "account_id is required: the 32-character hexadecimal ID of the Cloudflare account "
        "(dashboard: Account home, Account ID).",
    ),
    (
        "non-hex account",
        f'account_id="{"z" * 32}", registration_ids=["{UUID}"]',
        f"account_id must be 32 hexadecimal characters, got '{'z' * 32}' (32 characters).",
    ),
    (
        "unknown endpoint",
        f'account_id="{ACCOUNT}", registration_ids=["{UUID}"], endpoint="v2"',
        "endpoint must be one of 'devices', 'registrations', got 'v2'.",
    ),
    (
        "an Output resolving to a bad ID",
        f'account_id="{ACCOUNT}", registration_ids=pulumi.Output.from_input(["not valid!"])',
        "registration_ids[0] 'not valid!' may contain only letters, digits and '-' "
        "(a registration ID looks like f174e90a-fafe-4643-bbbc-4a0ed4fc8415).",
    ),
    (
        "an Output resolving to a bad account",
        f'account_id=pulumi.Output.from_input("acct"), registration_ids=["{UUID}"]',
        "account_id must be 32 hexadecimal characters, got 'acct' (4 characters).",
    ),
]

# (case, keyword arguments, the registration_ids the preview shows once normalized)
NORMALIZED = [
    (
        "duplicates, whitespace and uppercase",
        f'account_id="{ACCOUNT.upper()}", '
        f'registration_ids=[" {UUID.upper()} ", "{UUID}", "{UUID}"]',
        [UUID],
    ),
    (
        "10,000 IDs",
        f'account_id="{ACCOUNT}", registration_ids=[f"00000000-0000-0000-0000-{{i:012d}}" '
        "for i in range(10_000)]",
        ["00000000-0000-0000-0000-000000000000", "00000000-0000-0000-0000-000000009999"],
    ),
    ("an empty list", f'account_id="{ACCOUNT}", registration_ids=[]', []),
]


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator() as emu:
        emu.state.account(ACCOUNT)
        yield emu


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, cli_bin: str, emulator: Emulator) -> Project:
    project = Project.create(
        tmp_path_factory.mktemp("bad-input"), cli_bin, program=HEADER, name="bad-input"
    )
    project.env.update(CLOUDFLARE_API_TOKEN=DEFAULT_TOKEN, CLOUDFLARE_BASE_URL=emulator.base_url)
    return project


def preview(project: Project, arguments: str) -> str:
    program = f'{HEADER}DeviceRevocation("r", {arguments})\n'
    Path(project.root / "__main__.py").write_text(program)
    run = project.run("preview", "--diff", check=False)
    return run.output if run.returncode else "OK\n" + run.output


@pytest.mark.parametrize(("case", "arguments", "reason"), FAILURES, ids=[c[0] for c in FAILURES])
def test_malformed_program_fails_preview_with_its_reason(
    project: Project, emulator: Emulator, case: str, arguments: str, reason: str
) -> None:
    """The preview fails, and the output carries the exact CheckFailure reason."""
    output = preview(project, arguments)
    assert not output.startswith("OK"), output
    assert reason in output, output
    assert emulator.arrivals() == 0


@pytest.mark.parametrize(("case", "arguments", "shown"), NORMALIZED, ids=[c[0] for c in NORMALIZED])
def test_accepted_program_previews_normalized(
    project: Project, emulator: Emulator, case: str, arguments: str, shown: list[str]
) -> None:
    """Messy but valid input previews cleanly, normalized, and calls no API."""
    output = preview(project, arguments)
    assert output.startswith("OK"), output
    for reg_id in shown:
        assert f'"{reg_id}"' in output
    assert f'"{ACCOUNT}"' in output
    assert emulator.arrivals() == 0
