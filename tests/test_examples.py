"""The examples: each program under the real Pulumi CLI, the CSV loader, the workflow file."""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from cloudflare_device_revocation.emulator import DEFAULT_TOKEN, Emulator
from pulumi_cli import REPO, Project
from support import ACCOUNT, OTHER_ACCOUNT

EXAMPLES = REPO / "examples"
PROGRAMS = [
    "offboarding-from-file",
    "multiple-accounts",
    "ids-from-outputs",
    "registrations-endpoint",
]
WORKFLOW = EXAMPLES / "github-actions" / "pulumi.yml"
# A token distinctive enough that finding it anywhere means it leaked.
TOKEN = "cf-examples-token-4b8e2d6a9c1f7e30"
DEVICES_REVOKE = r"/devices/revoke$"
REGISTRATIONS_REVOKE = r"/devices/registrations/revoke$"


def _example_module(example: str, name: str) -> ModuleType:
    """Import ``examples/<example>/<name>.py`` (example folders are not packages)."""
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / example / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


offboarding_csv = _example_module("offboarding-from-file", "offboarding_csv")
inactive_registrations = _example_module("ids-from-outputs", "inactive_registrations")


@pytest.fixture
def api() -> Iterator[Emulator]:
    with Emulator(tokens={TOKEN: "write"}) as emulator:
        yield emulator


def enroll(api: Emulator, account_id: str, ids: list[str]) -> None:
    """Give the emulator's account registrations with exactly these IDs."""
    for reg_id in ids:
        api.state.add_registration(account_id, registration_id=reg_id)


def stack_config(example: str, stack: str) -> dict[str, Any]:
    """The ``config:`` of an example's committed ``Pulumi.<stack>.yaml``."""
    text = (EXAMPLES / example / f"Pulumi.{stack}.yaml").read_text()
    config: dict[str, Any] = yaml.safe_load(text)["config"]
    return config


# -- every example ------------------------------------------------------------------------


@pytest.mark.parametrize("example", PROGRAMS)
def test_example_folder_is_a_complete_project(example: str) -> None:
    """Pulumi.yaml with its program next to it, requirements.txt and a README section."""
    folder = EXAMPLES / example
    project = yaml.safe_load((folder / "Pulumi.yaml").read_text())
    assert project["name"] == example
    assert project["runtime"] == {
        "name": "python",
        "options": {"toolchain": "pip", "virtualenv": "venv"},
    }
    assert (folder / "__main__.py").is_file()
    requirements = (folder / "requirements.txt").read_text().splitlines()
    assert "cloudflare-device-revocation" in requirements
    assert f"## {example}" in (EXAMPLES / "README.md").read_text()


# -- offboarding-from-file: the loader -----------------------------------------------------

HEADER = "registration_id,owner,reason,ticket\n"
ALICE = "f174e90a-fafe-4643-bbbc-4a0ed4fc8415"
BOB = "3c9d5b0e-8a1f-4e2b-9d7c-6f4a2e1b0c93"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "offboarding.csv"
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path) -> list[tuple[int, str]]:
    with pytest.raises(offboarding_csv.OffboardingFileError) as caught:
        offboarding_csv.load(path)
    return [(p.line, p.reason) for p in caught.value.problems]


def test_loader_reads_lines_with_their_line_numbers(tmp_path: Path) -> None:
    """Comments, blank lines, quoted commas, extra columns and upper-case IDs are fine."""
    path = write(
        tmp_path,
        "\ufeff# revoke these\n"
        "ticket,owner,registration_id,reason,approved_by\n"
        "\n"
        f'IT-1042,alice@example.com,{ALICE.upper()},"left, moved abroad",carol\n'
        f"SEC-311, bob@example.com ,{BOB},laptop stolen,dave\n",
    )
    assert offboarding_csv.load(path) == [
        offboarding_csv.Offboarding(ALICE, "alice@example.com", "left, moved abroad", "IT-1042", 4),
        offboarding_csv.Offboarding(BOB, "bob@example.com", "laptop stolen", "SEC-311", 5),
    ]


