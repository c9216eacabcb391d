"""scripts/pulumi-cli: the CLI on PATH wins; without one and without a way to build, it says why."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from pulumi_cli import REPO

SCRIPT = str(REPO / "scripts" / "pulumi-cli")


def test_a_pulumi_on_path_is_used_as_it_is(tmp_path: Path) -> None:
    """Every real user's case: the directory of the `pulumi` on PATH is printed, nothing built."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "pulumi").write_text("#!/bin/sh\necho v3.0.0\n")
    (fake / "pulumi").chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{fake}{os.pathsep}{os.environ['PATH']}",
        "PULUMI_CLI_CACHE": str(tmp_path / "cache"),
    }
    result = subprocess.run([SCRIPT], env=env, capture_output=True, text=True, check=False)
    assert (result.returncode, result.stdout) == (0, f"{fake}\n")
    assert not (tmp_path / "cache").exists()


def test_without_a_cli_or_a_way_to_build_one_it_says_why(tmp_path: Path) -> None:
    """No pulumi, an empty cache and no module proxy: exit 3, a reason, nothing on stdout."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PULUMI_CLI_CACHE": str(tmp_path / "cache"),
        "GOMODCACHE": str(tmp_path / "mod"),
        "GOCACHE": str(tmp_path / "gocache"),
        "GOPROXY": "off",
    }
    result = subprocess.run(
        [SCRIPT], env=env, capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 3
    assert result.stdout == ""
    assert "no Pulumi CLI available" in result.stderr
    assert "Install Pulumi the usual way" in result.stderr
