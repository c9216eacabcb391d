"""What a user sees under the real CLI when Cloudflare says no: a wrong token, a 429."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudflare_device_revocation.emulator import DEFAULT_TOKEN, Emulator
from pulumi_cli import Project
from support import ACCOUNT

pytestmark = pytest.mark.cli

# A token the emulator does not know; distinctive, so that finding it anywhere means a leak.
WRONG_TOKEN = "cf-wrong-token-3d8e1b7a9c2f4e60"
# The emulator's answer to a token it does not know (assumed from what Cloudflare is seen
# to answer: the emulator's docstring lists 9109 among the observed auth codes).
UNKNOWN_TOKEN_ANSWER = "HTTP 403: [9109] Invalid access token"
REVOKE_PATH = f"/client/v4/accounts/{ACCOUNT}/devices/registrations/revoke"


@pytest.fixture
def api() -> Iterator[Emulator]:
    with Emulator() as emulator:
        emulator.state.account(ACCOUNT)
        yield emulator


@pytest.fixture
def ids(api: Emulator) -> list[str]:
    return api.state.seed(ACCOUNT, 3)


@pytest.fixture
def quickstart(tmp_path: Path, cli_bin: str, api: Emulator, ids: list[str]) -> Project:
    """The repository's root project, three registrations declared, the base URL set."""
    project = Project.create(tmp_path, cli_bin)
    project.env.update(CLOUDFLARE_BASE_URL=api.base_url)
    project.config("accountId", ACCOUNT)
    project.set_ids(ids)
    return project


def diagnostics_of(output: str, heading: str) -> list[str]:
    """The lines of the Diagnostics block under ``heading``, up to the next blank line."""
    lines = output.splitlines()
    start = lines.index("Diagnostics:")
    block = lines[start:]
    first = next(n for n, line in enumerate(block) if line.strip() == heading) + 1
    end = next((n for n in range(first, len(block)) if not block[n].strip()), len(block))
    return [line.strip() for line in block[first:end]]


def test_wrong_token_fails_up_naming_the_cause_once_per_engine_row(
    api: Emulator, quickstart: Project
) -> None:
    """A token Cloudflare does not know: the first line carrying an error names the 403
    and code 9109, no Python traceback appears, and Cloudflare's message appears three
    times, each put there by the engine: its progress row for the failure, its final
    "creating failed" row, and its Diagnostics block (which holds the message once)."""
    quickstart.env.update(CLOUDFLARE_API_TOKEN=WRONG_TOKEN)
    failed = quickstart.run("up", "--yes", check=False)
    output = failed.output
    assert failed.returncode != 0
    lines = output.splitlines()
    first_error = next(line for line in lines if "error:" in line)
    assert UNKNOWN_TOKEN_ANSWER in first_error, output
    assert "DeviceRevocation lost-laptops: Cloudflare API: cannot revoke 3" in first_error
    [progress_row, failed_row] = [line for line in lines if "Invalid access token" in line][:2]
    assert "lost-laptops creating (" in progress_row, output
    assert "lost-laptops **creating failed** error: " in failed_row, output

    resource = diagnostics_of(
        output, "pulumi-python:dynamic/cloudflare:DeviceRevocation (lost-laptops):"
    )
    assert resource[0].startswith("error: "), resource
    assert UNKNOWN_TOKEN_ANSWER in resource[0]
    assert "Zero Trust Write" in resource[1]
    assert "\n".join(resource).count("Invalid access token") == 1
    assert output.count("Invalid access token") == 3, output

    assert "Traceback" not in output and 'File "' not in output
    assert WRONG_TOKEN not in output
    assert api.state.revoked_ids(ACCOUNT) == set()


def test_429_with_retry_after_is_waited_out_and_announced(
    api: Emulator, quickstart: Project, ids: list[str]
) -> None:
    """A 429 with Retry-After: 3 on the first revoke: `pulumi up` shows one line naming the
    resource, the status, the header, the wait and the next attempt; waits at least 3 s;
    and the revocation completes.

    The engine files the provider's output under the stack, not the resource, so the line
    appears twice (the stack's progress row and its Diagnostics block), and only its text
    names the resource. The wait it announces is Retry-After plus up to 1 s of jitter,
    rounded: "waiting 3 s" or "waiting 4 s"."""
    quickstart.env.update(CLOUDFLARE_API_TOKEN=DEFAULT_TOKEN)
    api.inject(
        method="POST",
        path=r"/revoke$",
        status=429,
        code=971,
        message="Please wait and consider throttling your request speed",
        headers={"Retry-After": "3"},
    )
    up = quickstart.run("up", "--yes")
    announced = re.compile(
        r"DeviceRevocation lost-laptops: rate limited \(HTTP 429, Retry-After: 3\): "
        rf"waiting ([34]) s before attempt 2 of POST {re.escape(REVOKE_PATH)}$"
    )
    lines = up.output.splitlines()
    rows = [line for line in lines if announced.search(line.rstrip())]
    assert len(rows) == 2, up.output
    assert "pulumi:pulumi:Stack device-revocation-quickstart-dev creating (" in rows[0]
    stack = diagnostics_of(up.output, "pulumi:pulumi:Stack (device-revocation-quickstart-dev):")
    assert sum(bool(announced.fullmatch(line)) for line in stack) == 1, stack
    assert "Please wait" not in up.output, "a wait that succeeds is not an error"

    first, second = api.requests.matching("POST", r"/revoke$")
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 3.0
    assert api.state.revoked_ids(ACCOUNT) == set(ids)
    assert quickstart.outputs()["revoked_ids"] == ids
