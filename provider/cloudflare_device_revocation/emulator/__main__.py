"""Run the emulator: ``python -m cloudflare_device_revocation.emulator [--port N] [--seed N]``.

Prints one line of JSON (base URL, token, seeded IDs) once it listens, then serves until
interrupted or until ``--duration`` seconds have passed.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from types import FrameType

from . import DEFAULT_TOKEN, Emulator

DEMO_ACCOUNT = "699d98642c564d2e855e9661899b7252"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cloudflare_device_revocation.emulator",
        description="A local Cloudflare Zero Trust devices API on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free)")
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="API token to accept (write access)")
    parser.add_argument("--account", default=DEMO_ACCOUNT, help="account to create")
    parser.add_argument("--seed", type=int, default=0, help="registrations to enroll in it")
    parser.add_argument("--multi-user", action="store_true", help="enable multi-user mode")
    parser.add_argument("--duration", type=float, default=None, help="stop after N seconds")
    args = parser.parse_args(argv)

    emulator = Emulator(port=args.port, tokens={args.token: "write"})
    emulator.state.account(args.account, multi_user=args.multi_user)
    ids = emulator.state.seed(args.account, args.seed, multi_user=args.multi_user)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    emulator.start()
    print(
        json.dumps(
            {"base_url": emulator.base_url, "account_id": args.account, "registration_ids": ids}
        ),
        flush=True,
    )
    stop.wait(args.duration)
    emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