def test_the_committed_example_file_loads() -> None:
    """examples/offboarding-from-file/offboarding.csv is valid as shipped."""
    entries = offboarding_csv.load(EXAMPLES / "offboarding-from-file" / "offboarding.csv")
    assert [e.registration_id for e in entries] == [ALICE, BOB]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", [(0, "the file is empty: expected `registration_id,owner,reason,ticket`")]),
        (
            "# only a comment\n\n",
            [(0, "the file is empty: expected `registration_id,owner,reason,ticket`")],
        ),
        (HEADER, [(1, "no registrations listed below the header")]),
        (
            f"registration_id,owner,reason\n{ALICE},alice@example.com,left\n",
            [
                (
                    1,
                    "missing column ticket: the header must name registration_id, owner, "
                    "reason, ticket",
                )
            ],
        ),
        (
            f"registration_id,owner,owner,reason,ticket\n{ALICE},a,a,left,IT-1\n",
            [(1, "column 'owner' appears more than once")],
        ),
        (
            HEADER + "alice@example.com,alice,left,IT-1\n",
            [
                (
                    2,
                    "registration_id 'alice@example.com' is not a registration ID: expected a "
                    f"UUID such as {ALICE}",
                )
            ],
        ),
        (
            HEADER + "f174e90a-fafe-4643,alice,left,IT-1\n",
            [
                (
                    2,
                    "registration_id 'f174e90a-fafe-4643' is not a registration ID: expected a "
                    f"UUID such as {ALICE}",
                )
            ],
        ),
        (HEADER + ",alice,left,IT-1\n", [(2, "registration_id is empty")]),
        (HEADER + f"{ALICE}, ,left,IT-1\n", [(2, "owner is empty: say whose device this is")]),
        (
            HEADER + f"{ALICE},alice,left,\n",
            [(2, "ticket is empty: say the ticket that asked for it")],
        ),
        (
            HEADER
            + f"{ALICE},alice,left,IT-1\n{BOB},bob,stolen,SEC-3\n{ALICE.upper()},al,x,IT-2\n",
            [(4, f"{ALICE} is already listed on line 2")],
        ),
        (
            HEADER + f"{ALICE},alice,left\n",
            [(2, "expected 4 fields (registration_id, owner, reason, ticket), found 3")],
        ),
    ],
    ids=[
        "empty",
        "only-comments",
        "no-rows",
        "missing-column",
        "duplicate-column",
        "email-not-id",
        "truncated-id",
        "empty-id",
        "empty-owner",
        "empty-ticket",
        "duplicate-id",
        "missing-field",
    ],
)
def test_loader_rejects_malformed_files_with_line_and_reason(
    tmp_path: Path, text: str, expected: list[tuple[int, str]]
) -> None:
    """Each kind of mistake is reported with its line number and a reason a reviewer can act on."""
    assert problems(write(tmp_path, text)) == expected


def test_loader_reports_every_problem_at_once_as_file_line_reason(tmp_path: Path) -> None:
    """All bad lines are reported together, each as FILE:LINE: reason."""
    path = write(tmp_path, HEADER + f"{ALICE},alice,left,IT-1\nnope,bob,,SEC-3\n{ALICE},a,b,c\n")
    with pytest.raises(offboarding_csv.OffboardingFileError) as caught:
        offboarding_csv.load(path)
    assert str(caught.value).splitlines() == [
        f"{path}:3: registration_id 'nope' is not a registration ID: expected a UUID such as "
        f"{ALICE}",
        f"{path}:3: reason is empty: say why it is revoked",
        f"{path}:4: {ALICE} is already listed on line 2",
    ]


def test_loader_names_a_missing_file(tmp_path: Path) -> None:
    """A wrong `file` config fails with the path it looked for."""
    missing = tmp_path / "nope.csv"
    with pytest.raises(
        offboarding_csv.OffboardingFileError, match=re.escape(f"{missing}: no such file")
    ):
        offboarding_csv.load(missing)


# -- ids-from-outputs: the snapshot resource's provider -----------------------------------


