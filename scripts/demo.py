"""The demo: run the quickstart with the real Pulumi CLI against a local Cloudflare emulator.

Starts the emulator with a few registrations, runs ``pulumi preview`` and ``pulumi up`` on
the repository's root project with a local file backend under ``.demo/``, shows which
registrations the emulator now has revoked, runs ``pulumi destroy`` (which revokes nothing
back), and stops the emulator. ``make demo`` runs it with the CLI on PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / ".demo"
TOKEN = "demo-token"
STACK = "demo"


def banner(text: str) -> None:
    print(f"\n\033[1m==> {text}\033[0m", flush=True)


def pulumi(env: dict[str, str], *args: str) -> None:
    banner("pulumi " + " ".join(args))
    command = ["pulumi", *args, "--non-interactive"]
    if args[0] in ("preview", "up", "destroy", "config"):
        command += ["--config-file", str(WORK / f"Pulumi.{STACK}.yaml")]
    subprocess.run(command, cwd=REPO, env=env, check=True)


def main() -> int:
    if shutil.which("pulumi") is None:
        print("demo: no `pulumi` on PATH; run `make demo`, which provides one.", file=sys.stderr)
        return 1
    shutil.rmtree(WORK, ignore_errors=True)
    (WORK / "state").mkdir(parents=True)
    emulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cloudflare_device_revocation.emulator",
            "--seed",
            "5",
            "--token",
            TOKEN,
            "--duration",
            "600",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert emulator.stdout is not None
        info = json.loads(emulator.stdout.readline())
        account, ids = info["account_id"], info["registration_ids"]
        banner(f"emulator listening at {info['base_url']} with {len(ids)} registrations")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDFLARE_")}
        env.update(
            # python3 on PATH must see the package: the virtualenv's interpreter comes first.
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
            PULUMI_BACKEND_URL=f"file://{WORK / 'state'}",
            PULUMI_CONFIG_PASSPHRASE="demo",
            PULUMI_SKIP_UPDATE_CHECK="1",
            CLOUDFLARE_API_TOKEN=TOKEN,
            CLOUDFLARE_BASE_URL=info["base_url"],
        )
        subprocess.run(
            ["pulumi", "stack", "init", STACK, "--non-interactive"],
            cwd=REPO,
            env=env,
            check=True,
            capture_output=True,
        )
        pulumi(env, "config", "set", "accountId", account)
        for index, reg_id in enumerate(ids[:3]):
            pulumi(env, "config", "set", "--path", f"registrationIds[{index}]", reg_id)
        pulumi(env, "preview", "--diff")
        pulumi(env, "up", "--yes")

        banner("what the emulator says now")
        control = info["base_url"].split("/client/v4")[0] + "/__emulator/state"
        with urllib.request.urlopen(control, timeout=10) as response:
            state = json.load(response)
        for reg in state[account]["registrations"]:
            status = f"revoked at {reg['revoked_at']}" if reg["revoked_at"] else "active"
            print(f"  {reg['id']}  {reg['user']['email']:<20} {status}")

        pulumi(env, "destroy", "--yes")
        subprocess.run(
            ["pulumi", "stack", "rm", STACK, "--yes", "--non-interactive"],
            cwd=REPO,
            env=env,
            check=True,
            capture_output=True,
        )
        banner("done: the registrations above stay revoked; the emulator stops now")
        return 0
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
