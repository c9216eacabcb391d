"""Find the registrations to revoke from people's emails or device IDs, for offboarding.

``find_registrations`` runs in the Pulumi program, during ``pulumi preview`` as well as
``pulumi up``, so a pull request's preview lists the concrete registration IDs that an
offboarding will revoke. It only reads (``GET /devices/registrations``), with the same
settings, retries and errors as the resource.

Semantics a reviewer can rely on:

- By default revoked registrations are included, so the set stays stable after the first
  ``pulumi up``: a device the person enrolls later shows up as a new ID in the next preview,
  and the next ``pulumi up`` revokes it.
- A selector that matches nothing is warned about by name. The list may be empty (a
  ``DeviceRevocation`` of no IDs revokes nothing and succeeds), but never silently.
- An email shared by several users matches the registrations of all of them, with a
  warning naming each user; email comparison ignores case.
- Registrations deleted in Cloudflare are never returned.

Emails are looked up with the API's ``search`` filter and then compared exactly; when
that finds nothing, the account's registrations are listed before concluding that the
person has none, since Cloudflare does not document which fields ``search`` covers. That
listing happens at most once per call, however many emails miss. Registrations without a
user (service-token enrollments) match no email.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi

from .client import CloudflareClient
from .settings import CONFIG_KEYS, resolve_settings

__all__ = ["Lookup", "find_registrations", "lookup_registrations"]


@dataclass
class Lookup:
    """What a lookup found: IDs to revoke, a line per match, and warnings."""

    registration_ids: list[str] = field(default_factory=list)
    matches: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _describe(reg: dict[str, Any]) -> str:
    device = reg.get("device") or {}
    user = reg.get("user") or {}
    state = "revoked" if reg.get("revoked_at") else "active"
    return (
        f"{reg.get('id')} ({user.get('email', '?')} on {device.get('name', '?')}, "
        f"device {device.get('id', '?')}, {state})"
    )


def _live(regs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in regs if not r.get("deleted_at") and isinstance(r.get("id"), str)]


def lookup_registrations(
    client: CloudflareClient,
    account_id: str,
    *,
    user_emails: Sequence[str] = (),
    device_ids: Sequence[str] = (),
    include_revoked: bool = True,
) -> Lookup:
    """The registrations of these users (by email) and devices (by device ID)."""
    if not user_emails and not device_ids:
        raise ValueError("Expected at least one of `user_emails` or `device_ids`")
    status: Literal["all", "active"] = "all" if include_revoked else "active"
    found: dict[str, dict[str, Any]] = {}
    result = Lookup()
    whole_account: list[dict[str, Any]] | None = None
    for email in dict.fromkeys(e.strip() for e in user_emails):

        def owned(candidates: list[dict[str, Any]], email: str = email) -> list[dict[str, Any]]:
            return [
                r
                for r in _live(candidates)
                if str((r.get("user") or {}).get("email", "")).lower() == email.lower()
            ]

        # The API's `search` narrows the listing; what it matches is not documented, so
        # when it yields no exact match the whole account is listed before concluding.
        regs = owned(client.list_registrations(account_id, search=email, status=status))
        if not regs:
            if whole_account is None:
                whole_account = client.list_registrations(account_id, status=status)
            regs = owned(whole_account)
        users = {(r.get("user") or {}).get("id") for r in regs}
        if not regs:
            result.warnings.append(
                f"no {'' if include_revoked else 'active '}registration in account "
                f"{account_id} belongs to {email}: nothing will be revoked for them"
            )
        elif len(users) > 1:
            names = ", ".join(
                sorted(
                    f"{(r.get('user') or {}).get('name', '?')} ({(r.get('user') or {}).get('id')})"
                    for r in {(r.get("user") or {}).get("id"): r for r in regs}.values()
                )
            )
            result.warnings.append(
                f"{email} matches {len(users)} users in account {account_id}: {names}; "
                "the registrations of all of them are included"
            )
        found.update((r["id"], r) for r in regs)
    for device_id in dict.fromkeys(d.strip() for d in device_ids):
        regs = _live(client.list_registrations(account_id, device_id=device_id, status=status))
        if not regs:
            result.warnings.append(
                f"no {'' if include_revoked else 'active '}registration in account "
                f"{account_id} is on device {device_id}: nothing will be revoked for it"
            )
        found.update((r["id"], r) for r in regs)
    result.registration_ids = sorted(found)
    result.matches = [_describe(found[i]) for i in result.registration_ids]
    return result


def _program_settings_config() -> dict[str, Any]:
    """The ``cloudflare:*`` stack config as the program sees it (secrets decrypted)."""
    values = {key: pulumi.runtime.get_config(key) for key in CONFIG_KEYS}
    return {k: v for k, v in values.items() if v is not None}


def find_registrations(
    account_id: pulumi.Input[str],
    *,
    user_emails: Sequence[str] = (),
    device_ids: Sequence[str] = (),
    include_revoked: bool = True,
    client_factory: Callable[[], CloudflareClient] | None = None,
) -> pulumi.Output[list[str]]:
    """The registration IDs of these people and devices, to pass to ``DeviceRevocation``.

    ::

        DeviceRevocation(
            "offboard-alice",
            account_id=ACCOUNT,
            registration_ids=find_registrations(ACCOUNT, user_emails=["alice@example.com"]),
        )

    Runs during preview too, and logs each match and warning so that the preview shows
    them. ``client_factory`` replaces the client built from stack config and environment.
    """

    def run(account: str) -> list[str]:
        if client_factory is not None:
            client = client_factory()
        else:
            client = CloudflareClient(resolve_settings(_program_settings_config(), os.environ))
        with client:
            found = lookup_registrations(
                client,
                account,
                user_emails=user_emails,
                device_ids=device_ids,
                include_revoked=include_revoked,
            )
        for warning in found.warnings:
            pulumi.log.warn(f"find_registrations: {warning}")
        if found.matches:
            pulumi.log.info(
                f"find_registrations: {len(found.matches)} registration(s) in account {account}:\n"
                + "\n".join(f"  {m}" for m in found.matches)
            )
        return found.registration_ids

    return pulumi.Output.from_input(account_id).apply(run)