def test_snapshot_lists_active_registrations_not_seen_for_the_given_days(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Quiet and active: in the snapshot; recently seen or already revoked: not."""
    ids = emulator.state.seed(ACCOUNT, 4)
    for reg_id in ids[:3]:
        emulator.state.accounts[ACCOUNT].registrations[reg_id].last_seen_at = "2025-01-01T00:00:00Z"
    emulator.state.set_revoked(ACCOUNT, [ids[2]], True)
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", DEFAULT_TOKEN)
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", emulator.base_url)
    provider = inactive_registrations.InactiveRegistrationsProvider()
    created = provider.create({"account_id": ACCOUNT, "inactive_days": 90.0})
    assert created.outs["ids"] == sorted(ids[:2])
    assert created.outs["inactive_days"] == 90
    assert created.id.startswith(f"{ACCOUNT}/")
    assert provider.__getstate__() == {}


def test_snapshot_with_nothing_inactive_is_empty_and_says_so(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No quiet registration: an empty snapshot, with the reason (a DeviceRevocation of no
    IDs revokes nothing and succeeds)."""
    emulator.state.seed(ACCOUNT, 2)
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", DEFAULT_TOKEN)
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", emulator.base_url)
    provider = inactive_registrations.InactiveRegistrationsProvider()
    outs = provider.create({"account_id": ACCOUNT, "inactive_days": 90}).outs or {}
    assert outs["ids"] == []
    assert "has been inactive for 90 days or more: nothing to revoke" in capsys.readouterr().out


def test_snapshot_is_retaken_only_when_its_inputs_change() -> None:
    """A changed account or day count replaces the snapshot; anything else is no change."""
    provider = inactive_registrations.InactiveRegistrationsProvider()
    olds = {"account_id": ACCOUNT, "inactive_days": 90, "ids": ["a"], "cutoff": "x"}
    same = provider.diff("id", olds, {"account_id": ACCOUNT, "inactive_days": 90})
    assert not same.changes
    moved = provider.diff("id", olds, {"account_id": ACCOUNT, "inactive_days": 30})
    assert moved.changes and moved.replaces == ["inactive_days"]


# -- the GitHub Actions workflow -----------------------------------------------------------


def workflow() -> dict[Any, Any]:
    loaded = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(loaded, dict)
    return loaded


def triggers(flow: dict[Any, Any]) -> dict[str, Any]:
    """The ``on:`` block, which YAML 1.1 reads under the key ``True``."""
    found = flow["on"] if "on" in flow else flow[True]
    assert isinstance(found, dict)
    return found


def pulumi_step(job: dict[str, Any]) -> dict[str, Any]:
    [step] = [s for s in job["steps"] if str(s.get("uses", "")).startswith("pulumi/actions@")]
    assert isinstance(step, dict)
    return step


def test_workflow_previews_pull_requests_and_deploys_the_default_branch() -> None:
    """Preview with a PR comment and diff on pull requests; up on pushes to main."""
    flow = workflow()
    assert set(triggers(flow)) == {"pull_request", "push"}
    assert triggers(flow)["push"]["branches"] == ["main"]
    preview, deploy = flow["jobs"]["preview"], flow["jobs"]["deploy"]
    assert preview["if"] == "github.event_name == 'pull_request'"
    assert deploy["if"] == "github.event_name == 'push'"

    step = pulumi_step(preview)
    assert step["with"]["command"] == "preview"
    assert step["with"]["comment-on-pr"] is True
    assert step["with"]["diff"] is True
    assert step["with"]["github-token"] == "${{ secrets.GITHUB_TOKEN }}"
    assert "CLOUDFLARE_API_TOKEN" not in step.get("env", {})

    step = pulumi_step(deploy)
    assert step["with"]["command"] == "up"
    assert step["env"]["CLOUDFLARE_API_TOKEN"] == "${{ secrets.CLOUDFLARE_API_TOKEN }}"
    for job in (preview, deploy):
        step = pulumi_step(job)
        assert step["with"]["stack-name"] == "${{ matrix.stack }}"
        assert step["with"]["work-dir"] == "${{ matrix.work-dir }}"
        assert step["env"]["PULUMI_CONFIG_PASSPHRASE"] == "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"


def test_workflow_permissions_are_least_privilege() -> None:
    """Read-only by default; only the preview job may write, and only pull-request comments."""
    flow = workflow()
    assert flow["permissions"] == {"contents": "read"}
    assert flow["jobs"]["preview"]["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert flow["jobs"]["deploy"]["permissions"] == {"contents": "read"}


def secret_uses(
    node: object, secret: str, path: tuple[object, ...] = ()
) -> list[tuple[object, ...]]:
    """Where in the workflow a value reads ``secrets.<secret>``, as paths of keys and indexes."""
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in secret_uses(v, secret, (*path, k))]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in secret_uses(v, secret, (*path, i))]
    return [path] if re.search(rf"\bsecrets\.{secret}\b", str(node)) else []


