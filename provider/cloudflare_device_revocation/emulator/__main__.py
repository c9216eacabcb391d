"""Run the emulator: ``python -m cloudflare_device_revocation.emulator [--port N] [--seed N]``.

Every ``Assumptions`` field is a flag (``--unknown-ids refuse``, ``--total-count null``,
``--max-uri-length none``, ...), and ``--rate-limit QUOTA/WINDOW[/BLOCK]`` turns the rate
limit on. Prints one line of JSON (base URL, token, seeded IDs, assumptions, rate limit)
once it listens, then serves until interrupted or until ``--duration`` seconds have passed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
import threading
from types import FrameType
from typing import Any, Literal, get_args, get_origin, get_type_hints

from . import DEFAULT_TOKEN, Emulator
from .assumptions import HELP, Assumptions
from .ratelimit import RateLimit

DEMO_ACCOUNT = "699d98642c564d2e855e9661899b7252"


def rate_limit(text: str) -> RateLimit:
    """``QUOTA/WINDOW[/BLOCK]`` in requests and seconds; BLOCK defaults to WINDOW."""
    parts = text.split("/")
    usage = f"expected QUOTA/WINDOW[/BLOCK], e.g. 1200/300, got {text!r}"
    if len(parts) not in (2, 3):
        raise argparse.ArgumentTypeError(usage)
    try:
        quota, window = int(parts[0]), float(parts[1])
        return RateLimit(quota, window, float(parts[2]) if len(parts) == 3 else window)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{usage}: {exc}") from None


def count_or_none(text: str) -> int | None:
    """A positive integer, or ``none`` for no limit."""
    if text.lower() == "none":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or 'none', got {text!r}") from None


def add_assumption_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per ``Assumptions`` field; a flag left out keeps the field's default."""
    group = parser.add_argument_group(
        "assumptions", "what Cloudflare does but documents nowhere (see the package docstring)"
    )
    hints = get_type_hints(Assumptions)
    for f in dataclasses.fields(Assumptions):
        flag = "--" + f.name.replace("_", "-")
        hint = hints[f.name]
        options: dict[str, Any] = {
            "default": argparse.SUPPRESS,
            "help": f"{HELP[f.name]} (default: {f.default})".replace("%", "%%"),
        }
        if get_origin(hint) is Literal:
            options["choices"] = get_args(hint)
        elif hint is bool:
            options["action"] = argparse.BooleanOptionalAction
        else:
            options["type"] = count_or_none
            options["metavar"] = "N|none" if type(None) in get_args(hint) else "N"
        group.add_argument(flag, **options)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m cloudflare_device_revocation.emulator",
        description="A local Cloudflare Zero Trust devices API on 127.0.0.1.",
    )
    p.add_argument("--port", type=int, default=0, help="port to listen on (0: any free)")
    p.add_argument("--token", default=DEFAULT_TOKEN, help="API token to accept (write access)")
    p.add_argument("--account", default=DEMO_ACCOUNT, help="account to create")
    p.add_argument("--seed", type=int, default=0, help="registrations to enroll in it")
    p.add_argument(
        "--seed-userless",
        type=int,
        default=0,
        help="registrations without a user (service-token enrollments) to enroll too",
    )
    p.add_argument("--multi-user", action="store_true", help="enable multi-user mode")
    p.add_argument("--duration", type=float, default=None, help="stop after N seconds")
    p.add_argument(
        "--rate-limit",
        type=rate_limit,
        default=None,
        metavar="QUOTA/WINDOW[/BLOCK]",
        help="limit API requests to QUOTA per WINDOW seconds, then answer 429 for BLOCK "
        "seconds (default: WINDOW); Cloudflare's limit is 1200/300",
    )
    add_assumption_flags(p)
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    given = {name: getattr(args, name) for name in Assumptions.field_names() if name in args}
    try:
        assumptions = Assumptions(**given)
    except ValueError as exc:
        p.error(str(exc))

    emulator = Emulator(
        port=args.port,
        tokens={args.token: "write"},
        assumptions=assumptions,
        rate_limit=args.rate_limit,
    )
    emulator.state.account(args.account, multi_user=args.multi_user)
    ids = emulator.state.seed(args.account, args.seed, multi_user=args.multi_user)
    userless = emulator.state.seed(
        args.account, args.seed_userless, multi_user=args.multi_user, userless=True
    )
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    emulator.start()
    limit = emulator.rate_limit
    print(
        json.dumps(
            {
                "base_url": emulator.base_url,
                "account_id": args.account,
                "registration_ids": ids,
                "userless_registration_ids": userless,
                "assumptions": emulator.assumptions.to_dict(),
                "rate_limit": limit.to_dict() if limit else None,
            }
        ),
        flush=True,
    )
    stop.wait(args.duration)
    emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
