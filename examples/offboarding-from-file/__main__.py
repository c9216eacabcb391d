"""Revoke the registrations listed in offboarding.csv: a pull request that adds a line asks for it.

pulumi stack init prod        # Pulumi.prod.yaml holds the account ID
pulumi preview --diff         # under revocation.requests: + is revoked by up
pulumi up
"""

from __future__ import annotations

from pathlib import Path

import pulumi
from offboarding_csv import OffboardingFileError, load

from cloudflare_device_revocation import DeviceRevocation

config = pulumi.Config()
account_id = config.require("accountId")
path = Path(config.get("file") or "offboarding.csv")
try:
    entries = load(path)
except OffboardingFileError as error:
    # A clean "error: offboarding.csv:4: ..." for the pull request, without a traceback.
    raise pulumi.RunError(str(error)) from None

revocation = DeviceRevocation(
    "offboarding",
    account_id=account_id,
    registration_ids=[entry.registration_id for entry in entries],
)

# What the reviewer reads. A stack output, not a log message: `pulumi preview --diff` (and
# so the pull-request comment) prints outputs, while it sends messages to stderr. Keyed by
# ID, so an added line shows as + and a removed one as -, next to the account and the rule.
# Keep each string under 150 characters: a preview shortens longer ones.
pulumi.export(
    "revocation",
    {
        "account": account_id,
        "file": str(path),
        "pulumi_up": "revokes the IDs marked + under requests (all of them, if the account "
        "changes); IDs marked - stay revoked: nothing is un-revoked",
        "requests": {e.registration_id: f"{e.owner}: {e.reason} ({e.ticket})" for e in entries},
    },
)
pulumi.export("revoked_ids", revocation.revoked_ids)