def test_workflow_gives_the_cloudflare_token_to_the_deploy_step_only() -> None:
    """Only the deploy job's pulumi step gets the Cloudflare token: no workflow- or job-level
    env, and nothing in the preview job that pull requests run."""
    flow = workflow()
    deploy_steps = flow["jobs"]["deploy"]["steps"]
    index = deploy_steps.index(pulumi_step(flow["jobs"]["deploy"]))
    assert secret_uses(flow, "CLOUDFLARE_API_TOKEN") == [
        ("jobs", "deploy", "steps", index, "env", "CLOUDFLARE_API_TOKEN")
    ]


def test_workflow_pins_actions_and_the_cli() -> None:
    """Every action has a version (a tag or a commit SHA), and the CLI a release."""
    for job in workflow()["jobs"].values():
        for step in job["steps"]:
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@(v\d+(\.\d+)*|[0-9a-f]{40})", step["uses"])
        assert re.fullmatch(r"\d+\.\d+\.\d+", str(pulumi_step(job)["with"]["pulumi-version"]))


def test_workflow_references_only_paths_that_exist() -> None:
    """work-dir, its requirements.txt and stack file, and the trigger paths are in the repo."""
    flow = workflow()
    for job in flow["jobs"].values():
        for entry in job["strategy"]["matrix"]["include"]:
            work_dir = REPO / entry["work-dir"]
            for name in ("Pulumi.yaml", "__main__.py", "requirements.txt"):
                assert (work_dir / name).is_file(), work_dir / name
            assert (work_dir / f"Pulumi.{entry['stack']}.yaml").is_file()
        install = next(s for s in job["steps"] if "pip install" in s.get("run", ""))
        assert install["working-directory"] == "${{ matrix.work-dir }}"
        assert "-r requirements.txt" in install["run"]
    for trigger in triggers(flow).values():
        for pattern in trigger["paths"]:
            if pattern.startswith(".github/workflows/"):
                continue  # where a user copies this file
            assert (REPO / pattern.removesuffix("/**")).is_dir(), pattern


# -- each program under the real CLI, against the emulator ---------------------------------


@pytest.mark.cli
def test_offboarding_from_file_previews_each_line_and_revokes_added_ones(
    tmp_path: Path, cli_bin: str, api: Emulator
) -> None:
    """Create, add a line, remove a line, break a line: what the PR preview says, and does."""
    account_id = stack_config("offboarding-from-file", "prod")["offboarding-from-file:accountId"]
    entries = offboarding_csv.load(EXAMPLES / "offboarding-from-file" / "offboarding.csv")
    ids = [e.registration_id for e in entries]
    carol = "a1b2c3d4-0000-4000-8000-000000000001"
    enroll(api, account_id, [*ids, carol])
    project = Project.from_example(tmp_path, cli_bin, "offboarding-from-file", stack="prod")
    # As in the workflow's preview job: no Cloudflare token; previewing calls no API.
    project.env.update(CLOUDFLARE_BASE_URL=api.base_url)

    create = project.run("preview", "--diff")
    assert "+ pulumi-python:dynamic/cloudflare:DeviceRevocation: (create)" in create.stdout
    assert re.search(rf'account_id +: "{account_id}"', create.stdout)
    legend = (  # whole: a preview shortens strings over 150 characters
        "revokes the IDs marked + under requests (all of them, if the account changes); IDs "
        "marked - stay revoked: nothing is un-revoked"
    )
    assert f'pulumi_up: "{legend}"' in create.stdout
    for e in entries:
        assert f'{e.registration_id}: "{e.owner}: {e.reason} ({e.ticket})"' in create.stdout
    assert api.requests.all() == []

    project.env["CLOUDFLARE_API_TOKEN"] = TOKEN
    project.run("up", "--yes")
    assert api.state.revoked_ids(account_id) == set(ids)

    csv_file = project.root / "offboarding.csv"
    original = csv_file.read_text()
    csv_file.write_text(original + f"{carol},carol@example.com,contract ended,IT-1077\n")
    added = project.run("preview", "--diff")
    assert f'+ {carol}: "carol@example.com: contract ended (IT-1077)"' in added.stdout
    assert "~ 1 to update" in added.stdout
    api.requests.clear()
    project.run("up", "--yes")
    [request] = api.requests.matching("POST", REGISTRATIONS_REVOKE)
    assert request.query["id"] == [carol]

    # A removed line: the preview says it stays revoked, and up calls no API.
    csv_file.write_text(original)
    removed = project.run("preview", "--diff")
    assert f'- {carol}: "carol@example.com: contract ended (IT-1077)"' in removed.stdout
    assert "IDs marked - stay revoked: nothing is un-revoked" in removed.stdout
    api.requests.clear()
    project.run("up", "--yes")
    assert api.requests.matching("POST") == []
    assert api.state.revoked_ids(account_id) == {*ids, carol}

    csv_file.write_text(original + "not-an-id,dave@example.com,,IT-1080\n")
    failed = project.run("preview", "--diff", check=False)
    assert failed.returncode != 0
    assert "error: offboarding.csv:6: registration_id 'not-an-id' is not a registration ID" in (
        failed.output
    )
    assert "offboarding.csv:6: reason is empty: say why it is revoked" in failed.output
    assert "Traceback" not in failed.output
    assert TOKEN not in project.all_output()


