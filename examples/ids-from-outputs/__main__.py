"""Revoke registrations whose IDs come from another resource's output, unknown at preview.

pulumi config set accountId 699d98642c564d2e855e9661899b7252
pulumi preview --diff         # first time: registration_ids: [unknown]
pulumi up                     # takes the snapshot, then revokes what it lists
"""

from __future__ import annotations

import pulumi
from inactive_registrations import InactiveRegistrations

from cloudflare_device_revocation import DeviceRevocation

config = pulumi.Config()
account_id = config.require("accountId")
inactive_days = config.get_int("inactiveDays") or 90

snapshot = InactiveRegistrations(
    "inactive-registrations", account_id=account_id, inactive_days=inactive_days
)
revocation = DeviceRevocation(
    "inactive-devices",
    account_id=account_id,
    registration_ids=snapshot.ids,
    # A registration in the snapshot may be deleted before it is revoked: name it, don't fail.
    allow_missing_ids=True,
)

# What the reviewer reads: a stack output, which `pulumi preview --diff` (and so the pull
# request comment) prints. Until `pulumi up` has taken the snapshot, its registration_ids
# are [unknown] here and in the DeviceRevocation's diff: the preview cannot list them.
pulumi.export(
    "revocation",
    {
        "account": account_id,
        "pulumi_up": f"takes a snapshot of the registrations not seen for {inactive_days} "
        "days (once: later runs reuse it), then revokes those it lists; nothing is ever "
        "un-revoked",
        "registration_ids": snapshot.ids,
    },
)
pulumi.export("revoked_ids", revocation.revoked_ids)
