"""Run the real Pulumi CLI on a project in a temp dir, with a local file backend.

The tests and the benchmarks both drive the CLI through this module (benchmarks/__init__.py
puts tests/ on sys.path), so it does not import pytest: a missing CLI raises CliNotFoundError,
which the ``cli_bin`` fixture turns into a skip, and a failed run raises CliRunError.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PASSPHRASE = "e2e-passphrase"


class CliNotFoundError(Exception):
    """No Pulumi CLI could be had; the message says why."""


class CliRunError(Exception):
    """A ``pulumi`` command exited non-zero, or left the backend unlike expected; says how."""


def locate_cli() -> str:
    """The bin dir of a Pulumi CLI: ``PULUMI_CLI_BIN``, else what ``scripts/pulumi-cli`` prints."""
    from_env = os.environ.get("PULUMI_CLI_BIN")
    if from_env and (Path(from_env) / "pulumi").exists():
        return from_env
    result = subprocess.run(
        [str(REPO / "scripts" / "pulumi-cli")], capture_output=True, text=True, check=False
    )
    if result.returncode == 0 and result.stdout.strip():
        return result.stdout.strip()
    raise CliNotFoundError(
        f"no Pulumi CLI: scripts/pulumi-cli exited {result.returncode}: {result.stderr.strip()}"
    )


@dataclass
class Run:
    """One CLI invocation's outcome."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass
class Project:
    """A Pulumi project dir, its own backend and PULUMI_HOME, and the env to run the CLI in."""

    root: Path
    cli_bin: str
    env: dict[str, str] = field(default_factory=dict)
    runs: list[Run] = field(default_factory=list)

    @classmethod
    def create(
        cls,
        tmp: Path,
        cli_bin: str,
        *,
        program: str | None = None,
        name: str = "e2e",
        stack: str = "dev",
    ) -> Project:
        """The repository's root quickstart (``program=None``) or a given ``__main__.py``."""
        root = tmp / "project"
        if program is None:
            root.mkdir()
            shutil.copy(REPO / "Pulumi.yaml", root / "Pulumi.yaml")
            shutil.copytree(REPO / "examples" / "quickstart", root / "examples" / "quickstart")
        else:
            root.mkdir()
            (root / "Pulumi.yaml").write_text(
                f"name: {name}\nruntime:\n  name: python\n  options:\n"
                "    toolchain: pip\n    virtualenv: .venv\n"
            )
            (root / "__main__.py").write_text(program)
            # The project's virtualenv option points at this test run's environment.
            (root / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
        project = cls(root=root, cli_bin=cli_bin, env=_environment(tmp, cli_bin))
        project.run("stack", "init", stack)
        return project

    @classmethod
    def from_example(cls, tmp: Path, cli_bin: str, example: str, *, stack: str = "dev") -> Project:
        """A copy of ``examples/<example>`` (stack files and data included), on stack ``stack``.

        The example's ``virtualenv: venv`` option points at this test run's environment; a
        committed ``Pulumi.<stack>.yaml`` is used as the stack's config, as in a user's clone.
        """
        root = tmp / "project"
        shutil.copytree(
            REPO / "examples" / example,
            root,
            ignore=shutil.ignore_patterns("venv", ".venv", "__pycache__"),
        )
        (root / "venv").symlink_to(Path(sys.prefix), target_is_directory=True)
        project = cls(root=root, cli_bin=cli_bin, env=_environment(tmp, cli_bin))
        project.run("stack", "init", stack)
        return project

    def run(self, *args: str, check: bool = True, timeout: float = 180) -> Run:
        """``pulumi ARGS --non-interactive``; raises CliRunError on a non-zero exit if ``check``."""
        argv = ["pulumi", *args, "--non-interactive"]
        done = subprocess.run(
            argv,
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        run = Run(argv, done.returncode, done.stdout, done.stderr)
        self.runs.append(run)
        if check and run.returncode != 0:
            raise CliRunError(f"{shlex.join(argv)} exited {run.returncode}:\n{run.output}")
        return run

    def config(self, key: str, value: str, *, secret: bool = False, path: bool = False) -> None:
        flags = (["--secret"] if secret else ["--plaintext"]) + (["--path"] if path else [])
        self.run("config", "set", *flags, key, value)

    def set_ids(self, ids: list[str]) -> None:
        self.run("config", "rm", "registrationIds", check=False)
        for index, reg_id in enumerate(ids):
            self.config(f"registrationIds[{index}]", reg_id, path=True)

    def outputs(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.run("stack", "output", "--json").stdout)
        return result

    def stack_file(self) -> Path:
        """The backend's checkpoint file of the (only) stack."""
        stacks = self.root.parent / "state" / ".pulumi" / "stacks"
        files = [p for p in stacks.rglob("*.json") if not p.name.endswith(".bak")]
        if len(files) != 1:
            raise CliRunError(f"expected one stack file, found {[str(p) for p in files]}")
        return files[0]

    def state_files(self) -> str:
        """Every file of the backend and PULUMI_HOME, as text: what could leak lives there."""
        text = []
        for base in (self.root.parent / "state", self.root.parent / "home", self.root):
            for path in base.rglob("*"):
                if path.is_file() and ".venv" not in path.parts:
                    text.append(path.read_text(errors="replace"))
        return "\n".join(text)

    def all_output(self) -> str:
        return "\n".join(run.output for run in self.runs)


def _environment(tmp: Path, cli_bin: str) -> dict[str, str]:
    """The CLI's environment: backend and PULUMI_HOME under ``tmp``, no ambient credentials."""
    (tmp / "state").mkdir()
    (tmp / "home").mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CLOUDFLARE_", "PULUMI_")) and k != "VIRTUAL_ENV"
    }
    # `python3` on PATH is this test run's interpreter, as after `source .venv/bin/activate`.
    path = os.pathsep.join([cli_bin, str(Path(sys.prefix) / "bin"), env.get("PATH", "")])
    env.update(
        PATH=path,
        PULUMI_HOME=str(tmp / "home"),
        PULUMI_BACKEND_URL=f"file://{tmp / 'state'}",
        PULUMI_CONFIG_PASSPHRASE=PASSPHRASE,
        PULUMI_SKIP_UPDATE_CHECK="1",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
    )
    return env