@pytest.mark.cli
def test_multiple_accounts_one_stack_per_environment(
    tmp_path: Path, cli_bin: str, api: Emulator
) -> None:
    """Each committed stack file revokes in its accounts; a changed account ID is a replace."""
    stacks = {
        stack: stack_config("multiple-accounts", stack)["multiple-accounts:accounts"]
        for stack in ("staging", "prod")
    }
    for accounts in stacks.values():
        for account in accounts.values():
            enroll(api, account["accountId"], account["registrationIds"])
    project = Project.from_example(tmp_path, cli_bin, "multiple-accounts", stack="staging")
    project.env.update(CLOUDFLARE_API_TOKEN=TOKEN, CLOUDFLARE_BASE_URL=api.base_url)

    for stack, accounts in stacks.items():
        if stack != "staging":
            project.run("stack", "init", stack)
        preview = project.run("preview", "--diff")
        assert f"+ {len(accounts) + 1} to create" in preview.stdout
        assert f"Pulumi.{stack}.yaml" in preview.stdout
        for label, account in accounts.items():
            for reg_id in account["registrationIds"]:
                assert f'{reg_id}: "{label}, account {account["accountId"]}"' in preview.stdout
        project.run("up", "--yes")
        for account in accounts.values():
            assert api.state.revoked_ids(account["accountId"]) == set(account["registrationIds"])

    # prod's contractors move to another account: a replacement that revokes there.
    contractors = stacks["prod"]["contractors"]
    enroll(api, OTHER_ACCOUNT, contractors["registrationIds"])
    stack_file = project.root / "Pulumi.prod.yaml"
    stack_file.write_text(stack_file.read_text().replace(contractors["accountId"], OTHER_ACCOUNT))
    moved = project.run("preview", "--diff")
    assert "+-pulumi-python:dynamic/cloudflare:DeviceRevocation: (replace)" in moved.stdout
    assert re.search(
        rf'~ account_id +: "{contractors["accountId"]}" => "{OTHER_ACCOUNT}"', moved.stdout
    )
    assert "+-1 to replace" in moved.stdout
    for reg_id in contractors["registrationIds"]:
        assert (
            f'~ {reg_id}: "contractors, account {contractors["accountId"]}" => '
            f'"contractors, account {OTHER_ACCOUNT}"'
        ) in moved.stdout
    api.requests.clear()
    project.run("up", "--yes")
    assert api.state.revoked_ids(OTHER_ACCOUNT) == set(contractors["registrationIds"])
    assert api.requests.matching(path="unrevoke") == []
    assert api.state.revoked_ids(contractors["accountId"]) == set(contractors["registrationIds"])


SNAPSHOT_URN = (
    "urn:pulumi:dev::ids-from-outputs::"
    "pulumi-python:dynamic/cloudflare:InactiveRegistrations::inactive-registrations"
)


def seed_inactive(api: Emulator) -> list[str]:
    """Seed four registrations, two last seen in January 2025; return those two, sorted."""
    ids = api.state.seed(ACCOUNT, 4)
    for reg_id in ids[:2]:
        api.state.accounts[ACCOUNT].registrations[reg_id].last_seen_at = "2025-01-01T00:00:00Z"
    return sorted(ids[:2])


def ids_from_outputs(tmp_path: Path, cli_bin: str, api: Emulator) -> Project:
    """The ids-from-outputs example as a project aimed at the emulator's account."""
    project = Project.from_example(tmp_path, cli_bin, "ids-from-outputs")
    project.env.update(CLOUDFLARE_API_TOKEN=TOKEN, CLOUDFLARE_BASE_URL=api.base_url)
    project.config("accountId", ACCOUNT)
    return project


