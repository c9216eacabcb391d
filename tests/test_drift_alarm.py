"""The drift alarm of examples/drift-alarm: its exact command, on a stack against the emulator."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from cloudflare_device_revocation.emulator import Emulator
from pulumi_cli import REPO, Project
from support import ACCOUNT

pytestmark = pytest.mark.cli

WORKFLOW = REPO / "examples" / "drift-alarm" / "drift-alarm.yml"
WRITE_TOKEN = "drift-write-token-3b8e"
# The alarm gets a token that can only read, as the workflow's README asks.
READ_TOKEN = "drift-read-token-9c41"


def alarm_command() -> list[str]:
    """The workflow's DRIFT_CHECK, after checking that its drift step runs exactly that."""
    workflow = yaml.safe_load(WORKFLOW.read_text())
    command: str = workflow["env"]["DRIFT_CHECK"]
    [step] = [s for s in workflow["jobs"]["drift"]["steps"] if s.get("id") == "drift"]
    assert shlex.split(step["run"])[0] == "$DRIFT_CHECK"
    argv = shlex.split(command)
    assert argv[0] == "pulumi"
    return argv


def backend_files(project: Project) -> dict[str, bytes]:
    """Every file of the stack's file backend, by path: the state and anything beside it."""
    backend = project.root.parent / "state"
    return {str(p.relative_to(backend)): p.read_bytes() for p in backend.rglob("*") if p.is_file()}


def run_alarm(project: Project) -> subprocess.CompletedProcess[str]:
    """The alarm's command, as the workflow runs it: in the project, with a read-only token."""
    env = {**project.env, "CLOUDFLARE_API_TOKEN": READ_TOKEN}
    return subprocess.run(
        alarm_command(),
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.fixture
def api() -> Iterator[Emulator]:
    with Emulator(tokens={WRITE_TOKEN: "write", READ_TOKEN: "read"}) as emulator:
        emulator.state.account(ACCOUNT)
        yield emulator


@pytest.fixture
def deployed(tmp_path: Path, cli_bin: str, api: Emulator) -> tuple[Project, list[str]]:
    """The quickstart, `pulumi up` done: 3 of 5 registrations revoked."""
    ids = api.state.seed(ACCOUNT, 5)
    project = Project.create(tmp_path, cli_bin)
    project.env.update(CLOUDFLARE_API_TOKEN=WRITE_TOKEN, CLOUDFLARE_BASE_URL=api.base_url)
    project.config("accountId", ACCOUNT)
    project.set_ids(ids[:3])
    project.run("up", "--yes")
    assert api.state.revoked_ids(ACCOUNT) == set(ids[:3])
    return project, ids


def test_alarm_fails_naming_a_registration_unrevoked_out_of_band(
    api: Emulator, deployed: tuple[Project, list[str]]
) -> None:
    """An unrevoked registration fails the alarm, named in its output; state and API untouched."""
    project, ids = deployed
    api.state.set_revoked(ACCOUNT, [ids[1]], False)
    before = backend_files(project)
    api.requests.clear()

    alarm = run_alarm(project)

    assert alarm.returncode != 0, alarm.stdout + alarm.stderr
    assert ids[1] in alarm.stdout + alarm.stderr
    assert backend_files(project) == before
    assert api.requests.matching("POST") == []
    assert api.state.revoked_ids(ACCOUNT) == {ids[0], ids[2]}


def test_alarm_passes_without_drift(api: Emulator, deployed: tuple[Project, list[str]]) -> None:
    """With every declared registration still revoked the alarm exits 0 and writes nothing."""
    project, ids = deployed
    before = backend_files(project)
    api.requests.clear()

    alarm = run_alarm(project)

    assert alarm.returncode == 0, alarm.stdout + alarm.stderr
    assert backend_files(project) == before
    assert api.requests.matching("POST") == []
    assert api.state.revoked_ids(ACCOUNT) == set(ids[:3])
