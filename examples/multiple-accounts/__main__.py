"""Revoke registrations in several Cloudflare accounts; each stack's file lists its accounts.

pulumi stack init staging     # Pulumi.staging.yaml: one account
pulumi preview --diff
pulumi stack init prod        # Pulumi.prod.yaml: two accounts
pulumi preview --diff
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from cloudflare_device_revocation import DeviceRevocation


@dataclass(frozen=True)
class Account:
    """One entry of the `accounts` stack config: what to revoke in one account."""

    label: str
    account_id: str
    registration_ids: list[str]
    endpoint: str


def parse_accounts(raw: object, where: str) -> list[Account]:
    """The `accounts` config, checked for shape; IDs themselves are checked by the resource."""
    if not isinstance(raw, Mapping) or not raw:
        raise pulumi.RunError(f"{where}: accounts must map a label to an account, got {raw!r}")
    accounts = []
    for label, entry in sorted(raw.items()):
        at = f"{where}: accounts.{label}"
        if not isinstance(entry, Mapping):
            raise pulumi.RunError(f"{at} must have accountId and registrationIds")
        account_id, ids = entry.get("accountId"), entry.get("registrationIds")
        endpoint = entry.get("endpoint", "registrations")
        if not isinstance(account_id, str):
            raise pulumi.RunError(f"{at}.accountId must be a string, got {account_id!r}")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise pulumi.RunError(f"{at}.registrationIds must be a list of IDs, got {ids!r}")
        if not isinstance(endpoint, str):
            raise pulumi.RunError(f"{at}.endpoint must be a string, got {endpoint!r}")
        accounts.append(Account(str(label), account_id, ids, endpoint))
    return accounts


stack_file = f"Pulumi.{pulumi.get_stack()}.yaml"
requests: dict[str, str] = {}
revoked: dict[str, pulumi.Output[list[str]]] = {}
for account in parse_accounts(pulumi.Config().require_object("accounts"), stack_file):
    revocation = DeviceRevocation(
        account.label,
        account_id=account.account_id,
        registration_ids=account.registration_ids,
        endpoint=account.endpoint,
    )
    requests.update(
        {i: f"{account.label}, account {account.account_id}" for i in account.registration_ids}
    )
    revoked[account.label] = revocation.revoked_ids

# What the reviewer reads: a stack output, which `pulumi preview --diff` (and so the pull
# request comment) prints. Keyed by ID: + for an added ID, - for a removed one, ~ for one
# whose account changed, each with its account.
pulumi.export(
    "revocation",
    {
        "file": stack_file,
        "pulumi_up": "revokes each ID marked + or ~ in the account it names; IDs marked -, "
        "and IDs left in an old account, stay revoked: nothing is un-revoked",
        "requests": requests,
    },
)
pulumi.export("revoked_ids", revoked)