@pytest.mark.cli
def test_ids_from_outputs_preview_lists_ids_once_the_producer_exists(
    tmp_path: Path, cli_bin: str, api: Emulator
) -> None:
    """Two steps: `up --target` the snapshot, then the preview names the IDs up will revoke."""
    inactive = seed_inactive(api)
    project = ids_from_outputs(tmp_path, cli_bin, api)

    project.run("up", "--yes", "--target", SNAPSHOT_URN)
    assert api.requests.matching("POST") == []
    preview = project.run("preview", "--diff")
    assert "+ pulumi-python:dynamic/cloudflare:DeviceRevocation: (create)" in preview.stdout
    assert "[unknown]" not in preview.stdout.split("--outputs:--")[0]
    for reg_id in inactive:
        assert f'"{reg_id}"' in preview.stdout

    project.run("up", "--yes")
    assert api.state.revoked_ids(ACCOUNT) == set(inactive)
    assert project.outputs()["revocation"]["registration_ids"] == inactive
    again = project.run("preview", "--diff")
    assert "3 unchanged" in again.stdout


@pytest.mark.cli
def test_ids_from_outputs_first_preview_shows_unknown_ids(
    tmp_path: Path, cli_bin: str, api: Emulator
) -> None:
    """In one step, the first preview shows registration_ids as [unknown] and calls no API."""
    inactive = seed_inactive(api)
    project = ids_from_outputs(tmp_path, cli_bin, api)

    first = project.run("preview", "--diff")
    assert "registration_ids: [unknown]" in first.stdout
    assert "takes a snapshot of the registrations not seen for 90 days" in first.stdout
    assert api.requests.all() == []
    project.run("up", "--yes")
    assert api.state.revoked_ids(ACCOUNT) == set(inactive)


@pytest.mark.cli
def test_ids_from_outputs_with_nothing_inactive_revokes_nothing_and_succeeds(
    tmp_path: Path, cli_bin: str, api: Emulator
) -> None:
    """An empty snapshot is no error: `up` succeeds, says nothing to revoke, sends no revoke."""
    api.state.seed(ACCOUNT, 2)  # seen just now: not inactive
    project = ids_from_outputs(tmp_path, cli_bin, api)
    up = project.run("up", "--yes")
    assert "nothing to revoke" in up.output
    assert api.requests.matching("POST") == []
    assert project.outputs()["revoked_ids"] == []


@pytest.mark.cli
def test_registrations_endpoint_rescues_a_multi_user_account(
    tmp_path: Path, cli_bin: str, api: Emulator
) -> None:
    """On the deprecated endpoint a multi-user account fails; the example's one line fixes it."""
    ids = api.state.seed(ACCOUNT, 3)
    project = Project.from_example(tmp_path, cli_bin, "registrations-endpoint")
    project.env.update(CLOUDFLARE_API_TOKEN=TOKEN, CLOUDFLARE_BASE_URL=api.base_url)
    program = project.root / "__main__.py"
    example = program.read_text()
    # The stack as it was before the switch: created on the deprecated endpoint.
    program.write_text(example.replace('ENDPOINT = "registrations"', 'ENDPOINT = "devices"'))
    project.run(
        "config", "set-all", "--path",
        "--plaintext", f"accountId={ACCOUNT}",
        "--plaintext", f"registrationIds[0]={ids[0]}",
        "--plaintext", f"registrationIds[1]={ids[1]}",
    )  # fmt: skip
    project.run("up", "--yes")
    assert len(api.requests.matching("POST", DEVICES_REVOKE)) == 1

    api.state.account(ACCOUNT, multi_user=True)
    project.config("registrationIds[2]", ids[2], path=True)
    failed = project.run("up", "--yes", check=False)
    assert failed.returncode != 0
    assert "its successor is POST /devices/registrations/revoke" in failed.output
    assert "end of life on 2025-11-11" in failed.output, "the deprecation note at preview"
    assert ids[2] not in api.state.revoked_ids(ACCOUNT)

    program.write_text(example)
    preview = project.run("preview", "--diff")
    assert re.search(r'~ endpoint +: "devices" => "registrations"', preview.stdout)
    assert "changing the endpoint alone calls no API" in preview.stdout
    api.requests.clear()
    project.run("up", "--yes")
    [request] = api.requests.matching("POST")
    assert re.search(REGISTRATIONS_REVOKE, request.path)
    assert request.query["id"] == [ids[2]]
    assert api.state.revoked_ids(ACCOUNT) == set(ids)
